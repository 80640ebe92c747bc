"""Rows of the reliability checklist (RELIABILITY.md, B9) that no other test file covered.

docs/reliability.md maps every row to its tests, here or elsewhere. Real Tesseract, OpenCV and
SQLite throughout; the only stand-ins are the fault-injection engines of tests/fakes.py, loaded
through the CARDSCAN_TEST_ENGINE_FACTORY hook (tests/reliability_fixtures.py), a stand-in
`tesseract` program that misbehaves, and a real SMTP server (aiosmtpd) with injected faults.
"""
from __future__ import annotations

import json

import hashlib
import io
import os
import re
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cardscan import api

from cardscan.followup import queue as fu

from cardscan.reading.ocr import tesseract as ocr_mod

from cardscan.reading import pipeline
from cardscan.outputs import report as report_mod
from cardscan.reading.decode import decode
from cardscan.errors import ExitCode, InputImageError, OcrFailedError, UnsupportedFormatError
from cardscan.options import Options
from cardscan.parsing.contact import parse_text
from cardscan.store import Store
from imaging_fixtures import CARD_LINES, encode, render_card
from smtp_fixtures import SmtpServer, add, person, smtp_server  # noqa: F401
from tests.reliability_fixtures import CMD_FACTORY, FACTORY, FAULT_ENV, TESSERACT_ENV
from tests.watch_fixtures import (ROOT, card_jpeg, cli_env, count_done, fake_env, output, query, start_watch, stop,
                                  wait_for)

EMAIL = CARD_LINES[-1]  # the invented card's address


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): sha(p.read_bytes()) for p in sorted(folder.rglob("*")) if p.is_file()}


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """`python -m cardscan ...` from the repository (so the test engine factories import)."""
    return subprocess.run([sys.executable, "-m", "cardscan", *args], cwd=ROOT, env=cli_env(env), capture_output=True,
                          text=True, timeout=timeout)


def fault_env(kind: str) -> dict[str, str]:
    return {"CARDSCAN_TEST_ENGINE_FACTORY": FACTORY, FAULT_ENV: kind}


@pytest.fixture
def fresh_engine(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """api caches the in-process engine per Options: start without one, restore it afterwards."""
    import pytesseract

    monkeypatch.setattr(api, "_engine", None)
    monkeypatch.setattr(api, "_options", None)
    # the stand-in engines point pytesseract at a fake program: put the real one back afterwards
    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", pytesseract.pytesseract.tesseract_cmd)
    return monkeypatch


@pytest.fixture(scope="module")
def tess() -> ocr_mod.OcrEngine:
    return ocr_mod.get_engine(Options(engine="tesserocr"))


def small_card() -> np.ndarray:
    return render_card(size=(840, 480))


def read_contact(data: bytes, engine: ocr_mod.OcrEngine) -> pipeline.CardOutcome:
    return pipeline.process_data("card", data, engine, Options())


# =============================================================================== watch arrivals


# RELIABILITY row 1
# RELIABILITY row 3
def test_empty_and_half_written_files_wait_then_complete_or_fail(tmp_path: Path) -> None:
    """0-byte files are 'not ready yet'; a copy that stalls longer than --settle and then completes
    is read once, complete; a file that stays empty is recorded as failed; the watcher lives on."""
    inbox, db = tmp_path / "inbox", tmp_path / "cards.db"
    inbox.mkdir()
    full = card_jpeg(31, scale=0.5)
    later = card_jpeg(32, scale=0.5)
    (inbox / "never.jpg").write_bytes(b"")
    (inbox / "filled.jpg").write_bytes(b"")
    p = start_watch(inbox, db, "-j", "1", "--give-up", "3", env=fake_env())
    try:
        with open(inbox / "stalled.jpg", "wb") as fh:  # 60 %, then nothing for 1.5 s (> --settle 0.4)
            fh.write(full[: int(0.6 * len(full))])
        time.sleep(1.5)
        with open(inbox / "stalled.jpg", "ab") as fh:
            fh.write(full[int(0.6 * len(full)):])
        (inbox / "filled.jpg").write_bytes(later)  # the empty file gets its content
        wait_for(lambda: count_done(db) == 2, 30, "both completed photos", p)
        wait_for(lambda: query(db, "SELECT count(*) FROM unread_files") == [(1,)], 30,
                 "the file that stayed empty to be given up", p)
        assert p.poll() is None
    finally:
        stop(p)
    rows = query(db, "SELECT path, sha256, state FROM photos ORDER BY path")
    assert {Path(r[0]).name: (r[1], r[2]) for r in rows} == {  # each exactly once, complete
        "stalled.jpg": (sha(full), "done"), "filled.jpg": (sha(later), "done")}
    ((path, error),) = query(db, "SELECT path, error FROM unread_files")  # no content, so no hash: by path
    assert Path(path).name == "never.jpg" and error.startswith("empty file")
    assert query(db, "SELECT count(*) FROM contacts") == [(2,)]  # no partial contact
    assert (inbox / "never.jpg").read_bytes() == b""  # untouched
    assert "Traceback" not in output(p)


# =============================================================================== formats


# RELIABILITY row 4
# RELIABILITY row 11
def test_foreign_content_named_jpg_or_png_is_exit_2_naming_the_type(tmp_path: Path) -> None:
    (tmp_path / "random.jpg").write_bytes(np.random.default_rng(4).bytes(4000))
    (tmp_path / "notes.png").write_text("Call back on Monday\n" * 10)
    (tmp_path / "brochure.jpg").write_bytes(b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n" * 10)
    before = hashes(tmp_path)
    r = run("scan", *(str(tmp_path / n) for n in ("random.jpg", "notes.png", "brochure.jpg")),
            "--db", str(tmp_path / "c.db"), "--no-report", "-j", "1", env=fault_env("ok"))
    assert r.returncode == ExitCode.input_file, r.stderr
    lines = [l for l in r.stderr.splitlines() if l.startswith("cardscan: /")]
    for name, what in (("random.jpg", "unrecognised data"), ("notes.png", "text"), ("brochure.jpg", "a PDF document")):
        (line,) = [l for l in lines if name in l]
        assert f"looks like {what}" in line
    assert "Traceback" not in r.stderr
    after = hashes(tmp_path)
    assert {k: after[k] for k in before} == before  # originals untouched


# RELIABILITY row 11
def test_pdf_and_gif_in_a_scanned_folder_are_reported_not_passed_over(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "card.jpg").write_bytes(card_jpeg(33, scale=0.4))
    (photos / "scan.pdf").write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    (photos / "card2.gif").write_bytes(encode(np.full((40, 60, 3), 200, np.uint8), "GIF"))
    (photos / "untitled").write_bytes(b"%PDF-1.7\n")  # no extension: recognised by content
    (photos / "notes.txt").write_text("not a photo, not a card: passed over quietly\n")
    r = run("scan", str(photos), "--db", str(tmp_path / "c.db"), "--no-report", "-j", "1", env=fault_env("ok"))
    assert r.returncode == 0, r.stderr
    assert "1 contacts" in r.stdout and "3 skipped" in r.stdout, r.stdout
    for name, what in (("scan.pdf", "PDF"), ("card2.gif", "GIF"), ("untitled", "PDF")):
        (line,) = [l for l in r.stderr.splitlines() if f"{name}: skipped" in l]
        assert what in line and "JPEG" in line, line  # says what it is and what cardscan reads
    assert "notes.txt" not in r.stderr


# RELIABILITY row 9
@pytest.mark.parametrize("kind", ["cmyk-jpeg", "mpo", "webp", "png16", "rgba-png", "palette-png", "tiff"])
def test_odd_modes_and_containers_are_read_by_tesseract(kind: str, tess: ocr_mod.OcrEngine) -> None:
    card = small_card()
    im = Image.fromarray(card)
    if kind == "cmyk-jpeg":
        data = encode(im.convert("CMYK"), "JPEG", quality=95)
    elif kind == "mpo":
        buf = io.BytesIO()
        im.save(buf, "MPO", save_all=True, append_images=[im.rotate(180)], quality=95)
        data = buf.getvalue()
    elif kind == "webp":
        data = encode(im, "WEBP", quality=92)
    elif kind == "png16":
        data = encode(Image.fromarray(np.asarray(im.convert("L")).astype(np.uint16) * 257), "PNG")
    elif kind == "rgba-png":
        a = np.dstack([card, np.full(card.shape[:2], 255, np.uint8)])
        a[:, :30, 3] = 0  # a transparent margin
        data = encode(Image.fromarray(a, "RGBA"), "PNG")
    elif kind == "palette-png":
        data = encode(im.convert("P", palette=Image.Palette.ADAPTIVE, colors=64), "PNG")
    else:
        data = encode(im, "TIFF", compression="tiff_lzw")
    out = read_contact(data, tess)
    assert out.error is None, out.error
    assert [e.value for e in out.contact.emails] == [EMAIL]


# RELIABILITY row 9
@pytest.mark.parametrize("fmt,named", [("GIF", "a GIF image"), ("JPEG2000", "a JPEG 2000 image")])
def test_gif_and_jpeg2000_are_refused_by_name(fmt: str, named: str) -> None:
    """Deliberate: cardscan reads JPEG/PNG/WEBP/TIFF/BMP/HEIC; a palette GIF or JPEG 2000 is refused
    with a message naming it (the checklist suggests converting them)."""
    im = Image.fromarray(small_card())
    data = encode(im.convert("P") if fmt == "GIF" else im, fmt)
    with pytest.raises(UnsupportedFormatError, match=named):
        decode(data)


# RELIABILITY row 10
def test_multi_frame_policy_is_told_to_the_user(tmp_path: Path) -> None:
    page = Image.open(io.BytesIO(card_jpeg(34, scale=0.4)))
    page.save(tmp_path / "two-pages.tif", save_all=True, append_images=[page.rotate(180)])
    r = run("scan", str(tmp_path / "two-pages.tif"), "--db", str(tmp_path / "c.db"), "--no-report", "-j", "1",
            "--jsonl", str(tmp_path / "o.jsonl"), env=fault_env("ok"))
    assert r.returncode == 0, r.stderr
    assert "first frame" in r.stderr
    (rec,) = [json.loads(l) for l in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert any("first frame" in w for w in rec["warnings"])


# RELIABILITY row 6
def test_200_megapixel_photo_never_exhausts_memory(tmp_path: Path) -> None:
    """Bounded memory and a typed error or a reduced image, never an OOM. Made and read in fresh
    processes; the peak is VmHWM, which starts afresh at exec (ru_maxrss would carry the parent's)."""
    p = tmp_path / "huge.jpg"
    make = ("import sys; from PIL import Image\n"
            "Image.new('L', (16330, 12250), 200).save(sys.argv[1], 'JPEG', quality=50)\n")  # 200 MP in 2 MB
    subprocess.run([sys.executable, "-c", make, str(p)], check=True, timeout=60)
    code = (
        "import re, sys\n"
        "from cardscan.reading.decode import read_image_file\n"
        "from cardscan.errors import InputImageError\n"
        "try:\n"
        "    d = read_image_file(sys.argv[1], max_side=2016)[1]\n"
        "    out = 'DECODED %dx%d' % d.pixels.shape[1::-1]\n"
        "except InputImageError as e:\n"
        "    out = 'REFUSED ' + str(e)\n"
        "hwm = re.search(r'VmHWM:\\s+(\\d+) kB', open('/proc/self/status').read()).group(1)\n"
        "print(hwm, out)\n"
    )
    r = subprocess.run([sys.executable, "-c", code, str(p)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    peak_kb, verdict = r.stdout.split(" ", 1)
    assert int(peak_kb) < 300_000  # the full image would be 200 MB grey, 600 MB as RGB
    assert verdict.startswith(("DECODED 2016x", "REFUSED image is too large")), verdict


# RELIABILITY row 6
def test_200_megapixel_photo_under_the_limit_is_reduced_on_decode() -> None:
    data = encode(Image.new("L", (16330, 12250), 200), "JPEG", quality=50)
    d = decode(data, max_mpixels=250, max_side=2016)
    assert max(d.pixels.shape[:2]) == 2016 and d.original_size == (16330, 12250)
    with pytest.raises(InputImageError, match="too large: 16330x12250 = 200 megapixels, over the limit of 150"):
        decode(data, max_mpixels=150, max_side=2016)


# RELIABILITY row 7
def test_no_stage_uses_a_decoder_that_returns_none() -> None:
    """cv2.imread/imdecode return None on failure; cardscan decodes only in decode.py with Pillow,
    whose failures become InputImageError (fuzzed in test_decode::test_mangled_files_fail_cleanly)."""
    src = Path(api.__file__).parent
    users = [p.name for p in src.rglob("*.py") if re.search(r"cv2\.im(read|decode)\b", p.read_text(encoding="utf-8"))]
    assert users == []


# RELIABILITY row 12
@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_rotated_photo_gives_the_same_contact_as_the_upright_one(orientation: int,
                                                                    tess: ocr_mod.OcrEngine) -> None:
    card = Image.fromarray(small_card())
    upright = read_contact(encode(card, "JPEG", quality=95), tess)
    stored = card.transpose({3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90,
                             8: Image.Transpose.ROTATE_270}[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    turned = read_contact(encode(stored, "JPEG", quality=95, exif=exif.tobytes()), tess)
    assert upright.error is None and turned.error is None
    assert turned.original_size == stored.size
    keys = ("name", "company", "emails", "phones")
    a, b = upright.contact.to_record(), turned.contact.to_record()
    assert {k: b[k] for k in keys} == {k: a[k] for k in keys}
    assert a["emails"] == [EMAIL] and a["name"] == CARD_LINES[0]


# =============================================================================== OCR faults


# RELIABILITY row 13
def test_blank_black_and_textless_photos_invent_nothing(tmp_path: Path, fresh_engine: pytest.MonkeyPatch) -> None:
    """Deliberate difference: cardscan records the photo as failed ('no card text found', exit 2)
    instead of a needs-review contact; no field is invented."""
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(5)
    (photos / "white.png").write_bytes(encode(np.full((480, 840, 3), 255, np.uint8), "PNG"))
    (photos / "black.png").write_bytes(encode(np.zeros((480, 840, 3), np.uint8), "PNG"))
    (photos / "texture.jpg").write_bytes(encode(rng.integers(90, 160, (480, 840, 3), dtype=np.uint8), "JPEG"))
    db = tmp_path / "c.db"
    res = api.scan([photos], options=Options(db=db, jobs=1, engine="tesserocr"))
    assert len(res.items) == 3 and res.contacts == 0
    assert all(i.error and "no card text" in i.error for i in res.items), res.items
    assert res.exit_code == ExitCode.input_file
    assert query(db, "SELECT count(*) FROM contacts") == [(0,)] and query(db, "SELECT count(*) FROM fields") == [(0,)]
    assert query(db, "SELECT count(*) FROM photos WHERE state = 'failed'") == [(3,)]


# RELIABILITY row 14
@pytest.mark.parametrize("command", ["scan", "watch"])
def test_missing_tesseract_stops_at_startup_with_exit_3_and_a_hint(tmp_path: Path, command: str) -> None:
    """There is no `doctor` command: scan and watch check the engine before any photo."""
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a.jpg").write_bytes(card_jpeg(35, scale=0.4))
    before = hashes(photos)
    env = {"PATH": str(tmp_path / "empty-bin")}  # no tesseract program anywhere
    args = [command, str(photos), "--db", str(tmp_path / "c.db"), "--engine", "pytesseract", "--no-report"]
    if command == "watch":
        args.append("--once")
    r = run(*args, env=env, timeout=60)
    assert r.returncode == ExitCode.missing_dependency, r.stdout + r.stderr
    assert "tesseract command was not found" in r.stderr and "apt-get install tesseract-ocr" in r.stderr
    assert "Traceback" not in r.stderr
    assert query(tmp_path / "c.db", "SELECT count(*) FROM photos WHERE state = 'failed'") in ([], [(0,)])
    assert hashes(photos) == before


# RELIABILITY row 15
# RELIABILITY row 16
@pytest.mark.parametrize("kind,says", [("timeout", "timed out after 0.2 s"), ("crash", "exit -11")])
def test_ocr_hang_or_crash_fails_that_photo_and_the_next_one_is_read(tmp_path: Path, kind: str, says: str,
                                                                   fresh_engine: pytest.MonkeyPatch) -> None:
    fresh_engine.setenv("CARDSCAN_TEST_ENGINE_FACTORY", FACTORY)
    fresh_engine.setenv(FAULT_ENV, kind)
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a.jpg").write_bytes(card_jpeg(36, scale=0.4))  # read first: meets the fault
    (photos / "b.jpg").write_bytes(card_jpeg(37, scale=0.4))
    before = hashes(photos)
    db = tmp_path / "c.db"
    t = time.perf_counter()
    res = api.scan([photos], options=Options(db=db, jobs=1))
    assert time.perf_counter() - t < 20
    a, b = sorted(res.items, key=lambda i: i.path)
    assert a.error and says in a.error and a.exit_code == ExitCode.ocr_failed
    assert b.error is None and b.contact_id is not None
    assert res.exit_code == ExitCode.ocr_failed
    assert query(db, "SELECT state, error FROM photos WHERE path LIKE '%a.jpg'")[0][0] == "failed"
    assert says in query(db, "SELECT error FROM photos WHERE path LIKE '%a.jpg'")[0][0]
    assert hashes(photos) == before


# RELIABILITY row 18
def test_invalid_utf8_from_tesseract_is_replaced_and_the_card_is_stored(tmp_path: Path,
                                                                       fresh_engine: pytest.MonkeyPatch) -> None:
    fresh_engine.setenv("CARDSCAN_TEST_ENGINE_FACTORY", FACTORY)
    fresh_engine.setenv(FAULT_ENV, "badutf8")
    (tmp_path / "a.jpg").write_bytes(card_jpeg(38, scale=0.4))
    db = tmp_path / "c.db"
    res = api.scan([tmp_path / "a.jpg"], options=Options(db=db, jobs=1))
    (item,) = res.items
    assert item.error is None and item.contact_id is not None
    with Store(db) as s:
        rec = s.contact(item.contact_id)
    assert [e.value for e in rec.contact.emails] == ["info@example.org"]
    (raw,) = query(db, "SELECT raw_text FROM cards")[0]
    assert "\ufffd" in raw  # kept as read, with replacement characters


def _tesseract_stand_in(tmp_path: Path, body: str) -> str:
    p = tmp_path / "bin" / "tesseract"
    p.parent.mkdir(exist_ok=True)
    p.write_text('#!/bin/sh\ncase "$1" in --version) echo "tesseract 5.3.0"; exit 0;; esac\n' + body)
    p.chmod(p.stat().st_mode | stat.S_IXUSR)
    return str(p)


# RELIABILITY row 17
def test_empty_tsv_with_exit_0_is_no_text_not_a_crash(tmp_path: Path, fresh_engine: pytest.MonkeyPatch) -> None:
    """Deliberate difference: an empty (header-less) result with exit 0 is 'no card text found'
    (ocr.py treats an empty read as data; the pipeline decides there is no card)."""
    fresh_engine.setenv("CARDSCAN_TEST_ENGINE_FACTORY", CMD_FACTORY)
    fresh_engine.setenv(TESSERACT_ENV, _tesseract_stand_in(tmp_path, ': > "$2.tsv"\nexit 0\n'))
    (tmp_path / "a.jpg").write_bytes(card_jpeg(39, scale=0.4))
    res = api.scan([tmp_path / "a.jpg"], options=Options(db=tmp_path / "c.db", jobs=1))
    (item,) = res.items
    assert item.error and "no card text" in item.error and item.contact_id is None


# RELIABILITY row 17
def test_tesseract_exit_0_without_output_is_an_ocr_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pytesseract

    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", _tesseract_stand_in(tmp_path, "exit 0\n"))
    eng = ocr_mod.PytesseractEngine("eng", timeout=10, check=False)
    with pytest.raises(OcrFailedError):
        eng.read(small_card())


# RELIABILITY row 17
def test_tesseract_exit_0_without_output_fails_the_photo_not_the_batch(tmp_path: Path,
                                                                      fresh_engine: pytest.MonkeyPatch) -> None:
    fresh_engine.setenv("CARDSCAN_TEST_ENGINE_FACTORY", CMD_FACTORY)
    fresh_engine.setenv(TESSERACT_ENV, _tesseract_stand_in(tmp_path, "exit 0\n"))
    for n in ("a", "b"):
        (tmp_path / f"{n}.jpg").write_bytes(card_jpeg(40 + ord(n), scale=0.4))
    res = api.scan([tmp_path / "a.jpg", tmp_path / "b.jpg"], options=Options(db=tmp_path / "c.db", jobs=1))
    assert len(res.items) == 2
    assert all(i.exit_code == ExitCode.ocr_failed and "no card text" not in (i.error or "") for i in res.items)


# =============================================================================== review before sending


# RELIABILITY row 22
def test_lookalike_repairs_are_flagged_and_never_approved_without_a_person(tmp_path: Path) -> None:
    phone_card = parse_text("Robin Testperson\nField Engineer\nTel: (2O1) 555-0l23\nrobin@widgets.example.com",
                            region="US")
    (ph,) = phone_card.phones
    assert ph.number == "+12015550123" and "low_confidence" in ph.flags
    mail_card = parse_text("Kim Other\nSales Lead\nkim.other © widgets.example.com", region="US")
    (em,) = mail_card.emails
    assert em.value == "kim.other@widgets.example.com" and em.flags
    with Store(tmp_path / "c.db") as s:
        add(s, "phone", phone_card)
        add(s, "mail", mail_card)
        fu.ensure_drafts(s)
        drafts = {e.contact_id: e.id for e in fu.entries(s, state="draft")}
        ids = list(drafts.values())
        assert len(ids) == 2
        assert fu.reviewed_drafts(s) == []  # "approve every reviewed draft" takes neither
        mail_id = next(i for i in ids if fu.get(s, i).to_addr.startswith("kim"))
        result = fu.approve(s, [mail_id])
        assert result.approved == () and "review" in result.refused[0][1]
        assert {fu.get(s, i).state for i in ids} == {"draft"}


# =============================================================================== store and report


# RELIABILITY row 34
def test_report_while_a_batch_is_writing_reads_the_committed_snapshot(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    with Store(db) as s:
        cid = add(s, "a", person("Robin Testperson", "robin@widgets.example.com"))
    writer = sqlite3.connect(db, timeout=1, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")  # a batch in the middle of storing a card
        writer.execute("UPDATE fields SET value = 'Half Written' WHERE contact_id = ? AND name = 'name'", (cid,))
        out = tmp_path / "r.html"
        t = time.perf_counter()
        r = run("report", "--db", str(db), "-o", str(out), timeout=60)
        assert r.returncode == 0, r.stderr
        assert time.perf_counter() - t < 30
        html = out.read_text()
        assert "Robin Testperson" in html and "Half Written" not in html
        writer.execute("COMMIT")  # the batch is unaffected by the reader
    finally:
        writer.close()
    assert query(db, "SELECT value FROM fields WHERE contact_id = ? AND name = 'name' AND is_current = 1", (cid,)) \
        == [("Half Written",)]


# =============================================================================== sending


def _config_toml(server: SmtpServer, path: Path, rate: int = 6000) -> Path:
    server.config_toml(path)
    path.write_text(path.read_text().replace("rate_per_minute = 6000", f"rate_per_minute = {rate}"))
    return path


# RELIABILITY row 37
def test_send_with_only_unapproved_drafts_sends_nothing(tmp_path: Path, smtp_server: SmtpServer) -> None:  # noqa: F811
    """Deliberate difference: drafts are not refused with an error; `send` sends approved entries
    only, says '0 sent' and exits 0; the drafts stay drafts and no connection is made."""
    db = tmp_path / "c.db"
    with Store(db) as s:
        add(s, "a", person("Robin Testperson", "robin@widgets.example.com"))
        add(s, "b", person("Kim Other", "kim@widgets.example.com"))
        fu.ensure_drafts(s, config=smtp_server.config())
    env = {"CARDSCAN_CONFIG": str(_config_toml(smtp_server, tmp_path / "config.toml")), "HOME": str(tmp_path)}
    r = run("followup", "send", "--db", str(db), env=env)
    assert r.returncode == 0, r.stderr
    assert "0 sent" in r.stdout
    assert smtp_server.handler.ehlos == 0 and smtp_server.handler.received == []
    with Store(db) as s:
        assert {e.state for e in fu.entries(s)} == {"draft"}


# RELIABILITY row 40
def test_uncertain_delivery_is_surfaced_in_the_report(tmp_path: Path, smtp_server: SmtpServer) -> None:  # noqa: F811
    db = tmp_path / "c.db"
    cfg = smtp_server.config()
    with Store(db) as s:
        add(s, "a", person("Robin Testperson", "robin@widgets.example.com"))
        fu.ensure_drafts(s, config=cfg)
        (fid,) = [e.id for e in fu.entries(s)]
        fu.approve(s, [fid], config=cfg)
        smtp_server.handler.drop_after_data = 1
        fu.send_queue(s, cfg)
        assert fu.get(s, fid).state == "uncertain"
        html = report_mod.write_report(s, tmp_path / "r.html").read_text()
    shown = re.search(rf'Follow-up #{fid} <span class="state state-(\w+)">([^<]*)</span>', html)
    assert shown and shown.group(1) == "uncertain", shown
    assert len(smtp_server.handler.received) == 1


# RELIABILITY row 42
def test_throttled_send_interrupted_by_ctrl_c_resumes_without_duplicates(tmp_path: Path,
                                                                       smtp_server: SmtpServer) -> None:  # noqa: F811
    db = tmp_path / "c.db"
    cfg = smtp_server.config()
    n = 4
    with Store(db) as s:
        for i in range(n):
            add(s, f"p{i}", person(f"Person Number{i}", f"p{i}@widgets.example.com"))
        fu.ensure_drafts(s, config=cfg)
        fu.approve(s, [e.id for e in fu.entries(s)], config=cfg)
    env = {"CARDSCAN_CONFIG": str(_config_toml(smtp_server, tmp_path / "config.toml", rate=40)), "HOME": str(tmp_path)}
    p = subprocess.Popen([sys.executable, "-m", "cardscan", "followup", "send", "--db", str(db)], cwd=ROOT,
                         env=cli_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: len(smtp_server.handler.received) >= 1, 30, "the first message")
        time.sleep(0.3)  # 40 a minute: the sender now waits 1.5 s for the next one
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == ExitCode.ctrl_c, err
    assert "Traceback" not in err
    first = len(smtp_server.handler.received)
    assert 1 <= first < n
    with Store(db) as s:
        states = [e.state for e in fu.entries(s)]
        assert states.count("sent") == first and states.count("approved") == n - first
    r = run("followup", "send", "--db", str(db), env={**env, "CARDSCAN_CONFIG": str(
        _config_toml(smtp_server, tmp_path / "fast.toml"))})
    assert r.returncode == 0 and f"{n - first} sent" in r.stdout, r.stdout + r.stderr
    got = sorted(x.rcpt_tos[0] for x in smtp_server.handler.received)
    assert got == sorted(f"p{i}@widgets.example.com" for i in range(n))  # each exactly once


# =============================================================================== Ctrl-C


# RELIABILITY row 45
def test_ctrl_c_during_scan_exits_130_and_keeps_committed_cards(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(4):
        (photos / f"c{i}.jpg").write_bytes(card_jpeg(50 + i, scale=0.4))
    before = hashes(photos)
    db = tmp_path / "c.db"
    args = ["scan", str(photos), "--db", str(db), "--no-report", "-j", "1"]
    p = subprocess.Popen([sys.executable, "-m", "cardscan", *args], cwd=ROOT, env=cli_env(fake_env(delay=1.0)),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        wait_for(lambda: query(db, "SELECT count(*) FROM contacts") not in ([], [(0,)]), 30, "the first card")
        os.killpg(p.pid, signal.SIGINT)  # Ctrl-C in a terminal reaches the whole group
        out, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    assert p.returncode == ExitCode.ctrl_c, err
    assert "Traceback" not in err and "interrupted" in err
    kept = query(db, "SELECT count(*) FROM contacts")[0][0]
    assert 1 <= kept < 4
    assert query(db, "SELECT count(*) FROM cards")[0][0] == kept  # no half-stored card
    assert query(db, "SELECT count(*) FROM photos WHERE state NOT IN ('done')") == [(0,)]
    assert hashes(photos) == before
    r = run("scan", str(photos), "--db", str(db), "--no-report", "-j", "1", env=fake_env())
    assert r.returncode == 0, r.stderr
    assert query(db, "SELECT count(*) FROM contacts") == [(4,)]  # the rest, and nothing twice
    assert r.stdout.count("already scanned") == kept


# RELIABILITY row 16 (a bug, not a Tesseract failure)
def test_an_unexpected_error_fails_that_photo_with_its_reason_not_the_batch() -> None:
    from cardscan.reading import pipeline
    class Broken:  # fault injection: a bug somewhere below the pipeline
        name = "broken"

        def read(self, rgb: np.ndarray, /, *, psm: int = 3) -> object:
            raise ValueError("boom")

        def orientation(self, rgb: np.ndarray, /) -> int:
            return 0

    out = pipeline.process_data("x.jpg", card_jpeg(7, scale=0.4), Broken(), Options())  # type: ignore[arg-type]
    assert out.error == "internal error (ValueError: boom)"
    assert out.exit_code == ExitCode.other_error and out.sha256
