"""The follow-up queue: one personal e-mail per contact, written as a draft, sent once, after approval.

States (the ``followups`` table of :mod:`cardscan.store`)::

    draft -> approved -> sending -> sent
      |         |           |-> failed   transient (4xx, server unreachable): next_attempt_at set,
      |         |           |            retried with doubling back-off up to max_attempts
      |         |           |-> failed   permanent (5xx, bad header, attempts used up): next_attempt_at NULL
      |         |           '-> uncertain  the connection broke after the message text was sent:
      |         |                          never resent automatically; a person decides
      '---------'-> skipped

``sending`` is committed BEFORE the connection is opened, so a second ``send`` (or a crash and a
rerun) can never send an entry twice: a row found in ``sending`` whose sender is gone becomes
``uncertain``.  The Message-ID is fixed when an entry is approved and never changes.

Drafts are rendered from a Jinja2 text template (sandboxed, no autoescape, StrictUndefined):
the event's own template when there is one (``[templates]`` in the config, or
``<template_dir>/<event>.txt.j2``), else ``cardscan/templates/followup_default.txt.j2``.  The
first line of a rendered template is ``Subject: ...``, then a blank line, then the message.
"""
from __future__ import annotations

import logging
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from nameparser import HumanName

from cardscan.config import Config, default_template_dir
from cardscan.contacts.fields import DEFAULT_POLICY, ReviewPolicy
from cardscan.errors import ConfigError, SendError, ValidationError
from cardscan.followup.mailer import (PERMANENT, SENT, TRANSIENT, UNCERTAIN, Outcome, SmtpTransport, TokenBucket, build_message,
                     check_recipient, header_problem, new_message_id, write_eml)
from cardscan.models import Contact, Field
from cardscan.store import ContactRecord, Store

log = logging.getLogger(__name__)

DEFAULT_TEMPLATE = "followup_default.txt.j2"
TEMPLATES = Path(__file__).parent / "templates"
MAX_BACKOFF = 6 * 3600.0
EDITABLE_STATES = ("draft", "approved", "failed")
SKIPPABLE_STATES = ("draft", "approved", "failed", "uncertain")


# --------------------------------------------------------------------------------------------
# records


@dataclass(frozen=True)
class FollowupRecord:
    id: int
    contact_id: int
    event: str | None
    state: str
    to_addr: str
    subject: str
    body: str
    message_id: str | None
    attempts: int
    last_error: str | None
    next_attempt_at: float | None
    approved_at: str | None
    sent_at: str | None
    created_at: str
    updated_at: str

    @property
    def retry_pending(self) -> bool:
        """A transient failure that will be tried again."""
        return self.state == "failed" and self.next_attempt_at is not None

    @property
    def label(self) -> str:
        if self.state == "failed":
            return "failed (will retry)" if self.retry_pending else "failed (permanent)"
        return self.state


_COLS = ("f.id, f.contact_id, e.name, f.state, f.to_addr, f.subject, f.body, f.message_id, f.attempts, "
         "f.last_error, f.next_attempt_at, f.approved_at, f.sent_at, f.created_at, f.updated_at")
_FROM = "followups f LEFT JOIN events e ON e.id = f.event_id"


def _record(r: Sequence[Any]) -> FollowupRecord:
    return FollowupRecord(int(r[0]), int(r[1]), r[2], r[3], r[4], r[5], r[6], r[7], int(r[8]), r[9],
                          None if r[10] is None else float(r[10]), r[11], r[12], r[13], r[14])


def get(store: Store, followup_id: int) -> FollowupRecord:
    row = store.connection.execute(f"SELECT {_COLS} FROM {_FROM} WHERE f.id = ?", (followup_id,)).fetchone()
    if row is None:
        raise ValidationError(f"no follow-up #{followup_id}", hint="see `cardscan followup list`")
    return _record(row)


def entries(store: Store, *, state: str | None = None, event: str | None = None) -> list[FollowupRecord]:
    where, params = [], []
    if state is not None:
        where.append("f.state = ?")
        params.append(state)
    if event is not None:
        where.append("e.name = ?")
        params.append(event)
    sql = f"SELECT {_COLS} FROM {_FROM} WHERE {' AND '.join(where) or '1'} ORDER BY f.id"  # noqa: S608
    return [_record(r) for r in store.connection.execute(sql, params)]


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


# --------------------------------------------------------------------------------------------
# templates and drafts


@dataclass(frozen=True)
class Draft:
    subject: str
    body: str


def first_name(name: str | None) -> str:
    if not name:
        return ""
    h = HumanName(name)
    h.capitalize()
    return h.first or ""


def _event_date(store: Store, event: str | None) -> str:
    if not event:
        return ""
    row = store.connection.execute("SELECT date FROM events WHERE name = ?", (event,)).fetchone()
    return (row[0] or "") if row else ""


def template_context(rec: ContactRecord, config: Config, *, event_date: str = "", email: str = "") -> dict[str, Any]:
    c = rec.contact
    name = c.scalar("name") or ""
    return {
        "first_name": first_name(name),
        "full_name": name,
        "title": c.scalar("title") or "",
        "company": c.scalar("company") or "",
        "email": email,
        "event": rec.event or "",
        "event_date": event_date or "",
        "met_date": rec.created_at[:10],
        "note": "\n".join(rec.notes),
        "notes": list(rec.notes),
        "sender": {"name": config.sender.name, "address": config.sender.address,
                   "signature": config.sender.signature},
    }


def template_path(event: str | None, config: Config) -> Path | None:
    """The event's own template file, or None for the default one."""
    if not event:
        return None
    if event in config.followup.templates:
        p = config.followup.templates[event]
        if not p.is_file():
            raise ConfigError(f"template for event {event!r} not found: {p}", hint="fix [templates] in the config")
        return p
    if "/" in event or "\\" in event or event.startswith(".") or "\x00" in event:
        return None  # not usable as a file name
    folder = config.followup.template_dir or default_template_dir()
    p = folder / f"{event}.txt.j2"
    return p if p.is_file() else None


def _environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(autoescape=False, undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                                trim_blocks=True, lstrip_blocks=True)


def load_template_source(event: str | None, config: Config) -> tuple[str, str]:
    """(template text, name shown in errors)."""
    p = template_path(event, config)
    if p is None:
        return (TEMPLATES / DEFAULT_TEMPLATE).read_text(encoding="utf-8"), DEFAULT_TEMPLATE
    try:
        return p.read_text(encoding="utf-8"), str(p)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read template {p}: {exc}") from exc


def render_text(source: str, context: dict[str, Any], *, name: str = "template") -> str:
    try:
        return _environment().from_string(source).render(context)
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigError(f"template {name} line {exc.lineno}: {exc.message}") from None
    except jinja2.UndefinedError as exc:
        raise ConfigError(f"template {name}: {exc.message}",
                          hint="see the values listed in the default template's first lines") from None
    except jinja2.exceptions.SecurityError as exc:
        raise ConfigError(f"template {name} tried something unsafe: {exc}") from None
    except jinja2.TemplateError as exc:
        raise ConfigError(f"template {name}: {exc}") from None


def split_subject(text: str, *, name: str = "template") -> Draft:
    """'Subject: ...' line, blank line, body  ->  Draft.  ValidationError when the form is wrong."""
    text = text.replace("\r\n", "\n").lstrip("\n")
    head, sep, body = text.partition("\n")
    if not head.lower().startswith("subject:"):
        raise ValidationError(f"{name}: the first line must be 'Subject: ...'")
    subject = head[len("subject:"):].strip()
    if not subject:
        raise ValidationError(f"{name}: the subject is empty")
    body = body.lstrip("\n").rstrip() + "\n"
    if not body.strip():
        raise ValidationError(f"{name}: the message text is empty")
    return Draft(subject, body)


def render_draft(store: Store, rec: ContactRecord, config: Config, *, email: str = "") -> Draft:
    source, name = load_template_source(rec.event, config)
    text = render_text(source, template_context(rec, config, event_date=_event_date(store, rec.event), email=email),
                       name=name)
    try:
        return split_subject(text, name=name)
    except ValidationError as exc:
        raise ConfigError(exc.message) from None


# --------------------------------------------------------------------------------------------
# the queue: drafts


@dataclass(frozen=True)
class NotQueued:
    """A contact without a follow-up e-mail, and why: follow up another way (or fix the value)."""

    contact_id: int
    name: str
    company: str
    event: str | None
    reason: str
    phone: str = ""


@dataclass(frozen=True)
class DraftsResult:
    created: tuple[int, ...] = ()
    not_queued: tuple[NotQueued, ...] = ()
    error: str | None = None  # the config or template could not be used: nothing drafted


def pick_email(contact: Contact) -> tuple[Field | None, str, str | None]:
    """(field, normalised address, why none is usable)."""
    if not contact.emails:
        return None, "", "no e-mail address"
    reasons = []
    for f in contact.emails:
        try:
            return f, check_recipient(f.value), None
        except ValidationError as exc:
            reasons.append(exc.message)
    return None, "", "; ".join(reasons)


def _without_followup(conn: sqlite3.Connection) -> list[int]:
    rows = conn.execute(
        """
        SELECT c.id FROM contacts c
         WHERE c.merged_into IS NULL
           AND NOT EXISTS (SELECT 1 FROM followups f
                            WHERE f.contact_id = c.id AND ifnull(f.event_id, 0) = ifnull(c.event_id, 0))
           AND NOT EXISTS (SELECT 1 FROM followups f JOIN contacts m ON m.id = f.contact_id
                            WHERE m.merged_into = c.id AND f.state <> 'skipped')
         ORDER BY c.id
        """).fetchall()
    return [int(r[0]) for r in rows]


def _not_queued(rec: ContactRecord, reason: str) -> NotQueued:
    c = rec.contact
    phone = c.phones[0].number if c.phones else ""
    return NotQueued(rec.id, c.scalar("name") or "", c.scalar("company") or "", rec.event, reason, phone)


def ensure_drafts(store: Store, *, config: Config | None = None) -> DraftsResult:
    """Write a draft for every contact with a usable e-mail that has no follow-up yet.
    Idempotent: a contact gets at most one entry per event (a skipped one counts), and an address
    already queued for the event is not queued again.  Never raises for a bad template (the scan
    calls this): the problem is returned in ``error`` and logged.  ``config`` is the caller's (the
    CLI and the watcher read the file); None means the built-in defaults, no file is read here."""
    if config is None:
        config = Config()
    created: list[int] = []
    skipped: list[NotQueued] = []
    for cid in _without_followup(store.connection):
        try:
            rec = store.contact(cid)
        except KeyError:
            continue
        field, addr, why = pick_email(rec.contact)
        if field is None:
            skipped.append(_not_queued(rec, why or "no e-mail address"))
            continue
        name = rec.contact.scalar("name") or ""
        problem = header_problem(name) if name else None
        if problem:
            skipped.append(_not_queued(rec, f"the name {ascii(name)} {problem}; correct the name first"))
            continue
        try:
            draft = render_draft(store, rec, config, email=addr)
        except ConfigError as exc:
            log.warning("follow-up drafts not written: %s", exc)
            return DraftsResult(tuple(created), tuple(skipped), error=str(exc))
        problem = header_problem(draft.subject)
        if problem:
            skipped.append(_not_queued(rec, f"the subject {ascii(draft.subject)} {problem}; "
                                            "correct the company or the template"))
            continue
        fid = _insert_draft(store, cid, addr, draft)
        if isinstance(fid, str):
            skipped.append(_not_queued(rec, fid))
        elif fid is not None:
            created.append(fid)
    if created:
        log.info("%d follow-up draft(s) written", len(created))
    return DraftsResult(tuple(created), tuple(skipped))


def _insert_draft(store: Store, contact_id: int, addr: str, draft: Draft) -> int | str | None:
    """The new id; a reason (str) when the address is already queued; None when raced."""
    ts = _now_iso()
    with store.write() as conn:
        if contact_id not in _without_followup(conn):
            return None
        event_id = conn.execute("SELECT event_id FROM contacts WHERE id = ?", (contact_id,)).fetchone()[0]
        dup = conn.execute(
            "SELECT id FROM followups WHERE lower(to_addr) = lower(?) AND ifnull(event_id, 0) = ifnull(?, 0) "
            "ORDER BY state = 'skipped', id LIMIT 1", (addr, event_id)).fetchone()
        if dup:
            return f"{addr} already has follow-up #{dup[0]} for this event"
        try:
            cur = conn.execute(
                "INSERT INTO followups (contact_id, event_id, state, to_addr, subject, body, created_at, updated_at) "
                "VALUES (?, ?, 'draft', ?, ?, ?, ?, ?)",
                (contact_id, event_id, addr, draft.subject, draft.body, ts, ts))
        except sqlite3.IntegrityError:
            return None
        return int(cur.lastrowid or 0)


# --------------------------------------------------------------------------------------------
# review and approval


def email_problem(store: Store, entry: FollowupRecord, *,
                  policy: ReviewPolicy = DEFAULT_POLICY) -> tuple[str | None, str | None]:
    """(why the recipient cannot be approved or None, the contact's current address if it changed)."""
    try:
        rec = store.contact(entry.contact_id)
    except KeyError:
        return "the contact no longer exists", None
    field, addr, why = pick_email(rec.contact)
    current = None
    match = [f for f in rec.contact.emails if _norm(f.value) == _norm(entry.to_addr)]
    if match:
        field = match[0]
    elif field is None:
        return f"the contact has no usable e-mail any more ({why})", None
    else:
        current = addr
    if policy.needs_review(field):
        detail = f"confidence {field.confidence:.2f}"
        flags = [f for f in field.flags]
        if flags:
            detail += ", " + ", ".join(flags)
        if field.message:
            detail += f": {field.message}"
        return (f"e-mail {field.value} is flagged for review ({detail}); check it against the card, then "
                f"correct or confirm it: cardscan edit {rec.id} --email ADDRESS", current)
    return None, current


def _norm(addr: str) -> str:
    try:
        return check_recipient(addr).lower()
    except ValidationError:
        return addr.strip().lower()


@dataclass(frozen=True)
class ApproveResult:
    approved: tuple[int, ...] = ()
    refused: tuple[tuple[int, str], ...] = ()


def approve(store: Store, ids: Iterable[int], *, config: Config | None = None,
            policy: ReviewPolicy = DEFAULT_POLICY) -> ApproveResult:
    """Approve drafts.  Refused (with the reason): not a draft, a recipient flagged for review."""
    sender = config.sender.address if config is not None else ""
    ok: list[int] = []
    refused: list[tuple[int, str]] = []
    for fid in ids:
        try:
            entry = get(store, fid)
        except ValidationError as exc:
            refused.append((fid, exc.message))
            continue
        if entry.state != "draft":
            refused.append((fid, f"it is {entry.label}, not a draft"))
            continue
        problem, current = email_problem(store, entry, policy=policy)
        if problem:
            refused.append((fid, problem))
            continue
        ts = _now_iso()
        with store.write() as conn:
            cur = conn.execute(
                "UPDATE followups SET state = 'approved', approved_at = ?, updated_at = ?, "
                "to_addr = ifnull(?, to_addr), message_id = ifnull(message_id, ?) "
                "WHERE id = ? AND state = 'draft' AND updated_at = ?",
                (ts, ts, current, new_message_id(sender), fid, entry.updated_at))
        if cur.rowcount != 1:
            refused.append((fid, "it changed meanwhile; look at it again"))
            continue
        if current:
            log.info("follow-up #%d: recipient is now %s (the contact's corrected address)", fid, current)
        ok.append(fid)
    return ApproveResult(tuple(ok), tuple(refused))


def reviewed_drafts(store: Store, *, policy: ReviewPolicy = DEFAULT_POLICY,
                    event: str | None = None) -> list[int]:
    """Drafts whose contact has nothing left to review (every field, the e-mail above all)."""
    out = []
    for entry in entries(store, state="draft", event=event):
        try:
            rec = store.contact(entry.contact_id)
        except KeyError:
            continue
        if rec.needs_review(policy):
            continue
        if email_problem(store, entry, policy=policy)[0] is None:
            out.append(entry.id)
    return out


def skip(store: Store, followup_id: int, *, reason: str = "") -> FollowupRecord:
    entry = get(store, followup_id)
    if entry.state not in SKIPPABLE_STATES:
        raise ValidationError(f"follow-up #{followup_id} is {entry.label} and cannot be skipped")
    ts = _now_iso()
    with store.write() as conn:
        cur = conn.execute(
            "UPDATE followups SET state = 'skipped', next_attempt_at = NULL, updated_at = ?, "
            "last_error = CASE WHEN ? <> '' THEN ? ELSE last_error END WHERE id = ? AND state = ?",
            (ts, reason, reason, followup_id, entry.state))
    if cur.rowcount != 1:
        raise ValidationError(f"follow-up #{followup_id} changed meanwhile; look at it again")
    return get(store, followup_id)


def retry(store: Store, followup_id: int) -> FollowupRecord:
    """A failed or uncertain entry goes back to approved (a person decided to send it again)."""
    entry = get(store, followup_id)
    if entry.state not in ("failed", "uncertain"):
        raise ValidationError(f"follow-up #{followup_id} is {entry.label}; only failed or uncertain ones can be retried")
    with store.write() as conn:
        conn.execute("UPDATE followups SET state = 'approved', attempts = 0, next_attempt_at = NULL, "
                     "updated_at = ? WHERE id = ? AND state = ?", (_now_iso(), followup_id, entry.state))
    return get(store, followup_id)


def mark_sent(store: Store, followup_id: int) -> FollowupRecord:
    """An uncertain entry that the person knows was delivered."""
    entry = get(store, followup_id)
    if entry.state not in ("uncertain", "failed"):
        raise ValidationError(f"follow-up #{followup_id} is {entry.label}; only uncertain or failed ones can be marked sent")
    ts = _now_iso()
    with store.write() as conn:
        conn.execute("UPDATE followups SET state = 'sent', sent_at = ?, next_attempt_at = NULL, updated_at = ? "
                     "WHERE id = ? AND state = ?", (ts, ts, followup_id, entry.state))
    return get(store, followup_id)


# --------------------------------------------------------------------------------------------
# editing


def edit_text(entry: FollowupRecord) -> str:
    return f"Subject: {entry.subject}\n\n{entry.body}"


def save_edit(store: Store, entry: FollowupRecord, text: str) -> FollowupRecord | None:
    """Store an edited 'Subject:' + body text.  None when nothing changed.  An approved or
    failed entry goes back to draft (it must be approved again)."""
    draft = split_subject(text, name="edited text")
    problem = header_problem(draft.subject)
    if problem:
        raise ValidationError(f"the subject {problem}")
    if "\x00" in draft.body:
        raise ValidationError("the message text contains a NUL character")
    if draft.subject == entry.subject and draft.body.rstrip() == entry.body.rstrip():
        return None
    if entry.state not in EDITABLE_STATES:
        raise ValidationError(f"follow-up #{entry.id} is {entry.label} and can no longer be edited")
    with store.write() as conn:
        cur = conn.execute(
            "UPDATE followups SET subject = ?, body = ?, state = 'draft', approved_at = NULL, next_attempt_at = NULL, "
            "updated_at = ? WHERE id = ? AND updated_at = ? AND state = ?",
            (draft.subject, draft.body, _now_iso(), entry.id, entry.updated_at, entry.state))
    if cur.rowcount != 1:
        raise ValidationError(f"follow-up #{entry.id} changed while you were editing; edit it again")
    return get(store, entry.id)


@dataclass(frozen=True)
class NoteResult:
    note_id: int
    draft_updated: int | None = None  # follow-up whose draft now includes the note
    draft_kept: int | None = None  # follow-up left alone (edited by hand, or past draft)


def add_note(store: Store, contact_id: int, text: str, *, config: Config | None = None) -> NoteResult:
    """Add a note to a contact and bring its draft up to date when the draft is exactly what the
    template wrote (a draft edited by hand is never overwritten)."""
    try:
        before_rec = store.contact(contact_id)
    except KeyError:
        raise ValidationError(f"no contact #{contact_id}", hint="see `cardscan followup list` or the report") from None
    entry = _live_entry(store, before_rec)
    before = None
    if entry is not None and entry.state == "draft" and config is not None:
        try:
            before = render_draft(store, before_rec, config, email=entry.to_addr)
        except ConfigError:
            before = None
    note_id = store.add_note(before_rec.id, text)
    if entry is None:
        return NoteResult(note_id)
    if before is None or (before.subject, before.body) != (entry.subject, entry.body):
        return NoteResult(note_id, draft_kept=entry.id)
    after = render_draft(store, store.contact(before_rec.id), config, email=entry.to_addr)  # type: ignore[arg-type]
    with store.write() as conn:
        cur = conn.execute("UPDATE followups SET subject = ?, body = ?, updated_at = ? "
                           "WHERE id = ? AND state = 'draft' AND updated_at = ?",
                           (after.subject, after.body, _now_iso(), entry.id, entry.updated_at))
    return NoteResult(note_id, draft_updated=entry.id) if cur.rowcount == 1 else NoteResult(note_id, draft_kept=entry.id)


def _live_entry(store: Store, rec: ContactRecord) -> FollowupRecord | None:
    row = store.connection.execute(
        f"SELECT {_COLS} FROM {_FROM} WHERE f.contact_id = ? AND f.state <> 'skipped' ORDER BY f.id DESC LIMIT 1",
        (rec.id,)).fetchone()
    return _record(row) if row else None


# --------------------------------------------------------------------------------------------
# sending


@dataclass(frozen=True)
class SendItem:
    id: int
    to_addr: str
    state: str  # the state after this run: sent | failed | uncertain | approved (dry run)
    reason: str = ""
    eml: Path | None = None


@dataclass(frozen=True)
class SendReport:
    items: tuple[SendItem, ...] = ()
    recovered: tuple[int, ...] = ()  # left in 'sending' by a crashed run: now uncertain
    waiting: int = 0  # transient failures not yet due
    stopped: str | None = None  # why the run stopped early (server unreachable)
    dry_run: bool = False

    def count(self, state: str) -> int:
        return sum(1 for i in self.items if i.state == state)


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_stale(claimed_by: str | None, lease_until: float | None, now: float) -> bool:
    if lease_until is None or lease_until <= now or not claimed_by:
        return True
    host, _, rest = claimed_by.partition(":")
    pid_s = rest.partition(":")[0]
    if host == socket.gethostname() and pid_s.isdigit():
        return not _pid_alive(int(pid_s))
    return False


def recover_stale(store: Store, *, now: float | None = None) -> list[int]:
    """Entries left in 'sending' by a run that died become 'uncertain' (never resent automatically)."""
    t = time.time() if now is None else now
    out = []
    rows = store.connection.execute(
        "SELECT id, claimed_by, lease_until FROM followups WHERE state = 'sending'").fetchall()
    for fid, claimed_by, lease in rows:
        if not _is_stale(claimed_by, lease, t):
            continue
        with store.write() as conn:
            cur = conn.execute(
                "UPDATE followups SET state = 'uncertain', lease_until = NULL, claimed_by = NULL, updated_at = ?, "
                "last_error = 'an earlier send stopped while sending it; it may have been delivered' "
                "WHERE id = ? AND state = 'sending' AND claimed_by IS ?", (_now_iso(), fid, claimed_by))
        if cur.rowcount == 1:
            log.warning("follow-up #%d was being sent when an earlier run stopped: marked uncertain", fid)
            out.append(int(fid))
    return out


def due(store: Store, *, now: float, limit: int | None = None) -> list[FollowupRecord]:
    rows = store.connection.execute(
        f"SELECT {_COLS} FROM {_FROM} WHERE f.state = 'approved' "
        f"OR (f.state = 'failed' AND f.next_attempt_at IS NOT NULL AND f.next_attempt_at <= ?) "
        f"ORDER BY f.id LIMIT ?", (now, -1 if limit is None else limit)).fetchall()
    return [_record(r) for r in rows]


def message_for(store: Store, entry: FollowupRecord, config: Config):  # noqa: ANN201 - EmailMessage
    """The message of an approved entry (ValidationError when a header value is unsafe)."""
    try:
        name = store.contact(entry.contact_id).contact.scalar("name")
    except KeyError:
        name = None
    return build_message(sender=config.require_sender(), to_addr=entry.to_addr, to_name=name,
                         subject=entry.subject, body=entry.body,
                         message_id=entry.message_id or new_message_id(config.sender.address))


def eml_name(entry: FollowupRecord) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "._-@" else "_" for ch in entry.to_addr)[:60]
    return f"followup-{entry.id:05d}-{safe}.eml"


def send_queue(store: Store, config: Config, *, dry_run: bool = False, limit: int | None = None,
               outbox: Path | None = None, transport: Any = None, bucket: TokenBucket | None = None,
               clock: Callable[[], float] = time.time,
               progress: Callable[[SendItem], None] | None = None) -> SendReport:
    """Send the approved entries (and transient failures that are due), each at most once."""
    t = clock()
    if limit is not None and limit < 1:
        raise ValidationError("--limit must be 1 or more")
    config.require_sender()
    items: list[SendItem] = []

    def done(item: SendItem) -> None:
        items.append(item)
        if progress is not None:
            progress(item)

    if dry_run:
        if outbox is None:
            raise ValidationError("--dry-run needs --outbox DIR for the .eml files")
        for entry in due(store, now=t, limit=limit):
            try:
                msg = message_for(store, entry, config)
            except ValidationError as exc:
                done(SendItem(entry.id, entry.to_addr, entry.state, exc.message))
                continue
            done(SendItem(entry.id, entry.to_addr, entry.state, "not sent (dry run)",
                          write_eml(msg, outbox, eml_name(entry))))
        return SendReport(tuple(items), waiting=_waiting(store, t), dry_run=True)

    recovered = recover_stale(store, now=t)
    todo = due(store, now=t, limit=limit)
    if not todo:
        return SendReport((), tuple(recovered), waiting=_waiting(store, t))
    own = transport is None
    if own:
        transport = SmtpTransport(config.require_smtp())
    bucket = bucket or TokenBucket(config.followup.rate_per_minute)
    worker = _worker_id()
    lease = max(300.0, 4 * config.smtp.timeout)
    stopped = None
    try:
        for entry in todo:
            try:
                msg = message_for(store, entry, config)
            except ValidationError as exc:
                _finish(store, entry.id, "failed", exc.message, next_at=None, expect=entry.state)
                done(SendItem(entry.id, entry.to_addr, "failed", exc.message))
                continue
            bucket.acquire()
            now = clock()
            if not _claim(store, entry, worker, now + lease):
                continue  # another sender took it
            attempts = entry.attempts + 1
            try:
                outcome: Outcome = transport.send(msg, [entry.to_addr])
            except SendError:
                _unclaim(store, entry, worker)  # nothing was handed over: as it was
                raise
            item = _apply(store, entry, attempts, outcome, config, now=clock())
            if item.state == "sent" and outbox is not None:
                item = SendItem(item.id, item.to_addr, item.state, item.reason,
                                write_eml(msg, outbox, eml_name(entry)))
            done(item)
            if outcome.connection_failed:
                stopped = outcome.reason
                break
    finally:
        if own:
            transport.close()
    return SendReport(tuple(items), tuple(recovered), waiting=_waiting(store, clock()), stopped=stopped)


def _waiting(store: Store, now: float) -> int:
    return int(store.connection.execute(
        "SELECT count(*) FROM followups WHERE state = 'failed' AND next_attempt_at > ?", (now,)).fetchone()[0])


def _claim(store: Store, entry: FollowupRecord, worker: str, lease_until: float) -> bool:
    """approved/failed -> sending, committed before any connection is opened."""
    with store.write() as conn:
        cur = conn.execute(
            "UPDATE followups SET state = 'sending', attempts = attempts + 1, claimed_by = ?, lease_until = ?, "
            "updated_at = ? WHERE id = ? AND state = ? AND updated_at = ?",
            (worker, lease_until, _now_iso(), entry.id, entry.state, entry.updated_at))
        return cur.rowcount == 1


def _unclaim(store: Store, entry: FollowupRecord, worker: str) -> None:
    with store.write() as conn:
        conn.execute(
            "UPDATE followups SET state = ?, attempts = ?, claimed_by = NULL, lease_until = NULL, updated_at = ? "
            "WHERE id = ? AND state = 'sending' AND claimed_by = ?",
            (entry.state, entry.attempts, _now_iso(), entry.id, worker))


def backoff(attempts: int, base: float) -> float:
    """Seconds to wait after the ``attempts``-th failed try: base, 2*base, 4*base ... capped."""
    return min(MAX_BACKOFF, base * (2 ** max(0, attempts - 1)))


def _apply(store: Store, entry: FollowupRecord, attempts: int, outcome: Outcome, config: Config, *,
           now: float) -> SendItem:
    if outcome.status == SENT:
        if outcome.refused:
            log.warning("follow-up #%d: some recipients refused: %s", entry.id, outcome.refused)
        _finish(store, entry.id, "sent", None, next_at=None)
        log.info("follow-up #%d sent to %s", entry.id, entry.to_addr)
        return SendItem(entry.id, entry.to_addr, "sent", outcome.reason)
    if outcome.status == UNCERTAIN:
        _finish(store, entry.id, "uncertain", outcome.reason, next_at=None)
        return SendItem(entry.id, entry.to_addr, "uncertain", outcome.reason)
    if outcome.status == TRANSIENT and attempts < config.followup.max_attempts:
        wait = backoff(attempts, config.followup.retry_after)
        reason = f"{outcome.reason} (attempt {attempts} of {config.followup.max_attempts}, retry in {wait:.0f} s)"
        _finish(store, entry.id, "failed", reason, next_at=now + wait)
        return SendItem(entry.id, entry.to_addr, "failed", reason)
    reason = outcome.reason
    if outcome.status == TRANSIENT:
        reason = f"gave up after {attempts} attempts: {reason}"
    assert outcome.status in (TRANSIENT, PERMANENT)
    _finish(store, entry.id, "failed", reason, next_at=None)
    return SendItem(entry.id, entry.to_addr, "failed", reason)


def _finish(store: Store, fid: int, state: str, reason: str | None, *, next_at: float | None,
            expect: str = "sending") -> None:
    ts = _now_iso()
    with store.write() as conn:
        conn.execute(
            "UPDATE followups SET state = ?, last_error = ?, next_attempt_at = ?, claimed_by = NULL, "
            "lease_until = NULL, sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END, updated_at = ? "
            "WHERE id = ? AND state = ?",
            (state, reason, next_at, state, ts, ts, fid, expect))


# --------------------------------------------------------------------------------------------
# reminders


@dataclass(frozen=True)
class Reminder:
    contact_id: int
    name: str
    company: str
    event: str | None
    met: str  # ISO date
    days: int
    followup_id: int | None
    state: str  # follow-up state, or "no e-mail"


def reminders(store: Store, *, days: int = 3, now: datetime | None = None) -> list[Reminder]:
    """Contacts met more than ``days`` days ago with no follow-up sent."""
    now = now or datetime.now(timezone.utc)
    sent = {int(r[0]) for r in store.connection.execute("SELECT contact_id FROM followups WHERE state = 'sent'")}
    live = {int(r[0]): (int(r[1]), r[2]) for r in store.connection.execute(
        "SELECT contact_id, id, state FROM followups WHERE state <> 'skipped' ORDER BY id")}
    skipped = {int(r[0]) for r in store.connection.execute("SELECT contact_id FROM followups WHERE state = 'skipped'")}
    event_dates = dict(store.events())
    out = []
    for cid, event, created in store.connection.execute(
            "SELECT c.id, e.name, c.created_at FROM contacts c LEFT JOIN events e ON e.id = c.event_id "
            "WHERE c.merged_into IS NULL ORDER BY c.id").fetchall():
        if cid in sent or (cid in skipped and cid not in live):
            continue
        met = (event_dates.get(event) if event else None) or created[:10]
        try:
            met_dt = datetime.fromisoformat(met[:10]).replace(tzinfo=timezone.utc)
        except ValueError:
            met_dt = datetime.fromisoformat(created[:10]).replace(tzinfo=timezone.utc)
        age = (now - met_dt).days
        if age <= days:
            continue
        rec = store.contact(cid)
        fid, state = live.get(cid, (None, "no e-mail" if not rec.contact.emails else "no draft"))
        out.append(Reminder(cid, rec.contact.scalar("name") or "", rec.contact.scalar("company") or "",
                            event, met[:10], age, fid, state))
    return out


__all__ = [
    "ApproveResult", "Draft", "DraftsResult", "FollowupRecord", "NoteResult", "NotQueued", "Reminder", "SendItem",
    "SendReport", "add_note", "approve", "backoff", "due", "edit_text", "email_problem", "ensure_drafts", "entries",
    "first_name", "get", "mark_sent", "message_for", "pick_email", "recover_stale", "reminders", "render_draft",
    "render_text", "retry", "reviewed_drafts", "save_edit", "send_queue", "skip", "split_subject", "template_context",
]
