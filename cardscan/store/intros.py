"""SQL of asks / offers and introductions (the logic is in :mod:`cardscan.followup.intros`).

``contact_needs``  one row per thing a contact asks for (``ask``) or offers (``offer``).
``intros``         an introduction between contacts ``contact_a`` and ``contact_b``:
                   state ``asking`` (double opt-in: waiting for the answers) -> ``introducing``
                   (both said yes, or ``--direct``: the introduction message is queued) ;
                   ``declined`` (one said no: nothing more is ever sent) ; ``cancelled``.
                   ``answer_a`` / ``answer_b`` are NULL, 'yes' or 'no'.
The messages are ``followups`` rows: ``kind`` = ``intro_ask`` (to one person, ``other_contact_id``
the person proposed), ``intro`` (to ``contact_id`` AND ``other_contact_id`` at ``other_addr``),
``share`` (``url`` shared with one person); plain follow-ups have kind ``followup``.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from cardscan.errors import ValidationError

if TYPE_CHECKING:
    from cardscan.store import Store

NEED_KINDS = ("ask", "offer")
INTRO_STATES = ("asking", "introducing", "declined", "cancelled")
KINDS = ("followup", "intro_ask", "intro", "share")

MIGRATION_SQL = """
ALTER TABLE followups ADD COLUMN kind TEXT NOT NULL DEFAULT 'followup'
    CHECK (kind IN ('followup', 'intro_ask', 'intro', 'share'));
ALTER TABLE followups ADD COLUMN intro_id INTEGER REFERENCES intros(id);
ALTER TABLE followups ADD COLUMN other_contact_id INTEGER REFERENCES contacts(id);
ALTER TABLE followups ADD COLUMN other_addr TEXT;
ALTER TABLE followups ADD COLUMN url TEXT;
DROP INDEX followups_one_live;
CREATE UNIQUE INDEX followups_one_live ON followups(contact_id, ifnull(event_id, 0))
    WHERE state <> 'skipped' AND kind = 'followup';
CREATE TABLE contact_needs (
    id          INTEGER PRIMARY KEY,
    contact_id  INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('ask', 'offer')),
    text        TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX contact_needs_contact ON contact_needs(contact_id);
CREATE TABLE intros (
    id          INTEGER PRIMARY KEY,
    contact_a   INTEGER NOT NULL REFERENCES contacts(id),
    contact_b   INTEGER NOT NULL REFERENCES contacts(id),
    why         TEXT NOT NULL DEFAULT '',
    direct      INTEGER NOT NULL DEFAULT 0,
    state       TEXT NOT NULL DEFAULT 'asking' CHECK (state IN ('asking', 'introducing', 'declined', 'cancelled')),
    answer_a    TEXT CHECK (answer_a IN ('yes', 'no')),
    answer_b    TEXT CHECK (answer_b IN ('yes', 'no')),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    CHECK (contact_a <> contact_b)
);
-- one ask per person and introduction, one introduction message, one share of a URL per person
CREATE UNIQUE INDEX followups_one_ask ON followups(intro_id, contact_id)
    WHERE kind = 'intro_ask' AND state <> 'skipped';
CREATE UNIQUE INDEX followups_one_intro ON followups(intro_id) WHERE kind = 'intro' AND state <> 'skipped';
CREATE UNIQUE INDEX followups_one_share ON followups(contact_id, url) WHERE kind = 'share' AND state <> 'skipped';
"""


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _survivor(conn: sqlite3.Connection, contact_id: int) -> int:
    from cardscan.store.rows import _follow_merges

    return _follow_merges(conn, contact_id)


# --------------------------------------------------------------------------------------------
# asks and offers


def add_need(store: Store, contact_id: int, kind: str, text: str) -> int:
    if kind not in NEED_KINDS:
        raise ValidationError(f"unknown kind {kind!r}: ask or offer")
    text = " ".join(text.split())
    if not text:
        raise ValidationError(f"an {kind} cannot be empty")
    with store.write() as conn:
        cid = _survivor(conn, contact_id)
        if conn.execute("SELECT 1 FROM contacts WHERE id = ?", (cid,)).fetchone() is None:
            raise ValidationError(f"no contact #{contact_id}")
        cur = conn.execute("INSERT INTO contact_needs (contact_id, kind, text, created_at) VALUES (?, ?, ?, ?)",
                           (cid, kind, text, now_iso()))
        conn.execute("UPDATE contacts SET updated_at = ? WHERE id = ?", (now_iso(), cid))
    return int(cur.lastrowid or 0)


# --------------------------------------------------------------------------------------------
# introductions


@dataclass(frozen=True)
class IntroRow:
    id: int
    contact_a: int
    contact_b: int
    why: str
    direct: bool
    state: str
    answer_a: str | None
    answer_b: str | None
    created_at: str
    updated_at: str


_INTRO_COLS = "id, contact_a, contact_b, why, direct, state, answer_a, answer_b, created_at, updated_at"


def _intro(r: Sequence[Any]) -> IntroRow:
    return IntroRow(int(r[0]), int(r[1]), int(r[2]), r[3], bool(r[4]), r[5], r[6], r[7], r[8], r[9])


def insert_intro(store: Store, a: int, b: int, why: str, direct: bool) -> int:
    ts = now_iso()
    with store.write() as conn:
        cur = conn.execute(
            "INSERT INTO intros (contact_a, contact_b, why, direct, state, answer_a, answer_b, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (a, b, why, int(direct), "introducing" if direct else "asking", None, None, ts, ts))
    return int(cur.lastrowid or 0)


def intro(store: Store, intro_id: int) -> IntroRow:
    row = store.connection.execute(f"SELECT {_INTRO_COLS} FROM intros WHERE id = ?", (intro_id,)).fetchone()  # noqa: S608
    if row is None:
        raise ValidationError(f"no introduction #{intro_id}", hint="see `cardscan intro list`")
    return _intro(row)


def intros(store: Store, *, state: str | None = None, contact_id: int | None = None) -> list[IntroRow]:
    where, params = [], []
    if state is not None:
        where.append("state = ?")
        params.append(state)
    if contact_id is not None:
        where.append("(contact_a = ? OR contact_b = ?)")
        params += [contact_id, contact_id]
    sql = f"SELECT {_INTRO_COLS} FROM intros WHERE {' AND '.join(where) or '1'} ORDER BY id"  # noqa: S608
    return [_intro(r) for r in store.connection.execute(sql, params)]


def pairs_with_intro(store: Store) -> set[frozenset[int]]:
    """Every pair that has an introduction in any state but cancelled (never suggested again)."""
    return {frozenset((int(a), int(b))) for a, b in store.connection.execute(
        "SELECT contact_a, contact_b FROM intros WHERE state <> 'cancelled'")}


def record_answer(store: Store, row: IntroRow, side: str, answer: str) -> bool:
    """Store one side's answer (only while asking); False when the row changed meanwhile."""
    col = {"a": "answer_a", "b": "answer_b"}[side]
    with store.write() as conn:
        cur = conn.execute(f"UPDATE intros SET {col} = ?, updated_at = ? "  # noqa: S608
                           f"WHERE id = ? AND state = 'asking' AND updated_at = ?",
                           (answer, now_iso(), row.id, row.updated_at))
    return cur.rowcount == 1


def set_intro_state(store: Store, intro_id: int, state: str, *, expect: Iterable[str]) -> bool:
    exp = tuple(expect)
    marks = ",".join("?" * len(exp))
    with store.write() as conn:
        cur = conn.execute(f"UPDATE intros SET state = ?, updated_at = ? WHERE id = ? AND state IN ({marks})",  # noqa: S608
                           (state, now_iso(), intro_id, *exp))
    return cur.rowcount == 1


def end_intro(store: Store, intro_id: int, state: str, reason: str) -> list[int]:
    """``declined`` / ``cancelled``: the introduction and every message of it not yet handed to a
    server (draft, approved, failed) are skipped in one transaction.  Returns the skipped ids."""
    ts = now_iso()
    with store.write() as conn:
        conn.execute("UPDATE intros SET state = ?, updated_at = ? WHERE id = ?", (state, ts, intro_id))
        ids = [int(r[0]) for r in conn.execute(
            "SELECT id FROM followups WHERE intro_id = ? AND state IN ('draft', 'approved', 'failed')", (intro_id,))]
        conn.execute("UPDATE followups SET state = 'skipped', next_attempt_at = NULL, last_error = ?, updated_at = ? "
                     "WHERE intro_id = ? AND state IN ('draft', 'approved', 'failed')", (reason, ts, intro_id))
    return ids


def intro_state(store: Store, intro_id: int) -> str | None:
    row = store.connection.execute("SELECT state FROM intros WHERE id = ?", (intro_id,)).fetchone()
    return row[0] if row else None


# --------------------------------------------------------------------------------------------
# queue entries of the new kinds


def insert_entry(store: Store, *, kind: str, contact_id: int, to_addr: str, subject: str, body: str,
                 intro_id: int | None = None, other_contact_id: int | None = None, other_addr: str | None = None,
                 url: str | None = None) -> int | None:
    """A draft of kind intro_ask / intro / share; None when the same message is already queued."""
    if kind not in KINDS or kind == "followup":
        raise ValueError(kind)
    ts = now_iso()
    with store.write() as conn:
        event_id = conn.execute("SELECT event_id FROM contacts WHERE id = ?", (contact_id,)).fetchone()[0]
        try:
            cur = conn.execute(
                "INSERT INTO followups (contact_id, event_id, state, to_addr, subject, body, created_at, updated_at, "
                "kind, intro_id, other_contact_id, other_addr, url) "
                "VALUES (?, ?, 'draft', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (contact_id, event_id, to_addr, subject, body, ts, ts, kind, intro_id, other_contact_id,
                 other_addr, url))
        except sqlite3.IntegrityError:
            return None
    return int(cur.lastrowid or 0)


def entry_ids(store: Store, *, intro_id: int, kind: str | None = None) -> list[int]:
    sql = "SELECT id FROM followups WHERE intro_id = ?" + (" AND kind = ?" if kind else "") + " ORDER BY id"
    return [int(r[0]) for r in store.connection.execute(sql, (intro_id, kind) if kind else (intro_id,))]


def set_other_addr(store: Store, followup_id: int, addr: str, updated_at: str) -> bool:
    with store.write() as conn:
        cur = conn.execute("UPDATE followups SET other_addr = ? WHERE id = ? AND updated_at = ?",
                           (addr, followup_id, updated_at))
    return cur.rowcount == 1


def asks_sent_before(store: Store, cutoff_iso: str) -> list[tuple[int, int, int, str]]:
    """(followup id, intro id, contact id, sent_at) of asks sent before ``cutoff_iso`` whose
    introduction is still waiting for that person's answer."""
    rows = store.connection.execute(
        """
        SELECT f.id, i.id, f.contact_id, f.sent_at FROM followups f JOIN intros i ON i.id = f.intro_id
         WHERE f.kind = 'intro_ask' AND f.state = 'sent' AND f.sent_at < ? AND i.state = 'asking'
           AND ((i.contact_a = f.contact_id AND i.answer_a IS NULL)
             OR (i.contact_b = f.contact_id AND i.answer_b IS NULL))
         ORDER BY f.sent_at
        """, (cutoff_iso,)).fetchall()
    return [(int(r[0]), int(r[1]), int(r[2]), r[3]) for r in rows]


def share_entry(store: Store, contact_id: int, url: str) -> int | None:
    """The live share entry of ``url`` for this contact, if any."""
    row = store.connection.execute(
        "SELECT id FROM followups WHERE kind = 'share' AND contact_id = ? AND url = ? AND state <> 'skipped'",
        (contact_id, url)).fetchone()
    return int(row[0]) if row else None


__all__ = [
    "INTRO_STATES", "IntroRow", "KINDS", "NEED_KINDS", "add_need", "asks_sent_before", "end_intro", "entry_ids",
    "insert_entry", "insert_intro", "intro", "intro_state", "intros", "pairs_with_intro", "record_answer",
    "set_intro_state", "set_other_addr", "share_entry",
]
