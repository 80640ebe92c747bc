"""cardscan intro ... : introductions between two contacts (double opt-in), answers, suggestions."""
from __future__ import annotations

import argparse
import json

from cardscan.cli.main import add_config_option, add_db_option, require_db, with_db
from cardscan.errors import BadArgumentsError

STATES = ("asking", "introducing", "introduced", "declined", "cancelled")


def _p(s: object) -> str:
    return "".join(ch if ch.isprintable() else "?" for ch in str(s))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "intro", help="introduce two contacts to each other (asks each first), suggest introductions",
        description="cardscan intro A B [--why TEXT] [--direct] writes an 'would you like an introduction?' draft "
                    "to each of A and B (double opt-in). Record their answers with `cardscan intro answer ID "
                    "CONTACT yes|no`: when both said yes the introduction draft (one message to both) is written; "
                    "a no ends it and nothing more is ever sent. Every message goes through the follow-up queue: "
                    "approve and send them with `cardscan followup approve/send`.")
    p.add_argument("args", nargs="*", metavar="A B | ACTION ...",
                   help="two contact numbers, or one of: list, show ID, answer ID CONTACT yes|no, cancel ID, suggest")
    add_db_option(p)
    add_config_option(p)
    p.add_argument("--why", default="", metavar="TEXT", help="why they should talk (goes into the messages)")
    p.add_argument("--direct", action="store_true",
                   help="skip the asks: write the introduction at once (you know both want it)")
    p.add_argument("--state", choices=STATES, help="list: only introductions in this state")
    p.add_argument("--contact", type=int, metavar="ID", help="list: only introductions of this contact")
    p.add_argument("--json", action="store_true", help="list / show / suggest: machine-readable output")
    p.add_argument("--event", metavar="NAME", help="suggest: only contacts of this event")
    p.add_argument("--limit", type=int, default=10, metavar="N", help="suggest: at most N pairs (default 10)")
    p.set_defaults(func=run)


def _int(s: str, what: str) -> int:
    try:
        return int(s)
    except ValueError:
        raise BadArgumentsError(f"{what} must be a number, not {s!r}") from None


def run(args: argparse.Namespace) -> int:
    from cardscan.config import load_config
    from cardscan.followup import intros as it
    from cardscan.store import Store

    words = list(args.args)
    if not words:
        raise BadArgumentsError("give two contact numbers, or list / show / answer / cancel / suggest",
                                hint="cardscan intro --help")
    action = words[0]
    require_db(args.db)
    with Store(args.db) as store:
        if action == "list":
            views = it.list_intros(store, state=args.state, contact_id=args.contact)
            if args.json:
                print(json.dumps([v.as_json() for v in views], ensure_ascii=False, indent=1))
                return 0
            for v in views:
                print(_line(v))
            if not views:
                print("no introductions" + (f" in state {args.state}" if args.state else ""))
            return 0
        if action == "show":
            v = it.show(store, _int(_need(words, 2, "intro show ID")[1], "ID"))
            if args.json:
                print(json.dumps(v.as_json(), ensure_ascii=False, indent=1))
                return 0
            print(_line(v))
            if v.why:
                print(f"  why: {_p(v.why)}")
            print(f"  {'direct (no asks)' if v.direct else 'double opt-in'}; created {v.created_at[:16]}")
            for e in v.entries:
                print(f"  message #{e.id} {e.kind:<9} {e.label:<19} to {_p(', '.join(e.recipients))}")
            return 0
        if action == "answer":
            w = _need(words, 4, "intro answer ID CONTACT yes|no")
            res = it.answer(store, _int(w[1], "ID"), _int(w[2], "CONTACT"), w[3], config=load_config(args.config))
            print(f"introduction #{res.intro_id}: answer recorded; now {res.state}")
            if res.introduction:
                print(with_db(f"both said yes: introduction draft #{res.introduction} written "
                              f"(approve it: cardscan followup approve {res.introduction})", args.db))
            if res.skipped:
                print(f"{len(res.skipped)} message(s) not yet sent are skipped; nothing more will be sent")
            return 0
        if action == "cancel":
            iid = _int(_need(words, 2, "intro cancel ID")[1], "ID")
            skipped = it.cancel(store, iid)
            print(f"introduction #{iid} cancelled; {len(skipped)} unsent message(s) skipped")
            return 0
        if action == "suggest":
            got = it.suggest(store, event=args.event, limit=args.limit)
            if args.json:
                print(json.dumps([{"a": s.a, "b": s.b, "score": s.score, "reason": s.reason} for s in got],
                                 ensure_ascii=False, indent=1))
                return 0
            for s in got:
                print(f"{s.score:>3}  #{s.a} + #{s.b}: {_p(s.reason)}   -> "
                      + with_db(f"cardscan intro {s.a} {s.b}", args.db))
            if not got:
                print(with_db("no suggestion: add what people ask for and offer with cardscan note ID --asks/--offers",
                              args.db))
            return 0
        if len(words) != 2:
            raise BadArgumentsError(f"unknown intro action {action!r}",
                                    hint="cardscan intro A B, or list / show / answer / cancel / suggest")
        a, b = _int(words[0], "contact A"), _int(words[1], "contact B")
        made = it.create(store, a, b, config=load_config(args.config), why=args.why, direct=args.direct)
    what = "introduction draft" if args.direct else "ask drafts (one to each)"
    print(f"introduction #{made.intro_id}: {len(made.entries)} {what} written: "
          + ", ".join(f"#{i}" for i in made.entries))
    print(with_db("review them with cardscan followup show ID, then cardscan followup approve "
                  + " ".join(str(i) for i in made.entries), args.db))
    return 0


def _need(words: list[str], n: int, usage: str) -> list[str]:
    if len(words) != n:
        raise BadArgumentsError(f"usage: cardscan {usage}")
    return words


def _line(v) -> str:  # noqa: ANN001
    ans = ""
    if not v.direct:
        ans = f"  answers: {v.answer_a or '-'} / {v.answer_b or '-'}"
    return _p(f"#{v.id:<4} {v.state:<12} #{v.contact_a} {v.name_a}  <->  #{v.contact_b} {v.name_b}{ans}")
