"""E-mail candidates, OCR repair and validation (cardscan.parsing.emails)."""
from __future__ import annotations

import pytest

from cardscan.parsing.emails import check_email, find_emails, repair_tld


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


def test_each_address_once() -> None:
    assert values("a.b@example.com\nA.B@EXAMPLE.COM") == ["a.b@example.com"]


def test_unknown_tld_is_kept_but_marked() -> None:
    (h,) = find_emails(["x@example.qqq"])
    assert not h.known_tld


def test_repair_tld() -> None:
    assert repair_tld("example.ne.ip") == "example.ne.jp"
    assert repair_tld("example.corn") == "example.com"
    assert repair_tld("example.com") is None
    assert repair_tld("example.zzzz") is None


def test_long_garbage_is_bounded() -> None:
    import time

    junk = ("x" * 70 + "@" + "y" * 70 + ". ") * 700  # ~100 KB in one line
    t = time.perf_counter()
    find_emails([junk, junk])
    assert time.perf_counter() - t < 5.0
