"""Speed benchmark: cardscan's batch pipeline against the common tutorial baseline, same photos.

    cardscan bench --speed DIR [DIR...]

(a) the baseline every OCR tutorial shows: one process, for each photo ``PIL.Image.open``, EXIF
    transpose, ``pytesseract.image_to_string(image)`` with default settings and no resizing;
(b) cardscan: ``api.scan`` into a temporary database, all worker processes.

Each runs in a fresh child process (``python -m cardscan.bench.speed``), in the same order each time:
baseline first, then cardscan, after one untimed read of every file (so both find them in the page
cache). For each: photos per second, and peak memory two ways: ``getrusage`` max RSS of the run's
main process and of its largest reaped descendant, and the sampled peak of the whole process
tree's resident memory (all workers together).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

from cardscan.reading import files
from cardscan.errors import BadArgumentsError, CardscanError
from cardscan.options import Options

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunStats:
    label: str
    photos: int
    seconds: float
    failures: int  # photos the run could not read (baseline: exceptions; cardscan: failed photos)
    maxrss_self_kib: int  # getrusage(RUSAGE_SELF).ru_maxrss of the run's process
    maxrss_children_kib: int  # getrusage(RUSAGE_CHILDREN).ru_maxrss: largest reaped descendant
    tree_peak_kib: int = 0  # sampled peak of the sum of RSS over the run's process tree
    cards: int | None = None  # cards read (several per photo when a photo shows several); baseline: None
    cpu_seconds: float = 0.0  # user+system CPU of the run's process and all its reaped descendants

    @property
    def cpu_per_photo(self) -> float:
        return self.cpu_seconds / self.photos if self.photos else 0.0

    @property
    def per_second(self) -> float:
        return self.photos / self.seconds if self.seconds > 0 else 0.0

    @property
    def cards_per_second(self) -> float | None:
        return None if self.cards is None or self.seconds <= 0 else self.cards / self.seconds


@dataclass(frozen=True)
class ClusterStats:
    """`--cluster`: the same scan with the photos read on a Dask cluster, and the single writer alone."""

    workers: int  # worker threads of the cluster
    start_seconds: float  # starting the LocalCluster (local:N) or connecting: not in run.seconds
    run: RunStats
    writer_contacts: int  # contacts committed back to back from the cluster's outcomes
    writer_seconds: float

    @property
    def writer_per_second(self) -> float:
        return self.writer_contacts / self.writer_seconds if self.writer_seconds > 0 else 0.0


@dataclass(frozen=True)
class SpeedResult:
    photos: int
    cores: int
    workers: int
    baseline: RunStats
    cardscan: RunStats
    cluster: ClusterStats | None = None

    @property
    def ratio(self) -> float:
        return self.cardscan.per_second / self.baseline.per_second if self.baseline.per_second else 0.0

    def render(self) -> str:
        def mb(kib: int) -> str:
            return f"{kib / 1024:.0f} MB"

        lines = [f"{self.photos} photos, {self.cores} cores, cardscan with {self.workers} worker processes; "
                 f"baseline run first, then cardscan"]
        width = max(len(self.baseline.label), len(self.cardscan.label))
        for r in (self.baseline, self.cardscan):
            cards = "" if r.cards_per_second is None else f", {r.cards_per_second:.2f} cards/s"
            lines.append(f"  {r.label:<{width}}  {r.per_second:6.2f} photos/s{cards}  ({r.seconds:.1f} s, {r.failures} failed)  "
                         f"peak memory: process tree {mb(r.tree_peak_kib)}, main process {mb(r.maxrss_self_kib)}, "
                         f"largest child {mb(r.maxrss_children_kib)}")
            lines.append(f"  {'':<{width}}  CPU {r.cpu_seconds:.1f} s, {r.cpu_per_photo:.2f} s per photo (all processes)")
        lines.append(f"  cardscan / baseline: {self.ratio:.2f}x the photos per second")
        c = self.cluster
        if c is not None:
            r = c.run
            lines.append(f"  {r.label}: {r.per_second:.2f} photos/s ({r.seconds:.1f} s, {r.failures} failed; "
                         f"{c.start_seconds:.1f} s to start the cluster, not counted)  peak memory: process tree "
                         f"{mb(r.tree_peak_kib)}, main process {mb(r.maxrss_self_kib)}")
            over = (r.seconds - self.cardscan.seconds) / self.photos
            with_start = (r.seconds + c.start_seconds - self.cardscan.seconds) / self.photos
            lines.append(f"  cluster overhead: {over * 1000:+.0f} ms per photo (cluster run minus local pool run, "
                         f"same photos; {c.workers} cluster workers, {self.workers} local workers; the pool's time "
                         f"includes starting its workers), {with_start * 1000:+.0f} ms with the cluster's start-up")
            per_worker = (r.cards or 0) / r.seconds / max(1, c.workers) if r.seconds > 0 else 0.0
            lines.append(f"  single writer: {c.writer_per_second:.0f} contacts committed/s ({c.writer_contacts} "
                         f"contacts from the cluster's outcomes, committed back to back in {c.writer_seconds:.2f} s)")
            if per_worker > 0:
                lines.append(f"  one database keeps up with about {c.writer_per_second / per_worker:.0f} workers "
                             f"reading {per_worker:.2f} cards/s each, as measured here")
        return "\n".join(lines)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["ratio"] = self.ratio
        d["baseline"]["per_second"] = self.baseline.per_second
        d["cardscan"]["per_second"] = self.cardscan.per_second
        d["cardscan"]["cards_per_second"] = self.cardscan.cards_per_second
        if self.cluster is not None:
            d["cluster"]["run"]["per_second"] = self.cluster.run.per_second
            d["cluster"]["writer_per_second"] = self.cluster.writer_per_second
            d["cluster"]["overhead_per_photo_s"] = (self.cluster.run.seconds - self.cardscan.seconds) / self.photos
        return d


# ----------------------------------------------------------------------------- process-tree memory


def tree_rss_kib(root: int) -> int:
    """Resident memory (KiB) of a process and all its descendants, from /proc; 0 elsewhere."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return 0
    for d in entries:
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as fh:
                ppid = int(fh.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d))
    total, todo, seen = 0, [root], set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        todo.extend(children.get(pid, ()))
        try:
            with open(f"/proc/{pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


class PeakTreeRss:
    """Samples tree_rss_kib(pid) in a thread every `every` seconds; `stop()` returns the peak (KiB)."""

    def __init__(self, pid: int, every: float = 0.05) -> None:
        self.pid, self.every, self.peak = pid, every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss_kib(self.pid))
            self._stop.wait(self.every)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


# ----------------------------------------------------------------------------- the two runs


def collect_photos(dirs: Sequence[Path | str]) -> list[Path]:
    """Photo files under the given folders (or files), in a stable order; missing ones are skipped."""
    out: list[Path] = []
    for d in dirs:
        if not Path(d).exists():
            log.warning("%s: not found; skipped", d)
            continue
        for f in files.discover([d]):
            if isinstance(f, files.Found):
                out.append(f.path)
    return out


def _rusage() -> tuple[int, int]:
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)


def run_baseline(photos: Sequence[Path], lang: str = "eng") -> tuple[int, int]:
    """The tutorial loop. Returns (photos read, failures)."""
    import pytesseract
    from PIL import Image, ImageOps

    failures = 0
    for p in photos:
        try:
            with Image.open(p) as im:
                img = ImageOps.exif_transpose(im)
                pytesseract.image_to_string(img) if lang == "eng" else pytesseract.image_to_string(img, lang=lang)
        except Exception as e:  # noqa: BLE001 - the tutorial loop has no error handling; count it
            failures += 1
            log.info("baseline: %s: %s", p, e)
    return len(photos), failures


def run_cardscan(photos: Sequence[Path], options: Options) -> tuple[int, int, int]:
    """api.scan into a temporary database with all workers. Returns (photos, cards read, failed photos)."""
    from cardscan import api
    with tempfile.TemporaryDirectory(prefix="cardscan-speed-") as tmp:
        result = api.scan([str(p) for p in photos],
                          options=options.with_(db=Path(tmp) / "speed.db", report=None, jsonl=None))
    _stop_forkserver()  # its reaped workers then count in RUSAGE_CHILDREN
    cards = sum(1 for i in result.items if i.contact_id is not None and not i.error)
    return len(photos), cards, len({i.path for i in result.failures})


def _stop_forkserver() -> None:
    try:
        from multiprocessing import forkserver

        stop = getattr(forkserver._forkserver, "_stop", None)  # noqa: SLF001 - no public way
        if stop is not None:
            stop()
    except Exception:  # noqa: BLE001 - only the memory figure depends on it
        pass


def _part(kind: str, photos: list[Path], options: Options) -> RunStats:
    """One timed run in a fresh child process, its memory sampled from here."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump({"kind": kind, "photos": [str(p) for p in photos], "lang": options.lang, "jobs": options.jobs,
                   "engine": options.engine, "region": options.region,
                   "reader": options.reader, "runtime": options.runtime, "cluster": options.cluster}, fh)
        spec = fh.name
    env = dict(os.environ)
    if kind == "baseline":
        env.pop("OMP_THREAD_LIMIT", None)  # the tutorial runs Tesseract with its default threads
    try:
        proc = subprocess.Popen([sys.executable, "-m", "cardscan.bench.speed", spec], stdout=subprocess.PIPE,
                                env=env, text=True)
        sampler = PeakTreeRss(proc.pid)
        out, _ = proc.communicate()
        peak = sampler.stop()
    finally:
        os.unlink(spec)
    if proc.returncode != 0:
        raise CardscanError(f"the {kind} speed run failed (exit {proc.returncode})")
    d = json.loads(out.strip().splitlines()[-1])
    extra = d.pop("cluster", None)
    stats = RunStats(tree_peak_kib=peak, **d)
    return stats if extra is None else ClusterStats(run=stats, **extra)  # type: ignore[return-value]


def _warm(photos: Sequence[Path]) -> None:
    for p in photos:
        try:
            with open(p, "rb") as fh:
                while fh.read(1 << 20):
                    pass
        except OSError:
            pass


def run_speed(dirs: Sequence[Path | str], options: Options = Options()) -> SpeedResult:
    photos = collect_photos(dirs)
    if not photos:
        raise BadArgumentsError("no photos found for the speed benchmark", hint="give folders that hold card photos")
    _warm(photos)
    baseline = _part("baseline", photos, options)
    cardscan = _part("cardscan", photos, options.with_(cluster=None, shared_paths=False))
    cluster = _part("cluster", photos, options) if options.cluster else None
    return SpeedResult(photos=len(photos), cores=os.cpu_count() or 1, workers=options.workers,
                       baseline=baseline, cardscan=cardscan, cluster=cluster)  # type: ignore[arg-type]


def run_cluster(photos: Sequence[Path], options: Options) -> dict:
    """The scan through the cluster (timed after the cluster is up), then the single writer alone:
    the cluster's outcomes read again and committed back to back into a fresh database."""
    import contextlib
    import hashlib
    from dataclasses import replace

    from cardscan import api, cluster
    from cardscan.store import Store

    t0 = time.perf_counter()
    with contextlib.ExitStack() as stack:
        spec = options.cluster or ""
        if spec.startswith("local:"):
            local = stack.enter_context(cluster.start_local(int(spec.split(":", 1)[1])))
            spec = local.scheduler_address
        opts = options.with_(cluster=spec, report=None, jsonl=None, followup_drafts=False)
        client = stack.enter_context(cluster.connect(spec))
        workers = sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values())
        list(cluster.iter_outcomes([str(photos[0])], opts, client=client))  # every worker's reader loaded
        start = time.perf_counter() - t0
        with tempfile.TemporaryDirectory(prefix="cardscan-speed-") as tmp:
            t1 = time.perf_counter()
            result = api.scan([str(p) for p in photos], options=opts.with_(db=Path(tmp) / "cluster.db"))
            seconds = time.perf_counter() - t1
            outs = list(cluster.iter_outcomes([str(p) for p in photos], opts, client=client))
            contacts = 0
            with Store(Path(tmp) / "writer.db") as store:
                rounds = max(1, -(-200 // max(1, len(outs))))  # at least ~200 commits
                t2 = time.perf_counter()
                for k in range(rounds):
                    for out in outs:
                        if out.sha256 and k:  # the same results again as new photos
                            out = replace(out, sha256=hashlib.sha256(f"{out.sha256}{k}".encode()).hexdigest())
                        contacts += sum(1 for i in api.store_outcome(store, out, opts) if i.contact_id is not None)
                writer = time.perf_counter() - t2
    cards = sum(1 for i in result.items if i.contact_id is not None and not i.error)
    return {"seconds": seconds, "photos": len(photos), "cards": cards,
            "failures": len({i.path for i in result.failures}),
            "label": f"cardscan scan --cluster {options.cluster} ({workers} workers)",
            "cluster": {"workers": workers, "start_seconds": start, "writer_contacts": contacts,
                        "writer_seconds": writer}}


def _child(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    photos = [Path(p) for p in spec["photos"]]
    t0 = time.perf_counter()
    if spec["kind"] == "cluster":
        options = Options(lang=spec["lang"], jobs=spec["jobs"], engine=spec["engine"], region=spec["region"],
                          cluster=spec["cluster"])
        d = run_cluster(photos, options)
        rself, rchild = _rusage()
        print(json.dumps({**d, "maxrss_self_kib": rself, "maxrss_children_kib": rchild}))
        return 0
    if spec["kind"] == "baseline":
        label = "baseline (1 process, pytesseract.image_to_string)"
        n, failures = run_baseline(photos, spec["lang"])
        cards = None
    else:
        options = Options(lang=spec["lang"], jobs=spec["jobs"], engine=spec["engine"], region=spec["region"],
                          reader=spec.get("reader", Options.reader), runtime=spec.get("runtime", Options.runtime))
        from cardscan.reading.ocr import sessions

        label = f"cardscan scan ({options.workers} workers, --reader {options.reader}, {sessions.describe(options.runtime)})"
        n, cards, failures = run_cardscan(photos, options)
    seconds = time.perf_counter() - t0
    rself, rchild = _rusage()
    cpu = sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                 resource.getrusage(resource.RUSAGE_CHILDREN)))
    print(json.dumps({"label": label, "photos": n, "cards": cards, "seconds": seconds, "failures": failures,
                      "maxrss_self_kib": rself, "maxrss_children_kib": rchild, "cpu_seconds": round(cpu, 2)}))
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="cardscan: %(message)s")
    ap = argparse.ArgumentParser(description="internal: one timed part of `cardscan bench --speed`")
    ap.add_argument("spec")
    raise SystemExit(_child(ap.parse_args().spec))
