"""Phone finding, label typing and region inference (cardscan.parsing.phones). Numbers are fictional ranges."""
from __future__ import annotations

import time

import pytest

from cardscan.parsing.phones import RegionGuess, find_phones, infer_region, label_type

US = RegionGuess("US", "card")


def phones(text: str, region: RegionGuess | None = None, default: str | None = None):
    lines = text.splitlines()
    reg = region or infer_region(lines, default=default)
    return find_phones(lines, reg)


# RELIABILITY row 23
def test_uk_number_to_e164() -> None:
    (h,) = phones("+44 20 8366 1177")
    assert h.number == "+442083661177" and h.type == "work"
    assert "inferred_region" not in h.flags


def test_us_number_without_region_falls_back_to_us_and_says_so() -> None:
    (h,) = phones("(650) 253-0000")
    assert h.number == "+16502530000"
    assert "inferred_region" in h.flags and "US" in (h.message or "")


@pytest.mark.parametrize("text", ["3/10/2011", "211-227 (2003)", "Born 12.03.1985", "ZIP 94306", "Room 1204"])
def test_dates_page_ranges_and_short_runs_are_not_phones(text: str) -> None:
    assert phones(text, US) == []


@pytest.mark.parametrize("text", ["CNPJ 12.345.678/0001-90", "VAT 123 4567 890", "Tax code: 0101234567"])
def test_tax_and_registration_numbers_are_not_phones(text: str) -> None:
    assert phones(text, RegionGuess("BR", "card")) == []


@pytest.mark.parametrize(
    ("label", "typ"),
    [
        ("Tel:", "work"), ("T", "work"), ("Phone", "work"), ("Office:", "work"), ("Direct", "work"),
        ("P.", "work"), ("Telefone:", "work"), ("Fone", "work"), ("Teléfono", "work"), ("Ph.", "work"),
        ("M:", "mobile"), ("Mobile", "mobile"), ("Cell", "mobile"), ("Cel.", "mobile"), ("Celular", "mobile"),
        ("WhatsApp", "mobile"), ("H.P.", "mobile"), ("Handy", "mobile"), ("Portable", "mobile"), ("Mob", "mobile"),
        ("GSM", "mobile"), ("Mobile phone", "mobile"),
        ("F:", "fax"), ("Fax", "fax"), ("Telefax:", "fax"), ("Tel/Fax", "fax"),
        ("Home", "other"),
    ],
)
def test_label_types(label: str, typ: str) -> None:
    assert label_type(label) == typ
    (h,) = phones(f"{label} (201) 555-0123", US)
    assert h.number == "+12015550123" and h.type == typ
    assert h.raw.startswith(label.rstrip(":").rstrip("."))


def test_two_labelled_numbers_on_one_line() -> None:
    hs = phones("T: (201) 555-0123  F: (201) 555-0124", US)
    assert [(h.number, h.type) for h in hs] == [("+12015550123", "work"), ("+12015550124", "fax")]


def test_label_after_the_number() -> None:
    (h,) = phones("(201) 555-0124 Fax", US)
    assert h.type == "fax"


def test_unlabelled_is_work_even_when_mobile() -> None:
    (h,) = phones("+49 151 23456789")
    assert h.number == "+4915123456789" and h.type == "work"
    assert "mobile" in (h.message or "")


def test_ocr_lookalikes_repaired_and_flagged() -> None:
    (h,) = phones("Tel: (2O1) 555-0l23", US)
    assert h.number == "+12015550123"
    assert "repaired" in h.flags and "low_confidence" in h.flags
    assert h.confidence < 0.6


def test_lookalike_repair_not_kept_when_invalid() -> None:
    assert phones("Tel: OOl-lOO", US) == []


def test_two_numbers_run_together() -> None:
    hs = phones("201 5550123 201 555 0124", US)
    assert [h.number for h in hs] == ["+12015550123", "+12015550124"]


def test_trailing_extension_digits() -> None:
    (h,) = phones("Tel: +44 20 7946 0018-19")
    assert h.number == "+442079460018"


def test_invalid_labelled_number_kept_as_printed_and_flagged() -> None:
    (h,) = phones("Tel: +44 (0) 20 5555 1234")
    assert "invalid" in h.flags and h.confidence <= 0.3
    assert h.number == "+442055551234"


def test_unlabelled_invalid_run_dropped() -> None:
    assert phones("Order 2000 0000 0000", US) == []


def test_country_hint_in_label() -> None:
    (h,) = phones("TEL (VN mobile): 0912 345 678", RegionGuess("JP", "card"))
    assert h.number == "+84912345678" and h.type == "mobile"


def test_same_number_once() -> None:
    assert len(phones("Tel (201) 555-0123\nPhone: 201.555.0123", US)) == 1


def test_middle_dot_separators() -> None:
    (h,) = phones("201·555·0123", US)
    assert h.number == "+12015550123"


# ---------------------------------------------------------------- region inference


@pytest.mark.parametrize(
    ("lines", "domains", "region"),
    [
        (["+81 3 5361 6699"], [], "JP"),
        (["1-2-3 Shinjuku, Shinjuku-ku, Tokyo 160-0022"], [], "JP"),
        (["〒160-0022"], [], "JP"),
        (["Rua Exemplo, 100 - São Paulo - SP", "01310-100"], [], "BR"),
        (["12 Example Street, London W2 6BD"], [], "GB"),
        (["500 Example Ave", "Springfield, IL 62701"], [], "US"),
        (["Musterstraße 5, Berlin, Deutschland"], [], "DE"),
        (["Some Street 1", "Belgium"], [], "BE"),
        ([], ["example.co.jp"], "JP"),
        ([], ["example.com.br"], "BR"),
        ([], ["example.vn"], "VN"),
        ([], ["example.co.uk"], "GB"),
    ],
)
def test_region_from_the_card(lines, domains, region) -> None:
    g = infer_region(lines, domains)
    assert (g.region, g.source) == (region, "card")


def test_vanity_tld_is_no_region() -> None:
    assert infer_region([], ["example.io"]).source == "fallback"


def test_default_then_fallback() -> None:
    assert infer_region(["Jane Doe"], default="de") == RegionGuess("DE", "default", {})
    assert infer_region(["Jane Doe"]).region == "US"


def test_japanese_card_never_gets_a_us_number() -> None:
    lines = ["Tel 03-5361-6699", "k.sato@example.co.jp"]
    (h,) = find_phones(lines, infer_region(lines, ["example.co.jp"], default="US"))
    assert h.number == "+81353616699"


def test_long_garbage_is_bounded() -> None:
    junk = "+1 (2" * 20000 + "0123456789 " * 2000
    t = time.perf_counter()
    phones(junk, US)
    infer_region([junk])
    assert time.perf_counter() - t < 5.0


def test_invalid_number_without_a_known_country_keeps_its_digits() -> None:
    # nothing on the card names a country: no "+1" is invented for a number the validator refuses
    (h,) = phones("TEL. 04 6571 00 16")
    assert "invalid" in h.flags
    assert h.number == "0465710016" and not h.number.startswith("+")


def test_invalid_number_with_the_callers_region_is_written_for_that_country() -> None:
    (h,) = phones("Tel: 020 5555 1234", default="GB")
    assert "invalid" in h.flags and h.number == "+442055551234"


def test_colons_read_for_middle_dots_separate_digit_groups() -> None:
    (h,) = phones("JON 248:343-5976", US)
    assert h.number == "+12483435976"
    assert phones("Open 9:30-17:30 daily", US) == []


def test_a_label_run_into_the_number_before_it_splits_the_two_numbers() -> None:
    """The line reader drops spaces: "555-0112Fax (304) 555-0114" holds two numbers, and the
    glued label still types the second; a label glued before a number ("T+81") still labels it."""
    from cardscan.parsing.contact import parse_text

    c = parse_text("Eric Rothenberg\nPhone (304) 555-0112Fax (304) 555-0114")
    assert [(p.number, p.type) for p in c.phones] == [("+13045550112", "work"), ("+13045550114", "fax")]
    c = parse_text("Jo Bloggs\nTel: +44 20 7946 0011Mobile: +44 7700 900123")
    assert [(p.number, p.type) for p in c.phones] == [("+442079460011", "work"), ("+447700900123", "mobile")]
    c = parse_text("Jo Bloggs\nT+81 3 5577 3950")
    assert [(p.number, p.type) for p in c.phones] == [("+81355773950", "work")]
    # not a label: a postcode's letters after digits, a floor, stay as they are
    c = parse_text("Jo Bloggs\n2 Kingdom Street, London W2 6BD\nTel +44 20 7946 0011")
    assert [p.number for p in c.phones] == ["+442079460011"] and "W2 6BD" in (c.scalar("address") or "")


def test_spans_of_numbers_found_after_ungluing_point_into_the_line_as_printed() -> None:
    from cardscan.parsing.phones import find_phones, infer_region

    line = "Phone (304) 555-0112Fax (304) 555-0114"
    hits = find_phones([line], infer_region([line]))
    assert [line[h.span[0]:h.span[1]] for h in hits] == ["(304) 555-0112", "(304) 555-0114"]


def test_country_names_are_the_geocoders_without_loading_its_prefix_files():
    """The table of country names is read from phonenumbers' own names (geodata/locale.py) alone;
    it must be the one phonenumbers' geocoder gives, name for name, in every language used."""
    import subprocess
    import sys

    import phonenumbers
    from phonenumbers import geocoder

    from cardscan.parsing import phones as phones_mod
    from cardscan.parsing.layout import words_of

    reference: dict[str, str] = {}
    for r in sorted(phonenumbers.SUPPORTED_REGIONS):
        ex = phonenumbers.example_number(r)
        if ex is None:
            continue
        for lang in phones_mod.COUNTRY_NAME_LANGS:
            key = " ".join(words_of(geocoder.country_name_for_number(ex, lang)))
            if len(key) >= 4:
                reference.setdefault(key, r)
    reference.update(phones_mod._EXTRA_COUNTRY_NAMES)
    for k in phones_mod._AMBIGUOUS_COUNTRY_NAMES:
        reference.pop(k, None)
    phones_mod._country_names.cache_clear()
    assert phones_mod._country_names() == reference
    assert reference["deutschland"] == "DE" and "saint martin" not in reference  # +590: valid in GP too
    probe = ("import sys; from cardscan.parsing import phones; n = phones._country_names(); "
             "print(len(n), 'phonenumbers.geodata' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == [str(len(reference)), "False"], out.stderr
