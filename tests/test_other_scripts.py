"""Cards printing lines in a script the default reader does not read (Arabic beside English, as
on many cards from the Gulf): the English lines give the contact, and nothing is taken from the
other script's lines. Real models, a card rendered in code (DejaVu Sans, which has Arabic)."""
from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont, features

from cardscan.options import Options
from cardscan.reading import pipeline
from cardscan.reading.ocr import tesseract as ocr_mod

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
BOLD = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")

pytestmark = pytest.mark.skipif(not (FONT.exists() and BOLD.exists()), reason="fonts-dejavu-core is not installed")

LINES = (  # (text, bold, size, right to left)
    ("خالد المنصوري", True, 54, True),
    ("Khalid Al Mansouri", True, 50, False),
    ("Operations Manager", False, 34, False),
    ("مدير العمليات", False, 34, True),
    ("Sandbar Marine Services LLC", True, 40, False),
    ("شركة الساحل للخدمات البحرية", False, 36, True),
    ("Mob: +971 50 555 0147", False, 32, False),
    ("khalid@sandbar-marine.example.com", False, 32, False),
    ("P.O. Box 50412, Abu Dhabi, UAE", False, 32, False),
)


def _card() -> bytes:
    import io

    im = Image.new("RGB", (1400, 820), (250, 250, 245))
    d = ImageDraw.Draw(im)
    y = 40
    for text, bold, size, rtl in LINES:
        font = ImageFont.truetype(str(BOLD if bold else FONT), size)
        if rtl and features.check("raqm"):
            w = d.textlength(text, font=font, direction="rtl", language="ar")
            d.text((1340 - w, y), text, font=font, fill=(20, 20, 20), direction="rtl", language="ar")
        else:
            d.text((60 if not rtl else 700, y), text, font=font, fill=(20, 20, 20))
        y += int(size * 1.45)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def test_arabic_lines_beside_english_give_no_value() -> None:
    engine = ocr_mod.get_engine(Options())
    out = pipeline.process_data("card.png", _card(), engine, Options(jobs=1, keep_crops=False, followup_drafts=False))
    assert out.ok, out.error
    c = out.contact
    assert c is not None
    assert c.scalar("name") == "Khalid Al Mansouri"
    assert c.scalar("title") == "Operations Manager"
    assert c.scalar("company") == "Sandbar Marine Services LLC"
    assert [e.value for e in c.emails] == ["khalid@sandbar-marine.example.com"]
    assert [(p.number, p.type) for p in c.phones] == [("+971505550147", "mobile")]
    assert c.scalar("address") == "P.O. Box 50412, Abu Dhabi, UAE"
    assert c.other_name is None  # Arabic is not read: no stray characters taken for a second name
