"""Scanning on a real Dask LocalCluster (2 worker processes on 127.0.0.1, dashboard off).

The logic tests run the real pipeline on tiny photos with the test OCR engine in the workers
(tests/cluster_fixtures.py: the fake card text; a black photo ends its worker process, for the
fault tests); the samples test reads with real Tesseract on both sides.
"""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from cardscan import api
from cardscan.errors import BadArgumentsError
from cardscan.options import Options
from tests.cluster_fixtures import DELAY_ENV, ENGINE, black_jpeg, tiny_jpeg

distributed = pytest.importorskip("distributed", reason="the cluster extra (make test installs it)")


@pytest.fixture(scope="module")
def dask_cluster():
    from cardscan.cluster import start_local

    cluster = start_local(2, env={api.TEST_ENGINE_ENV: ENGINE, DELAY_ENV: "0.01", "OMP_THREAD_LIMIT": "1"})
    try:
        yield cluster
    finally:
        cluster.close()


def _photos(folder: Path, n: int, start: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + n):
        (folder / f"p{i:05d}.jpg").write_bytes(tiny_jpeg(i))
    return folder


def _opts(db: Path, address: str, **kw: object) -> Options:
    return Options(db=db, cluster=address, followup_drafts=False, report=None, **kw)  # type: ignore[arg-type]


def _rows(db: Path, sql: str) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _assert_each_photo_once(db: Path, n: int) -> None:
    photos = _rows(db, "SELECT sha256 FROM photos")
    assert len(photos) == n and len({p for (p,) in photos}) == n
    per_photo = Counter(sha for (sha,) in _rows(db, "SELECT photo_sha256 FROM cards"))
    assert len(per_photo) == n and set(per_photo.values()) == {1}, per_photo.most_common(3)
    assert _rows(db, "SELECT COUNT(*) FROM contacts") == [(n,)]


def _worker_pids(address: str) -> dict[str, int]:
    with distributed.Client(address, timeout=10) as c:
        return c.run(os.getpid)


def test_cluster_option_is_checked():
    with pytest.raises(BadArgumentsError, match="local:N or a scheduler address"):
        Options(cluster="my laptop")
    with pytest.raises(BadArgumentsError, match="1 or more"):
        Options(cluster="local:0")
    with pytest.raises(BadArgumentsError, match="--shared-paths goes with --cluster"):
        Options(shared_paths=True)
    assert Options(cluster="tcp://10.0.0.5:8786").cluster == "tcp://10.0.0.5:8786"


def test_worker_killed_mid_run_every_photo_stored_once(dask_cluster, tmp_path):
    folder = _photos(tmp_path / "in", 40)
    address = dask_cluster.scheduler_address
    before = _worker_pids(address)
    killed: list[int] = []

    def kill_one_worker(item: api.ScanItem) -> None:  # at the first commit both workers are reading
        if not killed:
            pid = sorted(before.values())[0]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    db = tmp_path / "c.db"
    r = api.scan([folder], options=_opts(db, address), progress=kill_one_worker)
    assert killed
    assert not r.failures, [i.error for i in r.failures]
    assert r.photos == 40 and r.contacts == 40
    _assert_each_photo_once(db, 40)
    dask_cluster.wait_for_workers(2, timeout=60)
    after = _worker_pids(address)
    assert killed[0] not in after.values()  # the nanny started a new worker in its place


def test_rerun_after_stopping_half_way_stores_nothing_twice(dask_cluster, tmp_path):
    folder = _photos(tmp_path / "in", 16, start=100)
    db = tmp_path / "c.db"
    seen: list[api.ScanItem] = []

    def stop_half_way(item: api.ScanItem) -> None:
        seen.append(item)
        if len(seen) == 8:
            raise KeyboardInterrupt  # what Ctrl-C does in the middle of a run

    with pytest.raises(KeyboardInterrupt):
        api.scan([folder], options=_opts(db, dask_cluster.scheduler_address), progress=stop_half_way)
    stored = _rows(db, "SELECT COUNT(*) FROM photos WHERE sha256 IN (SELECT photo_sha256 FROM cards)")[0][0]
    assert 8 <= stored < 16
    r = api.scan([folder], options=_opts(db, dask_cluster.scheduler_address))
    assert not r.failures
    assert sum(1 for i in r.items if i.duplicate) == stored  # skipped by hash, never sent
    assert sum(1 for i in r.items if not i.duplicate) == 16 - stored
    _assert_each_photo_once(db, 16)


def test_photo_that_kills_workers_fails_alone(dask_cluster, tmp_path):
    folder = _photos(tmp_path / "in", 5, start=200)
    (folder / "zz-black.jpg").write_bytes(black_jpeg())
    db = tmp_path / "c.db"
    r = api.scan([folder], options=_opts(db, dask_cluster.scheduler_address))
    assert [Path(i.path).name for i in r.failures] == ["zz-black.jpg"]
    assert "stopped cluster workers" in (r.failures[0].error or "")
    assert r.contacts == 5
    assert _rows(db, "SELECT COUNT(*) FROM photos") == [(6,)]  # the failure is recorded, once
    dask_cluster.wait_for_workers(2, timeout=60)


def _rss_kib() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


@pytest.mark.slow
def test_client_memory_flat_over_2000_photos(dask_cluster, tmp_path):
    n = 2000
    folder = _photos(tmp_path / "in", n, start=1000)
    address = dask_cluster.scheduler_address
    rss: dict[int, int] = {}
    on_scheduler: list[int] = []
    client = distributed.Client(address, timeout=10)

    def sample(item: api.ScanItem) -> None:
        k = len(rss_seen) + 1
        rss_seen.append(k)
        if k in (300, 1000, n):
            rss[k] = _rss_kib()
        if k % 250 == 0:  # photos the scheduler holds: the window, never the whole run
            on_scheduler.append(client.run_on_scheduler(
                lambda dask_scheduler: sum(1 for key in dask_scheduler.tasks if str(key).startswith("cardscan-photo-"))))

    rss_seen: list[int] = []
    try:
        r = api.scan([folder], options=_opts(tmp_path / "c.db", address, keep_crops=False), progress=sample)
    finally:
        client.close()
    assert r.contacts == n and not r.failures
    assert on_scheduler and max(on_scheduler) <= 4  # 2 per worker thread
    grew = rss[n] - rss[300]
    print(f"client RSS {rss} KiB; cardscan photo tasks on the scheduler at most {max(on_scheduler)}")
    assert grew < 20 * 1024, f"client memory grew {grew / 1024:.1f} MB over {n - 300} photos ({rss})"


@pytest.mark.slow
def test_samples_through_the_cluster_give_the_same_contacts(samples_dir, tmp_path):
    """Real Tesseract in 2 cluster worker processes (local:2) against the local worker pool."""
    photos = sorted(p for p in samples_dir.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    assert photos

    def contacts(result: api.ScanResult, db: Path) -> dict[tuple[str, int], dict]:
        from cardscan.store import Store

        with Store(db) as store:
            return {(Path(i.path).name, i.card_index): store.contact(i.contact_id).contact.to_record()
                    for i in result.items if i.contact_id is not None}

    base = Options(followup_drafts=False, report=None, jobs=2)
    local = api.scan(photos, options=base.with_(db=tmp_path / "local.db"))
    remote = api.scan(photos, options=base.with_(db=tmp_path / "cluster.db", cluster="local:2"))
    assert [Path(i.path).name for i in remote.failures] == [Path(i.path).name for i in local.failures]
    a, b = contacts(local, tmp_path / "local.db"), contacts(remote, tmp_path / "cluster.db")
    assert a and a == b


def test_shared_paths_send_paths_and_give_the_same_contacts(dask_cluster, tmp_path):
    folder = _photos(tmp_path / "in", 5, start=600)
    (folder / "not-a-photo.jpg").write_bytes(b"this is text, not a JPEG")
    db = tmp_path / "c.db"
    r = api.scan([folder], options=_opts(db, dask_cluster.scheduler_address, shared_paths=True))
    assert r.contacts == 5
    assert [Path(i.path).name for i in r.failures] == ["not-a-photo.jpg"]  # read by the worker, failed alone
    assert _rows(db, "SELECT COUNT(*) FROM cards") == [(5,)]


def test_watch_reads_through_the_cluster(dask_cluster, tmp_path):
    from cardscan.watch import WatchConfig, watch

    folder = _photos(tmp_path / "in", 6, start=300)
    db = tmp_path / "c.db"
    cfg = WatchConfig(folder=folder, options=_opts(db, dask_cluster.scheduler_address), poll=0.2, settle=0.2,
                      once=True)
    stats = watch(cfg)
    assert stats.done == 6 and stats.failed == 0
    _assert_each_photo_once(db, 6)


# ---------------------------------------------------------------- a scheduler and a worker as people start them
def _start(*args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([str(Path(sys.executable).with_name("dask")), *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def _end(p: subprocess.Popen) -> None:
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGKILL)
    p.wait(timeout=10)


def test_scheduler_lost_mid_run_stops_cleanly_and_a_rerun_continues(dask_cluster, tmp_path):
    """`dask scheduler` and `dask worker --preload cardscan.cluster` as separate processes; the
    scheduler is killed mid-run."""
    from cardscan.errors import ClusterError

    env = dict(os.environ, **{api.TEST_ENGINE_ENV: ENGINE, DELAY_ENV: "0.1", "OMP_THREAD_LIMIT": "1",
                              "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    sched_file = tmp_path / "scheduler.json"
    scheduler = _start("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                       "--scheduler-file", str(sched_file), env=env)
    worker = None
    try:
        deadline = time.monotonic() + 60
        while not sched_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        address = json.loads(sched_file.read_text())["address"]
        worker = _start("worker", address, "--nthreads", "1", "--no-dashboard", "--preload", "cardscan.cluster",
                        env=env)
        folder = _photos(tmp_path / "in", 12, start=400)
        db = tmp_path / "c.db"
        seen: list[api.ScanItem] = []

        def kill_scheduler(item: api.ScanItem) -> None:
            seen.append(item)
            if len(seen) == 3:
                os.killpg(scheduler.pid, signal.SIGKILL)

        t0 = time.monotonic()
        with pytest.raises(ClusterError, match="lost the Dask scheduler"):
            api.scan([folder], options=_opts(db, address), progress=kill_scheduler)
        print(f"stopped {time.monotonic() - t0:.1f} s after the start")
        stored = _rows(db, "SELECT COUNT(*) FROM cards")[0][0]
        assert 3 <= stored < 12
        assert _rows(db, "SELECT COUNT(*) FROM photos WHERE sha256 NOT IN (SELECT photo_sha256 FROM cards)") == [(0,)]
    finally:
        for p in (worker, scheduler):
            if p is not None:
                _end(p)
    # the same command (on a running cluster) continues: the stored photos are not sent again
    r = api.scan([folder], options=_opts(db, dask_cluster.scheduler_address))
    assert sum(1 for i in r.items if not i.duplicate) == 12 - stored
    _assert_each_photo_once(db, 12)


@pytest.mark.slow
def test_bench_speed_runs_the_cluster_beside_the_local_pool(tmp_path):
    from tests.watch_fixtures import ROOT, cli_env

    folder = _photos(tmp_path / "in", 6, start=500)
    out_json = tmp_path / "speed.json"
    r = subprocess.run([sys.executable, "-m", "cardscan", "bench", "--speed", str(folder), "--cluster", "local:1",
                        "-j", "1", "--json", str(out_json)], cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env=cli_env({api.TEST_ENGINE_ENV: ENGINE}))
    assert r.returncode == 0, r.stderr
    assert "cluster overhead" in r.stdout and "contacts committed/s" in r.stdout
    d = json.loads(out_json.read_text())
    c = d["cluster"]
    assert d["cardscan"]["photos"] == c["run"]["photos"] == 6
    assert c["run"]["cards"] == d["cardscan"]["cards"] == 6 and c["run"]["failures"] == 0
    assert c["workers"] == 1 and c["writer_contacts"] >= 200 and c["writer_per_second"] > 0
    assert c["overhead_per_photo_s"] == pytest.approx((c["run"]["seconds"] - d["cardscan"]["seconds"]) / 6)


def test_an_unreachable_scheduler_is_one_line_and_exit_13(tmp_path):
    import socket

    from conftest import run_cli

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    photos = _photos(tmp_path / "in", 1, start=900)
    r = run_cli("scan", str(photos), "--db", str(tmp_path / "c.db"), "--cluster", f"tcp://127.0.0.1:{port}",
                "--no-report", "--no-drafts", timeout=120)
    assert r.returncode == 13, r.stderr
    errors = [l for l in r.stderr.splitlines() if l.strip()]
    assert any("cannot reach the Dask scheduler" in l for l in errors) and "Traceback" not in r.stderr
