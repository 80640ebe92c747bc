"""The synthetic card generator (cardscan.bench.synth) and the bundled samples it makes."""
from __future__ import annotations

import io
import json
import re
import sys
import unicodedata
from pathlib import Path

import numpy as np
import phonenumbers
import pytest
from email_validator import validate_email
from PIL import Image

from cardscan.bench import synth
from cardscan.errors import BadArgumentsError

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
REQUIRED = ("file", "name", "title", "company", "emails", "phones", "websites", "address", "photo_kind", "notes")
SEEDS = range(12)


def _norm(s: str) -> str:
    s = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"\s+", "", s).casefold()


@pytest.fixture(scope="module")
def cards() -> list[synth.SynthCard]:
    return [synth.make_card(s) for s in SEEDS]


def test_same_seed_same_card_and_photo() -> None:
    a, b = synth.make_card(7), synth.make_card(7)
    assert a.truth == b.truth
    assert a.png_bytes() == b.png_bytes()
    pa, pb = synth.photograph(a, 7), synth.photograph(b, 7)
    assert pa.data == pb.data and pa.truth == pb.truth and pa.quad == pb.quad


def test_different_seeds_give_different_cards(cards: list[synth.SynthCard]) -> None:
    names = {c.truth["name"] for c in cards}
    emails = {c.truth["emails"][0] for c in cards}
    assert len(names) >= len(cards) - 2 and len(emails) >= len(cards) - 2
    assert len({c.design.layout for c in cards}) >= 3
    assert len({c.content.region for c in cards}) >= 4


def test_truth_records_are_valid_and_printed(cards: list[synth.SynthCard]) -> None:
    for c in cards:
        t = c.truth
        assert all(k in t for k in REQUIRED), c.seed
        assert t["name"] and t["emails"] and t["phones"]
        printed = "\n".join(c.lines)
        for key in ("name", "title", "company"):
            if t[key]:
                assert t[key].replace(" ", "") in printed.replace("\n", "").replace(" ", ""), (c.seed, key)
        for e in t["emails"]:
            assert validate_email(e, check_deliverability=False).normalized.lower() == e.lower()
            assert e in printed
        for w in t["websites"]:
            assert w in printed
        if t["address"]:
            for part in c.content.address_lines:
                assert part in c.lines, (c.seed, part)
        for p in t["phones"]:
            assert p["type"] in ("work", "mobile", "fax")
            num = phonenumbers.parse(p["number"])
            assert phonenumbers.is_valid_number(num), (c.seed, p)
            assert p["number"] == phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
            assert p["raw"] in printed, (c.seed, p["raw"])
            # the printed digits (after any label) are this number in the card's country
            digits_part = re.search(r"[+(\d].*$", p["raw"]).group(0)  # type: ignore[union-attr]
            assert phonenumbers.parse(digits_part, c.content.region) == num, (c.seed, p)
            if not re.search(r"[A-Za-zÀ-ÿ]", p["raw"]):
                assert p["type"] == "work"  # unlabelled numbers are work by the conventions


def test_fictional_ranges_used_where_they_exist() -> None:
    us = [synth.make_card(s, country="US") for s in range(4)]
    for c in us:
        for p in c.truth["phones"]:
            assert re.fullmatch(r"\+1\d{3}55501\d\d", p["number"]), p
    gb = [synth.make_card(s, country="GB", fax=False) for s in range(6)]
    for c in gb:
        for p in c.truth["phones"]:
            if p["type"] == "work":
                assert re.fullmatch(r"\+44(2079460|1134960|1614960)\d{3}", p["number"]), p


@pytest.mark.parametrize("kind", ["photo", "scan", "flat"])
def test_photographs_decode_with_expected_geometry(kind: str) -> None:
    card = synth.make_card(3)
    ph = synth.photograph(card, 3, kind)
    im = Image.open(io.BytesIO(ph.data))
    im.load()
    assert im.format == ("PNG" if kind == "flat" else "JPEG")
    assert im.size == ph.image.size
    w, h = im.size
    if kind == "photo":
        assert 1600 <= max(w, h) <= 2400
    assert len(ph.quad) == 4
    assert all(-2 <= x <= w + 1 and -2 <= y <= h + 1 for x, y in ph.quad)
    assert ph.truth["photo_kind"] == {"photo": "photo", "scan": "scan", "flat": "rendered"}[kind]
    # the card is where the quad says: mean colour inside matches the card background better than outside
    if kind == "photo":
        arr = np.asarray(im, np.float32)
        poly = np.array(ph.quad, np.int32)
        import cv2

        mask = np.zeros((h, w), np.uint8)
        cv2.fillConvexPoly(mask, poly, 1)
        inside = arr[mask == 1].mean(axis=0)
        outside = arr[mask == 0].mean(axis=0)
        bg = np.array(card.design.bg, np.float32)
        assert np.abs(inside - bg).sum() < np.abs(outside - bg).sum()


def test_forced_rotation_is_the_same_photo_turned() -> None:
    card = synth.make_card(5)
    base = np.asarray(synth.photograph(card, 5, rotate=0, quality=95).image, np.float32)
    for r in (90, 180, 270):
        ph = synth.photograph(card, 5, rotate=r, quality=95)
        assert ph.upright_rotation == (360 - r) % 360
        # turn it back clockwise by upright_rotation: np.rot90 k=-1 is one clockwise quarter turn
        back = np.rot90(np.asarray(ph.image, np.float32), -ph.upright_rotation // 90)
        assert back.shape == base.shape
        assert float(np.abs(back - base).mean()) < 3.0


def _parse_payload(text: str) -> dict[str, object]:
    out: dict[str, object] = {"phones": [], "emails": [], "websites": []}
    if text.startswith("MECARD:"):
        parts = re.split(r"(?<!\\);", text[len("MECARD:"):])
        for part in parts:
            key, _, val = part.partition(":")
            val = re.sub(r"\\(.)", r"\1", val)
            if key == "N":
                fam, giv = (re.sub(r"\\(.)", r"\1", x) for x in re.split(r"(?<!\\),", part[2:], maxsplit=1))
                out["name"] = f"{giv} {fam}"
            elif key == "TEL":
                out["phones"].append(val)  # type: ignore[union-attr]
            elif key == "EMAIL":
                out["emails"].append(val)  # type: ignore[union-attr]
            elif key == "URL":
                out["websites"].append(val)  # type: ignore[union-attr]
            elif key == "ORG":
                out["company"] = val
        return out
    for line in text.splitlines():
        key, _, val = line.partition(":")
        val = re.sub(r"\\(.)", r"\1", val)
        base = key.split(";")[0]
        if base == "FN":
            out["name"] = val
        elif base == "TEL":
            out["phones"].append(val)  # type: ignore[union-attr]
        elif base == "EMAIL":
            out["emails"].append(val)  # type: ignore[union-attr]
        elif base == "URL":
            out["websites"].append(val)  # type: ignore[union-attr]
        elif base == "ORG":
            out["company"] = val
        elif base == "TITLE":
            out["title"] = val
    return out


@pytest.mark.parametrize("kind,seed", [("vcard", 1), ("vcard", 2), ("mecard", 3), ("mecard", 4)])
def test_qr_payload_decodes_to_the_printed_fields(kind: str, seed: int) -> None:
    zxingcpp = pytest.importorskip("zxingcpp")
    card = synth.make_card(seed, qr=kind)
    assert card.qr_payload is not None
    found = zxingcpp.read_barcodes(card.pixels)
    assert [b.text for b in found] == [card.qr_payload]
    got = _parse_payload(found[0].text)
    t = card.truth
    assert str(got["name"]).casefold() == t["name"].casefold()
    assert sorted(got["emails"]) == sorted(t["emails"])  # type: ignore[arg-type]
    assert sorted(got["phones"]) == sorted(p["number"] for p in t["phones"])  # type: ignore[arg-type]
    assert sorted(got["websites"]) == sorted(t["websites"])  # type: ignore[arg-type]
    if t["company"]:
        assert str(got["company"]).casefold() == t["company"].casefold()
    if kind == "vcard" and t["title"]:
        assert got["title"] == t["title"]


def test_qr_survives_a_scan() -> None:
    zxingcpp = pytest.importorskip("zxingcpp")
    card = synth.make_card(2, qr="vcard")
    ph = synth.photograph(card, 2, "scan")
    texts = [b.text for b in zxingcpp.read_barcodes(np.asarray(ph.image))]
    assert texts == [card.qr_payload]


def _tesseract_ok() -> bool:
    try:
        import pytesseract

        pytesseract.get_tesseract_version()
        return True
    except Exception:  # noqa: BLE001 - any failure means "no usable tesseract"
        return False


@pytest.mark.skipif(not _tesseract_ok(), reason="Tesseract is not installed")
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_name_and_email_are_legible_to_tesseract(seed: int) -> None:
    import pytesseract
    from PIL import ImageOps

    card = synth.make_card(seed, icons=False)
    img = card.image.convert("L")
    if card.design.scheme == "dark":
        img = ImageOps.invert(img)
    text = _norm(pytesseract.image_to_string(img))
    assert _norm(card.truth["name"]) in text
    assert _norm(card.truth["emails"][0]) in text


def test_make_set_and_cli_write_images_and_groundtruth(tmp_path: Path) -> None:
    items = list(synth.make_set(3, seed=4, kinds=("flat", "scan")))
    assert len(items) == 3 and len({n for n, _, _ in items}) == 3
    for name, data, truth in items:
        assert truth["file"] == name
        Image.open(io.BytesIO(data)).load()
    assert synth.main([str(tmp_path), "--count", "2", "--seed", "4", "--kinds", "flat,scan"]) == 0
    lines = (tmp_path / "groundtruth.jsonl").read_text(encoding="utf-8").splitlines()
    recs = [json.loads(l) for l in lines]
    assert [r["file"] for r in recs] == [n for n, _, _ in items[:2]]
    assert all((tmp_path / r["file"]).is_file() for r in recs)
    assert recs[0] == items[0][2]


def test_bad_overrides_are_refused() -> None:
    with pytest.raises(BadArgumentsError):
        synth.make_card(1, layout="diagonal")
    with pytest.raises(BadArgumentsError):
        synth.make_card(1, country="XX")
    with pytest.raises(TypeError):
        synth.make_card(1, colour="red")
    with pytest.raises(BadArgumentsError):
        synth.photograph(synth.make_card(1), 1, "polaroid")


def test_overrides_change_only_what_they_say() -> None:
    a = synth.make_card(9, country="DE")
    b = synth.make_card(9, country="DE", layout="split", scheme="dark")
    assert a.truth["name"] == b.truth["name"] and a.truth["phones"] == b.truth["phones"]
    assert b.design.layout == "split" and b.design.scheme == "dark"


def test_bundled_samples_match_the_generator() -> None:
    sys.path.insert(0, str(SAMPLES))
    try:
        import generate  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(SAMPLES))
    recs = [json.loads(l) for l in (SAMPLES / "groundtruth.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["file"] for r in recs] == [s[0] for s in generate.SAMPLES]
    assert sum(f.stat().st_size for f in SAMPLES.iterdir() if f.is_file()) < 5_000_000
    kinds = set()
    for rec, (name, seed, opts, kind, _popts) in zip(recs, generate.SAMPLES):
        card = synth.make_card(seed, **opts)
        for key in ("name", "title", "company", "emails", "phones", "websites", "address"):
            assert rec[key] == card.truth[key], (name, key)
        with Image.open(SAMPLES / name) as im:
            assert im.format == "JPEG"
        kinds.add(rec["photo_kind"])
    assert kinds == {"photo", "scan"}


def test_hard_photos_for_the_card_locator() -> None:
    """A light card on a table of its own colour, small in the frame; the rest of the photo as
    the seed draws it (the default photo of the seed is unchanged by these options)."""
    card = synth.make_card(11, scheme="light")
    plain = synth.photograph(card, 11)
    ph = synth.photograph(card, 11, background="same", card_width=0.25)
    assert ph.image.size == plain.image.size
    w, h = ph.image.size
    xs = [x for x, _ in ph.quad]
    assert 0.2 * w < max(xs) - min(xs) < 0.32 * w  # ~25% of the width (turned and in perspective)
    arr = np.asarray(ph.image, np.float32)
    corner = arr[: h // 10, : w // 10].reshape(-1, 3).mean(axis=0)
    assert np.abs(corner - np.array(card.design.bg, np.float32)).max() < 40  # the table: nearly the card's colour
    assert synth.photograph(card, 11).data == plain.data
    with pytest.raises(BadArgumentsError):
        synth.photograph(card, 11, card_width=2.0)


def test_asked_kinds_shorten_the_domain_or_print_initials() -> None:
    from cardscan.bench.synth import make_card
    from cardscan.errors import BadArgumentsError
    from cardscan.parsing.company import _abbreviates

    seed = next(s for s in range(50) if len((make_card(s, qr=None).truth["company"] or "").split()) >= 3)
    short = make_card(seed, qr=None, hard="domain_short")
    label = short.truth["emails"][0].split("@")[1].split(".")[0]
    assert _abbreviates(label, short.truth["company"]), (label, short.truth["company"])
    logo = make_card(seed, qr=None, hard="initials_logo")
    assert logo.truth["company"].isupper() and "-" in logo.truth["emails"][0].split("@")[1]
    assert make_card(seed, qr=None).truth == make_card(seed, qr=None, hard=False).truth
    with pytest.raises(BadArgumentsError):
        make_card(seed, hard="no_such_kind")
