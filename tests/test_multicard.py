"""Several business cards in one photo: each card becomes its own contact, and one card is never
split into several. Real OpenCV and Tesseract on composed photos of cards from cardscan.bench.synth."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import cv2
import numpy as np
import pytest

from cardscan import api

from cardscan.bench import synth
from cardscan.models import DecodedImage
from cardscan.options import Options
from cardscan.reading.preprocess import find_several_cards, preprocess, preprocess_all
from cardscan.store import Store
from imaging_fixtures import card_corners, encode, place, render_card, wood_background

# (centre x, centre y, turn in degrees) on a 3000 x 2000 photo
TWO = ((800, 1000, 4.0), (2200, 1000, -3.0))
FOUR = ((780, 520, 3.0), (2200, 520, -2.0), (780, 1480, -4.0), (2200, 1480, 2.0))
SIZE = (3000, 2000)


def _card(seed: int) -> synth.SynthCard:
    return synth.make_card(seed, qr=None)  # no QR: the text alone must make each contact


def _noisy_jpeg(rgb: np.ndarray, seed: int) -> bytes:
    """Sensor-like noise and JPEG compression, as a camera or scanner file."""
    noise = np.random.default_rng(seed).normal(0, 2.5, rgb.shape)
    return encode(np.clip(rgb.astype(np.float32) + noise, 0, 255).astype(np.uint8), "JPEG", quality=90)


def compose(cards: list[synth.SynthCard], layout: tuple[tuple[float, float, float], ...], *, width: float,
            bed: int | None = None, seed: int = 3) -> bytes:
    """The cards laid out on a wood table (bed=None) or on a scanner bed of grey level ``bed``; on
    the bed each card casts the thin shadow a scanner lamp makes along two of its edges."""
    W, H = SIZE
    img = wood_background(W, H, seed=seed) if bed is None else np.full((H, W, 3), bed, np.uint8)
    for c, (cx, cy, ang) in zip(cards, layout):
        h, w = c.pixels.shape[:2]
        q = card_corners(cx, cy, width, w / h, ang)
        if bed is not None:
            m = place(np.zeros_like(img), np.full_like(c.pixels, 255), q)[..., 0].astype(np.float32) / 255
            shadow = np.roll(cv2.GaussianBlur(m, (0, 0), 3), (3, 3), axis=(0, 1))[..., None]
            img = (img * (1 - 0.3 * shadow)).astype(np.uint8)
        img = place(img, c.pixels, q)
    return _noisy_jpeg(img, seed)


def decoded(data: bytes) -> DecodedImage:
    from cardscan.reading import decode
    return decode.decode(data, max_side=2016)


def scan(tmp_path: Path, photos: dict[str, bytes]) -> tuple[api.ScanResult, Path]:
    d = tmp_path / "photos"
    d.mkdir(exist_ok=True)
    for name, data in photos.items():
        (d / name).write_bytes(data)
    db = tmp_path / "c.db"
    res = api.scan([d], options=Options(db=db, jobs=1, followup_drafts=False))
    return res, db


def stored_emails(db: Path) -> list[set[str]]:
    with Store(db) as st:
        return [{e.value.lower() for e in r.contact.emails} for r in st.contacts()]


# ---- several cards: each its own contact --------------------------------------------------------


@pytest.mark.parametrize(("layout", "bed", "seeds"), [
    (TWO, None, (11, 12)),  # two cards side by side on a table
    (FOUR, 246, (13, 14, 15, 16)),  # four cards on a white scanner bed (weak edges)
], ids=["two-on-table", "four-on-scanner"])
def test_each_card_of_the_photo_is_its_own_contact(tmp_path, layout, bed, seeds) -> None:
    cards = [_card(s) for s in seeds]
    res, db = scan(tmp_path, {"table.jpg": compose(cards, layout, width=1150, bed=bed)})
    items = [i for i in res.items if i.contact_id is not None]
    assert sorted(i.card_index for i in items) == list(range(len(cards)))
    assert len({i.sha256 for i in items}) == 1
    got = stored_emails(db)
    assert len(got) == len(cards)
    for c in cards:  # each card's e-mail in exactly one contact, and that contact has only its own
        owner = [g for g in got if c.truth["emails"][0].lower() in g]
        assert len(owner) == 1, (c.truth["emails"], got)
        assert owner[0] <= {e.lower() for e in c.truth["emails"]}


def test_four_cards_found_in_reading_order_and_small_cards_decoded_larger() -> None:
    cards = [_card(s) for s in (100, 101, 102, 103)]
    data = compose(cards, FOUR, width=1150)
    img = decoded(data)
    asked: list[int] = []

    def larger(side: int) -> DecodedImage:
        asked.append(side)
        from cardscan.reading import decode
        return decode.decode(data, max_side=side)

    found = preprocess_all(img, larger=larger)
    assert len(found) == 4
    centres = [np.mean(np.asarray(c.quad), axis=0) for c in found]
    assert centres[0][1] < centres[2][1] and centres[0][0] < centres[1][0] and centres[2][0] < centres[3][0]
    # each card is ~770 px long in the 2016 px decode: the photo was decoded again, larger
    assert asked and asked[0] > 2016
    assert all(c.method == "several" and max(c.pixels.shape[:2]) == 1500 for c in found)


def test_cli_scan_stores_each_card_and_a_rescan_adds_nothing(tmp_path, cli) -> None:
    cards = [_card(s) for s in (31, 32)]
    d = tmp_path / "photos"
    d.mkdir()
    (d / "pair.jpg").write_bytes(compose(cards, TWO, width=1150, bed=240, seed=5))
    db, out = tmp_path / "c.db", tmp_path / "out.jsonl"
    r = cli("scan", str(d), "--db", str(db), "--jsonl", str(out), "-j", "1", "--no-drafts")
    assert r.returncode == 0, r.stderr
    recs = [json.loads(l) for l in out.read_text().splitlines()]
    assert len(recs) == 2 and [r_.get("card", 0) for r_ in recs] == [0, 1]
    assert {e.lower() for r_ in recs for e in r_["emails"]} >= {c.truth["emails"][0].lower() for c in cards}
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT count(*) FROM cards").fetchone()[0] == 2
    r2 = cli("scan", str(d), "--db", str(db), "--jsonl", str(out), "-j", "1", "--no-drafts")
    assert r2.returncode == 0, r2.stderr
    again = [json.loads(l) for l in out.read_text().splitlines()]
    assert len(again) == 2 and all(r_.get("duplicate") for r_ in again)
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT count(*) FROM cards").fetchone()[0] == 2
    st = cli("status", "--db", str(db), "--json")
    assert st.returncode == 0, st.stderr
    counts = json.loads(st.stdout)["counts"]
    assert counts["photos_done"] == 1 and counts["contacts"] == 2 and counts["photos_failed"] == 0


# ---- one card is never split -----------------------------------------------------------------------


def _single_on_table(card: np.ndarray, bg: np.ndarray, *, angle: float = 6.0) -> np.ndarray:
    H, W = bg.shape[:2]
    q = card_corners(W * 0.5, H * 0.5, W * 0.6, card.shape[1] / card.shape[0], angle, tilt=0.05)
    return place(bg, card, q)


def framed_card() -> np.ndarray:
    """A card with a strong inner frame line and a rule across its middle."""
    c = render_card(accent=None).copy()
    h, w = c.shape[:2]
    cv2.rectangle(c, (24, 24), (w - 25, h - 25), (20, 30, 90), 9)
    cv2.line(c, (24, h // 2), (w - 25, h // 2), (20, 30, 90), 7)
    return c


def half_block_card() -> np.ndarray:
    """The left half of the card a solid colour block with a logo word, the text on the right."""
    w, h = 1050, 600
    c = np.full((h, w, 3), (250, 250, 246), np.uint8)
    c[:, : w // 2] = (190, 40, 50)
    cv2.putText(c, "ACME", (60, h // 2), cv2.FONT_HERSHEY_DUPLEX, 3, (255, 255, 255), 6)
    text = cv2.resize(render_card(accent=None), (w // 2 - 20, int((w // 2 - 20) * 600 / 1050)), interpolation=cv2.INTER_AREA)
    y = (h - text.shape[0]) // 2
    c[y:y + text.shape[0], w // 2 + 10: w // 2 + 10 + text.shape[1]] = text
    return c


def busy_background(W: int, H: int) -> np.ndarray:
    """A patterned table cloth: card-sized tiles with lines and letters on them."""
    bg = np.full((H, W, 3), (200, 190, 160), np.uint8)
    tile = 260
    for y in range(0, H, tile):
        for x in range(0, W, tile):
            col = (120, 60, 40) if (x // tile + y // tile) % 2 else (60, 90, 130)
            cv2.rectangle(bg, (x + 12, y + 12), (x + int(tile * 1.6) - 12, y + tile - 12), col, 5)
            cv2.putText(bg, "ab", (x + 40, y + 120), cv2.FONT_HERSHEY_SIMPLEX, 1.5, col, 3)
    return bg


NEGATIVES = {
    "inner-frame": lambda: _single_on_table(framed_card(), wood_background(2000, 1500, seed=7)),
    "half-block": lambda: _single_on_table(half_block_card(), np.full((1500, 2000, 3), (40, 40, 45), np.uint8)),
    "busy-table": lambda: _single_on_table(render_card(), busy_background(2000, 1500), angle=-4.0),
    "on-scanner": lambda: _single_on_table(framed_card(), np.full((1500, 2000, 3), 245, np.uint8), angle=0.5),
}


@pytest.mark.parametrize("name", sorted(NEGATIVES))
def test_one_card_is_not_split(name: str) -> None:
    rgb = NEGATIVES[name]()
    img = DecodedImage(pixels=rgb, format="PNG", original_size=(rgb.shape[1], rgb.shape[0]))
    assert find_several_cards(img) == []
    cards = preprocess_all(img)
    assert len(cards) == 1
    one = preprocess(img)  # the single-card path: the same card, byte for byte
    assert cards[0].quad == one.quad and np.array_equal(cards[0].pixels, one.pixels)


def test_one_card_photos_give_one_contact_each(tmp_path) -> None:
    photos = {f"{n}.jpg": encode(NEGATIVES[n](), "JPEG", quality=92) for n in ("inner-frame", "half-block", "busy-table")}
    res, db = scan(tmp_path, photos)
    items = [i for i in res.items if i.contact_id is not None]
    assert len(items) == 3 and all(i.card_index == 0 for i in items)
    assert len(stored_emails(db)) == 3


def test_synthetic_single_card_photos_are_never_split() -> None:
    """Photos and scans of one card from the synth renderer (with their desk clutter: phones,
    paper, pens) show one card."""
    for seed in range(40, 48):
        card = synth.make_card(seed)
        for kind in ("photo", "scan"):
            ph = synth.photograph(card, seed, kind)
            assert find_several_cards(decoded(ph.data)) == [], (seed, kind)


def test_report_shows_each_card_of_a_photo_with_its_own_crop(tmp_path) -> None:
    """Two contacts from one photo: each is shown beside its own card, not the photo's first."""
    import re

    from cardscan.outputs.report import write_report

    cards = [_card(s) for s in (41, 42)]
    res, db = scan(tmp_path, {"pair.jpg": compose(cards, TWO, width=1150, bed=240, seed=7)})
    assert sorted(i.card_index for i in res.items if i.contact_id is not None) == [0, 1]
    with Store(db) as st:
        html = write_report(st, tmp_path / "r.html").read_text(encoding="utf-8")
    crops = re.findall(r'src="(data:image/jpeg;base64,[^"]+)"', html)
    assert len(set(crops)) == 2, len(set(crops))
    for c in cards:  # each card's e-mail appears in the report
        assert c.truth["emails"][0].lower() in html.lower()
