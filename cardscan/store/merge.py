"""Merging two contacts (fields, cards, notes, follow-ups) and the user's "not the same person" dismissals."""
from __future__ import annotations

import json
from collections.abc import Callable, Collection
from typing import Any

from cardscan.contacts.fields import DEFAULT_POLICY, SCALAR_FIELDS
from cardscan.errors import ValidationError
from cardscan.models import SOURCE_USER
from cardscan.store.rows import Queries, _now

_ROW_COLS = "id, card_id, name, position, value, type, raw, confidence, source, flags, message"


def _flagged(row: tuple[Any, ...]) -> bool:
    """A stored field row (``_ROW_COLS``) the default review policy puts in front of a person."""
    if row[8] == SOURCE_USER:
        return False
    return float(row[7]) < DEFAULT_POLICY.threshold or bool(DEFAULT_POLICY.flags.intersection(json.loads(row[9] or "[]")))


def _weaker(new: tuple[Any, ...], old: tuple[Any, ...]) -> bool:
    """A flagged value never replaces a confident one, however new its card."""
    return _flagged(new) and not _flagged(old)


class MergeQueries(Queries):
    def merge_contacts(self, keep: int, other: int, *, newer_wins: Collection[str],
                       value_key: Callable[[str, str], str]) -> tuple[int, int]:
        """Fold contact ``other`` into ``keep`` in one transaction; returns (kept id, merged id),
        each followed to its survivor first.  The rules come from ``cardscan.contacts.dedupe``:
        ``value_key`` says when two values are the same, ``newer_wins`` names the fields where the
        newer card's value becomes current (a person's edit beats both)."""
        return _merge(self, keep, other, newer_wins, value_key)

    def dismissed_duplicates(self) -> set[tuple[int, int]]:
        """Pairs (smaller id, larger id) the user said are different people."""
        return {(int(a), int(b)) for a, b in self._conn.execute(
            "SELECT contact_a, contact_b FROM duplicate_dismissals")}

    def dismiss_duplicate(self, a: int, b: int) -> None:
        """Remember that contacts ``a`` and ``b`` are different people."""
        with self.write() as conn:  # type: ignore[attr-defined]
            conn.execute("INSERT OR IGNORE INTO duplicate_dismissals (contact_a, contact_b, created_at) "
                         "VALUES (?, ?, ?)", (min(a, b), max(a, b), _now()))


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


def _merge(store: Any, keep: int, other: int, newer_wins: Collection[str],
           value_key: Callable[[str, str], str]) -> tuple[int, int]:
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
            elif value_key(name, va[4]) != value_key(name, vb[4]):
                user_a, user_b = va[8] == "user", vb[8] == "user"
                # a job (title, company, office address) changes: the newer card's is current;
                # a name does not: the kept contact's reading stays.  A person's edit beats both.
                later = b_newer and name in newer_wins
                b_wins = user_b and not user_a or (user_a == user_b and later and not _weaker(vb, va))
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
                k = value_key(name, r[4])
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
    return a, b


_SENT_LIKE = ("sent", "drafted", "sending", "failed", "uncertain")


def _move_followups(conn: Any, a: int, b: int, ts: str) -> None:
    """Follow-ups of ``b`` move to ``a``.  One person gets at most one live follow-up per
    event: where both have one, a message already (being) sent wins over a draft, else ``a``'s
    is kept and ``b``'s draft is skipped.  Nor does one person keep two unsent ones of different
    events (the same card scanned once with and once without ``--event``): ``b``'s is skipped.
    Two sent ones both stay (b's on b, reachable through merged_into), as history must not be
    rewritten."""
    live = "state <> 'skipped' AND kind = 'followup'"  # introductions and shares are not follow-ups
    for fid, event_id, state in conn.execute(
            f"SELECT id, event_id, state FROM followups WHERE contact_id = ? AND {live}", (b,)).fetchall():  # noqa: S608
        mine = conn.execute(f"SELECT id, state FROM followups WHERE contact_id = ? AND {live} "  # noqa: S608
                            "AND ifnull(event_id, 0) = ifnull(?, 0)", (a, event_id)).fetchone()
        if mine is None:
            if state not in _SENT_LIKE and conn.execute(  # two unsent messages to one person: one goes
                    f"SELECT 1 FROM followups WHERE contact_id = ? AND {live} "  # noqa: S608
                    f"AND state NOT IN {_SENT_LIKE}", (a,)).fetchone():
                conn.execute("UPDATE followups SET state = 'skipped', last_error = ?, updated_at = ? WHERE id = ?",
                             (f"merged into contact #{a}, which has its own follow-up", ts, fid))
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
