"""Invented contacts stored through the real store (shared by test_export, test_dedupe, test_edit)."""
from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

from cardscan.models import SOURCE_OCR, Contact, Field, Phone
from cardscan.store import Store

_counter = itertools.count()


def f(value: str, conf: float = 0.9, **kw) -> Field:  # noqa: ANN003
    return Field(value, conf, kw.pop("source", SOURCE_OCR), kw.pop("raw", value), **kw)


def person(name: str | None = "Jane Doe", *, title: str | None = "Head of Sales", company: str | None = "Acme Widgets",
           emails: tuple[str, ...] = ("jane@acme-widgets.example",),
           phones: tuple[tuple[str, str], ...] = (("+14155550100", "work"),),
           websites: tuple[str, ...] = ("www.acme-widgets.example",), address: str | None = None,
           region: str | None = "US") -> Contact:
    return Contact(
        name=f(name) if name else None, title=f(title) if title else None,
        company=f(company) if company else None, address=f(address) if address else None,
        emails=tuple(f(e) for e in emails),
        phones=tuple(Phone(n, t, raw=n, confidence=0.9) for n, t in phones),
        websites=tuple(f(w) for w in websites), region=region, raw_text=name or "",
    )


def add(store: Store, contact: Contact, *, photo: bytes | None = None, event: str | None = None,
        note: str | None = None, crop: bytes | None = b"\xff\xd8crop\xff\xd9") -> int:
    """Store ``contact`` as read from a (fake) photo; returns the contact id."""
    data = photo if photo is not None else f"photo {next(_counter)}".encode()
    sha = hashlib.sha256(data).hexdigest()
    return store.record_success(sha, Path(f"/photos/{sha[:8]}.jpg"), contact=contact, crop_jpeg=crop,
                                event=event, note=note, fmt="JPEG", size=len(data))
