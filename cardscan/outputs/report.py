"""The HTML report: one self-contained file that opens offline and makes no request.

Card crops are inlined as ``data:`` URIs, the CSS is inline, there is no script, and a
Content-Security-Policy meta tag forbids everything else.  Every value is escaped by Jinja2's
autoescape; links are made only from values that pass strict checks (validated e-mail ->
``mailto:``, E.164 number -> ``tel:``, http(s) host name -> the website).  Invisible bidi /
zero-width characters are shown as ``[U+XXXX]`` so a value cannot disguise itself.

The original photo is not linked with a ``file:`` URL: such a link breaks as soon as the report
is mailed or moved, and it points the browser at the local disk.  Instead a click on the card
crop (stored at up to 1000 px) shows it full-window with a CSS-only checkbox; ``cardscan review``
serves the original photo itself.  Filters (event, review state, follow-up state) are radio
buttons with generated ``:checked ~`` CSS rules, so they work without a script.
"""
from __future__ import annotations

import base64
import logging
import re
import unicodedata
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import jinja2

from cardscan.contacts.validate import website_href
from cardscan.reading.files import write_atomic
from cardscan.models import SOURCE_QR, SOURCE_USER, Field, Phone
from cardscan.contacts.fields import DEFAULT_POLICY, ReviewPolicy
from cardscan.store import ContactRecord, Failure

if TYPE_CHECKING:
    from cardscan.store import Store

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"
CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; "
       "form-action 'none'")  # literal in the template
DEFAULT_TITLE = "cardscan report"

_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_SOURCE_LABEL = {"ocr": "OCR", SOURCE_QR: "QR code", SOURCE_USER: "edited"}
_BAD_FLAGS = frozenset({"invalid"})


# --------------------------------------------------------------------------------------------
# text and link checks (pure)


def visible_text(s: str) -> str:
    """Show invisible format / control characters (bidi overrides, zero-width, BOM, ...) as
    ``[U+XXXX]`` so displayed text is what it looks like.  Newlines and tabs are kept."""
    out = []
    for ch in s:
        cat = unicodedata.category(ch)
        if ch in "\n\t":
            out.append(ch)
        elif cat in ("Cf", "Cc", "Cs", "Co", "Cn", "Zl", "Zp"):
            out.append(f"[U+{ord(ch):04X}]")
        else:
            out.append(ch)
    return "".join(out)


def _has_hidden(s: str) -> bool:
    return visible_text(s) != s


def mailto_href(value: str) -> str | None:
    """``mailto:`` link for an address that passes email-validator (syntax only), else None."""
    from email_validator import EmailNotValidError, validate_email

    if _has_hidden(value) or any(c.isspace() for c in value):
        return None
    try:
        addr = validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError:
        return None
    return "mailto:" + quote(addr, safe="@.+-_")


def tel_href(number: str) -> str | None:
    return "tel:" + number if _E164.match(number) else None


# --------------------------------------------------------------------------------------------
# view model (what the template shows)


FOLLOWUP_STATES = ("draft", "approved", "sending", "sent", "failed", "uncertain", "skipped")
_APPROVABLE = frozenset({"draft"})
_EDITABLE = frozenset({"draft", "approved", "failed"})  # as cardscan.followup.queue allows
_SKIPPABLE = frozenset({"draft", "approved", "failed", "uncertain"})


@dataclass(frozen=True)
class ValueView:
    label: str
    value: str
    href: str | None
    confidence: int  # percent
    source: str
    detail: str | None  # phone type, "read as ..." when repaired
    flags: tuple[str, ...]
    message: str | None
    low: bool
    invalid: bool
    review: bool
    field: str = ""  # store field name (name, phone, ...): edit forms post it
    position: int = 0
    edited: bool = False  # the current value is a person's entry
    original: str = ""  # the value itself (for an edit form; escaped like everything else)
    phone_type: str | None = None


@dataclass(frozen=True)
class FollowupRow:
    """One entry of the follow-up queue (the ``followups`` table), as the report reads it."""

    id: int
    contact_id: int
    state: str
    to_addr: str
    subject: str
    body: str
    last_error: str | None = None
    retry_pending: bool = False

    @property
    def label(self) -> str:
        if self.state == "failed":
            return "failed (will retry)" if self.retry_pending else "failed (permanent)"
        return self.state


@dataclass(frozen=True)
class FollowupView:
    id: int
    state: str
    label: str
    to_addr: str
    subject: str
    body: str
    error: str | None
    can_approve: bool
    can_skip: bool
    can_edit: bool


@dataclass(frozen=True)
class DuplicatePair:
    """Two contacts that may be one person (ids in either order) and why."""

    a: int
    b: int
    reason: str


@dataclass(frozen=True)
class DuplicateView:
    other_id: int
    other_heading: str
    reason: str


@dataclass(frozen=True)
class ContactView:
    id: int
    heading: str
    values: tuple[ValueView, ...]
    images: tuple[str, ...]  # data: URIs
    event: str | None
    notes: tuple[str, ...]
    raw_text: str
    files: tuple[str, ...]
    review: bool
    reviewed: bool
    photos: tuple[tuple[str, str], ...] = ()  # (data: URI of the crop, sha256 of the photo)
    followups: tuple[FollowupView, ...] = ()
    duplicates: tuple[DuplicateView, ...] = ()
    followup_state: str = "none"  # state of the live entry, "skipped" or "none": the filters use it
    filter_keys: tuple[str, ...] = ()  # CSS classes the filter rules match


def _value_view(label: str, v: Field | Phone, *, policy: ReviewPolicy, href: str | None,
                field: str = "", position: int = 0) -> ValueView:
    if isinstance(v, Phone):
        value, raw = v.number, v.raw
        detail = v.type + (f" · printed {raw}" if raw and raw != v.number else "")
    else:
        value, raw = v.value, v.raw
        detail = f"read as {raw}" if raw and raw != v.value else None
    flags = tuple(v.flags)
    hidden = _has_hidden(value)
    if hidden:
        flags += ("hidden_characters",)
    invalid = bool(_BAD_FLAGS.intersection(flags))
    low = policy.is_low(v)
    return ValueView(
        label=label,
        value=visible_text(value),
        href=None if invalid or hidden or low else href,  # a doubtful value is no link (typo domains)
        confidence=round(100 * v.confidence),
        source=_SOURCE_LABEL.get(v.source, visible_text(v.source)),
        detail=visible_text(detail) if detail else None,
        flags=tuple(visible_text(f).replace("_", " ") for f in flags),
        message=visible_text(v.message) if v.message else None,
        low=low,
        invalid=invalid,
        review=policy.needs_review(v) or hidden,
        field=field,
        position=position,
        edited=v.source == SOURCE_USER,
        original=value,
        phone_type=v.type if isinstance(v, Phone) else None,
    )


def _data_uri(jpeg: bytes | None) -> str | None:
    if not jpeg or not jpeg.startswith(b"\xff\xd8\xff"):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def followup_view(f: FollowupRow) -> FollowupView:
    return FollowupView(
        id=f.id, state=f.state, label=f.label, to_addr=visible_text(f.to_addr), subject=visible_text(f.subject),
        body=visible_text(f.body), error=visible_text(f.last_error) if f.last_error else None,
        can_approve=f.state in _APPROVABLE, can_skip=f.state in _SKIPPABLE, can_edit=f.state in _EDITABLE,
    )


def _followup_state(rows: Sequence[FollowupRow]) -> str:
    live = [f for f in rows if f.state != "skipped"]
    if live:
        return live[-1].state
    return "skipped" if rows else "none"


def contact_view(rec: ContactRecord, *, policy: ReviewPolicy = DEFAULT_POLICY,
                 followups: Sequence[FollowupRow] = (), duplicates: Sequence[DuplicateView] = ()) -> ContactView:
    c = rec.contact
    vals: list[ValueView] = []
    for label, name in (("Name", "name"), ("Title", "title"), ("Company", "company")):
        f = getattr(c, name)
        if f is not None:
            vals.append(_value_view(label, f, policy=policy, href=None, field=name))
    for i, e in enumerate(c.emails):
        vals.append(_value_view("E-mail", e, policy=policy, href=mailto_href(e.value), field="email", position=i))
    for i, p in enumerate(c.phones):
        vals.append(_value_view("Phone", p, policy=policy, href=tel_href(p.number), field="phone", position=i))
    for i, w in enumerate(c.websites):
        vals.append(_value_view("Website", w, policy=policy, href=website_href(w.value), field="website",
                                position=i))
    if c.address is not None:
        vals.append(_value_view("Address", c.address, policy=policy, href=None, field="address"))
    heading = next((f.value for f in (c.name, c.company) if f is not None and f.value.strip()), None)
    if heading is None:
        heading = c.emails[0].value if c.emails else f"Contact {rec.id}"
    review = rec.needs_review(policy) or any(v.review for v in vals)
    photos = tuple((u, k.sha256) for k in rec.cards if (u := _data_uri(k.crop_jpeg)))
    return ContactView(
        id=rec.id,
        heading=visible_text(heading),
        values=tuple(vals),
        images=tuple(u for u, _ in photos),
        event=visible_text(rec.event) if rec.event else None,
        notes=tuple(visible_text(n) for n in rec.notes),
        raw_text=visible_text(c.raw_text),
        files=tuple(visible_text(k.path) for k in rec.cards),
        review=review and not rec.reviewed,
        reviewed=rec.reviewed,
        photos=photos,
        followups=tuple(followup_view(f) for f in followups),
        duplicates=tuple(duplicates),
        followup_state=_followup_state(followups),
    )


# --------------------------------------------------------------------------------------------
# duplicates


def duplicate_pairs(records: Sequence[ContactRecord], *,
                    dismissed: Collection[tuple[int, int]] = ()) -> list[DuplicatePair]:
    """Possible duplicates among ``records`` (``cardscan.contacts.dedupe.find_duplicates``), strong ones
    first; pairs the user dismissed (``duplicate_dismissals``) are left out."""
    from cardscan.contacts import dedupe
    ids = {r.id for r in records}
    return [DuplicatePair(p.a, p.b, f"{p.strength}: {p.reason}")
            for p in dedupe.find_duplicates(records, dismissed=dismissed) if p.a in ids and p.b in ids]


# --------------------------------------------------------------------------------------------
# loading


@dataclass(frozen=True)
class ReportData:
    records: tuple[ContactRecord, ...]
    stats: Mapping[str, int]
    failures: tuple[Failure, ...]
    followups: Mapping[int, tuple[FollowupRow, ...]]
    duplicates: tuple[DuplicatePair, ...]
    events: tuple[str, ...] = ()


def load_followups(store: Store) -> dict[int, tuple[FollowupRow, ...]]:
    """Every follow-up entry by contact id (a merged contact's entries go to its survivor)."""
    conn = store.connection
    merged = {int(a): int(b) for a, b in conn.execute(
        "SELECT id, merged_into FROM contacts WHERE merged_into IS NOT NULL")}

    def survivor(cid: int) -> int:
        seen = set()
        while cid in merged and cid not in seen:
            seen.add(cid)
            cid = merged[cid]
        return cid

    out: dict[int, list[FollowupRow]] = {}
    for fid, cid, state, to_addr, subject, body, err, next_at in conn.execute(
            "SELECT id, contact_id, state, to_addr, subject, body, last_error, next_attempt_at "
            "FROM followups ORDER BY id"):
        owner = survivor(int(cid))
        out.setdefault(owner, []).append(FollowupRow(int(fid), owner, state, to_addr, subject, body, err,
                                                     state == "failed" and next_at is not None))
    return {k: tuple(v) for k, v in out.items()}


def load_report_data(store: Store, *, event: str | None = None,
                     policy: ReviewPolicy = DEFAULT_POLICY) -> ReportData:
    """Everything the report shows, read from the store (contacts of one event when given)."""
    with store.read() as conn:
        records = tuple(store.contacts(event=event))
        stats = store.stats(event=event, policy=policy)
        failures = tuple(store.failures())
        followups = load_followups(store)
        dismissed = [(int(a), int(b)) for a, b in conn.execute(
            "SELECT contact_a, contact_b FROM duplicate_dismissals")]
        events = tuple(name for name, _ in store.events())
    return ReportData(records, stats, failures, followups, tuple(duplicate_pairs(records, dismissed=dismissed)),
                      events)


# --------------------------------------------------------------------------------------------
# rendering


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def environment() -> jinja2.Environment:
    """The Jinja2 environment of the report templates (autoescape on for every template)."""
    return _environment()


@dataclass(frozen=True)
class FilterOption:
    key: str  # CSS class on the matching articles and id suffix of the radio button: [a-z0-9-] only
    label: str
    count: int


def report_context(
    records: Sequence[ContactRecord],
    *,
    stats: Mapping[str, int],
    failures: Sequence[Failure],
    title: str = DEFAULT_TITLE,
    policy: ReviewPolicy = DEFAULT_POLICY,
    generated_at: str | None = None,
    followups: Mapping[int, Sequence[FollowupRow]] | None = None,
    duplicates: Sequence[DuplicatePair] = (),
) -> dict[str, object]:
    """The template variables of ``report.html.j2`` (``review.html.j2`` adds its own)."""
    followups = followups or {}
    headings = {r.id: r for r in records}
    dup_views: dict[int, list[DuplicateView]] = {}
    for p in duplicates:
        if p.a in headings and p.b in headings:
            for me, other in ((p.a, p.b), (p.b, p.a)):
                dup_views.setdefault(me, []).append(
                    DuplicateView(other, _heading(headings[other]), visible_text(p.reason)))
    views = [contact_view(r, policy=policy, followups=followups.get(r.id, ()), duplicates=dup_views.get(r.id, ()))
             for r in records]
    views.sort(key=lambda v: (not v.review,))  # stable: creation order within each group

    event_names = sorted({v.event for v in views if v.event})
    event_key = {name: f"ev-{i}" for i, name in enumerate(event_names)}
    keyed = []
    for v in views:
        keys = ["st-review" if v.review else "st-ok", f"fu-{v.followup_state}"]
        if v.duplicates:
            keys.append("st-dup")
        if v.event:
            keys.append(event_key[v.event])
        keyed.append(replace(v, filter_keys=tuple(keys)))
    views = keyed

    def count(key: str) -> int:
        return sum(key in v.filter_keys for v in views)

    state_filters = [FilterOption(k, label, count(k)) for k, label in (
        ("st-review", "needs review"), ("st-ok", "nothing to review"), ("st-dup", "possible duplicates"))]
    state_filters += [FilterOption(f"fu-{s}", f"follow-up {s}", count(f"fu-{s}")) for s in FOLLOWUP_STATES]
    state_filters.append(FilterOption("fu-none", "no follow-up", count("fu-none")))
    event_filters = [FilterOption(event_key[n], n, count(event_key[n])) for n in event_names]

    shown = {r.id for r in records}
    fu_counts = {s: 0 for s in FOLLOWUP_STATES}
    for cid, rows in followups.items():
        if cid in shown:
            for f in rows:
                fu_counts[f.state] = fu_counts.get(f.state, 0) + 1
    photos_done = int(stats.get("photos_done", 0))
    photos_failed = int(stats.get("photos_failed", len(failures)))
    summary = {
        "photos_processed": photos_done + photos_failed,
        "photos_done": photos_done,
        "photos_failed": photos_failed,
        "photos_pending": int(stats.get("photos_pending", 0)),
        "contacts": int(stats.get("contacts", len(records))),
        "contacts_needing_review": int(stats.get("contacts_needing_review", sum(v.review for v in views))),
        "fields_needing_review": int(stats.get("fields_needing_review", sum(x.review for v in views for x in v.values))),
        "duplicates": sum(1 for p in duplicates if p.a in shown and p.b in shown),
        "followups": {s: n for s, n in fu_counts.items() if n},
    }
    fails = [{"path": visible_text(f.path), "reason": visible_text(f.reason), "attempts": f.attempts} for f in failures]
    return {
        "title": visible_text(title),
        "summary": summary,
        "failures": fails,
        "contacts": views,
        "threshold": policy.percent,
        "generated_at": generated_at,
        "state_filters": [f for f in state_filters if f.count],
        "event_filters": event_filters if len(event_filters) > 1 else [],
        "csp": CSP,
    }


def _heading(rec: ContactRecord) -> str:
    c = rec.contact
    h = next((f.value for f in (c.name, c.company) if f is not None and f.value.strip()), None)
    if h is None:
        h = c.emails[0].value if c.emails else f"Contact {rec.id}"
    return visible_text(h)


def render_report(
    records: Sequence[ContactRecord],
    *,
    stats: Mapping[str, int],
    failures: Sequence[Failure],
    title: str = DEFAULT_TITLE,
    policy: ReviewPolicy = DEFAULT_POLICY,
    generated_at: str | None = None,
    followups: Mapping[int, Sequence[FollowupRow]] | None = None,
    duplicates: Sequence[DuplicatePair] = (),
) -> str:
    """The report as one HTML string; contacts needing review come first."""
    ctx = report_context(records, stats=stats, failures=failures, title=title, policy=policy,
                         generated_at=generated_at, followups=followups, duplicates=duplicates)
    return _environment().get_template("report.html.j2").render(**ctx)


def write_report(
    store: Store,
    path: Path | str,
    *,
    event: str | None = None,
    policy: ReviewPolicy = DEFAULT_POLICY,
    title: str | None = None,
) -> Path:
    """Render the store's contacts (of one event, when given) and replace ``path`` atomically."""
    path = Path(path)
    data = load_report_data(store, event=event, policy=policy)
    html = render_report(
        data.records,
        stats=data.stats,
        failures=data.failures,
        title=title or (f"{DEFAULT_TITLE}: {event}" if event else DEFAULT_TITLE),
        policy=policy,
        generated_at=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        followups=data.followups,
        duplicates=data.duplicates,
    )
    write_atomic(path, html.encode("utf-8"), what="report")
    log.info("wrote report %s (%d contacts)", path, len(data.records))
    return path


__all__ = ["CSP", "ContactView", "DuplicatePair", "DuplicateView", "FollowupRow", "FollowupView", "ReportData",
           "ValueView", "contact_view", "duplicate_pairs", "environment", "load_followups", "load_report_data",
           "mailto_href", "render_report", "report_context", "tel_href", "visible_text", "website_href",
           "write_report"]
