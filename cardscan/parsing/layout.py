"""Text hygiene and small layout helpers shared by the parse stage.

Everything here is pure: strings and ``Line`` values in, strings and numbers out.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from pathlib import Path

from cardscan.models import Line, OcrResult, Word

# Han, kana and Hangul, with their compatibility and half-width forms: Chinese, Japanese, Korean
CJK_CHARS = "\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\u1100-\u11ff\uff66-\uff9f"
CJK_RE = re.compile(f"[{CJK_CHARS}]")

MAX_LINES = 200  # a card has a few dozen lines at most; more is garbage
MAX_LINE_CHARS = 400  # longer "lines" are cut before any regex or matcher sees them
MAX_FIELD_CHARS = 256  # every stored field value is capped to this

# Characters that must never reach a field: C0/C1 controls and format characters (bidi overrides,
# zero-width joiners, BOM ...). Tabs become spaces.
_SPACE_LIKE = {"\t": " ", "\u00a0": " ", "\u2007": " ", "\u202f": " ", "\u3000": " "}


def sanitize(text: str, /) -> tuple[str, bool]:
    """Drop control, bidi and zero-width characters; return (clean text, whether anything was dropped)."""
    out: list[str] = []
    dropped = False
    for ch in text:
        if ch in _SPACE_LIKE:
            out.append(_SPACE_LIKE[ch])
            continue
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            dropped = True
            continue
        out.append(ch)
    return "".join(out), dropped


def cap(text: str, /, limit: int = MAX_FIELD_CHARS) -> str:
    return text if len(text) <= limit else text[:limit].rstrip()


# letters Unicode does not decompose into a base letter and an accent, one for one: Turkish dotless
# i, Nordic o with stroke, Polish l with stroke, ... ('Barış' is baris@ in an e-mail address)
_STROKED = str.maketrans("ıøđłħŧð", "iodlhtd")


def fold(text: str, /) -> str:
    """Lower case, accents removed, for vocabulary look-ups."""
    if text.isascii():  # the same result, without the walk over every character (most card text)
        return text.lower()
    text = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in text if not unicodedata.combining(c)).translate(_STROKED)


def letters_of(text: str, /) -> str:
    """Folded letters and digits only ("Müller & Co." -> "mullerco"), to compare spellings."""
    return re.sub(r"[^a-z0-9]", "", fold(text))


_WORD_RE = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*", re.UNICODE)


def words_of(text: str, /) -> list[str]:
    """Alphabetic words, folded (no accents, lower case)."""
    return [fold(w) for w in _WORD_RE.findall(text)]


@lru_cache(maxsize=None)
def wordlist(name: str, /) -> frozenset[str]:
    """A packaged vocabulary file from cardscan/data: one entry a line, '#' comments."""
    text = (Path(__file__).parent / "data" / name).read_text(encoding="utf-8")
    entries = (fold(l.strip()) for l in text.splitlines())
    return frozenset(e for e in entries if e and not e.startswith("#"))


def has_phrase(text: str, vocab: frozenset[str], /) -> bool:
    """True when any single word or multi-word phrase of vocab occurs in text (folded, whole words)."""
    ws = words_of(text)
    if any(w in vocab for w in ws):
        return True
    joined = " " + " ".join(ws) + " "
    return any(" " in p and f" {p} " in joined for p in vocab)


def text_to_ocr(text: str, /, *, conf: float = 90.0, height: int = 20) -> OcrResult:
    """A plain OcrResult from text lines: equal heights, one confidence, boxes laid out left to right."""
    lines: list[Line] = []
    for i, raw in enumerate(text.splitlines()):
        x = 0
        words: list[Word] = []
        for tok in raw.split():
            w = len(tok) * height // 2
            words.append(Word(tok, conf, (x, i * height * 2, w, height)))
            x += w + height // 2
        if words:
            lines.append(Line(tuple(words)))
    return OcrResult(tuple(lines), engine="text", image_size=(0, 0))


def same_row(a: Line, b: Line, /) -> bool:
    """Vertical centres of the two lines are within half a line height of each other."""
    ay = a.box[1] + a.box[3] / 2
    by = b.box[1] + b.box[3] / 2
    h = max(a.height, b.height, 1.0)
    return abs(ay - by) <= 0.5 * h


# Generic top-level domains seen on business cards; country-code TLDs come from phonenumbers' regions.
_GENERIC_TLDS = frozenset(
    """com net org edu gov mil int info biz name pro mobi asia jobs travel aero coop museum tel
    io ai co me tv cc app dev tech online site store shop cloud agency solutions global group design
    media news email company consulting digital network systems studio world life live xyz club
    services team academy center health law legal finance capital ventures partners energy
    """.split()
)
# ccTLDs that are mostly used as generic names, not as a sign of the country.
VANITY_CCTLDS = frozenset("io ai co me tv cc fm ly to ws gg la am nu tk ag sh ac im vc".split())


@lru_cache(maxsize=1)
def known_tlds() -> frozenset[str]:
    import phonenumbers

    cc = {r.lower() for r in phonenumbers.SUPPORTED_REGIONS} | {"uk", "eu"}
    return _GENERIC_TLDS | frozenset(cc)


def tld_region(domain: str, /) -> str | None:
    """ISO region implied by a domain's country-code TLD (co.uk -> GB), None for generic ones."""
    tld = domain.rsplit(".", 1)[-1].casefold()
    if tld == "uk":
        return "GB"
    if len(tld) == 2 and tld not in VANITY_CCTLDS and tld in known_tlds():
        return tld.upper()
    return None


def split_columns(line: Line, /, gap: float = 2.0) -> list[Line]:
    """Split a line where the space between two words is wider than ``gap`` x the line height.

    Tesseract sometimes joins two columns of a card into one line ('8172 Main Road,   JANE DOE').
    """
    if len(line.words) < 2:
        return [line]
    h = max(line.height, 1.0)
    out: list[list[Word]] = [[line.words[0]]]
    for prev, w in zip(line.words, line.words[1:]):
        space = w.box[0] - (prev.box[0] + prev.box[2])
        if space > gap * h:
            out.append([w])
        else:
            out[-1].append(w)
    return [Line(tuple(ws)) for ws in out]
