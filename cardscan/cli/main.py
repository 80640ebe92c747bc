"""The `cardscan` command: a thin layer over the library (cardscan.api and friends).

Each sub-command lives in cardscan/cli/<name>.py with `register(subparsers)`; this module
finds them, parses the arguments, runs the chosen one and maps errors to exit codes.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from cardscan import cli as commands
from cardscan.contacts.fields import DEFAULT_REVIEW_THRESHOLD, ReviewPolicy
from cardscan.errors import BadArgumentsError, CardscanError, ConfigError, ExitCode
from cardscan.options import Options

if TYPE_CHECKING:
    from cardscan.config import Config

log = logging.getLogger("cardscan")


def add_db_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", type=Path, default=Path("cardscan.db"), metavar="FILE",
                   help="SQLite database (default: cardscan.db)")


def require_db(db: Path) -> Path:
    """The database of a command that reads one: it must exist (scan and watch create it)."""
    if not Path(db).is_file():
        raise BadArgumentsError(f"no database at {db}", hint="give --db, or run cardscan scan / watch first")
    return Path(db)


def add_review_threshold(p: argparse.ArgumentParser, *, what: str = "fields below this confidence are flagged for review",
                         hidden: bool = False) -> None:
    """The one --review-threshold option; its value reaches the library as ``Options.review``."""
    p.add_argument("--review-threshold", type=float, default=DEFAULT_REVIEW_THRESHOLD, metavar="X",
                   help=argparse.SUPPRESS if hidden else f"{what} (default {DEFAULT_REVIEW_THRESHOLD:g})")


def review_policy(args: argparse.Namespace) -> ReviewPolicy:
    """The command's review rule, made and checked by Options as for a scan."""
    return Options(review_threshold=args.review_threshold).review


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
    add_review_threshold(p)
    p.add_argument("--auto-merge", choices=("strong", "possible"), metavar="STRENGTH",
                   help="merge duplicate contacts after the scan: strong (shared e-mail or number) or "
                        "possible (also same name and similar company); default: only list them")
    p.add_argument("--no-drafts", dest="followup_drafts", action="store_false",
                   help="do not write follow-up drafts for the new contacts")
    p.add_argument("--cluster", metavar="ADDRESS",
                   help="read the photos on a Dask cluster: the scheduler's tcp://HOST:8786, or local:N to start "
                        "N worker processes here (needs the cluster extra); this process still writes the database")
    p.add_argument("--shared-paths", action="store_true",
                   help="with --cluster: send the photos' paths, which every worker can read, instead of their bytes")


def scan_config() -> Config | None:
    """The config file of a scan or watch ($CARDSCAN_CONFIG or ~/.config/cardscan/config.toml), read
    once here at the edge; a broken file is reported and the scan goes on without it (None)."""
    from cardscan.config import load_config

    try:
        return load_config()
    except ConfigError as e:
        log.warning("config file not used (no [scan] defaults, no follow-up drafts): %s", e)
        return None


def options_from_args(args: argparse.Namespace, *, config: Config | None = None, **extra: object) -> Options:
    """The Options of a scan-like command: its arguments, then the config file's [scan] region and lang
    for what they leave open.  ``config`` None (a broken file) also means no follow-up drafts."""
    kw = {k: getattr(args, k) for k in ("db", "event", "event_date", "note", "region", "lang", "engine", "jobs",
                                         "max_image_mpixels", "review_threshold", "auto_merge", "followup_drafts",
                                         "second_engine", "cluster", "shared_paths")
          if hasattr(args, k)}
    if "lang" in kw:
        scan = config.scan if config is not None else None
        if kw.get("region") is None and scan is not None:
            kw["region"] = scan.region
        kw["lang"] = kw["lang"] or (scan.lang if scan is not None else None) or "eng"
        if config is None:
            kw["followup_drafts"] = False
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
    if getattr(args, "cluster", None):  # Dask logs each worker's start and stop at INFO: only -v shows them
        os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", logging.getLevelName(max(level, logging.WARNING)).lower())
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("cardscan: interrupted; everything finished so far is saved", file=sys.stderr)
        return int(ExitCode.ctrl_c)
    except CardscanError as e:
        print(f"cardscan: error: {e}", file=sys.stderr)
        return int(e.exit_code)
    except BrokenPipeError:
        return int(ExitCode.ok)
    except Exception:  # noqa: BLE001 - the last line of defence prints the bug, with its traceback
        traceback.print_exc()
        print("cardscan: internal error (a bug: please report it with the traceback above)", file=sys.stderr)
        return int(ExitCode.other_error)
