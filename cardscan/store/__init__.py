"""The SQLite store: the connection, transactions and migrations; ``Store`` combines the per-table query modules.

Photos are keyed by the sha256 of their bytes; contacts are rebuilt from field rows.  Only this
package imports ``sqlite3`` or runs SQL (checked by ruff's banned-api rule and a test): the
queries of each table family live in their own module (``photos``, ``contacts``, ``followups``,
``merge``), records and row conversions in ``rows``, claim owners in ``claims``.

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
- ``followups``   the follow-up e-mail queue (draft -> approved -> sending -> sent | drafted |
                  failed | uncertain, or skipped; ``delivered_via`` smtp | drafts) with a unique Message-ID, attempts and retry time;
                  ``edited`` 1 once a person edited the text (0: the template's, rendered again when approved
                  and sent; NULL: written before migration 7).
- ``carddav_resources`` the vCards cardscan created on a CardDAV server (href, ETag, hash of the
                  body last written, when) - see :mod:`cardscan.store.sync`.
- ``duplicate_dismissals`` pairs of contacts the user said are different people.
- ``contact_needs`` what a contact asks for and offers (see :mod:`cardscan.store.intros`).
- ``intros``      introductions between two contacts, with each one's answer; their messages
                  are ``followups`` rows of kind ``intro_ask`` / ``intro`` (``share`` for shared links).
"""
from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cardscan.contacts.fields import (  # noqa: F401 - re-exported: the store's callers used to find them here
    DEFAULT_POLICY, DEFAULT_REVIEW_THRESHOLD, FIELD_NAMES, LIST_FIELDS, REVIEW_FLAGS, SCALAR_FIELDS, ReviewPolicy,
    field_needs_review, iter_values)
from cardscan.errors import DatabaseBusyError, OutputAccessError
from cardscan.store.contacts import ContactQueries
from cardscan.store.followups import FollowupQueries, FollowupRecord, FollowupRow
from cardscan.store.merge import MergeQueries
from cardscan.store.photos import PhotoQueries
from cardscan.store.rows import CardRead, CardRecord, ContactRecord, Failure, FieldRow, _now

log = logging.getLogger(__name__)

MAX_ID = 2**63 - 1  # SQLite's largest INTEGER: no row id is larger

PHOTO_STATES = ("pending", "claimed", "done", "failed")
FOLLOWUP_STATES = ("draft", "approved", "sending", "sent", "drafted", "skipped", "failed", "uncertain")


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


@migration(4, "a stable vCard UID per contact")
def _m4_contact_uids(conn: sqlite3.Connection) -> None:
    # filled when a contact is first exported (cardscan.store.uids); a merge keeps the kept
    # contact's row, so re-importing an export updates the address-book entry instead of adding one
    _run_script(
        conn,
        """
        CREATE TABLE contact_uids (
            contact_id INTEGER PRIMARY KEY REFERENCES contacts(id) ON DELETE CASCADE,
            uid        TEXT NOT NULL UNIQUE
        );
        """,
    )


@migration(5, "follow-ups can end as IMAP drafts; CardDAV resources cardscan created", rebuilds_tables=True)
def _m5_sync(conn: sqlite3.Connection) -> None:
    _run_script(
        conn,
        """
        CREATE TABLE followups_new (
            id              INTEGER PRIMARY KEY,
            contact_id      INTEGER NOT NULL REFERENCES contacts(id),
            event_id        INTEGER REFERENCES events(id) ON DELETE SET NULL,
            state           TEXT NOT NULL DEFAULT 'draft'
                            CHECK (state IN ('draft', 'approved', 'sending', 'sent', 'drafted', 'skipped',
                                             'failed', 'uncertain')),
            to_addr         TEXT NOT NULL,
            subject         TEXT NOT NULL,
            body            TEXT NOT NULL,
            message_id      TEXT UNIQUE,
            attempts        INTEGER NOT NULL DEFAULT 0,
            last_error      TEXT,
            next_attempt_at REAL,
            lease_until     REAL,
            claimed_by      TEXT,
            approved_at     TEXT,
            sent_at         TEXT,               -- sent by SMTP, or appended to Drafts ('drafted')
            created_at      TEXT NOT NULL,
            updated_at      TEXT NOT NULL,
            delivered_via   TEXT CHECK (delivered_via IS NULL OR delivered_via IN ('smtp', 'drafts')),
            delivered_to    TEXT                -- SMTP server, or IMAP server and folder
        );
        INSERT INTO followups_new (id, contact_id, event_id, state, to_addr, subject, body, message_id, attempts,
                                   last_error, next_attempt_at, lease_until, claimed_by, approved_at, sent_at,
                                   created_at, updated_at, delivered_via)
            SELECT id, contact_id, event_id, state, to_addr, subject, body, message_id, attempts, last_error,
                   next_attempt_at, lease_until, claimed_by, approved_at, sent_at, created_at, updated_at,
                   CASE WHEN state = 'sent' THEN 'smtp' END
              FROM followups;
        DROP TABLE followups;
        ALTER TABLE followups_new RENAME TO followups;
        CREATE UNIQUE INDEX followups_one_live ON followups(contact_id, ifnull(event_id, 0))
            WHERE state <> 'skipped';
        CREATE INDEX followups_queue ON followups(state, next_attempt_at);

        CREATE TABLE carddav_resources (         -- vCards cardscan created on a CardDAV server
            id          INTEGER PRIMARY KEY,
            collection  TEXT NOT NULL,          -- address book URL
            contact_id  INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
            uid         TEXT NOT NULL,
            href        TEXT NOT NULL,          -- the resource's URL
            etag        TEXT,                   -- as the server gave it after our last write
            body_sha256 TEXT NOT NULL,          -- of the vCard we last wrote
            state       TEXT NOT NULL DEFAULT 'synced'
                        CHECK (state IN ('synced', 'conflict', 'deleted')),
            detail      TEXT,                   -- the conflict or error last seen
            synced_at   TEXT NOT NULL,          -- last successful write or check
            created_at  TEXT NOT NULL,
            UNIQUE (collection, contact_id),
            UNIQUE (collection, href)
        );
        CREATE INDEX carddav_contact ON carddav_resources(contact_id);
        """,
    )


@migration(6, "asks and offers, introductions; follow-up entries get a kind")
def _m6_intros(conn: sqlite3.Connection) -> None:
    from cardscan.store.intros import MIGRATION_SQL

    _run_script(conn, MIGRATION_SQL)


@migration(7, "a follow-up remembers whether a person edited its text")
def _m7_followup_edited(conn: sqlite3.Connection) -> None:
    # 0: the template's text, rendered again when the entry is approved or sent (so a sender or
    # signature configured later, or a corrected name, reaches it); 1: a person edited it, kept as is.
    # Rows older than this column stay NULL (unknown): see cardscan.followup.queue.refresh_text.
    conn.execute("ALTER TABLE followups ADD COLUMN edited INTEGER")


@migration(8, "a field for the name in a second script (other_name)", rebuilds_tables=True)
def _m8_other_name(conn: sqlite3.Connection) -> None:
    # SQLite cannot change a CHECK constraint in place: the table is copied into a new one whose
    # `name` also admits 'other_name', with the same ids (so `supersedes` still points right)
    _run_script(
        conn,
        """
        CREATE TABLE fields_new (
            id          INTEGER PRIMARY KEY,
            contact_id  INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
            card_id     INTEGER REFERENCES cards(id) ON DELETE SET NULL,
            name        TEXT NOT NULL CHECK (name IN ('name', 'title', 'company', 'address', 'other_name',
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
        INSERT INTO fields_new (id, contact_id, card_id, name, position, value, type, raw, confidence, source,
                                flags, message, action, deleted, is_current, supersedes, created_at)
            SELECT id, contact_id, card_id, name, position, value, type, raw, confidence, source,
                   flags, message, action, deleted, is_current, supersedes, created_at
              FROM fields;
        DROP TABLE fields;
        ALTER TABLE fields_new RENAME TO fields;
        CREATE UNIQUE INDEX fields_one_current ON fields(contact_id, name, position)
            WHERE is_current = 1;
        CREATE INDEX fields_contact ON fields(contact_id, name, position);
        CREATE INDEX fields_supersedes ON fields(supersedes);
        """,
    )


SCHEMA_VERSION = len(MIGRATIONS)


# --------------------------------------------------------------------------------------------
# The store


_ACCESS_HINT = "check the --db path: its folder must exist and be writable"


def _access_error(path: Path, exc: BaseException) -> OutputAccessError:
    msg = str(exc)
    if "malformed" in msg:
        return OutputAccessError(f"database {path} is damaged (SQLite: {msg})",
                                 hint="restore it from a backup; it was not changed")
    if "not a database" in msg or "file is encrypted" in msg:
        return OutputAccessError(f"{path} is not a cardscan database (SQLite says: {msg})",
                                 hint="choose another --db file or move this one away")
    return OutputAccessError(f"cannot use database {path}: {msg}", hint=_ACCESS_HINT)


class Store(PhotoQueries, ContactQueries, FollowupQueries, MergeQueries):
    """A cardscan database.  Use as a context manager; one instance per thread or process.

    This module owns the connection, the transactions and the migrations; the queries of each
    table family live in their own module (``store/photos.py``, ``store/contacts.py``, ...)."""

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
            _refuse_foreign(self._conn, self.path)  # before WAL: another program's file stays as it was
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
        return DatabaseBusyError(f"database {path} is busy: another program holds a write lock",
                                 hint="wait for the other cardscan to finish, or use another --db")
    if any(s in msg for s in _WRITE_ERRORS):
        return OutputAccessError(f"cannot write database {path}: {exc}", hint=_ACCESS_HINT)
    return exc


def _refuse_foreign(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse, changing nothing, an SQLite file of another program (tables, but no schema_version)."""
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")}
    if names and "schema_version" not in names:
        raise OutputAccessError(f"{path} is an SQLite database of another program, not cardscan's",
                                hint="choose another --db file")


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


from cardscan.store.faults import check_intact, database_error  # noqa: E402

__all__ = [
    "MAX_ID", "check_intact", "database_error",
    "CardRead", "CardRecord", "ContactRecord", "Failure", "FieldRow", "FollowupRecord", "FollowupRow", "MIGRATIONS", "Migration", "SCHEMA_VERSION",
    "Store", "field_needs_review", "iter_values", "migrate", "migration", "sync",
]

from cardscan.store.partials import forget_partial_versions  # noqa: E402 - store modules of their own
from cardscan.store.uids import contact_uids  # noqa: E402

__all__ += ["contact_uids", "forget_partial_versions"]
from cardscan.store import sync  # noqa: E402 - CardDAV and IMAP-drafts queries (cardscan.store.sync)
