"""Scanning on a Dask cluster: the same per-photo work, on other machines' cores.

    dask scheduler                                                  # one machine
    dask worker tcp://HOST:8786 --nthreads 1 --nworkers 4 --preload cardscan.cluster   # each worker machine
    cardscan scan photos/ --cluster tcp://HOST:8786                 # the machine that holds the database

Two halves live here:

* worker side: ``dask_setup`` (run by ``--preload cardscan.cluster``) imports the pipeline once per
  worker process; ``ReaderPlugin`` (registered by the client, so it also reaches workers started or
  restarted later) loads one OCR reader per worker and keeps it; ``read_photo`` is the task: the
  pipeline's pure function, bytes (or a path every worker can read) in, a ``CardOutcome`` out.
* client side: ``iter_outcomes`` sends the photos with a bounded number in flight (a few per worker
  thread: a run of 100,000 photos never holds them all, on the client or on the scheduler) and
  yields the outcomes as they finish (``as_completed``). The caller (``api.scan``, the watcher)
  commits them: the process that holds the database stays its single writer.

Faults: a worker that dies mid-photo makes Dask run the photo again on another worker; a photo
that kills workers repeatedly (``distributed.scheduler.allowed-failures`` times, 2 on a
``local:N`` cluster) comes back as that photo's failure with the reason, and the run goes on;
losing the scheduler stops the run with ``ClusterError`` (what was committed stays; the same
command again continues, photos already stored are skipped by hash before they are sent).
"""
from __future__ import annotations

import contextlib
from collections import deque
import logging
import os
import re
import threading
import uuid
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from cardscan.errors import CardscanError, ClusterError, ExitCode, MissingDependencyError
from cardscan.options import Options, check_cluster_address
from cardscan.reading import files, pipeline
from cardscan.reading.pipeline import CardOutcome

if TYPE_CHECKING:  # pragma: no cover
    from distributed import Client

log = logging.getLogger(__name__)

PER_THREAD = 2  # photos in flight per worker thread: one being read, one waiting (back-pressure)
LOCAL_ALLOWED_FAILURES = 2  # a photo that kills this many workers of a local:N cluster fails alone
PLUGIN_NAME = "cardscan-reader"
_LOCAL_RE = re.compile(r"^local:(\d+)$")


# ---------------------------------------------------------------- worker side
# One reader per worker thread that needs one (workers started with --nthreads 1: one per worker),
# loaded once and reused for every photo the worker reads.
_readers_lock = threading.Lock()
_free_readers: dict[Options, list[Any]] = {}


def _reader_options(options: Options) -> Options:
    """The options a reader depends on (the run's database or report do not change it)."""
    return options.with_(db=Path("cardscan.db"), report=None, jsonl=None, event=None, event_date=None, note=None,
                         cluster=None, shared_paths=False)


def _acquire(options: Options) -> Any:
    key = _reader_options(options)
    with _readers_lock:
        free = _free_readers.get(key)
        if free:
            return free.pop()
    from cardscan import api  # the engine loader (and its test hook) shared with the local pool

    return api.load_engine(options)


MAX_READER_KINDS = 3  # readers kept for this many option sets (runs with other languages, say)


def _release(options: Options, engine: Any) -> None:
    old: list[Any] = []
    with _readers_lock:
        _free_readers.setdefault(_reader_options(options), []).append(engine)
        while len(_free_readers) > MAX_READER_KINDS:  # the oldest kind goes: a long-lived worker stays small
            old += _free_readers.pop(next(iter(_free_readers)))
    for e in old:
        with contextlib.suppress(Exception):
            e.close()


def _setup_process() -> None:
    """What a local pool worker does at start: one thread each for Tesseract and OpenCV (the
    worker processes are the parallelism), the pipeline's imports paid once."""
    os.environ["OMP_THREAD_LIMIT"] = "1"
    import cv2

    cv2.setNumThreads(1)


def dask_setup(worker: Any) -> None:  # noqa: ARG001 - called by `dask worker --preload cardscan.cluster`
    """Preload: set the worker process up and import the pipeline before the first photo."""
    _setup_process()


def read_photo(path: str, data: bytes | None, options: Options) -> CardOutcome:
    """The task: one photo through the pipeline with this worker's reader. `data` None: read `path`
    (--shared-paths, a path every worker can read)."""
    engine = _acquire(options)
    try:
        if data is None:
            return pipeline.process_path(path, engine, options)
        return pipeline.process_data(path, data, engine, options)
    finally:
        _release(options, engine)


def _reader_status(options: Options) -> str:
    """Run on every worker before the first photo: loads its reader (the plugin may not have yet)."""
    _setup_process()
    _release(options, _acquire(options))
    return "ok"


try:
    from distributed.diagnostics.plugin import WorkerPlugin as _WorkerPlugin
except ImportError:  # pragma: no cover - the cluster extra is not installed
    _WorkerPlugin = object  # type: ignore[assignment,misc]


class ReaderPlugin(_WorkerPlugin):  # type: ignore[misc,valid-type]
    """Loads this run's reader on each worker as it joins (also workers restarted after a crash)."""

    name = PLUGIN_NAME

    def __init__(self, options: Options) -> None:
        self.options = options

    def setup(self, worker: Any) -> None:  # noqa: ARG002
        try:
            _reader_status(self.options)
        except Exception as e:  # noqa: BLE001 - reported by _check_workers and by the first photo
            log.error("cardscan reader could not be loaded on this worker: %s", e)


# ---------------------------------------------------------------- client side
def require_distributed():  # noqa: ANN202
    try:
        import distributed
    except ImportError:
        raise MissingDependencyError("--cluster needs Dask distributed, which is not installed",
                                     hint="pip install 'cardscan[cluster]'") from None
    return distributed


def start_local(workers: int, *, allowed_failures: int = LOCAL_ALLOWED_FAILURES,
                env: dict[str, str] | None = None):  # noqa: ANN201
    """A LocalCluster of `workers` processes (one thread each) on 127.0.0.1, no dashboard; close it.

    `env`: variables set in each worker process (also in one started again after a crash).
    """
    distributed = require_distributed()
    import dask

    # worker-saturation 1.0: a worker holds only the photo it reads, so a worker killed by one
    # photo counts against that photo alone, never against one merely queued behind it
    with dask.config.set({"distributed.scheduler.allowed-failures": allowed_failures,
                          "distributed.scheduler.worker-saturation": 1.0}):
        return distributed.LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=None, silence_logs=logging.ERROR, env=dict(env or {}),
            # no dashboard; the scheduler's small HTTP endpoint on a free port, not 8787
            scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"})


@contextlib.contextmanager
def connect(spec: str, *, timeout: float = 10.0) -> Iterator["Client"]:
    """A client for `local:N` (a LocalCluster of N worker processes on 127.0.0.1, stopped at the
    end) or for the scheduler at an address."""
    distributed = require_distributed()
    m = _LOCAL_RE.match(check_cluster_address(spec))
    with contextlib.ExitStack() as stack:
        if m:
            try:
                cluster = stack.enter_context(start_local(int(m.group(1))))
            except RuntimeError as e:
                raise ClusterError(f"could not start a local Dask cluster: {e}") from None
            client = stack.enter_context(distributed.Client(cluster))
        else:
            try:
                client = stack.enter_context(distributed.Client(spec, timeout=timeout))
            except (OSError, TimeoutError) as e:
                raise ClusterError(f"cannot reach the Dask scheduler at {spec}: {e}",
                                   hint="start it with: dask scheduler") from None
        yield client


def _check_workers(client: "Client", options: Options, spec: str, wait: float) -> int:
    """Worker threads ready to read (each worker's reader loaded), or a clear error."""
    try:
        client.wait_for_workers(1, timeout=wait)
    except (TimeoutError, OSError):
        raise ClusterError(f"no Dask worker joined the scheduler at {spec} within {wait:g} s",
                           hint="start workers with: dask worker ADDRESS --nthreads 1 --preload cardscan.cluster") from None
    try:
        client.run(_reader_status, options)
    except CardscanError as e:
        raise e.__class__(f"a cluster worker cannot read cards: {e}", hint=getattr(e, "hint", None)) from None
    except Exception as e:  # noqa: BLE001 - a worker-side import or environment problem, in one line
        raise ClusterError(f"a cluster worker cannot read cards: {type(e).__name__}: {e}",
                           hint="workers need cardscan and Tesseract installed, the same version as here") from None
    return sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values()) or 1


def _failed(path: str, reason: str, code: int = int(ExitCode.other_error)) -> CardOutcome:
    return CardOutcome(path=path, error=reason, exit_code=code)


def _collect(fut: Any, path: str, sha: str | None, spec: str) -> CardOutcome:
    """A finished future as an outcome; a lost scheduler stops the run."""
    from distributed import KilledWorker

    if fut.status == "cancelled":
        raise ClusterError(f"lost the Dask scheduler at {spec} mid-run; the photos finished so far are stored",
                           hint="run the same command again to continue (stored photos are skipped)")
    try:
        return fut.result()
    except KilledWorker as e:
        log.error("%s: stopped cluster workers repeatedly: %s", path, e)
        return CardOutcome(path=path, sha256=sha, error="the photo stopped cluster workers each time it was read "
                           "(killed worker); not read", exit_code=int(ExitCode.other_error))
    except Exception as e:  # noqa: BLE001 - the task raised (not a bad photo: those come back as outcomes)
        if fut.status == "cancelled" or type(e).__name__ in ("CancelledError", "FutureCancelledError"):
            raise ClusterError(f"lost the Dask scheduler at {spec} mid-run; the photos finished so far are stored",
                               hint="run the same command again to continue (stored photos are skipped)") from None
        log.error("%s: failed on a cluster worker: %s: %s", path, type(e).__name__, e)
        return CardOutcome(path=path, sha256=sha, error=f"failed on a cluster worker ({type(e).__name__}: {e})",
                           exit_code=int(ExitCode.other_error))


def iter_outcomes(paths: Sequence[str], options: Options, *, window: int | None = None,
                  client: "Client | None" = None, wait_for_workers: float = 60.0) -> Iterator[CardOutcome]:
    """Read photos on the cluster `options.cluster`; outcomes in the order of `paths` (as the local
    pool gives them), so contact numbers do not depend on where a photo was read.

    At most `window` photos (default: PER_THREAD per worker thread) are read from disk and in
    flight at once; each finished one is released before the next is sent.
    """
    spec = options.cluster or ""
    with contextlib.ExitStack() as stack:
        if client is None:
            client = stack.enter_context(connect(spec))
        require_distributed()
        client.register_plugin(ReaderPlugin(options), name=PLUGIN_NAME)
        threads = _check_workers(client, options, spec, wait_for_workers)
        window = window or max(2, PER_THREAD * threads)
        log.info("cluster %s: %d worker threads, at most %d photos in flight", spec, threads, window)
        # in input order: a finished outcome (a file that could not be read here) or a future
        queue: deque[tuple[CardOutcome | None, Any, str, str | None]] = deque()
        inflight = 0
        todo = iter(paths)
        try:
            while True:
                while inflight < window:
                    path = next(todo, None)
                    if path is None:
                        break
                    data: bytes | None = None
                    sha = None
                    if not options.shared_paths:
                        try:
                            data = files.read_regular_file(Path(path))
                        except CardscanError as e:
                            queue.append((_failed(path, str(e), int(e.exit_code)), None, path, None))
                            continue
                        sha = pipeline.sha256_bytes(data)
                    key = f"cardscan-photo-{uuid.uuid4().hex}"
                    fut = client.submit(read_photo, path, data, options, key=key, pure=False)
                    del data
                    queue.append((None, fut, path, sha))
                    inflight += 1
                if not queue:
                    break
                done, fut, path, sha = queue.popleft()
                if done is not None:
                    yield done
                    continue
                inflight -= 1
                out = _collect(fut, path, sha, spec)  # waits for the oldest; the others keep running
                fut.release()
                del fut
                yield out
        finally:
            live = [f for _, f, _, _ in queue if f is not None]
            if live:  # stopped early (Ctrl-C, an error): nothing of this run keeps running
                with contextlib.suppress(Exception):
                    client.cancel(live)
            queue.clear()


class ClusterPool:
    """The cluster behind the interface of the watcher's local pool (`submit(fn, path)` giving a
    `concurrent.futures.Future` of the photo's CardOutcome): the photo goes to the cluster as
    `read_photo`, whatever local worker function `fn` names. A photo that kills workers comes back
    as that photo's failed outcome; a lost scheduler as `ClusterError` on the future."""

    def __init__(self, options: Options, *, wait_for_workers: float = 60.0) -> None:
        self.options = options
        self.spec = options.cluster or ""
        self._stack = contextlib.ExitStack()
        try:
            self.client = self._stack.enter_context(connect(self.spec))
            self.client.register_plugin(ReaderPlugin(options), name=PLUGIN_NAME)
            self.window = max(2, PER_THREAD * _check_workers(self.client, options, self.spec, wait_for_workers))
        except BaseException:
            self._stack.close()
            raise
        self._futures: dict[str, Any] = {}

    def submit(self, fn: Any, path: str) -> Future:  # noqa: ARG002 - fn: the local pool's worker function
        done: Future = Future()
        data: bytes | None = None
        sha = None
        if not self.options.shared_paths:
            try:
                data = files.read_regular_file(Path(path))
            except CardscanError as e:
                done.set_result(_failed(path, str(e), int(e.exit_code)))
                return done
            sha = pipeline.sha256_bytes(data)
        key = f"cardscan-photo-{uuid.uuid4().hex}"
        fut = self.client.submit(read_photo, path, data, self.options, key=key, pure=False)
        self._futures[key] = fut

        def finished(f: Any) -> None:
            self._futures.pop(key, None)
            try:
                done.set_result(_collect(f, path, sha, self.spec))
            except BaseException as e:  # noqa: BLE001 - handed to the waiting caller
                done.set_exception(e)

        fut.add_done_callback(finished)
        return done

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:  # noqa: ARG002
        if cancel_futures and self._futures:
            with contextlib.suppress(Exception):
                self.client.cancel(list(self._futures.values()))
        self._futures.clear()
        self._stack.close()
