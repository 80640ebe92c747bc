"""Fast batch: worker processes as promised (one engine each, one OpenMP thread, Ctrl-C left to
the parent), memory flat on long runs, and the `cardscan bench --speed` report."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cardscan import api
from cardscan.options import Options
from cardscan.bench.speed import PeakTreeRss, RunStats, SpeedResult, collect_photos, tree_rss_kib
from tests.watch_fixtures import ROOT, card_jpeg, cli_env, fake_env


def _scan_peak_kib(folder: Path, db: Path, env: dict[str, str]) -> tuple[int, str]:
    p = subprocess.Popen([sys.executable, "-m", "cardscan", "scan", str(folder), "--db", str(db), "--no-report",
                          "-j", "2"], cwd=ROOT, env=cli_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    sampler = PeakTreeRss(p.pid, every=0.05)
    out, err = p.communicate(timeout=300)
    peak = sampler.stop()
    assert p.returncode == 0, err
    return peak, out


def test_workers_run_one_openmp_thread_and_leave_ctrl_c_to_the_parent():
    with api.new_pool(Options(jobs=2)) as pool:
        env = pool.submit(os.getenv, "OMP_THREAD_LIMIT").result(timeout=120)
        handler = pool.submit(signal.getsignal, signal.SIGINT).result(timeout=120)
    assert env == "1"
    assert handler == signal.SIG_IGN


def test_tree_rss_counts_children():
    child = subprocess.Popen([sys.executable, "-c", "import time; b = bytearray(80 << 20); time.sleep(5)"])
    try:
        import time

        alone = tree_rss_kib(child.pid)
        for _ in range(50):
            alone = tree_rss_kib(child.pid)
            if alone > 80 << 10:
                break
            time.sleep(0.05)
        assert alone > 80 << 10  # the child's 80 MB
        assert tree_rss_kib(os.getpid()) > alone  # we are its parent: counted in our tree
    finally:
        child.kill()
        child.wait()


def test_collect_photos_and_render(tmp_path):
    (tmp_path / "a.jpg").write_bytes(card_jpeg(1, scale=0.3))
    (tmp_path / "notes.txt").write_text("not a photo")
    assert collect_photos([tmp_path, tmp_path / "missing"]) == [tmp_path / "a.jpg"]
    r = SpeedResult(photos=10, cores=2, workers=2,
                    baseline=RunStats("baseline", 10, 20.0, 0, 60_000, 50_000, 120_000),
                    cardscan=RunStats("cardscan", 10, 5.0, 1, 130_000, 300_000, 700_000, cards=12, cpu_seconds=6.0))
    assert r.ratio == pytest.approx(4.0)
    text = r.render()
    assert "2 cores" in text and "0.50 photos/s" in text and "2.00 photos/s, 2.40 cards/s" in text and "4.00x" in text
    assert text.count("cards/s") == 1  # the baseline reads whole photos, not cards
    assert "CPU 6.0 s, 0.60 s per photo" in text
    assert json.loads(json.dumps(r.as_dict()))["ratio"] == pytest.approx(4.0)


@pytest.mark.slow
def test_memory_stays_flat_on_a_long_run(tmp_path):
    """Peak resident memory of the whole process tree for 30 vs 150 photos (test OCR engine):
    streamed, so five times the photos must not need noticeably more memory."""
    short, long_ = tmp_path / "short", tmp_path / "long"
    short.mkdir()
    long_.mkdir()
    for i in range(150):
        data = card_jpeg(i, scale=0.3, quality=80)
        (long_ / f"{i:04d}.jpg").write_bytes(data)
        if i < 30:
            (short / f"{i:04d}.jpg").write_bytes(data)
    peak_short, _ = _scan_peak_kib(short, tmp_path / "s.db", fake_env())
    peak_long, out = _scan_peak_kib(long_, tmp_path / "l.db", fake_env())
    assert "150 photos: 150 contacts, 0 failed" in out
    assert peak_long - peak_short < 40 * 1024, (peak_short, peak_long)


@pytest.mark.slow
def test_bench_speed_times_both_runs_on_the_same_photos(tmp_path):
    d = tmp_path / "photos"
    d.mkdir()
    for i in range(2):
        (d / f"{i}.jpg").write_bytes(card_jpeg(i, scale=0.6))
    out_json = tmp_path / "speed.json"
    r = subprocess.run([sys.executable, "-m", "cardscan", "bench", "--speed", str(d), "-j", "2", "--json", str(out_json)],
                       cwd=ROOT, env=cli_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"2 photos, {os.cpu_count()} cores" in r.stdout and "cardscan / baseline" in r.stdout
    d = json.loads(out_json.read_text())
    assert d["baseline"]["photos"] == d["cardscan"]["photos"] == 2
    assert d["cardscan"]["failures"] == 0 and d["baseline"]["failures"] == 0
    assert d["cardscan"]["cards"] == 2 and d["baseline"]["cards"] is None  # one card a photo here
    assert d["baseline"]["seconds"] > 0 and d["cardscan"]["seconds"] > 0
    assert d["cardscan"]["cpu_seconds"] > 0 and d["baseline"]["cpu_seconds"] > 0  # workers and tesseract counted
    assert d["cardscan"]["tree_peak_kib"] > d["cardscan"]["maxrss_self_kib"]  # the workers are counted
    assert d["ratio"] == pytest.approx(d["cardscan"]["per_second"] / d["baseline"]["per_second"])


def test_bench_without_groundtruth_or_speed_says_what_to_do():
    r = subprocess.run([sys.executable, "-m", "cardscan", "bench"], cwd=ROOT, env=cli_env(), capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 1 and "--speed" in r.stderr
