"""Introductions (double opt-in), asks and offers, suggestions: the other half of networking.

An introduction between contacts A and B is a row of ``intros`` (SQL in
:mod:`cardscan.store.intros`) plus entries of the follow-up queue, so approval, sending once,
``--dry-run``, the rate limit and ``uncertain`` work exactly as for follow-ups:

- ``create(A, B)`` writes two ``intro_ask`` drafts, one to each ("would you like an introduction
  to B, who ...?"); ``direct=True`` skips them and writes the introduction draft at once.
- ``answer(ID, contact, yes|no)`` records one answer.  Both yes -> the ``intro`` draft: ONE
  message to both addresses.  A no ends it: the introduction becomes ``declined``, every entry of
  it not yet handed to a server is skipped, nothing more is ever written or sent for it, and the
  other person is told nothing (no message says who declined).
- Before any entry of these kinds is sent (or written by ``--dry-run``) :func:`check_sendable`
  checks again: the introduction is still on, each recipient is still the contact's own address,
  not flagged for review, and the contact has not been merged into another one (the entry follows
  a merge to the survivor; it must then be approved again).

Suggestions (:func:`suggest`) score every pair of contacts of different companies with rapidfuzz:
each of A's asks against each of B's offers (weight 1.0), B's title (0.9) and B's company (0.7),
and the other way round; texts are lower-cased, stop words dropped and common endings cut
("designer" -> "design") before ``fuzz.token_set_ratio`` (0-100; a short ask whose words all occur
in the offer scores 100).  A pair's score is its best match times the weight; pairs below
``min_score`` (60) are not listed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

from rapidfuzz import fuzz

from cardscan.config import Config, default_template_dir
from cardscan.errors import ConfigError, ValidationError
from cardscan.followup.mailer import build_message, check_header_text, check_recipient, header_problem, new_message_id
from cardscan.followup.queue import (FLAGGED, TEMPLATES, Draft, FollowupRecord, address_problem, email_edit_command, first_name,
                                     get, pick_email, render_text, split_subject, template_context)
from cardscan.store import ContactRecord, Store
from cardscan.store import intros as sql

ANSWERS = ("yes", "no")
MIN_SCORE = 60


# --------------------------------------------------------------------------------------------
# asks and offers


def add_ask(store: Store, contact_id: int, text: str) -> int:
    return sql.add_need(store, contact_id, "ask", text)


def add_offer(store: Store, contact_id: int, text: str) -> int:
    return sql.add_need(store, contact_id, "offer", text)


# --------------------------------------------------------------------------------------------
# templates


def _template_source(kind: str, event: str | None, config: Config) -> tuple[str, str]:
    if event and not ("/" in event or "\\" in event or event.startswith(".") or "\x00" in event):
        folder = config.followup.template_dir or default_template_dir()
        p = folder / f"{event}.{kind}.txt.j2"
        if p.is_file():
            try:
                return p.read_text(encoding="utf-8"), str(p)
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"cannot read template {p}: {exc}") from exc
    name = f"{kind}_default.txt.j2"
    return (TEMPLATES / name).read_text(encoding="utf-8"), name


def _render(kind: str, event: str | None, config: Config, context: dict[str, Any]) -> Draft:
    source, name = _template_source(kind, event, config)
    try:
        draft = split_subject(render_text(source, context, name=name), name=name)
    except ValidationError as exc:
        raise ConfigError(exc.message) from None
    problem = header_problem(draft.subject)
    if problem:
        raise ValidationError(f"the subject {ascii(draft.subject)} {problem}")
    return draft


def _person(rec: ContactRecord) -> dict[str, str]:
    c = rec.contact
    name = c.scalar("name") or ""
    return {"full_name": name, "first_name": first_name(name), "title": c.scalar("title") or "",
            "company": c.scalar("company") or ""}


def _sender(config: Config) -> dict[str, str]:
    return {"name": config.sender.name, "address": config.sender.address, "signature": config.sender.signature}


# --------------------------------------------------------------------------------------------
# introductions


@dataclass(frozen=True)
class Recipient:
    rec: ContactRecord
    addr: str
    name: str


def _recipient(store: Store, contact_id: int) -> Recipient:
    """The contact (its survivor after a merge) with a usable, safe address and name."""
    try:
        rec = store.contact(contact_id)
    except KeyError:
        raise ValidationError(f"no contact #{contact_id}") from None
    name = rec.contact.scalar("name") or ""
    if not name:
        raise ValidationError(f"contact #{rec.id} has no name: an introduction needs one",
                              hint=f"cardscan edit {rec.id} --name NAME")
    problem = header_problem(name)
    if problem:
        raise ValidationError(f"the name of contact #{rec.id} {ascii(name)} {problem}; correct the name first",
                              hint=f"cardscan edit {rec.id} --name NAME")
    field_, addr, why = pick_email(rec.contact)
    if field_ is None:
        raise ValidationError(f"contact #{rec.id} ({name}) has no usable e-mail: {why}")
    return Recipient(rec, addr, name)


@dataclass(frozen=True)
class Created:
    intro_id: int
    entries: tuple[int, ...]


def create(store: Store, a: int, b: int, *, config: Config, why: str = "", direct: bool = False) -> Created:
    """A new introduction: two ask drafts (double opt-in), or with ``direct`` the introduction draft."""
    why = " ".join(why.split())
    if "\x00" in why:
        raise ValidationError("--why contains a NUL character")
    ra, rb = _recipient(store, a), _recipient(store, b)
    if ra.rec.id == rb.rec.id:
        raise ValidationError(f"contacts #{a} and #{b} are the same person")
    pair = frozenset((ra.rec.id, rb.rec.id))
    for row in sql.intros(store, contact_id=ra.rec.id):
        if frozenset((row.contact_a, row.contact_b)) == pair and row.state != "cancelled":
            raise ValidationError(f"#{ra.rec.id} and #{rb.rec.id} already have introduction #{row.id} ({row.state})",
                                  hint=f"cardscan intro show {row.id}")
    if direct:
        drafts = [_intro_draft(ra, rb, why, config)]
    else:
        drafts = [_ask_draft(ra, rb, why, config), _ask_draft(rb, ra, why, config)]
    iid = sql.insert_intro(store, ra.rec.id, rb.rec.id, why, direct)
    if direct:
        ids = [sql.insert_entry(store, kind="intro", contact_id=ra.rec.id, to_addr=ra.addr, subject=drafts[0].subject,
                                body=drafts[0].body, intro_id=iid, other_contact_id=rb.rec.id, other_addr=rb.addr)]
    else:
        ids = [sql.insert_entry(store, kind="intro_ask", contact_id=r.rec.id, to_addr=r.addr, subject=d.subject,
                                body=d.body, intro_id=iid, other_contact_id=o.rec.id)
               for r, o, d in ((ra, rb, drafts[0]), (rb, ra, drafts[1]))]
    return Created(iid, tuple(i for i in ids if i is not None))


def _ask_draft(to: Recipient, other: Recipient, why: str, config: Config) -> Draft:
    ctx = {**_person(to.rec), "other": _person(other.rec), "why": why, "event": to.rec.event or "",
           "met_date": to.rec.created_at[:10], "sender": _sender(config)}
    return _render("intro_ask", to.rec.event, config, ctx)


def _intro_draft(a: Recipient, b: Recipient, why: str, config: Config) -> Draft:
    ctx = {"a": _person(a.rec), "b": _person(b.rec), "why": why, "sender": _sender(config)}
    return _render("intro", a.rec.event or b.rec.event, config, ctx)


@dataclass(frozen=True)
class Answered:
    intro_id: int
    state: str  # the introduction's state afterwards
    introduction: int | None = None  # the introduction draft written (both said yes)
    skipped: tuple[int, ...] = ()  # entries skipped because of a no


def _side(store: Store, row: sql.IntroRow, contact_id: int) -> str:
    try:
        cid = store.contact(contact_id).id
    except KeyError:
        raise ValidationError(f"no contact #{contact_id}") from None
    if cid == row.contact_a:
        return "a"
    if cid == row.contact_b:
        return "b"
    raise ValidationError(f"contact #{contact_id} is not part of introduction #{row.id} "
                          f"(#{row.contact_a} and #{row.contact_b})")


def answer(store: Store, intro_id: int, contact_id: int, value: str, *, config: Config | None) -> Answered:
    """Record one person's answer.  'no' ends the introduction for ever; yes + yes writes it
    (``config`` None: the built-in defaults, no sender signature)."""
    config = config if config is not None else Config()
    value = value.strip().lower()
    if value not in ANSWERS:
        raise ValidationError(f"the answer must be yes or no, not {value!r}")
    row = sql.intro(store, intro_id)
    side = _side(store, row, contact_id)
    if row.state == "declined":
        raise ValidationError(f"introduction #{intro_id} was declined: it has ended and nothing more is sent")
    if row.state == "cancelled":
        raise ValidationError(f"introduction #{intro_id} was cancelled")
    if row.state != "asking":
        raise ValidationError(f"introduction #{intro_id} is already {row.state}: no answer is needed")
    if not sql.record_answer(store, row, side, value):
        raise ValidationError(f"introduction #{intro_id} changed meanwhile; look at it again")
    if value == "no":
        skipped = sql.end_intro(store, intro_id, "declined", "the introduction was declined")
        return Answered(intro_id, "declined", skipped=tuple(skipped))
    row = sql.intro(store, intro_id)
    if row.answer_a == "yes" and row.answer_b == "yes":
        ra, rb = _recipient(store, row.contact_a), _recipient(store, row.contact_b)
        draft = _intro_draft(ra, rb, row.why, config)
        if not sql.set_intro_state(store, intro_id, "introducing", expect=("asking",)):
            raise ValidationError(f"introduction #{intro_id} changed meanwhile; look at it again")
        fid = sql.insert_entry(store, kind="intro", contact_id=ra.rec.id, to_addr=ra.addr, subject=draft.subject,
                               body=draft.body, intro_id=intro_id, other_contact_id=rb.rec.id, other_addr=rb.addr)
        return Answered(intro_id, "introducing", introduction=fid)
    return Answered(intro_id, "asking")


def cancel(store: Store, intro_id: int) -> tuple[int, ...]:
    row = sql.intro(store, intro_id)
    if row.state in ("declined", "cancelled"):
        raise ValidationError(f"introduction #{intro_id} is already {row.state}")
    for fid in sql.entry_ids(store, intro_id=intro_id, kind="intro"):
        e = get(store, fid)
        if e.state in ("sending", "sent", "uncertain"):
            raise ValidationError(f"the introduction message #{fid} is {e.state}: it can no longer be cancelled")
    return tuple(sql.end_intro(store, intro_id, "cancelled", "the introduction was cancelled"))


# --------------------------------------------------------------------------------------------
# sending (called by the queue for every entry that is not a plain follow-up)


def check_sendable(store: Store, entry: FollowupRecord) -> None:
    """ValidationError when this entry must not be sent (now)."""
    if entry.intro_id is not None:
        state = sql.intro_state(store, entry.intro_id)
        if state in ("declined", "cancelled", None):
            raise ValidationError(f"introduction #{entry.intro_id} was {state or 'removed'}: nothing more is sent")
        if entry.kind == "intro" and state != "introducing":
            raise ValidationError(f"introduction #{entry.intro_id} is {state}, not agreed by both")
    pairs = [(entry.contact_id, entry.to_addr)]
    if entry.other_addr and entry.other_contact_id is not None:
        pairs.append((entry.other_contact_id, entry.other_addr))
    for cid, addr in pairs:
        try:
            rec = store.contact(cid)
        except KeyError:
            raise ValidationError(f"contact #{cid} no longer exists") from None
        if rec.id != cid:
            raise ValidationError(f"contact #{cid} was merged into #{rec.id}; approve #{entry.id} again")
        problem, current = address_problem(store, cid, addr)
        if problem:
            raise ValidationError(f"{problem}: {email_edit_command(rec.id)}" if FLAGGED in problem else problem)
        if current:
            raise ValidationError(f"{addr} is no longer an address of contact #{cid}; approve #{entry.id} again")


def message_for_intro(store: Store, entry: FollowupRecord, config: Config):  # noqa: ANN201 - EmailMessage
    """One message to both people: To carries both names and addresses (each header value checked)."""
    from email.headerregistry import Address

    ra, rb = store.contact(entry.contact_id), store.contact(entry.other_contact_id or 0)
    name_a, name_b = ra.contact.scalar("name") or "", rb.contact.scalar("name") or ""
    msg = build_message(sender=config.require_sender(), to_addr=entry.to_addr, to_name=name_a,
                        subject=entry.subject, body=entry.body,
                        message_id=entry.message_id or new_message_id(config.sender.address))
    addr_b = check_recipient(entry.other_addr or "")
    check_header_text(name_b, what="recipient name")
    del msg["To"]
    msg["To"] = [Address(display_name=name_a, addr_spec=check_recipient(entry.to_addr)),
                 Address(display_name=name_b, addr_spec=addr_b)]
    return msg


# --------------------------------------------------------------------------------------------
# views


@dataclass(frozen=True)
class IntroView:
    id: int
    contact_a: int
    contact_b: int
    name_a: str
    name_b: str
    why: str
    direct: bool
    state: str  # asking | introducing | introduced | declined | cancelled
    answer_a: str | None
    answer_b: str | None
    created_at: str
    entries: tuple[FollowupRecord, ...] = field(default=())

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": "intro", "state": self.state, "direct": self.direct, "why": self.why,
                "contacts": [{"id": self.contact_a, "name": self.name_a, "answer": self.answer_a},
                             {"id": self.contact_b, "name": self.name_b, "answer": self.answer_b}],
                "entries": [entry_json(store_entry) for store_entry in self.entries],
                "created_at": self.created_at}


def entry_json(e: FollowupRecord) -> dict[str, Any]:
    contacts = [e.contact_id] + ([e.other_contact_id] if e.kind == "intro" and e.other_contact_id else [])
    out: dict[str, Any] = {"id": e.id, "kind": e.kind, "state": e.state, "contacts": contacts,
                           "to": e.recipients, "subject": e.subject, "event": e.event, "attempts": e.attempts,
                           "last_error": e.last_error, "sent_at": e.sent_at}
    if e.intro_id is not None:
        out["intro"] = e.intro_id
    if e.kind == "intro_ask" and e.other_contact_id is not None:
        out["about"] = e.other_contact_id
    if e.url:
        out["url"] = e.url
    return out


def _name(store: Store, cid: int) -> str:
    try:
        return store.contact(cid).contact.scalar("name") or f"contact #{cid}"
    except KeyError:
        return f"contact #{cid}"


def view(store: Store, row: sql.IntroRow) -> IntroView:
    from cardscan.followup.queue import get as get_entry

    entries = tuple(get_entry(store, i) for i in sql.entry_ids(store, intro_id=row.id))
    state = row.state
    if state == "introducing" and any(e.kind == "intro" and e.state == "sent" for e in entries):
        state = "introduced"
    return IntroView(row.id, row.contact_a, row.contact_b, _name(store, row.contact_a), _name(store, row.contact_b),
                     row.why, row.direct, state, row.answer_a, row.answer_b, row.created_at, entries)


def list_intros(store: Store, *, state: str | None = None, contact_id: int | None = None) -> list[IntroView]:
    stored = "introducing" if state == "introduced" else state
    out = [view(store, r) for r in sql.intros(store, state=stored, contact_id=contact_id)]
    return [v for v in out if state is None or v.state == state]


def show(store: Store, intro_id: int) -> IntroView:
    return view(store, sql.intro(store, intro_id))


@dataclass(frozen=True)
class WaitingAsk:
    followup_id: int
    intro_id: int
    contact_id: int
    name: str
    other: str
    sent_at: str
    days: int


def waiting_asks(store: Store, *, days: int = 3, now: datetime | None = None) -> list[WaitingAsk]:
    """Asks sent more than ``days`` days ago that the person has not answered."""
    now = now or datetime.now(timezone.utc)
    cutoff = (now - timedelta(days=days)).isoformat(timespec="milliseconds")
    out = []
    for fid, iid, cid, sent_at in sql.asks_sent_before(store, cutoff):
        row = sql.intro(store, iid)
        other = row.contact_b if cid == row.contact_a else row.contact_a
        age = (now - datetime.fromisoformat(sent_at)).days
        out.append(WaitingAsk(fid, iid, cid, _name(store, cid), _name(store, other), sent_at[:10], age))
    return out


# --------------------------------------------------------------------------------------------
# sharing


@dataclass(frozen=True)
class Shared:
    created: tuple[int, ...] = ()
    already: tuple[tuple[int, int], ...] = ()  # (contact id, existing entry id)


def check_url(url: str) -> str:
    url = url.strip()
    if not url or any(not ch.isprintable() or ch.isspace() for ch in url):
        raise ValidationError(f"not a usable link: {ascii(url)} (spaces or control characters)")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValidationError(f"not a web link: {ascii(url)}", hint="give a link starting with https://")
    return url


def share(store: Store, url: str, contact_ids: list[int], *, config: Config, note: str = "") -> Shared:
    """One personal draft per person with the link; a person who already has this link queued is left alone."""
    url = check_url(url)
    note = note.strip()
    if "\x00" in note:
        raise ValidationError("--note contains a NUL character")
    people = []
    seen: set[int] = set()
    for cid in contact_ids:
        r = _recipient(store, cid)  # every person checked before anything is written
        if r.rec.id not in seen:
            seen.add(r.rec.id)
            people.append(r)
    drafts = []
    for r in people:
        ctx = {**template_context(r.rec, config, email=r.addr), "url": url, "share_note": note}
        drafts.append(_render("share", r.rec.event, config, ctx))
    created, already = [], []
    for r, d in zip(people, drafts):
        fid = sql.insert_entry(store, kind="share", contact_id=r.rec.id, to_addr=r.addr, subject=d.subject,
                               body=d.body, url=url)
        if fid is None:
            already.append((r.rec.id, sql.share_entry(store, r.rec.id, url) or 0))
        else:
            created.append(fid)
    return Shared(tuple(created), tuple(already))


# --------------------------------------------------------------------------------------------
# suggestions


STOP = frozenset("""a an and are as at be by for from help i in into is it looking me my need needs new of on or our
some someone somebody the their to us we who with would you your""".split())
_SUFFIXES = ("ers", "er", "ings", "ing", "ions", "ion", "es", "s", "e")


def _stem(word: str) -> str:
    for suf in _SUFFIXES:
        if word.endswith(suf) and len(word) - len(suf) >= 4:
            return word[: -len(suf)]
    return word


def _clean(text: str) -> str:
    words = re.findall(r"[^\W_]+", text.lower())
    return " ".join(_stem(w) for w in words if w not in STOP)


FREEMAIL = frozenset({"gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "yahoo.com", "icloud.com",
                      "gmx.de", "gmx.net", "web.de", "proton.me", "protonmail.com", "aol.com", "live.com"})
_LEGAL = re.compile(r"\b(ltd|limited|inc|llc|gmbh|ag|sa|sas|bv|nv|plc|co|corp|kk|srl|spa)\b\.?", re.I)


def colleagues(a: ContactRecord, b: ContactRecord) -> bool:
    """Same company (fuzzy, legal forms ignored) or the same non-freemail e-mail domain."""
    ca, cb = (_LEGAL.sub("", r.contact.scalar("company") or "").strip().lower() for r in (a, b))
    if ca and cb and fuzz.token_sort_ratio(ca, cb) >= 90:
        return True
    da = {f.value.rpartition("@")[2].lower() for f in a.contact.emails} - FREEMAIL
    db = {f.value.rpartition("@")[2].lower() for f in b.contact.emails} - FREEMAIL
    return bool(da & db)


@dataclass(frozen=True)
class Suggestion:
    a: int  # the one who asks
    b: int  # the one who can help
    score: int  # 0-100
    reason: str


def _best(asker: ContactRecord, helper: ContactRecord) -> tuple[float, str]:
    name_a = asker.contact.scalar("name") or f"#{asker.id}"
    name_b = helper.contact.scalar("name") or f"#{helper.id}"
    cands = [(o, 1.0, f"{name_b} offers {o!r}") for o in helper.offers]
    title, company = helper.contact.scalar("title"), helper.contact.scalar("company")
    if title:
        cands.append((title, 0.9, f"{name_b} is {title!r}"))
    if company:
        cands.append((company, 0.7, f"{name_b} works at {company!r}"))
    best, why = 0.0, ""
    for ask in asker.asks:
        qa = _clean(ask)
        if not qa:
            continue
        for text, weight, says in cands:
            qt = _clean(text)
            if not qt:
                continue
            s = fuzz.token_set_ratio(qa, qt) * weight
            if s > best:
                best, why = s, f"{name_a} asks for {ask!r}; {says}"
    return best, why


def suggest(store: Store, *, event: str | None = None, limit: int = 10, min_score: int = MIN_SCORE) -> list[Suggestion]:
    """Pairs worth introducing, best first (see the module text for the scoring).  Never two
    colleagues, never a pair that already has an introduction (asked, made or declined)."""
    people = [r for r in store.contacts(event) if r.contact.scalar("name")]
    taken = sql.pairs_with_intro(store)
    out = []
    for i, a in enumerate(people):
        for b in people[i + 1:]:
            if frozenset((a.id, b.id)) in taken or colleagues(a, b):
                continue
            s1, r1 = _best(a, b)
            s2, r2 = _best(b, a)
            score, reason, x, y = (s1, r1, a, b) if s1 >= s2 else (s2, r2, b, a)
            if score >= min_score:
                out.append(Suggestion(x.id, y.id, round(score), reason))
    out.sort(key=lambda s: (-s.score, s.a, s.b))
    return out[:limit] if limit > 0 else out


__all__ = [
    "Answered", "Created", "IntroView", "Shared", "Suggestion", "WaitingAsk", "add_ask", "add_offer", "answer",
    "cancel", "check_sendable", "check_url", "colleagues", "create", "entry_json", "list_intros",
    "message_for_intro", "share", "show", "suggest", "waiting_asks",
]
