"""E-mail addresses from OCR'd card lines: candidates, OCR repair, validation.

Every value returned has passed ``email_validator.validate_email(check_deliverability=False)`` and is
stored in its normalized form. A value that needed an OCR repair (``©`` for ``@``, spaces around
``.``, ``,`` for ``.``, a token split across lines ...) is marked ``repaired``.
"""
from __future__ import annotations

import itertools
import logging
import re
import unicodedata
from dataclasses import dataclass
from typing import Sequence

from email_validator import EmailNotValidError, validate_email

from cardscan.parsing.domains import ending_repairs, tld_exists
from cardscan.parsing.layout import MAX_FIELD_CHARS, MAX_LINE_CHARS

log = logging.getLogger(__name__)

_EMAIL_RE = re.compile(r"(?<![\w.+'-])[\w.+'-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,6}")
_AT_WORDS_RE = re.compile(r"\s*(?:\((?:at|@)\)|\[(?:at|@)\]|\{at\}|<at>)\s*", re.I)
_AT_SPACED_RE = re.compile(r"(?<=\w)\s+(?:at|AT)\s+(?=[\w-]+\s*(?:\.|\(dot\)|\[dot\]|\s+dot\s+)\s*[A-Za-z]{2,})")
_DOT_WORDS_RE = re.compile(r"\s*(?:\(dot\)|\[dot\]|\{dot\})\s*|\s+dot\s+(?=[A-Za-z]{2,}\b)", re.I)
_AT_LOOKALIKES = "©®@ⓐ"  # OCR reads a small '@' as © or ®; ⓐ from some fonts
# (a piece that is the next address's local part, ", info@...", is not the domain's)
_DOMAIN_SPACES_RE = re.compile(r"@\s*[\w-]+(?:\s*[.,]\s*[\w-]+(?![\w-]*\s*@))+")
_LOCAL_SPACES_RE = re.compile(r"[\w+'-]+(?:\s*\.\s*[\w+'-]+|\s+_[\w+'-]+)+\s*@|[\w.+'-]+\s+@")
_LABEL_PREFIX_RE = re.compile(r"^(?:e-?mail|mail)[.:]", re.I)
# the label glued on with no colon or space ("E-mailyamanaka@"): a capital E before a lower-case
# address (addresses are printed in lower case or wholly in capitals, the label capitalised)
_GLUED_LABEL_RE = re.compile(r"^E-?[Mm]ail(?=[a-z0-9][a-z0-9._+'-]*@)")
# a neighbouring word or number glued on by OCR: "Inc.robert@", "S.L.marta@" (a legal form on the line
# above), "+81-52-582-1777.kawai@", "www.info@"
_GLUED_RE = re.compile(r"^(?:(?:[A-Z][A-Za-z]{0,3}\.)+|\+?[\d\-]{6,}\.|www\.)(?=[a-z])")
_FORBIDDEN = re.compile(r"[\r\n\x00]|=\?")


@dataclass(frozen=True)
class EmailCheck:
    """The verdict on one candidate string."""

    ok: bool
    normalized: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class EmailHit:
    value: str  # normalized address
    raw: str  # text as read (one line, or two joined lines)
    line: int  # index of the (first) line it came from
    repaired: bool = False
    message: str | None = None  # why it needed a repair (the validator's verdict on the raw text)
    known_tld: bool = True  # its top-level domain exists (Public Suffix List)
    repairs: tuple[str, ...] = ()  # when it does not: the repaired addresses the text cannot choose between


def check_email(candidate: str, /) -> EmailCheck:
    """Validate one candidate as a bare address (no display name), refusing header-injection material."""
    if len(candidate) > MAX_FIELD_CHARS:
        return EmailCheck(False, message="too long to be an e-mail address")
    if _FORBIDDEN.search(candidate):
        return EmailCheck(False, message="contains a line break, NUL or encoded-word marker (possible header injection)")
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in candidate):
        return EmailCheck(False, message="contains control or invisible formatting characters")
    try:
        v = validate_email(candidate, check_deliverability=False, allow_display_name=False)
    except EmailNotValidError as e:
        return EmailCheck(False, message=str(e))
    return EmailCheck(True, normalized=v.normalized)


def repair_line(text: str, /) -> str:
    """Undo common OCR damage around an address: look-alike at-signs, '(at)', spaces, ',' for '.'."""
    t = unicodedata.normalize("NFKC", text)
    for ch in _AT_LOOKALIKES:
        t = t.replace(ch, "@")
    t = _AT_WORDS_RE.sub("@", t)
    t = _AT_SPACED_RE.sub(_at_word, t)
    t = _DOT_WORDS_RE.sub(".", t)
    if "@" not in t:
        return t
    t = _DOMAIN_SPACES_RE.sub(lambda m: re.sub(r"\s*[.,]\s*", ".", m.group(0).replace(" ", "")), t)
    t = _LOCAL_SPACES_RE.sub(lambda m: re.sub(r"\s+", "", m.group(0)), t)
    return t


def _at_word(m: re.Match[str]) -> str:
    """' at ' becomes '@' only after a token that looks like a local part ('j.smith', 'jsmith2')."""
    left = m.string[: m.start()].split()
    return "@" if left and re.search(r"[._\d]", left[-1]) else m.group(0)


def _candidates(text: str, /) -> list[str]:
    out = []
    for m in _EMAIL_RE.finditer(text):
        c = m.group(0).strip(".-'")
        if "@" in c:
            out.append(c)
    return out


def _accept(c: str, raw: str, line: int, repaired: bool, found: dict[str, EmailHit]) -> None:
    message = None
    label = _LABEL_PREFIX_RE.match(c) or _GLUED_LABEL_RE.match(c)
    if label and len(c) > label.end() + 3:
        c, repaired = c[label.end():], True
    glued = _GLUED_RE.match(c)
    if glued and len(c) > glued.end() + 3:
        c, repaired = c[glued.end():], True
    chk = check_email(c)
    if not chk.ok or chk.normalized is None:
        log.debug("e-mail candidate %r refused: %s", c, chk.message)
        return
    domain = chk.normalized.rsplit("@", 1)[1]
    tld = domain.rsplit(".", 1)[-1].casefold()
    if not tld.isalpha():
        return
    if not any(ch.isalpha() for ch in domain.split(".")[0]):
        # "Q@97.brigade": an icon read as '@' before a street number, not an address
        log.debug("e-mail candidate %r refused: looks like an icon before other text", c)
        return
    local = chk.normalized.rsplit("@", 1)[0]
    fixes = [c2 for d in ending_repairs(domain) if (c2 := check_email(f"{local}@{d}")).ok and c2.normalized]
    if len(fixes) == 1:
        chk, repaired, fixes = fixes[0], True, []
    if repaired:
        message = check_email(raw.strip()).message or "repaired from OCR text"
    assert chk.normalized is not None
    key = chk.normalized.casefold()
    if key in found and not (found[key].repaired and not repaired):
        return
    found[key] = EmailHit(chk.normalized, raw.strip()[:MAX_FIELD_CHARS], line, repaired, message,
                          tld_exists(key.rsplit(".", 1)[-1]), tuple(f.normalized for f in fixes if f.normalized))


def find_emails(lines: Sequence[str], /) -> list[EmailHit]:
    """Every valid address in the lines, in reading order, each once."""
    found: dict[str, EmailHit] = {}
    lines = [l[:MAX_LINE_CHARS] for l in lines]
    for i, text in enumerate(lines):
        for c in _candidates(text):
            _accept(c, c, i, False, found)
        fixed = repair_line(text)
        if fixed != text:
            for c in _candidates(fixed):
                if c.casefold() not in found:
                    _accept(c, _raw_guess(text, c), i, True, found)
    # a token broken across two lines: "john.smith@" / "example.com", "john.smith" / "@example.com"
    for i in range(len(lines) - 1):
        a, b = lines[i].rstrip(), lines[i + 1].lstrip()
        if not a or not b:
            continue
        if a.endswith(("@", ".", "-", "_")) or b.startswith(("@", ".")):
            ta, tb = a.split()[-1], b.split()[0]
            joined = repair_line(ta + tb)
            for c in _candidates(joined):
                _accept(c, f"{ta} {tb}", i, True, found)
    return sorted(_drop_fragments(list(found.values())), key=lambda h: h.line)


def _drop_fragments(hits: list[EmailHit]) -> list[EmailHit]:
    """Of a raw and a repaired reading of the same address keep one.

    'john@ex.co' + 'john@ex.co.jp' (space before 'jp'): the longer domain wins.  'smith@ex.com' +
    'jo.smith@ex.com' (space after 'jo.'): the longer local part wins only when the extra piece is
    letters in the case of the rest, lower ('jo.') or, in an address printed in capitals, upper
    ('JOHN .SMITH@'); 'Inc.robert@' or a phone number glued on loses.
    """
    drop: set[int] = set()
    for a_i, a in enumerate(hits):
        for b_i, b in enumerate(hits):
            if a_i == b_i or a.line != b.line or not b.repaired:
                continue
            al, ad = a.value.rsplit("@", 1)
            bl, bd = b.value.rsplit("@", 1)
            if al == bl and bd.casefold().startswith(ad.casefold() + "."):
                drop.add(a_i)
            elif ad == bd and bl != al and bl.endswith(al):
                extra = bl[: -len(al)].rstrip(".")
                same_case = r"[A-Z]{1,20}" if al.isupper() else r"[a-z]{1,20}"
                drop.add(a_i if re.fullmatch(same_case, extra) else b_i)
    return [h for k, h in enumerate(hits) if k not in drop]


def _raw_guess(text: str, repaired: str, /) -> str:
    """The stretch of the original line that became the repaired address (best effort, for display)."""
    local, _, domain = repaired.partition("@")
    head = local[:3]
    tail = domain.split(".")[-1]
    start = text.find(head) if head else -1
    end = text.rfind(tail)
    if 0 <= start < end:
        return text[start:end + len(tail)]
    return text


def capital_i_spots(value: str, /) -> list[int]:
    """Where an e-mail's local part has a capital I among otherwise lower-case letters.

    Printed addresses are set in lower case (or wholly in capitals); a lone capital I in one is
    nearly always OCR's reading of an 'l' ('Ibauer@' for 'lbauer@'), sometimes of an 'i'."""
    local = value.rsplit("@", 1)[0]
    letters = [c for c in local if c.isalpha()]
    if "I" not in local or sum(c.isupper() for c in letters) != local.count("I") or len(letters) < 3:
        return []
    return [i for i, c in enumerate(local) if c == "I"][:3]


def name_patterns(words: Sequence[str]) -> set[str]:
    """What a local part made of the holder's name looks like: the name's words in order (or
    reversed), each whole, by its initial or left out, with at least one whole word of 3 or more
    letters ('lbauer', 'lukasb', 'bauerl' for Lukas Bauer)."""
    out: set[str] = set()
    words = [w for w in words if w][:4]
    for seq in (words, words[::-1]):
        for picks in itertools.product((0, 1, 2), repeat=len(seq)):  # 0 out, 1 initial, 2 whole
            if any(p == 2 and len(w) >= 3 for p, w in zip(picks, seq)):
                out.add("".join(w if p == 2 else w[:1] if p == 1 else "" for p, w in zip(picks, seq)))
    return out


def l_or_i(value: str, name_words: Sequence[str], /) -> tuple[str, bool] | None:
    """(the address with each lone capital I read as the 'l' or 'i' the card holder's name spells,
    True) when exactly one reading spells the name; (value, False) when the I is doubtful and
    the name does not decide; None when the address has no lone capital I."""
    spots = capital_i_spots(value)
    if not spots:
        return None
    local, _, domain = value.rpartition("@")
    spellings = name_patterns(name_words)
    spelled = []
    for letters in itertools.product("li", repeat=len(spots)):
        chars = list(local)
        for i, c in zip(spots, letters):
            chars[i] = c
        cand = "".join(chars)
        pieces = re.sub(r"[^a-z]", "", cand.lower())
        if pieces in spellings:
            spelled.append(cand)
    if len(spelled) == 1:
        return f"{spelled[0]}@{domain}", True
    return value, False
