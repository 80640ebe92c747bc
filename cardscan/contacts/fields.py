"""Field vocabulary and the review rule: which fields a contact has, and when a value needs a person.

The lowest domain module: it imports only ``models`` and ``errors``, so every layer (the store
included) can ask it what a field is.  :class:`ReviewPolicy` is the one review rule; it is made
from :class:`cardscan.options.Options` (``options.review``) and handed to the report, the
follow-up queue, ``cardscan status`` and the review web app.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from cardscan.errors import BadArgumentsError
from cardscan.models import SOURCE_USER, Contact, Field, Phone

SCALAR_FIELDS = ("name", "title", "company", "address", "other_name")
LIST_FIELDS = {"email": "emails", "phone": "phones", "website": "websites"}
FIELD_NAMES = SCALAR_FIELDS + tuple(LIST_FIELDS)

# Flags that put a value in front of a human even when its confidence is high.
REVIEW_FLAGS = frozenset({"invalid", "low_confidence", "repaired", "uncertain", "conflict"})
DEFAULT_REVIEW_THRESHOLD = 0.6


def iter_values(contact: Contact) -> Iterator[Field | Phone]:
    """Every value of ``contact``: the scalar fields that are set, then e-mails, phones, websites."""
    for name in SCALAR_FIELDS:
        f = getattr(contact, name)
        if f is not None:
            yield f
    yield from contact.emails
    yield from contact.phones
    yield from contact.websites


@dataclass(frozen=True)
class ReviewPolicy:
    """When a machine-read value goes in front of a person: its confidence is below ``threshold``,
    or it carries one of ``flags``.  Values a person typed never need review."""

    threshold: float = DEFAULT_REVIEW_THRESHOLD
    flags: frozenset[str] = REVIEW_FLAGS

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:  # also refuses NaN
            raise BadArgumentsError(f"--review-threshold must be between 0 and 1, not {self.threshold!r}")
        object.__setattr__(self, "flags", frozenset(self.flags))

    @property
    def percent(self) -> int:
        """The threshold as a whole percentage, as the report states it."""
        return round(self.threshold * 100)

    def is_low(self, f: Field | Phone) -> bool:
        """A machine-read value below the threshold."""
        return f.source != SOURCE_USER and f.confidence < self.threshold

    def needs_review(self, f: Field | Phone) -> bool:
        """A machine-read value below the threshold or carrying a doubtful flag."""
        if f.source == SOURCE_USER:
            return False
        return f.confidence < self.threshold or bool(self.flags.intersection(f.flags))

    def count(self, contact: Contact) -> int:
        """How many values of ``contact`` need review."""
        return sum(1 for f in iter_values(contact) if self.needs_review(f))

    def contact_needs_review(self, contact: Contact) -> bool:
        """Any value needs review, or nothing identifying (name, e-mail, phone, company) was read."""
        if contact.name is None and not contact.emails and not contact.phones and contact.company is None:
            return True
        return any(self.needs_review(f) for f in iter_values(contact))


DEFAULT_POLICY = ReviewPolicy()


def field_needs_review(f: Field | Phone, threshold: float = DEFAULT_REVIEW_THRESHOLD) -> bool:
    """``ReviewPolicy(threshold).needs_review(f)``, for callers that hold only a number."""
    return ReviewPolicy(threshold).needs_review(f)


__all__ = [
    "DEFAULT_POLICY", "DEFAULT_REVIEW_THRESHOLD", "FIELD_NAMES", "LIST_FIELDS", "REVIEW_FLAGS", "SCALAR_FIELDS",
    "ReviewPolicy", "field_needs_review", "iter_values",
]
