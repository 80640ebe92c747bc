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


# ---- cards printed in Chinese or Japanese only ----------------------------------------------------

CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")  # fonts-wqy-zenhei (make test installs it)


@pytest.mark.parametrize(("text", "name", "title", "company"), [
    ("株式会社サンプル\n営業部 部長\n山田 太郎\nTEL 03-1234-5678\nyamada@sample.example.jp", "山田 太郎", "営業部 部長", "株式会社サンプル"),
    ("北京示例科技有限公司\n王小明\n销售经理\n电话: +86 10 5555 1234\nwang@example.cn", "王小明", "销售经理", "北京示例科技有限公司"),
    # a Latin name on the card: it stays the name, the script's form is the other name
    ("Taro Yamada\n山田 太郎\nSales Manager\nyamada@abc.example.jp", "Taro Yamada", "Sales Manager", None),
])
def test_a_card_in_chinese_or_japanese_only(text: str, name: str, title: str, company: str | None) -> None:
    from cardscan.parsing.contact import parse_text

    c = parse_text(text)
    assert (c.scalar("name"), c.scalar("title"), c.scalar("company")) == (name, title, company)


@pytest.mark.skipif(not CJK_FONT.exists(), reason="fonts-wqy-zenhei is not installed")
def test_a_japanese_card_read_by_the_real_reader() -> None:
    import io

    lines = (("株式会社ミナト商会", 48), ("技術部 課長", 36), ("佐藤 健一", 64), ("TEL 03-5555-0142", 32),
             ("k.sato@minato-shokai.example.jp", 32))
    im = Image.new("RGB", (1400, 820), (250, 250, 245))
    d = ImageDraw.Draw(im)
    y = 60
    for text, size in lines:
        d.text((80, y), text, font=ImageFont.truetype(str(CJK_FONT), size), fill=(20, 20, 20))
        y += int(size * 1.7)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    out = pipeline.process_data("jp.png", buf.getvalue(), ocr_mod.get_engine(Options()),
                                Options(jobs=1, keep_crops=False, followup_drafts=False, region="JP"))
    assert out.ok, out.error
    c = out.contact
    assert c is not None
    def squashed(v: str | None) -> str | None:  # the space between CJK words is typographic; the reader may drop it
        return None if v is None else "".join(v.split())

    got = tuple(squashed(c.scalar(f)) for f in ("name", "title", "company"))
    assert got == ("佐藤健一", "技術部課長", "株式会社ミナト商会")
    assert [e.value for e in c.emails] == ["k.sato@minato-shokai.example.jp"]


def test_characters_read_unsure_from_a_picture_are_no_name() -> None:
    """Two Han characters read at confidence 0.5 (a logo's strokes) on a card whose name was not
    found: no name rather than a guess."""
    from cardscan.models import Line, OcrResult, Word
    from cardscan.parsing.contact import parse

    ocr = OcrResult((Line((Word("如意", 50.0, (0, 0, 80, 40)),)), Line((Word("Sales", 95.0, (0, 60, 100, 20)),
                     Word("Manager", 95.0, (110, 60, 140, 20)))), Line((Word("x@example.com", 95.0, (0, 100, 260, 20)),))),
                    engine="text", image_size=(0, 0))
    assert parse(ocr).name is None
