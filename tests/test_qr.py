"""QR stage: codes made with zxing-cpp's writer, pasted on rendered cards, turned and warped."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import zxingcpp

from cardscan.models import QrPayload
from cardscan.reading.qr import decode_qr, parse_payload, parse_vcard
from ocr_fixtures import render_card

VCARD30 = (
    "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Lovelace;Ada;;Dr.;\r\nFN:Ada Lovelace\r\n"
    "ORG:Analytical Engines Ltd;Research\r\nTITLE:Chief Engineer\r\n"
    "TEL;TYPE=WORK,VOICE:+1 415 555 0134\r\nTEL;TYPE=CELL:(415) 555-0199\r\nTEL;TYPE=FAX:+1 415 555 0100\r\n"
    "EMAIL;TYPE=INTERNET:ada@example.org\r\nURL:https://www.example.org\r\n"
    "ADR;TYPE=WORK:;;1 Main St\\, Suite 2;Springfield;CA;94000;USA\r\nEND:VCARD\r\n"
)
MECARD = "MECARD:N:Hopper,Grace;TEL:+44 20 7946 0000;EMAIL:grace@example.com;URL:http://example.com;ADR:10 High St\\, London;ORG:Compilers Inc;;"
URL = "https://www.example.net/contact"


def qr_image(text: str, scale: int = 6) -> np.ndarray:
    bc = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode)
    return np.asarray(bc.to_image(scale=scale))


def card_with_qr(text: str, scale: int = 5) -> np.ndarray:
    card = render_card()
    q = qr_image(text, scale)
    q = cv2.cvtColor(q, cv2.COLOR_GRAY2RGB)
    h, w = q.shape[:2]
    y, x = card.shape[0] - h - 20, card.shape[1] - w - 20
    card[y : y + h, x : x + w] = q
    return card


def on_table(card: np.ndarray, angle: float, persp: float = 0.0, seed: int = 1) -> np.ndarray:
    """The card rotated by `angle` degrees and seen at a slant, on a grey table, a little blurred."""
    h, w = card.shape[:2]
    H = W = int(np.hypot(h, w) * (1.1 + persp))  # room for the whole card at any angle
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    c, s = np.cos(np.radians(angle)), np.sin(np.radians(angle))
    ctr = np.float32([W / 2, H / 2])
    pts = []
    for i, (x, y) in enumerate(src - np.float32([w / 2, h / 2])):
        k = 1 - persp if i in (0, 1) else 1 + persp  # far edge shorter
        pts.append(ctr + np.float32([c * x * k - s * y, s * x * k + c * y]))
    m = cv2.getPerspectiveTransform(src, np.float32(pts))
    out = cv2.warpPerspective(card, m, (W, H), borderMode=cv2.BORDER_CONSTANT, borderValue=(90, 90, 90))
    out = cv2.GaussianBlur(out, (3, 3), 0)
    rng = np.random.default_rng(seed)
    return np.clip(out.astype(np.int16) + rng.integers(-8, 9, out.shape), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- decoding


def test_vcard_on_a_card() -> None:
    (p,) = decode_qr(card_with_qr(VCARD30))
    assert p.kind == "vcard" and p.text == VCARD30
    f = p.fields
    assert f["name"] == "Ada Lovelace"
    assert f["title"] == "Chief Engineer"
    assert f["company"] == "Analytical Engines Ltd"
    assert f["emails"] == ["ada@example.org"]
    assert f["websites"] == ["https://www.example.org"]
    assert f["address"] == "1 Main St, Suite 2, Springfield, CA, 94000, USA"
    assert f["phones"] == [
        {"number": "+1 415 555 0134", "type": "work", "raw": "+1 415 555 0134"},
        {"number": "(415) 555-0199", "type": "mobile", "raw": "(415) 555-0199"},
        {"number": "+1 415 555 0100", "type": "fax", "raw": "+1 415 555 0100"},
    ]


@pytest.mark.parametrize("angle,persp", [(0, 0.0), (17, 0.0), (90, 0.0), (200, 0.1), (-35, 0.15)])
def test_turned_and_slanted_cards(angle: float, persp: float) -> None:
    img = on_table(card_with_qr(MECARD), angle, persp)
    got = decode_qr(img)
    assert [p.kind for p in got] == ["mecard"]
    f = got[0].fields
    assert f["name"] == "Grace Hopper" and f["emails"] == ["grace@example.com"]
    assert f["phones"] == [{"number": "+44 20 7946 0000", "type": "work", "raw": "+44 20 7946 0000"}]
    assert f["address"] == "10 High St, London" and f["company"] == "Compilers Inc"
    assert f["websites"] == ["http://example.com"]


def test_small_code_in_a_large_photo_is_found_by_a_variant() -> None:
    img = on_table(card_with_qr(URL, scale=3), 10, 0.05)
    big = cv2.resize(img, None, fx=1.8, fy=1.8, interpolation=cv2.INTER_CUBIC)
    got = decode_qr(big)
    assert got and got[0].kind == "url" and got[0].fields == {"websites": [URL]}


def test_two_codes_are_both_returned_once() -> None:
    card = card_with_qr(URL, scale=4)
    q = cv2.cvtColor(qr_image("plain words", 4), cv2.COLOR_GRAY2RGB)
    card[20 : 20 + q.shape[0], card.shape[1] - q.shape[1] - 20 : card.shape[1] - 20] = q
    got = decode_qr(card)
    assert sorted(p.kind for p in got) == ["text", "url"]
    assert next(p for p in got if p.kind == "text").fields == {}


@pytest.mark.parametrize("turns", [1, 2, 3])
def test_datamatrix_turned_on_the_card_is_found_when_thorough(turns: int) -> None:
    """The quick mode skips zxing's 90-degree passes (QR codes need none); thorough adds them."""
    card = render_card()
    dm = np.asarray(zxingcpp.create_barcode(URL, zxingcpp.BarcodeFormat.DataMatrix).to_image(scale=6))
    dm = cv2.cvtColor(np.ascontiguousarray(np.rot90(dm, turns)), cv2.COLOR_GRAY2RGB)
    h, w = dm.shape[:2]
    card[20 : 20 + h, card.shape[1] - w - 20 : card.shape[1] - 20] = dm
    got = decode_qr(card, thorough=True)
    assert [p.kind for p in got] == ["url"] and got[0].fields == {"websites": [URL]}


@pytest.mark.parametrize(
    "img",
    [
        np.zeros((0, 0, 3), np.uint8),
        np.zeros((5, 5, 3), np.uint8),
        np.random.default_rng(3).integers(0, 256, (600, 800, 3)).astype(np.uint8),
        np.full((400, 400), 255, np.uint8),
        np.zeros((40, 40, 4), np.uint8),
        np.zeros((30, 30, 3), np.float64),
        np.zeros((3,), np.uint8),
    ],
)
def test_garbage_gives_nothing_and_never_raises(img: np.ndarray) -> None:
    assert decode_qr(img) == ()


def test_card_without_code_gives_nothing() -> None:
    assert decode_qr(render_card()) == ()


# ----------------------------------------------------------------------------- payload parsing


def test_vcard21_quoted_printable_and_bare_types() -> None:
    v = (
        "BEGIN:VCARD\nVERSION:2.1\nN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:Jo=C3=A3o;Silva\n"
        "ORG;ENCODING=QUOTED-PRINTABLE:Caf=C3=A9 Com=\n=C3=A9rcio Ltda\n"
        "TEL;WORK;VOICE:11 3333-4444\nTEL;CELL:11 99999-8888\nTEL;WORK;FAX:11 3333-4445\n"
        "EMAIL;INTERNET:joao@example.com.br\nEND:VCARD"
    )
    f = parse_vcard(v)
    assert f["name"] == "Silva Jo\u00e3o"  # N = family;given -> "given family"
    assert f["company"] == "Caf\u00e9 Com\u00e9rcio Ltda"
    assert [(p["number"], p["type"]) for p in f["phones"]] == [
        ("11 3333-4444", "work"), ("11 99999-8888", "mobile"), ("11 3333-4445", "fax")]


def test_vcard40_folding_escapes_and_tel_uri() -> None:
    v = (
        "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Marie Curie\r\nTITLE:Head of Research\\, Radiology\r\n"
        "NOTE:line one\\nline two\r\nitem1.EMAIL;TYPE=work:marie@exa\r\n mple.fr\r\n"
        'TEL;VALUE=uri;TYPE="work,voice":tel:+33-1-55-55-55-55;ext=12\r\n'
        "TEL;TYPE=home:tel:+33-6-00-00-00-00\r\nEND:VCARD\r\n"
    )
    p = parse_payload(v)
    assert p.kind == "vcard"
    f = p.fields
    assert f["name"] == "Marie Curie" and f["title"] == "Head of Research, Radiology"
    assert f["emails"] == ["marie@example.fr"]
    assert f["phones"] == [
        {"number": "+33-1-55-55-55-55", "type": "work", "raw": "tel:+33-1-55-55-55-55;ext=12"},
        {"number": "+33-6-00-00-00-00", "type": "other", "raw": "tel:+33-6-00-00-00-00"},
    ]


def test_vcard_name_from_n_when_no_fn() -> None:
    f = parse_vcard("BEGIN:VCARD\nVERSION:3.0\nN:Turing;Alan;Mathison;Dr.;OBE\nEND:VCARD")
    assert f == {"name": "Dr. Alan Mathison Turing OBE"}


def test_bizcard_and_urls_and_text() -> None:
    b = parse_payload("BIZCARD:N:Alan;X:Turing;T:Fellow;C:Bletchley;A:Bletchley Park;B:+44 1908 000000;M:+44 7700 900000;E:alan@example.org;;")
    assert b.kind == "mecard" and b.fields["name"] == "Alan Turing" and b.fields["title"] == "Fellow"
    assert [p["type"] for p in b.fields["phones"]] == ["work", "mobile"]
    assert parse_payload("www.example.com").fields == {"websites": ["www.example.com"]}
    assert parse_payload("mailto:x@example.com?subject=hi").fields == {"emails": ["x@example.com"]}
    assert parse_payload("just a note") == QrPayload("text", "just a note", {})
    assert parse_payload("https://example.com has spaces").kind == "text"


def test_malformed_vcard_does_not_raise() -> None:
    for t in ["BEGIN:VCARD", "BEGIN:VCARD\nTEL\nEMAIL:\nN:;;;;\nEND:VCARD", "MECARD:;;:;", "BEGIN:VCARD\nN;ENCODING=QUOTED-PRINTABLE:=ZZ=\n"]:
        assert isinstance(parse_payload(t), QrPayload)


# ----------------------------------------------------------------------------- real photos (../shared/eval)


@pytest.mark.eval
@pytest.mark.slow
def test_codes_on_real_photos(shared_eval) -> None:  # type: ignore[no-untyped-def]
    """Photos whose ground-truth notes mention a QR code: most decode, and contact payloads agree
    with what is printed on the card."""
    import json

    from cardscan.reading.decode import decode

    recs = [json.loads(l) for l in (shared_eval / "real" / "groundtruth.jsonl").read_text().splitlines() if l.strip()]
    with_qr = [r for r in recs if "qr" in (r.get("notes") or "").lower()]
    if not with_qr:
        pytest.skip("no photo with a QR code in the evaluation set")
    found = 0
    for r in with_qr:
        img = decode((shared_eval / "real" / r["file"]).read_bytes())
        got = decode_qr(img.pixels)
        found += bool(got)
        for p in got:
            printed = {e.lower() for e in r.get("emails") or []}
            for e in p.fields.get("emails", []):
                assert not printed or e.lower() in printed
    assert found >= 0.6 * len(with_qr)
