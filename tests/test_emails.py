"""E-mail candidates, OCR repair and validation (cardscan.parsing.emails)."""
from __future__ import annotations

import pytest

from cardscan.parsing.contact import parse_text
from cardscan.parsing.domains import ending_repairs, repair_ending, tld_exists
from cardscan.parsing.emails import check_email, find_emails


def values(text: str) -> list[str]:
    return [h.value for h in find_emails(text.splitlines())]


# RELIABILITY row 21: only syntactically valid, normalized addresses are kept.
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Name <a@b.com>", ["a@b.com"]),
        ("a@b.com\r\nBcc: x@y", ["a@b.com"]),
        ("a＠b.com", ["a@b.com"]),
        ("a@b..com", []),
        ("a@localhost", []),
        ("Email: Jane.Roe@Example.COM", ["Jane.Roe@example.com"]),
        ("mailto:ops@example.org;", ["ops@example.org"]),
    ],
)
def test_reliability_candidates(text: str, expected: list[str]) -> None:
    assert values(text) == expected


def test_injection_string_rejected_with_reason() -> None:
    chk = check_email("a@b.com\r\nBcc: x@y.com")
    assert not chk.ok and "line break" in (chk.message or "")
    assert not check_email("a@b.com\x00").ok
    assert not check_email("=?utf-8?q?a?=@b.com").ok


def test_bidi_and_zero_width_rejected() -> None:
    assert not check_email("ab\u202ec@example.com").ok
    assert not check_email("ab\u200bc@example.com").ok


def test_display_name_refused_by_validator() -> None:
    chk = check_email("Name <a@b.com>")
    assert not chk.ok and "display name" in (chk.message or "")


def test_full_width_at_is_repaired_with_validator_message() -> None:
    (h,) = find_emails(["a＠b.com"])
    assert h.repaired
    assert "full-width" in (h.message or "")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("E-mail: pat.lee © example.com", "pat.lee@example.com"),
        ("pat.lee®example.com", "pat.lee@example.com"),
        ("pat (at) example (dot) org", "pat@example.org"),
        ("pat.lee [at] example.net", "pat.lee@example.net"),
        ("pat.lee at example.com", "pat.lee@example.com"),
        ("pat.lee@example,com", "pat.lee@example.com"),
        ("pat.lee @ example . co . uk", "pat.lee@example.co.uk"),
        ("pat.lee@example.cem", "pat.lee@example.com"),
        ("Inc.robin@example.com", "robin@example.com"),
        ("+1-555-0100.robin@example.com", "robin@example.com"),
    ],
)
def test_ocr_repairs_are_flagged(text: str, expected: str) -> None:
    hits = find_emails([text])
    assert [h.value for h in hits] == [expected]
    assert hits[0].repaired


def test_plain_sentence_with_at_is_not_an_email() -> None:
    assert values("Visit us at example.com") == []
    assert values("Meet me at the office") == []


def test_address_split_across_lines() -> None:
    hits = find_emails(["kim.ortega@", "example.com"])
    assert [h.value for h in hits] == ["kim.ortega@example.com"]
    assert hits[0].repaired


def test_space_before_country_tld_keeps_the_longer_domain() -> None:
    assert values("k.ito@example.co. jp") == ["k.ito@example.co.jp"]


def test_space_after_first_name_keeps_the_whole_local_part() -> None:
    assert values("gabriel. moreau@example.org") == ["gabriel.moreau@example.org"]


def test_space_after_first_name_in_capitals_keeps_the_whole_local_part() -> None:
    # OCR's space on the other side of the dot, in an address printed in capitals
    assert values("JOHN .SMITH@YOURMAIL.COM") == ["JOHN.SMITH@yourmail.com"]
    assert values("JOHN. SMITH@YOURMAIL.COM") == ["JOHN.SMITH@yourmail.com"]
    assert values("Tel .SMITH@YOURMAIL.COM") == ["SMITH@yourmail.com"]  # a piece in another case stays out
    assert values("elodie _dubois@example.com") == ["elodie_dubois@example.com"]  # the space before an underscore


def test_label_glued_to_the_address_is_left_out() -> None:
    hits = find_emails(["E-mailyamanaka@example.co.jp"])
    assert [h.value for h in hits] == ["yamanaka@example.co.jp"] and hits[0].repaired
    assert values("Emailk.ito@example.com") == ["k.ito@example.com"]
    # an address that is itself the word: nothing to strip, or no capital E before lower case
    assert values("email@example.com") == ["email@example.com"]
    assert values("mailroom@example.com") == ["mailroom@example.com"]


def test_each_address_once() -> None:
    assert values("a.b@example.com\nA.B@EXAMPLE.COM") == ["a.b@example.com"]


def test_unknown_tld_is_kept_but_marked() -> None:
    (h,) = find_emails(["x@example.qqq"])
    assert not h.known_tld


def test_repair_ending() -> None:
    assert repair_ending("example.ne.ip") == "example.ne.jp"  # "ne.jp" is listed, "ne.it" is not
    assert repair_ending("example.corn") == "example.com"
    assert repair_ending("example.nett") == "example.net"
    assert repair_ending("example.cojp") == "example.co.jp"  # a dropped dot
    assert repair_ending("example.com") is None
    assert repair_ending("example.zzzz") is None
    assert repair_ending("example.comm") is None  # "com" or "co.mm": no guess


def test_top_level_domains_come_from_the_public_suffix_list() -> None:
    assert tld_exists("gmbh") and tld_exists("mz") and tld_exists("com")
    assert not tld_exists("comz") and not tld_exists("brigade")


def test_an_existing_rare_tld_is_not_marked() -> None:
    (h,) = find_emails(["jo@example.gmbh"])
    assert h.known_tld and not h.repaired


def test_an_ending_the_text_cannot_choose_is_chosen_by_the_phone_numbers_country() -> None:
    assert set(ending_repairs("example.comz")) == {"example.co.mz", "example.com"}
    (h,) = find_emails(["jo@example.comz"])
    assert not h.known_tld and set(h.repairs) == {"jo@example.co.mz", "jo@example.com"}
    (mz,) = parse_text("Jo Mavie\njo@example.comz\nTel +258 84 123 4567").emails
    assert mz.value == "jo@example.co.mz" and "repaired" in mz.flags and "MZ" in (mz.message or "")
    (us,) = parse_text("Jo Mavie\njo@example.comz\nTel +1 415 555 0134").emails
    assert us.value == "jo@example.comz" and "low_confidence" in us.flags  # kept as read, flagged


def test_a_misread_free_mail_address_is_not_a_website() -> None:
    c = parse_text("Rick Nog\nricknog39ldgmail.com\nnogdesign.com")
    assert [w.value for w in c.websites] == ["nogdesign.com"]


def test_long_garbage_is_bounded() -> None:
    import time

    junk = ("x" * 70 + "@" + "y" * 70 + ". ") * 700  # ~100 KB in one line
    t = time.perf_counter()
    find_emails([junk, junk])
    assert time.perf_counter() - t < 5.0


def test_a_website_that_is_the_holders_name_and_a_misread_at_is_their_e_mail():
    from cardscan.parsing.contact import parse_text

    def read(text):
        c = parse_text(text)
        return {e.value: e for e in c.emails}, {w.value: w for w in c.websites}

    # the card gives the domain elsewhere: the address, flagged; no website
    mails, sites = read("Taro Kato\nSales Manager\nVantorix Ltd\ntkatogvantorix.com\nwww.vantorix.com")
    assert set(sites) == {"www.vantorix.com"}
    got = mails["tkato@vantorix.com"]
    assert got.confidence < 0.6 and "repaired" in got.flags and "'g'" in got.message
    # read one letter off where the website spells it: the website's spelling
    mails, sites = read("Yang Liu\nEngineer\nyliugvantorlx.net\nwww.vantorix.net")
    assert "yliu@vantorix.net" in mails and set(sites) == {"www.vantorix.net"}
    # nothing on the card gives the domain: the site stays, flagged ("marksmithgallery.com" may be his gallery)
    mails, sites = read("Mark Smith\nPhotographer\nmarksmithgallery.com")
    assert not mails and sites["marksmithgallery.com"].confidence < 0.6
    assert "marksmith@allery.com" in sites["marksmithgallery.com"].message
    # a site written as one, or a name with no letter for an '@', is left alone
    mails, sites = read("Taro Kato\nwww.tkatogvantorix.com\ninfo@vantorix.com")
    assert "www.tkatogvantorix.com" in sites and set(mails) == {"info@vantorix.com"}
    mails, sites = read("Jane Doe\njanedoe.com")
    assert sites["janedoe.com"].confidence >= 0.6 and not mails


def test_a_long_address_two_letters_from_the_holders_name_is_flagged():
    from cardscan.models import Field
    from cardscan.parsing import crosscheck

    def check(value, name):
        return crosscheck.check_email(Field(value, 0.95), [], None, name)

    got = check("t.nbeiro@roveella.example.com", "Fernanda Ribeiro")  # "f.ribeiro", two letters misread
    assert got.confidence < 0.6 and "two letters" in got.message
    assert check("f.ribeiro@roveella.example.com", "Fernanda Ribeiro").confidence == 0.95
    assert check("marta_cetillo@gralonix.com", "Marta Castillo").confidence < 0.6
    # a short address two letters off is as likely another spelling: left alone
    assert check("jsnyth@example.com", "Jon Smith").confidence == 0.95


def test_a_website_one_letter_from_the_company_or_the_cards_own_site_is_flagged():
    from cardscan.models import Field
    from cardscan.parsing import crosscheck

    def check(site, company=None, value=None, others=()):
        f = Field(site, 0.9)
        return crosscheck.check_site(f, (f, *others), company, value)

    got = check("www.quenberg.fr", "Queniberg Conseil")  # a letter lost in the small print
    assert got.confidence < 0.6 and "queniberg" in got.message
    assert check("www.queniberg.fr", "Queniberg Conseil").confidence == 0.9
    assert check("http://www.tbrave.com", "Techno Brave Co.,Ltd.").confidence == 0.9  # initial and word
    # the company read "BIGGROWIH" and given as the domain spells it: the site is right
    assert check("WWW.BIGGROWTH.COM", "BIGGROWIH", "BIGGROWTH").confidence == 0.9
    got = check("hkelowick.in", others=(Field("www.kelowick.in", 0.9),))
    assert got.confidence < 0.6 and "www.kelowick.in" in got.message
    assert check("www.kelowick.in", others=(Field("hkelowick.in", 0.9),)).confidence == 0.9


def test_websites_misread_at_their_start_or_read_twice_differently():
    from cardscan.parsing.contact import parse_text

    def sites(text):
        return {w.value: w for w in parse_text("Ann Lee\nSales Director\n" + text).websites}

    got = sites("ww.vantorix.com")["www.vantorix.com"]  # its "www." misread: repaired, flagged
    assert "repaired" in got.flags and "ww.vantorix.com" in got.message
    assert sites("www. co.in") == {} and sites("co.in") == {}  # an ending alone is no site
    two = sites("lumoeta.com.br\nlumoela.com.br")  # one site read twice, differently: both in doubt
    assert all(w.confidence < 0.6 for w in two.values()) and len(two) == 2
    assert all(w.confidence >= 0.6 for w in sites("www.acme.de\nwww.acme.fr").values())  # two countries' sites
