"""Issue 14 items 9 and 10: a watcher that outlives a busy database and a kill -9, and two scans of
one folder at once. Real `python -m cardscan` processes, real files, real SQLite (the write lock
held for real from another connection); the test OCR engine of tests/watch_fixtures.py stands in
for Tesseract in the workers so that each test takes a few seconds."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from cardscan.store import Store
from tests.watch_fixtures import (ROOT, card_jpeg, cli_env, count_done, fake_env, output, photo_states, query,
                                  start_watch, stop, wait_for)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def env_for(tmp_path: Path, delay: float) -> dict[str, str]:
    # HOME without a config file: the built-in defaults, follow-up drafts on
    return {**fake_env(delay), "HOME": str(tmp_path), "CARDSCAN_CONFIG": ""}


def start_scan(folder: Path, db: Path, jsonl: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cardscan", "scan", str(folder), "--db", str(db), "--no-report",
                             "--jsonl", str(jsonl), "-j", "1"], cwd=ROOT, env=cli_env(env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def end(p: subprocess.Popen) -> None:
    """Kill a scan and its process group if it is still running (a failing test leaves nothing)."""
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    p.communicate(timeout=10)


# ---------------------------------------------------------------------------- item 9: the watcher


def test_watcher_waits_out_a_write_lock_held_longer_than_the_busy_timeout(tmp_path: Path) -> None:
    inbox, db = tmp_path / "inbox", tmp_path / "cards.db"
    inbox.mkdir()
    w, a, b = card_jpeg(0, scale=0.4), card_jpeg(1, scale=0.4), card_jpeg(2, scale=0.4)
    p = start_watch(inbox, db, "-v", "-j", "1", "--busy-timeout", "0.3", env=env_for(tmp_path, 1.0))
    lock = None
    try:
        (inbox / "w.jpg").write_bytes(w)
        wait_for(lambda: count_done(db) == 1, 30, "a first photo (the worker has started)", p)
        (inbox / "a.jpg").write_bytes(a)
        wait_for(lambda: "claimed" in photo_states(db).values(), 30, "a.jpg being read", p)
        lock = sqlite3.connect(db, timeout=10, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")  # another program takes the write lock while a.jpg is read
        time.sleep(1.5)  # a.jpg's result meets the lock (busy timeout 0.3 s) and is kept
        (inbox / "b.jpg").write_bytes(b)  # ... and a photo arrives meanwhile
        time.sleep(1.5)
        assert p.poll() is None, f"the watcher gave up on a busy database:\n{output(p)}"
        assert count_done(db) == 1
        lock.execute("ROLLBACK")
        lock.close()
        lock = None
        wait_for(lambda: count_done(db) == 3, 30, "both photos once the lock is gone", p)
        time.sleep(0.5)
        assert p.poll() is None
    finally:
        if lock is not None:
            lock.close()
        stop(p, signal.SIGINT)
    log = output(p)
    assert log.count("database busy; retrying in 1 s") == 1, log  # said once, not on every retry
    assert "a.jpg: read; kept until the database is free" in log  # read while locked, stored after
    assert sorted(r[0] for r in query(db, "SELECT photo_sha256 FROM cards")) == sorted([sha(w), sha(a), sha(b)])
    assert query(db, "SELECT count(*) FROM contacts")[0][0] == 3
    assert query(db, "SELECT count(*) FROM photos WHERE state <> 'done'")[0][0] == 0


def test_a_watcher_started_while_the_database_is_locked_waits_for_it(tmp_path: Path) -> None:
    inbox, db = tmp_path / "inbox", tmp_path / "cards.db"
    inbox.mkdir()
    Store(db).close()  # an existing database, which another program then locks
    lock = sqlite3.connect(db, timeout=10, isolation_level=None)
    p = None
    try:
        lock.execute("BEGIN IMMEDIATE")
        p = start_watch(inbox, db, "--once", "--event", "Expo", "--event-date", "2026-05-01", "--busy-timeout", "0.3",
                        env=env_for(tmp_path, 0.0))
        wait_for(lambda: "database busy; retrying" in output(p), 30, "the watcher to meet the lock", p)
        lock.execute("ROLLBACK")
        p.wait(timeout=30)
    finally:
        lock.close()
        if p is not None:
            stop(p)
    assert p.returncode == 0, output(p)
    assert query(db, "SELECT name, date FROM events") == [("Expo", "2026-05-01")]


def test_after_a_kill_9_right_after_a_commit_the_restart_writes_the_draft_and_report(tmp_path: Path) -> None:
    inbox, db, report = tmp_path / "inbox", tmp_path / "cards.db", tmp_path / "report.html"
    inbox.mkdir()
    (inbox / "a.jpg").write_bytes(card_jpeg(11, scale=0.4))
    (inbox / "b.jpg").write_bytes(card_jpeg(12, scale=0.4))
    env = env_for(tmp_path, 1.0)
    # one worker, two photos in flight: after a.jpg is committed b.jpg is still being read, so the
    # after-batch work (drafts, report) waits for it; the kill comes in that gap
    p = start_watch(inbox, db, "-j", "1", env=env, report=report)
    try:
        wait_for(lambda: count_done(db) >= 1, 30, "the first contact", p)
        stop(p)  # kill -9 of the watcher and its workers
    finally:
        stop(p)
    assert count_done(db) == 1, "the kill came too late to test anything"
    assert query(db, "SELECT count(*) FROM followups")[0][0] == 0, "the drafts were written before the kill"
    assert "mira" not in (report.read_text() if report.exists() else "").lower()
    (inbox / "b.jpg").unlink()  # no other photo arrives after the restart
    p2 = start_watch(inbox, db, "-j", "1", "--once", env=env, report=report)
    try:
        p2.wait(timeout=30)
    finally:
        stop(p2)
    assert p2.returncode == 0, output(p2)
    cid = query(db, "SELECT contact_id FROM cards")[0][0]
    assert query(db, "SELECT contact_id, state FROM followups") == [(cid, "draft")]
    assert "mira" in report.read_text().lower()


# ---------------------------------------------------------------------------- item 10: two scans


def read_here(jsonl: Path) -> tuple[set[str], set[str]]:
    """(photos this scan read itself, photos it reported as read by the other scan)."""
    recs = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert all(r.get("contact_id") for r in recs), recs
    return ({r["sha256"] for r in recs if not r.get("duplicate")},
            {r["sha256"] for r in recs if r.get("read_by_another_scan")})


def test_two_scans_of_one_folder_at_once_read_each_photo_once(tmp_path: Path) -> None:
    inbox, db = tmp_path / "inbox", tmp_path / "cards.db"
    inbox.mkdir()
    shas = set()
    for i in range(6):
        data = card_jpeg(300 + i, scale=0.4)
        (inbox / f"c{i}.jpg").write_bytes(data)
        shas.add(sha(data))
    env = env_for(tmp_path, 0.5)
    first = start_scan(inbox, db, tmp_path / "a.jsonl", env)
    second = None
    try:
        wait_for(lambda: bool(query(db, "SELECT 1 FROM photos LIMIT 1")), 30, "the first scan to start")
        second = start_scan(inbox, db, tmp_path / "b.jsonl", env)
        out1, err1 = first.communicate(timeout=60)
        out2, err2 = second.communicate(timeout=60)
    finally:
        end(first)
        if second is not None:
            end(second)
    assert first.returncode == 0 and second.returncode == 0, err1 + err2
    read1, _ = read_here(tmp_path / "a.jsonl")
    read2, other2 = read_here(tmp_path / "b.jsonl")
    assert not read1 & read2, "both scans read the same photo"
    assert read1 | read2 == shas
    assert other2 == shas - read2  # the second waited for the first's photos and lists them
    assert f"{len(other2)} read by another scan running at the same time" in out2, out2
    assert query(db, "SELECT count(DISTINCT photo_sha256), count(*) FROM cards")[0] == (6, 6)
    assert query(db, "SELECT count(*) FROM photos WHERE state <> 'done'")[0][0] == 0


def test_claims_of_a_killed_scan_do_not_block_the_next_one(tmp_path: Path) -> None:
    inbox, db = tmp_path / "inbox", tmp_path / "cards.db"
    inbox.mkdir()
    for i in range(4):
        (inbox / f"k{i}.jpg").write_bytes(card_jpeg(400 + i, scale=0.4))
    killed = start_scan(inbox, db, tmp_path / "a.jsonl", env_for(tmp_path, 1.0))
    try:
        wait_for(lambda: bool(query(db, "SELECT 1 FROM photos WHERE state = 'claimed'")), 30, "claims")
    finally:
        end(killed)  # kill -9 of the scan and its workers; its claims (lease 300 s) stay behind
    left = query(db, "SELECT count(*) FROM photos WHERE state = 'claimed'")[0][0]
    assert left >= 1
    again = subprocess.run([sys.executable, "-m", "cardscan", "scan", str(inbox), "--db", str(db), "--no-report",
                            "-j", "1"], cwd=ROOT, env=cli_env(env_for(tmp_path, 0.0)), capture_output=True,
                           text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    assert "another scan" not in again.stdout + again.stderr
    assert query(db, "SELECT count(DISTINCT photo_sha256), count(*) FROM cards")[0] == (4, 4)
    assert query(db, "SELECT count(*) FROM photos WHERE state <> 'done'")[0][0] == 0
