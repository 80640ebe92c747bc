"""Records the store returns, the row <-> model conversions and the small SQL helpers its query modules share."""
from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cardscan.contacts.fields import DEFAULT_POLICY, FIELD_NAMES, LIST_FIELDS, SCALAR_FIELDS, ReviewPolicy
from cardscan.errors import ValidationError
from cardscan.models import Contact, Field, Phone


def _now() -> str:
    """UTC timestamp, ISO 8601 with milliseconds: sorts as text."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _path_param(path: "str | Path") -> "str | bytes":
    """A file path as stored: text, or, for a name that is not UTF-8 (surrogate escapes), its raw
    bytes as a BLOB, so that it comes back unchanged (:func:`_path_value`)."""
    text = os.fspath(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(text)
    return text


def _path_value(value: "str | bytes | None") -> "str | None":
    """A stored path back as the str the file system gave (surrogate escapes for non-UTF-8 bytes)."""
    return os.fsdecode(value) if isinstance(value, bytes) else value


class Queries:
    """Base of the per-table query classes that :class:`cardscan.store.Store` combines: they share
    its one connection and its transactions (``write()`` / ``read()``, defined by ``Store``)."""

    path: Path
    _conn: sqlite3.Connection


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
    asks: tuple[str, ...] = ()
    offers: tuple[str, ...] = ()

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
        address=scalars.get("address"), other_name=scalars.get("other_name"),
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


def _photo_contacts(conn: sqlite3.Connection, sha256: str) -> list[int]:
    """The contacts of a photo's cards, in card order, each followed to its merge survivor."""
    return [_follow_merges(conn, int(r[0])) for r in conn.execute(
        "SELECT contact_id FROM cards WHERE photo_sha256 = ? ORDER BY card_index", (sha256,))]
