"""The ``contacts``, ``fields``, ``cards``, ``notes`` and ``events`` tables: contacts read back, field edits with history."""
from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from cardscan.contacts.fields import DEFAULT_POLICY, ReviewPolicy
from cardscan.errors import ValidationError
from cardscan.models import SOURCE_USER, Contact
from cardscan.store.rows import (_FIELD_ROW_COLS, _path_value, CardRecord, ContactRecord, FieldRow, Queries, _build_contact,
                                 _check_slot, _chunks, _contact_rows, _field_row, _follow_merges, _now,
                                 _require_contact)


class ContactQueries(Queries):
    def contact(self, contact_id: int) -> ContactRecord:
        """The contact with this id (a merged contact's id gives its survivor)."""
        with self.read() as conn:
            cid = _follow_merges(conn, contact_id)
            records = self._load_contacts(conn, "c.id = ?", (cid,))
        if not records:
            raise KeyError(f"no contact {contact_id}")
        return records[0]

    def contacts(self, event: str | None = None, *, include_merged: bool = False) -> list[ContactRecord]:
        """Contacts in creation order, optionally of one event; merged-away contacts are hidden."""
        where, params = [], []
        if not include_merged:
            where.append("c.merged_into IS NULL")
        if event is not None:
            where.append("e.name = ?")
            params.append(event)
        with self.read() as conn:
            return self._load_contacts(conn, " AND ".join(where) or "1", tuple(params))

    def stats(self, *, event: str | None = None, policy: ReviewPolicy = DEFAULT_POLICY) -> dict[str, int]:
        """Counts for the report summary.  Photo counts are for the whole database; contact
        and field counts are for ``event`` when given."""
        with self.read() as conn:
            by_state = dict(conn.execute("SELECT state, count(*) FROM photos GROUP BY state").fetchall())
            unread = conn.execute("SELECT count(*) FROM unread_files").fetchone()[0]
            records = self._load_contacts(
                conn,
                "c.merged_into IS NULL" + (" AND e.name = ?" if event is not None else ""),
                (event,) if event is not None else (),
                with_crops=False,
            )
        fields_review = sum(policy.count(r.contact) for r in records if not r.reviewed)
        return {
            "photos_done": int(by_state.get("done", 0)),
            "photos_failed": int(by_state.get("failed", 0)) + int(unread),
            "photos_pending": int(by_state.get("pending", 0)) + int(by_state.get("claimed", 0)),
            "contacts": len(records),
            "contacts_needing_review": sum(1 for r in records if r.needs_review(policy)),
            "fields_needing_review": fields_review,
        }

    def events(self) -> list[tuple[str, str | None]]:
        return [(r[0], r[1]) for r in self._conn.execute("SELECT name, date FROM events ORDER BY name")]

    def add_note(self, contact_id: int, text: str) -> int:
        text = text.strip()
        if not text:
            raise ValidationError("a note cannot be empty")
        with self.write() as conn:
            cid = _follow_merges(conn, contact_id)
            nid = conn.execute("INSERT INTO notes (contact_id, text, created_at) VALUES (?, ?, ?)",
                               (cid, text, _now())).lastrowid
            self._touch(cid)
        return int(nid or 0)

    def set_reviewed(self, contact_id: int, reviewed: bool = True) -> None:
        ts = _now()
        with self.write() as conn:
            cid = _follow_merges(conn, contact_id)
            cur = conn.execute("UPDATE contacts SET reviewed = ?, reviewed_at = ?, updated_at = ? WHERE id = ?",
                               (int(reviewed), ts if reviewed else None, ts, cid))
            if cur.rowcount == 0:
                raise KeyError(f"no contact {contact_id}")

    # -- field edits ---------------------------------------------------------------------

    def set_field(self, contact_id: int, name: str, value: str | None, *, position: int = 0,
                  type: str | None = None) -> int:
        """Make ``value`` the current value of (name, position), keeping the previous rows as
        history.  ``value=None`` deletes the value.  Validation is the caller's job.  Returns
        the new row id."""
        _check_slot(name, position)
        if name == "phone" and type is not None and type not in ("work", "mobile", "fax", "other"):
            raise ValidationError(f"phone type must be work, mobile, fax or other, not {type!r}")
        ts = _now()
        with self.write() as conn:
            cid = _require_contact(conn, contact_id)
            cur = conn.execute(
                "SELECT id, type FROM fields WHERE contact_id = ? AND name = ? AND position = ? AND is_current = 1",
                (cid, name, position)).fetchone()
            old_id = cur[0] if cur else None
            if name == "phone" and type is None:
                type = (cur[1] if cur else None) or "other"
            if old_id is not None:
                conn.execute("UPDATE fields SET is_current = 0 WHERE id = ?", (old_id,))
            new_id = conn.execute(
                """
                INSERT INTO fields (contact_id, card_id, name, position, value, type, raw, confidence,
                                    source, flags, message, action, deleted, is_current, supersedes,
                                    created_at)
                VALUES (?, NULL, ?, ?, ?, ?, NULL, 1.0, 'user', '[]', NULL, ?, ?, 1, ?, ?)
                """,
                (cid, name, position, value if value is not None else "",
                 type if name == "phone" else None,
                 "edit" if value is not None else "delete", int(value is None), old_id, ts),
            ).lastrowid
            self._touch(cid, ts)
        return int(new_id or 0)

    def revert_field(self, contact_id: int, name: str, *, position: int = 0) -> bool:
        """Bring back the value read from the card for (name, position) as a new current row.
        A slot the user added (nothing was read there) is emptied.  False when nothing changed."""
        _check_slot(name, position)
        ts = _now()
        with self.write() as conn:
            cid = _require_contact(conn, contact_id)
            cur = conn.execute(
                "SELECT id, source, action FROM fields WHERE contact_id = ? AND name = ? AND position = ? "
                "AND is_current = 1", (cid, name, position)).fetchone()
            if cur is None or cur[2] in ("read", "merge", "revert"):  # already as read
                return False
            # walk the chain back to its first row: the value as read (or the user's first entry)
            root = conn.execute(
                """
                WITH RECURSIVE chain(id, supersedes) AS (
                    SELECT id, supersedes FROM fields WHERE id = ?
                    UNION ALL
                    SELECT f.id, f.supersedes FROM fields f JOIN chain ON f.id = chain.supersedes
                )
                SELECT f.* FROM fields f JOIN chain USING (id) WHERE chain.supersedes IS NULL
                """,
                (cur[0],)).fetchone()
            conn.execute("UPDATE fields SET is_current = 0 WHERE id = ?", (cur[0],))
            cols = [d[0] for d in conn.execute("SELECT * FROM fields LIMIT 0").description]
            r = dict(zip(cols, root)) if root is not None else None
            if r is None or r["source"] == SOURCE_USER:
                conn.execute(
                    "INSERT INTO fields (contact_id, name, position, value, confidence, source, action, "
                    "deleted, is_current, supersedes, created_at) VALUES (?, ?, ?, '', 1.0, 'user', 'revert', 1, 1, ?, ?)",
                    (cid, name, position, cur[0], ts))
            else:
                conn.execute(
                    """
                    INSERT INTO fields (contact_id, card_id, name, position, value, type, raw, confidence,
                                        source, flags, message, action, deleted, is_current, supersedes,
                                        created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'revert', 0, 1, ?, ?)
                    """,
                    (cid, r["card_id"], name, position, r["value"], r["type"], r["raw"], r["confidence"],
                     r["source"], r["flags"], r["message"], cur[0], ts))
            self._touch(cid, ts)
        return True

    def field_history(self, contact_id: int, name: str, *, position: int = 0) -> list[FieldRow]:
        """Every row of one slot, oldest first."""
        _check_slot(name, position)
        rows = self._conn.execute(
            f"SELECT {_FIELD_ROW_COLS} FROM fields WHERE contact_id = ? AND name = ? AND position = ? ORDER BY id",
            (_follow_merges(self._conn, contact_id), name, position)).fetchall()
        return [_field_row(r) for r in rows]

    def set_event_date(self, name: str, date: str) -> None:
        """Record the day an event took place (ISO date), creating the event when new."""
        with self.write() as conn:
            conn.execute("INSERT INTO events (name, date, created_at) VALUES (?, ?, ?) "
                         "ON CONFLICT (name) DO UPDATE SET date = excluded.date", (name, date, _now()))

    def field_slots(self, contact_id: int, name: str) -> list[tuple[int, bool]]:
        """(position, deleted) of the current rows of a list field, by position (slots have gaps
        after deletions and merges)."""
        return [(int(r[0]), bool(r[1])) for r in self._conn.execute(
            "SELECT position, deleted FROM fields WHERE contact_id = ? AND name = ? AND is_current = 1 "
            "ORDER BY position", (contact_id, name)).fetchall()]

    def next_slot(self, contact_id: int, name: str) -> int:
        """The position after every slot a field ever used (a new value goes there)."""
        top = self._conn.execute("SELECT ifnull(max(position), -1) FROM fields WHERE contact_id = ? AND name = ?",
                                 (contact_id, name)).fetchone()[0]
        return int(top) + 1

    # -- internals ------------------------------------------------------------------------

    def _event_id(self, name: str, ts: str) -> int:
        self._conn.execute("INSERT INTO events (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                           (name, ts))
        return int(self._conn.execute("SELECT id FROM events WHERE name = ?", (name,)).fetchone()[0])

    def _touch(self, contact_id: int, ts: str | None = None) -> None:
        self._conn.execute("UPDATE contacts SET updated_at = ? WHERE id = ?", (ts or _now(), contact_id))

    def _insert_fields(self, contact_id: int, card_id: int | None, contact: Contact, ts: str) -> None:
        rows = list(_contact_rows(contact))
        self._conn.executemany(
            """
            INSERT INTO fields (contact_id, card_id, name, position, value, type, raw, confidence,
                                source, flags, message, action, is_current, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'read', 1, ?)
            """,
            [(contact_id, card_id, *r, ts) for r in rows],
        )

    def _load_contacts(self, conn: sqlite3.Connection, where: str, params: Sequence[Any], *,
                       with_crops: bool = True) -> list[ContactRecord]:
        heads = conn.execute(
            f"""
            SELECT c.id, e.name, c.region, c.created_at, c.updated_at, c.reviewed, c.merged_into
              FROM contacts c LEFT JOIN events e ON e.id = c.event_id
             WHERE {where} ORDER BY c.id
            """,  # noqa: S608 - `where` is built from fixed strings, values are parameters
            tuple(params),
        ).fetchall()
        if not heads:
            return []
        ids = [h[0] for h in heads]
        fields: dict[int, list[tuple[Any, ...]]] = {i: [] for i in ids}
        cards: dict[int, list[CardRecord]] = {i: [] for i in ids}
        notes: dict[int, list[str]] = {i: [] for i in ids}
        needs: dict[int, dict[str, list[str]]] = {i: {"ask": [], "offer": []} for i in ids}
        crop_col = "coalesce(k.crop_jpeg, p.crop_jpeg)" if with_crops else "NULL"
        for chunk in _chunks(ids, 500):
            marks = ",".join("?" * len(chunk))
            for r in conn.execute(
                f"SELECT contact_id, name, position, value, type, raw, confidence, source, flags, message "
                f"FROM fields WHERE is_current = 1 AND deleted = 0 AND contact_id IN ({marks}) "
                f"ORDER BY contact_id, name, position", chunk):
                fields[r[0]].append(r[1:])
            for r in conn.execute(
                f"SELECT k.contact_id, k.id, p.sha256, p.path, p.format, p.size, p.original_w, p.original_h, "
                f"{crop_col}, k.raw_text, k.ocr_engine, k.ocr_conf, k.created_at "
                f"FROM cards k JOIN photos p ON p.sha256 = k.photo_sha256 WHERE k.contact_id IN ({marks}) "
                f"ORDER BY k.id", chunk):
                size = (int(r[6]), int(r[7])) if r[6] is not None and r[7] is not None else None
                cards[r[0]].append(CardRecord(r[1], r[2], _path_value(r[3]), r[4], r[5], size, r[8], r[9] or "",
                                              r[10], r[11], r[12]))
            for r in conn.execute(
                f"SELECT contact_id, text FROM notes WHERE contact_id IN ({marks}) ORDER BY id", chunk):
                notes[r[0]].append(r[1])
            for r in conn.execute(
                f"SELECT contact_id, kind, text FROM contact_needs WHERE contact_id IN ({marks}) ORDER BY id", chunk):
                needs[r[0]][r[1]].append(r[2])
        out = []
        for cid, event, region, created, updated, reviewed, merged in heads:
            raw_text = "\n\n".join(c.raw_text for c in cards[cid] if c.raw_text)
            out.append(ContactRecord(
                id=cid,
                contact=_build_contact(fields[cid], region=region, raw_text=raw_text),
                event=event,
                notes=tuple(notes[cid]),
                cards=tuple(cards[cid]),
                created_at=created,
                updated_at=updated,
                reviewed=bool(reviewed),
                merged_into=merged,
                asks=tuple(needs[cid]["ask"]),
                offers=tuple(needs[cid]["offer"]),
            ))
        return out
