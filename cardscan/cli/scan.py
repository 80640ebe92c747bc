"""cardscan scan PATH... : read card photos into contacts."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cardscan.api import ScanItem, ScanResult, scan
from cardscan.cli.main import add_scan_options, db_flag, options_from_args, scan_config, with_db
from cardscan.safety import safe_text


SHOWN_DUPLICATES = 10  # the summary names this many new possible duplicates; `cardscan duplicates` lists all


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("scan", help="read card photos (files or folders, recursive) into contacts",
                       description="Read business-card photos into validated contacts. Originals are never modified.")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="photo files or folders")
    add_scan_options(p)
    p.add_argument("--report", type=Path, metavar="FILE",
                   help="HTML report to write (default: <db name>-report.html beside the database)")
    p.add_argument("--no-report", action="store_true", help="do not write the HTML report")
    p.add_argument("--jsonl", type=Path, metavar="FILE", help="write one JSON object per photo here")
    p.set_defaults(func=run)


def default_report(db: Path) -> Path:
    return db.with_name(f"{db.stem}-report.html")


def run(args: argparse.Namespace) -> int:
    report = None if args.no_report else (args.report or default_report(args.db))
    config = scan_config()
    options = options_from_args(args, config=config, report=report, jsonl=args.jsonl)
    bar = _progress_bar()
    try:
        result = scan(args.paths, options=options, config=config, progress=lambda item: _on_item(item, bar))
    finally:
        if bar is not None:
            bar.close()
    if not args.quiet:
        print_summary(result, db=args.db)
    _say_what_was_not_applied(result, args)
    return result.exit_code


def _progress_bar():  # noqa: ANN202 - a tqdm bar on a terminal, else None
    if not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        return None
    return tqdm(unit="card", file=sys.stderr, leave=False)


def _on_item(item: ScanItem, bar) -> None:  # noqa: ANN001
    if item.error:
        msg = f"cardscan: {safe_text(item.path)}: {safe_text(item.error)}"
        (bar.write(msg, file=sys.stderr) if bar is not None else print(msg, file=sys.stderr))
    if bar is not None:
        bar.update(1)


def _say_what_was_not_applied(result: ScanResult, args: argparse.Namespace) -> None:
    """Options that describe new contacts do not reach photos read before: say so, not nothing."""
    if result.not_applied:
        n = max(result.not_applied.values())
        print(f"cardscan: {n} photo(s) were already scanned: {', '.join(result.not_applied)} not applied to "
              + with_db("their contacts (cardscan edit changes a contact)", args.db), file=sys.stderr)


def print_summary(result: ScanResult, db: Path | None = None) -> None:
    for item in result.items:
        if item.contact_id is None:
            continue
        tag = " (read by another scan)" if item.elsewhere else " (already scanned)" if item.duplicate else ""
        review = f"  [{item.needs_review} to review]" if item.needs_review else ""
        where = safe_text(item.path) + (f" (card {item.card_index + 1})" if item.card_index else "")
        print(f"#{item.contact_id}  {safe_text(item.summary)}{tag}{review}\n      {where}")
    n = result.photos
    cards = sum(1 for i in result.items if i.contact_id is not None)
    rate = n / result.seconds if result.seconds else 0.0
    review = sum(i.needs_review for i in result.items)
    several = f" ({cards} cards)" if cards > n - len(result.failures) else ""
    card_rate = f", {cards / result.seconds:.2f} cards/s" if several and result.seconds else ""
    again = len({(i.path, i.sha256) for i in result.items if i.duplicate and not i.error and not i.elsewhere})
    already = f", {again} already scanned" if again else ""
    other = len({(i.path, i.sha256) for i in result.items if i.elsewhere})
    already += f", {other} read by another scan running at the same time" if other else ""
    print(f"{n} photos{several}: {result.contacts} contacts{already}, {len(result.failures)} failed, "
          f"{review} fields need review, {len(result.skipped)} skipped; {rate:.2f} photos/s{card_rate}")
    after = result.after
    if after is not None:
        for m in after.merged:
            print(f"merged #{m.merged} into #{m.kept}: {', '.join(m.reasons)}")
        for d in after.duplicates[:SHOWN_DUPLICATES]:
            print(f"possible duplicate: #{d.a} and #{d.b} ({safe_text(d.reason)}); to merge: cardscan merge {d.a} {d.b}"
                  f"{db_flag(db)}")
        if len(after.duplicates) > SHOWN_DUPLICATES:
            print(f"... and {len(after.duplicates) - SHOWN_DUPLICATES} more possible duplicate(s): "
                  f"cardscan duplicates{db_flag(db)}")
        if after.drafts or after.not_queued:
            print(f"follow-up: {after.drafts} new draft(s) to approve; {after.not_queued} contact(s) without a "
                  f"draft, to follow up another way (cardscan followup list{db_flag(db)})")
    if result.jsonl:
        print(f"JSON lines: {safe_text(result.jsonl)}")
    if result.report:
        print(f"report: {safe_text(result.report.resolve())}")
