"""Issue 14: the faults an attacker and a careless user found (docs/reliability.md rows S1-S11).

Real processes, real files, real SQLite; the only stand-in is the fake OCR engine of
tests/watch_fixtures.py (loaded through the CARDSCAN_TEST_ENGINE_FACTORY hook) where Tesseract's
reading is not what is tested.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cardscan.errors import ExitCode
from tests.watch_fixtures import ROOT, card_jpeg, cli_env, fake_env, query, wait_for


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cardscan", *args], cwd=ROOT, env=cli_env(env), capture_output=True,
                          text=True, timeout=timeout, errors="surrogateescape")


def scanned_db(tmp_path: Path, n: int = 1) -> Path:
    photos = tmp_path / "photos"
    photos.mkdir(exist_ok=True)
    for i in range(n):
        (photos / f"c{i}.jpg").write_bytes(card_jpeg(30 + i, scale=0.4))
    db = tmp_path / "e.db"
    r = run("scan", str(photos), "--db", str(db), "--no-report", "-j", "1", env=fake_env())
    assert r.returncode == 0, r.stderr
    return db


def contacts(db: Path) -> int:
    return query(db, "SELECT count(*) FROM contacts")[0][0]


# ------------------------------------------------------------------ S1: outputs over the database


@pytest.mark.parametrize("target", ["db", "wal", "shm", "link"])
def test_outputs_pointed_at_the_database_are_refused_before_writing(tmp_path: Path, target: str) -> None:
    db = scanned_db(tmp_path)
    n = contacts(db)
    link = tmp_path / "innocent.csv"
    link.symlink_to(db)
    out = {"db": db, "wal": Path(f"{db}-wal"), "shm": Path(f"{db}-shm"), "link": link}[target]
    before = {p: p.read_bytes() for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists()}
    photo = tmp_path / "photos" / "c0.jpg"
    for args in (["export", "--format", "csv", "-o", str(out)],
                 ["export", "--format", "jsonl", "-o", str(out)],
                 ["report", "-o", str(out)],
                 ["scan", str(photo), "--report", str(out)],
                 ["scan", str(photo), "--no-report", "--jsonl", str(out)],
                 ["watch", str(tmp_path / "photos"), "--once", "--report", str(out)]):
        r = run(*args, "--db", str(db), env=fake_env())
        assert r.returncode == ExitCode.bad_args, (args, r.stderr)
        assert "would overwrite the database" in r.stderr and "Traceback" not in r.stderr, r.stderr
        for p, data in before.items():
            if p.name.endswith(".db"):
                assert p.read_bytes()[:16] == b"SQLite format 3\x00", args
    assert link.is_symlink() and contacts(db) == n


# ------------------------------------------------------------------ S3: workers die with their parent


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
    out, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.add(c)
            todo.append(c)
    return out


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for p in pids:
        try:
            state = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(p)
    return alive


def _start_scan(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen, Path]:
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(6):
        (photos / f"c{i}.jpg").write_bytes(card_jpeg(60 + i, scale=0.4))
    db = tmp_path / "k.db"
    p = subprocess.Popen([sys.executable, "-m", "cardscan", "scan", str(photos), "--db", str(db), "--no-report",
                          "-j", "2", *extra], cwd=ROOT, env=cli_env(fake_env(delay=2.0)), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True,
                         preexec_fn=lambda: [signal.signal(s, signal.SIG_DFL) for s in (signal.SIGINT, signal.SIGTERM)])
    return p, db


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_scan_leaves_no_forkserver_or_worker_running(tmp_path: Path, sig: int) -> None:
    p, db = _start_scan(tmp_path)
    family: set[int] = set()
    try:
        def workers_up() -> bool:
            family.update(_descendants(p.pid))
            return len(family) >= 4  # resource tracker, forkserver, two workers
        wait_for(workers_up, 60, "the forkserver and two workers")
        time.sleep(0.5)
        family.update(_descendants(p.pid))
        p.send_signal(sig)
        out, err = p.communicate(timeout=30)
        deadline = time.monotonic() + 15
        while _alive(family) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = _alive(family)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        for q in _alive(family):
            os.kill(q, signal.SIGKILL)
    assert not left, f"still running after the scan was killed: {left}"
    if sig == signal.SIGTERM:
        assert p.returncode == ExitCode.terminated, err
        assert "Traceback" not in err and "terminated" in err, err


# ------------------------------------------------------------------ S2: file names that are not UTF-8


def test_a_latin1_file_name_survives_database_jsonl_report_and_terminal(tmp_path: Path) -> None:
    import json

    photos = tmp_path / "photos"
    photos.mkdir()
    raw = os.fsencode(str(photos)) + b"/caf\xe9.jpg"
    with open(raw, "wb") as fh:
        fh.write(card_jpeg(31, scale=0.4))
    name = os.fsdecode(raw)
    db, jsonl, report = tmp_path / "u.db", tmp_path / "u.jsonl", tmp_path / "u.html"
    r = run("scan", str(photos), "--db", str(db), "--jsonl", str(jsonl), "--report", str(report), "-j", "1",
            env=fake_env())
    assert r.returncode == 0, r.stderr
    assert "caf\\xe9.jpg" in r.stdout and "Traceback" not in r.stderr
    assert report.is_file() and contacts(db) == 1
    rec = json.loads(jsonl.read_text(encoding="utf-8").splitlines()[0])
    assert os.fsencode(rec["file"]) == raw  # the exact bytes come back
    from cardscan.store import Store
    with Store(db) as store:
        assert [c.path for c in store.contact(1).cards] == [name]
    # watch reads the same folder without crashing (and reads nothing twice)
    w = run("watch", str(photos), "--db", str(db), "--once", "--no-report", env=fake_env())
    assert w.returncode == 0 and "Traceback" not in w.stderr, w.stderr
    assert contacts(db) == 1


# ------------------------------------------------------------------ S4: terminal injection


def test_control_characters_in_file_names_cannot_forge_output_lines(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    evil = "x\x1b[31mred\n#99  Fake Person | CEO | fake@evil.example\r.jpg"
    (photos / evil).write_bytes(card_jpeg(32, scale=0.4))
    (photos / "bad\n#98  Forged failure.jpg").write_bytes(b"not an image at all")
    db = tmp_path / "t.db"
    for args in (["scan", str(photos), "--no-report", "-j", "1"],
                 ["watch", str(photos), "--once", "--no-report"]):
        r = run(*args, "--db", str(db), env=fake_env())
        for text in (r.stdout, r.stderr):
            assert "\x1b" not in text and "\r" not in text, args
            assert not any(line.startswith(("#99", "#98")) for line in text.splitlines()), (args, text)
        assert "Traceback" not in r.stderr, r.stderr
    r = run("status", "--db", str(db))
    assert "\x1b" not in r.stdout + r.stderr


# ------------------------------------------------------------------ S6: read-only and damaged databases


def _chattr(flag: str, path: Path) -> bool:
    r = subprocess.run(["chattr", flag, str(path)], capture_output=True)
    return r.returncode == 0


def test_read_only_database_is_one_line_and_reading_commands_still_work(tmp_path: Path) -> None:
    db = scanned_db(tmp_path)
    before = db.read_bytes()
    if not _chattr("+i", db):
        pytest.skip("chattr +i is not permitted here")
    try:
        for args in (["edit", "1", "--name", "Someone Else"], ["followup", "approve", "1"], ["note", "1", "hello"]):
            r = run(*args, "--db", str(db))
            assert r.returncode == ExitCode.output_access, (args, r.stdout, r.stderr)
            assert "Traceback" not in r.stderr and "read-only" in r.stderr, r.stderr
            assert len(r.stderr.strip().splitlines()) == 1, r.stderr
        for args in (["status"], ["report", "-o", str(tmp_path / "r.html")], ["export", "-f", "csv"], ["duplicates"]):
            r = run(*args, "--db", str(db))
            assert r.returncode == 0, (args, r.stderr)
    finally:
        _chattr("-i", db)
    assert db.read_bytes() == before


def test_damaged_database_is_one_line_for_every_command(tmp_path: Path) -> None:
    db = scanned_db(tmp_path, n=3)
    size = db.stat().st_size
    with open(db, "r+b") as fh:  # real damage: data pages overwritten, the header left intact
        for off in range(size // 2 // 4096 * 4096, size, 4096):
            fh.seek(off)  # page headers and overflow-chain pointers
            fh.write(os.urandom(64))
    failed: list[str] = []
    for args in (["status"], ["report"], ["export", "-f", "csv"], ["followup", "list"], ["duplicates"],
                 ["scan", str(tmp_path / "photos"), "--no-report", "-j", "1"]):
        r = run(*args, "--db", str(db), env=fake_env())
        assert "Traceback" not in r.stderr, (args, r.stderr)
        if r.returncode != 0:  # a command that touches no damaged page may still succeed
            assert r.returncode == ExitCode.output_access and "is damaged (" in r.stderr, (args, r.stderr)
            failed.append(args[0])
    assert {"report", "export"} <= set(failed), failed


# ------------------------------------------------------------------ issue 13: no process-wide Pillow state


def test_decoding_leaves_pillow_max_image_pixels_as_the_host_set_it(tmp_path: Path) -> None:
    """In a fresh process (no other test ran first): decoding must not raise PIL's global limit."""
    from tests.watch_fixtures import card_jpeg as jpeg
    photo = tmp_path / "c.jpg"
    photo.write_bytes(jpeg(33, scale=0.4))
    code = ("import sys\nfrom PIL import Image\nfrom cardscan.reading.decode import read_image_file, decode\n"
            "before = Image.MAX_IMAGE_PIXELS\nread_image_file(sys.argv[1], max_mpixels=1000)\n"
            "print(before, Image.MAX_IMAGE_PIXELS)\n")
    r = subprocess.run([sys.executable, "-c", code, str(photo)], cwd=ROOT, env=cli_env(), capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    before, after = r.stdout.split()
    assert before == after


def test_decode_tests_pass_alone_and_in_reverse_order() -> None:
    base = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"]
    ids = subprocess.run([*base, "--collect-only", "tests/test_decode.py"], cwd=ROOT, env=cli_env(),
                         capture_output=True, text=True, timeout=120).stdout.split()
    ids = list(dict.fromkeys(i.split("[")[0] for i in ids if i.startswith("tests/test_decode.py::")))
    assert len(ids) > 10
    for order in (ids[::-1], [i for i in ids if "global_limit" in i]):
        r = subprocess.run([*base, *order], cwd=ROOT, env=cli_env(), capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout[-2000:]


# ------------------------------------------------------------------ S5: memory of a decode


def test_a_225_megapixel_1bit_png_decodes_within_a_memory_budget(tmp_path: Path) -> None:
    from tests.test_decode import bomb_png
    p = tmp_path / "big.png"
    p.write_bytes(bomb_png(15000, 15000))  # 225 MP, under the 250 MP limit; a few KB on disk
    # VmHWM: this process's own peak. getrusage's ru_maxrss also keeps the peak of the forked copy
    # of the pytest worker before exec, so it grew with the worker (505 MB alone, 1391 in the suite)
    code = ("import re, sys\nfrom cardscan.reading.decode import read_image_file\n"
            "_, d = read_image_file(sys.argv[1])\n"
            "hwm = re.search(r'VmHWM:\\s+(\\d+) kB', open('/proc/self/status').read()).group(1)\n"
            "print(max(d.pixels.shape), int(hwm) // 1024)\n")
    r = subprocess.run([sys.executable, "-c", code, str(p)], cwd=ROOT, env=cli_env(), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    side, peak_mb = map(int, r.stdout.split())
    assert side <= 2200
    # was 2647 MB (three RGB copies of the full image); 483 MB now
    assert peak_mb < 900, f"peak {peak_mb} MB"


# ------------------------------------------------------------------ S7: huge ids


def test_ids_beyond_sqlite_integers_are_a_clear_argument_error(tmp_path: Path) -> None:
    db = scanned_db(tmp_path)
    huge = "99999999999999999999"
    for args in (["edit", huge, "--name", "X"], ["note", huge, "hi"], ["followup", "show", huge],
                 ["followup", "approve", huge]):
        r = run(*args, "--db", str(db))
        assert r.returncode == ExitCode.bad_args and "Traceback" not in r.stderr and "no such number" in r.stderr, (args, r.stderr)
    assert contacts(db) == 1


# ------------------------------------------------------------------ S11: the suite started with SIGINT ignored


def test_ctrl_c_tests_pass_when_the_suite_is_started_with_sigint_ignored() -> None:
    """As under `nohup make test &`: the child pytest (and so every process it starts) begins with SIGINT ignored."""
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "tests/test_reliability.py::test_ctrl_c_during_scan_exits_130_and_keeps_committed_cards",
                        "tests/test_review.py::test_cli_serves_on_loopback_and_stops_on_ctrl_c"],
                       cwd=ROOT, env=cli_env(), capture_output=True, text=True, timeout=300,
                       preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    assert r.returncode == 0, r.stdout[-3000:]


# ------------------------------------------------------------------ S10: small ones


def test_a_missing_path_on_the_command_line_is_exit_2_not_skipped(tmp_path: Path) -> None:
    r = run("scan", str(tmp_path / "typo.jpg"), "--db", str(tmp_path / "m.db"), "--no-report", env=fake_env())
    assert r.returncode == ExitCode.input_file, r.stdout + r.stderr
    assert "no such file or folder" in r.stderr and "1 failed" in r.stdout and "0 skipped" in r.stdout


def test_event_and_note_with_a_line_break_are_refused(tmp_path: Path) -> None:
    photo = tmp_path / "c.jpg"
    photo.write_bytes(card_jpeg(34, scale=0.4))
    for opt in ("--event", "--note"):
        r = run("scan", str(photo), "--db", str(tmp_path / "e.db"), "--no-report", opt, "Expo\nBcc: x@evil.example",
                env=fake_env())
        assert r.returncode == ExitCode.bad_args and "control characters" in r.stderr, r.stderr
    assert not (tmp_path / "e.db").exists() or contacts(tmp_path / "e.db") == 0


def test_a_formula_behind_a_byte_order_mark_is_neutralised_in_csv() -> None:
    """`edit` refuses such a value; a QR vCard or the OCR can still bring one in."""
    from cardscan.outputs.export import neutralise
    for lead in ("\ufeff", "\u200b", "\ufeff \u2060"):
        assert neutralise(lead + "=HYPERLINK(1)") == "'" + lead + "=HYPERLINK(1)"
    assert neutralise("\ufeffPlain Company") == "\ufeffPlain Company"
