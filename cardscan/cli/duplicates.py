"""cardscan duplicates : list contacts that may be one person; cardscan merge A B : fold B into A."""
from __future__ import annotations

import argparse

from cardscan.cli.main import add_db_option, require_db, record_id, with_db
from cardscan.errors import BadArgumentsError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "duplicates", help="list contacts that may be the same person",
        description="List pairs of contacts that may be one person: strong when they share an e-mail address or "
                    "phone number, possible when they have the same name and a similar company. Nothing is "
                    "merged: use cardscan merge A B.")
    add_db_option(p)
    p.add_argument("--event", metavar="NAME", help="only the contacts of this event")
    p.add_argument("--strength", choices=("strong", "possible"), default="possible",
                   help="strong: only shared e-mail / phone; possible (default): all")
    p.set_defaults(func=run_list)

    m = sub.add_parser(
        "merge", help="merge contact B into contact A (keeps every card, value, note and follow-up)",
        description="Fold contact B into contact A: B's card images, notes and follow-ups move to A; for a field "
                    "both have, your own edit wins, else the more recently scanned card's value becomes current "
                    "and the other is kept in the field's history. B is marked as merged into A, not deleted.")
    m.add_argument("keep", type=record_id, metavar="A", help="contact to keep")
    m.add_argument("other", type=record_id, metavar="B", help="contact to fold into A")
    add_db_option(m)
    m.set_defaults(func=run_merge)


def _label(rec) -> str:  # noqa: ANN001 - store.ContactRecord
    from cardscan.outputs.report import visible_text

    c = rec.contact
    bits = [c.scalar("name") or "(no name)"]
    if c.scalar("company"):
        bits.append(f"({c.scalar('company')})")
    return visible_text(" ".join(bits)).replace("\n", " ")


def _open(db):  # noqa: ANN001, ANN202
    from cardscan.store import Store

    require_db(db)
    return Store(db)


def run_list(args: argparse.Namespace) -> int:
    from cardscan.contacts.dedupe import duplicates

    with _open(args.db) as store:
        if args.event is not None and args.event not in {name for name, _ in store.events()}:
            raise BadArgumentsError(f"no event {args.event!r} in {args.db}")
        pairs = duplicates(store, event=args.event, strength=args.strength)
        for p in pairs:
            a, b = store.contact(p.a), store.contact(p.b)
            print(f"#{p.a} #{p.b}  {p.strength:8}  {p.reason}\n    #{p.a} {_label(a)}\n    #{p.b} {_label(b)}")
    print(f"{len(pairs)} possible duplicate pair(s)" if pairs else "no duplicates found")
    if pairs:
        print(with_db("merge one with: cardscan merge A B   (keeps A, folds B into it)", args.db))
    return 0


def run_merge(args: argparse.Namespace) -> int:
    from cardscan.contacts.dedupe import merge

    with _open(args.db) as store:
        kept = merge(store, args.keep, args.other)
        rec = store.contact(kept)
    print(f"#{args.other} merged into #{kept}: {_label(rec)}, {len(rec.cards)} card(s), {len(rec.notes)} note(s)")
    return 0
