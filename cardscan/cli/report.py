"""cardscan report : write the HTML report (one self-contained file) from the database."""
from __future__ import annotations

import argparse
from pathlib import Path

from cardscan.cli.main import add_db_option, require_db
from cardscan.errors import BadArgumentsError
from cardscan.safety import check_output_path


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
    p.add_argument("--review-threshold", type=float, default=0.6, metavar="X",
                   help="fields below this confidence are flagged for review (default 0.6)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cardscan.outputs.report import write_report
    from cardscan.store import Store
    from cardscan.cli.scan import default_report

    require_db(args.db)
    if not 0.0 <= args.review_threshold <= 1.0:
        raise BadArgumentsError("--review-threshold must be between 0 and 1")
    out = args.output or default_report(args.db)
    check_output_path(out, args.db, what="report")
    with Store(args.db) as store:
        if args.event is not None and args.event not in {name for name, _ in store.events()}:
            known = ", ".join(name for name, _ in store.events()) or "none"
            raise BadArgumentsError(f"no event {args.event!r} in {args.db}", hint=f"known events: {known}")
        path = write_report(store, out, event=args.event, threshold=args.review_threshold, title=args.title)
    print(f"report: {path.resolve()}")
    return 0
