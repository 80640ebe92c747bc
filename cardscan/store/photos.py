"""The ``photos`` and ``unread_files`` tables: claims and leases, results, failures."""
from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

from cardscan.models import Contact
from cardscan.store.claims import owner_alive
from cardscan.store.rows import CardRead, Failure, Queries, _now, _path_param, _path_value, _photo_contacts

log = logging.getLogger("cardscan.store")

# Take a lease on a photo: pending, failed (up to :max attempts), or claimed by the same worker or
# with an expired lease; never a done photo.
_CLAIM = """
    INSERT INTO photos (sha256, path, state, lease_until, claimed_by, attempts, first_seen, updated_at)
    VALUES (:sha, :path, 'claimed', :until, :worker, 1, :ts, :ts)
    ON CONFLICT (sha256) DO UPDATE SET
        state = 'claimed', lease_until = :until, claimed_by = :worker, path = :path,
        attempts = photos.attempts + (photos.claimed_by IS NOT :worker OR photos.state <> 'claimed'),
        updated_at = :ts
    WHERE photos.state = 'pending'
       OR (photos.state = 'failed' AND (:max IS NULL OR photos.attempts < :max))
       OR (photos.state = 'claimed' AND (photos.claimed_by = :worker OR ifnull(photos.lease_until, 0) <= :now))
"""


class PhotoQueries(Queries):
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
        return self.claim_photos([(sha256, path)], worker, lease_seconds, max_attempts=max_attempts, now=now)[0]

    def claim_photos(self, photos: Sequence[tuple[str, str | Path]], worker: str, lease_seconds: float, *,
                     max_attempts: int | None = None, now: float | None = None) -> list[bool]:
        """:meth:`claim` for several (sha256, path) at once, in one transaction; True where taken."""
        t = time.time() if now is None else now
        ts = _now()
        with self.write() as conn:
            return [conn.execute(_CLAIM, {"sha": sha256, "path": _path_param(path), "until": t + lease_seconds,
                                          "worker": worker, "ts": ts, "max": max_attempts, "now": t}).rowcount == 1
                    for sha256, path in photos]

    def renew_claims(self, worker: str, lease_seconds: float) -> int:
        """Extend every lease ``worker`` still holds; returns how many."""
        with self.write() as conn:
            return conn.execute("UPDATE photos SET lease_until = ? WHERE state = 'claimed' AND claimed_by = ?",
                                (time.time() + lease_seconds, worker)).rowcount

    def release_all(self, worker: str) -> int:
        """Give back every claim ``worker`` still holds (a scan stopped early). A photo first seen
        by this claim (a row the claim inserted: one attempt, no card) is forgotten, as if never
        started; one known before becomes pending again. Returns how many claims were given back."""
        with self.write() as conn:
            gone = conn.execute(
                "DELETE FROM photos WHERE state = 'claimed' AND claimed_by = ? AND attempts = 1 "
                "AND NOT EXISTS (SELECT 1 FROM cards WHERE cards.photo_sha256 = photos.sha256)", (worker,)).rowcount
            return gone + conn.execute(
                "UPDATE photos SET state = 'pending', lease_until = NULL, claimed_by = NULL, updated_at = ? "
                "WHERE state = 'claimed' AND claimed_by = ?", (_now(), worker)).rowcount

    def release_dead_claims(self) -> int:
        """Give back the claims whose owner process is certainly gone (``kill -9``, a crash). Returns how many."""
        dead = [(sha, owner) for sha, owner in self.claimed_photos() if not owner_alive(owner)]
        return self.release_claims(dead) if dead else 0

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
                {"sha": sha256, "path": _path_param(path), "size": size, "fmt": fmt, "w": w, "h": h, "ts": ts},
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
            conn.execute("DELETE FROM unread_files WHERE path = ?", (_path_param(path),))
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
                    (_path_param(path), reason, ts, ts),
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
                {"sha": sha256, "path": _path_param(path), "reason": reason, "ts": ts},
            )
            conn.execute("DELETE FROM unread_files WHERE path = ?", (_path_param(path),))

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
        return [Failure(r[0], _path_value(r[1]), r[2], int(r[3]), r[4]) for r in rows]

    def photo_path(self, sha256: str) -> str | None:
        """Where the photo with these bytes was last seen."""
        row = self._conn.execute("SELECT path FROM photos WHERE sha256 = ?", (sha256,)).fetchone()
        return None if row is None else str(row[0])

    def photo_state(self, sha256: str) -> tuple[str, str | None] | None:
        """(state, error) of a photo, None when it was never seen."""
        row = self._conn.execute("SELECT state, error FROM photos WHERE sha256 = ?", (sha256,)).fetchone()
        return None if row is None else (str(row[0]), row[1])

    def claimed_photos(self) -> list[tuple[str, str]]:
        """(sha256, claimed_by) of every photo under a claim."""
        return [(str(r[0]), str(r[1])) for r in self._conn.execute(
            "SELECT sha256, claimed_by FROM photos WHERE state = 'claimed' AND claimed_by IS NOT NULL").fetchall()]

    def release_claims(self, claims: Sequence[tuple[str, str]]) -> int:
        """Make these (sha256, claimed_by) claims pending again, where the same owner still holds them."""
        n = 0
        with self.write() as conn:  # type: ignore[attr-defined]
            for sha, owner in claims:
                n += conn.execute(
                    "UPDATE photos SET state = 'pending', lease_until = NULL, claimed_by = NULL "
                    "WHERE sha256 = ? AND state = 'claimed' AND claimed_by = ?", (sha, owner)).rowcount
        return n
