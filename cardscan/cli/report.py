"""cardscan report : write the HTML report (one self-contained file) from the database."""
from __future__ import annotations

import argparse
from pathlib import Path

from cardscan.cli.main import add_db_option, add_review_threshold, require_db, review_policy
from cardscan.errors import BadArgumentsError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report", help="write the HTML report (self-contained, opens offline)",
        description="Write the report of the contacts in the database: a summary, then every contact with its "
                    "card, each field's confidence and source, duplicates and follow-ups; contacts needing "
                    "review first. The file makes no network request and can be mailed or printed.")
    add_db_option(p)
    p.add_argument("-o", "--output", type=Path, metavar="FILE",
                   help="HTML file to write (default: <db name>-report.html beside the database)")
    p.add_argument("--event", metavar="NAME", help="only the contacts of this event")
    p.add_argument("--title", metavar="TEXT", help="page title (default: cardscan report)")
    add_review_threshold(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cardscan.outputs.report import write_report
    from cardscan.store import Store
    from cardscan.cli.scan import default_report

    require_db(args.db)
    policy = review_policy(args)
    out = args.output or default_report(args.db)
    with Store(args.db) as store:
        if args.event is not None and args.event not in {name for name, _ in store.events()}:
            known = ", ".join(name for name, _ in store.events()) or "none"
            raise BadArgumentsError(f"no event {args.event!r} in {args.db}", hint=f"known events: {known}")
        path = write_report(store, out, event=args.event, policy=policy, title=args.title)
    print(f"report: {path.resolve()}")
    return 0
