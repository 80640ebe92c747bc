"""Which countries the card's place names and scripts point to: evidence for the phone numbers'
region when nothing printed names the country (`region._region_from_numbers` tries these regions;
the numbers decide).

Place names come from GeoNames (CC BY 4.0): towns of 30,000 people or more, under their own name
and, where the country prints its own script, under their names in it
(`data/places.tsv.gz`, rebuilt by `make places`).
"""
from __future__ import annotations

import gzip
import re
import unicodedata
from functools import lru_cache
from importlib import resources
from typing import Sequence

from cardscan.parsing.layout import MAX_LINE_CHARS, fold
from cardscan.parsing.phones import _LABELS
from cardscan.parsing.vocab import _CONTACT_LABELS, _first_names, _is_title_word

MIN_LETTERS = 4  # a Latin place name shorter than this is too often a word or an initialism
MAX_WORDS = 3
_WORD_RE = re.compile(r"[^\W\d_]+", re.UNICODE)


def _key(text: str) -> str:
    return " ".join(_WORD_RE.findall(fold(text)))


@lru_cache(maxsize=1)
def _places() -> tuple[dict[str, tuple[str, ...]], dict[str, dict[str, tuple[str, ...]]]]:
    """(Latin names by folded key, other-script names by their first character)."""
    latin: dict[str, tuple[str, ...]] = {}
    other: dict[str, dict[str, tuple[str, ...]]] = {}
    try:
        raw = (resources.files("cardscan.parsing") / "data" / "places.tsv.gz").read_bytes()
    except FileNotFoundError:
        return latin, other
    for row in gzip.decompress(raw).decode("utf-8").splitlines():
        if not row or row.startswith("#"):
            continue
        name, _, ccs = row.partition("\t")
        regions = tuple(ccs.split(","))
        if all(ord(c) < 0x250 or not c.isalpha() for c in name):
            k = _key(name)
            if len(k.replace(" ", "")) >= MIN_LETTERS:
                latin[k] = tuple(dict.fromkeys(latin.get(k, ()) + regions))
        else:
            other.setdefault(name[0], {})[name] = regions
    return latin, other


def _card_word(word: str) -> bool:
    """A word cards print for its own sake: a phone or contact label ("Mobile", a town in
    Alabama), a job word ("Manager")."""
    w = fold(word)
    return w in _LABELS or w in _CONTACT_LABELS or _is_title_word(w)


def _a_persons_name(line: str, words: list[str]) -> bool:
    """A line that reads as a person's name: two to four words, no digits, the first a known first
    name."""
    return 2 <= len(words) <= 4 and not any(c.isdigit() for c in line) and fold(words[0]) in _first_names()


def place_regions(lines: Sequence[str], /) -> dict[str, int]:
    """Countries with a place named on the card, and how many of its names point there. A Latin
    name counts when printed with a capital ("Lucknow", "ZÜRICH") outside a line that reads as a
    person's name; a name in another script anywhere in a line (서울, 東京)."""
    latin, other = _places()
    out: dict[str, int] = {}
    for line in lines:
        line = line[:MAX_LINE_CHARS]
        words = [m.group(0) for m in _WORD_RE.finditer(line)]
        if _a_persons_name(line, words):
            continue  # "Richard Sousa": Sousa is a town in Brazil, and a surname
        for n in range(MAX_WORDS, 0, -1):
            for j in range(len(words) - n + 1):
                gram = words[j:j + n]
                if not gram[0][0].isupper() or (n == 1 and _card_word(gram[0])):
                    continue
                for r in latin.get(_key(" ".join(gram)), ()):
                    out[r] = out.get(r, 0) + 1
        if other and any(ord(c) >= 0x250 and c.isalpha() for c in line):
            seen = set()
            for i, c in enumerate(line):
                for name, regions in other.get(c, {}).items():
                    if name not in seen and line.startswith(name, i):
                        seen.add(name)
                        for r in regions:
                            out[r] = out.get(r, 0) + 1
    return out


_SCRIPT_REGIONS = (
    ("HANGUL", ("KR",)),
    ("HIRAGANA", ("JP",)), ("KATAKANA", ("JP",)),
    ("ARABIC", ("AE", "SA", "QA", "KW", "BH", "OM", "EG", "JO")),
    ("DEVANAGARI", ("IN",)),
    ("THAI", ("TH",)),
)
_HAN_REGIONS = ("CN", "HK", "TW", "MO", "SG")
MIN_SCRIPT_LETTERS = 2


def script_regions(lines: Sequence[str], /) -> tuple[str, ...]:
    """Countries that print the scripts on the card other than Latin (Hangul: KR; kana: JP; Han
    without kana or Hangul: CN, HK, TW, MO, SG; Arabic; Devanagari; Thai)."""
    counts: dict[str, int] = {}
    for line in lines:
        for c in line[:MAX_LINE_CHARS]:
            if ord(c) >= 0x250 and c.isalpha():
                name = unicodedata.name(c, "")
                key = "CJK" if name.startswith("CJK") else next((s for s, _ in _SCRIPT_REGIONS if name.startswith(s)), None)
                if key:
                    counts[key] = counts.get(key, 0) + 1
    out: list[str] = []
    for script, regions in _SCRIPT_REGIONS:
        if counts.get(script, 0) >= MIN_SCRIPT_LETTERS:
            out += regions
    if counts.get("CJK", 0) >= MIN_SCRIPT_LETTERS and not any(counts.get(s, 0) for s in ("HANGUL", "HIRAGANA", "KATAKANA")):
        out += _HAN_REGIONS
    return tuple(dict.fromkeys(out))
