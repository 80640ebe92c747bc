"""The card holder's name: candidate lines scored by name lists, the e-mail's local part, size and place."""
from __future__ import annotations

import logging
import re
from typing import Sequence

import numpy as np

from cardscan.models import SOURCE_OCR, Field
from cardscan.parsing.emails import EmailHit
from cardscan.parsing.layout import CJK_RE, cap, fold, has_phrase, wordlist, words_of
from cardscan.parsing.lines import LOW, _Ln, _words_conf
from cardscan.parsing.vocab import _CONTACT_LABELS, _first_names, _is_title, _pp_kind, _surnames

_STREET_NAME_BLOCK = frozenset(
    """street road avenue avenida boulevard lane drive way court place square highway parkway circle terrace
    plaza alley rua travessa alameda rodovia estrada calle carrera rue chemin strasse weg platz gasse via
    piazza suite floor building bldg tower house office city""".split()
)

log = logging.getLogger(__name__)


_HONORIFICS = frozenset("dr mr mrs ms miss prof sr sra dra eng ir mme mlle herr frau dott ing".split())


_NAME_TOKEN_RE = re.compile(r"^[^\W\d_]+(?:[.'’-][^\W\d_]*)*\.?,?$")


def _blocked_for_person(text: str) -> bool:
    return (
        _is_title(text)
        or has_phrase(text, wordlist("company_suffixes.txt"))
        or has_phrase(text, wordlist("company_words.txt"))
        or any(w in _STREET_NAME_BLOCK for w in words_of(text))
        or any(w in _CONTACT_LABELS for w in words_of(text))
    )


def _email_agrees(tokens: list[str], emails: Sequence[EmailHit]) -> float:
    best = 0.0
    for h in emails:
        local = re.sub(r"[^a-z]", "", fold(h.value.split("@")[0]))
        if len(local) < 2:
            continue
        for k, t in enumerate(tokens):
            if len(t) >= 3 and t in local:
                best = max(best, 2.5 if k == len(tokens) - 1 else 2.0)
        initials = "".join(t[0] for t in tokens if t)
        if len(initials) >= 2 and local == initials:
            best = max(best, 1.5)
    return best


_NAME_CONFUSABLES = str.maketrans({"¢": "c", "!": "l", "|": "l", "1": "l", "0": "o", "5": "s", "$": "s", "€": "e", "@": "a"})


def _repair_name_token(tok: str) -> str:
    """An OCR look-alike inside a name ('Danie!' -> 'Daniel'), undone only when the repaired word
    is a known first name or surname: the validator decides, never the repair alone."""
    if _NAME_TOKEN_RE.match(tok):
        return tok
    fixed = tok.translate(_NAME_CONFUSABLES)
    if fixed == tok or not _NAME_TOKEN_RE.match(fixed):
        return tok
    key = fold(fixed).strip(".,'’-")
    if key in _first_names() or key in _surnames():
        return fixed
    return tok


_INLINE_SEP_RE = re.compile(r"\s*(?:\||\s[-–—]\s|\(|/\s)\s*")


def split_name_title(text: str, emails: Sequence[EmailHit] = ()) -> tuple[str, str] | None:
    """A line holding the name and the title: 'Ana Lima | Director', 'Ravi Shah (Director)',
    'Ana Lima - Head of Sales', or with no mark between them 'Ana Lima Director of Operations'.
    Returns (name part, title part) when the part after the name names a role and the part
    before it does not; without a mark the cut is placed after a known surname (or a word of the
    e-mail's local part) when there is one, else after the first two words."""
    m = _INLINE_SEP_RE.search(text)
    if m and m.start() > 0:
        left, right = text[:m.start()].strip(), text[m.end():].strip().rstrip(")").strip()
        if right and _is_title(right) and not re.search(r"\d", right) and not _blocked_for_person(left) and \
                2 <= len(left.split()) <= 5:
            return left, right
        return None
    toks = text.split()
    locals_ = [re.sub(r"[^a-z]", "", fold(h.value.split("@")[0])) for h in emails]
    best: tuple[int, int] | None = None  # (evidence, k)
    for k in range(2, min(5, len(toks))):
        left, right = " ".join(toks[:k]), " ".join(toks[k:])
        if not _is_title(right) or _blocked_for_person(left) or re.search(r"\d", right):
            continue
        last = fold(toks[k - 1]).strip(".,'’-")
        ev = int(last in _surnames() or any(len(last) >= 3 and last in lo for lo in locals_))
        if best is None or ev > best[0]:
            best = (ev, k)
    if best is None:
        return None
    k = best[1]
    return " ".join(toks[:k]), " ".join(toks[k:])


# lower-case words inside a person's name ("Maria de Souza", "Abdullah bin Khalid")
_PARTICLES = frozenset("bin bint binti ibn bte al el abu van von der den de da do dos das di del della la le".split())
# "son of" / "daughter of" in Arabic and Malay names
_PATRONYMIC = frozenset("bin bint binti ibn bte".split())


def _find_name(lines: list[_Ln], emails: Sequence[EmailHit]) -> tuple[_Ln, Field] | None:
    heights = [l.height for l in lines if l.height > 0]
    med_h = float(np.median(heights)) if heights else 1.0
    n = max(len(lines), 1)
    best: tuple[float, _Ln, list[str]] | None = None
    for ln in lines:
        if ln.used or ln.contact:
            continue
        text = ln.text
        segs = [x.strip() for x in text.split(",")]
        if len(segs) >= 2 and any(_is_title(x) for x in segs[1:]):
            text = segs[0]  # "Jane Doe, Owner": the name before the comma
        elif CJK_RE.search(text) and re.search(r"[A-Za-z]", text):
            spaced = re.sub(r"\s*([（(\[【「])", r" \1", text)  # "Chan Tai Man（陳大文）": the bracket opens a new word
            latin = " ".join(t for t in spaced.split() if not CJK_RE.search(t))
            text = latin if len(latin.split()) >= 2 else text  # "Taro Yamada 山田太郎": the Latin form is the name
        elif _blocked_for_person(text):
            both = split_name_title(text, emails)
            if both:
                text = both[0]  # "Ana Lima | Director", "Ravi Shah (Director)"
        toks = text.split()
        if not 2 <= len(toks) <= 5 or len(ln.text) > 60:
            continue
        if not all(_NAME_TOKEN_RE.match(t) for t in toks):
            fixed = [_repair_name_token(t) for t in toks]
            if not all(_NAME_TOKEN_RE.match(t) for t in fixed):
                continue
            toks = fixed  # "Danie! Whitton", "¢arol": kept only because the name lists know the word
            text = " ".join(toks)
        if _blocked_for_person(text):
            continue
        folded = [fold(t).strip(".,'’-") for t in toks]
        core = [t for t in folded if t and t not in _HONORIFICS]
        if len(core) < 2 and not (len(core) == 1 and len(folded) >= 2):
            continue
        if not core:
            continue
        s = 0.0
        if core[0] in _first_names() or (len(core[0]) <= 1 and len(core) > 1 and core[1] in _first_names()):
            s += 2.0
        elif len(core) == 2 and len(core[0]) == 1 and toks[-2].endswith(".") and core[1] in _surnames():
            s += 1.5  # an initial and a family name: 'R. Oliveira', 'J. Novak'
        if any(t in _first_names() for t in core[1:-1]):
            s += 0.3
        if core[-1] in _surnames():
            s += 0.5
        kind = _pp_kind(text)
        if kind == "Person":
            s += 1.0
        elif kind == "Corporation":
            s -= 0.5
        s += _email_agrees(core, emails)
        s += max(0.0, min(1.5, ln.height / med_h - 1.0)) if med_h > 0 else 0.0
        if ln.i < 0.4 * n:
            s += 0.3
        if all(t[:1].isupper() for t in toks if t[:1].isalpha() and fold(t) not in _PARTICLES):
            s += 0.5
        elif any(t.islower() for t in toks):
            s -= 0.5
        if any(f in _PATRONYMIC for f in folded[1:-1]):
            s += 1.5  # "Abdullah bin Khalid Al Saud": "son of" between two names is a person's name
        if len(core) <= 3:
            s += 0.3
        if text != ln.text:
            s -= 0.5
        if ln.conf < 0.75:
            s -= (0.75 - ln.conf) * 6  # poorly read: likely a misreading of a logo or a script font
        if sum(len(t) <= 2 and not t.endswith(".") for t in toks) >= 2:
            s -= 1.0
        log.debug("name candidate %r: %.2f", text, s)
        if best is None or s > best[0]:
            best = (s, ln, text)
    if best is None or best[0] < 2.5:
        return None
    s, ln, text = best
    ln.used = "name"
    conf = _words_conf(ln) * min(0.97, 0.3 + s / 7)
    value, factor, flag, msg = _check_against_email(text.strip(" ,;|"), emails)
    conf *= factor
    flags = tuple(f for f in (flag, "low_confidence" if conf < LOW else None) if f)
    return ln, Field(cap(value), round(conf, 3), SOURCE_OCR, ln.text, flags, msg)


# OCR look-alikes folded to one shape: 'Sutheriand' and 'sutherland', 'Wiliiams' and 'williams'
_SHAPES = (("rn", "m"), ("cl", "d"), ("vv", "w"), ("ii", "u"), ("1", "l"), ("i", "l"), ("|", "l"), ("!", "l"),
           ("0", "o"), ("5", "s"), ("e", "c"))


def _shape(word: str) -> str:
    w = fold(word)
    for a, b in _SHAPES:
        w = w.replace(a, b)
    return w


def _check_against_email(name: str, emails: Sequence[EmailHit]) -> tuple[str, float, str | None, str | None]:
    """The e-mail's local part as evidence about the name read: a word the local part spells with
    OCR look-alike letters in other places ('Sutheriand' beside daniel.sutherland@) is repaired
    when the spelling of the e-mail is a known first name or surname; a word one or two letters
    away from a word of the local part is kept but less sure. Returns (value, confidence factor,
    flag, message)."""
    from rapidfuzz.distance import Levenshtein

    toks = name.split()
    locals_ = [fold(h.value.split("@")[0]) for h in emails]
    parts = {p for lo in locals_ for p in re.split(r"[._\-+0-9]+", lo) if len(p) >= 4}
    if not parts:
        return name, 1.0, None, None
    out, repaired, doubt = list(toks), [], []
    for k, tok in enumerate(toks):
        w = re.sub(r"[^a-z]", "", fold(tok))
        if len(w) < 4 or any(w in lo for lo in locals_):
            continue
        near = sorted((Levenshtein.distance(w, p), p) for p in parts if abs(len(p) - len(w)) <= 2)
        if not near or near[0][0] > 2:
            continue
        p = near[0][1]
        if _shape(w) == _shape(p) and (p in _surnames() or p in _first_names()):
            out[k] = p.upper() if tok.isupper() else p.capitalize() if tok[:1].isupper() else p
            repaired.append((tok, out[k]))
        else:
            doubt.append((tok, p))
    if repaired:
        was = ", ".join(f"'{a}' as '{b}'" for a, b in repaired)
        return " ".join(out), 0.85, "repaired", f"read {was}: the e-mail address spells it so"
    if doubt:
        a, p = doubt[0]
        return name, 0.6, "low_confidence", f"'{a}' differs from the e-mail address ({p}): check the spelling"
    return name, 1.0, None, None
