"""Follow-ups as drafts in the user's own mailbox: IMAP ``APPEND`` to the Drafts folder.

``cardscan followup send --to-drafts`` puts each approved entry into the folder the server marks
``\\Drafts`` (RFC 6154 special-use; else the configured ``[imap] drafts`` name) with the
``\\Draft`` flag, instead of sending it.  The user edits and sends it from their own mail client.

Never twice, also across runs and after a crash: the entry is claimed (``sending``, committed)
before the server is asked anything; the folder is then searched for the entry's Message-ID
(fixed at approval, the same one an SMTP send would use) and the message appended only when it
is not there; then the entry becomes ``drafted``.  A run killed between the APPEND and that last
write leaves the entry claimed by a dead process: the next ``--to-drafts`` run returns it to
``approved``, finds the Message-ID in the folder and only records it.  (A plain SMTP ``send``
finding such an entry marks it ``uncertain`` as for any interrupted send: it never mails it.)

IMAP over TLS (``ssl``, port 993) or ``starttls`` (143), certificates verified; ``plain`` only
to a loopback address (a test server).  Host and user from the config, the password from
``CARDSCAN_IMAP_PASSWORD``; it is never logged or put in a message.
"""
from __future__ import annotations

import imaplib
import logging
import re
import ssl
import time
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

from cardscan.config import Config, ImapConfig
from cardscan.errors import LoginError, RemoteError, ValidationError
from cardscan.followup import queue as fu
from cardscan.store import Store
from cardscan.store import sync as q
from cardscan.store.claims import worker_id

log = logging.getLogger(__name__)

_LIST_LINE = re.compile(rb'^\((?P<flags>[^)]*)\) (?:"(?:[^"\\]|\\.)*"|NIL) (?P<name>.+)$')


def _unquote(name: bytes) -> str:
    n = name.strip()
    if n.startswith(b'"') and n.endswith(b'"'):
        n = n[1:-1].replace(b'\\"', b'"').replace(b"\\\\", b"\\")
    return n.decode("utf-8", "replace")


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


class ImapDrafts:
    """One logged-in IMAP connection with its Drafts folder selected."""

    def __init__(self, cfg: ImapConfig) -> None:
        self.cfg = cfg
        self.folder = ""
        self._imap: imaplib.IMAP4 | None = None

    @property
    def where(self) -> str:
        return f"{self.cfg.host}/{self.folder}"

    def open(self) -> None:
        cfg = self.cfg
        host, port = cfg.host or "", cfg.effective_port
        try:
            if cfg.security == "ssl":
                m: imaplib.IMAP4 = imaplib.IMAP4_SSL(host, port, ssl_context=ssl.create_default_context(),
                                                     timeout=cfg.timeout)
            else:
                m = imaplib.IMAP4(host, port, timeout=cfg.timeout)
                if cfg.security == "starttls":
                    m.starttls(ssl.create_default_context())
        except ssl.SSLError as exc:
            raise RemoteError(f"IMAP server {host}:{port}: TLS failed ({exc.reason or exc})",
                              hint="the server's certificate must be valid for its name") from None
        except (OSError, imaplib.IMAP4.error) as exc:
            raise RemoteError(f"IMAP server {host}:{port} not reachable: {exc}") from None
        self._imap = m
        try:
            m.login(cfg.user or "", cfg.password or "")
        except imaplib.IMAP4.error:
            self.close()
            raise LoginError(f"IMAP server {host} refused the user name or password",
                             hint="check [imap] user and CARDSCAN_IMAP_PASSWORD") from None
        self.folder = self._drafts_folder()
        typ, data = m.select(_quote(self.folder))
        if typ != "OK":
            self.close()
            raise RemoteError(f"IMAP server {host}: cannot open the folder {self.folder!r}",
                              hint="set [imap] drafts to your Drafts folder's name")

    def _drafts_folder(self) -> str:
        assert self._imap is not None
        typ, lines = self._imap.list()
        names = []
        for line in lines if typ == "OK" else []:
            if not isinstance(line, bytes):
                continue
            mt = _LIST_LINE.match(line)
            if not mt:
                continue
            name = _unquote(mt.group("name"))
            if b"\\drafts" in mt.group("flags").lower().split():
                return name
            names.append(name)
        want = self.cfg.drafts
        return next((n for n in names if n.lower() == want.lower()), want)

    def has(self, message_id: str) -> bool:
        """True when the folder holds a message with this Message-ID header."""
        assert self._imap is not None
        typ, data = self._imap.search(None, "HEADER", "Message-ID", _quote(message_id))
        if typ != "OK":
            raise RemoteError(f"IMAP SEARCH in {self.folder!r} failed: {data!r}")
        return bool(data and data[0].split())

    def append(self, msg: EmailMessage) -> None:
        assert self._imap is not None
        raw = msg.as_bytes()
        typ, data = self._imap.append(_quote(self.folder), r"(\Draft)", imaplib.Time2Internaldate(time.time()), raw)
        if typ != "OK":
            raise RemoteError(f"IMAP APPEND to {self.folder!r} refused: {data!r}")

    def close(self) -> None:
        m, self._imap = self._imap, None
        if m is None:
            return
        try:
            m.logout()
        except (OSError, imaplib.IMAP4.error):
            pass

    def __enter__(self) -> ImapDrafts:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def recover_stale_drafts(store: Store, *, now: float | None = None) -> list[int]:
    """Entries a dead ``--to-drafts`` run left claimed go back to 'approved' (the Message-ID
    search then decides whether they are already in the folder)."""
    t = time.time() if now is None else now
    out = []
    for fid, claimed_by, lease in q.stale_imap_claims(store):
        if fu._is_stale(claimed_by, lease, t) and q.release_imap_claim(store, fid, claimed_by):
            log.warning("follow-up #%d was being put into Drafts when an earlier run stopped: checking the folder", fid)
            out.append(fid)
    return out


def send_to_drafts(store: Store, config: Config, *, limit: int | None = None, transport: Any = None,
                   clock: Callable[[], float] = time.time,
                   progress: Callable[[fu.SendItem], None] | None = None) -> fu.SendReport:
    """Put the approved entries (and failures due for a retry) into the Drafts folder, each once."""
    if limit is not None and limit < 1:
        raise ValidationError("--limit must be 1 or more")
    config.require_sender()
    imap_cfg = config.require_imap()
    items: list[fu.SendItem] = []

    def done(item: fu.SendItem) -> None:
        items.append(item)
        if progress is not None:
            progress(item)

    recovered = recover_stale_drafts(store, now=clock())
    todo = fu.due(store, now=clock(), limit=limit)
    if not todo:
        return fu.SendReport((), tuple(recovered), waiting=fu._waiting(store, clock()))
    own = transport is None
    if own:
        transport = ImapDrafts(imap_cfg)
        transport.open()  # a wrong password stops here, before anything is claimed
    worker = worker_id() + q.IMAP_CLAIM_SUFFIX
    lease = max(300.0, 4 * imap_cfg.timeout)
    stopped = None
    try:
        for entry in todo:
            try:
                if not entry.message_id:
                    raise ValidationError("no Message-ID fixed for this entry: approve it again")
                entry, msg = fu.prepared(store, entry, config)
            except ValidationError as exc:
                fu._finish(store, entry.id, "failed", exc.message, next_at=None, expect=entry.state)
                done(fu.SendItem(entry.id, entry.to_addr, "failed", exc.message))
                continue
            if not q.claim_for_drafts(store, entry.id, entry.state, entry.updated_at, worker, clock() + lease):
                continue  # another run took it
            try:
                if transport.has(entry.message_id):
                    reason = "already in the folder (an earlier run put it there)"
                else:
                    transport.append(msg)
                    reason = ""
            except (RemoteError, OSError, imaplib.IMAP4.error) as exc:
                text = exc.message if isinstance(exc, RemoteError) else f"{type(exc).__name__}: {exc}"
                # not known to be in the folder: back as it was; the next run searches first
                q.unclaim_drafts(store, entry.id, entry.state, entry.attempts, text)
                done(fu.SendItem(entry.id, entry.to_addr, entry.state, text))
                stopped = text
                break
            q.finish_drafted(store, entry.id, transport.where)
            log.info("follow-up #%d put into %s", entry.id, transport.where)
            done(fu.SendItem(entry.id, entry.to_addr, "drafted", reason))
    finally:
        if own:
            transport.close()
    return fu.SendReport(tuple(items), tuple(recovered), waiting=fu._waiting(store, clock()), stopped=stopped)


__all__ = ["ImapDrafts", "recover_stale_drafts", "send_to_drafts"]
