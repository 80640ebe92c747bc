"""The stable ``UID`` of a contact in vCards (export and CardDAV sync use this one function).

A UUID (version 5) made from the contact's row id and the time it was created: the same contact
always gets the same UID, in every export and every sync, without a column to store it; two
databases (two laptops) give different UIDs to their contact #1, because the creation times
(milliseconds) differ.  A merged-away contact keeps its own UID; the survivor keeps its own.
"""
from __future__ import annotations

import uuid

_NAMESPACE = uuid.UUID("6f1d1c52-3c1e-5a3e-9d0f-636172647363")  # fixed: changing it changes every UID


def contact_uid(contact_id: int, created_at: str) -> str:
    """Plain UUID text (not the ``urn:uuid:`` form): what phones and servers expect."""
    return str(uuid.uuid5(_NAMESPACE, f"cardscan-contact:{int(contact_id)}:{created_at}"))


__all__ = ["contact_uid"]
