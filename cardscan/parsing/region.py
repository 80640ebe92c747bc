"""The card's region when nothing printed names it: the phone numbers decide."""
from __future__ import annotations

from cardscan.parsing.phones import PhoneHit, RegionGuess, find_phones, language_regions


def _region_from_numbers(masked: list[str], texts: list[str], reg: RegionGuess, hits: list[PhoneHit],
                         left: dict[int, str]) -> tuple[RegionGuess, list[PhoneHit]]:
    """Nothing printed names the country and some numbers are not valid for the fallback: try
    the regions that speak the card's language; a region is taken only when strictly more of the
    printed numbers are valid there (the numbers decide, never the language alone)."""
    def valid(hs: list[PhoneHit]) -> int:
        return sum(h.number.startswith("+") for h in hs)

    best = (valid(hits), reg, hits)
    for r in language_regions(texts):
        guess = RegionGuess(r, "card", {**reg.evidence, "language+numbers": 1.0})
        hs = find_phones(masked, guess, left_labels=left)
        if valid(hs) > best[0]:
            best = (valid(hs), guess, hs)
    return best[1], best[2]
