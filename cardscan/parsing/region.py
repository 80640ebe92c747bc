"""The card's region when nothing printed names it: the phone numbers decide."""
from __future__ import annotations

import re

import phonenumbers

from cardscan.parsing import places
from cardscan.parsing.phones import PhoneHit, RegionGuess, find_phones, language_regions

# a six-digit postal code after a place name ("Lucknow - 226001", "PIN: 560001"): India, Singapore,
# China print their codes so; the numbers then decide among them
SIX_DIGIT_POST_RE = re.compile(r"\b[A-Z][A-Za-z]{2,}\s*[-–,]?\s*\d{3}\s?\d{3}\b(?![-\d])|(?i:\bpin\s*(?:code)?\s*[:.-]?\s*\d{6}\b)")
SIX_DIGIT_POST_REGIONS = ("IN", "SG", "CN")


def postcode_regions(texts: list[str]) -> tuple[str, ...]:
    """Regions whose postal codes look like one printed on the card."""
    return SIX_DIGIT_POST_REGIONS if any(SIX_DIGIT_POST_RE.search(t) for t in texts) else ()


def _groups_match(raw: str, num: phonenumbers.PhoneNumber) -> bool:
    m = re.search(r"[\d(]", raw)
    printed = re.findall(r"\d+", raw[m.start():] if m else raw)
    national = re.findall(r"\d+", phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.NATIONAL))
    return len(printed) == len(national) and [len(g) for g in printed[1:]] == [len(g) for g in national[1:]]


MAX_ODD = 4  # numbers tried in every region (about 250 parses each): a card prints a few


def grouping_region(hits: list[PhoneHit]) -> tuple[str, ...]:
    """The one region, if there is exactly one, where every number printed without a country code
    that is valid for the fallback but grouped otherwise is valid and grouped as printed ("98390
    12345": a US number by its digits, but only India writes a valid number so). Numbers the
    fallback refuses are left out: a misread digit could make them fit a country by chance."""
    odd = [h for h in hits if "+" not in h.raw and h.number.startswith("+") and not grouped_as_printed(h)][:MAX_ODD]
    if not odd:
        return ()
    fits: set[str] | None = None
    for h in odd:
        m = re.search(r"[\d(]", h.raw)
        digits = h.raw[m.start():] if m else h.raw
        here = set()
        for r in phonenumbers.SUPPORTED_REGIONS:
            try:
                num = phonenumbers.parse(digits, r)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(num) and _groups_match(digits, num):
                here.add(r)
        fits = here if fits is None else fits & here
        if not fits:
            return ()
    return tuple(fits) if fits is not None and len(fits) == 1 else ()


def grouped_as_printed(h: PhoneHit) -> bool:
    """A valid number printed with its digits grouped as its own country writes them (the groups
    of phonenumbers' national format, the first group left out as trunk prefixes vary): "98390
    12345" is an Indian mobile's grouping, not a US number's "(983) 901-2345"."""
    if not h.number.startswith("+"):
        return False
    try:
        num = phonenumbers.parse(h.number)
    except phonenumbers.NumberParseException:
        return False
    return _groups_match(h.raw, num)


def misgrouped(hits: list[PhoneHit]) -> bool:
    """Some valid number printed without its country code is grouped otherwise than its country
    writes it."""
    return any(h.number.startswith("+") and "+" not in h.raw and not grouped_as_printed(h) for h in hits)


def candidate_regions(texts: list[str], found: dict[str, int], scripts: tuple[str, ...]) -> tuple[str, ...]:
    """The regions the card's own print points to, most pointed-to first: a place named on it
    (`found`, places.place_regions) or a script it prints (`scripts`, places.script_regions), 2
    each; a postal code or its language, 1 each. Ties keep this order."""
    weight: dict[str, float] = {}
    for r, n in found.items():
        weight[r] = weight.get(r, 0.0) + 2.0 * min(n, 2)
    for group, w in ((scripts, 2.0), (postcode_regions(texts), 1.0), (language_regions(texts), 1.0)):
        for r in group:
            weight[r] = weight.get(r, 0.0) + w
    return tuple(sorted(weight, key=lambda r: -weight[r]))


def pointed_to(texts: list[str]) -> bool:
    """The card names a place or prints a script that points to some countries (no fallback
    number was found on it: maybe they are written as those countries write them)."""
    return bool(places.place_regions(texts) or places.script_regions(texts))


def _region_from_numbers(masked: list[str], texts: list[str], reg: RegionGuess, hits: list[PhoneHit],
                         left: dict[int, str], printed: tuple[str, ...] = ()) -> tuple[RegionGuess, list[PhoneHit]]:
    """Nothing printed names the country, and some numbers are not valid for the fallback or are
    grouped as it does not write them: try the regions the card points to (`candidate_regions`:
    its places, scripts, postal codes and language; first, the countries of numbers printed with
    their country code but no '+', `printed`; last, the one country that writes the odd numbers
    as printed, `grouping_region`). A region is taken only when strictly more of the printed
    numbers are valid there, or as many and more of them are grouped as it writes them, or as
    many and as well grouped and the card names it (a town, its script, its country code): the
    numbers decide, never the language or the postal code alone."""
    def score(hs: list[PhoneHit]) -> tuple[int, int]:
        # valid numbers only: a number the region refuses is still written +CC when its length fits
        ok = [h for h in hs if h.number.startswith("+") and "invalid" not in h.flags]
        return (len(ok), sum(grouped_as_printed(h) for h in ok))

    best = (score(hits), reg, hits)
    found, scripts = places.place_regions(texts), places.script_regions(texts)
    named = set(printed) | set(found) | set(scripts)
    for r in dict.fromkeys(printed + candidate_regions(texts, found, scripts) + grouping_region(hits)):
        guess = RegionGuess(r, "card", {**reg.evidence, "language+numbers": 1.0})
        hs = find_phones(masked, guess, left_labels=left)
        # a tie with the fallback goes to a country the card names: its code printed without '+',
        # a town of it, its script ("9839012345" is valid in the US and in India; Lucknow is not
        # in the US)
        if score(hs) > best[0] or (r in named and best[1] is reg and score(hs) == best[0] and best[0][0] > 0):
            best = (score(hs), guess, hs)
    return best[1], best[2]
