"""Correct a contact's field by hand, validated; revert it to the value read from the card.

An edit never overwrites: the store adds a new current row (source ``user``, confidence 1.0)
and keeps the value read from the card, so :func:`revert_field` can bring it back.  An empty
value deletes the field (a wrong value in the wrong field is worse than none); revert undoes
that too.  Used by ``cardscan edit`` and the review web app.

Validation (:func:`validate`) refuses, with the validator's own reason (ValidationError, exit 1):
phone numbers phonenumbers does not find valid (parsed with the contact's region when the number
has no +country code; stored as E.164), e-mail addresses email-validator refuses (syntax only,
no DNS; stored normalised), websites that are not an http(s) address on a domain name, control
and invisible formatting characters (bidi overrides, zero-width spaces; ZWJ/ZWNJ allowed as
scripts need them), line breaks outside the address, and over-long values.
"""
from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass

from cardscan.contacts.validate import check_email, website_href
from cardscan.errors import ValidationError
from cardscan.models import PHONE_TYPES
from cardscan.contacts.fields import FIELD_NAMES, LIST_FIELDS, SCALAR_FIELDS
from cardscan.store import Store

log = logging.getLogger(__name__)

MAX_LENGTH = {"address": 500, "name": 200, "other_name": 200, "title": 200, "company": 200, "email": 320, "phone": 64, "website": 2000}
_ALLOWED_FORMAT = {"\u200c", "\u200d"}  # ZWNJ / ZWJ: needed by Persian, Indic scripts, emoji


@dataclass(frozen=True)
class EditResult:
    contact_id: int
    field: str
    position: int
    old: str | None  # the value before the edit (None = empty)
    new: str | None  # the value stored (None = deleted)


def _check_text(field: str, value: str) -> None:
    for ch in value:
        cat = unicodedata.category(ch)
        if ch == "\n" and field == "address":
            continue
        if ch == "\n":
            raise ValidationError(f"the {field} must be on one line")
        if cat in ("Cc", "Cs", "Co", "Cn") or (cat == "Cf" and ch not in _ALLOWED_FORMAT) or cat in ("Zl", "Zp"):
            raise ValidationError(f"the {field} contains an invisible or control character (U+{ord(ch):04X}); "
                                  f"retype it without")
    if len(value) > MAX_LENGTH[field]:
        raise ValidationError(f"the {field} is too long ({len(value)} characters, at most {MAX_LENGTH[field]})")


def validate_phone(value: str, region: str | None) -> str:
    """E.164 of a valid number, else ValidationError with phonenumbers' reason."""
    import phonenumbers

    reg = region.upper() if region else None
    try:
        num = phonenumbers.parse(value, reg)
    except phonenumbers.NumberParseException as exc:
        reason = str(exc).split(") ", 1)[-1].rstrip(".")
        hint = "" if reg else "; write it with + and the country code, e.g. +44 20 7946 0000"
        raise ValidationError(f"not a phone number: {reason}{hint}") from None
    if not phonenumbers.is_valid_number(num):
        where = phonenumbers.region_code_for_country_code(num.country_code)
        where = where if where and where != "ZZ" else f"+{num.country_code}"
        why = {
            phonenumbers.ValidationResult.TOO_SHORT: "too short",
            phonenumbers.ValidationResult.TOO_LONG: "too long",
            phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: "unknown country code",
            phonenumbers.ValidationResult.INVALID_LENGTH: "wrong length",
        }.get(phonenumbers.is_possible_number_with_reason(num), "no such number range")
        raise ValidationError(f"not a valid number for {where} ({why})")
    out = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
    return out + (f";ext={num.extension}" if num.extension else "")


def validate_email(value: str) -> str:
    try:
        return check_email(value)
    except ValidationError as exc:
        raise ValidationError(f"not a valid e-mail address: {exc.message}") from None


def validate_website(value: str) -> str:
    if website_href(value) is None:
        raise ValidationError("not a web address: write a domain name such as example.com, "
                              "optionally with https://")
    return value


def validate(field: str, value: str, *, region: str | None = None) -> str | None:
    """The value to store for what a person typed into ``field``; None means delete."""
    if field not in FIELD_NAMES:
        raise ValidationError(f"unknown field {field!r}; use one of {', '.join(FIELD_NAMES)}")
    v = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    if field == "address":
        v = "\n".join(line.strip() for line in v.split("\n") if line.strip())
    if not v:
        return None
    _check_text(field, v)
    if field == "phone":
        return validate_phone(v, region)
    if field == "email":
        return validate_email(v)
    if field == "website":
        return validate_website(v)
    if field == "name" and not any(ch.isalpha() for ch in v):
        raise ValidationError("a name needs at least one letter")
    return " ".join(v.split()) if field != "address" else v


def _current(store: Store, contact_id: int, field: str, position: int) -> tuple[int, str | None, str | None]:
    """(survivor id, current value, contact region); ValidationError for an unknown contact."""
    try:
        rec = store.contact(contact_id)
    except KeyError:
        raise ValidationError(f"no contact #{contact_id}", hint="cardscan report or cardscan export lists them") from None
    c = rec.contact
    if field in SCALAR_FIELDS:
        if position != 0:
            raise ValidationError(f"the {field} has only one value (position 0)")
        return rec.id, c.scalar(field), c.region
    values = getattr(c, LIST_FIELDS[field])
    if position < 0 or position > len(values):
        raise ValidationError(f"contact #{rec.id} has {len(values)} {LIST_FIELDS[field]}; "
                              f"use a position from 0 to {len(values)} ({len(values)} adds one)")
    old = None
    if position < len(values):
        v = values[position]
        old = v.number if field == "phone" else v.value
    return rec.id, old, c.region


def _store_position(store: Store, contact_id: int, field: str, position: int) -> int:
    """The slot (position in the store) of the ``position``-th current value; the next free slot
    when it is one past the end.  Slots can have gaps after deletions and merges."""
    if field in SCALAR_FIELDS:
        return 0
    shown = [slot for slot, deleted in store.field_slots(contact_id, field) if not deleted]
    if position < len(shown):
        return shown[position]
    return store.next_slot(contact_id, field)


def check_edit(store: Store, contact_id: int, field: str, value: str, *, position: int = 0,
               phone_type: str | None = None) -> EditResult:
    """Everything :func:`edit_field` checks, without changing anything: the result it would have."""
    if phone_type is not None and (field != "phone" or phone_type not in PHONE_TYPES):
        raise ValidationError(f"the phone type is one of {', '.join(PHONE_TYPES)}, not {phone_type!r}"
                              if field == "phone" else "a phone type only goes with a phone")
    cid, old, region = _current(store, contact_id, field, position)
    new = validate(field, value, region=region)
    if new is None and old is None:
        raise ValidationError(f"the {field} is already empty; type a value")
    return EditResult(cid, field, position, old, new)


def edit_field(store: Store, contact_id: int, field: str, value: str, *, position: int = 0,
               phone_type: str | None = None) -> EditResult:
    """Validate ``value`` and make it the current value of the field (``position`` = index among
    the contact's e-mails / phones / websites as shown; one past the end adds a value).  An empty
    value deletes the field.  Raises ValidationError with the validator's reason."""
    r = check_edit(store, contact_id, field, value, position=position, phone_type=phone_type)
    slot = _store_position(store, r.contact_id, field, position)
    store.set_field(r.contact_id, field, r.new, position=slot, type=phone_type if field == "phone" else None)
    log.info("contact %d: %s[%d] %r -> %r", r.contact_id, field, position, r.old, r.new)
    return r


def revert_field(store: Store, contact_id: int, field: str, *, position: int = 0) -> bool:
    """Bring back the value read from the card (a value the user added is removed).
    False when the field already holds the value as read."""
    if field not in FIELD_NAMES:
        raise ValidationError(f"unknown field {field!r}; use one of {', '.join(FIELD_NAMES)}")
    try:
        cid = store.contact(contact_id).id
    except KeyError:
        raise ValidationError(f"no contact #{contact_id}", hint="cardscan report or cardscan export lists them") from None
    slot = _revert_slot(store, cid, field, position)
    return store.revert_field(cid, field, position=slot)


def _revert_slot(store: Store, cid: int, field: str, position: int) -> int:
    """The store slot of the ``position``-th shown value; positions past the shown values
    address the deleted ones, oldest slot first (so a deletion can be undone too)."""
    if field in SCALAR_FIELDS:
        if position != 0:
            raise ValidationError(f"the {field} has only one value (position 0)")
        return 0
    rows = store.field_slots(cid, field)
    slots = [slot for slot, deleted in rows if not deleted] + [slot for slot, deleted in rows if deleted]
    if not 0 <= position < len(slots):
        raise ValidationError(f"contact #{cid} has no {field} at position {position}")
    return slots[position]


__all__ = ["EditResult", "MAX_LENGTH", "check_edit", "edit_field", "revert_field", "validate", "validate_email",
           "validate_phone", "validate_website"]
