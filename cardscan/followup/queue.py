"""The follow-up queue: one personal e-mail per contact, written as a draft, sent once, after approval.

States (the ``followups`` table of :mod:`cardscan.store`)::

    draft -> approved -> sending -> sent      (SMTP; or 'drafted': put into the IMAP Drafts folder,
      |         |           |                  see followup/imap.py)
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
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from cardscan.config import Config, SenderConfig, default_template_dir
from cardscan.contacts.fields import DEFAULT_POLICY, ReviewPolicy
from cardscan.contacts.names import parse_name
from cardscan.errors import ConfigError, SendError, ValidationError
from cardscan.followup.mailer import (PERMANENT, SENT, TRANSIENT, UNCERTAIN, Outcome, SmtpTransport, TokenBucket, build_message,
                     check_recipient, header_problem, new_message_id, write_eml)
from cardscan.models import Contact, Field
from cardscan.store import ContactRecord, FollowupRecord, Store
from cardscan.store.claims import owner_alive, worker_id

log = logging.getLogger(__name__)

DEFAULT_TEMPLATE = "followup_default.txt.j2"
TEMPLATES = Path(__file__).parent / "templates"
MAX_BACKOFF = 6 * 3600.0
EDITABLE_STATES = ("draft", "approved", "failed")
FLAGGED = "is flagged for review"  # in a refusal: the e-mail needs a person's check (see email_edit_command)
SKIPPABLE_STATES = ("draft", "approved", "failed", "uncertain")


# --------------------------------------------------------------------------------------------
# records


def get(store: Store, followup_id: int) -> FollowupRecord:
    entry = store.followup(followup_id)
    if entry is None:
        raise ValidationError(f"no follow-up #{followup_id}", hint="see `cardscan followup list`")
    return entry


def entries(store: Store, *, state: str | None = None, event: str | None = None,
            kind: str | None = None) -> list[FollowupRecord]:
    return store.followups(state=state, event=event, kind=kind)


# --------------------------------------------------------------------------------------------
# templates and drafts


@dataclass(frozen=True)
class Draft:
    subject: str
    body: str


def first_name(name: str | None) -> str:
    parts = parse_name(name, capitalize=True)
    return parts.given if parts else ""


def _event_date(store: Store, event: str | None) -> str:
    return store.event_date(event)


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


@lru_cache(maxsize=16)
def _compiled(source: str) -> jinja2.Template:
    """The template of this text, compiled once: a scan renders a draft for every new contact from
    the same template, and compiling it cost ~25 ms a draft against ~1 ms to render it. A text
    that does not compile raises each time (exceptions are not cached)."""
    return _environment().from_string(source)


def render_text(source: str, context: dict[str, Any], *, name: str = "template") -> str:
    try:
        return _compiled(source).render(context)
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
    for cid in store.contacts_without_followup():
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
    new_id, duplicate_of = store.insert_draft(contact_id, addr, draft.subject, draft.body)
    if duplicate_of is not None:
        return f"{addr} already has follow-up #{duplicate_of} for this event"
    return new_id


# --------------------------------------------------------------------------------------------
# review and approval


def identity_gaps(contact: Contact, bodies: Iterable[str] = ()) -> tuple[str, ...]:
    """What the card did not give about the person, said instead of passing silently: a draft
    that greets nobody or names no firm is the follow-up that does harm. With the drafts' bodies
    the missing name says how the draft greets ("no name read: the draft says 'Hello there,'")."""
    out = []
    if not contact.scalar("name"):
        greet = next((line.strip() for b in bodies for line in b.splitlines()
                      if line.strip().lower().startswith(("hello there", "hi there", "dear sir", "dear there"))), None)
        out.append("no name read" + (f": the draft says '{greet}'" if greet else ""))
    for f in ("company", "title"):
        if not contact.scalar(f):
            out.append(f"no {f} read")
    return tuple(out)


def email_problem(store: Store, entry: FollowupRecord, *,
                  policy: ReviewPolicy = DEFAULT_POLICY) -> tuple[str | None, str | None]:
    """(why the recipient cannot be approved or None, the contact's current address if it changed)."""
    return address_problem(store, entry.contact_id, entry.to_addr, policy=policy)


def address_problem(store: Store, contact_id: int, to_addr: str, *,
                    policy: ReviewPolicy = DEFAULT_POLICY) -> tuple[str | None, str | None]:
    """Like :func:`email_problem` for any (contact, address); a merged contact's survivor is checked."""
    try:
        rec = store.contact(contact_id)
    except KeyError:
        return "the contact no longer exists", None
    field, addr, why = pick_email(rec.contact)
    current = None
    match = [f for f in rec.contact.emails if _norm(f.value) == _norm(to_addr)]
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
        return (f"e-mail {field.value} of contact #{rec.id} {FLAGGED} ({detail}); check it against "
                f"the card, then correct or confirm it", current)
    return None, current


def email_edit_command(contact_id: int) -> str:
    """The command that corrects or confirms a contact's e-mail (what the CLI adds to a refusal;
    the review page points at the edit box beside the e-mail instead)."""
    return f"cardscan edit {contact_id} --email ADDRESS"


def _norm(addr: str) -> str:
    try:
        return check_recipient(addr).lower()
    except ValidationError:
        return addr.strip().lower()


@dataclass(frozen=True)
class ApproveResult:
    approved: tuple[int, ...] = ()
    refused: tuple[tuple[int, str], ...] = ()
    email_to_check: tuple[tuple[int, int], ...] = ()  # (follow-up, contact): refused for its flagged e-mail


def approve(store: Store, ids: Iterable[int], *, config: Config | None = None,
            policy: ReviewPolicy = DEFAULT_POLICY) -> ApproveResult:
    """Approve drafts.  Refused (with the reason): not a draft, a recipient flagged for review."""
    sender = config.sender.address if config is not None else ""
    ok: list[int] = []
    refused: list[tuple[int, str]] = []
    to_check: list[tuple[int, int]] = []
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
        other_current, whose = None, entry.contact_id
        if not problem and entry.other_contact_id is not None and entry.other_addr:
            whose = entry.other_contact_id
            problem, other_current = address_problem(store, whose, entry.other_addr, policy=policy)
        if problem:
            refused.append((fid, problem))
            if FLAGGED in problem:
                to_check.append((fid, _survivor(store, whose)))
            continue
        if config is not None and not current:
            entry = refresh_text(store, entry, config)
        if not store.approve_followup(entry, to_addr=current, other_addr=other_current,
                                      message_id=new_message_id(sender)):
            refused.append((fid, "it changed meanwhile; look at it again"))
            continue
        if current:
            log.info("follow-up #%d: recipient is now %s (the contact's corrected address)", fid, current)
        ok.append(fid)
    return ApproveResult(tuple(ok), tuple(refused), tuple(to_check))


def _survivor(store: Store, contact_id: int) -> int:
    try:
        return store.contact(contact_id).id
    except KeyError:
        return contact_id


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
    if not store.skip_followup(entry, reason):
        raise ValidationError(f"follow-up #{followup_id} changed meanwhile; look at it again")
    return get(store, followup_id)


def retry(store: Store, followup_id: int) -> FollowupRecord:
    """A failed or uncertain entry goes back to approved (a person decided to send it again)."""
    entry = get(store, followup_id)
    if entry.state not in ("failed", "uncertain"):
        raise ValidationError(f"follow-up #{followup_id} is {entry.label}; only failed or uncertain ones can be retried")
    store.retry_followup(entry)
    return get(store, followup_id)


def mark_sent(store: Store, followup_id: int) -> FollowupRecord:
    """An uncertain entry that the person knows was delivered."""
    entry = get(store, followup_id)
    if entry.state not in ("uncertain", "failed"):
        raise ValidationError(f"follow-up #{followup_id} is {entry.label}; only uncertain or failed ones can be marked sent")
    store.mark_followup_sent(entry)
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
    if not store.save_followup_text(entry, draft.subject, draft.body, back_to_draft=True):
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
    untouched = entry is not None and entry.state == "draft" and config is not None and \
        _untouched(store, entry, before_rec, config)
    note_id = store.add_note(before_rec.id, text)
    if entry is None:
        return NoteResult(note_id)
    if not untouched:
        return NoteResult(note_id, draft_kept=entry.id)
    try:
        after = render_draft(store, store.contact(before_rec.id), config, email=entry.to_addr)  # type: ignore[arg-type]
    except ConfigError as exc:
        log.warning("follow-up #%d: draft not rewritten with the note (%s)", entry.id, exc)
        return NoteResult(note_id, draft_kept=entry.id)
    saved = store.save_followup_text(entry, after.subject, after.body, back_to_draft=False)
    return NoteResult(note_id, draft_updated=entry.id) if saved else NoteResult(note_id, draft_kept=entry.id)


def _live_entry(store: Store, rec: ContactRecord) -> FollowupRecord | None:
    return store.live_followup(rec.id)


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


def _is_stale(claimed_by: str | None, lease_until: float | None, now: float) -> bool:
    """The lease ran out, or its owner on this host is certainly gone (``store.claims.owner_alive``)."""
    if lease_until is None or lease_until <= now or not claimed_by:
        return True
    return not owner_alive(claimed_by)


def recover_stale(store: Store, *, now: float | None = None) -> list[int]:
    """Entries left in 'sending' by a run that died become 'uncertain' (never resent automatically)."""
    t = time.time() if now is None else now
    out = []
    for fid, claimed_by, lease in store.sending_followups():
        if not _is_stale(claimed_by, lease, t):
            continue
        if store.mark_followup_uncertain(
                fid, claimed_by, "an earlier send stopped while sending it; it may have been delivered"):
            log.warning("follow-up #%d was being sent when an earlier run stopped: marked uncertain", fid)
            out.append(int(fid))
    return out


def due(store: Store, *, now: float, limit: int | None = None) -> list[FollowupRecord]:
    return store.due_followups(now=now, limit=limit)


def _untouched(store: Store, entry: FollowupRecord, rec: ContactRecord, config: Config) -> bool:
    """The entry's text is the template's (no person edited it).  Entries from before cardscan kept
    track of edits count as untouched only when their text is exactly what the template gives the
    contact ``rec`` now (with the config's sender, or with none: drafted before the config existed)."""
    if entry.edited is not None:
        return not entry.edited
    try:
        bare = replace(config, sender=SenderConfig())
        was = {(d.subject, d.body) for d in (render_draft(store, rec, c, email=entry.to_addr) for c in (config, bare))}
    except ConfigError:
        return False
    return (entry.subject, entry.body) in was


def refresh_text(store: Store, entry: FollowupRecord, config: Config) -> FollowupRecord:
    """The entry with the template's text rendered again from the current contact and config, as
    late as possible (approval, then sending): a signature or sender configured after the draft was
    written, an event date given later, or a name corrected since, reaches the message.  Text a
    person edited is never rewritten (see :func:`_untouched`).  Introductions and shares are left alone."""
    if entry.kind != "followup" or entry.edited or entry.state not in EDITABLE_STATES:
        return entry
    try:
        rec = store.contact(entry.contact_id)
        if not _untouched(store, entry, rec, config):
            return entry  # maybe a person's words: kept
        new = render_draft(store, rec, config, email=entry.to_addr)
    except KeyError:
        return entry
    except ConfigError as exc:
        log.warning("follow-up #%d: text kept as written (%s)", entry.id, exc)
        return entry
    if (new.subject, new.body) == (entry.subject, entry.body) or header_problem(new.subject):
        return entry
    if store.refresh_followup_text(entry, new.subject, new.body):
        log.info("follow-up #%d: text rendered again with the current sender and contact", entry.id)
    return get(store, entry.id)


def prepared(store: Store, entry: FollowupRecord, config: Config):  # noqa: ANN201 - (entry, EmailMessage)
    """(the entry with its text brought up to date, its message): what a send builds."""
    entry = refresh_text(store, entry, config)
    return entry, message_for(store, entry, config)


def message_for(store: Store, entry: FollowupRecord, config: Config):  # noqa: ANN201 - EmailMessage
    """The message of an approved entry (ValidationError when a header value is unsafe, or when
    an introduction or share may no longer be sent: see :func:`cardscan.followup.intros.check_sendable`)."""
    if entry.kind != "followup":
        from cardscan.followup.intros import check_sendable, message_for_intro

        check_sendable(store, entry)
        if entry.other_addr:
            return message_for_intro(store, entry, config)
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
                entry, msg = prepared(store, entry, config)
            except ValidationError as exc:
                done(SendItem(entry.id, entry.to_shown, entry.state, exc.message))
                continue
            done(SendItem(entry.id, entry.to_shown, entry.state, "not sent (dry run)",
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
    worker = worker_id()
    lease = max(300.0, 4 * config.smtp.timeout)
    stopped = None
    try:
        for entry in todo:
            try:
                entry, msg = prepared(store, entry, config)
            except ValidationError as exc:
                _finish(store, entry.id, "failed", exc.message, next_at=None, expect=entry.state)
                done(SendItem(entry.id, entry.to_shown, "failed", exc.message))
                continue
            bucket.acquire()
            now = clock()
            if not _claim(store, entry, worker, now + lease):
                continue  # another sender took it
            attempts = entry.attempts + 1
            try:
                outcome: Outcome = transport.send(msg, entry.recipients)
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
    return store.waiting_followups(now)


def _claim(store: Store, entry: FollowupRecord, worker: str, lease_until: float) -> bool:
    """approved/failed -> sending, committed before any connection is opened."""
    return store.claim_followup(entry, worker, lease_until)


def _unclaim(store: Store, entry: FollowupRecord, worker: str) -> None:
    store.unclaim_followup(entry, worker)


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
        return SendItem(entry.id, entry.to_shown, "sent", outcome.reason)
    if outcome.status == UNCERTAIN:
        _finish(store, entry.id, "uncertain", outcome.reason, next_at=None)
        return SendItem(entry.id, entry.to_shown, "uncertain", outcome.reason)
    if outcome.status == TRANSIENT and attempts < config.followup.max_attempts:
        wait = backoff(attempts, config.followup.retry_after)
        reason = f"{outcome.reason} (attempt {attempts} of {config.followup.max_attempts}, retry in {wait:.0f} s)"
        _finish(store, entry.id, "failed", reason, next_at=now + wait)
        return SendItem(entry.id, entry.to_shown, "failed", reason)
    reason = outcome.reason
    if outcome.status == TRANSIENT:
        reason = f"gave up after {attempts} attempts: {reason}"
    assert outcome.status in (TRANSIENT, PERMANENT)
    _finish(store, entry.id, "failed", reason, next_at=None)
    return SendItem(entry.id, entry.to_shown, "failed", reason)


def _finish(store: Store, fid: int, state: str, reason: str | None, *, next_at: float | None,
            expect: str = "sending") -> None:
    store.finish_followup(fid, state, reason, next_at=next_at, expect=expect)


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
    sent, live, skipped = store.followup_states()
    event_dates = dict(store.events())
    out = []
    for cid, event, created in store.contacts_met():
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
    "SendReport", "add_note", "address_problem", "approve", "backoff", "due", "edit_text", "email_edit_command", "email_problem", "ensure_drafts", "entries",
    "first_name", "get", "mark_sent", "message_for", "pick_email", "prepared", "recover_stale", "refresh_text", "reminders", "render_draft",
    "render_text", "retry", "reviewed_drafts", "save_edit", "send_queue", "skip", "split_subject", "template_context",
]
