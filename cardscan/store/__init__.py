"""SQLite store: photos keyed by the sha256 of their bytes, contacts rebuilt from field rows.

One ``Store`` = one connection; open one per thread / process.  The database runs in WAL mode
with foreign keys on; every transaction that writes starts with ``BEGIN IMMEDIATE`` (see
:meth:`Store.write`), so two writers never deadlock on a lock upgrade and a crash mid-way
leaves nothing half-written.

Schema overview (see ``MIGRATIONS`` for the exact SQL):

- ``photos``      one row per distinct file content (sha256): path last seen, format, size,
                  processing state (pending|claimed|done|failed) with a lease for the watch folder,
                  attempts, error reason, the card crop (JPEG) shown in the report.
- ``unread_files`` files whose bytes could not even be read (no sha256): path, reason.
- ``events``      named events (a trade show); contacts point at one.
- ``contacts``    one person; ``merged_into`` points at the survivor of a merge (NULL otherwise),
                  ``reviewed`` is set by the review app.
- ``cards``       one card read from a photo (raw OCR text, engine, confidence, its crop); a
                  photo showing several cards has several; a contact may own several after a merge.
- ``fields``      append-only history of every value: the row read from the card, then each edit
                  / revert / deletion as a new row that ``supersedes`` the previous one; exactly
                  one ``is_current`` row per (contact, name, position).
- ``notes``       free-text notes per contact.
- ``followups``   the follow-up e-mail queue (draft -> approved -> sending -> sent | failed |
                  uncertain, or skipped) with a unique Message-ID, attempts and retry time.
- ``duplicate_dismissals`` pairs of contacts the user said are different people.
"""
from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cardscan.contacts.fields import (  # noqa: F401 - re-exported: the store's callers used to find them here
    DEFAULT_POLICY, DEFAULT_REVIEW_THRESHOLD, FIELD_NAMES, LIST_FIELDS, REVIEW_FLAGS, SCALAR_FIELDS, ReviewPolicy,
    field_needs_review, iter_values)
from cardscan.errors import OutputAccessError, ValidationError
from cardscan.models import SOURCE_USER, Contact, Field, Phone

log = logging.getLogger(__name__)

PHOTO_STATES = ("pending", "claimed", "done", "failed")
FOLLOWUP_STATES = ("draft", "approved", "sending", "sent", "skipped", "failed", "uncertain")


def _now() -> str:
    """UTC timestamp, ISO 8601 with milliseconds: sorts as text."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


# --------------------------------------------------------------------------------------------
# Migrations


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[sqlite3.Connection], None]
    rebuilds_tables: bool = False  # run with foreign keys off, checked before commit (SQLite's table-rebuild recipe)


MIGRATIONS: list[Migration] = []


def migration(version: int, name: str, *, rebuilds_tables: bool = False
              ) -> Callable[[Callable[[sqlite3.Connection], None]], Callable[[sqlite3.Connection], None]]:
    """Register a migration.  Versions must be consecutive; each runs in its own transaction
    together with its ``schema_version`` record.  Migrations run inside a transaction, so they
    must not use PRAGMA foreign_keys or VACUUM.  They run with foreign keys ON, except those
    registered with ``rebuilds_tables`` (a table re-created to change a constraint: dropping the
    old one must not fire ON DELETE actions); ``PRAGMA foreign_key_check`` must then pass before
    the commit."""

    def register(fn: Callable[[sqlite3.Connection], None]) -> Callable[[sqlite3.Connection], None]:
        expected = len(MIGRATIONS) + 1
        if version != expected:
            raise RuntimeError(f"migration {name!r} has version {version}, expected {expected}")
        MIGRATIONS.append(Migration(version, name, fn, rebuilds_tables))
        return fn

    return register


def _run_script(conn: sqlite3.Connection, script: str) -> None:
    """Execute several statements one by one (``executescript`` would COMMIT the transaction)."""
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                conn.execute(buf)
            buf = ""
    if buf.strip():
        raise RuntimeError(f"incomplete SQL statement in migration: {buf.strip()[:60]!r}")


@migration(1, "photos, contacts, cards, fields, events, notes")
def _m1_core(conn: sqlite3.Connection) -> None:
    _run_script(
        conn,
        """
        CREATE TABLE events (
            id          INTEGER PRIMARY KEY,
            name        TEXT NOT NULL UNIQUE,
            date        TEXT,                   -- ISO date, optional
            created_at  TEXT NOT NULL
        );

        CREATE TABLE photos (
            sha256      TEXT PRIMARY KEY CHECK (length(sha256) = 64),
            path        TEXT NOT NULL,          -- as scanned, last seen
            size        INTEGER,
            format      TEXT,
            original_w  INTEGER,
            original_h  INTEGER,
            state       TEXT NOT NULL DEFAULT 'pending'
                        CHECK (state IN ('pending', 'claimed', 'done', 'failed')),
            lease_until REAL,                   -- unix time; a claim expires after it
            claimed_by  TEXT,
            attempts    INTEGER NOT NULL DEFAULT 0,
            error       TEXT,                   -- reason of the last failure
            crop_jpeg   BLOB,                   -- card crop for the report
            first_seen  TEXT NOT NULL,
            updated_at  TEXT NOT NULL
        );
        CREATE INDEX photos_state ON photos(state, lease_until);
        CREATE INDEX photos_path ON photos(path);

        CREATE TABLE unread_files (              -- failures before the bytes were known
            path        TEXT PRIMARY KEY,
            error       TEXT NOT NULL,
            attempts    INTEGER NOT NULL DEFAULT 1,
            first_seen  TEXT NOT NULL,
            updated_at  TEXT NOT NULL
        );

        CREATE TABLE contacts (
            id          INTEGER PRIMARY KEY,
            event_id    INTEGER REFERENCES events(id) ON DELETE SET NULL,
            region      TEXT,                   -- default phone region used (ISO 3166 alpha-2)
            merged_into INTEGER REFERENCES contacts(id),
            reviewed    INTEGER NOT NULL DEFAULT 0 CHECK (reviewed IN (0, 1)),
            reviewed_at TEXT,
            created_at  TEXT NOT NULL,
            updated_at  TEXT NOT NULL,
            CHECK (merged_into IS NULL OR merged_into <> id)
        );
        CREATE INDEX contacts_event ON contacts(event_id);
        CREATE INDEX contacts_merged ON contacts(merged_into);

        CREATE TABLE cards (
            id           INTEGER PRIMARY KEY,
            photo_sha256 TEXT NOT NULL UNIQUE REFERENCES photos(sha256),
            contact_id   INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
            raw_text     TEXT NOT NULL DEFAULT '',
            ocr_engine   TEXT,
            ocr_conf     REAL,
            region       TEXT,
            created_at   TEXT NOT NULL
        );
        CREATE INDEX cards_contact ON cards(contact_id);

        CREATE TABLE fields (
            id          INTEGER PRIMARY KEY,
            contact_id  INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
            card_id     INTEGER REFERENCES cards(id) ON DELETE SET NULL,
            name        TEXT NOT NULL CHECK (name IN ('name', 'title', 'company', 'address',
                                                      'email', 'phone', 'website')),
            position    INTEGER NOT NULL DEFAULT 0 CHECK (position >= 0),
            value       TEXT NOT NULL,
            type        TEXT CHECK (type IS NULL OR type IN ('work', 'mobile', 'fax', 'other')),
            raw         TEXT,
            confidence  REAL NOT NULL CHECK (confidence >= 0 AND confidence <= 1),
            source      TEXT NOT NULL CHECK (source IN ('ocr', 'qr', 'user')),
            flags       TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(flags)),
            message     TEXT,
            action      TEXT NOT NULL DEFAULT 'read'
                        CHECK (action IN ('read', 'edit', 'revert', 'delete', 'merge')),
            deleted     INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
            is_current  INTEGER NOT NULL DEFAULT 1 CHECK (is_current IN (0, 1)),
            supersedes  INTEGER REFERENCES fields(id),
            created_at  TEXT NOT NULL
        );
        CREATE UNIQUE INDEX fields_one_current ON fields(contact_id, name, position)
            WHERE is_current = 1;
        CREATE INDEX fields_contact ON fields(contact_id, name, position);
        CREATE INDEX fields_supersedes ON fields(supersedes);

        CREATE TABLE notes (
            id          INTEGER PRIMARY KEY,
            contact_id  INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
            text        TEXT NOT NULL,
            created_at  TEXT NOT NULL
        );
        CREATE INDEX notes_contact ON notes(contact_id);
        """,
    )


@migration(2, "follow-up queue, duplicate dismissals")
def _m2_followups(conn: sqlite3.Connection) -> None:
    _run_script(
        conn,
        """
        CREATE TABLE followups (
            id              INTEGER PRIMARY KEY,
            contact_id      INTEGER NOT NULL REFERENCES contacts(id),
            event_id        INTEGER REFERENCES events(id) ON DELETE SET NULL,
            state           TEXT NOT NULL DEFAULT 'draft'
                            CHECK (state IN ('draft', 'approved', 'sending', 'sent', 'skipped',
                                             'failed', 'uncertain')),
            to_addr         TEXT NOT NULL,
            subject         TEXT NOT NULL,
            body            TEXT NOT NULL,
            message_id      TEXT UNIQUE,        -- RFC 5322 Message-ID, fixed before sending
            attempts        INTEGER NOT NULL DEFAULT 0,
            last_error      TEXT,
            next_attempt_at REAL,               -- unix time
            lease_until     REAL,               -- a sender's claim on a 'sending' row
            claimed_by      TEXT,
            approved_at     TEXT,
            sent_at         TEXT,
            created_at      TEXT NOT NULL,
            updated_at      TEXT NOT NULL
        );
        -- at most one live follow-up per contact and event: never write (or send) twice
        CREATE UNIQUE INDEX followups_one_live ON followups(contact_id, ifnull(event_id, 0))
            WHERE state <> 'skipped';
        CREATE INDEX followups_queue ON followups(state, next_attempt_at);

        CREATE TABLE duplicate_dismissals (      -- "these two are different people"
            contact_a   INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
            contact_b   INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
            created_at  TEXT NOT NULL,
            PRIMARY KEY (contact_a, contact_b),
            CHECK (contact_a < contact_b)
        ) WITHOUT ROWID;
        """,
    )


@migration(3, "several cards per photo; the crop kept per card", rebuilds_tables=True)
def _m3_cards_per_photo(conn: sqlite3.Connection) -> None:
    _run_script(
        conn,
        """
        CREATE TABLE cards_new (
            id           INTEGER PRIMARY KEY,
            photo_sha256 TEXT NOT NULL REFERENCES photos(sha256),
            card_index   INTEGER NOT NULL DEFAULT 0 CHECK (card_index >= 0),  -- which card of the photo
            contact_id   INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
            raw_text     TEXT NOT NULL DEFAULT '',
            ocr_engine   TEXT,
            ocr_conf     REAL,
            region       TEXT,
            crop_jpeg    BLOB,                  -- this card's crop for the report
            created_at   TEXT NOT NULL,
            UNIQUE (photo_sha256, card_index)
        );
        INSERT INTO cards_new (id, photo_sha256, card_index, contact_id, raw_text, ocr_engine, ocr_conf, region,
                               crop_jpeg, created_at)
            SELECT k.id, k.photo_sha256, 0, k.contact_id, k.raw_text, k.ocr_engine, k.ocr_conf, k.region,
                   p.crop_jpeg, k.created_at
              FROM cards k JOIN photos p ON p.sha256 = k.photo_sha256;
        DROP TABLE cards;
        ALTER TABLE cards_new RENAME TO cards;
        CREATE INDEX cards_contact ON cards(contact_id);
        UPDATE photos SET crop_jpeg = NULL;
        """,
    )


SCHEMA_VERSION = len(MIGRATIONS)


# --------------------------------------------------------------------------------------------
# Records returned to callers


@dataclass(frozen=True)
class CardRead:
    """One card read from a photo, to be stored (see :meth:`Store.record_cards`)."""

    contact: Contact
    crop_jpeg: bytes | None = None
    raw_text: str | None = None
    ocr_engine: str | None = None
    ocr_conf: float | None = None


@dataclass(frozen=True)
class CardRecord:
    """One read of one photo, with the photo's crop for the report."""

    id: int
    sha256: str
    path: str
    format: str | None
    size: int | None
    original_size: tuple[int, int] | None
    crop_jpeg: bytes | None
    raw_text: str
    ocr_engine: str | None
    ocr_conf: float | None
    created_at: str


@dataclass(frozen=True)
class ContactRecord:
    id: int
    contact: Contact  # current values, rebuilt from the field rows
    event: str | None
    notes: tuple[str, ...]
    cards: tuple[CardRecord, ...]
    created_at: str
    updated_at: str
    reviewed: bool = False
    merged_into: int | None = None

    @property
    def crops(self) -> tuple[bytes, ...]:
        return tuple(c.crop_jpeg for c in self.cards if c.crop_jpeg)

    def needs_review(self, policy: ReviewPolicy = DEFAULT_POLICY) -> bool:
        """True when not marked reviewed and ``policy`` finds a doubtful value, or nothing identifying."""
        return not self.reviewed and policy.contact_needs_review(self.contact)


@dataclass(frozen=True)
class Failure:
    sha256: str | None  # None when the file's bytes could not be read
    path: str
    reason: str
    attempts: int
    updated_at: str


@dataclass(frozen=True)
class FieldRow:
    """One row of a field's history (oldest first in :meth:`Store.field_history`)."""

    id: int
    name: str
    position: int
    value: str
    type: str | None
    raw: str | None
    confidence: float
    source: str
    flags: tuple[str, ...]
    message: str | None
    action: str
    deleted: bool
    is_current: bool
    supersedes: int | None
    card_id: int | None
    created_at: str


# --------------------------------------------------------------------------------------------
# The store


_ACCESS_HINT = "check the --db path: its folder must exist and be writable"


def _access_error(path: Path, exc: BaseException) -> OutputAccessError:
    msg = str(exc)
    if "not a database" in msg or "malformed" in msg or "file is encrypted" in msg:
        return OutputAccessError(f"{path} is not a cardscan database (SQLite says: {msg})",
                                 hint="choose another --db file or move this one away")
    return OutputAccessError(f"cannot use database {path}: {msg}", hint=_ACCESS_HINT)


class Store:
    """A cardscan database.  Use as a context manager; one instance per thread or process."""

    def __init__(self, path: Path | str, *, timeout: float = 30.0) -> None:
        self.path = Path(path)
        parent = self.path.parent if str(self.path.parent) else Path(".")
        if not parent.is_dir():
            raise OutputAccessError(f"cannot create database {self.path}: folder {parent} does not exist",
                                    hint=_ACCESS_HINT)
        if self.path.exists() and not self.path.is_file():
            raise OutputAccessError(f"cannot use database {self.path}: it is not a regular file",
                                    hint=_ACCESS_HINT)
        if not self.path.exists() and not os.access(parent, os.W_OK | os.X_OK):
            raise OutputAccessError(f"cannot create database {self.path}: folder {parent} is not writable",
                                    hint=_ACCESS_HINT)
        try:
            self._conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise _access_error(self.path, exc) from exc
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            self._conn.execute("PRAGMA foreign_keys = ON")
            _enable_wal(self._conn, self.path, timeout)
            self._conn.execute("PRAGMA synchronous = NORMAL")  # safe with WAL: no corruption, at most the last commit lost on power cut
            migrate(self._conn, MIGRATIONS, path=self.path)
        except OutputAccessError:
            self._conn.close()
            raise
        except sqlite3.Error as exc:
            self._conn.close()
            raise _access_error(self.path, exc) from exc

    # -- connection and transactions ------------------------------------------------------

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def connection(self) -> sqlite3.Connection:
        """The raw connection (autocommit mode: use :meth:`write` / :meth:`read` for transactions)."""
        return self._conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``; rolled back when the block raises."""
        with _immediate(self._conn, self.path):
            yield self._conn

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query in the block sees one snapshot."""
        conn = self._conn
        if conn.in_transaction:  # already inside write() or read(): same snapshot
            yield conn
            return
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            if conn.in_transaction:
                conn.execute("COMMIT")

    @property
    def schema_version(self) -> int:
        return _current_version(self._conn)

    # -- photos: the scan and the watch folder --------------------------------------------

    def has_done(self, sha256: str) -> bool:
        row = self._conn.execute("SELECT state FROM photos WHERE sha256 = ?", (sha256,)).fetchone()
        return row is not None and row[0] == "done"

    def contact_id_for_photo(self, sha256: str) -> int | None:
        """The contact a photo's (first) card was read into (its survivor after a merge), None if not done."""
        ids = self.contact_ids_for_photo(sha256)
        return ids[0] if ids else None

    def contact_ids_for_photo(self, sha256: str) -> list[int]:
        """The contacts of every card read from a photo, in card order (survivors after merges)."""
        return _photo_contacts(self._conn, sha256)

    def claim(self, sha256: str, path: str | Path, worker: str, lease_seconds: float, *,
              max_attempts: int | None = None, now: float | None = None) -> bool:
        """Take a lease on a photo.  False when it is done, another worker holds an unexpired
        lease, or (with ``max_attempts``) it already failed that many times.  A worker may
        renew its own lease."""
        t = time.time() if now is None else now
        ts = _now()
        with self.write() as conn:
            cur = conn.execute(
                """
                INSERT INTO photos (sha256, path, state, lease_until, claimed_by, attempts,
                                    first_seen, updated_at)
                VALUES (:sha, :path, 'claimed', :until, :worker, 1, :ts, :ts)
                ON CONFLICT (sha256) DO UPDATE SET
                    state = 'claimed', lease_until = :until, claimed_by = :worker, path = :path,
                    attempts = photos.attempts + (photos.claimed_by IS NOT :worker
                                                  OR photos.state <> 'claimed'),
                    updated_at = :ts
                WHERE photos.state = 'pending'
                   OR (photos.state = 'failed' AND (:max IS NULL OR photos.attempts < :max))
                   OR (photos.state = 'claimed' AND (photos.claimed_by = :worker
                                                     OR ifnull(photos.lease_until, 0) <= :now))
                """,
                {"sha": sha256, "path": str(path), "until": t + lease_seconds, "worker": worker,
                 "ts": ts, "max": max_attempts, "now": t},
            )
            return cur.rowcount == 1

    def release(self, sha256: str, worker: str) -> bool:
        """Give a lease back without a result (the photo becomes pending again)."""
        with self.write() as conn:
            cur = conn.execute(
                "UPDATE photos SET state = 'pending', lease_until = NULL, claimed_by = NULL, updated_at = ? "
                "WHERE sha256 = ? AND state = 'claimed' AND claimed_by = ?",
                (_now(), sha256, worker),
            )
            return cur.rowcount == 1

    def record_success(
        self,
        sha256: str,
        path: str | Path,
        *,
        contact: Contact,
        crop_jpeg: bytes | None = None,
        raw_text: str | None = None,
        ocr_engine: str | None = None,
        ocr_conf: float | None = None,
        event: str | None = None,
        note: str | None = None,
        fmt: str | None = None,
        size: int | None = None,
        original_size: tuple[int, int] | None = None,
    ) -> int:
        """Store one read card as a new contact, in one transaction.  Returns the contact id;
        a photo already done is a no-op that returns the existing contact id."""
        return self.record_cards(
            sha256, path, [CardRead(contact, crop_jpeg, raw_text, ocr_engine, ocr_conf)],
            event=event, note=note, fmt=fmt, size=size, original_size=original_size)[0]

    def record_cards(
        self,
        sha256: str,
        path: str | Path,
        reads: Sequence[CardRead],
        *,
        event: str | None = None,
        note: str | None = None,
        fmt: str | None = None,
        size: int | None = None,
        original_size: tuple[int, int] | None = None,
    ) -> list[int]:
        """Store the cards read from one photo (several when it shows several cards), each as a new
        contact, all in one transaction with the photo marked done.  Returns the contact ids in
        card order; a photo already done is a no-op that returns its existing contacts."""
        if not reads:
            raise ValueError("record_cards needs at least one card")
        ts = _now()
        with self.write() as conn:
            row = conn.execute("SELECT state FROM photos WHERE sha256 = ?", (sha256,)).fetchone()
            if row is not None and row[0] == "done":
                done = _photo_contacts(conn, sha256)
                if done:
                    return done
            w, h = original_size if original_size else (None, None)
            conn.execute(
                """
                INSERT INTO photos (sha256, path, size, format, original_w, original_h, state,
                                    attempts, first_seen, updated_at)
                VALUES (:sha, :path, :size, :fmt, :w, :h, 'done', 1, :ts, :ts)
                ON CONFLICT (sha256) DO UPDATE SET
                    path = :path, size = :size, format = :fmt, original_w = :w, original_h = :h,
                    state = 'done', lease_until = NULL, claimed_by = NULL, error = NULL,
                    attempts = photos.attempts + (photos.state <> 'claimed'),
                    updated_at = :ts
                """,
                {"sha": sha256, "path": str(path), "size": size, "fmt": fmt, "w": w, "h": h, "ts": ts},
            )
            event_id = self._event_id(event, ts) if event else None
            ids: list[int] = []
            for index, r in enumerate(reads):
                contact_id = conn.execute(
                    "INSERT INTO contacts (event_id, region, created_at, updated_at) VALUES (?, ?, ?, ?)",
                    (event_id, r.contact.region, ts, ts),
                ).lastrowid
                assert contact_id is not None
                card_id = conn.execute(
                    "INSERT INTO cards (photo_sha256, card_index, contact_id, raw_text, ocr_engine, ocr_conf, "
                    "region, crop_jpeg, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (sha256, index, contact_id, r.contact.raw_text if r.raw_text is None else r.raw_text,
                     r.ocr_engine, r.ocr_conf, r.contact.region, r.crop_jpeg or None, ts),
                ).lastrowid
                self._insert_fields(contact_id, card_id, r.contact, ts)
                if note and note.strip():
                    conn.execute("INSERT INTO notes (contact_id, text, created_at) VALUES (?, ?, ?)",
                                 (contact_id, note.strip(), ts))
                ids.append(int(contact_id))
            conn.execute("DELETE FROM unread_files WHERE path = ?", (str(path),))
        log.debug("stored %s as contact(s) %s", path, ids)
        return ids

    def record_failure(self, sha256: str | None, path: str | Path, reason: str) -> None:
        """Remember why a file failed.  A photo already done is left alone (its result stands)."""
        ts = _now()
        with self.write() as conn:
            if sha256 is None:
                conn.execute(
                    """
                    INSERT INTO unread_files (path, error, attempts, first_seen, updated_at)
                    VALUES (?, ?, 1, ?, ?)
                    ON CONFLICT (path) DO UPDATE SET error = excluded.error,
                        attempts = unread_files.attempts + 1, updated_at = excluded.updated_at
                    """,
                    (str(path), reason, ts, ts),
                )
                return
            conn.execute(
                """
                INSERT INTO photos (sha256, path, state, attempts, error, first_seen, updated_at)
                VALUES (:sha, :path, 'failed', 1, :reason, :ts, :ts)
                ON CONFLICT (sha256) DO UPDATE SET
                    path = :path, state = 'failed', error = :reason, lease_until = NULL,
                    claimed_by = NULL, attempts = photos.attempts + (photos.state <> 'claimed'),
                    updated_at = :ts
                WHERE photos.state <> 'done'
                """,
                {"sha": sha256, "path": str(path), "reason": reason, "ts": ts},
            )
            conn.execute("DELETE FROM unread_files WHERE path = ?", (str(path),))

    def failures(self) -> list[Failure]:
        rows = self._conn.execute(
            """
            SELECT sha256, path, ifnull(error, 'unknown error'), attempts, updated_at
              FROM photos WHERE state = 'failed'
            UNION ALL
            SELECT NULL, path, error, attempts, updated_at FROM unread_files
            ORDER BY 2
            """
        ).fetchall()
        return [Failure(r[0], r[1], r[2], int(r[3]), r[4]) for r in rows]

    # -- contacts ------------------------------------------------------------------------

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
            conn.execute("UPDATE contacts SET reviewed = ?, reviewed_at = ?, updated_at = ? WHERE id = ?",
                         (int(reviewed), ts if reviewed else None, ts, cid))

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
                cards[r[0]].append(CardRecord(r[1], r[2], r[3], r[4], r[5], size, r[8], r[9] or "",
                                              r[10], r[11], r[12]))
            for r in conn.execute(
                f"SELECT contact_id, text FROM notes WHERE contact_id IN ({marks}) ORDER BY id", chunk):
                notes[r[0]].append(r[1])
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
            ))
        return out


# --------------------------------------------------------------------------------------------
# helpers (pure functions and small SQL helpers)


def _chunks(items: Sequence[int], n: int) -> Iterator[Sequence[int]]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


def _check_slot(name: str, position: int) -> None:
    if name not in FIELD_NAMES:
        raise ValidationError(f"unknown field {name!r}; use one of {', '.join(FIELD_NAMES)}")
    if position < 0 or (name in SCALAR_FIELDS and position != 0):
        raise ValidationError(f"field {name!r} has no position {position}")


def _require_contact(conn: sqlite3.Connection, contact_id: int) -> int:
    cid = _follow_merges(conn, contact_id)
    if conn.execute("SELECT 1 FROM contacts WHERE id = ?", (cid,)).fetchone() is None:
        raise KeyError(f"no contact {contact_id}")
    return cid


def _follow_merges(conn: sqlite3.Connection, contact_id: int) -> int:
    """The surviving contact a (possibly merged) contact id points to."""
    seen = set()
    cid = contact_id
    while cid not in seen:
        seen.add(cid)
        row = conn.execute("SELECT merged_into FROM contacts WHERE id = ?", (cid,)).fetchone()
        if row is None or row[0] is None:
            return cid
        cid = int(row[0])
    return cid


def _flags_json(flags: Iterable[str]) -> str:
    return json.dumps(list(flags), ensure_ascii=False)


def _contact_rows(contact: Contact) -> Iterator[tuple[Any, ...]]:
    """(name, position, value, type, raw, confidence, source, flags, message) per value."""
    for name in SCALAR_FIELDS:
        f = getattr(contact, name)
        if f is not None:
            yield (name, 0, f.value, None, f.raw, _conf(f.confidence), f.source, _flags_json(f.flags), f.message)
    for name, attr in LIST_FIELDS.items():
        for pos, v in enumerate(getattr(contact, attr)):
            if isinstance(v, Phone):
                yield (name, pos, v.number, v.type if v.type in ("work", "mobile", "fax", "other") else "other",
                       v.raw, _conf(v.confidence), v.source, _flags_json(v.flags), v.message)
            else:
                yield (name, pos, v.value, None, v.raw, _conf(v.confidence), v.source, _flags_json(v.flags), v.message)


def _conf(x: float) -> float:
    return min(1.0, max(0.0, float(x)))


def _build_contact(rows: Sequence[tuple[Any, ...]], *, region: str | None, raw_text: str) -> Contact:
    """Rebuild a models.Contact from current field rows
    (name, position, value, type, raw, confidence, source, flags, message), ordered by name, position."""
    scalars: dict[str, Field] = {}
    lists: dict[str, list[Field | Phone]] = {"email": [], "phone": [], "website": []}
    for name, _pos, value, ftype, raw, conf, source, flags, message in rows:
        fl = tuple(json.loads(flags)) if flags else ()
        if name == "phone":
            lists[name].append(Phone(number=value, type=ftype or "other", raw=raw or value, confidence=conf,
                                     source=source, flags=fl, message=message))
        elif name in lists:
            lists[name].append(Field(value, conf, source, raw, fl, message))
        else:
            scalars[name] = Field(value, conf, source, raw, fl, message)
    return Contact(
        name=scalars.get("name"), title=scalars.get("title"), company=scalars.get("company"),
        address=scalars.get("address"),
        emails=tuple(lists["email"]),  # type: ignore[arg-type]
        phones=tuple(lists["phone"]),  # type: ignore[arg-type]
        websites=tuple(lists["website"]),  # type: ignore[arg-type]
        region=region, raw_text=raw_text,
    )


_FIELD_ROW_COLS = ("id, card_id, name, position, value, type, raw, confidence, source, flags, message, action, "
                   "deleted, is_current, supersedes, created_at")


def _field_row(r: Sequence[Any]) -> FieldRow:
    (fid, card_id, name, position, value, ftype, raw, conf, source, flags, message, action,
     deleted, is_current, supersedes, created_at) = r
    return FieldRow(fid, name, position, value, ftype, raw, conf, source, tuple(json.loads(flags)), message,
                    action, bool(deleted), bool(is_current), supersedes, card_id, created_at)


# --------------------------------------------------------------------------------------------
# transactions and migrations


_WRITE_ERRORS = ("database is locked", "disk i/o error", "database or disk is full", "readonly database",
                 "unable to open")


@contextmanager
def _immediate(conn: sqlite3.Connection, path: Path) -> Iterator[None]:
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        raise _write_error(path, exc) from exc
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    try:
        conn.execute("COMMIT")
    except sqlite3.OperationalError as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise _write_error(path, exc) from exc


def _write_error(path: Path, exc: sqlite3.OperationalError) -> Exception:
    msg = str(exc).lower()
    if "locked" in msg or "busy" in msg:
        return OutputAccessError(f"database {path} is busy: another program holds a write lock",
                                 hint="wait for the other cardscan to finish, or use another --db")
    if any(s in msg for s in _WRITE_ERRORS):
        return OutputAccessError(f"cannot write database {path}: {exc}", hint=_ACCESS_HINT)
    return exc


def _enable_wal(conn: sqlite3.Connection, path: Path, timeout: float) -> None:
    """Switch to WAL (persistent in the file).  SQLite does not call the busy handler for this
    on a fresh file another process is creating at the same moment, so retry until ``timeout``."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        try:
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() != "wal":
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.25)
    if str(mode).lower() != "wal":
        log.warning("database %s: journal_mode is %s, not WAL", path, mode)


def _current_version(conn: sqlite3.Connection) -> int:
    has_table = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").fetchone()
    if not has_table:
        return 0
    return int(conn.execute("SELECT ifnull(max(version), 0) FROM schema_version").fetchone()[0])


def _photo_contacts(conn: sqlite3.Connection, sha256: str) -> list[int]:
    """The contacts of a photo's cards, in card order, each followed to its merge survivor."""
    return [_follow_merges(conn, int(r[0])) for r in conn.execute(
        "SELECT contact_id FROM cards WHERE photo_sha256 = ? ORDER BY card_index", (sha256,))]


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration], *, path: Path = Path("?")) -> int:
    """Bring the database up to the last of ``migrations``; each migration commits with its
    ``schema_version`` row.  Refuses a database from a newer cardscan or from another program."""
    latest = migrations[-1].version if migrations else 0
    current = _current_version(conn)
    if current > latest:
        raise OutputAccessError(
            f"database {path} was written by a newer cardscan (schema {current}, this version knows {latest})",
            hint="upgrade cardscan, or use another --db")
    for m in migrations:
        if m.version <= current:
            continue
        if m.rebuilds_tables:
            conn.execute("PRAGMA foreign_keys = OFF")  # a no-op inside a transaction: set before BEGIN
        try:
            current = _apply_one(conn, m, path)
        finally:
            if m.rebuilds_tables:
                conn.execute("PRAGMA foreign_keys = ON")
    return current


def _apply_one(conn: sqlite3.Connection, m: Migration, path: Path) -> int:
    """One migration in one transaction; returns the schema version after it."""
    with _immediate(conn, path):
        current = _current_version(conn)  # another process may have migrated meanwhile
        if current == 0:
            others = conn.execute(
                "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'").fetchone()[0]
            if others:
                raise OutputAccessError(f"{path} is an SQLite database of another program, not cardscan's",
                                        hint="choose another --db file")
            conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                         "applied_at TEXT NOT NULL)")
        if m.version <= current:
            return current
        log.info("database %s: migrating to schema %d (%s)", path, m.version, m.name)
        m.apply(conn)
        if m.rebuilds_tables:
            bad = conn.execute("PRAGMA foreign_key_check").fetchall()
            if bad:
                raise RuntimeError(f"migration {m.name!r} broke {len(bad)} foreign key(s): {bad[:3]}")
        conn.execute("INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                     (m.version, m.name, _now()))
        return m.version


__all__ = [
    "CardRead", "CardRecord", "ContactRecord", "Failure", "FieldRow", "MIGRATIONS", "Migration", "SCHEMA_VERSION",
    "Store", "field_needs_review", "iter_values", "migrate", "migration",
]
