"""Where on the card each field was read: word boxes of the OCR lines a value came from, kept with the crop.

The parser does not record which line gave which value, so the value is looked up in the lines
it was read from (as printed: ``Field.raw`` / ``Phone.raw`` before any repair): for a name,
title, company or address a line whose letters and digits lie inside the value (an address of
several lines) counts whole; a line holding the value among other words (``TEL | 052-135-6156``)
gives the words that are part of it.  A value not found as printed (repaired by OCR rules, taken from a QR code) has no
box: nothing is marked rather than the wrong place.

The boxes travel inside the crop JPEG as a comment segment (``COM``, starting with
:data:`MARK`), as fractions of the crop's width and height, so they stay true to the picture
they describe however it is scaled: ``{"field": "email", "value": <the stored value>,
"box": [left, top, width, height]}``.  :func:`read` gets them back (the report uses them).
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator

from cardscan.models import SOURCE_USER, Contact, Field, Line, OcrResult, Phone

MARK = b"cardscan-where:"
_KEEP = re.compile(r"[\W_]+", re.UNICODE)
MIN_CHARS = 2  # a word shorter than this (after folding) never marks a place on its own


def fold(text: str) -> str:
    """Letters and digits only, case-folded: how a value and a printed line are compared."""
    return _KEEP.sub("", text).casefold()


def _values(contact: Contact) -> Iterator[tuple[str, str, str]]:
    """(field, stored value, text to look for) of every value read off the card or its QR code
    (a QR code's values are usually printed too; a person's edits are not on the card)."""
    for name in ("name", "title", "company", "address", "other_name"):
        f: Field | None = getattr(contact, name)
        if f is not None and f.source != SOURCE_USER:
            yield name, f.value, f.raw or f.value
    for name, fields in (("email", contact.emails), ("website", contact.websites)):
        for f in fields:
            if f.source != SOURCE_USER:
                yield name, f.value, f.raw or f.value
    for p in contact.phones:
        if isinstance(p, Phone) and p.source != SOURCE_USER:
            yield "phone", p.number, p.number


SPANS_LINES = frozenset({"name", "title", "company", "address"})  # a value that may be printed on several lines
PHONE_TAIL = 9  # a number is found by its last digits (a printed number leaves out the +country code)


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _union(boxes: list[tuple[int, int, int, int]]) -> tuple[int, int, int, int]:
    left, top = min(b[0] for b in boxes), min(b[1] for b in boxes)
    right, bottom = max(b[0] + b[2] for b in boxes), max(b[1] + b[3] for b in boxes)
    return (left, top, right - left, bottom - top)


def _part_of(word: str, full: str, field: str) -> bool:
    """A word of the line belongs to the value (a number's national trunk 0 is not in +CC form)."""
    if not word:
        return False
    return word in full or (field == "phone" and bool(word.lstrip("0")) and word.lstrip("0") in full)


def _boxes_of(field: str, printed: str, lines: tuple[Line, ...]) -> list[tuple[int, int, int, int]]:
    key = _digits if field == "phone" else fold
    full = key(printed)
    want = full[-PHONE_TAIL:] if field == "phone" else full
    if len(want) < (7 if field == "phone" else MIN_CHARS):
        return []
    out = []
    for line in lines:
        have = key(line.text)
        if field in SPANS_LINES and len(have) >= MIN_CHARS and have in want:
            out.append(line.box)
        elif want in have:
            words = [w.box for w in line.words if _part_of(key(w.text), full, field)]
            if words:
                out.append(_union(words))
    return out


def locate(contact: Contact, ocr: OcrResult, region: tuple[int, int, int, int]) -> list[dict]:
    """Every OCR value's boxes inside ``region`` (left, top, right, bottom of the crop in card
    pixels), as fractions of the region."""
    left, top, right, bottom = region
    w, h = max(1, right - left), max(1, bottom - top)
    out = []
    for field, value, printed in _values(contact):
        for bl, bt, bw, bh in _boxes_of(field, printed, ocr.lines):
            x0, y0 = max(bl, left), max(bt, top)
            x1, y1 = min(bl + bw, right), min(bt + bh, bottom)
            if x1 <= x0 or y1 <= y0:
                continue
            out.append({"field": field, "value": value,
                        "box": [round((x0 - left) / w, 4), round((y0 - top) / h, 4),
                                round((x1 - x0) / w, 4), round((y1 - y0) / h, 4)]})
    return out


def attach(jpeg: bytes, boxes: list[dict]) -> bytes:
    """The JPEG with the boxes in a comment segment right after its start marker."""
    if not boxes or not jpeg.startswith(b"\xff\xd8"):
        return jpeg
    payload = MARK + json.dumps(boxes, ensure_ascii=True, separators=(",", ":")).encode("ascii")
    if len(payload) + 2 > 0xFFFF:
        return jpeg  # far more than a card holds: left out rather than split
    segment = b"\xff\xfe" + (len(payload) + 2).to_bytes(2, "big") + payload
    return jpeg[:2] + segment + jpeg[2:]


def read(jpeg: bytes | None) -> list[dict]:
    """The boxes :func:`attach` put into a crop ([] when there are none or they are malformed)."""
    if not jpeg or not jpeg.startswith(b"\xff\xd8"):
        return []
    i = 2
    while i + 4 <= len(jpeg) and jpeg[i] == 0xFF:
        marker, size = jpeg[i + 1], int.from_bytes(jpeg[i + 2:i + 4], "big")
        if marker == 0xDA or size < 2:  # image data starts: no more headers
            break
        body = jpeg[i + 4:i + 2 + size]
        if marker == 0xFE and body.startswith(MARK):
            try:
                got = json.loads(body[len(MARK):].decode("ascii"))
            except (UnicodeDecodeError, ValueError):
                return []
            return [b for b in got if _well_formed(b)] if isinstance(got, list) else []
        i += 2 + size
    return []


def _well_formed(b: object) -> bool:
    if not isinstance(b, dict) or not isinstance(b.get("field"), str) or not isinstance(b.get("value"), str):
        return False
    box = b.get("box")
    return (isinstance(box, list) and len(box) == 4 and all(isinstance(x, (int, float)) for x in box)
            and all(0.0 <= x <= 1.0 for x in box))
