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


def _rendered(lines: tuple[tuple[str, int], ...], font: Path, *, size: tuple[int, int] = (1400, 900),
              at: tuple[int, int] = (60, 40), leading: float = 1.45) -> bytes:
    """A card, its lines (text, pixel size) one under the other in ``font``, as PNG bytes
    (Devanagari shaped when Pillow has raqm)."""
    import io

    im = Image.new("RGB", size, (250, 250, 245))
    d = ImageDraw.Draw(im)
    y = at[1]
    for text, px in lines:
        kw = {"language": "hi"} if features.check("raqm") and any(0x900 <= ord(c) < 0x980 for c in text) else {}
        d.text((at[0], y), text, font=ImageFont.truetype(str(font), px), fill=(20, 20, 20), **kw)
        y += int(px * leading)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize(("text", "name", "title", "company"), [
    ("한빛전자 주식회사\n영업부 과장\n김민준\nTel 02-555-0147\nminjun@hanbit.example.co.kr", "김민준", "영업부 과장", "한빛전자 주식회사"),
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
    lines = (("株式会社ミナト商会", 48), ("技術部 課長", 36), ("佐藤 健一", 64), ("TEL 03-5555-0142", 32),
             ("k.sato@minato-shokai.example.jp", 32))
    png = _rendered(lines, CJK_FONT, size=(1400, 820), at=(80, 60), leading=1.7)
    out = pipeline.process_data("jp.png", png, ocr_mod.get_engine(Options()),
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


@pytest.mark.parametrize(("text", "address"), [
    ("北京示例科技有限公司\n王小明\n销售经理\n上海市浦东新区世纪大道100号\n电话: +86 10 5555 1234\nwang@example.cn",
     "上海市浦东新区世纪大道100号"),
    ("Taro Yamada\nSales Manager\n東京都新宿区西新宿2-8-1\nTEL 03-5555-0142\nyamada@abc.example.jp", "東京都新宿区西新宿2-8-1"),
    ("Kim Min-jun\nSales Manager\n서울특별시 강남구 테헤란로 123\nTel +82 2 555 0147\nminjun@hanbit.example.co.kr",
     "서울특별시 강남구 테헤란로 123"),
    ("深圳市示例科技有限公司\n李雷\n电话: +86 755 5555 1234\nli@example.cn", None),  # a city in a firm's name: no address
])
def test_an_address_in_chinese_japanese_or_korean(text: str, address: str | None) -> None:
    from cardscan.parsing.contact import parse_text

    assert parse_text(text).scalar("address") == address


# ---- Korean: PP-OCR's recogniser has no Hangul; Tesseract's Korean model reads those lines ---------

KOR_LINES = (("김민준", 60), ("Kim Min-jun", 48), ("영업부 과장", 36), ("Sales Manager", 34), ("한빛전자 주식회사", 40),
             ("Hanbit Electronics Co., Ltd.", 34), ("서울특별시 강남구 테헤란로 123", 30),
             ("Tel: +82 2 555 0147  Mobile: +82 10 5555 0147", 30), ("minjun.kim@hanbit.example.co.kr", 30))


def _kor_installed() -> bool:
    return ocr_mod.find_tessdata(["kor"]) is not None


korean = pytest.mark.skipif(not (CJK_FONT.exists() and _kor_installed()),
                            reason="fonts-wqy-zenhei or tesseract-ocr-kor is not installed (make test installs both)")


def _squash(v: str | None) -> str | None:
    return None if v is None else "".join(v.split())


@korean
def test_a_korean_card_keeps_the_hangul_name_beside_the_latin_one() -> None:
    out = pipeline.process_data("kr.png", _rendered(KOR_LINES, CJK_FONT), ocr_mod.get_engine(Options()),
                                Options(jobs=1, keep_crops=False, followup_drafts=False))
    assert out.ok, out.error
    c = out.contact
    assert c is not None
    assert c.scalar("name") == "Kim Min-jun"
    assert c.other_name is not None and c.other_name.value == "김민준"  # PP-OCR alone read it as two Han characters
    assert c.scalar("title") == "Sales Manager"
    assert c.scalar("company") == "Hanbit Electronics Co., Ltd."
    assert _squash(c.scalar("address")) == "서울특별시강남구테헤란로123"
    assert [(p.number, p.type) for p in c.phones] == [("+8225550147", "work"), ("+821055550147", "mobile")]


@korean
def test_a_card_in_korean_only() -> None:
    lines = (("한빛전자 주식회사", 44), ("영업부 과장", 36), ("김민준", 64), ("TEL 02-555-0147", 32),
             ("minjun@hanbit.example.co.kr", 32))
    out = pipeline.process_data("kr.png", _rendered(lines, CJK_FONT), ocr_mod.get_engine(Options()),
                                Options(jobs=1, keep_crops=False, followup_drafts=False, region="KR"))
    assert out.ok, out.error
    c = out.contact
    assert c is not None
    assert tuple(_squash(c.scalar(f)) for f in ("name", "title", "company")) == ("김민준", "영업부과장", "한빛전자주식회사")


def test_which_lines_the_korean_model_reads_and_what_it_may_give() -> None:
    from cardscan.models import Word
    from cardscan.reading.ocr import recognise
    from cardscan.reading.ocr import scripts as scripts_mod

    def pp(text: str, prob: float, width: int = 300) -> recognise.LineReading:
        gs = [recognise.Glyph(ch, prob, i * 10, i * 10 + 9) for i, ch in enumerate(text)]
        return recognise.LineReading(recognise.words_from_glyphs(gs, 30), "pp-ocr", tuple(gs))

    assert scripts_mod.unread(recognise.LineReading((), "pp-ocr"), 300)  # nothing read
    assert scripts_mod.unread(pp("召歪", 0.77), 25)  # unsure Han characters
    assert not scripts_mod.unread(pp("佐藤健一", 0.99), 45)  # sure ones
    assert scripts_mod.unread(pp("123", 0.99), 300)  # three digits at the end of a long line
    assert not scripts_mod.unread(pp("Sales Manager", 0.99), 140)

    def tess(*words: tuple[str, float]) -> recognise.LineReading:
        return recognise.LineReading(tuple(Word(t, c, (i * 40, 0, 30, 30)) for i, (t, c) in enumerate(words)), "t")

    assert scripts_mod.is_korean(tess(("영업부", 97), ("과장", 96)))
    assert not scripts_mod.is_korean(tess(("숙고", 40)))  # a Japanese name through the Korean model
    assert not scripts_mod.is_korean(tess(("1270", 90), ("0010-140", 90), ("김", 90)))  # mostly not Hangul
    joined = scripts_mod.join_syllables(tess(("서", 93), ("울", 92), ("특별시", 97), ("1", 90), ("2", 90)).words)
    assert [w.text for w in joined] == ["서울", "특별시", "1", "2"]


FREESANS = Path("/usr/share/fonts/truetype/freefont/FreeSans.ttf")  # has Devanagari (fonts-freefont-ttf)


@pytest.mark.skipif(not FREESANS.exists(), reason="fonts-freefont-ttf is not installed")
def test_an_indian_shop_card_with_hindi_lines() -> None:
    """Hindi lines (not read: PP-OCR has no Devanagari) beside English ones: the English fields come
    out right, nothing is taken from the Hindi lines, and the mobiles, valid US numbers too, are
    Indian by their 5+5 grouping beside the PIN."""
    lines = (("शर्मा ट्रेडर्स", 56), ("SHARMA TRADERS", 50), ("Rajesh Sharma", 40), ("Proprietor", 32),
             ("हार्डवेयर एवं बिल्डिंग मटेरियल", 32), ("Shop No. 12, Main Market, Lucknow - 226001", 30),
             ("Mob.: 98390 12345, 94150 67890", 30), ("sharmatraders@gmail.com", 30))
    out = pipeline.process_data("in.png", _rendered(lines, FREESANS, leading=1.5), ocr_mod.get_engine(Options()),
                                Options(jobs=1, keep_crops=False, followup_drafts=False))
    assert out.ok, out.error
    c = out.contact
    assert c is not None
    assert (c.scalar("name"), c.scalar("title"), c.scalar("company")) == ("Rajesh Sharma", "Proprietor", "SHARMA TRADERS")
    assert c.scalar("address") == "Shop No. 12, Main Market, Lucknow - 226001"
    assert [(p.number, p.type) for p in c.phones] == [("+919839012345", "mobile"), ("+919415067890", "mobile")]
    assert c.other_name is None


@korean
def test_a_korean_card_without_country_code_reads_its_numbers_in_korea() -> None:
    """No +82, no country named: the Hangul the real reader finds says which numbering to try."""
    lines = (("한빛전자 주식회사", 44), ("영업부 과장", 36), ("김민준", 64), ("TEL 02-555-0147", 32),
             ("minjun@hanbit.example.com", 32))
    out = pipeline.process_data("kr.png", _rendered(lines, CJK_FONT), ocr_mod.get_engine(Options()),
                                Options(jobs=1, keep_crops=False, followup_drafts=False))
    assert out.ok, out.error
    assert out.contact is not None and [p.number for p in out.contact.phones] == ["+8225550147"]


@pytest.mark.parametrize(("lines", "numbers"), [
    ((("MUSTER AG", 50), ("Hans Muster", 40), ("Leiter Verkauf", 32), ("Bahnhofstrasse 10", 30),
      ("8001 Zürich", 30), ("Tel. 044 123 45 67", 30), ("hans.muster@muster.example.com", 30)), ["+41441234567"]),
    ((("ABC Trading Limited", 50), ("Chan Tai Man", 40), ("Senior Manager", 32),
      ("18 Harbour Road, Wan Chai", 30), ("Tel: (852) 2345 6789", 30), ("Fax: 2345 6790", 30)),
     ["+85223456789", "+85223456790"]),
])
def test_numbers_without_a_plus_read_by_the_real_reader(lines: tuple, numbers: list[str]) -> None:
    """A Swiss town, a Hong Kong district and a country code in brackets, through the real reader."""
    out = pipeline.process_data("c.png", _rendered(lines, FREESANS, leading=1.5), ocr_mod.get_engine(Options()),
                                Options(jobs=1, keep_crops=False, followup_drafts=False))
    assert out.ok, out.error
    assert out.contact is not None and [p.number for p in out.contact.phones] == numbers
