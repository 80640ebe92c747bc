"""The `cardscan` command: a thin layer over the library (cardscan.api and friends).

Each sub-command lives in cardscan/cli/<name>.py with `register(subparsers)`; this module
finds them, parses the arguments, runs the chosen one and maps errors to exit codes.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import signal
import pkgutil
import sys
import traceback
from pathlib import Path
from typing import Sequence

from cardscan import cli as commands
from cardscan.errors import BadArgumentsError, CardscanError, ExitCode, Terminated
from cardscan.options import Options
from cardscan.safety import safe_text

log = logging.getLogger("cardscan")


MAX_ID = 2**63 - 1  # SQLite's largest INTEGER


def record_id(text: str) -> int:
    """argparse type of a contact or follow-up number: a whole number SQLite can hold."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {safe_text(text)!s}") from None
    if not -MAX_ID - 1 <= n <= MAX_ID:
        raise argparse.ArgumentTypeError(f"no such number {n if len(text) < 40 else safe_text(text[:40]) + '...'}: "
                                         f"numbers go from 1 to {MAX_ID}")
    return n


def add_db_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", type=Path, default=Path("cardscan.db"), metavar="FILE",
                   help="SQLite database (default: cardscan.db)")


def require_db(db: Path) -> Path:
    """The database of a command that reads one: it must exist (scan and watch create it)."""
    if not Path(db).is_file():
        raise BadArgumentsError(f"no database at {db}", hint="give --db, or run cardscan scan / watch first")
    return Path(db)


def add_scan_options(p: argparse.ArgumentParser) -> None:
    """Options shared by `scan`, `watch` and `bench`."""
    add_db_option(p)
    p.add_argument("--event", metavar="NAME", help="event where the cards were collected (stored with each contact)")
    p.add_argument("--event-date", metavar="YYYY-MM-DD", help="the day of the event (used in follow-up drafts)")
    p.add_argument("--note", metavar="TEXT", help="a note stored with each contact from this scan")
    p.add_argument("--region", metavar="CC", help="default phone region, e.g. US, GB, JP (the card's own country "
                   "wins; default: [scan] region in the config file)")
    p.add_argument("--lang", metavar="LANGS", help="Tesseract languages, e.g. eng or eng+por "
                   "(default: [scan] lang in the config file, else eng)")
    p.add_argument("--engine", default="auto", choices=("auto", "tesserocr", "pytesseract"),
                   help="OCR engine (default auto: in-process tesserocr, else the tesseract program)")
    p.add_argument("--second-engine", default="off", choices=("off", "rapidocr"),
                   help="second OCR opinion for poorly read cards (needs the rapidocr extra)")
    p.add_argument("-j", "--jobs", type=int, default=0, metavar="N", help="worker processes (default: one per core)")
    p.add_argument("--max-image-mpixels", type=float, default=250.0, metavar="MP",
                   help="refuse images larger than this many megapixels (default 250)")
    p.add_argument("--review-threshold", type=float, default=0.6, metavar="X",
                   help="fields below this confidence are flagged for review (default 0.6)")
    p.add_argument("--auto-merge", choices=("strong", "possible"), metavar="STRENGTH",
                   help="merge duplicate contacts after the scan: strong (shared e-mail or number) or "
                        "possible (also same name and similar company); default: only list them")
    p.add_argument("--no-drafts", dest="followup_drafts", action="store_false",
                   help="do not write follow-up drafts for the new contacts")


def _config_defaults() -> tuple[str | None, str | None]:
    """[scan] region and lang from the config file; a broken file is reported, not fatal here."""
    from cardscan.config import load_config
    from cardscan.errors import ConfigError

    try:
        c = load_config()
    except ConfigError as e:
        log.warning("config file not used for scan defaults: %s", e)
        return None, None
    return c.scan.region, c.scan.lang


def options_from_args(args: argparse.Namespace, **extra: object) -> Options:
    if hasattr(args, "lang") and (getattr(args, "region", None) is None or args.lang is None):
        region, lang = _config_defaults()
        if getattr(args, "region", None) is None:
            args.region = region
        args.lang = args.lang or lang or "eng"
    kw = {k: getattr(args, k) for k in ("db", "event", "event_date", "note", "region", "lang", "engine", "jobs",
                                         "max_image_mpixels", "review_threshold", "auto_merge", "followup_drafts")
          if hasattr(args, k)}
    if hasattr(args, "second_engine"):
        kw["second_engine"] = args.second_engine
    kw.update(extra)
    return Options(**kw)  # type: ignore[arg-type]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cardscan", description="Business-card photos to validated contacts.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name == "main":
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.ERROR if args.quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)]
    logging.basicConfig(level=level, format="cardscan: %(message)s", stream=sys.stderr)
    old_term = _terminate_as_interrupt()
    try:
        return int(args.func(args) or 0)
    except Terminated:
        print("cardscan: terminated; everything finished so far is saved", file=sys.stderr)
        return int(ExitCode.terminated)
    except KeyboardInterrupt:
        print("cardscan: interrupted; everything finished so far is saved", file=sys.stderr)
        return int(ExitCode.ctrl_c)
    except CardscanError as e:
        print(f"cardscan: error: {safe_text(e)}", file=sys.stderr)
        return int(e.exit_code)
    except BrokenPipeError:
        return int(ExitCode.ok)
    except Exception as exc:  # noqa: BLE001 - the last line of defence prints the bug, with its traceback
        from cardscan.store import database_error

        mapped = database_error(exc, getattr(args, "db", None))
        if mapped is not None:  # a read-only, damaged, full or busy database: one line, its exit code
            print(f"cardscan: error: {safe_text(mapped)}", file=sys.stderr)
            return int(mapped.exit_code)
        traceback.print_exc()
        print("cardscan: internal error (a bug: please report it with the traceback above)", file=sys.stderr)
        return int(ExitCode.other_error)
    finally:
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)


def _terminate_as_interrupt():  # noqa: ANN202 - the previous handler, or None off the main thread
    """SIGTERM raises Terminated (a KeyboardInterrupt): the same clean stop as Ctrl-C, exit 143."""
    def on_term(signum: int, frame: object) -> None:
        raise Terminated()

    try:
        return signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread (main() called from a thread): leave signals alone
        return None
