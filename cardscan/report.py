"""The HTML report: one self-contained file that opens offline and makes no request.

Card crops are inlined as ``data:`` URIs, the CSS is inline, there is no script, and a
Content-Security-Policy meta tag forbids everything else.  Every value is escaped by Jinja2's
autoescape; links are made only from values that pass strict checks (validated e-mail ->
``mailto:``, E.164 number -> ``tel:``, http(s) host name -> the website).  Invisible bidi /
zero-width characters are shown as ``[U+XXXX]`` so a value cannot disguise itself.
"""
from __future__ import annotations

import base64
import logging
import os
import re
import tempfile
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

import jinja2

from .errors import OutputAccessError
from .models import SOURCE_QR, SOURCE_USER, Field, Phone
from .store import DEFAULT_REVIEW_THRESHOLD, ContactRecord, Failure, field_needs_review

if TYPE_CHECKING:
    import numpy as np

    from .store import Store

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"  # literal in the template
DEFAULT_TITLE = "cardscan report"

_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_HOST = re.compile(r"^(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})$")
_URL_CHARS = re.compile(r"^[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+$")  # RFC 3986, no quotes / spaces / < >
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


def website_href(value: str) -> str | None:
    """The http(s) URL for a website value (``www.x.com`` gets ``https://``), else None:
    other schemes, credentials in the URL, odd characters or a host that is not a domain name."""
    v = value.strip()
    if not v or not _URL_CHARS.match(v):
        return None
    if "://" not in v:
        if ":" in v.split("/", 1)[0] or v.lower().startswith(("javascript", "data", "vbscript", "file")):
            return None
        v = "https://" + v
    try:
        parts = urlsplit(v)
        host = parts.hostname
        _ = parts.port  # raises on a bad port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or "@" in parts.netloc or not host or not _HOST.match(host):
        return None
    return v


# --------------------------------------------------------------------------------------------
# view model (what the template shows)


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


def _value_view(label: str, v: Field | Phone, *, threshold: float, href: str | None) -> ValueView:
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
    low = v.source != SOURCE_USER and v.confidence < threshold
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
        review=field_needs_review(v, threshold) or hidden,
    )


def _data_uri(jpeg: bytes | None) -> str | None:
    if not jpeg or not jpeg.startswith(b"\xff\xd8\xff"):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def contact_view(rec: ContactRecord, *, threshold: float = DEFAULT_REVIEW_THRESHOLD) -> ContactView:
    c = rec.contact
    vals: list[ValueView] = []
    for label, f in (("Name", c.name), ("Title", c.title), ("Company", c.company)):
        if f is not None:
            vals.append(_value_view(label, f, threshold=threshold, href=None))
    for e in c.emails:
        vals.append(_value_view("E-mail", e, threshold=threshold, href=mailto_href(e.value)))
    for p in c.phones:
        vals.append(_value_view("Phone", p, threshold=threshold, href=tel_href(p.number)))
    for w in c.websites:
        vals.append(_value_view("Website", w, threshold=threshold, href=website_href(w.value)))
    if c.address is not None:
        vals.append(_value_view("Address", c.address, threshold=threshold, href=None))
    heading = next((f.value for f in (c.name, c.company) if f is not None and f.value.strip()), None)
    if heading is None:
        heading = c.emails[0].value if c.emails else f"Contact {rec.id}"
    review = rec.needs_review(threshold) or any(v.review for v in vals)
    return ContactView(
        id=rec.id,
        heading=visible_text(heading),
        values=tuple(vals),
        images=tuple(u for u in (_data_uri(k.crop_jpeg) for k in rec.cards) if u),
        event=visible_text(rec.event) if rec.event else None,
        notes=tuple(visible_text(n) for n in rec.notes),
        raw_text=visible_text(c.raw_text),
        files=tuple(visible_text(k.path) for k in rec.cards),
        review=review and not rec.reviewed,
        reviewed=rec.reviewed,
    )


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


def render_report(
    records: Sequence[ContactRecord],
    *,
    stats: Mapping[str, int],
    failures: Sequence[Failure],
    title: str = DEFAULT_TITLE,
    threshold: float = DEFAULT_REVIEW_THRESHOLD,
    generated_at: str | None = None,
) -> str:
    """The report as one HTML string; contacts needing review come first."""
    views = [contact_view(r, threshold=threshold) for r in records]
    views.sort(key=lambda v: (not v.review,))  # stable: creation order within each group
    summary = {
        "photos_done": int(stats.get("photos_done", 0)),
        "photos_failed": int(stats.get("photos_failed", len(failures))),
        "photos_pending": int(stats.get("photos_pending", 0)),
        "contacts": int(stats.get("contacts", len(records))),
        "contacts_needing_review": int(stats.get("contacts_needing_review", sum(v.review for v in views))),
        "fields_needing_review": int(stats.get("fields_needing_review", sum(x.review for v in views for x in v.values))),
    }
    fails = [{"path": visible_text(f.path), "reason": visible_text(f.reason), "attempts": f.attempts} for f in failures]
    return _environment().get_template("report.html.j2").render(
        title=visible_text(title),
        summary=summary,
        failures=fails,
        contacts=views,
        threshold=round(threshold * 100),
        generated_at=generated_at,
    )


def write_report(
    store: Store,
    path: Path | str,
    *,
    event: str | None = None,
    threshold: float = DEFAULT_REVIEW_THRESHOLD,
    title: str | None = None,
) -> Path:
    """Render the store's contacts (of one event, when given) and replace ``path`` atomically."""
    path = Path(path)
    records = store.contacts(event=event)
    html = render_report(
        records,
        stats=store.stats(event=event, threshold=threshold),
        failures=store.failures(),
        title=title or (f"{DEFAULT_TITLE}: {event}" if event else DEFAULT_TITLE),
        threshold=threshold,
        generated_at=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    )
    _atomic_write(path, html.encode("utf-8"))
    log.info("wrote report %s (%d contacts)", path, len(records))
    return path


def _atomic_write(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then ``os.replace``: readers see the
    old file or the new one, never half of one."""
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OutputAccessError(f"cannot write report {path}: folder {parent} does not exist",
                                hint="create the folder or choose another --report path")
    if path.is_dir():
        raise OutputAccessError(f"cannot write report {path}: it is a folder", hint="choose a file name ending in .html")
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)  # keep the old file's permissions
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise OutputAccessError(f"cannot write report {path}: {exc.strerror or exc}",
                                hint="check that the folder is writable and the disk not full") from exc
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


__all__ = ["CSP", "ContactView", "ValueView", "contact_view", "mailto_href", "render_report",
           "tel_href", "visible_text", "website_href", "write_report"]
