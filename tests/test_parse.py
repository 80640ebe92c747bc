"""The parse stage: OCR lines (+ QR) -> Contact. Invented people, companies and fictional numbers."""
from __future__ import annotations

import json
import unicodedata
import re
import time
from pathlib import Path

import pytest

from cardscan.parsing.layout import MAX_FIELD_CHARS, text_to_ocr
from cardscan.models import Contact, Line, OcrResult, QrPayload, Word
from cardscan.parsing.contact import parse, parse_text

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def words_f1(a: str | None, b: str | None) -> float:
    pa = re.sub(r"[^\w]+", " ", (a or "").casefold()).split()
    pb = re.sub(r"[^\w]+", " ", (b or "").casefold()).split()
    pool, common = list(pb), 0
    for w in pa:
        if w in pool:
            pool.remove(w)
            common += 1
    if not common:
        return 0.0
    p, r = common / len(pa), common / len(pb)
    return 2 * p * r / (p + r)


def norm(s: str | None) -> str | None:
    return " ".join(re.sub(r"[^\w]+", " ", s.casefold()).split()) if s else None


US_CARD = """Brightwater Analytics LLC
Dana K. Whitfield
Senior Data Engineer
1450 Harbor Street, Suite 300
Portland, OR 97209
Tel: (503) 555-0142
Cell: (503) 555-0187
Fax: (503) 555-0143
dana.whitfield@brightwateranalytics.com
www.brightwateranalytics.com"""

UK_CARD = """Harold Pemberton
Sales Director
Ashcombe Trading Ltd
12 Kingsway Road
London WC2B 6XF
United Kingdom
T: +44 20 7946 0018
M: +44 7700 900123
h.pemberton@ashcombe.co.uk"""

BR_CARD = """Marina Albuquerque
Gerente Comercial
Vidraçaria Horizonte Ltda
Rua das Palmeiras, 250 - Centro
São Paulo - SP, 01310-100
Tel.: (11) 3555-0142
Cel.: (11) 98765-4321
marina@vidracariahorizonte.com.br"""

JP_CARD = """Sakura Systems Co., Ltd.
Kenji Watanabe
General Manager
1-2-3 Shinjuku, Shinjuku-ku, Tokyo 160-0022
TEL 03-5361-6699
FAX 03-5361-6698
k.watanabe@sakura-sys.co.jp"""

DE_CARD = """Lena Hoffmann
Geschäftsführerin
Nordlicht Logistik GmbH
Hafenstraße 12, 20457 Hamburg
Telefon: +49 40 8090 1234
Mobil: +49 151 23456789
lena.hoffmann@nordlicht-logistik.de"""


@pytest.mark.parametrize(
    ("text", "want"),
    [
        (US_CARD, dict(name="Dana K. Whitfield", title="Senior Data Engineer", company="Brightwater Analytics LLC",
                       emails=["dana.whitfield@brightwateranalytics.com"], websites=["www.brightwateranalytics.com"],
                       phones=[("+15035550142", "work"), ("+15035550187", "mobile"), ("+15035550143", "fax")],
                       address="1450 Harbor Street, Suite 300 Portland, OR 97209", region="US")),
        (UK_CARD, dict(name="Harold Pemberton", title="Sales Director", company="Ashcombe Trading Ltd",
                       emails=["h.pemberton@ashcombe.co.uk"], websites=[],
                       phones=[("+442079460018", "work"), ("+447700900123", "mobile")],
                       address="12 Kingsway Road London WC2B 6XF United Kingdom", region="GB")),
        (BR_CARD, dict(name="Marina Albuquerque", title="Gerente Comercial", company="Vidraçaria Horizonte Ltda",
                       emails=["marina@vidracariahorizonte.com.br"], websites=[],
                       phones=[("+551135550142", "work"), ("+5511987654321", "mobile")],
                       address="Rua das Palmeiras, 250 - Centro São Paulo - SP, 01310-100", region="BR")),
        (JP_CARD, dict(name="Kenji Watanabe", title="General Manager", company="Sakura Systems Co., Ltd.",
                       emails=["k.watanabe@sakura-sys.co.jp"], websites=[],
                       phones=[("+81353616699", "work"), ("+81353616698", "fax")],
                       address="1-2-3 Shinjuku, Shinjuku-ku, Tokyo 160-0022", region="JP")),
        (DE_CARD, dict(name="Lena Hoffmann", title="Geschäftsführerin", company="Nordlicht Logistik GmbH",
                       emails=["lena.hoffmann@nordlicht-logistik.de"], websites=[],
                       phones=[("+494080901234", "work"), ("+4915123456789", "mobile")],
                       address="Hafenstraße 12, 20457 Hamburg", region="DE")),
    ],
    ids=["us", "uk", "br", "jp", "de"],
)
def test_invented_cards(text: str, want: dict) -> None:
    c = parse_text(text)
    assert norm(c.scalar("name")) == norm(want["name"])
    assert norm(c.scalar("title")) == norm(want["title"])
    assert norm(c.scalar("company")) == norm(want["company"])
    assert [e.value for e in c.emails] == want["emails"]
    assert [w.value for w in c.websites] == want["websites"]
    assert [(p.number, p.type) for p in c.phones] == want["phones"]
    assert words_f1(c.scalar("address"), want["address"]) >= 0.9
    assert c.region == want["region"]
    assert c.raw_text == text


def test_record_shape() -> None:
    rec = parse_text(US_CARD).to_record()
    assert set(rec) == {"name", "title", "company", "emails", "phones", "websites", "address", "other_name", "region"}
    assert rec["phones"][0] == {"number": "+15035550142", "type": "work", "raw": "Tel: (503) 555-0142"}


def test_every_field_has_confidence_in_range() -> None:
    c = parse_text(US_CARD)
    fields = [c.name, c.title, c.company, c.address, *c.emails, *c.websites]
    assert all(f is not None and 0.0 < f.confidence <= 1.0 for f in fields)
    assert all(0.0 < p.confidence <= 1.0 for p in c.phones)


FR_CARD = """Camille Rousseau
Ingénieure d'études
ATELIER VERLAINE ARCHITECTURE
14 rue des Carmes, 31000 Toulouse
Tél. 05 61 00 42 17
camille.rousseau@example.fr"""


def test_feminine_title_and_a_firm_named_by_its_trade() -> None:
    """Feminine forms of titles ('Ingénieure') are titles; a larger line ending in its trade
    ('... ARCHITECTURE') is the company even without a legal suffix."""
    c = parse_text(FR_CARD)
    assert c.scalar("name") == "Camille Rousseau"
    assert c.scalar("title") == "Ingénieure d'études"
    top, lines = 10, []
    for i, text in enumerate(FR_CARD.splitlines()):
        h = 34 if i == 2 else 22
        x, ws = 10, []
        for t in text.split():
            ws.append(Word(t, 92.0, (x, top, len(t) * h // 2, h)))
            x += len(t) * h // 2 + h // 3
        lines.append(Line(tuple(ws)))
        top += h + 14
    assert parse(OcrResult(tuple(lines), "test")).scalar("company") == "ATELIER VERLAINE ARCHITECTURE"


@pytest.mark.parametrize(("role", "want"), [
    ("Steuerberater", True), ("Vertriebsleiterin", True), ("Softwareentwicklerin", True), ("Projektmanager", True),
    ("Jefa de Proyectos", True), ("Chef de projet", True), ("Office Manager", True),
    ("Service Commercial", False), ("Head Office", False), ("Milan Branch Office:", False),
    # from the occupation vocabulary (Faker's job lists), not the hand-made title list
    ("Librarian", True), ("Dispensing Optician", True), ("Quantity Surveyor", True), ("Electricista", True),
])
def test_title_forms(role: str, want: bool) -> None:
    """German compound roles, feminine and French forms; department and office lines are not roles."""
    c = parse_text(f"Maria Keller\n{role}\nm.keller@example.org")
    assert c.scalar("name") == "Maria Keller"
    assert (c.scalar("title") == role.rstrip(":")) is want, c.scalar("title")


def test_a_semiconductor_firm_is_not_a_job_title() -> None:
    from cardscan.parsing.vocab import _is_title

    assert not _is_title("Halbleiter Technik")
    assert _is_title("Gruppenleiter Halbleiter")


@pytest.mark.parametrize(("text", "company"), [
    ("Harrington & Mercer\nAbigail Stone\nSolicitor\nabigail@example.com", "Harrington & Mercer"),
    ("Veloris\nEngineering K.K.\nSakura Ito\nManaging Director\nsakura@veloris.example.net", "Veloris Engineering K.K."),
    ("Brelovik\nTrading Pty Ltd\nNeha Menon\nSales Manager\nnmenon@example.com", "Brelovik Trading Pty Ltd"),
    ("QUORIVIK\nARQUITETURA\nGabriela Oliveira\nArquiteta\ng.oliveira@quorivik.com.br", "QUORIVIK ARQUITETURA"),
    ("Graliium Architects\nCo., Ltd.\nHaruto Kobayashi\nh.k@graliium.example.net", "Graliium Architects Co., Ltd."),
    ("Jane Doe\nAcme Pty Ltd\njane@acme.example", "Acme Pty Ltd"),  # the name above is not a logo word
])
def test_firm_names_and_two_line_logos(text: str, company: str) -> None:
    assert parse_text(text).scalar("company") == company


def test_department_line_is_not_the_title_and_not_the_company() -> None:
    c = parse_text("Orla Brennan\nSoftware Engineer\nPlatform Engineering Department\nQuillfeather Systems Inc.")
    assert c.scalar("title") == "Software Engineer"
    assert c.scalar("company") == "Quillfeather Systems Inc."


def test_tagline_is_not_a_company() -> None:
    c = parse_text("Tomas Reyes\nWe build the bridges you cross every day\n(201) 555-0123")
    assert c.company is None


def test_company_from_email_domain_match() -> None:
    c = parse_text("Priya Natarajan\nLead Designer\nMOSSGROVE\npriya@mossgrove.com")
    assert c.scalar("company") == "MOSSGROVE"


def test_company_over_two_lines() -> None:
    c = parse_text("Ines Carvalho\nDiretora\nAtlântico Freight Forwarding\n& Customs Brokers Ltda\nines@atlantico.com.br")
    assert norm(c.scalar("company")) == norm("Atlântico Freight Forwarding & Customs Brokers Ltda")


def test_itd_read_for_ltd_is_repaired() -> None:
    c = parse_text("Yuto Mori\nKumo Works Co., Itd.")
    assert c.company is not None and c.company.value == "Kumo Works Co., Ltd." and "repaired" in c.company.flags


def test_name_with_title_after_comma() -> None:
    c = parse_text("Fabrikon Tools, Inc.\nGreta Lindqvist, Owner\nPhone (201) 555-0123")
    assert c.scalar("name") == "Greta Lindqvist"
    assert c.scalar("title") == "Owner"


def test_name_cross_checked_with_email() -> None:
    c = parse_text("NAKAMURA HIROSHI\nh.nakamura@example.co.jp")
    assert c.scalar("name") == "NAKAMURA HIROSHI"


def test_no_name_when_nothing_personal() -> None:
    c = parse_text("Open Daily 9 to 5\nFresh Bread and Pastries\n(201) 555-0123")
    assert c.name is None and c.title is None


def test_largest_personal_line_wins() -> None:
    def line(text: str, top: int, h: int) -> Line:
        x, ws = 10, []
        for t in text.split():
            ws.append(Word(t, 92.0, (x, top, len(t) * h // 2, h)))
            x += len(t) * h // 2 + h // 3
        return Line(tuple(ws))

    ocr = OcrResult((line("Nora Eastwood", 10, 20), line("Felix Marlowe", 60, 48), line("Product Manager", 120, 20)),
                    "test")
    assert parse(ocr).scalar("name") == "Felix Marlowe"


def test_label_in_its_own_column() -> None:
    def w(t: str, x: int, y: int) -> Word:
        return Word(t, 90.0, (x, y, len(t) * 10, 20))

    ocr = OcrResult((
        Line((w("Fax", 10, 100),)),
        Line((w("(201)", 200, 101), w("555-0124", 260, 101))),
        Line((w("Mobile", 10, 140),)),
        Line((w("(201)", 200, 141), w("555-0199", 260, 141))),
    ), "test")
    c = parse(ocr, region="US")
    assert [(p.number, p.type) for p in c.phones] == [("+12015550124", "fax"), ("+12015550199", "mobile")]


def test_region_argument_used_when_card_says_nothing() -> None:
    c = parse_text("Tel 030 901820", region="DE")
    assert c.region == "DE" and [p.number for p in c.phones] == ["+4930901820"]
    assert "inferred_region" in c.phones[0].flags


def test_websites() -> None:
    c = parse_text("www,fernhill-studio.com\nhttps://example.org/team\nj.doe@fernmail.com\njavascript:alert(1)")
    assert [w.value for w in c.websites] == ["www.fernhill-studio.com", "https://example.org/team"]


def test_email_domain_not_a_website_unless_printed() -> None:
    c = parse_text("Ana Lima\nana@limaconsult.com")
    assert c.websites == ()
    c = parse_text("Ana Lima\nana@limaconsult.com\nlimaconsult.com")
    assert [w.value for w in c.websites] == ["limaconsult.com"]


def test_a_separator_bar_read_as_1_before_a_number_is_left_out_and_flagged() -> None:
    c = parse_text("Manon Bonnet\nT10536 49 07 28\nFax 105 36 49 08 96\nMob l0612345678\n33000 Bordeaux, France")
    assert [(p.number, p.type) for p in c.phones] == [("+33536490728", "work"), ("+33536490896", "fax"),
                                                       ("+33612345678", "mobile")]
    assert all("low_confidence" in p.flags and "separator bar" in (p.message or "") for p in c.phones)
    # a leading 1 that belongs to the number stays: the US trunk prefix, a valid number as printed
    assert [p.number for p in parse_text("Tel 1 415 555 0199").phones] == ["+14155550199"]
    assert [p.flags for p in parse_text("Mob 0612345678\n33000 Bordeaux, France").phones] == [()]


def test_a_bare_domain_after_an_email_label_is_a_misread_address_not_a_site() -> None:
    # the '@' of a small-print address read as 'g': no website (and no e-mail) rather than a wrong one
    c = parse_text("Ryan Caldwell\nE: ryan.caldwellgexample.au\nW: example.au")
    assert [w.value for w in c.websites] == ["example.au"] and c.emails == ()
    assert parse_text("Email: ann.leegexample.com").websites == ()
    # a site after the address on the same line is still one (the address is masked out first)
    c = parse_text("E-mail: ann@example.com | example.com")
    assert [w.value for w in c.websites] == ["example.com"] and [e.value for e in c.emails] == ["ann@example.com"]
    assert [w.value for w in parse_text("Web: example.com").websites] == ["example.com"]


def test_qr_values_win() -> None:
    qr = QrPayload("vcard", "BEGIN:VCARD...", {
        "name": "Hannah Oduya", "title": "CTO", "emails": ["hannah@example.com"],
        "phones": [{"number": "+1 201 555 0188", "type": "mobile"}], "websites": ["https://example.com"],
    })
    c = parse(text_to_ocr("Hanah Oduya\nCT0\n(201) 555-0188\nhannah@example.com"), [qr])
    assert c.name is not None and (c.name.value, c.name.source) == ("Hannah Oduya", "qr")
    assert c.scalar("title") == "CTO"
    assert [(p.number, p.type, p.source) for p in c.phones] == [("+12015550188", "mobile", "qr")]
    assert [e.source for e in c.emails] == ["qr"]
    assert [w.value for w in c.websites] == ["https://example.com"]


@pytest.mark.parametrize(("printed", "coded", "want", "source"), [
    ("Responsable des achats industriels", "Responsable des achats", "Responsable des achats industriels", "ocr"),
    ("Chargée de clientèle entreprises", "Chargé de clientèle", "Chargée de clientèle entreprises", "ocr"),
    ("Sales Manager", "Regional Sales Manager", "Regional Sales Manager", "qr"),  # the code says more
    ("Sales Manager EMEA", "Head of Sales", "Head of Sales", "qr"),  # another title: the code's
])
def test_a_title_the_code_shortens_is_read_as_printed(printed: str, coded: str, want: str, source: str) -> None:
    qr = QrPayload("vcard", "BEGIN:VCARD...", {"name": "Lena Duval", "title": coded})
    c = parse(text_to_ocr(f"Lena Duval\n{printed}\nlena@example.fr"), [qr])
    assert c.title is not None and (c.title.value, c.title.source) == (want, source)
    assert c.title.confidence >= 0.9


# RELIABILITY row 20
def test_bidi_zero_width_and_nul_are_stripped() -> None:
    text = "Zo\u200be Park\u202e\nProduct\x00 Manager\nzoe.park@example.com"
    c = parse_text(text)
    assert c.scalar("name") == "Zoe Park"
    assert c.scalar("title") == "Product Manager"
    assert c.raw_text == text  # the stored raw text is intact
    for f in (c.name, c.title):
        assert f is not None and not re.search(r"[\u200b\u202e\x00]", f.value)


def test_100kb_garbage_is_bounded_and_capped() -> None:
    rnd = __import__("random").Random(7)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789 .,@-+()/:"
    lines = ["".join(rnd.choice(alphabet) for _ in range(1000)) for _ in range(100)]
    lines.append("Q" * 5000)
    t = time.perf_counter()
    c = parse_text("\n".join(lines))
    assert time.perf_counter() - t < 10.0
    for f in (c.name, c.title, c.company, c.address, *c.emails, *c.websites):
        assert f is None or len(f.value) <= MAX_FIELD_CHARS
    assert all(len(p.raw) <= MAX_FIELD_CHARS for p in c.phones)


def test_empty_input() -> None:
    c = parse(OcrResult((), "none"))
    assert c == Contact(region="US", raw_text="")


# ------------------------------------------------------------------ shared evaluation text (skipped when absent)

ASYM = SHARED / "eval" / "text" / "asymmetrik_challenge_normalized.jsonl"
MAILGUN = SHARED / "eval" / "text" / "mailgun_forge_signatures.jsonl"


def _jsonl(path: Path) -> list[dict]:
    if not path.exists():
        pytest.skip(f"{path} not available")
    return [json.loads(l) for l in path.read_text(encoding="utf-8").splitlines() if l.strip()]


@pytest.mark.eval
def test_asymmetrik_challenge_cards() -> None:
    for rec in _jsonl(ASYM):
        c = parse_text(rec["text"])
        exp = rec["expected"]
        for k in ("name", "title", "company"):
            assert norm(c.scalar(k)) == norm(exp[k]), (rec["id"], k)
        assert [e.value.casefold() for e in c.emails] == [e.casefold() for e in exp["emails"]], rec["id"]
        assert [(p.number, p.type) for p in c.phones] == [(p["number"], p["type"]) for p in exp["phones"]], rec["id"]
        if exp["address"]:
            assert words_f1(c.scalar("address"), exp["address"]) >= 0.7, rec["id"]
        else:
            assert c.address is None, rec["id"]


@pytest.mark.eval
def test_mailgun_signatures_values_come_from_the_text() -> None:
    """Messy real signatures: nothing invented; every phone and e-mail found is printed in the text."""
    recs = _jsonl(MAILGUN)
    t = time.perf_counter()
    for rec in recs:
        text = "\n".join(rec["signature_lines"])
        c = parse_text(text)
        digits = re.sub(r"\D", "", text)
        for p in c.phones:
            assert re.sub(r"\D", "", p.number)[-7:] in digits, (rec["id"], p)
        for e in c.emails:
            assert e.value.split("@")[0].casefold() in text.casefold(), (rec["id"], e)
    assert time.perf_counter() - t < 20.0


# ------------------------------------------------------------------ techniques added for real cards


def test_logo_word_above_a_generic_name_is_taken_when_the_domain_spells_it() -> None:
    c = parse_text("ZUNTRO\nGlobal Services\nAna Ruiz\nSales Manager\nana@zuntroglobalservices.com")
    assert c.scalar("company") == "ZUNTRO Global Services"


def test_generic_only_company_without_domain_support_is_left_empty() -> None:
    # The distinctive part was a logo the OCR missed: half a name is worse than none.
    c = parse_text("Automotive GmbH\nAna Ruiz\nana@qexpart.de")
    assert c.company is None


def test_website_read_in_pieces_is_not_a_company() -> None:
    c = parse_text("Ana Ruiz\nWWW.\nqexpart com br\nana@qexpart.com.br")
    assert c.company is None


def test_name_lookalike_repaired_only_when_the_name_lists_know_it() -> None:
    assert parse_text("Danie! Whitton\nCell: 415-555-0134").scalar("name") == "Daniel Whitton"
    assert parse_text("Zqx! Whitton\nCell: 415-555-0134").scalar("name") is None


def test_honorific_dr_is_not_a_street() -> None:
    c = parse_text("DR. KELLY FOCHT\n457 Main Street, Building 2\nBuffalo, NY 14201")
    assert c.scalar("name") == "DR. KELLY FOCHT"
    assert "KELLY" not in (c.scalar("address") or "")


def test_two_offices_are_not_one_address() -> None:
    c = parse_text("Ken Sato\nTOKYO : 2-7-7-9F Ueno-building Taito-ku\nTokyo 110-0005, JAPAN\n"
                   "OSAKA : 4-1-8-3F Arute-building Chuo-ku\nOsaka 541-0054, JAPAN\nken@example.jp")
    a = c.scalar("address") or ""
    assert "110-0005" in a and "Osaka" not in a


def test_long_dash_inside_an_address_is_a_hyphen() -> None:
    c = parse_text("E-mail: satoshi\u2014t@example.com")
    assert [e.value for e in c.emails] == ["satoshi-t@example.com"]


def test_bare_link_qr_does_not_replace_the_printed_website() -> None:
    qr = (QrPayload("url", "https://www.example.com/business-card", {"websites": ["https://www.example.com/business-card"]}),)
    c = parse(text_to_ocr("Ana Ruiz\nwww.example.com"), qr)
    assert [w.value for w in c.websites] == ["www.example.com"]


def test_merge_readings_agreement_raises_and_gaps_fill() -> None:
    from cardscan.parsing.contact import merge_readings

    a = parse_text("Ana Ruiz\nSales Manager\nana@example.com")
    b = parse_text("Ana Ruiz\nSales Manager\nana@example.com\nTel: +44 20 7946 0000")
    m = merge_readings(a, b)
    assert m.name is not None and a.name is not None and m.name.confidence > a.name.confidence
    assert [p.number for p in m.phones] == ["+442079460000"]  # only the second reading had it
    assert m.phones[0].confidence < b.phones[0].confidence


def test_merge_readings_flags_a_disagreement() -> None:
    from cardscan.parsing.contact import merge_readings

    a = parse_text("Ana Ruiz\nSales Manager")
    b = parse_text("Ana Ruiz\nSales Director")
    m = merge_readings(a, b)
    assert m.title is not None and m.title.value == "Sales Manager" and "disagreement" in m.title.flags


def test_language_regions_are_tried_and_the_numbers_decide() -> None:
    # Nothing names the country; the card is in Portuguese and the number is valid in Brazil only.
    c = parse_text("Ricardo Souza\nConsultor de vendas\nCel: (11) 97412-1100")
    assert [p.number for p in c.phones] == ["+5511974121100"] and c.region == "BR"
    # Language alone never moves a number: an English card keeps the digits as printed.
    e = parse_text("Richard Sousa\nSales consultant\nCell: (11) 97412-1100")
    assert e.region != "BR"


def test_misread_url_scheme_is_repaired() -> None:
    c = parse_text("Rosa Delgado\nSenior Analyst\nrosa@quillfen.example.com\nhittps://Www.quillfen.com|")
    assert [w.value for w in c.websites] == ["https://Www.quillfen.com"]


def test_www_then_the_email_domain_with_spaces_for_dots_is_the_website() -> None:
    c = parse_text("Tomas Ferreira\n(11) 2076 5555\ntomas@varbeck.com.br\nWWW.\nvarbeck com br")
    assert [w.value for w in c.websites] == ["www.varbeck.com.br"]
    # without the "www" it is only text
    c = parse_text("Tomas Ferreira\ntomas@varbeck.com.br\nvarbeck com br")
    assert c.websites == ()


def test_website_a_letter_away_from_the_email_domain_is_flagged() -> None:
    c = parse_text("Aiko Tanabe\naiko@morivale.co.jp\nURL: http://www.morivale.co.io")
    (w,) = c.websites
    assert "low_confidence" in w.flags and "morivale.co.jp" in (w.message or "")
    c = parse_text("Aiko Tanabe\naiko@morivale.co.jp\nURL: http://www.morivale.co.jp")
    assert "low_confidence" not in c.websites[0].flags


def test_synthetic_card_text_fields() -> None:
    """The parser alone on the printed lines of 100 synthetic cards (no layout, no OCR): its
    figures are in the README; run with -s to print them."""
    from collections import Counter

    from cardscan.bench import synth
    def key(s: str | None) -> str | None:
        return " ".join(unicodedata.normalize("NFKD", s or "").encode("ascii", "ignore").decode().lower().split()) or None

    n: Counter[str] = Counter()
    for seed in range(300, 400):
        card = synth.make_card(seed, qr=None)
        got = parse_text("\n".join(card.lines))
        for f in ("name", "title", "company"):
            g, w = key(got.scalar(f)), key(card.truth.get(f))
            n[f"{f} printed"] += w is not None
            n[f"{f} right"] += g is not None and g == w
            n[f"{f} wrong"] += g is not None and g != w
    print(dict(sorted(n.items())))
    for f, floor in (("name", 0.98), ("title", 0.97), ("company", 0.97)):
        assert n[f"{f} right"] >= floor * n[f"{f} printed"], (f, n)
        assert n[f"{f} wrong"] <= 1, (f, n)


@pytest.mark.parametrize(("line", "name", "title"), [
    ("Ana Lima | Director of Operations", "Ana Lima", "Director of Operations"),
    ("Ravi Shah (Director)", "Ravi Shah", "Director"),
    ("Ana Lima - Head of Sales", "Ana Lima", "Head of Sales"),
    ("Ana Lima Director of Operations", "Ana Lima", "Director of Operations"),
    ("Nathan K. Pemberton Sales Manager", "Nathan K. Pemberton", "Sales Manager"),
    ("Lena Bauer Vertriebsleiterin", "Lena Bauer", "Vertriebsleiterin"),
])
def test_name_and_title_on_one_line(line: str, name: str, title: str) -> None:
    """The whole line used to become the title and the name was lost."""
    mail = name.split()[-1].lower() + "@brelovik.co.uk"
    c = parse_text(f"Brelovik Trading Ltd\n{line}\nTel 020 7946 0018\n{mail}")
    assert c.scalar("name") == name
    assert c.scalar("title") == title


def test_logo_word_read_into_the_company_is_dropped() -> None:
    c = parse_text("NORVEX NORVEX SYSTEMS, INC.\nDaniel Mercer\nSales Manager\ndaniel@norvex.com")
    assert c.scalar("company") == "NORVEX SYSTEMS, INC."


def test_a_name_wrapped_over_two_lines_joins_when_the_domain_spells_it() -> None:
    c = parse_text("Daniel Mercer\nSales Manager\nOLIVEIRA\nATELIER\ndaniel@oliveiraatelier.com")
    assert c.scalar("company") == "OLIVEIRA ATELIER"
    c = parse_text("Daniel Mercer\nSales Manager\nOLIVEIRA\nATELIER\ndaniel@example.com")
    assert c.scalar("company") != "OLIVEIRA ATELIER"
    # a trade word under the logo word joins it without the domain ('QUORIVIK' / 'ARQUITETURA')
    c = parse_text("Daniel Mercer\nSales Manager\nOLIVEIRA\nTAILORS\ndaniel@example.com")
    assert c.scalar("company") == "OLIVEIRA TAILORS"


def test_the_email_local_part_repairs_or_doubts_the_name() -> None:
    c = parse_text("Daniel Sutheriand\nSales Manager\ndaniel.sutherland@caldwell.example.com")
    assert c.scalar("name") == "Daniel Sutherland"
    assert "repaired" in c.name.flags and "Sutheriand" in c.name.message
    same = parse_text("Daniel Sutherland\nSales Manager\ndaniel.sutherland@caldwell.example.com")
    assert c.name.confidence < same.name.confidence and not same.name.flags
    # a spelling that OCR does not produce is not changed, only doubted
    c = parse_text("Catarina Lopes\nDirector\nkatarina.lopes@example.com")
    assert c.scalar("name") == "Catarina Lopes"
    assert "low_confidence" in c.name.flags and c.name.confidence < 0.6


@pytest.mark.parametrize("text", [
    "山田 太郎\nTaro Yamada\nSales Manager\ntaro.yamada@yamada.co.jp",
    "Taro Yamada 山田太郎\nSales Manager\ntaro@yamada.co.jp",
    "山田太郎 Taro Yamada\nSales Manager\ntaro@yamada.co.jp",
])
def test_a_card_printing_both_forms_keeps_the_latin_name(text: str) -> None:
    c = parse_text(text)
    assert c.scalar("name") == "Taro Yamada"
    assert c.scalar("company") is None  # the mixed line is not taken for a firm


@pytest.mark.parametrize(("first", "company"), [
    ("Brelovik Logistics Ltd - Moving you forward", "Brelovik Logistics Ltd"),
    ("Vantris | Smart Homes", "Vantris"),  # the domain spells the name
    ("Smith - Jones Ltd", "Smith - Jones Ltd"),  # no tagline: the mark is part of the name
])
def test_company_and_tagline_on_one_line(first: str, company: str) -> None:
    c = parse_text(f"{first}\nAna Lima\nSales Manager\nana@vantris.com")
    assert c.scalar("company") == company


@pytest.mark.parametrize(("text", "company", "repaired"), [
    # the logo word read with one letter wrong; the domain spells it
    ("Teodor Varga\nSales Lead\nteodor@brightmill.example.com\nBRIGHTMIIL\n+1 303 555 0101", "BRIGHTMILL", True),
    # the domain shortens the name set over two lines word by word (sable + brew)
    ("sable grove\nBREWING\nIda Lunde\nBrewer\nida@sablebrew.no", "sable grove BREWING", False),
    # the logo's letters run together; another line prints them as words
    ("QUIETHARBOUR\nNils Ek\nManager\nQuiet Harbour Malmo 21120\nnils@qhb.example.se", "QUIET HARBOUR", False),
])
def test_company_from_the_domains_evidence(text: str, company: str, repaired: bool) -> None:
    c = parse_text(text)
    assert c.scalar("company") == company
    assert ("repaired" in c.company.flags) is repaired  # type: ignore[union-attr]


def test_a_domain_shortening_the_name_is_no_misspelling() -> None:
    """caleste + ar -> 'calestear' is one letter from 'Calestead': the name is kept as printed."""
    c = parse_text("Daiki Kato\nPartner\ndaiki.kato@calestear.co.jp\nCalestead Architects Inc.")
    assert c.scalar("company") == "Calestead Architects Inc."


def test_logo_initials_agree_with_a_hyphenated_domain() -> None:
    from cardscan.parsing.company import _domain_agrees

    assert _domain_agrees("KVL", ["kestrel-vale"]) >= 2.5  # K(estrel) V(ale), and one more word
    assert _domain_agrees("KVL", ["kestrelvale"]) == 0.0  # no hyphens: no words to take initials of
    assert _domain_agrees("Kvl group", ["kestrel-vale"]) == 0.0  # a line of words is no logo


def test_an_initial_and_a_family_name_outweigh_a_large_shop_name() -> None:
    """'MOTO SANTOS' printed large over 'R. MARTINS': the shop's words name no person first."""
    big = text_to_ocr("MOTO SANTOS", height=60)
    rest = text_to_ocr("R. MARTINS\nGuincho 24 horas\nTel (11) 99876-5432", height=25)
    moved = tuple(Line(tuple(Word(w.text, w.conf, (w.box[0], w.box[1] + 80, w.box[2], w.box[3])) for w in l.words))
                  for l in rest.lines)
    c = parse(OcrResult(big.lines + moved, engine="text", image_size=(0, 0)), region="BR")
    assert c.scalar("name") == "R. MARTINS"


def test_letters_without_a_decomposition_fold_to_their_base() -> None:
    """Turkish dotless i, Nordic o with stroke: the e-mail's ASCII local part still confirms the name."""
    from cardscan.parsing.layout import fold

    assert fold("Barış Øvergård Łukasz") == "baris overgard lukasz"
    c = parse_text("Barış Can Öztürk\nSupervisor\nbaris@example.com.tr")
    assert c.scalar("name") == "Barış Can Öztürk"


def _stacked(*parts: tuple[str, int]) -> OcrResult:
    """Lines of text_to_ocr, each part at its own print height, one under the other."""
    out, y = [], 0
    for text, h in parts:
        for l in text_to_ocr(text, height=h).lines:
            out.append(Line(tuple(Word(w.text, w.conf, (w.box[0], y, w.box[2], w.box[3])) for w in l.words)))
            y += 2 * h
    return OcrResult(tuple(out), engine="text", image_size=(0, 0))


@pytest.mark.parametrize("shop", ["Casa Verde", "PRONTO GUINCHO"])
def test_the_largest_print_that_names_no_one_is_the_company(shop: str) -> None:
    c = parse(_stacked((shop, 70), ("R. Martins", 30), ("Guincho 24 horas", 25), ("(11) 99876-5432", 25)), region="BR")
    assert (c.scalar("company"), c.scalar("name")) == (shop, "R. Martins")


@pytest.mark.parametrize("headline", [
    "We fix it for you",  # a sentence
    "Sales Director",  # a title
])
def test_large_print_that_is_no_name_of_a_firm_is_no_company(headline: str) -> None:
    c = parse(_stacked((headline, 70), ("Ines Moreau", 30), ("+33 1 42 55 01 90", 25),
                       ("ines.moreau@gmail.com", 25)), region="FR")
    assert c.company is None


def test_large_print_low_on_the_card_is_no_logo() -> None:
    c = parse(_stacked(("Ines Moreau", 30), ("+33 1 42 55 01 90", 25), ("ines.moreau@gmail.com", 25),
                       ("KORVALD", 70)), region="FR")
    assert c.company is None


def _placed(rows: list[list[tuple[str, int]]], height: int = 30) -> OcrResult:
    """Rows of (text, x) pieces: each piece its own line, side by side on the row, as a line
    reader gives a card printed in columns."""
    out = []
    for r, row in enumerate(rows):
        for text, x in row:
            words, cx = [], x
            for tok in text.split():
                w = len(tok) * height // 2
                words.append(Word(tok, 95.0, (cx, 40 + r * int(1.2 * height), w, height)))
                cx += w + height // 2
            out.append(Line(tuple(words)))
    return OcrResult(tuple(out), engine="text", image_size=(0, 0))


def test_an_address_down_its_column_beside_phone_numbers() -> None:
    """The address on the left, numbers and e-mail on the right: read row by row, the address's
    lines alternate with the others; it is still one address."""
    ocr = _placed([
        [("Helga Brandt", 40)],
        [("Einkaufsleiterin", 40)],
        [("Lindenallee 14,", 40), ("+49 30 5557 1201", 700)],
        [("Hof 2, Aufgang B,", 40), ("helga@brandt-metall.example.de", 700)],
        [("10115 Berlin", 40), ("www.brandt-metall.example.de", 700)],
    ])
    c = parse(ocr, region="DE")
    assert c.scalar("address") == "Lindenallee 14, Hof 2, Aufgang B, 10115 Berlin"


def test_a_line_far_below_is_not_the_address_continued() -> None:
    """The same column, but far under the address (a tagline at the foot of the card)."""
    ocr = _placed([
        [("Helga Brandt", 40)],
        [("Lindenallee 14", 40)],
        [("10115 Berlin", 40)],
        [],
        [],
        [],
        [("Seit 1987, Qualität aus Berlin", 40)],
    ])
    c = parse(ocr, region="DE")
    assert c.scalar("address") == "Lindenallee 14, 10115 Berlin"


def test_po_box_keeps_its_abbreviation() -> None:
    """'P.O.' before a wide gap is an abbreviation, not a pictogram read as two stray letters."""
    c = parse_text("Mohammed Saleh\nSales Manager\nm.saleh@example.ae\nP.O. Box 4471, Dubai, UAE")
    assert c.scalar("address") == "P.O. Box 4471, Dubai, UAE"


@pytest.mark.parametrize(("line", "title"), [
    ("Team Leader", "Team Leader"),  # 'leader' alone is also a family name; the phrase is a role
    ("Team Lead", "Team Lead"),
    ("Shift Leader", "Shift Leader"),
    ("Marketing Team", None),  # a team, not a role
    ("Sales Department", None),
])
def test_team_roles_and_teams(line: str, title: str | None) -> None:
    assert parse_text(f"Ravi Menon\n{line}\nravi@example.in").scalar("title") == title


@pytest.mark.parametrize("role", ["Prop.", "Apprentice", "Career Counselor", "Procurement Department Head",
                                  "Deputy General Manager (Division Head)", "Advocate", "AGM - Sales"])
def test_roles_outside_the_occupation_lists(role: str) -> None:
    """Trades, abbreviations and unit heads as printed on shop and office cards: the title, and
    never part of the company under it."""
    c = parse_text(f"Ramesh Sharma\n{role}\nKaveri Traders\n+91 98765 43210\nramesh@kaveritraders.in")
    assert (c.scalar("title"), c.scalar("company")) == (role, "Kaveri Traders")


def test_an_indian_shop_card_without_country_code() -> None:
    """No +91 and no 'India' printed: the six-digit PIN after the city lets the numbers decide
    (all three are valid Indian numbers, the landline is no US number); a second mobile after a
    comma keeps the label of the list; the shop's address is found by its street words and PIN."""
    c = parse_text("SHREE GANESH ELECTRICALS\nAnil Kumar Verma\nProp.\nShop No. 14, Naza Market, Lucknow - 226001\n"
                   "Mob.: 98390 12345, 94150 67890\nPh.: 0522-2614455\nEmail: ganeshelectricals@gmail.com")
    assert c.region == "IN"
    assert [(p.number, p.type) for p in c.phones] == [
        ("+919839012345", "mobile"), ("+919415067890", "mobile"), ("+915222614455", "work")]
    assert c.scalar("address") == "Shop No. 14, Naza Market, Lucknow - 226001"
    assert (c.scalar("name"), c.scalar("title"), c.scalar("company")) == ("Anil Kumar Verma", "Prop.", "SHREE GANESH ELECTRICALS")


def test_numbers_valid_in_the_us_too_follow_the_grouping_they_are_printed_in() -> None:
    """Two Indian mobiles that are also valid US numbers (983, 941 are US area codes), a PIN
    after the city, no landline: the numbers are printed 5+5 as India writes them, not 3-3-4, so
    India. Without the PIN the grouping alone still says India: no other country writes a valid
    number so. A US number printed as the US writes it stays US whatever the card's language."""
    shop = "Rajesh Sharma\nSharma Traders\n{addr}Mob.: 98390 12345, 94150 67890\nsharma@gmail.com"
    c = parse_text(shop.format(addr="Main Market, Lucknow - 226001\n"))
    assert [p.number for p in c.phones] == ["+919839012345", "+919415067890"]
    c = parse_text(shop.format(addr=""))
    assert [p.number for p in c.phones] == ["+919839012345", "+919415067890"]
    # a number no country but the fallback's accepts is never moved by its grouping alone
    c = parse_text("Richard Sousa\nSales consultant\nCell: (11) 97412-1100")
    assert c.region == "US"
    c = parse_text("Juan Pérez\nGerente de Ventas\nCalle Mayor 5, Springfield\nTel. (415) 555-0199\njuan@example.com")
    assert [p.number for p in c.phones] == ["+14155550199"]


@pytest.mark.parametrize("job", ["Dyrlæge", "Ergoterapeut", "Yönetici", "Forscher*in", "Журналист", "Επιπλοποιός"])
def test_a_job_word_no_vocabulary_knows_is_not_glued_to_the_company(job: str) -> None:
    """A one-word title in a language the word lists do not know, above a company with a name
    of its own: not read as the first half of a two-line logo (python -m cardscan.bench.jobtitles
    measures this over Faker's job lists: company kept on 2,319 of 3,000 cards before, 2,939 after)."""
    c = parse_text(f"Maria Keller\n{job}\nVelmora Systems Ltd\n+44 20 7946 0958\nmaria@velmora.example.com")
    assert c.scalar("company") == "Velmora Systems Ltd"


def test_a_two_letter_abbreviation_before_a_gap_is_a_word_not_an_icon() -> None:
    from cardscan.models import Line, Word
    from cardscan.parsing.lines import _drop_leading_icon

    def line(first: str, rest: str, gap: int) -> Line:  # boxes as the line reader gives them, 39 px high
        return Line((Word(first, 99, (286, 379, 32, 39)), Word(rest, 99, (286 + 32 + gap, 379, 176, 39))))

    assert _drop_leading_icon(line("IT", "Solutions", 26)).text == "IT Solutions"
    assert _drop_leading_icon(line("HR", "Manager", 30)).text == "HR Manager"
    assert _drop_leading_icon(line("QO", "Tavaton", 30)).text == "Tavaton"  # a pictogram read as letters
    assert _drop_leading_icon(line("QO", "Tavaton", 8)).text == "QO Tavaton"  # no gap: printed so


def test_a_logo_over_its_legal_form_is_joined_in_its_own_column() -> None:
    """'Dexiwick' over 'Arquitetura S.A.' on the left; the right column's 'Departamento Comercial'
    falls between them in reading order. The generic line with the legal form takes the logo
    word of its own column, not the department beside it. The website read 'dextwick' (one letter
    misread) does not respell the name the e-mail's domain spells exactly."""
    from cardscan.models import Line, OcrResult, Word
    from cardscan.parsing.contact import parse

    def line(x: int, y: int, h: int, *words: str) -> Line:
        out, cx = [], x
        for w in words:
            out.append(Word(w, 97.0, (cx, y, len(w) * h // 2, h)))
            cx += len(w) * h // 2 + h // 3
        return Line(tuple(out))

    ocr = OcrResult((
        line(599, 74, 85, "Thiago", "Carvalho"),
        line(580, 149, 58, "Coordenador", "de", "Projetos"),
        line(149, 177, 56, "Dexiwick"),
        line(579, 200, 54, "Departamento", "Comercial"),
        line(42, 231, 65, "Arquitetura", "S.A."),
        line(579, 495, 50, "Tel:", "+55", "41", "3399-7971"),
        line(577, 540, 53, "E-mail:", "t.carvalho@dexiwick.com.br"),
        line(579, 587, 50, "Site:", "www.dextwick.com.br"),
    ), engine="test", image_size=(1500, 900))
    c = parse(ocr)
    assert c.scalar("company") == "Dexiwick Arquitetura S.A."
    assert c.scalar("name") == "Thiago Carvalho"


def test_lone_capital_i_in_an_email_is_read_as_the_letter_the_name_spells() -> None:
    # OCR reads a lower-case l as a capital I; the card holder's name says which letter it is
    c = parse_text("Lukas Bauer\nSales Manager\nIbauer@tavaara.de\n+49 30 1234567")
    assert [e.value for e in c.emails] == ["lbauer@tavaara.de"]
    assert "repaired" in c.emails[0].flags
    c = parse_text("Ian Smith\nIsmith@example.com")
    assert [e.value for e in c.emails] == ["ismith@example.com"]
    c = parse_text("Lucas Ferreira\nIferreira@noraford.com.br")
    assert c.emails[0].value == "lferreira@noraford.com.br"


def test_lone_capital_i_the_name_does_not_explain_is_flagged() -> None:
    # "sales" is no part of the name: the name cannot decide, so the address is kept as read, flagged
    c = parse_text("Maria Lopez\nSales\nmIopez.sales@example.com")
    e = c.emails[0]
    assert e.value == "mIopez.sales@example.com" and "low_confidence" in e.flags
    c = parse_text("Anna Berg\nIfrank@example.com")
    e = c.emails[0]
    assert e.value == "Ifrank@example.com" and "low_confidence" in e.flags and e.confidence <= 0.5
    # an address printed in capitals, or with a capital that is no I, is left alone
    c = parse_text("Anna Berg\nLISA@EXAMPLE.COM")
    assert c.emails[0].flags == () and c.emails[0].value.startswith("LISA@")


def test_an_email_domain_the_website_and_company_spell_otherwise_is_repaired() -> None:
    c = parse_text("Larissa Ribeiro\nWexeris Alimentos\nlarissa.ribeiro@wexaris.com.br\nwww.wexeris.com.br")
    assert [e.value for e in c.emails] == ["larissa.ribeiro@wexeris.com.br"]
    assert "repaired" in c.emails[0].flags
    assert [w.flags for w in c.websites] == [()]  # the website agrees with the address as repaired


def test_an_email_domain_only_the_website_contradicts_flags_both() -> None:
    # no third source says which one was misread
    c = parse_text("Larissa Ribeiro\nSales\nlarissa.ribeiro@wexaris.com.br\nwww.wexeris.com.br")
    assert c.emails[0].value == "larissa.ribeiro@wexaris.com.br" and "low_confidence" in c.emails[0].flags
    assert "low_confidence" in c.websites[0].flags


def test_an_email_one_letter_from_the_company_or_the_name_is_flagged() -> None:
    c = parse_text("Yan Chen\nOmbrotera\nyan.chen@pombrotera.com")
    assert c.emails[0].value == "yan.chen@pombrotera.com" and "low_confidence" in c.emails[0].flags
    c = parse_text("Hannah J. Thornton\nLangley & Holloway Ltd\nhannahe@taveton.co.uk")
    assert "low_confidence" in c.emails[0].flags and c.emails[0].confidence <= 0.5
    # the same cards read right: nothing flagged
    for text in ("Yan Chen\nOmbrotera\nyan.chen@ombrotera.com",
                 "Hannah J. Thornton\nLangley & Holloway Ltd\nhannaht@taveton.co.uk",
                 "Larissa Ribeiro\nWexeris Alimentos\nlarissa.ribeiro@wexeris.com.br\nwww.wexeris.com.br",
                 "Daniel Carlos\nBeltis\ndaniel.silva@beltis.com.br"):
        assert all(e.flags == () for e in parse_text(text).emails), text


def test_a_legal_form_on_the_line_above_is_not_glued_to_the_email() -> None:
    c = parse_text("Marta Castillo\nGralonix Ingenieria S.L.\nmarta@gralonix.com")
    assert [e.value for e in c.emails] == ["marta@gralonix.com"]
    assert c.company is not None and c.company.value == "Gralonix Ingenieria S.L."


@pytest.mark.parametrize("text, region, numbers", [
    # nothing names the country: a place on the card, or its script, says which numbering to try
    ("김민준\nKim Minjun\nSales Manager\nTel 02-1234-5678\nMobile 010-9876-5432\n서울특별시 강남구 테헤란로 123",
     "KR", ["+82212345678", "+821098765432"]),
    ("Kim Minjun\nSales Manager\nTel 02-1234-5678\nMobile 010-9876-5432\n123 Teheran-ro, Gangnam-gu, Seoul",
     "KR", ["+82212345678", "+821098765432"]),
    ("Hans Muster\nVerkaufsleiter\nTel. 044 123 45 67\nBahnhofstrasse 10\n8001 Zürich", "CH", ["+41441234567"]),
    ("Ramesh Kumar\nSharma Traders\n98390 12345\nAminabad, Lucknow", "IN", ["+919839012345"]),
    # eight-digit numbers no US pattern finds, in a Hong Kong district
    ("Chan Tai Man\nManager\nTel: 2345 6789\nMobile: 9123 4567\n18 Harbour Road, Wan Chai", "HK",
     ["+85223456789", "+85291234567"]),
])
def test_places_and_scripts_say_which_numbering_to_try(text: str, region: str, numbers: list[str]) -> None:
    c = parse_text(text)
    assert c.region == region and [p.number for p in c.phones] == numbers


def test_a_place_never_moves_numbers_valid_where_they_are() -> None:
    # a US number grouped the US way stays in the US, whatever town the card names
    c = parse_text("John Smith\nSales\n(415) 555-0100\n100 Main St, Paris")
    assert [p.number for p in c.phones] == ["+14155550100"]


def test_place_and_script_regions() -> None:
    from cardscan.parsing.places import place_regions, script_regions

    assert place_regions(["D-26723 Emden"]) == {"DE": 1}
    assert "BR" not in place_regions(["Richard Sousa"])  # a person's name, though Sousa is a town
    assert place_regions(["lucknow"]) == {}  # printed without a capital: a word, not a name
    assert script_regions(["김민준"]) == ("KR",)
    assert script_regions(["山田太郎", "やまだ"]) == ("JP",)
    assert "HK" in script_regions(["陳大文"]) and script_regions(["Chan Tai Man"]) == ()


@pytest.mark.parametrize("printed, number, region", [
    ("Tel: 852-2345-6789", "+85223456789", "HK"),
    ("Tel: (852) 2345 6789\nFax: 2345 6790", "+85223456789", "HK"),
    ("T. 82-2-1234-5678\nM. 010-9876-5432", "+82212345678", "KR"),
    ("Tel: 00971 4 331 2345", "+97143312345", "AE"),
    ("Tel : 91-522-2612345", "+915222612345", "IN"),
    ("(852) 2345 6789", "+85223456789", "HK"),  # unlabelled, the code in brackets
])
def test_a_country_code_printed_without_plus(printed: str, number: str, region: str) -> None:
    c = parse_text("Chan Tai Man\nManager\n" + printed)
    assert c.phones[0].number == number and c.region == region
    assert "invalid" not in c.phones[0].flags
    if "Fax" in printed:  # the other number then reads in the same country
        assert [p.number for p in c.phones] == ["+85223456789", "+85223456790"]


def test_a_bare_number_is_not_taken_for_a_country_code() -> None:
    # unlabelled, no 00 and no brackets: possibly a misread local number ("+81" read as "41")
    assert parse_text("Chan Tai Man\nManager\n41-58 176 5275").phones == ()
    # a card the domain places in Japan printing a Swiss-looking number: kept, but for review
    c = parse_text("Chan Tai Man\nManager\nwww.praviris.jp\nTel 41-58 176 5275")
    assert c.phones[0].number == "+41581765275" and "low_confidence" in c.phones[0].flags


def test_a_romanised_korean_or_japanese_address_is_found_by_its_units() -> None:
    c = parse_text("Samsung Electronics Co., Ltd.\nKim Min-jun\nSenior Engineer\n"
                   "129 Samsung-ro, Yeongtong-gu, Suwon-si, Gyeonggi-do, Korea\nT. 82-31-200-1234")
    assert c.address is not None and c.address.value == "129 Samsung-ro, Yeongtong-gu, Suwon-si, Gyeonggi-do, Korea"
    assert c.name is not None and c.name.value == "Kim Min-jun"  # a hyphenated given name is no unit


def test_an_invocation_over_a_shop_card_is_no_part_of_its_name() -> None:
    text = ("|| Shree Ganesh ||\nSHARMA ELECTRICALS\nRamesh Sharma\n(Proprietor)\n"
            "Shop No. 12, Aminabad Market, Lucknow - 226018\nMob.: 98390 12345")
    c = parse_text(text)
    assert (c.scalar("company"), c.scalar("name"), c.scalar("title")) == ("SHARMA ELECTRICALS", "Ramesh Sharma", "Proprietor")
    # OCR reads the bars as capital I; a street number and a suite number are no bars
    assert parse_text(text.replace("||", "II")).scalar("company") == "SHARMA ELECTRICALS"
    c = parse_text("Jo Bloggs\nSales\n11 Main St, Suite 11\nSpringfield, IL 62701")
    assert c.scalar("address") == "11 Main St, Suite 11, Springfield, IL 62701"


def test_a_label_that_is_also_a_town_points_nowhere() -> None:
    from cardscan.parsing.places import place_regions

    assert place_regions(["Mobile: 9839012345"]) == {}  # Mobile, Alabama
    # a number valid in both countries, beside an Indian town and PIN: the numbers do not decide,
    # the town does
    c = parse_text("Ramesh Kumar\nSharma Traders\nShop 12, Aminabad, Lucknow - 226018\nMobile: 9839012345")
    assert [p.number for p in c.phones] == ["+919839012345"]  # the town breaks the tie
    # without the town (only the PIN's IN/SG/CN): the tie stays with the fallback, never a number
    # of a third country it is not valid in
    c = parse_text("Ramesh Kumar\nSharma Traders\nShop 12 - 226018\nMobile: 9839012345")
    assert [p.number for p in c.phones] == ["+19839012345"] and "invalid" not in c.phones[0].flags


@pytest.mark.parametrize("printed, numbers", [
    ("Ph.: 0522-2612345, 2612346", ["+915222612345", "+915222612346"]),
    ("Tel: +91-522-2612345 / 46", ["+915222612345", "+915222612346"]),
    ("Tel: +44 20 7946 0000 / 01 / 02", ["+442079460000", "+442079460001", "+442079460002"]),
    # a street number after a comma is no continuation
    ("Tel: 0522-2612345, 12 Main Road", ["+915222612345"]),
])
def test_a_number_continued_by_its_last_digits(printed: str, numbers: list[str]) -> None:
    c = parse_text("Ramesh Kumar\nSharma Traders\nShop 12, Aminabad, Lucknow - 226018\n" + printed)
    assert [p.number for p in c.phones] == numbers
    assert all(p.type == "work" for p in c.phones)


@pytest.mark.parametrize("printed, numbers, types", [
    ("Tel: +91 522 2612345  Fax: 2612346", ["+915222612345", "+915222612346"], ["work", "fax"]),
    ("Off: 0522-2612345\nResi: 2634567", ["+915222612345", "+915222634567"], ["work", "other"]),
    ("Tel. +49 89 1234567\nFax 1234568", ["+49891234567", "+49891234568"], ["work", "fax"]),
    ("Tel: +91 5222612345 Fax: 2612346", ["+915222612345", "+915222612346"], ["work", "fax"]),
])
def test_a_labelled_number_without_its_area_code_takes_the_cards(printed: str, numbers: list[str],
                                                                   types: list[str]) -> None:
    c = parse_text("Ramesh Kumar\nSharma Traders\nShop 12, Aminabad, Lucknow - 226018\n" + printed)
    assert [p.number for p in c.phones] == numbers
    assert [p.type for p in c.phones] == types
    guessed = c.phones[1]
    assert guessed.confidence < 0.6 and "area code" in (guessed.message or "")  # flagged for review


@pytest.mark.parametrize("printed", [
    "Tel: +91 522 2612345\nLucknow 2612346",  # no phone label before the digits
    "Tel: +91 522 2612345\nPIN 226001",  # a postal code, labelled as one
    "Mob: +91 98390 12345\nFax: 2612346",  # a mobile number has no area code to lend
])
def test_unlabelled_or_other_digits_take_no_area_code(printed: str) -> None:
    c = parse_text("Ramesh Kumar\nSharma Traders\nShop 12, Aminabad, Lucknow - 226018\n" + printed)
    assert len(c.phones) == 1


def test_two_addresses_on_one_line_after_a_comma_stay_two() -> None:
    c = parse_text("Ramesh Sharma\nSharma Traders\nramesh.sharma@gmail.com, info@sharma.in")
    assert sorted(e.value for e in c.emails) == ["info@sharma.in", "ramesh.sharma@gmail.com"]
    # a comma read for the dot of one domain is still repaired
    assert [e.value for e in parse_text("Ramesh Sharma\nramesh@sharma,co,in").emails] == ["ramesh@sharma.co.in"]


@pytest.mark.parametrize("degrees", ["M.B.B.S., M.D. (Medicine)", "B.Com, FCA", "LL.B.", "Ph.D."])
def test_a_line_of_degrees_is_neither_title_nor_company(degrees: str) -> None:
    c = parse_text(f"Dr. Ramesh Sharma\n{degrees}\nSharma Associates\nramesh@sharmaassociates.in\nMob.: 98390 12345")
    assert (c.scalar("title"), c.scalar("company")) == (None, "Sharma Associates")


def test_degrees_and_titles_told_apart() -> None:
    from cardscan.parsing.lines import qualifications

    assert qualifications("B.Tech (Civil)") and qualifications("BE, ME")
    # MD alone may be a managing director; a degree beside a word is no line of degrees
    assert not qualifications("MD") and not qualifications("MBA, Finance") and not qualifications("Managing Director")


@pytest.mark.parametrize("name", ["Abdullah bin Khalid Al Saud", "Ahmad bin Ismail", "Johan van der Berg"])
def test_names_with_particles(name: str) -> None:
    c = parse_text(f"Gulf Trading LLC\n{name}\nGeneral Manager\nP.O. Box 12345, Dubai\nTel: +971 4 331 2345")
    assert c.scalar("name") == name and c.scalar("company") == "Gulf Trading LLC"
    # an organisation named after a person is still no person
    c = parse_text("Gulf Trading LLC\nMohammed Bin Rashid Foundation\nGeneral Manager\nTel: +971 4 331 2345")
    assert c.scalar("name") is None


def test_many_numbers_or_place_names() -> None:
    from cardscan.parsing.phones import find_phones, infer_region
    from cardscan.parsing.region import MAX_ODD, grouping_region

    text = "Ramesh Kumar\nSharma Traders\n" + "\n".join(f"Mob: 98390 1{i:04d}" for i in range(40))
    c = parse_text(text)
    assert c.region == "IN" and len(c.phones) == 40
    lines = text.splitlines()
    hits = find_phones(lines, infer_region(lines))
    assert len(hits) == 40 and grouping_region(hits) == ("IN",) and MAX_ODD < 40  # decided on the first few
    assert parse_text("Lucknow " * 400 + "\n" + "東京都新宿区" * 300) is not None


@pytest.mark.parametrize("printed, name, other", [
    ("Kim Min-jun (김민준)", "Kim Min-jun", "김민준"),
    ("Chan Tai Man（陳大文）", "Chan Tai Man", "陳大文"),
    ("Peter Chan [陳大文]", "Peter Chan", "陳大文"),
])
def test_the_other_script_name_in_brackets_on_the_name_line(printed: str, name: str, other: str) -> None:
    c = parse_text(f"Hanbit Electronics Co., Ltd.\n{printed}\nSales Manager\nTel +82 2 555 0147")
    assert c.scalar("name") == name and c.other_name is not None and c.other_name.value == other


def test_a_personal_mail_address_is_still_checked_against_the_name() -> None:
    c = parse_text("Hannah J. Thornton\nLangley & Holloway Ltd\nhannahe@gmail.com")
    assert "low_confidence" in c.emails[0].flags
    c = parse_text("Hannah J. Thornton\nLangley & Holloway Ltd\nhannaht@gmail.com\nwww.langley-holloway.co.uk")
    assert c.emails[0].flags == ()  # gmail.com is no misread of the website
