"""SQL of the two ways contacts and follow-ups leave for the user's own accounts.

- ``carddav_resources``: one row per vCard cardscan created on a CardDAV address book (its URL,
  the ETag the server gave after our last write, the sha256 of the body we wrote, the state).
  Only rows here are ever updated or deleted on a server: what cardscan did not create, it
  never touches.
- follow-ups put into an IMAP Drafts folder: claimed (state ``sending``, ``claimed_by`` ending
  in ``-imap``), then ``drafted`` with ``delivered_via = 'drafts'`` and the folder in
  ``delivered_to``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cardscan.store import Store

IMAP_CLAIM_SUFFIX = "-imap"  # appended to the owner id's last (random) part, keeping its form


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class CarddavResource:
    collection: str
    contact_id: int
    uid: str
    href: str
    etag: str | None
    body_sha256: str
    state: str  # synced | conflict | deleted
    detail: str | None
    synced_at: str


_RCOLS = "collection, contact_id, uid, href, etag, body_sha256, state, detail, synced_at"


def _resource(r: Sequence[Any]) -> CarddavResource:
    return CarddavResource(r[0], int(r[1]), r[2], r[3], r[4], r[5], r[6], r[7], r[8])


def carddav_resources(store: Store, collection: str | None = None) -> list[CarddavResource]:
    """The resources cardscan created (on one address book, or on all), by contact."""
    if collection is None:
        rows = store.connection.execute(f"SELECT {_RCOLS} FROM carddav_resources ORDER BY contact_id, id")
    else:
        rows = store.connection.execute(
            f"SELECT {_RCOLS} FROM carddav_resources WHERE collection = ? ORDER BY contact_id", (collection,))
    return [_resource(r) for r in rows.fetchall()]


def save_carddav_resource(store: Store, res: CarddavResource) -> None:
    """Insert or replace the row of (collection, contact); ``synced_at`` empty = now."""
    ts = _now()
    with store.write() as conn:
        conn.execute(
            "INSERT INTO carddav_resources (collection, contact_id, uid, href, etag, body_sha256, state, detail, "
            "synced_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (collection, contact_id) DO UPDATE SET uid = excluded.uid, href = excluded.href, "
            "etag = excluded.etag, body_sha256 = excluded.body_sha256, state = excluded.state, "
            "detail = excluded.detail, synced_at = excluded.synced_at",
            (res.collection, res.contact_id, res.uid, res.href, res.etag, res.body_sha256, res.state, res.detail,
             res.synced_at or ts, ts))


def mark_carddav_resource(store: Store, collection: str, contact_id: int, state: str, detail: str | None) -> None:
    """Record a conflict (kept on the server) or a deletion, without touching the ETag."""
    with store.write() as conn:
        conn.execute("UPDATE carddav_resources SET state = ?, detail = ? WHERE collection = ? AND contact_id = ?",
                     (state, detail, collection, contact_id))


def last_synced(store: Store) -> dict[int, CarddavResource]:
    """Per contact, its most recently synced resource (any address book)."""
    out: dict[int, CarddavResource] = {}
    for r in store.connection.execute(f"SELECT {_RCOLS} FROM carddav_resources ORDER BY synced_at").fetchall():
        out[int(r[1])] = _resource(r)
    return out


# --------------------------------------------------------------------------------------------
# follow-ups into Drafts


def stale_imap_claims(store: Store) -> list[tuple[int, str | None, float | None]]:
    """(id, claimed_by, lease_until) of entries an IMAP run left in 'sending'."""
    rows = store.connection.execute(
        "SELECT id, claimed_by, lease_until FROM followups WHERE state = 'sending' AND claimed_by LIKE ?",
        ("%" + IMAP_CLAIM_SUFFIX,)).fetchall()
    return [(int(r[0]), r[1], r[2]) for r in rows]


def release_imap_claim(store: Store, followup_id: int, claimed_by: str | None) -> bool:
    """A dead IMAP run's entry goes back to 'approved': the next run searches the folder for its
    Message-ID before appending, so it is never appended twice."""
    with store.write() as conn:
        cur = conn.execute(
            "UPDATE followups SET state = 'approved', claimed_by = NULL, lease_until = NULL, updated_at = ? "
            "WHERE id = ? AND state = 'sending' AND claimed_by IS ?", (_now(), followup_id, claimed_by))
        return cur.rowcount == 1


def claim_for_drafts(store: Store, followup_id: int, state: str, updated_at: str, worker: str,
                     lease_until: float) -> bool:
    """approved/failed -> sending (by an IMAP run), committed before the server is asked anything."""
    with store.write() as conn:
        cur = conn.execute(
            "UPDATE followups SET state = 'sending', attempts = attempts + 1, claimed_by = ?, lease_until = ?, "
            "updated_at = ? WHERE id = ? AND state = ? AND updated_at = ?",
            (worker, lease_until, _now(), followup_id, state, updated_at))
        return cur.rowcount == 1


def finish_drafted(store: Store, followup_id: int, where: str) -> None:
    ts = _now()
    with store.write() as conn:
        conn.execute(
            "UPDATE followups SET state = 'drafted', last_error = NULL, next_attempt_at = NULL, claimed_by = NULL, "
            "lease_until = NULL, sent_at = ?, updated_at = ?, delivered_via = 'drafts', delivered_to = ? "
            "WHERE id = ? AND state = 'sending'", (ts, ts, where, followup_id))


def unclaim_drafts(store: Store, followup_id: int, state: str, attempts: int, reason: str | None) -> None:
    """Nothing reached the folder (connection or login failed): back as it was, the reason kept."""
    with store.write() as conn:
        conn.execute(
            "UPDATE followups SET state = ?, attempts = ?, claimed_by = NULL, lease_until = NULL, last_error = ?, "
            "updated_at = ? WHERE id = ? AND state = 'sending'", (state, attempts, reason, _now(), followup_id))


def delivery(store: Store, followup_id: int) -> tuple[str | None, str | None, str | None]:
    """(delivered_via 'smtp' | 'drafts' | None, delivered_to, sent_at) of one follow-up."""
    r = store.connection.execute("SELECT delivered_via, delivered_to, sent_at FROM followups WHERE id = ?",
                                 (followup_id,)).fetchone()
    return (r[0], r[1], r[2]) if r else (None, None, None)


def delivery_counts(store: Store) -> dict[str, int]:
    """How many follow-ups went out each way: {'smtp': n, 'drafts': m}."""
    return {r[0]: int(r[1]) for r in store.connection.execute(
        "SELECT delivered_via, count(*) FROM followups WHERE delivered_via IS NOT NULL AND state IN ('sent', 'drafted') "
        "GROUP BY delivered_via").fetchall()}


__all__ = [
    "IMAP_CLAIM_SUFFIX", "CarddavResource", "carddav_resources", "claim_for_drafts", "delivery", "delivery_counts", "finish_drafted",
    "last_synced", "mark_carddav_resource", "release_imap_claim", "save_carddav_resource", "stale_imap_claims",
    "unclaim_drafts",
]
