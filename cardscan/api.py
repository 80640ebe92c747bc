"""The library entry points. The CLI is a thin layer over these.

    import cardscan
    result = cardscan.scan(["photos/"], options=cardscan.Options(event="Expo 2026", region="DE"))

Per-photo failures are recorded in the store and in the result, never raised; errors that stop
the whole run (missing Tesseract, unwritable database) raise a CardscanError with an exit code.
"""
from __future__ import annotations

import json
import logging
import multiprocessing
import importlib.util
import os
import signal
import sys
import threading
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

from cardscan.reading import files

from cardscan.reading.ocr import tesseract as ocr_mod

from cardscan.config import Config
from cardscan.errors import CardscanError, ExitCode, MissingDependencyError, OutputAccessError
from cardscan.options import Options
from cardscan.safety import check_output_path
from cardscan.store import CardRead, Store
from cardscan.store.claims import worker_id

if TYPE_CHECKING:  # the reading pipeline runs in the workers: this process imports it only to read in-process
    from cardscan.reading.pipeline import CardOutcome

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScanItem:
    """One photo's result, small enough to keep for thousands of photos."""

    path: str
    sha256: str | None
    contact_id: int | None = None
    error: str | None = None
    exit_code: int = 0
    duplicate: bool = False  # already in the database (same bytes): not read again
    card_index: int = 0  # which card of the photo (a photo may show several)
    needs_review: int = 0  # fields flagged for a person to check
    seconds: float = 0.0  # pipeline time for this photo in its worker
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage, and "cpu"
    warnings: tuple[str, ...] = ()  # e.g. "first frame of 2 used"
    summary: str = ""  # "Name | Title | Company | e-mail | phone" for printing
    elsewhere: bool = False  # read by another scan running at the same time (this one waited for it)


@dataclass
class ScanResult:
    items: list[ScanItem] = field(default_factory=list)
    skipped: list[files.Skipped] = field(default_factory=list)
    seconds: float = 0.0
    report: Path | None = None
    jsonl: Path | None = None
    after: "AfterBatch | None" = None  # what --auto-merge and the follow-up drafts did
    # photos read before, whose contacts this run's --event / --event-date / --note did not reach
    not_applied: dict[str, int] = field(default_factory=dict)  # option -> photos

    @property
    def photos(self) -> int:
        return len({(i.path, i.sha256) for i in self.items})

    @property
    def failures(self) -> list[ScanItem]:
        return [i for i in self.items if i.error]

    @property
    def contacts(self) -> int:
        return len({i.contact_id for i in self.items if i.contact_id is not None})

    @property
    def exit_code(self) -> int:
        codes = [i.exit_code for i in self.items if i.error]
        return int(ExitCode.input_file) if codes and all(c == ExitCode.input_file for c in codes) else (
            max(codes) if codes else int(ExitCode.ok))


# ---------------------------------------------------------------- workers
_engine: ocr_mod.OcrEngine | None = None
_options: Options | None = None


# Test-only hook: "module:callable" returning an OcrEngine, used instead of Tesseract in worker
# processes (fault injection and fast logic tests of scan/watch). Never set it for real use.
TEST_ENGINE_ENV = "CARDSCAN_TEST_ENGINE_FACTORY"


def load_engine(options: Options) -> ocr_mod.OcrEngine:
    """The OCR engine for these options (the test hook's engine when that is set)."""
    from cardscan.reading.ocr import sessions

    sessions.use(options.runtime)
    hook = os.environ.get(TEST_ENGINE_ENV)
    if hook:
        module, _, attr = hook.partition(":")
        log.warning("using the test OCR engine %s (%s is set)", hook, TEST_ENGINE_ENV)
        return getattr(importlib.import_module(module), attr)(options)
    return ocr_mod.get_engine(options)


def _worker_init(options: Options, parent: int | None = None) -> None:
    global _engine, _options
    if parent is not None:  # end with the scanning process, also when it is killed with SIGKILL
        from cardscan.reading import lifeline

        lifeline.exit_with(parent)
    os.environ["OMP_THREAD_LIMIT"] = "1"  # Tesseract's own threads fight each other across workers
    # Ctrl-C reaches the whole process group: the parent stops the run and ends its workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if options.workers > 1:  # the workers are the parallelism: OpenCV's own thread pool only competes
        import cv2

        cv2.setNumThreads(1)
    _options = options
    _engine = load_engine(options)


def new_pool(options: Options, workers: int | None = None) -> ProcessPoolExecutor:
    """Worker processes that each load one OCR engine once; run `_worker_run` on them.

    forkserver: workers start from a clean process, not a copy of this one (which may hold a
    loaded Tesseract); each then loads its own engine once.
    """
    if sys.platform.startswith("linux"):
        ctx = multiprocessing.get_context("forkserver")
        # the forkserver imports the pipeline once and forks every worker from it (about 1 s of
        # imports and tables a worker no longer pays); takes effect when the forkserver starts
        # lifeline: the forkserver ends with this process (kill -9 included), not for ever after it
        ctx.set_forkserver_preload(["cardscan.reading.lifeline", "cardscan.reading.workerwarm"])
    else:
        ctx = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(max_workers=workers or options.workers, mp_context=ctx,
                               initializer=_worker_init, initargs=(options, os.getpid()))


def stop_pool(pool: ProcessPoolExecutor) -> None:
    """End a pool now: queued work cancelled, workers (busy or idle) terminated, never waited on."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        try:
            p.terminate()
        except Exception:  # noqa: BLE001 - already gone
            pass
    for p in procs:
        p.join(timeout=5)
        if p.is_alive():
            p.kill()


def _worker_run(path: str) -> CardOutcome:
    assert _engine is not None and _options is not None
    from cardscan.reading import pipeline  # preloaded by the forkserver in a worker

    return pipeline.process_path(path, _engine, _options)


def iter_outcomes(paths: list[str], options: Options) -> Iterator[CardOutcome]:
    """Process photos with `options.workers` processes (in-process when 1); results in input order.

    Results come back in the order of `paths`, whichever worker finishes first, so contact numbers
    follow the input (sorted paths, then card order) and are the same on every run. At most two
    photos per worker are in flight or waiting, so memory stays flat on long runs. With
    `options.cluster` the photos are read on a Dask cluster instead (cardscan.cluster), in the same order.
    """
    if options.cluster:
        from cardscan import cluster

        yield from cluster.iter_outcomes(paths, options)
        return
    if options.workers <= 1 or len(paths) <= 1:
        os.environ.setdefault("OMP_THREAD_LIMIT", "1")
        _load_here(options)
        for p in paths:
            yield _worker_run(p)
        return
    pool = new_pool(options)
    stopped = False
    try:
        queue: deque[Future[CardOutcome]] = deque()  # submitted, in input order
        it = iter(paths)
        window = options.workers * 2
        try:
            while True:
                while len(queue) < window:
                    p = next(it, None)
                    if p is None:
                        break
                    queue.append(pool.submit(_worker_run, p))
                if not queue:
                    break
                yield queue.popleft().result()  # waits for the oldest; the others keep running
        except BaseException:
            stopped = True
            stop_pool(pool)  # Ctrl-C, SIGTERM, a closed generator: never wait on the workers
            raise
    finally:
        if not stopped:
            pool.shutdown(wait=True)


# ---------------------------------------------------------------- scan
def check_ready(options: Options) -> None:
    """Fail fast, before any photo, when the OCR engine or its language data is missing.

    The engine loaded here is the one in-process scans use. With worker processes, which load
    their own, only the engine's presence and language data are checked: this process then never
    holds a model it does not use.
    """
    if options.second_engine == "rapidocr" and importlib.util.find_spec("rapidocr") is None:
        raise MissingDependencyError("--second-engine rapidocr needs RapidOCR, which is not installed",
                                     hint="pip install 'cardscan[rapidocr]'")
    if options.cluster:  # the workers load the readers; each is checked before the first photo
        from cardscan.cluster import require_distributed

        require_distributed()
        return
    if options.workers > 1 and not os.environ.get(TEST_ENGINE_ENV):
        ocr_mod.check_available(options)
        return
    _load_here(options)


def _load_here(options: Options) -> None:
    """Load the engine in this process (in-process scans)."""
    global _engine, _options
    if _engine is None or _options != options:
        _engine, _options = load_engine(options), options


def scan(paths: Iterable[Path | str], /, *, options: Options = Options(), config: Config | None = None,
         progress: Callable[[ScanItem], None] | None = None) -> ScanResult:
    """Scan photos and folders into the store; write the JSONL and report when asked.

    ``config`` (sender, templates) is used for the follow-up drafts; this function reads no config
    file: the CLI does (None: the built-in defaults)."""
    t0 = time.perf_counter()
    check_output_path(options.report, options.db, what="report")
    check_output_path(options.jsonl, options.db, what="JSON lines file")
    check_ready(options)
    if options.workers > 1 and not options.cluster:
        threading.Thread(target=_import_for_after_batch, args=(options,), daemon=True).start()
    result = ScanResult()
    with Store(options.db, timeout=options.busy_timeout) as store:
        if options.event and options.event_date:
            store.set_event_date(options.event, options.event_date)
        todo: list[str] = []
        seen: dict[str, str] = {}  # sha256 -> first path this run
        early: list[ScanItem] = []
        paths = list(paths)
        missing: list[ScanItem] = []
        for p in paths:  # a path named on the command line that is not there is a typo: exit 2, not "skipped"
            if not os.path.lexists(p):
                missing.append(ScanItem(str(p), None, error="no such file or folder",
                                      exit_code=int(ExitCode.input_file)))
        for f in files.discover([p for p in paths if os.path.lexists(p)]):
            if isinstance(f, files.Skipped):
                log.warning("%s: skipped: %s", f.path, f.reason)
                result.skipped.append(f)
                continue
            sha = files.sha256_file(f.path)
            if sha is not None and (sha in seen or store.has_done(sha)):
                early.extend(_already_done(store, str(f.path), sha) or [ScanItem(str(f.path), sha, duplicate=True)])
                continue
            if sha is not None:
                seen[sha] = str(f.path)
            todo.append(str(f.path))
        claims = _Claims(store, todo, seen)
        jsonl = _JsonlWriter(options.jsonl) if options.jsonl else None
        try:
            todo = claims.take()
            for item in missing:
                _emit(result, item, store, jsonl, progress)
            for item in early:
                if item.contact_id is None:  # same bytes earlier in this run: resolved below
                    continue
                _note_not_applied(result, item, store, options)
                _emit(result, item, store, jsonl, progress)
            for out in iter_outcomes(todo, options):
                for item in store_outcome(store, out, options):
                    _emit(result, item, store, jsonl, progress)
                claims.renew()
            while claims.theirs:  # photos another scan was reading: wait for them, or take them over
                items, mine = claims.wait_for_others()
                for item in items:
                    _emit(result, item, store, jsonl, progress)
                for out in iter_outcomes(mine, options):
                    for item in store_outcome(store, out, options):
                        _emit(result, item, store, jsonl, progress)
                    claims.renew()
            for item in early:
                if item.contact_id is None:
                    again = _already_done(store, item.path, item.sha256) if item.sha256 else []
                    for a in again or [ScanItem(item.path, item.sha256, duplicate=True,
                                                error="same photo as another file in this run, which failed")]:
                        _emit(result, a, store, jsonl, progress)
        finally:
            claims.release()
            if jsonl:
                result.jsonl = jsonl.close()
        result.after = after_batch(store, options, config,
                                   new_ids=[i.contact_id for i in result.items
                                            if i.contact_id is not None and not i.duplicate])
        if options.report is not None:
            from cardscan.outputs import report as report_mod
            result.report = report_mod.write_report(store, options.report, event=options.event, policy=options.review)
    result.seconds = time.perf_counter() - t0
    return result


SCAN_LEASE = 300.0  # seconds a scan's claim on a photo lasts; renewed while the scan stores results
_WAIT_POLL = 0.25  # seconds between looks at photos another scan is reading


class _Claims:
    """A scan's claims on the photos it is about to read, so that two scans of one folder at once
    read each photo once: the second leaves the first's photos alone, waits for them, and reads
    them itself only when the first gives them back or dies (its owner is gone, or the lease ran
    out). Files whose bytes could not be hashed are not claimed: their failure is per file."""

    def __init__(self, store: Store, paths: list[str], shas: dict[str, str]) -> None:
        self.store = store
        self.owner = worker_id()
        self.sha_of = {p: sha for sha, p in shas.items()}
        self.paths = paths
        self.theirs: list[str] = []  # paths of photos another live scan holds
        self._renewed = time.monotonic()

    def take(self) -> list[str]:
        """Claim every photo to read; returns the paths this scan reads now, in order."""
        want = [(self.sha_of[p], stored_path(p)) for p in self.paths if p in self.sha_of]
        if not want:
            return self.paths
        got = dict(zip((sha for sha, _ in want), self.store.claim_photos(want, self.owner, SCAN_LEASE)))
        if not all(got.values()) and self.store.release_dead_claims():  # a crashed scan's claims
            again = [w for w in want if not got[w[0]]]
            got.update(zip((sha for sha, _ in again), self.store.claim_photos(again, self.owner, SCAN_LEASE)))
        mine = [p for p in self.paths if p not in self.sha_of or got[self.sha_of[p]]]
        self.theirs = [p for p in self.paths if p in self.sha_of and not got[self.sha_of[p]]]
        if self.theirs:
            log.warning("%d photo(s) being read by another scan; waiting for them", len(self.theirs))
        return mine

    def renew(self) -> None:
        if time.monotonic() - self._renewed > SCAN_LEASE / 3:
            self._renewed = time.monotonic()
            self.store.renew_claims(self.owner, SCAN_LEASE)

    def wait_for_others(self) -> tuple[list[ScanItem], list[str]]:
        """One look at the photos another scan holds: items for those it finished, and the paths
        this scan must read itself (given back, or their reader is gone). Waits a moment when
        neither."""
        self.store.release_dead_claims()
        items: list[ScanItem] = []
        mine: list[str] = []
        still: list[str] = []
        for p in self.theirs:
            sha = self.sha_of[p]
            state = self.store.photo_state(sha)
            if state is not None and state[0] == "done":
                items += [replace(i, elsewhere=True) for i in _already_done(self.store, p, sha)
                          or [ScanItem(p, sha, duplicate=True)]]
            elif state is not None and state[0] == "failed":
                items.append(ScanItem(p, sha, error=f"{state[1]} (read by another scan)",
                                      exit_code=int(ExitCode.input_file), elsewhere=True))
            elif self.store.claim(sha, stored_path(p), self.owner, SCAN_LEASE):
                mine.append(p)
            else:
                still.append(p)
        self.theirs = still
        if still and not items and not mine:
            time.sleep(_WAIT_POLL)
        return items, mine

    def release(self) -> None:
        """Give back what this scan still holds (Ctrl-C, an error): the next run reads it."""
        try:
            self.store.release_all(self.owner)
        except CardscanError as e:
            log.warning("claims not given back (%s); they expire or are freed when this scan has ended", e)


@dataclass(frozen=True)
class AfterBatch:
    merged: list = field(default_factory=list)  # dedupe.MergeResult of --auto-merge
    drafts: int = 0  # follow-up drafts written
    not_queued: int = 0  # contacts with no draft: no usable e-mail (follow up another way), or a name to fix
    duplicates: list = field(default_factory=list)  # dedupe.DuplicatePair: a new contact that may be a known person


def after_batch(store: Store, options: Options, config: Config | None = None,
                new_ids: Iterable[int] = ()) -> AfterBatch:
    """What follows a batch of stored contacts: --auto-merge, then follow-up drafts.

    Merging first, so that one person met twice gets one draft. Neither step fails the scan: a
    problem (a bad template, say) is logged and the contacts stay as stored.
    """
    merged: list = []
    if options.auto_merge:
        from cardscan.contacts import dedupe
        merged = dedupe.auto_merge(store, options.auto_merge, event=options.event)
        for m in merged:
            log.info("merged contact #%d into #%d (%s)", m.merged, m.kept, ", ".join(m.reasons))
    dups = new_duplicates(store, new_ids)
    if not options.followup_drafts:
        return AfterBatch(merged, duplicates=dups)
    from cardscan.followup import queue as followup
    made = followup.ensure_drafts(store, config=config)
    return AfterBatch(merged, len(made.created), len(made.not_queued), dups)


def _import_for_after_batch(options: Options) -> None:
    """Import now what `after_batch` (and the report) will: the duplicate finder with nameparser's
    word lists, the follow-up queue with jinja2 (~0.45 s CPU). Run in a thread while the worker
    processes start, when the forkserver's preloading keeps only one core busy, so the imports no
    longer wait until every photo is read and then run alone."""
    try:
        from cardscan.contacts import dedupe  # noqa: F401
        from cardscan.contacts.names import parse_name

        parse_name("Ann Example")  # nameparser loads its word lists on first use
        if options.followup_drafts:
            from cardscan.followup import queue  # noqa: F401
        if options.report is not None:
            from cardscan.outputs import report  # noqa: F401
    except Exception:  # noqa: BLE001 - the same imports run again where they are needed, and say why
        log.debug("importing for after the batch failed", exc_info=True)


def new_duplicates(store: Store, new_ids: Iterable[int]) -> list:
    """Possible duplicates (dedupe.DuplicatePair, dismissals left out) that involve a contact of
    ``new_ids`` still on its own, so that the scan that made them can say so."""
    new = set(new_ids)
    if not new:
        return []
    from cardscan.contacts import dedupe

    return [p for p in dedupe.duplicates(store) if p.a in new or p.b in new]


def store_outcome(store: Store, out: CardOutcome, options: Options) -> list[ScanItem]:
    """Record one photo's outcome: its card(s) as contacts in one transaction, or the failure
    and its reason. One item per card (the first carries the photo's time and warnings)."""
    for w in out.warnings:
        log.warning("%s: %s", out.path, w)
    if out.error or out.contact is None or out.sha256 is None:
        store.record_failure(out.sha256, stored_path(out.path), out.error or "no contact read")
        log.info("%s: %s", out.path, out.error)
        return [ScanItem(out.path, out.sha256, error=out.error or "no contact read",
                         exit_code=out.exit_code or int(ExitCode.input_file),
                         seconds=out.seconds, timings=dict(out.timings), warnings=tuple(out.warnings))]
    cards = [out] + [m for m in out.more if m.contact is not None]
    ids = store.record_cards(
        out.sha256, stored_path(out.path),
        [CardRead(c.contact, c.crop_jpeg or None, c.raw_text, c.ocr_engine, c.ocr_conf) for c in cards],
        event=options.event, note=options.note, fmt=out.format, size=out.size, original_size=out.original_size,
    )
    items = []
    for i, (c, cid) in enumerate(zip(cards, ids)):
        assert c.contact is not None
        flagged = options.review.count(c.contact)
        items.append(ScanItem(out.path, out.sha256, contact_id=cid, needs_review=flagged, card_index=i,
                              seconds=out.seconds if i == 0 else 0.0, timings=dict(out.timings) if i == 0 else {},
                              warnings=tuple(out.warnings) if i == 0 else (), summary=one_line(c.contact)))
    if len(items) > 1:
        log.info("%s: %d cards in the photo", out.path, len(items))
    return items


def _note_not_applied(result: ScanResult, item: ScanItem, store: Store, options: Options) -> None:
    """An already-scanned photo keeps its contact as stored: say which of this run's options
    describing new contacts did not reach it (the event's date does, when it is the same event)."""
    if item.card_index or item.contact_id is None:
        return
    event = store.contact(item.contact_id).event
    missed = ["--note"] if options.note else []
    if options.event and event != options.event:
        missed.append("--event")
        if options.event_date:
            missed.append("--event-date")
    for flag in missed:
        result.not_applied[flag] = result.not_applied.get(flag, 0) + 1


def stored_path(path: str | Path) -> str:
    """The path the store keeps: absolute and resolved, so that `review --db ../cards.db` run from
    another folder still finds the original photo (the CLI prints the path as typed)."""
    try:
        return str(Path(path).resolve())
    except (OSError, RuntimeError):  # a symlink loop: keep it absolute at least
        return os.path.abspath(path)


def _already_done(store: Store, path: str, sha: str) -> list[ScanItem]:
    """Items for a photo already read (same bytes): one per card, nothing read again."""
    return [ScanItem(path, sha, contact_id=cid, duplicate=True, card_index=i,
                     summary=one_line(store.contact(cid).contact))
            for i, cid in enumerate(store.contact_ids_for_photo(sha))]


def one_line(contact) -> str:  # noqa: ANN001
    """A contact in one printable line (control characters removed)."""
    parts = [contact.scalar(n) for n in ("name", "title", "company")]
    parts += [e.value for e in contact.emails[:1]] + [p.number for p in contact.phones[:1]]
    text = " | ".join(p for p in parts if p)
    return "".join(ch if ch.isprintable() else " " for ch in text) or "(no fields read)"


def _emit(result: ScanResult, item: ScanItem, store: Store, jsonl: "_JsonlWriter | None",
          progress: Callable[[ScanItem], None] | None) -> None:
    result.items.append(item)
    if jsonl:
        jsonl.write(item, store)
    if progress:
        progress(item)


class _JsonlWriter:
    """One JSON object per photo, written to a temp file and renamed into place at the end."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            # a non-UTF-8 file name (surrogate escapes) is written as the JSON escape \udcXX, which
            # json.loads gives back unchanged
            self.fh = open(self.tmp, "w", encoding="utf-8", errors="backslashreplace")
        except OSError as e:
            raise OutputAccessError(f"cannot write {self.path}: {e.strerror or e}") from None

    def write(self, item: ScanItem, store: Store) -> None:
        rec: dict = {"file": item.path}
        if item.contact_id is not None:
            c = store.contact(item.contact_id)
            rec.update(c.contact.to_record())
            rec["contact_id"] = item.contact_id
            rec["details"] = contact_details(c.contact)
        else:
            rec.update({"name": None, "title": None, "company": None, "emails": [], "phones": [],
                        "websites": [], "address": None})
        rec["sha256"] = item.sha256
        if item.card_index:
            rec["card"] = item.card_index  # a photo showing several cards: one record per card
        if item.duplicate:
            rec["duplicate"] = True
        if item.elsewhere:
            rec["read_by_another_scan"] = True
        else:
            rec["seconds"] = round(item.seconds, 3)
            if item.timings:
                rec["timings"] = item.timings
        if item.error:
            rec["error"] = item.error
        if item.warnings:
            rec["warnings"] = list(item.warnings)
        self.fh.write(json.dumps(rec, ensure_ascii=False) + "\n")

    def close(self) -> Path:
        self.fh.close()
        os.replace(self.tmp, self.path)
        return self.path


def contact_details(contact) -> dict:  # noqa: ANN001
    """Confidence, source and flags of every field, keyed like the record."""
    def one(f):  # noqa: ANN001, ANN202
        return {"value": getattr(f, "value", None) or getattr(f, "number", None), "confidence": round(f.confidence, 3),
                "source": f.source, "flags": list(f.flags), "message": f.message}
    d: dict = {n: one(getattr(contact, n)) for n in ("name", "title", "company", "address", "other_name")
                if getattr(contact, n)}
    d["emails"] = [one(e) for e in contact.emails]
    d["phones"] = [one(p) for p in contact.phones]
    d["websites"] = [one(w) for w in contact.websites]
    return d
