"""Follow-up e-mails: safe headers, message building, a rate limit and the SMTP transport.

Every header value that may come from OCR text (the recipient's display name, a subject that
names their company) goes through :func:`check_header_text`, which refuses line breaks, NUL,
other control and invisible formatting characters (bidi overrides, zero-width marks) and
encoded-word markers, with a reason a person can act on.  Recipients must pass
email-validator (no DNS look-ups).  Messages are ``EmailMessage(policy=SMTP)`` with
``headerregistry.Address`` values, so the library does the quoting and encoding.

:class:`SmtpTransport` sends one message at a time over one connection and says what happened
in a :class:`Outcome`: ``sent``, ``transient`` (try again later: 4xx, connection failed or broke
before the message was handed over), ``permanent`` (5xx: do not retry) or ``uncertain`` (the
connection broke after the message text was sent: it may have been delivered).  Problems that
concern every message (login refused, TLS failed, sender refused) raise :class:`SendError`.
The password is never logged or put in a message.
"""
from __future__ import annotations

import logging
import os
import smtplib
import socket
import ssl
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email import policy as email_policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from datetime import datetime, timezone
from pathlib import Path

from cardscan.config import SenderConfig, SmtpConfig
from cardscan.contacts.validate import (  # noqa: F401 - part of this module's interface
    MAX_HEADER_CHARS, check_header_text, check_recipient, header_problem)
from cardscan.errors import ConfigError, OutputAccessError, SendError, ValidationError

log = logging.getLogger(__name__)

def needs_smtputf8(address: str, /) -> bool:
    return not address.isascii()


# --------------------------------------------------------------------------------------------
# messages


def new_message_id(sender_address: str = "", /) -> str:
    """A fresh RFC 5322 Message-ID on the sender's domain (or cardscan.invalid)."""
    domain = sender_address.rpartition("@")[2] if "@" in sender_address else "cardscan.invalid"
    return make_msgid(idstring="cardscan", domain=domain)


def build_message(*, sender: SenderConfig, to_addr: str, to_name: str | None, subject: str, body: str,
                  message_id: str, date: datetime | None = None) -> EmailMessage:
    """One plain-text message.  Raises ValidationError when a header value is unsafe."""
    if not sender.address:
        raise ConfigError("no sender address configured", hint='add [sender] address = "you@example.org"')
    to_addr = check_recipient(to_addr)
    from_addr = check_recipient(sender.address)
    check_header_text(subject, what="subject")
    if not subject.strip():
        raise ValidationError("the subject is empty; write one with `cardscan followup edit`")
    if to_name:
        check_header_text(to_name, what="recipient name")
    if sender.name:
        check_header_text(sender.name, what="sender name")
    if "\x00" in body:
        raise ValidationError("the message text contains a NUL character")
    utf8 = needs_smtputf8(to_addr) or needs_smtputf8(from_addr)
    msg = EmailMessage(policy=email_policy.SMTPUTF8 if utf8 else email_policy.SMTP)
    msg["From"] = Address(display_name=sender.name, addr_spec=from_addr)
    msg["To"] = Address(display_name=to_name or "", addr_spec=to_addr)
    if sender.reply_to:
        msg["Reply-To"] = Address(display_name=sender.name, addr_spec=check_recipient(sender.reply_to))
    msg["Subject"] = subject.strip()
    msg["Date"] = format_datetime(date or datetime.now(timezone.utc))
    msg["Message-ID"] = message_id
    msg.set_content(body if body.endswith("\n") else body + "\n")
    return msg


def write_eml(msg: EmailMessage, folder: Path, name: str) -> Path:
    """Write ``msg`` to ``folder/name`` atomically (temp file + rename)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / name
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".eml")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(msg.as_bytes())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise OutputAccessError(f"cannot write {folder / name}: {exc}", hint="choose another --outbox folder") from exc
    return target


# --------------------------------------------------------------------------------------------
# rate limit


class TokenBucket:
    """At most ``rate_per_minute`` messages a minute, ``burst`` at once.  ``clock`` and ``sleep``
    are injectable so tests run without waiting."""

    def __init__(self, rate_per_minute: float, *, burst: float = 1.0,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        if rate_per_minute <= 0:
            raise ValueError("rate_per_minute must be positive")
        self.rate = rate_per_minute / 60.0  # tokens per second
        self.capacity = max(1.0, burst)
        self.tokens = self.capacity
        self.clock = clock
        self.sleep = sleep
        self.last = clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
        self.last = now

    def acquire(self) -> float:
        """Take one token, sleeping until there is one; returns the seconds waited."""
        self._refill()
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        delay = (1.0 - self.tokens) / self.rate
        self.sleep(delay)
        self._refill()
        self.tokens = max(self.tokens, 1.0)  # the sleep covered the shortfall (whatever the clock's rounding)
        self.tokens -= 1.0
        return delay


# --------------------------------------------------------------------------------------------
# SMTP


SENT, TRANSIENT, PERMANENT, UNCERTAIN = "sent", "transient", "permanent", "uncertain"


@dataclass(frozen=True)
class Outcome:
    status: str  # sent | transient | permanent | uncertain
    reason: str = ""
    refused: dict[str, tuple[int, str]] = field(default_factory=dict)  # recipients the server refused
    connection_failed: bool = False  # could not reach the server at all: stop this run


def _reply(code: int, resp: bytes | str) -> str:
    text = resp.decode("utf-8", "replace") if isinstance(resp, bytes) else str(resp)
    return f"{code} {' '.join(text.split())}"[:300]


def _classify(code: int, what: str, resp: bytes | str) -> Outcome:
    reason = f"{what}: {_reply(code, resp)}"
    return Outcome(TRANSIENT if 400 <= code < 500 else PERMANENT, reason)


class SmtpTransport:
    """One SMTP connection, opened on first use and reopened after a break."""

    def __init__(self, cfg: SmtpConfig) -> None:
        if not cfg.host:
            raise ConfigError("no SMTP server configured", hint="add [smtp] host = ... or set CARDSCAN_SMTP_HOST")
        if cfg.user and not cfg.password:
            raise ConfigError(f"SMTP user {cfg.user!r} is configured but no password is set",
                              hint="set the environment variable CARDSCAN_SMTP_PASSWORD")
        self.cfg = cfg
        self._conn: smtplib.SMTP | None = None
        self.connections = 0  # how many times a connection was opened (tests, logs)

    @property
    def address(self) -> str:
        return f"{self.cfg.host}:{self.cfg.effective_port}"

    def __enter__(self) -> SmtpTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.quit()
        except (smtplib.SMTPException, OSError):
            conn.close()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def open(self) -> Outcome | None:
        """Connect, secure and log in.  None when ready, a transient Outcome when the server
        cannot be reached; SendError for TLS and login failures (they concern every message)."""
        if self._conn is not None:
            return None
        cfg = self.cfg
        ctx = ssl.create_default_context()
        log.info("connecting to %s (%s)", self.address, cfg.security)
        try:
            if cfg.security == "ssl":
                conn: smtplib.SMTP = smtplib.SMTP_SSL(cfg.host, cfg.effective_port, timeout=cfg.timeout, context=ctx)
            else:
                conn = smtplib.SMTP(cfg.host, cfg.effective_port, timeout=cfg.timeout)
        except ssl.SSLError as exc:
            raise SendError(f"TLS with {self.address} failed: {exc.reason or exc}",
                            hint="check the host and port (465 is usual for ssl), or try security = \"starttls\"") from None
        except smtplib.SMTPConnectError as exc:
            if 500 <= exc.smtp_code < 600:
                raise SendError(f"{self.address} refused the connection: {_reply(exc.smtp_code, exc.smtp_error)}",
                                hint="check the SMTP host and port") from None
            return Outcome(TRANSIENT, f"{self.address} is not accepting mail now: {_reply(exc.smtp_code, exc.smtp_error)}",
                           connection_failed=True)
        except (OSError, smtplib.SMTPException) as exc:
            return Outcome(TRANSIENT, f"cannot connect to {self.address}: {exc or type(exc).__name__}",
                           connection_failed=True)
        self.connections += 1
        try:
            conn.ehlo_or_helo_if_needed()
            if cfg.security == "starttls":
                if not conn.has_extn("starttls"):
                    raise SendError(f"{self.address} does not offer STARTTLS",
                                    hint="check the port (587 is usual), use security = \"ssl\" for port 465")
                conn.starttls(context=ctx)
                conn.ehlo()
            if cfg.user:
                conn.login(cfg.user, cfg.password or "")
        except SendError:
            conn.close()
            raise
        except smtplib.SMTPAuthenticationError as exc:
            conn.close()
            raise SendError(f"{self.address} refused the login for user {cfg.user!r} ({exc.smtp_code})",
                            hint="check CARDSCAN_SMTP_USER and CARDSCAN_SMTP_PASSWORD "
                                 "(some providers need an app password)") from None
        except smtplib.SMTPNotSupportedError:
            conn.close()
            raise SendError(f"{self.address} does not offer login (AUTH) on this connection",
                            hint="use security = \"starttls\" or \"ssl\", or remove the SMTP user") from None
        except ssl.SSLError as exc:
            conn.close()
            raise SendError(f"TLS with {self.address} failed: {exc.reason or exc}",
                            hint="check the host name matches the server's certificate") from None
        except (OSError, smtplib.SMTPException) as exc:
            conn.close()
            return Outcome(TRANSIENT, f"{self.address} broke off the greeting: {exc or type(exc).__name__}",
                           connection_failed=True)
        self._conn = conn
        return None

    def send(self, msg: EmailMessage, recipients: Sequence[str]) -> Outcome:
        """Hand ``msg`` over for ``recipients``; see :class:`Outcome`."""
        failed = self.open()
        if failed is not None:
            return failed
        conn = self._conn
        assert conn is not None
        from_addr = msg["From"].addresses[0].addr_spec
        data = msg.as_bytes()
        phase = "MAIL FROM"
        try:
            options: list[str] = []
            if any(needs_smtputf8(a) for a in (from_addr, *recipients)):
                if not conn.has_extn("smtputf8"):
                    return Outcome(PERMANENT, "the server does not accept international (non-ASCII) addresses")
                options.append("SMTPUTF8")
            if conn.has_extn("size"):
                options.append(f"size={len(data)}")
            code, resp = conn.mail(from_addr, options)
            if code != 250:
                self._rset()
                if 500 <= code < 600:
                    raise SendError(f"{self.address} refused the sender {from_addr}: {_reply(code, resp)}",
                                    hint="check [sender] address: the server may only accept your own address")
                return _classify(code, "sender refused", resp)
            phase = "RCPT TO"
            refused: dict[str, tuple[int, str]] = {}
            for rcpt in recipients:
                code, resp = conn.rcpt(rcpt)
                if code not in (250, 251):
                    refused[rcpt] = (code, _reply(code, resp))
            if len(refused) == len(recipients):
                self._rset()
                code = min(c for c, _ in refused.values())  # any temporary refusal: worth another try
                return Outcome(TRANSIENT if 400 <= code < 500 else PERMANENT,
                               "recipient refused: " + "; ".join(f"{r}: {t}" for r, (_, t) in refused.items()),
                               refused=refused)
            phase = "DATA"
            try:
                code, resp = conn.data(data)
            except smtplib.SMTPDataError as exc:  # DATA command itself refused: nothing handed over
                self._rset()
                return _classify(exc.smtp_code, "message refused", exc.smtp_error)
            if code != 250:
                self._rset()
                return _classify(code, "message refused", resp)
            return Outcome(SENT, _reply(code, resp), refused=refused)
        except SendError:
            raise
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            why = "timed out" if isinstance(exc, (socket.timeout, TimeoutError)) else "closed the connection"
            if phase == "DATA":
                return Outcome(UNCERTAIN, f"{self.address} {why} after the message was sent; "
                                          "it may have been delivered")
            return Outcome(TRANSIENT, f"{self.address} {why} during {phase}")
        except smtplib.SMTPResponseException as exc:
            self._drop()
            if phase == "DATA":
                return Outcome(UNCERTAIN, f"unexpected reply after the message was sent: "
                                          f"{_reply(exc.smtp_code, exc.smtp_error)}")
            return _classify(exc.smtp_code, f"{phase} failed", exc.smtp_error)

    def _rset(self) -> None:
        try:
            if self._conn is not None:
                self._conn.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()


__all__ = [
    "MAX_HEADER_CHARS", "Outcome", "PERMANENT", "SENT", "SmtpTransport", "TRANSIENT", "TokenBucket", "UNCERTAIN",
    "build_message", "check_header_text", "check_recipient", "header_problem", "needs_smtputf8", "new_message_id",
    "write_eml",
]
