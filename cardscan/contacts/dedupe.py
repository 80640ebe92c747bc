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
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from cardscan.errors import ValidationError
from cardscan.models import Contact
from cardscan.store import SCALAR_FIELDS, ContactRecord, Store

log = logging.getLogger(__name__)

STRENGTHS = ("strong", "possible")
NEWER_WINS = frozenset({"title", "company", "address"})  # fields where the more recent card is current
COMPANY_SIMILARITY = 85.0
NAME_SIMILARITY = 85.0
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_COMPANY_SUFFIXES = frozenset(
    "inc incorporated corp corporation co company llc llp lp ltd limited plc gmbh ag kg ug sa sas sarl srl spa "
    "bv nv oy ab as aps kk pty pvt sl sro zoo group holding holdings the".split())


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


def fold(text: str, /) -> str:
    """Case-folded, accents removed, punctuation turned into single spaces."""
    t = unicodedata.normalize("NFKD", text.casefold())
    t = "".join(ch for ch in t if not unicodedata.combining(ch))
    t = t.replace("ß", "ss").replace("ø", "o").replace("đ", "d").replace("ł", "l").replace("æ", "ae")
    return " ".join(re.sub(r"[^\w]+", " ", t).split())


def name_key(name: str | None, /) -> str:
    """First + last name, folded: ``Dr. José  Pérez-Ruiz, PhD`` -> ``jose perez ruiz``."""
    if not name or not name.strip():
        return ""
    from nameparser import HumanName

    text = " ".join(name.split())
    try:
        h = HumanName(text)
        key = fold(f"{h.first} {h.last}")
    except Exception:  # noqa: BLE001 - nameparser on odd text
        key = ""
    return key or fold(text)


def company_key(company: str | None, /) -> str:
    words = fold(company or "").split()
    kept = [w for w in words if w not in _COMPANY_SUFFIXES]
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


def _first_last(name: str) -> tuple[str, str]:
    from nameparser import HumanName

    try:
        h = HumanName(" ".join(name.split()))
        return fold(h.first), fold(h.last)
    except Exception:  # noqa: BLE001
        return "", ""


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
    return {(int(a), int(b)) for a, b in store.connection.execute(
        "SELECT contact_a, contact_b FROM duplicate_dismissals")}


def duplicates(store: Store, *, event: str | None = None, strength: str | None = None) -> list[DuplicatePair]:
    """Duplicates among the store's contacts (of one event), the user's dismissals left out."""
    pairs = find_duplicates(store.contacts(event=event), dismissed=dismissed_pairs(store))
    if strength is not None:
        pairs = [p for p in pairs if STRENGTHS.index(p.strength) <= STRENGTHS.index(strength)]
    return pairs


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


_ROW_COLS = "id, card_id, name, position, value, type, raw, confidence, source, flags, message"


def _value_key(name: str, value: str) -> str:
    v = value.strip().casefold()
    if name == "website":
        v = re.sub(r"^https?://", "", v).removeprefix("www.").rstrip("/")
    return v


def _last_scan(conn: Any, cid: int) -> str:
    row = conn.execute("SELECT max(created_at) FROM cards WHERE contact_id = ?", (cid,)).fetchone()
    if row and row[0]:
        return str(row[0])
    return str(conn.execute("SELECT created_at FROM contacts WHERE id = ?", (cid,)).fetchone()[0])


def _resolve(conn: Any, cid: int) -> int:
    seen: set[int] = set()
    while cid not in seen:
        seen.add(cid)
        row = conn.execute("SELECT merged_into FROM contacts WHERE id = ?", (cid,)).fetchone()
        if row is None:
            raise KeyError(f"no contact {cid}")
        if row[0] is None:
            return cid
        cid = int(row[0])
    return cid


def merge(store: Store, keep: int, other: int) -> int:
    """Fold contact ``other`` into ``keep`` (see the module docstring); returns ``keep``'s id
    (its survivor, if it was merged itself).  One transaction: all or nothing."""
    ts = _now()
    with store.write() as conn:
        try:
            a, b = _resolve(conn, keep), _resolve(conn, other)
        except KeyError as exc:
            raise ValidationError(f"no contact #{exc.args[0].split()[-1]}") from None
        if a == b:
            raise ValidationError(f"contacts #{keep} and #{other} are already one contact (#{a})")
        b_newer = _last_scan(conn, b) > _last_scan(conn, a)

        def current(cid: int, name: str) -> list[tuple[Any, ...]]:
            return conn.execute(
                f"SELECT {_ROW_COLS} FROM fields WHERE contact_id = ? AND name = ? AND is_current = 1 "  # noqa: S608
                f"AND deleted = 0 ORDER BY position", (cid, name)).fetchall()

        def copy_row(src: tuple[Any, ...], position: int, *, is_current: bool, supersedes: int | None) -> None:
            _fid, card_id, name, _pos, value, ftype, raw, conf, source, flags, message = src
            conn.execute(
                "INSERT INTO fields (contact_id, card_id, name, position, value, type, raw, confidence, source, "
                "flags, message, action, deleted, is_current, supersedes, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'merge', 0, ?, ?, ?)",
                (a, card_id, name, position, value, ftype, raw, conf, source, flags, message, int(is_current),
                 supersedes, ts))

        def put(name: str, position: int, src: tuple[Any, ...]) -> None:
            """Make a copy of ``src`` the current value of ``a``'s slot; the old one stays as history."""
            old = conn.execute("SELECT id, value, deleted FROM fields WHERE contact_id = ? AND name = ? "
                               "AND position = ? AND is_current = 1", (a, name, position)).fetchone()
            if old is not None:
                if old[0] == src[0]:
                    return
                conn.execute("UPDATE fields SET is_current = 0 WHERE id = ?", (old[0],))
            copy_row(src, position, is_current=True, supersedes=old[0] if old else None)

        for name in SCALAR_FIELDS:
            ra, rb = current(a, name), current(b, name)
            if not rb:
                continue
            va, vb = (ra[0] if ra else None), rb[0]
            if va is None:
                put(name, 0, vb)
            elif _value_key(name, va[4]) != _value_key(name, vb[4]):
                user_a, user_b = va[8] == "user", vb[8] == "user"
                # a job (title, company, office address) changes: the newer card's is current;
                # a name does not: the kept contact's reading stays.  A person's edit beats both.
                later = b_newer and name in NEWER_WINS
                b_wins = user_b and not user_a or (user_a == user_b and later)
                if b_wins:
                    put(name, 0, vb)  # a's value stays in the slot's history
                else:
                    copy_row(vb, 0, is_current=False, supersedes=None)  # b's value kept as history
        for name in ("email", "phone", "website"):
            ra, rb = current(a, name), current(b, name)
            if not rb:
                continue
            first, second = ra, rb  # the kept contact's values stay where they are
            merged: list[tuple[Any, ...]] = []
            seen: set[str] = set()
            for r in (*first, *second):
                k = _value_key(name, r[4])
                if k not in seen:
                    seen.add(k)
                    merged.append(r)
            top = conn.execute("SELECT ifnull(max(position), -1) FROM fields WHERE contact_id = ? AND name = ?",
                               (a, name)).fetchone()[0]
            used = [r[3] for r in ra] + list(range(int(top) + 1, int(top) + 1 + len(merged)))
            for pos, src in zip(sorted(set(used))[:len(merged)], merged):
                put(name, pos, src)

        conn.execute("UPDATE cards SET contact_id = ? WHERE contact_id = ?", (a, b))
        conn.execute("UPDATE notes SET contact_id = ? WHERE contact_id = ?", (a, b))
        conn.execute("UPDATE contact_needs SET contact_id = ? WHERE contact_id = ?", (a, b))
        _move_followups(conn, a, b, ts)
        conn.execute(
            "UPDATE contacts SET event_id = ifnull(event_id, (SELECT event_id FROM contacts WHERE id = :b)), "
            "region = ifnull(region, (SELECT region FROM contacts WHERE id = :b)), "
            "reviewed = reviewed * (SELECT reviewed FROM contacts WHERE id = :b), updated_at = :ts WHERE id = :a",
            {"a": a, "b": b, "ts": ts})
        conn.execute("UPDATE contacts SET merged_into = ?, updated_at = ? WHERE id = ?", (a, ts, b))
    log.info("merged contact %d into %d", b, a)
    return a


_SENT_LIKE = ("sent", "sending", "failed", "uncertain")


def _move_followups(conn: Any, a: int, b: int, ts: str) -> None:
    """Follow-ups of ``b`` move to ``a``.  One person gets at most one live follow-up per
    event: where both have one, a message already (being) sent wins over a draft, else ``a``'s
    is kept and ``b``'s draft is skipped.  Two sent ones both stay (b's on b, reachable through
    merged_into), as history must not be rewritten."""
    live = "state <> 'skipped' AND kind = 'followup'"  # introductions and shares are not follow-ups
    for fid, event_id, state in conn.execute(
            f"SELECT id, event_id, state FROM followups WHERE contact_id = ? AND {live}", (b,)).fetchall():  # noqa: S608
        mine = conn.execute(f"SELECT id, state FROM followups WHERE contact_id = ? AND {live} "  # noqa: S608
                            "AND ifnull(event_id, 0) = ifnull(?, 0)", (a, event_id)).fetchone()
        if mine is None:
            continue
        if state in _SENT_LIKE and mine[1] not in _SENT_LIKE:
            conn.execute("UPDATE followups SET state = 'skipped', last_error = ?, updated_at = ? WHERE id = ?",
                         (f"contact #{b} merged in, and its follow-up was already sent", ts, mine[0]))
        elif state not in _SENT_LIKE:
            conn.execute("UPDATE followups SET state = 'skipped', last_error = ?, updated_at = ? WHERE id = ?",
                         (f"merged into contact #{a}, which has its own follow-up", ts, fid))
    # re-point everything that no longer collides with a live row of a
    conn.execute(
        f"""UPDATE followups SET contact_id = :a, updated_at = :ts
             WHERE contact_id = :b AND (state = 'skipped' OR kind <> 'followup' OR NOT EXISTS (
                   SELECT 1 FROM followups f WHERE f.contact_id = :a AND f.{live}
                      AND ifnull(f.event_id, 0) = ifnull(followups.event_id, 0)))""",  # noqa: S608
        {"a": a, "b": b, "ts": ts})
    conn.execute("UPDATE followups SET other_contact_id = ?, updated_at = ? WHERE other_contact_id = ?", (a, ts, b))
    conn.execute("UPDATE intros SET contact_a = ?, updated_at = ? WHERE contact_a = ? AND contact_b <> ?", (a, ts, b, a))
    conn.execute("UPDATE intros SET contact_b = ?, updated_at = ? WHERE contact_b = ? AND contact_a <> ?", (a, ts, b, a))


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
    "email_keys", "find_duplicates", "fold", "merge", "merge_contacts", "name_key", "names_agree", "phone_keys",
    "score_pair",
]
