"""One contact per person: find duplicates, merge them when the user says so.

Scoring (pure, over ``ContactRecord`` values):

- **strong**: the two share a normalised e-mail address (case-folded) or an E.164 phone number
  (values a validator refused do not count) and their names do not contradict each other (one
  is missing, or they are the same name once normalised, or nearly the same).
- **possible**: the same name (nameparser first + last, accents and case folded) and a similar
  company (rapidfuzz ratio of the normalised names >= 85, legal suffixes such as Inc or GmbH
  ignored) or a company on one card only; or a shared e-mail / mobile number under two different
  names (a misread name, or two people sharing an address).
- A shared work / fax / other number under two different names is *not* a duplicate: colleagues
  share the switchboard. Nor are two cards of one photo (cards laid side by side) unless the
  evidence is strong.

Merging (:func:`merge`) keeps everything: the other contact's cards are re-pointed (every card
image stays), its notes and follow-ups move over, every value is kept - for a field both have,
the user's own edit wins, else for the job (title, company, office address) the value from the
more recently scanned card becomes current and for the name the kept contact's; the other value
stays in the field's history.  List values (e-mails, phones, websites) are united: the kept
contact's stay in place (a merge never reorders what you had), the other's new ones follow.  The other contact is marked ``merged_into`` the survivor, never deleted.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from cardscan.errors import ValidationError
from cardscan.contacts.names import parse_name
from cardscan.models import Contact
from cardscan.parsing.layout import fold, wordlist
from cardscan.store import ContactRecord, Store

log = logging.getLogger(__name__)

STRENGTHS = ("strong", "possible")
NEWER_WINS = frozenset({"title", "company", "address"})  # fields where the more recent card is current
COMPANY_SIMILARITY = 85.0
NAME_SIMILARITY = 85.0
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
# Left out when comparing company names: the parser's legal forms (parsing/data/company_suffixes.txt,
# the one list of them), and words that are legal forms only in a company name or say nothing.
_COMPANY_NOISE = frozenset("ab aps as pvt sro zoo group holding holdings the".split())


@dataclass(frozen=True)
class DuplicatePair:
    """Two contacts that may be one person; ``a`` is the older (the one a merge keeps)."""

    a: int
    b: int
    strength: str  # "strong" | "possible"
    reasons: tuple[str, ...]

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


# --------------------------------------------------------------------------------------------
# normalisation (pure)


def match_key(text: str, /) -> str:
    """Text made comparable: the parser's ``fold`` (case-folded, accents removed), a few letters
    with no accent to strip spelled out, punctuation turned into single spaces."""
    t = fold(text).replace("ø", "o").replace("đ", "d").replace("ł", "l").replace("æ", "ae")
    return " ".join(re.sub(r"[^\w]+", " ", t).split())


@lru_cache(maxsize=65536)
def name_key(name: str | None, /) -> str:
    """First + last name, folded: ``Dr. José  Pérez-Ruiz, PhD`` -> ``jose perez ruiz``."""
    if not name or not name.strip():
        return ""
    parts = parse_name(name)
    key = match_key(f"{parts.given} {parts.family}") if parts else ""
    return key or match_key(name)


@lru_cache(maxsize=65536)
def company_key(company: str | None, /) -> str:
    words = match_key(company or "").split()
    noise = wordlist("company_suffixes.txt") | _COMPANY_NOISE
    kept = [w for w in words if w not in noise]
    return " ".join(kept or words)


def email_keys(contact: Contact) -> set[str]:
    return {e.value.strip().casefold() for e in contact.emails
            if "invalid" not in e.flags and "@" in e.value}


def phone_keys(contact: Contact) -> dict[str, str]:
    """E.164 number -> its type, for numbers that validated."""
    out: dict[str, str] = {}
    for p in contact.phones:
        if "invalid" not in p.flags and _E164.match(p.number):
            out.setdefault(p.number, p.type)
    return out


@lru_cache(maxsize=65536)
def _first_last(name: str) -> tuple[str, str]:
    parts = parse_name(name)
    return (match_key(parts.given), match_key(parts.family)) if parts else ("", "")


def names_agree(a: str | None, b: str | None) -> bool:
    """True when one name is missing or both can be the same person's name: equal once
    normalised, nearly equal (a misread letter), or an initial for the first name (J. Doe)."""
    ka, kb = name_key(a), name_key(b)
    if not ka or not kb or ka == kb:
        return True
    from rapidfuzz import fuzz

    if fuzz.token_sort_ratio(ka, kb) >= NAME_SIMILARITY:
        return True
    (fa, la), (fb, lb) = _first_last(a or ""), _first_last(b or "")
    if la and la == lb and fa and fb:
        short, full = sorted((fa, fb), key=len)
        return len(short) == 1 and full.startswith(short)
    return False


# --------------------------------------------------------------------------------------------
# scoring (pure)


def score_pair(x: ContactRecord, y: ContactRecord) -> DuplicatePair | None:
    """Whether two contacts look like one person, and why."""
    from rapidfuzz import fuzz

    a, b = (x, y) if x.id < y.id else (y, x)
    ca, cb = a.contact, b.contact
    agree = names_agree(ca.scalar("name"), cb.scalar("name"))
    strong: list[str] = []
    weak: list[str] = []
    for e in sorted(email_keys(ca) & email_keys(cb)):
        (strong if agree else weak).append(f"same e-mail {e}")
    pa, pb = phone_keys(ca), phone_keys(cb)
    for n in sorted(set(pa) & set(pb)):
        if agree:
            strong.append(f"same phone {n}")
        elif "mobile" in (pa[n], pb[n]):
            weak.append(f"same mobile {n}")
        # a shared office line under two names: colleagues, not one person
    if strong:
        return DuplicatePair(a.id, b.id, "strong", tuple(strong))
    if _share_a_photo(a, b):
        return None  # two cards side by side in one photo: two people, unless the evidence is strong
    if weak:
        return DuplicatePair(a.id, b.id, "possible", (*weak, "but different names"))
    na, nb = name_key(ca.scalar("name")), name_key(cb.scalar("name"))
    if na and na == nb and len(na.split()) >= 2:
        ka, kb = company_key(ca.scalar("company")), company_key(cb.scalar("company"))
        if ka and kb:
            sim = fuzz.ratio(ka, kb)
            if sim >= COMPANY_SIMILARITY:
                return DuplicatePair(a.id, b.id, "possible",
                                     (f"same name {na}", f"similar company ({sim:.0f}%)"))
        elif ka or kb:
            return DuplicatePair(a.id, b.id, "possible", (f"same name {na}", "company on one card only"))
    return None


def _share_a_photo(a: ContactRecord, b: ContactRecord) -> bool:
    return bool({k.sha256 for k in a.cards} & {k.sha256 for k in b.cards})


def find_duplicates(records: Sequence[ContactRecord], *, dismissed: Iterable[tuple[int, int]] = ()) -> list[DuplicatePair]:
    """Every pair of ``records`` that may be one person, strong ones first.  Candidate pairs
    come from shared keys (e-mail, number, name), so this is near-linear in the contacts."""
    gone = {(min(p), max(p)) for p in dismissed}
    buckets: dict[tuple[str, str], list[int]] = {}
    by_id = {r.id: r for r in records if r.merged_into is None}
    for r in by_id.values():
        c = r.contact
        keys = [("e", e) for e in email_keys(c)] + [("p", n) for n in phone_keys(c)]
        nk = name_key(c.scalar("name"))
        if nk:
            keys.append(("n", nk))
        for k in keys:
            buckets.setdefault(k, []).append(r.id)
    candidates: set[tuple[int, int]] = set()
    for ids in buckets.values():
        ids = sorted(set(ids))
        for i, a in enumerate(ids):
            for b in ids[i + 1:]:
                candidates.add((a, b))
    out = []
    for a, b in sorted(candidates - gone):
        pair = score_pair(by_id[a], by_id[b])
        if pair is not None:
            out.append(pair)
    out.sort(key=lambda p: (STRENGTHS.index(p.strength), p.a, p.b))
    return out


# --------------------------------------------------------------------------------------------
# store-backed


def dismissed_pairs(store: Store) -> set[tuple[int, int]]:
    return store.dismissed_duplicates()


def duplicates(store: Store, *, event: str | None = None, strength: str | None = None) -> list[DuplicatePair]:
    """Duplicates among the store's contacts (of one event), the user's dismissals left out."""
    pairs = find_duplicates(store.contacts(event=event), dismissed=dismissed_pairs(store))
    if strength is not None:
        pairs = [p for p in pairs if STRENGTHS.index(p.strength) <= STRENGTHS.index(strength)]
    return pairs


def _value_key(name: str, value: str) -> str:
    v = value.strip().casefold()
    if name == "website":
        v = re.sub(r"^https?://", "", v).removeprefix("www.").rstrip("/")
    return v


def merge(store: Store, keep: int, other: int) -> int:
    """Fold contact ``other`` into ``keep`` (see the module docstring); returns ``keep``'s id
    (its survivor, if it was merged itself).  One transaction: all or nothing."""
    a, b = store.merge_contacts(keep, other, newer_wins=NEWER_WINS, value_key=_value_key)
    log.info("merged contact %d into %d", b, a)
    return a


merge_contacts = merge


@dataclass(frozen=True)
class MergeResult:
    kept: int
    merged: int
    reasons: tuple[str, ...]


def auto_merge(store: Store, strength: str = "strong", *, event: str | None = None) -> list[MergeResult]:
    """Merge every pair at least as sure as ``strength`` ("strong" or "possible"); each group
    ends up in its oldest contact.  For ``cardscan scan --auto-merge strong``."""
    if strength not in STRENGTHS:
        raise ValidationError(f"--auto-merge must be one of {', '.join(STRENGTHS)}, not {strength!r}")
    done: list[MergeResult] = []
    for p in duplicates(store, event=event, strength=strength):
        ra, rb = store.contact(p.a), store.contact(p.b)  # earlier merges in this run moved them
        a, b = ra.id, rb.id
        if a == b:
            continue
        if p.strength != "strong" and _share_a_photo(ra, rb):
            continue  # an earlier merge made this pair two cards of one photo: two people
        keep, other = min(a, b), max(a, b)
        merge(store, keep, other)
        done.append(MergeResult(keep, other, p.reasons))
    return done


__all__ = [
    "DuplicatePair", "MergeResult", "STRENGTHS", "auto_merge", "company_key", "dismissed_pairs", "duplicates",
    "email_keys", "find_duplicates", "match_key", "merge", "merge_contacts", "name_key", "names_agree", "phone_keys",
    "score_pair",
]
