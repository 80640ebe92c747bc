"""Two OCR readings of one card (two engines) merged field by field."""
from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, Sequence

from cardscan.models import SOURCE_OCR, Contact, Field
from cardscan.parsing.layout import fold
from cardscan.parsing.lines import LOW
from cardscan.parsing.web import _host


def _same_text(a: str, b: str) -> bool:
    return re.sub(r"[\W_]+", "", fold(a)) == re.sub(r"[\W_]+", "", fold(b))


def _scaled(f: Field, factor: float, flag: str | None = None) -> Field:
    conf = round(max(0.0, min(1.0, f.confidence * factor)), 3)
    flags = list(f.flags)
    if flag and flag not in flags:
        flags.append(flag)
    if conf < LOW and "low_confidence" not in flags:
        flags.append("low_confidence")
    if conf >= LOW and factor > 1 and "low_confidence" in flags and flag is None:
        flags.remove("low_confidence")
    return replace(f, confidence=conf, flags=tuple(flags))


def merge_readings(primary: Contact, secondary: Contact, /) -> Contact:
    """One contact from two OCR readings of the same card (two engines).

    A value both readings agree on is surer (confidence up); a value only one reading has is
    kept but less sure; where they disagree the primary's value stays, flagged for review. QR
    values (source "qr") are the same in both and pass through.
    """
    changes: dict[str, Any] = {}
    for key in ("name", "title", "company", "address", "other_name"):
        a, b = getattr(primary, key), getattr(secondary, key)
        if a is None and b is None:
            continue
        if a is None:
            changes[key] = _scaled(b, 0.85)
        elif b is None:
            changes[key] = a if a.source != SOURCE_OCR else _scaled(a, 0.85)
        elif a.source != SOURCE_OCR or _same_text(a.value, b.value):
            changes[key] = _scaled(a, 1.15) if a.source == SOURCE_OCR else a
        else:
            changes[key] = _scaled(a, 0.7, "disagreement")

    def merge_list(xs: Sequence[Any], ys: Sequence[Any], keyf: Any) -> tuple[Any, ...]:
        keys_y = {keyf(y) for y in ys}
        keys_x = {keyf(x) for x in xs}
        out = [(_scaled(x, 1.1) if keyf(x) in keys_y else _scaled(x, 0.85)) if x.source == SOURCE_OCR else x for x in xs]
        out += [_scaled(y, 0.85) for y in ys if keyf(y) not in keys_x]
        return tuple(out)

    changes["emails"] = merge_list(primary.emails, secondary.emails, lambda f: f.value.casefold())
    changes["websites"] = merge_list(primary.websites, secondary.websites, lambda f: _host(f.value))
    changes["phones"] = merge_list(primary.phones, secondary.phones, lambda p: re.sub(r"\D", "", p.number)[-9:])
    if primary.region is None:
        changes["region"] = secondary.region
    return replace(primary, **changes)
