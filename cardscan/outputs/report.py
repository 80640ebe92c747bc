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
buttons with generated ``:checked ~`` CSS rules, so they work without a script.  So is the
outline of where a field was read: a click on the field's name checks a hidden radio button, and
a generated ``:has(...:checked)`` rule shows that value's boxes over the crop (the boxes come
with the crop, see :mod:`cardscan.reading.where`).
"""
from __future__ import annotations

import base64
import logging
import re
import unicodedata
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from dataclasses import field as dc_field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import jinja2

from cardscan.contacts.validate import check_email, website_href
from cardscan.errors import ValidationError
from cardscan.safety import check_output_path
from cardscan.reading import where
from cardscan.reading.files import short_path, write_atomic
from cardscan.models import SOURCE_QR, SOURCE_USER, Field, Phone
from cardscan.contacts.fields import DEFAULT_POLICY, ReviewPolicy
from cardscan.followup.queue import identity_gaps
from cardscan.store import ContactRecord, Failure, FollowupRow

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
    """``mailto:`` link for an address that passes ``contacts.validate.check_email``, else None."""
    try:
        addr = check_email(value)
    except ValidationError:
        return None
    return "mailto:" + quote(addr, safe="@.+-_")


def tel_href(number: str) -> str | None:
    return "tel:" + number if _E164.match(number) else None


# --------------------------------------------------------------------------------------------
# view model (what the template shows)


FOLLOWUP_STATES = ("draft", "approved", "sending", "sent", "drafted", "failed", "uncertain", "skipped")
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
    located: bool = False  # where on the card it was read is known: its label shows it

    @property
    def key(self) -> str:
        return f"{self.field}-{self.position}"


@dataclass(frozen=True)
class PlaceView:
    """Where on crop ``photo`` (1-based, the order of ContactView.photos) value ``key`` was read:
    percentages of the crop's width and height."""

    photo: int
    key: str
    left: float
    top: float
    width: float
    height: float


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
    kind: str = "followup"
    kind_label: str = "Follow-up"


KIND_LABELS = {"followup": "Follow-up", "intro_ask": "Introduction ask", "intro": "Introduction",
               "share": "Shared link"}


@dataclass(frozen=True)
class IntroLine:
    """An introduction as one of its two contacts sees it."""

    id: int
    other_id: int
    other_name: str
    state: str  # asking | introducing | introduced | declined | cancelled
    answer: str | None  # this contact's answer
    other_answer: str | None
    why: str
    can_answer: bool


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
    asks: tuple[str, ...] = ()
    offers: tuple[str, ...] = ()
    intros: tuple[IntroLine, ...] = ()
    followup_state: str = "none"  # state of the live entry, "skipped" or "none": the filters use it
    synced: str | None = None  # where and when the contact was last written to a CardDAV address book
    filter_keys: tuple[str, ...] = ()  # CSS classes the filter rules match
    gaps: tuple[str, ...] = ()  # "no name read: the draft says 'Hello there,'", "no company read"
    places: tuple[PlaceView, ...] = ()  # where each value was read, on which crop


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
        kind=f.kind, kind_label=KIND_LABELS.get(f.kind, f.kind),
    )


def _followup_state(rows: Sequence[FollowupRow]) -> str:
    rows = [f for f in rows if f.kind == "followup"]  # introductions and shares are not follow-ups
    live = [f for f in rows if f.state != "skipped"]
    if live:
        return live[-1].state
    return "skipped" if rows else "none"


def contact_view(rec: ContactRecord, *, policy: ReviewPolicy = DEFAULT_POLICY,
                 followups: Sequence[FollowupRow] = (), duplicates: Sequence[DuplicateView] = (),
                 synced: str | None = None, intros: Sequence[IntroLine] = ()) -> ContactView:
    c = rec.contact
    vals: list[ValueView] = []
    for label, name in (("Name", "name"), ("Name (other script)", "other_name"), ("Title", "title"),
                        ("Company", "company")):
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
    crops = [k.crop_jpeg for k in rec.cards if _data_uri(k.crop_jpeg)]
    photos = tuple((u, k.sha256) for k in rec.cards if (u := _data_uri(k.crop_jpeg)))
    places = _places(crops, vals)
    located = {p.key for p in places}
    vals = [replace(v, located=v.key in located) for v in vals]
    return ContactView(
        id=rec.id,
        heading=visible_text(heading),
        values=tuple(vals),
        images=tuple(u for u, _ in photos),
        event=visible_text(rec.event) if rec.event else None,
        notes=tuple(visible_text(n) for n in rec.notes),
        raw_text=visible_text(c.raw_text),
        files=tuple(visible_text(short_path(k.path)) for k in rec.cards),
        review=review and not rec.reviewed,
        reviewed=rec.reviewed,
        photos=photos,
        followups=tuple(followup_view(f) for f in followups),
        duplicates=tuple(duplicates),
        asks=tuple(visible_text(a) for a in rec.asks),
        offers=tuple(visible_text(o) for o in rec.offers),
        intros=tuple(intros),
        followup_state=_followup_state(followups),
        gaps=identity_gaps(c, [f.body for f in followups if f.body]),
        synced=visible_text(synced) if synced else None,
        places=places,
    )


def _places(crops: Sequence[bytes | None], values: Sequence[ValueView]) -> tuple[PlaceView, ...]:
    """Where on each crop the contact's values were read (the boxes the reader kept with the
    crop, :mod:`cardscan.reading.where`), matched by field and value: a value a person edited, or
    one a merge took from another card, is marked only where that very value was read."""
    out = []
    for i, jpeg in enumerate(crops, 1):
        boxes = where.read(jpeg)
        for v in values:
            if v.edited:
                continue
            for b in boxes:
                if b["field"] == v.field and b["value"] == v.original:
                    left, top, width, height = (round(100 * float(x), 2) for x in b["box"])
                    out.append(PlaceView(i, v.key, left, top, width, height))
    return tuple(out)


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
    synced: Mapping[int, str] = dc_field(default_factory=dict)  # contact id -> "synced to ... at ..."
    intros: Mapping[int, tuple[IntroLine, ...]] = dc_field(default_factory=dict)


def load_followups(store: Store) -> dict[int, tuple[FollowupRow, ...]]:
    """Every follow-up entry by contact id (a merged contact's entries go to its survivor)."""
    return store.followups_by_contact()


def sync_lines(store: Store) -> dict[int, str]:
    """Per contact, where and when it was last written to a CardDAV address book (or why not)."""
    from cardscan.store import sync as q

    out = {}
    for cid, r in q.last_synced(store).items():
        when = r.synced_at[:16].replace("T", " ") + " UTC"
        if r.state == "synced":
            out[cid] = f"In the address book {r.collection} (synced {when})"
        elif r.state == "conflict":
            out[cid] = f"Address book {r.collection}: {r.detail or 'conflict'} (last synced {when})"
        else:
            out[cid] = f"Address book {r.collection}: {r.detail or 'deleted'}"
    return out


def load_report_data(store: Store, *, event: str | None = None,
                     policy: ReviewPolicy = DEFAULT_POLICY) -> ReportData:
    """Everything the report shows, read from the store (contacts of one event when given)."""
    with store.read():
        records = tuple(store.contacts(event=event))
        stats = store.stats(event=event, policy=policy)
        failures = tuple(store.failures())
        followups = load_followups(store)
        dismissed = store.dismissed_duplicates()
        events = tuple(name for name, _ in store.events())
        synced = sync_lines(store)
        intros = load_intros(store)
    return ReportData(records, stats, failures, followups, tuple(duplicate_pairs(records, dismissed=dismissed)),
                      events, synced, intros)


def load_intros(store: Store) -> dict[int, tuple[IntroLine, ...]]:
    """Every introduction, listed under both of its contacts."""
    from cardscan.followup import intros as it

    out: dict[int, list[IntroLine]] = {}
    for v in it.list_intros(store):
        for me, other, name, ans, other_ans in ((v.contact_a, v.contact_b, v.name_b, v.answer_a, v.answer_b),
                                                (v.contact_b, v.contact_a, v.name_a, v.answer_b, v.answer_a)):
            out.setdefault(me, []).append(IntroLine(
                v.id, other, visible_text(name), v.state, ans, other_ans, visible_text(v.why),
                can_answer=v.state == "asking" and ans is None))
    return {k: tuple(x) for k, x in out.items()}


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
    synced: Mapping[int, str] | None = None,
    intros: Mapping[int, Sequence[IntroLine]] | None = None,
) -> dict[str, object]:
    """The template variables of ``report.html.j2`` (``review.html.j2`` adds its own)."""
    followups = followups or {}
    synced = synced or {}
    headings = {r.id: r for r in records}
    dup_views: dict[int, list[DuplicateView]] = {}
    for p in duplicates:
        if p.a in headings and p.b in headings:
            for me, other in ((p.a, p.b), (p.b, p.a)):
                dup_views.setdefault(me, []).append(
                    DuplicateView(other, _heading(headings[other]), visible_text(p.reason)))
    intros = intros or {}
    views = [contact_view(r, policy=policy, followups=followups.get(r.id, ()), duplicates=dup_views.get(r.id, ()),
                          synced=synced.get(r.id), intros=intros.get(r.id, ()))
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
    fails = [{"path": visible_text(short_path(f.path)), "reason": visible_text(f.reason), "attempts": f.attempts} for f in failures]
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
        "place_keys": sorted({p.key for v in views for p in v.places}),
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
    synced: Mapping[int, str] | None = None,
    intros: Mapping[int, Sequence[IntroLine]] | None = None,
) -> str:
    """The report as one HTML string; contacts needing review come first."""
    ctx = report_context(records, stats=stats, failures=failures, title=title, policy=policy,
                         generated_at=generated_at, followups=followups, duplicates=duplicates, synced=synced,
                         intros=intros)
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
    check_output_path(path, store.path, what="report")
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
        synced=data.synced,
        intros=data.intros,
    )
    write_atomic(path, html.encode("utf-8"), what="report")
    log.info("wrote report %s (%d contacts)", path, len(data.records))
    return path


__all__ = ["CSP", "ContactView", "DuplicatePair", "DuplicateView", "FollowupRow", "FollowupView", "IntroLine",
           "ReportData",
           "ValueView", "contact_view", "duplicate_pairs", "environment", "load_followups", "load_report_data",
           "mailto_href", "render_report", "report_context", "sync_lines", "tel_href", "visible_text", "website_href",
           "write_report"]
