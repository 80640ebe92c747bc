"""cardscan watch FOLDER : read every photo in a folder, now and as new ones arrive."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cardscan.api import ScanItem
from cardscan.cli.main import add_scan_options, options_from_args, scan_config
from cardscan.cli.scan import default_report


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "watch", help="read the photos in a folder, then every new one as it arrives (Ctrl-C stops)",
        description="Read every photo in FOLDER (recursively), then each new one once it is fully written. "
                    "A photo is read once, by its content: copies under other names and restarts read nothing "
                    "twice. Originals are never modified. Failures are recorded: see `cardscan status`.")
    p.add_argument("folder", type=Path, metavar="FOLDER", help="folder to watch (the database and report must be outside it)")
    add_scan_options(p)
    p.add_argument("--report", type=Path, metavar="FILE",
                   help="HTML report, refreshed after each burst of new photos (default: <db name>-report.html)")
    p.add_argument("--no-report", action="store_true", help="do not write the HTML report")
    p.add_argument("--poll", type=float, default=1.0, metavar="SECONDS",
                   help="rescan the folder this often (default 1; use 5-30 for network or synced folders)")
    p.add_argument("--move-done", type=Path, metavar="DIR",
                   help="move each photo here once its contact is saved (default: photos stay where they are)")
    p.add_argument("--settle", type=float, default=1.0, metavar="SECONDS",
                   help="a file is read once unchanged this long (default 1)")
    p.add_argument("--give-up", type=float, default=30.0, metavar="SECONDS",
                   help="a file still incomplete after this long unchanged is recorded as failed (default 30)")
    p.add_argument("--lease", type=float, default=60.0, help=argparse.SUPPRESS)
    p.add_argument("--once", action="store_true", help="read the photos there now, then stop")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cardscan.watch import WatchConfig, watch

    report = None if args.no_report else (args.report or default_report(args.db))
    config = scan_config()
    options = options_from_args(args, config=config)
    cfg = WatchConfig(folder=args.folder, options=options, poll=args.poll, settle=args.settle,
                      give_up=args.give_up, lease=args.lease, move_done=args.move_done, report=report,
                      once=args.once, config=config)
    print(f"cardscan: watching {args.folder} (Ctrl-C stops)", file=sys.stderr, flush=True)
    stats = watch(cfg, on_result=_print_item)
    print(f"{stats.done} read, {stats.failed} failed, {stats.duplicates} already read, "
          f"{stats.needs_review} fields need review", flush=True)
    return 0


def _print_item(item: ScanItem) -> None:
    if item.error:
        print(f"cardscan: {item.path}: {item.error}", file=sys.stderr, flush=True)
    else:
        review = f"  [{item.needs_review} to review]" if item.needs_review else ""
        print(f"#{item.contact_id}  {item.summary}{review}\n      {item.path}", flush=True)
