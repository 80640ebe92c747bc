"""The `cardscan` command: a thin layer over the library (cardscan.api and friends).

Each sub-command lives in cardscan/cli/<name>.py with `register(subparsers)`; this module
finds them, parses the arguments, runs the chosen one and maps errors to exit codes.
"""
from __future__ import annotations

import argparse
import functools
import importlib
import logging
import os
import signal
import pkgutil
import re
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, Sequence

from cardscan import cli as commands
from cardscan.contacts.fields import DEFAULT_REVIEW_THRESHOLD, ReviewPolicy
from cardscan.errors import BadArgumentsError, CardscanError, ConfigError, ExitCode, Terminated
from cardscan.options import READERS, RUNTIMES, Options
from cardscan.safety import safe_text
from cardscan.store import MAX_ID

if TYPE_CHECKING:
    from cardscan.config import Config

log = logging.getLogger("cardscan")



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


def add_config_option(p: argparse.ArgumentParser, help: str | None = None) -> None:  # noqa: A002 - argparse's word
    p.add_argument("--config", type=Path, metavar="FILE",
                   help=help or "config file (default: $CARDSCAN_CONFIG or ~/.config/cardscan/config.toml)")


def db_flag(db: Path | None) -> str:
    """`` --db FILE`` for a hint the user can copy, or "" for the default database."""
    import shlex

    return "" if db is None or Path(db) == Path("cardscan.db") else f" --db {shlex.quote(str(db))}"


_HINT_RE = re.compile(r"\bcardscan ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?")


@functools.lru_cache(maxsize=1)
def _db_commands() -> dict[str, frozenset[str] | None]:
    """Command -> None when it takes --db itself, or the set of its actions that take it."""
    def takes_db(p: argparse.ArgumentParser) -> bool:
        return any("--db" in a.option_strings for a in p._actions)

    def subparsers(p: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
        return next((dict(a.choices) for a in p._actions if isinstance(a, argparse._SubParsersAction)), {})

    out: dict[str, frozenset[str] | None] = {}
    for name, p in subparsers(build_parser()).items():
        if takes_db(p):
            out[name] = None
        elif actions := frozenset(n for n, q in subparsers(p).items() if takes_db(q)):
            out[name] = actions
    return out


def with_db(text: str, db: Path | None) -> str:
    """A printed text whose ``cardscan COMMAND ...`` hints get `` --db FILE`` right after the
    command (and its action), when a database other than the default was given: copied, they
    work on the same database."""
    flag = db_flag(db)
    if not flag:
        return text

    def add(m: re.Match[str]) -> str:
        actions = _db_commands().get(m.group(1), frozenset())
        if actions is None:
            return f"cardscan {m.group(1)}{flag}" + (f" {m.group(2)}" if m.group(2) else "")
        if m.group(2) in actions:
            return f"{m.group(0)}{flag}"
        return m.group(0)

    return _HINT_RE.sub(add, text)


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
    p.add_argument("--reader", default=None, choices=READERS,
                   help="lines: find text lines, read each with PP-OCR and Tesseract (default); tesseract: "
                        "Tesseract's page layout alone (faster, weaker on phone photos); careful: both, merged")
    p.add_argument("--runtime", default="auto", choices=RUNTIMES,
                   help="what runs the line reader's models: auto (default: openvino in bfloat16 where the "
                        "CPU has bfloat16 instructions, else onnxruntime), onnxruntime or openvino")
    p.add_argument("--second-engine", default="off", choices=("off", "rapidocr"),
                   help="second OCR opinion for poorly read cards (needs the rapidocr extra)")
    p.add_argument("-j", "--jobs", type=int, default=0, metavar="N", help="worker processes (default: one per core)")
    p.add_argument("--max-image-mpixels", type=float, default=250.0, metavar="MP",
                   help="refuse images larger than this many megapixels (default 250)")
    add_review_threshold(p)
    p.add_argument("--busy-timeout", type=float, default=30.0, metavar="SECONDS",
                   help="how long a write waits while another program holds the database's write lock "
                        "(default 30); then scan stops (exit 5) and watch retries later")
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
                                         "second_engine", "cluster", "shared_paths", "busy_timeout", "runtime")
          if hasattr(args, k)}
    if "lang" in kw:
        scan = config.scan if config is not None else None
        if kw.get("region") is None and scan is not None:
            kw["region"] = scan.region
        kw["lang"] = kw["lang"] or (scan.lang if scan is not None else None) or "eng"
        if config is None:
            kw["followup_drafts"] = False
    if getattr(args, "reader", None):
        kw["reader"] = args.reader
    kw.update(extra)
    return Options(**kw)  # type: ignore[arg-type]


class _Parser(argparse.ArgumentParser):
    """argparse with cardscan's exit code for bad arguments (1, not argparse's 2, which cardscan
    uses for "some photos could not be read")."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(int(ExitCode.bad_args), f"cardscan: error: {message}\n")


def _add_verbosity(p: argparse.ArgumentParser, default: object) -> None:
    p.add_argument("-v", "--verbose", action="count", default=default, help="more log output (-vv for debug)")
    p.add_argument("-q", "--quiet", action="store_true", default=default,
                   help="only errors (no contact lines, no summary)")


def build_parser() -> argparse.ArgumentParser:
    from cardscan import __version__

    parser = _Parser(prog="cardscan", description="Business-card photos to validated contacts.")
    parser.add_argument("--version", action="version", version=f"cardscan {__version__}")
    _add_verbosity(parser, None)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name == "main":
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(sub)
    for p in sub.choices.values():  # -q / -v also after the command: `cardscan scan photos -q`
        _add_verbosity(p, argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.verbose, args.quiet = args.verbose or 0, bool(args.quiet)
    level = logging.ERROR if args.quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)]
    logging.basicConfig(level=level, format="cardscan: %(message)s", stream=sys.stderr)
    if getattr(args, "cluster", None):  # Dask logs each worker's start and stop at INFO: only -v shows them
        os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", logging.getLevelName(max(level, logging.WARNING)).lower())
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
        hint = f" ({with_db(safe_text(e.hint), getattr(args, 'db', None))})" if e.hint else ""
        print(f"cardscan: error: {safe_text(e.message)}{hint}", file=sys.stderr)
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
