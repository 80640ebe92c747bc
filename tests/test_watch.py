"""`cardscan watch` and `cardscan status` with real processes, real files and a real database.

The end-to-end test uses real Tesseract; the logic tests (crash/restart, two watchers, odd files)
use a test OCR engine in the worker processes (tests/watch_fixtures.py) so they stay fast.
"""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cardscan.options import Options
from cardscan.store import Store
from cardscan.watch import WatchConfig, Watcher, check_config, move_original, owner_alive, worker_id
from cardscan.errors import ConfigError
from tests.watch_fixtures import (ROOT, card_jpeg, cli_env, count_done, fake_env, output, photo_states, query,
                                  start_watch, stop, wait_for, write_slowly)

needs_mkfifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    return inbox, tmp_path / "cards.db"


def run_cli(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cardscan", *args], cwd=ROOT, env=cli_env(env),
                          capture_output=True, text=True, timeout=timeout)


# ---------------------------------------------------------------------------- real pipeline


def test_end_to_end_real_ocr_present_new_and_same_photo_twice(dirs):
    inbox, db = dirs
    a, b = card_jpeg(1), card_jpeg(2)
    (inbox / "a.jpg").write_bytes(a)
    (inbox / "copy of a.jpg").write_bytes(a)  # same photo, other name: read once
    p = start_watch(inbox, db, "-j", "2")
    try:
        wait_for(lambda: count_done(db) >= 1, 60, "the photo present at start", p)
        (inbox / "sub").mkdir()
        (inbox / "sub" / "b.jpg").write_bytes(b)  # arrives while watching, in a sub-folder
        wait_for(lambda: count_done(db) >= 2, 60, "the new photo", p)
        time.sleep(1.0)  # give a wrong second read of the copy the chance to show up
        assert p.poll() is None
    finally:
        stop(p, signal.SIGINT)
    assert p.returncode == 130, output(p)
    assert sorted(r[0] for r in query(db, "SELECT sha256 FROM photos")) == sorted([sha(a), sha(b)])
    assert query(db, "SELECT count(*) FROM contacts")[0][0] == 2
    emails = [r[0] for r in query(db, "SELECT value FROM fields WHERE name = 'email' AND is_current = 1")]
    assert len(emails) == 2 and all(e.endswith("@example.com") for e in emails), emails
    assert (inbox / "a.jpg").read_bytes() == a and (inbox / "sub" / "b.jpg").read_bytes() == b  # untouched
    st = run_cli("status", "--db", str(db))
    assert st.returncode == 0, st.stderr
    assert "2 done, 0 failed, 0 pending" in st.stdout


# ---------------------------------------------------------------------------- arrivals


def test_file_written_slowly_is_read_once_complete(dirs):
    inbox, db = dirs
    data = card_jpeg(3, scale=0.5)
    report = db.with_name("report.html")
    p = start_watch(inbox, db, "-j", "1", env=fake_env(), report=report)
    try:
        time.sleep(1.0)
        write_slowly(inbox / "slow.jpg", data, chunks=6, pause=0.25)  # pauses shorter than --settle 0.4
        wait_for(lambda: count_done(db) == 1, 30, "the slowly written photo", p)
        # the report is refreshed once the burst is over (the test engine reads this address)
        wait_for(lambda: report.exists() and "mira@example.com" in report.read_text(), 10, "the report", p)
    finally:
        stop(p)
    assert query(db, "SELECT sha256, state FROM photos") == [(sha(data), "done")]
    assert query(db, "SELECT count(*) FROM unread_files")[0][0] == 0


def test_truncated_file_fails_after_bounded_wait_and_corrupt_file_does_not_stop_watcher(dirs):
    inbox, db = dirs
    good = card_jpeg(4, scale=0.5)
    (inbox / "cut.jpg").write_bytes(good[: len(good) // 2])  # a copy that never completes
    (inbox / "noise.jpg").write_bytes(os.urandom(5000))  # not an image at all
    p = start_watch(inbox, db, "-j", "1", "--give-up", "2", env=fake_env())
    try:
        wait_for(lambda: len(query(db, "SELECT 1 FROM photos WHERE state = 'failed'")) == 2, 30,
                 "both bad files recorded as failed", p)
        (inbox / "good.jpg").write_bytes(good)
        wait_for(lambda: count_done(db) == 1, 30, "the good photo after the bad ones", p)
        assert p.poll() is None
    finally:
        stop(p)
    errors = dict(query(db, "SELECT path, error FROM photos WHERE state = 'failed'"))
    assert "truncated" in errors[str(inbox / "cut.jpg")] and "2 s" in errors[str(inbox / "cut.jpg")]
    assert errors[str(inbox / "noise.jpg")]
    st = run_cli("status", "--db", str(db))
    assert st.returncode == 0
    assert "1 done, 2 failed" in st.stdout and "cut.jpg: truncated" in st.stdout and "noise.jpg:" in st.stdout


@needs_mkfifo
def test_fifo_outside_symlink_and_folder_named_like_a_photo_are_skipped(dirs, tmp_path):
    inbox, db = dirs
    os.mkfifo(inbox / "pipe.jpg")
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(card_jpeg(5, scale=0.5))
    (inbox / "link.jpg").symlink_to(outside)
    (inbox / "folder.jpg").mkdir()
    p = start_watch(inbox, db, "-j", "1", env=fake_env())
    try:
        time.sleep(1.0)
        good = card_jpeg(6, scale=0.5)
        (inbox / "good.jpg").write_bytes(good)
        wait_for(lambda: count_done(db) == 1, 30, "the good photo", p)
        assert p.poll() is None
    finally:
        stop(p)
    log = output(p)
    assert "pipe.jpg: skipped" in log and "link.jpg: skipped" in log
    assert log.count("pipe.jpg: skipped") == 1  # warned once, not on every rescan
    assert query(db, "SELECT sha256 FROM photos") == [(sha(good),)]
    assert query(db, "SELECT count(*) FROM unread_files")[0][0] == 0


def test_move_done_moves_only_committed_photos_byte_for_byte(dirs, tmp_path):
    inbox, db = dirs
    done = tmp_path / "done"
    data = card_jpeg(7, scale=0.5)
    (inbox / "x.jpg").write_bytes(data)
    (inbox / "junk.jpg").write_bytes(b"not a photo at all")
    p = start_watch(inbox, db, "-j", "1", "--move-done", str(done), env=fake_env())
    try:
        wait_for(lambda: (done / "x.jpg").exists() and not (inbox / "x.jpg").exists(), 30, "the move", p)
        (inbox / "again.jpg").write_bytes(data)  # the same photo once more: already read, moved too
        wait_for(lambda: (done / "again.jpg").exists(), 30, "the duplicate's move", p)
    finally:
        stop(p)
    assert (done / "x.jpg").read_bytes() == data and (done / "again.jpg").read_bytes() == data
    assert (inbox / "junk.jpg").read_bytes() == b"not a photo at all"  # failures stay where they are
    assert query(db, "SELECT count(*) FROM contacts")[0][0] == 1


# ---------------------------------------------------------------------------- crashes and concurrency


def test_kill_9_mid_batch_then_restart_reads_each_photo_exactly_once(dirs):
    inbox, db = dirs
    n = 10
    for i in range(n):
        (inbox / f"c{i:02d}.jpg").write_bytes(card_jpeg(100 + i, scale=0.4))
    env = fake_env(delay=0.3)
    lease = ("--lease", "300")  # far longer than the test: the restart must see the owner is dead
    p = start_watch(inbox, db, "-j", "2", *lease, env=env)
    try:
        wait_for(lambda: 2 <= count_done(db), 60, "a few photos", p)
        os.kill(p.pid, signal.SIGKILL)  # the watcher only: its workers are orphaned mid-photo
        p.wait(timeout=10)
        claimed = query(db, "SELECT count(*) FROM photos WHERE state = 'claimed'")[0][0]
    finally:
        stop(p)
    assert count_done(db) < n, "the kill came too late to test anything"
    assert claimed >= 1, "no photo was in flight at the kill"
    p2 = start_watch(inbox, db, "-j", "2", *lease, env=env)
    try:
        wait_for(lambda: count_done(db) == n, 60, "all photos after the restart", p2)
        time.sleep(0.5)
    finally:
        stop(p2)
    assert query(db, "SELECT count(*) FROM contacts")[0][0] == n
    assert query(db, "SELECT count(DISTINCT photo_sha256), count(*) FROM cards")[0] == (n, n)
    assert query(db, "SELECT count(*) FROM contacts WHERE id NOT IN (SELECT contact_id FROM cards)")[0][0] == 0
    assert query(db, "SELECT count(*) FROM photos WHERE state <> 'done'")[0][0] == 0


def test_two_watchers_on_one_folder_read_each_photo_once(dirs):
    inbox, db = dirs
    n = 12
    for i in range(n):
        (inbox / f"d{i:02d}.jpg").write_bytes(card_jpeg(200 + i, scale=0.4))
    env = fake_env(delay=0.2)
    p1 = start_watch(inbox, db, "-j", "1", env=env)
    p2 = start_watch(inbox, db, "-j", "1", env=env)
    try:
        wait_for(lambda: count_done(db) == n, 60, "all photos", p1)
        time.sleep(0.5)
        assert p1.poll() is None and p2.poll() is None
    finally:
        stop(p1)
        stop(p2)
    assert query(db, "SELECT count(*) FROM contacts")[0][0] == n
    assert query(db, "SELECT count(*) FROM cards")[0][0] == n
    printed = [line for line in (output(p1) + output(p2)).splitlines() if line.startswith("#")]
    assert len(printed) == n  # each photo reported by exactly one of the two


def test_sigint_releases_the_photo_in_flight_and_exits_130(dirs):
    inbox, db = dirs
    (inbox / "slow.jpg").write_bytes(card_jpeg(8, scale=0.5))
    p = start_watch(inbox, db, "-j", "1", env=fake_env(delay=5.0))
    try:
        wait_for(lambda: "claimed" in photo_states(db).values(), 30, "the photo to be claimed", p)
        time.sleep(1.5)  # the worker is reading it now (5 s per read)
        assert set(photo_states(db).values()) == {"claimed"}
        t0 = time.monotonic()
        os.killpg(p.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole group
        p.wait(timeout=15)
        took = time.monotonic() - t0
    finally:
        stop(p)
    assert p.returncode == 130, output(p)
    assert took < 4.0, "did not wait for the 5-second OCR to finish"
    assert set(photo_states(db).values()) == {"pending"}
    assert "Traceback" not in output(p)


# ---------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("where", ["db", "report", "move-done"])
def test_outputs_inside_watched_folder_exit_9(dirs, where):
    inbox, db = dirs
    args = ["watch", str(inbox), "--db", str(inbox / "c.db" if where == "db" else db)]
    if where == "report":
        args += ["--report", str(inbox / "sub" / "r.html")]
    if where == "move-done":
        args += ["--move-done", str(inbox / "done")]
    r = run_cli(*args, env=fake_env())
    assert r.returncode == 9, r.stderr
    assert "inside the watched folder" in r.stderr
    assert not (inbox / "c.db").exists() and not (inbox / "done").exists()


def test_status_without_database_says_what_to_do(tmp_path):
    r = run_cli("status", "--db", str(tmp_path / "none.db"))
    assert r.returncode == 1 and "no database" in r.stderr
    assert not (tmp_path / "none.db").exists()


# ---------------------------------------------------------------------------- in-process units


def test_rescan_of_unchanged_folder_reads_no_file(tmp_path):
    inbox = tmp_path / "in"
    inbox.mkdir()
    n = 400
    for i in range(n):
        (inbox / f"{i:04d}.jpg").write_bytes(b"\xff\xd8\xff" + i.to_bytes(4, "big"))
    cfg = WatchConfig(folder=inbox, options=Options(db=tmp_path / "x.db"), settle=0.01)
    with Store(cfg.options.db) as store:
        w = Watcher(cfg, store)
        w.rescan(0.0)  # first sight: signatures only
        w.rescan(1.0)  # stable: hashed once each
        assert w.stats.hashed == n and len(w._ready) == n
        w._ready.clear()
        for k in range(3):
            w.rescan(2.0 + k)
        assert w.stats.hashed == n  # the cache answered
        os.utime(inbox / "0000.jpg", ns=(1, 1))  # a changed file is hashed again, once stable
        w.rescan(10.0)
        w.rescan(11.0)
        assert w.stats.hashed == n + 1


def test_claims_of_dead_processes_are_recognised():
    me = worker_id()
    assert owner_alive(me)
    host, pid, start, rnd = me.split(":")
    assert not owner_alive(f"{host}:{pid}:{int(start) + 1}:{rnd}")  # same pid, another process
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not owner_alive(f"{host}:{child.pid}:1:x")
    assert owner_alive(f"another-host:{child.pid}:1:x")  # not ours to judge: its lease expires


def test_check_config_refuses_db_inside_folder_even_through_a_symlink(tmp_path):
    inbox = tmp_path / "in"
    inbox.mkdir()
    (tmp_path / "alias").symlink_to(inbox)
    with pytest.raises(ConfigError):
        check_config(WatchConfig(folder=inbox, options=Options(db=tmp_path / "alias" / "c.db")))
    check_config(WatchConfig(folder=inbox, options=Options(db=tmp_path / "c.db")))


def test_move_original_never_overwrites(tmp_path):
    src_dir, dst = tmp_path / "s", tmp_path / "d"
    src_dir.mkdir()
    dst.mkdir()
    (dst / "a.jpg").write_bytes(b"older")
    (src_dir / "a.jpg").write_bytes(b"newer")
    moved = move_original(src_dir / "a.jpg", dst, sha(b"newer"))
    assert moved.name == "a-1.jpg" and moved.read_bytes() == b"newer"
    assert (dst / "a.jpg").read_bytes() == b"older" and not (src_dir / "a.jpg").exists()


def test_partial_versions_of_a_file_written_in_chunks_leave_no_pending_rows(dirs):
    """Pauses longer than --settle: the watcher tries the partial file (incomplete, waits for the
    rest); once the whole file is read, `status` shows nothing pending."""
    inbox, db = dirs
    data = card_jpeg(5, scale=0.5)
    p = start_watch(inbox, db, "-j", "1", env=fake_env())
    try:
        time.sleep(1.0)
        write_slowly(inbox / "chunked.jpg", data, chunks=3, pause=1.2)  # pauses longer than --settle 0.4
        wait_for(lambda: count_done(db) == 1, 30, "the chunked photo", p)
    finally:
        stop(p)
    assert query(db, "SELECT sha256, state FROM photos") == [(sha(data), "done")]
    st = run_cli("status", "--db", str(db))
    assert "1 done, 0 failed, 0 pending" in st.stdout, st.stdout
