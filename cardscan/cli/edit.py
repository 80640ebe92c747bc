"""cardscan edit CONTACT --email X ... : correct fields by hand (validated), or revert them."""
from __future__ import annotations

import argparse

from cardscan.cli.main import add_db_option, require_db, record_id
from cardscan.errors import BadArgumentsError

FIELDS = ("name", "title", "company", "address", "other_name", "email", "phone", "website")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "edit", help="correct a contact's fields (validated) or revert them to the card",
        description="Correct fields of a contact. Phones are checked with phonenumbers (the contact's region "
                    "when no +country code is given), e-mails with email-validator (no DNS lookup); a refused "
                    "value changes nothing and prints the reason. The value read from the card is kept: "
                    "--revert FIELD brings it back. An empty value (\"\") deletes the field.")
    p.add_argument("contact", type=record_id, metavar="CONTACT", help="contact number (as shown by scan and the report)")
    for f in FIELDS:
        p.add_argument(f"--{f.replace('_', '-')}", dest=f, metavar="TEXT",
                       help="the name in a second script" if f == "other_name" else f"new {f}")
    p.add_argument("--phone-type", choices=("work", "mobile", "fax", "other"), help="type of the --phone number")
    p.add_argument("--position", type=int, default=0, metavar="N",
                   help="which e-mail / phone / website (0 = first; one past the last adds one)")
    p.add_argument("--revert", action="append", choices=FIELDS, metavar="FIELD", default=[],
                   help="bring back the value read from the card (repeatable)")
    add_db_option(p)
    p.set_defaults(func=run)


def _show(v: str | None) -> str:
    from cardscan.outputs.report import visible_text

    return "(empty)" if v is None else visible_text(v).replace("\n", " / ")


def _pos(args: argparse.Namespace, field: str) -> int:
    return args.position if field in ("email", "phone", "website") else 0


def run(args: argparse.Namespace) -> int:
    from cardscan.contacts.edit import check_edit, edit_field, revert_field
    from cardscan.errors import ValidationError
    from cardscan.store import Store

    edits = [(f, getattr(args, f)) for f in FIELDS if getattr(args, f) is not None]
    if not edits and not args.revert:
        raise BadArgumentsError("nothing to change", hint="give --name, --email, ... or --revert FIELD")
    if args.phone_type is not None and args.phone is None:
        raise BadArgumentsError("--phone-type goes with --phone")
    clash = {f for f, _ in edits} & set(args.revert)
    if clash:
        raise BadArgumentsError(f"both an edit and --revert for {', '.join(sorted(clash))}")
    require_db(args.db)
    with Store(args.db) as store:
        for f, v in edits:  # check them all first: a refusal changes nothing
            try:
                check_edit(store, args.contact, f, v, position=_pos(args, f),
                           phone_type=args.phone_type if f == "phone" else None)
            except ValidationError as exc:
                raise ValidationError(f"--{f}: {exc.message}", hint=exc.hint) from None
        for f, v in edits:
            pos = _pos(args, f)
            r = edit_field(store, args.contact, f, v, position=pos,
                           phone_type=args.phone_type if f == "phone" else None)
            print(f"#{r.contact_id} {f}: {_show(r.new)}  (was {_show(r.old)})")
        for f in args.revert:
            pos = _pos(args, f)
            changed = revert_field(store, args.contact, f, position=pos)
            print(f"#{args.contact} {f}: " + ("back to the value read from the card" if changed
                                              else "already the value read from the card"))
    return 0
