"""The ``followups`` table: the queries of the follow-up queue (drafts, approval, the send claim, reminders).

The rules (which state may follow which, what a person must confirm) are the queue's
(``cardscan.followup.queue``); every statement here is guarded by the state and ``updated_at``
the caller read, so a concurrent change makes it a no-op (the caller gets False) instead of a
lost update.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cardscan.store.rows import Queries, _now


@dataclass(frozen=True)
class FollowupRecord:
    id: int
    contact_id: int
    event: str | None
    state: str
    to_addr: str
    subject: str
    body: str
    message_id: str | None
    attempts: int
    last_error: str | None
    next_attempt_at: float | None
    approved_at: str | None
    sent_at: str | None
    created_at: str
    updated_at: str
    kind: str = "followup"  # followup | intro_ask | intro | share (see cardscan.followup.intros)
    intro_id: int | None = None
    other_contact_id: int | None = None  # an introduction goes to both contacts
    other_addr: str | None = None
    url: str | None = None
    edited: bool | None = None  # a person edited the text (None: written before cardscan kept track)

    @property
    def recipients(self) -> list[str]:
        return [self.to_addr, *([self.other_addr] if self.other_addr else [])]

    @property
    def to_shown(self) -> str:
        return ", ".join(self.recipients)

    @property
    def retry_pending(self) -> bool:
        """A transient failure that will be tried again."""
        return self.state == "failed" and self.next_attempt_at is not None

    @property
    def label(self) -> str:
        if self.state == "failed":
            return "failed (will retry)" if self.retry_pending else "failed (permanent)"
        return self.state


@dataclass(frozen=True)
class FollowupRow:
    """One entry of the follow-up queue (the ``followups`` table), as the report reads it."""

    id: int
    contact_id: int
    state: str
    to_addr: str
    subject: str
    body: str
    last_error: str | None = None
    retry_pending: bool = False
    delivered_via: str | None = None  # smtp | drafts (how a sent / drafted entry went out)
    delivered_to: str | None = None  # IMAP server/folder of a drafted entry
    sent_at: str | None = None
    kind: str = "followup"  # followup | intro_ask | intro | share

    @property
    def label(self) -> str:
        if self.state == "failed":
            return "failed (will retry)" if self.retry_pending else "failed (permanent)"
        when = f" {self.sent_at[:16].replace('T', ' ')} UTC" if self.sent_at else ""
        if self.state == "sent" and self.delivered_via == "smtp":
            return f"sent by SMTP{when}"
        if self.state == "drafted":
            return f"put into Drafts ({self.delivered_to or 'IMAP'}){when}"
        return self.state


_COLS = ("f.id, f.contact_id, e.name, f.state, f.to_addr, f.subject, f.body, f.message_id, f.attempts, "
         "f.last_error, f.next_attempt_at, f.approved_at, f.sent_at, f.created_at, f.updated_at, "
         "f.kind, f.intro_id, f.other_contact_id, f.other_addr, f.url, f.edited")
_FROM = "followups f LEFT JOIN events e ON e.id = f.event_id"


def _record(r: Sequence[Any]) -> FollowupRecord:
    return FollowupRecord(int(r[0]), int(r[1]), r[2], r[3], r[4], r[5], r[6], r[7], int(r[8]), r[9],
                          None if r[10] is None else float(r[10]), r[11], r[12], r[13], r[14],
                          r[15], r[16], r[17], r[18], r[19], None if r[20] is None else bool(r[20]))


def _without_followup(conn: sqlite3.Connection) -> list[int]:
    rows = conn.execute(
        """
        SELECT c.id FROM contacts c
         WHERE c.merged_into IS NULL
           AND NOT EXISTS (SELECT 1 FROM followups f
                            WHERE f.contact_id = c.id AND ifnull(f.event_id, 0) = ifnull(c.event_id, 0)
                              AND f.kind = 'followup')
           AND NOT EXISTS (SELECT 1 FROM followups f JOIN contacts m ON m.id = f.contact_id
                            WHERE m.merged_into = c.id AND f.state <> 'skipped' AND f.kind = 'followup')
         ORDER BY c.id
        """).fetchall()
    return [int(r[0]) for r in rows]


class FollowupQueries(Queries):
    # -- reading -------------------------------------------------------------------------

    def followup(self, followup_id: int) -> FollowupRecord | None:
        row = self._conn.execute(f"SELECT {_COLS} FROM {_FROM} WHERE f.id = ?", (followup_id,)).fetchone()
        return _record(row) if row is not None else None

    def followups(self, *, state: str | None = None, event: str | None = None,
                  kind: str | None = None) -> list[FollowupRecord]:
        where, params = [], []
        if kind is not None:
            where.append("f.kind = ?")
            params.append(kind)
        if state is not None:
            where.append("f.state = ?")
            params.append(state)
        if event is not None:
            where.append("e.name = ?")
            params.append(event)
        sql = f"SELECT {_COLS} FROM {_FROM} WHERE {' AND '.join(where) or '1'} ORDER BY f.id"  # noqa: S608
        return [_record(r) for r in self._conn.execute(sql, params)]

    def live_followup(self, contact_id: int) -> FollowupRecord | None:
        """The contact's newest follow-up that is not skipped."""
        row = self._conn.execute(
            f"SELECT {_COLS} FROM {_FROM} WHERE f.contact_id = ? AND f.state <> 'skipped' AND f.kind = 'followup' "
            f"ORDER BY f.id DESC LIMIT 1",
            (contact_id,)).fetchone()
        return _record(row) if row else None

    def event_date(self, event: str | None) -> str:
        """The day an event took place, "" when unknown."""
        if not event:
            return ""
        row = self._conn.execute("SELECT date FROM events WHERE name = ?", (event,)).fetchone()
        return (row[0] or "") if row else ""

    def contacts_without_followup(self) -> list[int]:
        """Surviving contacts with no follow-up for their event (nor one of a contact merged into them)."""
        return _without_followup(self._conn)

    def followups_by_contact(self) -> dict[int, tuple[FollowupRow, ...]]:
        """Every follow-up, grouped under the contact that survives merges (what the report shows)."""
        conn = self._conn
        merged = {int(a): int(b) for a, b in conn.execute(
            "SELECT id, merged_into FROM contacts WHERE merged_into IS NOT NULL")}

        def survivor(cid: int) -> int:
            seen = set()
            while cid in merged and cid not in seen:
                seen.add(cid)
                cid = merged[cid]
            return cid

        out: dict[int, list[FollowupRow]] = {}
        for fid, cid, state, to_addr, subject, body, err, next_at, via, to, sent_at, kind, other in conn.execute(
                "SELECT id, contact_id, state, to_addr, subject, body, last_error, next_attempt_at, delivered_via, "
                "delivered_to, sent_at, kind, other_addr FROM followups ORDER BY id"):
            owner = survivor(int(cid))
            shown = to_addr + (f", {other}" if other else "")
            out.setdefault(owner, []).append(FollowupRow(int(fid), owner, state, shown, subject, body, err,
                                                         state == "failed" and next_at is not None, via, to,
                                                         sent_at, kind))
        return {k: tuple(v) for k, v in out.items()}

    # -- drafts and the person's decisions ----------------------------------------------

    def insert_draft(self, contact_id: int, to_addr: str, subject: str, body: str) -> tuple[int | None, int | None]:
        """(new id, None); (None, id of the follow-up that already has this address for the event);
        (None, None) when the contact got a follow-up meanwhile."""
        ts = _now()
        with self.write() as conn:  # type: ignore[attr-defined]
            if contact_id not in _without_followup(conn):
                return None, None
            event_id = conn.execute("SELECT event_id FROM contacts WHERE id = ?", (contact_id,)).fetchone()[0]
            dup = conn.execute(
                "SELECT id FROM followups WHERE lower(to_addr) = lower(?) AND ifnull(event_id, 0) = ifnull(?, 0) "
                "AND kind = 'followup' "
                "ORDER BY state = 'skipped', id LIMIT 1", (to_addr, event_id)).fetchone()
            if dup:
                return None, int(dup[0])
            try:
                cur = conn.execute(
                    "INSERT INTO followups (contact_id, event_id, state, to_addr, subject, body, created_at, "
                    "updated_at, edited) VALUES (?, ?, 'draft', ?, ?, ?, ?, ?, 0)",
                    (contact_id, event_id, to_addr, subject, body, ts, ts))
            except sqlite3.IntegrityError:
                return None, None
            return int(cur.lastrowid or 0), None

    def approve_followup(self, entry: FollowupRecord, *, to_addr: str | None, message_id: str,
                         other_addr: str | None = None) -> bool:
        """draft -> approved (the recipient replaced when ``to_addr``, an introduction's second one when
        ``other_addr``; the Message-ID fixed once)."""
        ts = _now()
        with self.write() as conn:  # type: ignore[attr-defined]
            cur = conn.execute(
                "UPDATE followups SET state = 'approved', approved_at = ?, updated_at = ?, "
                "to_addr = ifnull(?, to_addr), other_addr = ifnull(?, other_addr), "
                "message_id = ifnull(message_id, ?) WHERE id = ? AND state = 'draft' AND updated_at = ?",
                (ts, ts, to_addr, other_addr, message_id, entry.id, entry.updated_at))
            return cur.rowcount == 1

    def skip_followup(self, entry: FollowupRecord, reason: str) -> bool:
        with self.write() as conn:  # type: ignore[attr-defined]
            cur = conn.execute(
                "UPDATE followups SET state = 'skipped', next_attempt_at = NULL, updated_at = ?, "
                "last_error = CASE WHEN ? <> '' THEN ? ELSE last_error END WHERE id = ? AND state = ?",
                (_now(), reason, reason, entry.id, entry.state))
            return cur.rowcount == 1

    def retry_followup(self, entry: FollowupRecord) -> None:
        """Back to approved with its attempts reset."""
        with self.write() as conn:  # type: ignore[attr-defined]
            conn.execute("UPDATE followups SET state = 'approved', attempts = 0, next_attempt_at = NULL, "
                         "updated_at = ? WHERE id = ? AND state = ?", (_now(), entry.id, entry.state))

    def mark_followup_sent(self, entry: FollowupRecord) -> None:
        ts = _now()
        with self.write() as conn:  # type: ignore[attr-defined]
            conn.execute("UPDATE followups SET state = 'sent', sent_at = ?, next_attempt_at = NULL, updated_at = ? "
                         "WHERE id = ? AND state = ?", (ts, ts, entry.id, entry.state))

    def save_followup_text(self, entry: FollowupRecord, subject: str, body: str, *, back_to_draft: bool) -> bool:
        """New subject and text, unless the entry changed since it was read.  ``back_to_draft``: a
        person's edit (remembered as such: the template never rewrites it again); an approved or
        failed entry must be approved again."""
        with self.write() as conn:  # type: ignore[attr-defined]
            if back_to_draft:
                cur = conn.execute(
                    "UPDATE followups SET subject = ?, body = ?, state = 'draft', approved_at = NULL, edited = 1, "
                    "next_attempt_at = NULL, updated_at = ? WHERE id = ? AND updated_at = ? AND state = ?",
                    (subject, body, _now(), entry.id, entry.updated_at, entry.state))
            else:
                cur = conn.execute("UPDATE followups SET subject = ?, body = ?, updated_at = ? "
                                   "WHERE id = ? AND state = 'draft' AND updated_at = ?",
                                   (subject, body, _now(), entry.id, entry.updated_at))
            return cur.rowcount == 1

    def refresh_followup_text(self, entry: FollowupRecord, subject: str, body: str) -> bool:
        """The template's text rendered again (state unchanged; never over a person's edit), unless
        the entry changed since it was read."""
        with self.write() as conn:  # type: ignore[attr-defined]
            cur = conn.execute(
                "UPDATE followups SET subject = ?, body = ?, edited = 0, updated_at = ? "
                "WHERE id = ? AND updated_at = ? AND state = ? AND ifnull(edited, 0) = 0",
                (subject, body, _now(), entry.id, entry.updated_at, entry.state))
            return cur.rowcount == 1

    # -- sending ---------------------------------------------------------------------------

    def sending_followups(self) -> list[tuple[int, str | None, float | None]]:
        """(id, claimed_by, lease_until) of the entries in 'sending'."""
        return [(int(r[0]), r[1], r[2]) for r in self._conn.execute(
            "SELECT id, claimed_by, lease_until FROM followups WHERE state = 'sending'").fetchall()]

    def mark_followup_uncertain(self, followup_id: int, claimed_by: str | None, reason: str) -> bool:
        """'sending' -> 'uncertain' when the same sender still holds it."""
        with self.write() as conn:  # type: ignore[attr-defined]
            cur = conn.execute(
                "UPDATE followups SET state = 'uncertain', lease_until = NULL, claimed_by = NULL, updated_at = ?, "
                "last_error = ? WHERE id = ? AND state = 'sending' AND claimed_by IS ?",
                (_now(), reason, followup_id, claimed_by))
            return cur.rowcount == 1

    def due_followups(self, *, now: float, limit: int | None = None) -> list[FollowupRecord]:
        """Approved entries, and failed ones whose retry time has come, oldest first."""
        rows = self._conn.execute(
            f"SELECT {_COLS} FROM {_FROM} WHERE f.state = 'approved' "
            f"OR (f.state = 'failed' AND f.next_attempt_at IS NOT NULL AND f.next_attempt_at <= ?) "
            f"ORDER BY f.id LIMIT ?", (now, -1 if limit is None else limit)).fetchall()
        return [_record(r) for r in rows]

    def waiting_followups(self, now: float) -> int:
        """Transient failures whose retry time has not come."""
        return int(self._conn.execute(
            "SELECT count(*) FROM followups WHERE state = 'failed' AND next_attempt_at > ?", (now,)).fetchone()[0])

    def claim_followup(self, entry: FollowupRecord, worker: str, lease_until: float) -> bool:
        """approved/failed -> sending, one attempt more, committed before any connection is opened."""
        with self.write() as conn:  # type: ignore[attr-defined]
            cur = conn.execute(
                "UPDATE followups SET state = 'sending', attempts = attempts + 1, claimed_by = ?, lease_until = ?, "
                "updated_at = ? WHERE id = ? AND state = ? AND updated_at = ?",
                (worker, lease_until, _now(), entry.id, entry.state, entry.updated_at))
            return cur.rowcount == 1

    def unclaim_followup(self, entry: FollowupRecord, worker: str) -> None:
        """Undo :meth:`claim_followup` (nothing was handed to the server)."""
        with self.write() as conn:  # type: ignore[attr-defined]
            conn.execute(
                "UPDATE followups SET state = ?, attempts = ?, claimed_by = NULL, lease_until = NULL, updated_at = ? "
                "WHERE id = ? AND state = 'sending' AND claimed_by = ?",
                (entry.state, entry.attempts, _now(), entry.id, worker))

    def finish_followup(self, followup_id: int, state: str, reason: str | None, *, next_at: float | None,
                        expect: str = "sending") -> None:
        """The outcome of a try: sent (with its time), failed (maybe with a retry time) or uncertain."""
        ts = _now()
        with self.write() as conn:  # type: ignore[attr-defined]
            conn.execute(
                "UPDATE followups SET state = ?, last_error = ?, next_attempt_at = ?, claimed_by = NULL, "
                "lease_until = NULL, sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END, updated_at = ?, "
                "delivered_via = CASE WHEN ? = 'sent' THEN 'smtp' ELSE delivered_via END "
                "WHERE id = ? AND state = ?",
                (state, reason, next_at, state, ts, ts, state, followup_id, expect))

    # -- reminders ---------------------------------------------------------------------------

    def followup_states(self) -> tuple[set[int], dict[int, tuple[int, str]], set[int]]:
        """(contacts with a sent follow-up, contact -> (id, state) of its newest live one,
        contacts with a skipped one)."""
        conn = self._conn
        fu = "SELECT contact_id{} FROM followups WHERE kind = 'followup' AND "  # not introductions or shares
        sent = {int(r[0]) for r in conn.execute(fu.format("") + "state IN ('sent', 'drafted')")}
        live = {int(r[0]): (int(r[1]), r[2]) for r in conn.execute(
            fu.format(", id, state") + "state <> 'skipped' ORDER BY id")}
        skipped = {int(r[0]) for r in conn.execute(fu.format("") + "state = 'skipped'")}
        return sent, live, skipped

    def contacts_met(self) -> list[tuple[int, str | None, str]]:
        """(id, event, created_at) of every surviving contact, oldest first."""
        return [(int(r[0]), r[1], r[2]) for r in self._conn.execute(
            "SELECT c.id, e.name, c.created_at FROM contacts c LEFT JOIN events e ON e.id = c.event_id "
            "WHERE c.merged_into IS NULL ORDER BY c.id").fetchall()]
