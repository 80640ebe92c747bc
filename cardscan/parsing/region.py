"""The card's region when nothing printed names it: the phone numbers decide."""
from __future__ import annotations

import re

from cardscan.parsing.phones import PhoneHit, RegionGuess, find_phones, language_regions

# a six-digit postal code after a place name ("Lucknow - 226001", "PIN: 560001"): India, Singapore,
# China print their codes so; the numbers then decide among them
SIX_DIGIT_POST_RE = re.compile(r"\b[A-Z][A-Za-z]{2,}\s*[-–,]?\s*\d{3}\s?\d{3}\b(?![-\d])|(?i:\bpin\s*(?:code)?\s*[:.-]?\s*\d{6}\b)")
SIX_DIGIT_POST_REGIONS = ("IN", "SG", "CN")


def postcode_regions(texts: list[str]) -> tuple[str, ...]:
    """Regions whose postal codes look like one printed on the card."""
    return SIX_DIGIT_POST_REGIONS if any(SIX_DIGIT_POST_RE.search(t) for t in texts) else ()


def _region_from_numbers(masked: list[str], texts: list[str], reg: RegionGuess, hits: list[PhoneHit],
                         left: dict[int, str]) -> tuple[RegionGuess, list[PhoneHit]]:
    """Nothing printed names the country and some numbers are not valid for the fallback: try
    the regions that speak the card's language or write postal codes as the card does; a region
    is taken only when strictly more of the printed numbers are valid there (the numbers decide,
    never the language or the postal code alone)."""
    def valid(hs: list[PhoneHit]) -> int:
        return sum(h.number.startswith("+") for h in hs)

    best = (valid(hits), reg, hits)
    for r in dict.fromkeys(language_regions(texts) + postcode_regions(texts)):
        guess = RegionGuess(r, "card", {**reg.evidence, "language+numbers": 1.0})
        hs = find_phones(masked, guess, left_labels=left)
        if valid(hs) > best[0]:
            best = (valid(hs), guess, hs)
    return best[1], best[2]
