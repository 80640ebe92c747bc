"""Shared fixtures for the report / review browser tests: a real headless Chromium (Debian's
/usr/bin/chromium, driven by Playwright; never `playwright install`) and a store filled with
invented contacts, real JPEG crops and one card whose text is an attack."""
from __future__ import annotations

import atexit
import hashlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from cardscan.models import SOURCE_QR, Contact, Field, Phone
from cardscan.reading.pipeline import encode_crop
from cardscan.store import Store

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]

XSS = "<script>alert(1)</script>"
XSS_IMG = '"><img src=x onerror=alert(2)>'
XSS_SVG = "<svg onload=alert(3)>"
JS_LINK = "javascript:alert(4)"
CSS_LEAK = '"><style>body{background:url(https://tracker.example/leak)}</style>'

VALID_JP = "+81312345678"  # Tokyo number format, valid in libphonenumber's metadata


_shared: dict[str, object] = {}


def _close_shared() -> None:
    b, pw = _shared.pop("browser", None), _shared.pop("playwright", None)
    if b is not None:
        b.close()  # type: ignore[attr-defined]
    if pw is not None:
        pw.stop()  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def browser() -> object:
    """One headless Chromium per test process, shared by every module that imports this fixture
    (Playwright's sync API allows one running instance per thread)."""
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is missing: apt-get install chromium (make test does it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install '.[test]'")
    if "browser" not in _shared:
        pw = sync_api.sync_playwright().start()
        _shared["playwright"] = pw
        _shared["browser"] = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        atexit.register(_close_shared)
    return _shared["browser"]


@dataclass
class PageWatch:
    """What a page did: every request URL and every dialog (alert/confirm/prompt)."""

    requests: list[str]
    dialogs: list[str]


@pytest.fixture
def page(browser: object) -> Iterator[tuple[object, PageWatch]]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})  # type: ignore[attr-defined]
    pg = context.new_page()
    watch = PageWatch([], [])
    pg.on("request", lambda r: watch.requests.append(r.url))

    def on_dialog(d: object) -> None:
        watch.dialogs.append(d.message)  # type: ignore[attr-defined]
        d.dismiss()  # type: ignore[attr-defined]

    pg.on("dialog", on_dialog)
    try:
        yield pg, watch
    finally:
        context.close()


def card_jpeg(lines: list[str], seed: int) -> bytes:
    """A real JPEG card crop (light card, dark text lines, a coloured band)."""
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (1050, 600), (246, 244, 238))
    d = ImageDraw.Draw(img)
    colour = tuple(int(x) for x in rng.integers(30, 200, 3))
    d.rectangle((0, 0, 1050, 40), fill=colour)
    for i, text in enumerate(lines):
        d.text((70, 110 + 70 * i), text, fill=(20, 20, 20), font_size=40)
    return encode_crop(np.asarray(img), 1000)


@dataclass(frozen=True)
class Filled:
    db: Path
    good: int  # valid JP phone, e-mail, a follow-up draft
    hostile: int  # every field is an attack
    doubtful: int  # low-confidence values: needs review
    twin: int  # shares an e-mail with `good`: a possible duplicate
    followup: int  # draft follow-up of `good`
    read_phone: str  # the phone of `good` as read from the card
    contacts: int


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def fill_store(db: Path) -> Filled:
    """Invented contacts in two events, each with a real JPEG crop, and one follow-up draft."""
    good = Contact(
        name=Field("Aiko Fictional", 0.94), title=Field("Head of Imaginary Research", 0.88),
        company=Field("Nowhere Optics K.K.", 0.9), address=Field("1-2-3 Example-cho, Chiyoda, Tokyo", 0.72),
        emails=(Field("aiko@nowhere-optics.example", 0.97),),
        phones=(Phone(VALID_JP, "work", "Tel 03-1234-5678", 0.9),),
        websites=(Field("www.nowhere-optics.example", 0.85),), region="JP",
        raw_text="Aiko Fictional\nHead of Imaginary Research\nTel 03-1234-5678")
    hostile = Contact(
        name=Field(XSS, 0.95), title=Field(XSS_IMG, 0.9), company=Field(XSS_SVG, 0.9),
        address=Field(CSS_LEAK, 0.9),
        emails=(Field('x@evil.example" onmouseover="alert(5)', 0.9), Field(JS_LINK, 0.9)),
        phones=(Phone("javascript:alert(6)", "work", JS_LINK, 0.9),),
        websites=(Field(JS_LINK, 0.95), Field("data:text/html,<script>alert(7)</script>", 0.95, source=SOURCE_QR),
                  Field("https://evil.example/\"><script>alert(8)</script>", 0.95)),
        region="US", raw_text=f"{XSS}\n{XSS_IMG}\n{JS_LINK}\n<iframe src=https://tracker.example/></iframe>")
    doubtful = Contact(
        name=Field("Rem Placeholder", 0.41, flags=("low_confidence",)), company=Field("Sample Works Ltd", 0.55),
        phones=(Phone("0201234", "other", "020 1234", 0.3, flags=("invalid",), message="too short for GB"),),
        emails=(Field("rem@sample-works.example", 0.58),), region="GB", raw_text="Rem Placeholder")
    twin = Contact(
        name=Field("Aiko Fictional", 0.8), company=Field("Nowhere Optics", 0.7),
        emails=(Field("aiko@nowhere-optics.example", 0.95),), region="JP", raw_text="Aiko Fictional")
    ids = {}
    with Store(db) as store:
        for i, (key, c, event) in enumerate([("good", good, "Spring Fair"), ("hostile", hostile, CSS_LEAK),
                                             ("doubtful", doubtful, "Spring Fair"), ("twin", twin, "Autumn Expo")]):
            crop = card_jpeg([(c.name.value if c.name else "")[:40], (c.company.value if c.company else "")[:40]], i)
            ids[key] = store.record_success(_sha(key), f"/cards/{key}.jpg", contact=c, crop_jpeg=crop,
                                            ocr_engine="test", ocr_conf=80.0, event=event, note=f"met at booth {i}",
                                            fmt="JPEG", size=len(crop), original_size=(1050, 600))
        ts = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        with store.write() as conn:
            fid = conn.execute(
                "INSERT INTO followups (contact_id, event_id, state, to_addr, subject, body, created_at, updated_at) "
                "SELECT ?, event_id, 'draft', ?, ?, ?, ?, ? FROM contacts WHERE id = ?",
                (ids["good"], "aiko@nowhere-optics.example", "Nice to meet you at Spring Fair",
                 "Dear Aiko,\n\nthank you for the talk about imaginary optics.\n", ts, ts, ids["good"])).lastrowid
        store.record_failure(_sha("broken"), "/cards/broken.jpg", "no card found in the photo")
    return Filled(db, ids["good"], ids["hostile"], ids["doubtful"], ids["twin"], int(fid), VALID_JP, 4)


@pytest.fixture(scope="session")
def filled_template(tmp_path_factory: pytest.TempPathFactory) -> Filled:
    d = tmp_path_factory.mktemp("filled")
    return fill_store(d / "cards.db")


@pytest.fixture
def filled(filled_template: Filled, tmp_path: Path) -> Filled:
    """A fresh copy of the filled database for one test."""
    db = tmp_path / "cards.db"
    with Store(filled_template.db) as s:  # fold the WAL into the main file before copying
        s.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(filled_template.db, db)
    return Filled(db, filled_template.good, filled_template.hostile, filled_template.doubtful, filled_template.twin,
                  filled_template.followup, filled_template.read_phone, filled_template.contacts)
