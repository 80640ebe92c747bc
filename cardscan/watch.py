"""Watch a folder: every photo in it now, and every photo that arrives later, read exactly once.

File-system events are only hints; the truth is a periodic rescan of the folder. A rescan is cheap
on a folder of thousands of files: each file costs one ``lstat``, and its content hash is cached
by (path, size, mtime, inode, ctime), so an unchanged file is never read twice.

Guarantees, and how they are kept:

- a file is taken only when its size and times have not changed for ``settle`` seconds; a file
  that then fails to decode as truncated/empty is retried when it changes, and recorded as a
  failure once it has been unchanged for ``give_up`` seconds;
- identity is the sha256 of the bytes: the same photo under two names, or dropped twice, is read
  once; a restart reads nothing already done or failed;
- every photo is claimed in the store (a lease, renewed while it is being read) before a worker
  reads it, so two watchers on one database read each photo once; claims left by a process that
  died (``kill -9``) are given back at start-up and whenever a claim is refused, and any claim
  expires after its lease anyway (another host);
- the contact is written in one transaction by this process only; workers just read photos;
- a busy database (another program holding the write lock past the busy timeout) never stops the
  watcher either: it says so once, backs off (1 s doubling to 30 s) and retries; a photo read
  meanwhile is kept and stored later; on start, the after-batch work (drafts, report) a killed
  run left undone is done;
- one bad file (or a crashing OCR worker) never stops the watcher: the failure is recorded with
  its reason (``cardscan status`` lists them);
- originals are never written; with ``move_done`` a photo is moved only after its contact is
  committed (link or copy + fsync + re-hash, never overwriting anything).
"""
from __future__ import annotations

import errno
import hashlib
import logging
import os
import shutil
import signal
import stat
import threading
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from cardscan import api

from cardscan.config import Config
from cardscan.reading import files
from cardscan.errors import Terminated
from cardscan.errors import (BadArgumentsError, CardscanError, ClusterError, ConfigError, DatabaseBusyError,
                             InputImageError, OcrFailedError, OutputAccessError)
from cardscan.options import Options
from cardscan.safety import check_output_path
from cardscan.reading.pipeline import CardOutcome
from cardscan.store import Store, forget_partial_versions
from cardscan.store.claims import owner_alive, worker_id  # noqa: F401 - part of this module's interface

log = logging.getLogger(__name__)

# Errors that a file still being written produces: retried until the file has been still for give_up.
_INCOMPLETE = ("truncated or corrupt", "empty file")
MAX_POOL_FAILURES = 3  # worker processes that fail to start this often in a row stop the watcher
MAX_WORKER_CRASHES = 2  # a photo in flight during this many worker crashes is recorded as failed
BUSY_BACKOFF = (1.0, 30.0)  # a busy database is tried again after 1 s, then 2, 4, ... at most 30 s


@dataclass(frozen=True)
class WatchConfig:
    folder: Path
    options: Options = Options()
    poll: float = 1.0  # seconds between rescans of the folder (the truth; events are only hints)
    settle: float = 1.0  # a file is taken when unchanged for this long
    give_up: float = 30.0  # a file that stays truncated this long after its last change fails
    lease: float = 60.0  # claim lease, renewed every lease/3 while the photo is being read
    move_done: Path | None = None  # move each photo here once its contact is committed
    report: Path | None = None  # HTML report, refreshed after each burst of arrivals
    report_every: float = 30.0  # ... and at least this often during a long burst
    once: bool = False  # read what is there now (and stable), then stop
    config: Config | None = None  # the config file's values (follow-up drafts), read by the CLI; None: defaults


@dataclass
class WatchStats:
    done: int = 0
    failed: int = 0
    duplicates: int = 0
    skipped: int = 0
    needs_review: int = 0
    rescans: int = 0
    hashed: int = 0  # files read to hash them (a rescan of unchanged files reads none)
    started: float = field(default_factory=time.monotonic)


Sig = tuple[int, int, int, int]  # size, mtime_ns, inode, ctime_ns


def file_sig(st: os.stat_result) -> Sig:
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def check_config(cfg: WatchConfig) -> None:
    """Refuse set-ups that would feed the watcher its own output (exit 9), or a missing folder."""
    if not cfg.folder.is_dir():
        raise BadArgumentsError(f"{cfg.folder} is not a folder; give the folder to watch")
    check_output_path(cfg.report, cfg.options.db, what="report")
    outputs = [("database", cfg.options.db), ("report", cfg.report), ("--move-done folder", cfg.move_done)]
    for what, p in outputs:
        if p is not None and _inside(Path(p), cfg.folder):
            raise ConfigError(f"the {what} {p} is inside the watched folder {cfg.folder}",
                              hint="put it outside the folder, e.g. in its parent")
    if cfg.move_done is not None and not Path(cfg.move_done).is_dir():
        try:
            Path(cfg.move_done).mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputAccessError(f"cannot create the --move-done folder {cfg.move_done}: {e.strerror or e}") from None
    for name, value in (("--poll", cfg.poll), ("--settle", cfg.settle), ("--give-up", cfg.give_up),
                        ("lease", cfg.lease)):
        if value <= 0:
            raise BadArgumentsError(f"{name} must be a positive number of seconds")


# ------------------------------------------------------------------------------- owners of claims


def reclaim_dead_claims(store: Store) -> int:
    """Give back claims whose owner process is dead (kill -9, power cut of a client). Returns how many."""
    n = store.release_dead_claims()
    if n:
        log.info("gave back %d photo(s) claimed by processes that are gone", n)
    return n


# ------------------------------------------------------------------------------- moving originals


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _free_name(folder: Path, name: str, n: int) -> Path:
    if n == 0:
        return folder / name
    stem, dot, ext = name.rpartition(".")
    return folder / (f"{stem}-{n}.{ext}" if dot and stem else f"{name}-{n}")


def move_original(src: Path, dest_dir: Path, sha256: str) -> Path:
    """Move a photo whose contact is committed into dest_dir, never overwriting anything.

    Same file system: a hard link then unlink (atomic, no clobber). Across devices: copy to a
    temporary file, fsync, re-hash it, link into place, then unlink the original.
    """
    for n in range(1000):
        dst = _free_name(dest_dir, src.name, n)
        try:
            os.link(src, dst)
        except FileExistsError:
            continue
        except OSError as e:
            if e.errno not in (errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                raise
            return _copy_move(src, dest_dir, sha256)
        os.unlink(src)
        _fsync_dir(dest_dir)
        return dst
    raise OutputAccessError(f"cannot find a free name for {src.name} in {dest_dir}")


def _copy_move(src: Path, dest_dir: Path, sha256: str) -> Path:
    tmp = dest_dir / f".{src.name}.{os.getpid()}.part"
    h = hashlib.sha256()
    with open(src, "rb") as fin, open(tmp, "xb") as fout:
        shutil.copyfileobj(fin, fout, 1 << 20)
        fout.flush()
        os.fsync(fout.fileno())
    with open(tmp, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    if h.hexdigest() != sha256:
        os.unlink(tmp)
        raise OutputAccessError(f"copy of {src} to {dest_dir} does not match the original; left it in place")
    try:
        for n in range(1000):
            dst = _free_name(dest_dir, src.name, n)
            try:
                os.link(tmp, dst)
                break
            except FileExistsError:
                continue
        else:
            raise OutputAccessError(f"cannot find a free name for {src.name} in {dest_dir}")
    finally:
        os.unlink(tmp)
    _fsync_dir(dest_dir)
    os.unlink(src)
    return dst


# ------------------------------------------------------------------------------- the watcher


@dataclass
class _Track:
    sig: Sig
    since: float  # monotonic time this signature was first seen
    sha: str | None = None  # content hash for this signature (cached)


@dataclass(frozen=True)
class _Job:
    path: str
    sig: Sig
    sha: str


class Watcher:
    """Runs in one process: rescans, claims, hands photos to worker processes, stores results."""

    def __init__(self, cfg: WatchConfig, store: Store, *,
                 on_result: Callable[[api.ScanItem], None] | None = None,
                 pool_factory: Callable[[], ProcessPoolExecutor] | None = None) -> None:
        self.cfg = cfg
        self.store = store
        self.on_result = on_result
        self.stats = WatchStats()
        self.owner = worker_id()
        self._pool_factory = pool_factory or (lambda: api.new_pool(cfg.options) if not cfg.options.cluster
                                              else _cluster_pool(cfg.options))
        self._pool: ProcessPoolExecutor | None = None
        self._tracks: dict[str, _Track] = {}
        self._settled: dict[str, Sig] = {}  # path -> signature already handled (done/failed/duplicate)
        self._retry_at: dict[str, tuple[Sig, float]] = {}  # incomplete file: retry when changed or at t
        self._warned: set[str] = set()
        self._ready: deque[_Job] = deque()
        self._flight: dict[Future[CardOutcome], _Job] = {}
        self._unstored: deque[tuple[_Job, CardOutcome]] = deque()  # read, not yet stored (database busy)
        self._busy_delay = 0.0  # the current back-off while the database is busy (0: not busy)
        self._crashes: dict[str, int] = {}
        self._pool_failures = 0
        self._dirty = False
        self._last_report = time.monotonic()
        self._last_renew = time.monotonic()
        self._last_reclaim = 0.0
        self._stop = threading.Event()

    # -- public

    def stop(self) -> None:
        self._stop.set()

    @property
    def window(self) -> int:
        return getattr(self._pool, "window", None) or max(1, self.cfg.options.workers) * 2  # cluster: its own

    def run(self) -> WatchStats:
        """Until stop() (or, with `once`, until everything present is read). Ctrl-C propagates
        after the in-flight photos' claims are given back and the report is refreshed."""
        # A watcher killed (kill -9) after a commit but before its after-batch work left that
        # contact without its follow-up draft and the report without it: do that work now.
        self._dirty = True
        next_scan = 0.0
        started = False
        try:
            while not self._stop.is_set():
                try:
                    if not started:
                        if self.cfg.options.event and self.cfg.options.event_date:
                            self.store.set_event_date(self.cfg.options.event, self.cfg.options.event_date)
                        reclaim_dead_claims(self.store)
                        started = True
                    self._store_unstored()
                    now = time.monotonic()
                    if now >= next_scan:
                        next_scan = now + self.cfg.poll
                        self.rescan(now)
                    self._dispatch()
                    self._renew_leases()
                    if self._flight:
                        done, _ = wait(list(self._flight), return_when=FIRST_COMPLETED,
                                       timeout=max(0.01, min(self.cfg.poll, next_scan - time.monotonic())))
                        for f in done:
                            self._finish(f)
                    else:
                        if self.cfg.once and not self._ready and not self._waiting():
                            break
                        self._stop.wait(max(0.01, min(self.cfg.poll, next_scan - time.monotonic())))
                    self._maybe_report()
                except DatabaseBusyError as e:
                    self._back_off(e)
                    continue
                if self._busy_delay:
                    self._busy_delay = 0.0
                    log.info("database writable again; going on")
        finally:
            self._shutdown()
        return self.stats

    def _back_off(self, e: DatabaseBusyError) -> None:
        """Another program holds the write lock longer than the busy timeout: nothing was written;
        wait (1 s, 2 s, ... 30 s) and try again. Said once per busy spell, not on every retry."""
        first = not self._busy_delay
        self._busy_delay = BUSY_BACKOFF[0] if first else min(self._busy_delay * 2, BUSY_BACKOFF[1])
        (log.warning if first else log.info)(
            "database busy; retrying in %g s (%s; the folder is still watched)", self._busy_delay, e.message)
        self._stop.wait(self._busy_delay)

    # -- rescans

    def _waiting(self) -> bool:
        """Files seen but not yet settled (still changing, or waiting for give_up)."""
        return any(p not in self._settled for p in self._tracks)

    def rescan(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self.stats.rescans += 1
        present: set[str] = set()
        ready: list[_Job] = []
        queued = {j.path for j in self._busy_jobs()}
        for f in files.discover([self.cfg.folder]):
            key = str(f.path)
            if isinstance(f, files.Skipped):
                if key not in self._warned:
                    self._warned.add(key)
                    self.stats.skipped += 1
                    log.warning("%s: skipped: %s", f.path, f.reason)
                continue
            present.add(key)
            try:
                st = os.lstat(f.path)
            except OSError:
                continue  # gone since the walk
            if not stat.S_ISREG(st.st_mode):
                continue
            sig = file_sig(st)
            if self._settled.get(key) == sig or key in queued:
                continue
            self._settled.pop(key, None)
            tr = self._tracks.get(key)
            if tr is None or tr.sig != sig:
                self._tracks[key] = _Track(sig, now)
                continue  # changed (or new): wait until it has been still for `settle`
            if now - tr.since < self.cfg.settle:
                continue
            retry = self._retry_at.get(key)
            if retry is not None and retry[0] == sig and now < retry[1]:
                continue
            job = self._prepare(key, tr, now, {j.sha for j in ready})
            if job is not None:
                ready.append(job)
        for gone in set(self._tracks) - present:
            self._tracks.pop(gone, None)
            self._settled.pop(gone, None)
            self._retry_at.pop(gone, None)
        self._ready = deque(ready)

    def _prepare(self, key: str, tr: _Track, now: float, ready_shas: set[str]) -> _Job | None:
        """Hash (cached), skip what the store already has, else a job to claim."""
        if tr.sha is None:
            try:
                data = files.read_regular_file(Path(key))
            except InputImageError as e:
                if str(e).startswith("empty file") and now - tr.since < self.cfg.give_up:
                    return None  # created, not written yet
                self._fail(None, key, tr.sig, str(e))
                return None
            tr.sha = hashlib.sha256(data).hexdigest()
            self.stats.hashed += 1
            del data
        sha = tr.sha
        if sha in ready_shas or any(j.sha == sha for j in self._busy_jobs()):
            return None  # same bytes under another name, being read now: settled after it
        row = self.store.photo_state(sha)
        if row is not None and row[0] in ("done", "failed"):
            self._settled[key] = tr.sig
            if row[0] == "done":
                self.stats.duplicates += 1
                log.info("%s: already read (same photo as one in the database)", key)
                self._move(key, sha)
            else:
                log.info("%s: failed before (%s); not retried", key, row[1])
            return None
        return _Job(key, tr.sig, sha)

    def _busy_jobs(self) -> list[_Job]:
        """Photos this watcher holds: being read, or read and waiting for the database."""
        return list(self._flight.values()) + [j for j, _ in self._unstored]

    # -- claims and workers

    def _pool_ok(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = self._pool_factory()
        return self._pool

    def _dispatch(self) -> None:
        while self._ready and len(self._flight) < self.window and not self._stop.is_set():
            job = self._ready.popleft()
            try:
                claimed = self.store.claim(job.sha, job.path, self.owner, self.cfg.lease)
            except DatabaseBusyError:
                self._ready.appendleft(job)
                raise
            if not claimed:
                if self.store.has_done(job.sha):
                    continue  # another watcher finished it; the next rescan settles the path
                if time.monotonic() - self._last_reclaim > 2.0:
                    self._last_reclaim = time.monotonic()
                    if reclaim_dead_claims(self.store) and self.store.claim(job.sha, job.path, self.owner,
                                                                             self.cfg.lease):
                        self._submit(job)
                continue  # another live watcher has it
            self._submit(job)

    def _submit(self, job: _Job) -> None:
        try:
            fut = self._pool_ok().submit(api._worker_run, job.path)
        except BaseException as e:  # workers could not start (or Ctrl-C meanwhile): the claim goes back
            self.store.release(job.sha, self.owner)
            self._drop_pool()
            if not isinstance(e, Exception) or self._stop.is_set():
                raise
            self._pool_failures += 1
            if self._pool_failures >= MAX_POOL_FAILURES:
                raise OcrFailedError(f"the OCR worker processes cannot start: {type(e).__name__}: {e}") from e
            log.warning("worker processes could not start (%s: %s); trying again", type(e).__name__, e)
            return
        self._pool_failures = 0
        self._flight[fut] = job

    def _drop_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def _renew_leases(self) -> None:
        now = time.monotonic()
        if not self._flight and not self._unstored:
            self._last_renew = now
            return
        if now - self._last_renew < self.cfg.lease / 3:
            return
        self._last_renew = now
        for job in self._busy_jobs():
            if not self.store.claim(job.sha, job.path, self.owner, self.cfg.lease):
                log.warning("%s: lost the claim on this photo (lease expired?)", job.path)

    def _finish(self, fut: Future[CardOutcome]) -> None:
        job = self._flight.pop(fut)
        try:
            out = fut.result()
        except BrokenProcessPool:
            self._worker_crashed(job)
            return
        except ClusterError:  # the Dask scheduler was lost: stop; the claims go back
            self.store.release(job.sha, self.owner)
            raise
        except Exception as e:  # noqa: BLE001 - a bug in a stage must not stop the watcher
            log.exception("%s: unexpected error", job.path)
            self._fail(job.sha, job.path, job.sig, f"internal error: {type(e).__name__}: {e}")
            return
        try:
            self._record(job, out)
        except DatabaseBusyError:  # kept (and its claim renewed) until the database takes it
            self._unstored.append((job, out))
            log.info("%s: read; kept until the database is free", job.path)
            raise

    def _store_unstored(self) -> None:
        """Store the photos read while the database was busy, oldest first."""
        while self._unstored:
            job, out = self._unstored[0]
            self._record(job, out)
            self._unstored.popleft()

    def _record(self, job: _Job, out: CardOutcome) -> None:
        """One photo's outcome into the store. Safe to repeat after a DatabaseBusyError: each write
        is one transaction, and storing a photo already done returns its contacts."""
        if out.sha256 != job.sha:  # the file changed between hashing and reading: look again
            self.store.release(job.sha, self.owner)
            self._tracks.pop(job.path, None)
            return
        if out.error and out.error.startswith(_INCOMPLETE):
            tr = self._tracks.get(job.path)
            since = tr.since if tr is not None and tr.sig == job.sig else time.monotonic()
            deadline = since + self.cfg.give_up
            if time.monotonic() < deadline:
                self.store.release(job.sha, self.owner)
                self._retry_at[job.path] = (job.sig, deadline)
                log.info("%s: incomplete so far (%s); waiting for the rest", job.path, out.error)
                return
            out = replace(out, error=f"{out.error} (unchanged for {self.cfg.give_up:g} s without becoming complete)")
        items = api.store_outcome(self.store, out, self.cfg.options)
        # the partial versions seen while the file was being written are not photos to read
        forget_partial_versions(self.store, [job.path, api.stored_path(job.path)], job.sha)
        self._settled[job.path] = job.sig
        self._retry_at.pop(job.path, None)
        self._dirty = True
        if items[0].error:
            self.stats.failed += 1
            self._report_failure(items[0])
            return
        self.stats.done += 1
        self.stats.needs_review += sum(i.needs_review for i in items)
        self._move(job.path, job.sha)
        if self.on_result:
            for item in items:
                self.on_result(item)

    def _worker_crashed(self, job: _Job) -> None:
        """A worker died (segfault, out of memory): every photo in flight is suspect; start anew."""
        n = self._crashes[job.sha] = self._crashes.get(job.sha, 0) + 1
        self._drop_pool()
        if n >= MAX_WORKER_CRASHES:
            self._fail(job.sha, job.path, job.sig, "the OCR worker crashed on this photo (twice)")
        else:
            log.warning("%s: a worker process died while reading it; trying again", job.path)
            self.store.release(job.sha, self.owner)

    def _fail(self, sha: str | None, path: str, sig: Sig, reason: str) -> None:
        self.store.record_failure(sha, path, reason)
        self._settled[path] = sig
        self.stats.failed += 1
        self._dirty = True
        self._report_failure(api.ScanItem(path, sha, error=reason, exit_code=2))

    def _report_failure(self, item: api.ScanItem) -> None:
        if self.on_result is not None:
            self.on_result(item)  # the caller shows it
        else:
            log.warning("%s: failed: %s", item.path, item.error)

    def _move(self, path: str, sha: str) -> None:
        if self.cfg.move_done is None:
            return
        try:
            dst = move_original(Path(path), Path(self.cfg.move_done), sha)
        except (OSError, CardscanError) as e:
            log.warning("%s: read, but could not be moved to %s: %s", path, self.cfg.move_done, e)
            return
        self._tracks.pop(path, None)
        self._settled.pop(path, None)
        log.info("%s: moved to %s", path, dst)

    # -- report and shutdown

    def _maybe_report(self, force: bool = False) -> None:
        """After a burst of arrivals: --auto-merge, follow-up drafts, then the report."""
        if not self._dirty:
            return
        idle = not self._flight and not self._ready and not self._unstored
        if not (force or idle or time.monotonic() - self._last_report >= self.cfg.report_every):
            return
        try:
            api.after_batch(self.store, self.cfg.options, self.cfg.config)
        except DatabaseBusyError:
            raise  # still dirty: retried after the back-off
        except CardscanError as e:
            log.error("after the batch: %s", e)
        if self.cfg.report is None:
            self._dirty = False
            self._last_report = time.monotonic()
            return
        from cardscan.outputs import report as report_mod
        try:
            report_mod.write_report(self.store, self.cfg.report, event=self.cfg.options.event,
                                    policy=self.cfg.options.review)
        except CardscanError as e:
            log.error("report not written: %s", e)
        self._dirty = False
        self._last_report = time.monotonic()

    def _shutdown(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            procs = list((getattr(pool, "_processes", None) or {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for p in procs:  # the photos in flight are given back below; do not wait for them
                try:
                    p.terminate()
                except Exception:  # noqa: BLE001
                    pass
            for p in procs:
                p.join(timeout=5)
        try:
            self._store_unstored()
        except DatabaseBusyError as e:
            log.warning("%d photo(s) read but not stored (%s); they are read again next time",
                        len(self._unstored), e.message)
        for job in self._busy_jobs():
            try:
                self.store.release(job.sha, self.owner)
            except CardscanError as e:
                log.warning("%s: claim not given back (%s); it expires after its lease", job.path, e)
        self._flight.clear()
        self._unstored.clear()
        try:
            self._maybe_report(force=True)
        except DatabaseBusyError as e:
            log.warning("follow-up drafts and report not brought up to date (%s); the next start does it", e.message)


def _cluster_pool(options: Options):  # noqa: ANN202 - imported only for --cluster (it loads Dask)
    from cardscan.cluster import ClusterPool

    return ClusterPool(options)


def watch(cfg: WatchConfig, *, on_result: Callable[[api.ScanItem], None] | None = None,
          stop: threading.Event | None = None) -> WatchStats:
    """Check the set-up, open the store and run a watcher until stopped (or Ctrl-C)."""
    check_config(cfg)
    api.check_ready(cfg.options)  # fail fast (exit 3) when Tesseract or its language data is missing
    with Store(cfg.options.db, timeout=cfg.options.busy_timeout) as store:
        w = Watcher(cfg, store, on_result=on_result)
        if stop is not None:
            threading.Thread(target=lambda: (stop.wait(), w.stop()), daemon=True).start()
        if threading.current_thread() is not threading.main_thread():
            return w.run()
        # Ctrl-C / SIGTERM end the loop between two steps (never inside a database write); the
        # claims in flight are given back, then KeyboardInterrupt tells the caller (exit 130).
        signals: list[int] = []

        def on_signal(signum: int, frame: object) -> None:
            if signals:  # a second Ctrl-C: stop now
                raise KeyboardInterrupt
            signals.append(signum)
            w.stop()

        old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            stats = w.run()
        finally:
            for s, h in old.items():
                signal.signal(s, h)
        if signals:
            raise Terminated() if signals[0] == signal.SIGTERM else KeyboardInterrupt()
        return stats
