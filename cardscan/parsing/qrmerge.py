"""QR payloads merged into the contact read from the printed text."""
from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, Sequence

from cardscan.models import SOURCE_QR, Contact, Field, Phone, QrPayload
from cardscan.parsing.emails import check_email
from cardscan.parsing.layout import cap, sanitize, words_of
from cardscan.parsing.phones import RegionGuess, label_type
from cardscan.parsing.web import _host


def _merge_qr(c: Contact, qr: Sequence[QrPayload], reg: RegionGuess) -> Contact:
    """QR values are typed by the card's owner: they win over OCR for single values and lead lists."""
    import phonenumbers

    changes: dict[str, Any] = {}
    emails = list(c.emails)
    phones = list(c.phones)
    sites = list(c.websites)
    for p in qr:
        f = p.fields or {}
        for key in ("name", "title", "company", "address"):
            v = f.get(key)
            if isinstance(v, (list, tuple)):
                v = " ".join(str(x) for x in v if x)
            if isinstance(v, str):
                v, _ = sanitize(v)
                v = " ".join(v.split())
                if v and key not in changes:
                    printed = getattr(c, key)
                    if key in ("title", "company") and printed is not None and _printed_extends(printed.value, v):
                        # the code holds a shortened form ('Chargé de développement'); the card
                        # prints it whole: the printed one, as sure as the code makes it
                        changes[key] = replace(printed, confidence=max(printed.confidence, 0.9),
                                               flags=tuple(f for f in printed.flags if f != "low_confidence"))
                    else:
                        changes[key] = Field(cap(v), 0.98, SOURCE_QR, v)
        for e in _as_list(f.get("emails")):
            chk = check_email(str(e).strip())
            if chk.ok and chk.normalized:
                emails = [x for x in emails if x.value.casefold() != chk.normalized.casefold()]
                emails.insert(len([x for x in emails if x.source == SOURCE_QR]), Field(chk.normalized, 0.98, SOURCE_QR, str(e)))
        for ph in _as_list(f.get("phones")):
            raw = ph.get("number") if isinstance(ph, dict) else ph
            typ = (ph.get("type") if isinstance(ph, dict) else None) or "work"
            if not raw:
                continue
            raw, _ = sanitize(str(raw))
            try:
                num = phonenumbers.parse(raw, reg.region)
                value = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164) if phonenumbers.is_valid_number(num) else None
            except phonenumbers.NumberParseException:
                value = None
            flags: tuple[str, ...] = () if value else ("invalid",)
            value = value or re.sub(r"[^\d+]", "", raw)
            if len(re.sub(r"\D", "", value)) < 6:
                continue
            key = re.sub(r"\D", "", value)[-9:]
            phones = [x for x in phones if re.sub(r"\D", "", x.number)[-9:] != key]
            t = str(typ).lower()
            t = t if t in ("work", "mobile", "fax", "other") else (label_type(t) or "other")
            printed = next((x for x in c.phones if re.sub(r"\D", "", x.number)[-9:] == key), None)
            if t == "work" and printed is not None and printed.type != "work":
                t = printed.type  # the printed label ("Mob:") is more specific than a vCard's default TEL
            phones.insert(len([x for x in phones if x.source == SOURCE_QR]), Phone(value, t, cap(raw, 80), 0.98, SOURCE_QR, flags))
        for w in _as_list(f.get("websites")):
            w, _ = sanitize(str(w).strip())
            if not re.match(r"^(?:https?://)?[\w.-]+\.[a-z]{2,}(?:[/?#]\S*)?$", w, re.I):
                continue
            key = _host(w)
            if p.kind == "url":
                # A bare link is where the code points (a profile, a landing page), not necessarily
                # the website printed on the card: keep the printed one; add the link only when it
                # is a plain site address and nothing was read.
                if any(_host(x.value) == key for x in sites):
                    continue
                if re.sub(r"^[a-z]+://[^/]+", "", w, flags=re.I).strip("/") or sites:
                    continue
            sites = [x for x in sites if _host(x.value) != key]
            sites.insert(len([x for x in sites if x.source == SOURCE_QR]), Field(cap(w), 0.98, SOURCE_QR, w))
    changes.update(emails=tuple(emails), phones=tuple(phones), websites=tuple(sites))
    return replace(c, **changes)


def _printed_extends(printed: str, coded: str) -> bool:
    """The printed value is the coded one with more words after it, read alike up to one letter a
    word ('Chargée de développement réseaux' for the code's 'Chargé de développement')."""
    p, q = words_of(printed), words_of(coded)
    if not q or len(p) <= len(q):
        return False

    def alike(a: str, b: str) -> bool:
        if a == b:
            return True
        short, long_ = sorted((a, b), key=len)
        return len(short) >= 4 and len(long_) - len(short) <= 1 and long_.startswith(short)

    return all(alike(a, b) for a, b in zip(p, q))


def _as_list(v: Any) -> list[Any]:
    if v is None:
        return []
    if isinstance(v, (list, tuple)):
        return list(v)
    return [v]
