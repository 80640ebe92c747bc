"""The parser's working lines: OCR lines cleaned (icons, specks, bidi marks) and what each is used for."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from cardscan.models import Line, OcrResult
from cardscan.parsing.layout import CJK_RE, MAX_LINE_CHARS, MAX_LINES, fold, same_row, sanitize, split_columns, words_of
from cardscan.parsing.phones import PhoneHit, label_type
from cardscan.parsing.vocab import _CONTACT_LABELS, _is_title, _legal_form_token

LOW = 0.5  # below this a field is flagged "low_confidence"


@dataclass
class _Ln:
    """A working line: sanitized text, its OCR line, and what it has been used for."""

    i: int
    text: str
    line: Line
    conf: float  # 0..1
    height: float
    dirty: bool = False  # control/bidi characters were removed
    used: str | None = None  # "contact", "label", "noise", "address", "name", "title", "company"
    contact: bool = False  # holds a phone, e-mail or website


def _prepare(ocr: OcrResult) -> list[_Ln]:
    out: list[_Ln] = []
    parts = [p for line in ocr.lines[:MAX_LINES] for p in split_columns(line)]
    for line in parts[:MAX_LINES]:
        invocation = bool(_INVOCATION_RE.match(" ".join(line.text.split())))
        line = _drop_leading_icon(line)
        if not line.words:
            continue
        text, dirty = sanitize(line.text[:MAX_LINE_CHARS])
        text = " ".join(text.split())
        text = _INNER_DASH_RE.sub("-", text)  # "satoshi—t@", "Chiyoda—ku": OCR reads '-' as a long dash
        if not text:
            continue
        ln = _Ln(len(out), text, line, line.conf / 100.0, line.height, dirty)
        if len(re.sub(r"[\W_]", "", text)) < 2 and not re.search(r"\d", text) or \
                all(_junk_token(t) for t in text.split()):
            ln.used = "noise"  # icons and specks read as one stray character
        elif invocation:
            ln.used = "ornament"  # "|| Shree Ganesh ||" over an Indian shop's name: no field of the contact
        elif qualifications(text):
            ln.used = "qualifications"  # "M.B.B.S., M.D. (Medicine)" under a doctor's name: no title, no company
        out.append(ln)
    return out


_ALNUM_RE = re.compile(r"[^\W_]")


# academic and professional degrees printed under a name ("M.B.B.S., M.D.", "B.Com, FCA",
# "B.Tech (Civil)", "LL.B."), written without their dots; the ambiguous ones (MD: also a managing
# director; CA, CS, BE, ME, MA, BA, MS: also words or titles) count only beside another
_DEGREES = frozenset("mbbs bds mds bams bhms dnb frcs mrcp mch dm bcom mcom fca aca acs fcs cma cfa cpa "
                     "llb llm bsc msc btech mtech phd dphil mphil pgdm pgdba mba bba bed med bpharm mpharm "
                     "barch march bca mca dipl".split())
_AMBIGUOUS_DEGREES = frozenset("md ms ca cs be me ma ba".split())


def qualifications(text: str) -> bool:
    """A line of degrees only: every word (bracketed words left out) a degree, at least one of them
    unambiguous or two of them."""
    words = [re.sub(r"[.\s]", "", w).casefold() for w in re.split(r"[,/&;|]|\s(?=[A-Z])", re.sub(r"\([^)]*\)", " ", text))]
    words = [w for w in words if w]
    if not words or not all(w in _DEGREES or w in _AMBIGUOUS_DEGREES for w in words):
        return False
    return len(words) >= 2 or words[0] in _DEGREES


# a line set between double bars, as the invocation at the head of many Indian shop cards
# ("|| Shree Ganesh ||", "॥ श्री गणेशाय नमः ॥"); OCR may read the bars as I or l
_INVOCATION_RE = re.compile(r"^\s*(?:\|\||॥|[|Il]{2}\b)\s*\S.*?\s*(?:\|\||॥|\b[|Il]{2})\s*$")


_AT_TOKEN_RE = re.compile(r"\S*[@©®＠]\S*")


_INNER_DASH_RE = re.compile(r"(?<=[^\W_])[—–‒―](?=[^\W_])")


# short words kept before a gap: honorifics, particles, and the two-letter business abbreviations
# that open names and titles ("IT Solutions", "HR Manager", "VP Sales")
_ICON_KEEP = frozenset("dr mr ms mrs st av no nr de da di du le la el of "
                       "it hr pr ai qa vp gm md ux ui hq".split())


def _drop_leading_icon(line: Line) -> Line:
    """A pictogram before a line (phone, pin, envelope, globe) often reads as one or two stray
    characters ('Q@ 737 Mill Ave', 'QO Tavaton Ltd.'), set apart from the text by a wide gap.
    Phone labels ('M', 'T'), honorifics, short words, abbreviations ('P.O.' of 'P.O. Box', 'IT') and
    one or two Han/kana/Hangul characters (a family name, "村瀬") are kept."""
    if len(line.words) < 2:
        return line
    w0, w1 = line.words[0], line.words[1]
    alnum = _ALNUM_RE.findall(w0.text)
    if len(alnum) > 2 or any(c.isdigit() for c in w0.text) or re.fullmatch(r"[A-Z]\.|[&+(]|(?:[A-Za-z]\.){2,3}", w0.text) or \
            CJK_RE.search(w0.text) or \
            fold(w0.text).strip(".:") in _ICON_KEEP or _legal_form_token(w0.text):
        return line  # ... or the "Co.," of "Co., Ltd."
    if label_type(w0.text) is not None or fold(w0.text).strip(".:") in _CONTACT_LABELS:
        return line
    gap = w1.box[0] - (w0.box[0] + w0.box[2])
    h = max(line.height, 1.0)
    if gap >= 0.6 * h or (len(alnum) < len(w0.text.strip(".:")) and gap >= 0.35 * h):
        return Line(line.words[1:])
    return line


def _mask_emails(text: str) -> str:
    return _AT_TOKEN_RE.sub(lambda m: " " * len(m.group(0)), text)


def _leftover_letters(masked: str, i: int, phones: Sequence[PhoneHit]) -> int:
    t = masked
    for h in phones:
        if h.line == i:
            s, e = h.span
            t = t[:s] + " " * (e - s) + t[e:]
    ws = [w for w in words_of(t) if label_type(w) is None and w not in _CONTACT_LABELS]
    return sum(len(w) for w in ws)


def _left_labels(lines: list[_Ln]) -> dict[int, str]:
    """A label printed in its own column, left of the number on the same row ('Tel' | '555 0100')."""
    out: dict[int, str] = {}
    for a in lines:
        if not re.search(r"\d{3}", a.text):
            continue
        ax = a.line.box[0]
        best: _Ln | None = None
        for b in lines:
            if b is a or len(b.text.split()) > 3 or re.search(r"\d", b.text) or _is_title(b.text):
                continue  # "Business Development Manager" beside a number is a title, not the label "Business"
            bx_right = b.line.box[0] + b.line.box[2]
            if bx_right <= ax + 2 and same_row(a.line, b.line) and label_type(b.text):
                if best is None or bx_right > best.line.box[0] + best.line.box[2]:
                    best = b
        if best is not None:
            out[a.i] = best.text
            best.used = "label"
    return out


def _words_conf(ln: _Ln) -> float:
    return max(0.0, min(1.0, ln.conf))


_JUNK_RE = re.compile(r"[«»{}\[\]<>~^\\]")


_URLISH_RE = re.compile(r"(?i)\b(?:www\d?|https?)\b|://|\s(?:com|net|org)(?:\s[a-z]{2})?$")


def _junk_token(tok: str) -> bool:
    """An icon or speck read as text: one stray letter, or at most two letters among symbols.
    Initials ('U.') and joiners ('&', '+') are kept."""
    if tok in ("&", "+") or re.fullmatch(r"[A-Z]\.", tok):
        return False
    if _legal_form_token(tok):
        return False  # "Co.," of "Co., Ltd."
    alnum = _ALNUM_RE.findall(tok)
    return len(alnum) == 0 or (len(alnum) <= 2 and (len(alnum) < len(tok) or len(tok) == 1))


def _strip_junk(text: str) -> str:
    """Drop stray marks OCR puts before a line (an icon read as 'é [l', a bullet)."""
    toks = text.split()
    while len(toks) > 1 and _junk_token(toks[0]):
        toks.pop(0)
    return " ".join(toks)


def _neighbour(lines: list[_Ln], ln: _Ln, step: int) -> _Ln | None:
    """The next line above (-1) or below (+1), skipping specks and icons."""
    j = ln.i + step
    while 0 <= j < len(lines) and lines[j].used == "noise":
        j += step
    return lines[j] if 0 <= j < len(lines) else None
