"""`cardscan scan` end to end through the real CLI: bad input never stops a batch or loses data."""
from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from imaging_fixtures import CARD_LINES, encode, photo_scene


def _png_header_only(w: int, h: int) -> bytes:
    """A tiny PNG that declares w x h pixels (a decompression bomb's header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("photos")
    good = encode(photo_scene().image, "JPEG", quality=90)
    (d / "01-empty.jpg").write_bytes(b"")
    (d / "02-truncated.jpg").write_bytes(good[: int(len(good) * 0.6)])
    (d / "03-random.jpg").write_bytes(np.random.default_rng(1).bytes(5000))
    (d / "04-text.png").write_text("Just some notes, not a picture\n" * 20)
    (d / "05-bomb.png").write_bytes(_png_header_only(30000, 30000))
    (d / "06-blank.jpg").write_bytes(encode(np.full((900, 1400, 3), 255, np.uint8), "JPEG"))
    (d / "07-nocard.jpg").write_bytes(encode(np.random.default_rng(2).integers(90, 160, (900, 1400, 3), dtype=np.uint8), "JPEG"))
    (d / "08-good.jpg").write_bytes(good)
    return d


def _hashes(d: Path) -> dict[str, tuple[str, int]]:
    return {p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns) for p in sorted(d.iterdir())}


@pytest.mark.slow
def test_bad_files_fail_one_line_each_and_the_good_one_is_read(batch, tmp_path, cli):
    before = _hashes(batch)
    db, out, report = tmp_path / "c.db", tmp_path / "out.jsonl", tmp_path / "r.html"
    r = cli("scan", str(batch), "--db", str(db), "--jsonl", str(out), "--report", str(report), "-j", "2")
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    errors = [l for l in r.stderr.splitlines() if l.startswith("cardscan: ")]
    expect = {
        "01-empty.jpg": "empty file",
        "02-truncated.jpg": "truncated",
        "03-random.jpg": "unrecognised",
        "04-text.png": "text",
        "05-bomb.png": "max-image-mpixels",
        "06-blank.jpg": "no card text",
        "07-nocard.jpg": "no card text",
    }
    for name, reason in expect.items():
        line = [l for l in errors if name in l]
        assert len(line) == 1, (name, errors)
        assert reason in line[0].lower(), line[0]
    assert not [l for l in errors if "08-good.jpg" in l]
    # nothing stored for the failures, one contact for the good photo
    recs = [json.loads(l) for l in out.read_text().splitlines()]
    assert len(recs) == 8
    good = [x for x in recs if x["file"].endswith("08-good.jpg")][0]
    assert good["emails"] == [CARD_LINES[-1]]
    assert "error" not in good
    assert all("error" in x for x in recs if not x["file"].endswith("08-good.jpg"))
    with sqlite3.connect(db) as con:
        assert con.execute("select count(*) from contacts").fetchone()[0] == 1
    assert report.is_file() and "<html" in report.read_text()[:500].lower()
    assert _hashes(batch) == before  # originals untouched


def test_rescanning_the_same_photo_adds_no_contact(batch, tmp_path, cli):
    db = tmp_path / "c.db"
    good = batch / "08-good.jpg"
    copy = tmp_path / "copy-of-good.jpeg"
    copy.write_bytes(good.read_bytes())
    r1 = cli("scan", str(good), "--db", str(db), "--no-report")
    assert r1.returncode == 0, r1.stderr
    r2 = cli("scan", str(good), str(copy), "--db", str(db), "--no-report", "--jsonl", str(tmp_path / "o.jsonl"))
    assert r2.returncode == 0, r2.stderr
    assert "already scanned" in r2.stdout
    recs = [json.loads(l) for l in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert len(recs) == 2 and all(x["duplicate"] for x in recs)
    with sqlite3.connect(db) as con:
        assert con.execute("select count(*) from contacts").fetchone()[0] == 1


def test_missing_tesseract_data_says_how_to_install(tmp_path, cli, batch):
    r = cli("scan", str(batch / "08-good.jpg"), "--db", str(tmp_path / "c.db"), "--lang", "xyz")
    assert r.returncode == 3
    assert "Traceback" not in r.stderr
    assert "install" in r.stderr.lower()


@pytest.mark.parametrize("args,msg", [
    (["--region", "usa"], "two-letter country code"),
    (["--lang", "eng;rm -rf"], "--lang must look like"),
    (["--jobs", "-1"], "--jobs"),
])
def test_bad_options_are_refused_before_any_work(tmp_path, cli, batch, args, msg):
    r = cli("scan", str(batch / "08-good.jpg"), "--db", str(tmp_path / "c.db"), *args)
    assert r.returncode == 1 and msg in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "c.db").exists()


def test_unwritable_database_location_is_a_clear_error(tmp_path, cli, batch):
    r = cli("scan", str(batch / "08-good.jpg"), "--db", str(tmp_path / "no" / "such" / "dir" / "c.db"))
    assert r.returncode == 5 and "Traceback" not in r.stderr, r.stderr


def test_scan_report_uses_the_review_threshold_given_to_scan(batch, tmp_path, cli):
    """`scan --review-threshold X --report` marks what `report --review-threshold X` marks (it said 60%)."""
    db, scanned, written = tmp_path / "c.db", tmp_path / "scan.html", tmp_path / "report.html"
    r = cli("scan", str(batch / "08-good.jpg"), "--db", str(db), "--report", str(scanned), "-j", "1",
            "--review-threshold", "0.99")
    assert r.returncode == 0, r.stderr
    r = cli("report", "--db", str(db), "-o", str(written), "--review-threshold", "0.99")
    assert r.returncode == 0, r.stderr
    a, b = scanned.read_text(), written.read_text()
    assert "values below 99% confidence are marked for review" in a and "60%" not in a
    assert "⚠ low confidence" in a  # OCR values are below 99%
    generated = re.compile(r"Generated [^·]*·")
    assert generated.sub("", a) == generated.sub("", b)
    low = len(re.findall(r'<tr class="low"', a))
    default = (tmp_path / "default.html")
    assert cli("report", "--db", str(db), "-o", str(default)).returncode == 0
    assert len(re.findall(r'<tr class="low"', default.read_text())) < low


@pytest.mark.parametrize("command", [["scan", "PHOTO"], ["report"], ["status"], ["followup", "approve", "1"]])
def test_a_review_threshold_outside_0_1_is_one_clear_error(tmp_path, cli, batch, command):
    db = tmp_path / "c.db"
    if command[0] != "scan":
        assert cli("scan", str(batch / "08-good.jpg"), "--db", str(db), "--no-report", "-j", "1").returncode == 0
    args = [str(batch / "08-good.jpg") if a == "PHOTO" else a for a in command]
    r = cli(*args, "--db", str(db), "--review-threshold", "1.5")
    assert r.returncode == 1, r.stderr
    assert "--review-threshold must be between 0 and 1, not 1.5" in r.stderr and "Traceback" not in r.stderr
