"""cardscan note CONTACT [TEXT] : add a note about a person (it goes into their follow-up draft)."""
from __future__ import annotations

import argparse

from cardscan.cli.main import add_config_option, add_db_option, require_db, record_id, with_db


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("note", help="add a note about a contact (shown in the follow-up draft), or list the notes",
                       description="Add a note about a contact, e.g. cardscan note 12 \"asked about the Berlin "
                                   "office\". Without TEXT, list the contact's notes. A follow-up draft that you "
                                   "have not edited by hand is rewritten to include the note.")
    p.add_argument("contact", type=record_id, metavar="CONTACT", help="contact number (as shown by scan and the report)")
    p.add_argument("text", nargs="?", metavar="TEXT", help="the note")
    p.add_argument("--asks", action="append", default=[], metavar="TEXT",
                   help="something this person asks for (repeat for several); used by cardscan intro suggest")
    p.add_argument("--offers", action="append", default=[], metavar="TEXT",
                   help="something this person offers (repeat for several)")
    add_db_option(p)
    add_config_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cardscan.followup import queue as fu
    from cardscan.config import load_config
    from cardscan.errors import ConfigError, ValidationError
    from cardscan.store import Store

    require_db(args.db)
    with Store(args.db) as store:
        if args.asks or args.offers:
            from cardscan.followup import intros as it

            for text in args.asks:
                it.add_ask(store, args.contact, text)
            for text in args.offers:
                it.add_offer(store, args.contact, text)
            print(f"contact #{args.contact}: {len(args.asks)} ask(s), {len(args.offers)} offer(s) added")
            if args.text is None:
                return 0
        if args.text is None:
            try:
                rec = store.contact(args.contact)
            except KeyError:
                raise ValidationError(f"no contact #{args.contact}") from None
            for n in rec.notes:
                print(_p(n))
            for n in rec.asks:
                print(f"asks: {_p(n)}")
            for n in rec.offers:
                print(f"offers: {_p(n)}")
            if not rec.notes and not rec.asks and not rec.offers:
                print(f"contact #{rec.id} has no notes")
            return 0
        try:
            config = load_config(args.config)
        except ConfigError as exc:  # the note is still worth keeping; the draft is left as it is
            print(f"cardscan: warning: {exc}; the follow-up draft was not updated")
            config = None
        result = fu.add_note(store, args.contact, args.text, config=config)
    print(f"note added to contact #{args.contact}")
    if result.draft_updated:
        print(f"follow-up #{result.draft_updated}: draft rewritten with the note")
    elif result.draft_kept:
        print(f"follow-up #{result.draft_kept} was left as it is (edited by hand, or no longer a draft): "
              + with_db(f"add the note yourself with cardscan followup edit {result.draft_kept}", args.db))
    return 0


def _p(s: str) -> str:
    return "".join(ch if ch.isprintable() else "?" for ch in s)
