"""cardscan export : contacts out as vCard, CSV (Google / Outlook / plain) or JSON lines."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cardscan.cli.main import add_db_option, require_db
from cardscan.errors import BadArgumentsError
from cardscan.safety import check_output_path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export", help="export contacts as vCard, CSV or JSON lines",
        description="Export the contacts (merged ones once) to standard output or a file. vcf: vCard 3.0 for "
                    "iOS, Android, Google Contacts, Outlook. csv --csv-layout google: Google Contacts import; "
                    "outlook: Outlook import (UTF-8 with BOM); plain: for spreadsheets. jsonl: every value with "
                    "its confidence, source and flags. A file is replaced only when the export succeeded.")
    add_db_option(p)
    p.add_argument("--format", "-f", required=True, choices=("vcf", "csv", "jsonl"), help="output format")
    p.add_argument("--csv-layout", choices=("google", "outlook", "plain"),
                   help="CSV columns (default google)")
    p.add_argument("--event", metavar="NAME", help="only the contacts of this event")
    p.add_argument("--since", metavar="DATE", help="only contacts scanned on or after this date (YYYY-MM-DD, UTC)")
    p.add_argument("-o", "--output", type=Path, metavar="FILE", help="file to write (default: standard output)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cardscan.outputs.export import export
    from cardscan.store import Store

    require_db(args.db)
    check_output_path(args.output, args.db, what="export file")
    if args.format != "csv" and args.csv_layout is not None:
        raise BadArgumentsError("--csv-layout goes with --format csv")
    with Store(args.db) as store:
        result = export(store, args.format, layout=args.csv_layout or "google", event=args.event, since=args.since,
                        output=args.output)
    if result.path is not None:
        print(f"{result.count} contacts -> {result.path}", file=sys.stderr)
    return 0
