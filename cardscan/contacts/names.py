"""A person's name split into its parts: the one wrapper of nameparser's HumanName.

Used by duplicate matching (first + last name), the follow-up greeting (first name) and the
vCard export (prefix, given, middle, family, suffix).
"""
from __future__ import annotations

import logging
from dataclasses import astuple, dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NameParts:
    prefix: str = ""
    given: str = ""
    middle: str = ""
    family: str = ""
    suffix: str = ""


def parse_name(name: str | None, /, *, capitalize: bool = False) -> NameParts | None:
    """The parts of ``name``; None when it is empty or nameparser cannot split it.
    ``capitalize``: nameparser's capitalisation of an ALL CAPS or all lower-case name."""
    text = " ".join((name or "").split())
    if not text:
        return None
    from nameparser import HumanName  # imported on first use: it loads its word lists

    try:
        h = HumanName(text)
        if capitalize:
            h.capitalize()
        parts = NameParts(h.title, h.first, h.middle, h.last, h.suffix)
    except Exception:  # noqa: BLE001 - nameparser on odd text
        log.debug("nameparser failed on %r", text, exc_info=True)
        return None
    return parts if any(astuple(parts)) else None


__all__ = ["NameParts", "parse_name"]
