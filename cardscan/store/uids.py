"""A stable vCard UID per contact: made once (a random UUID), then the same in every export.

A merge keeps the kept contact's UID (the row belongs to its id), so an address book that
imported an earlier export updates that entry instead of adding a second one.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cardscan.store import Store


def contact_uids(store: "Store", contact_ids: Iterable[int], /) -> dict[int, str]:
    """The UID of each contact, made and stored for those that have none yet."""
    ids = sorted(set(contact_ids))
    if not ids:
        return {}
    with store.write() as conn:
        have: dict[int, str] = {}
        for k in range(0, len(ids), 500):  # SQLite's host-parameter limit
            chunk = ids[k:k + 500]
            marks = ",".join("?" * len(chunk))
            have.update(conn.execute(
                f"SELECT contact_id, uid FROM contact_uids WHERE contact_id IN ({marks})", chunk).fetchall())  # noqa: S608
        new = [(cid, f"urn:uuid:{uuid.uuid4()}") for cid in ids if cid not in have]
        conn.executemany("INSERT INTO contact_uids (contact_id, uid) VALUES (?, ?)", new)
    have.update(new)
    return have
