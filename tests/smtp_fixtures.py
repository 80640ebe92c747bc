"""A real SMTP server (aiosmtpd) in the test process, with fault injection, plus invented contacts.

``smtp_server`` starts ``aiosmtpd.controller.Controller`` on 127.0.0.1 (a free port) with a
:class:`RecordingHandler` that keeps every message it accepted and can be told to answer 451 to
the first N recipients, 550 to given addresses, close the connection after the message text
(``drop_after_data``), or hold the DATA reply until released (to kill a sender mid-send).
"""
from __future__ import annotations

import hashlib
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from cardscan.config import Config, FollowupConfig, SenderConfig, SmtpConfig
from cardscan.models import Contact, Field, Phone
from cardscan.store import Store

SENDER = SenderConfig(name="Ada Example", address="ada@example.org", signature="Ada Example\nExample Tools Ltd")
GOOD_USER, GOOD_PASSWORD = "ada", "s3cret-Pa55-do-not-log"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.data, policy=policy.default)  # type: ignore[return-value]


@dataclass
class RecordingHandler:
    received: list[Received] = field(default_factory=list)
    fail_451: int = 0  # answer 451 to this many RCPT commands first
    reject: set[str] = field(default_factory=set)  # answer 550 to these recipients
    drop_after_data: int = 0  # close the connection instead of replying, for this many messages
    hold_data: threading.Event | None = None  # wait for this before replying to DATA
    in_data: threading.Event = field(default_factory=threading.Event)
    ehlos: int = 0
    rcpt_commands: int = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: ANN001, ANN201
        self.ehlos += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: ANN001, ANN201
        self.rcpt_commands += 1
        if self.fail_451 > 0:
            self.fail_451 -= 1
            return "451 4.3.0 Temporary local problem, try again later"
        if address.lower() in self.reject:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        self.in_data.set()
        if self.hold_data is not None:
            import asyncio

            while not self.hold_data.is_set():
                await asyncio.sleep(0.02)
        if self.drop_after_data > 0:
            self.drop_after_data -= 1
            server.transport.close()
            return "250 OK"  # never reaches the client
        return "250 2.0.0 Queued"

    def to(self, addr: str) -> list[Received]:
        return [r for r in self.received if addr in r.rcpt_tos]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _authenticator(server, session, envelope, mechanism, auth_data):  # noqa: ANN001, ANN201
    ok = auth_data.login.decode() == GOOD_USER and auth_data.password.decode() == GOOD_PASSWORD
    return AuthResult(success=ok, handled=False)


@dataclass
class SmtpServer:
    handler: RecordingHandler
    host: str
    port: int

    def smtp_config(self, **kw: object) -> SmtpConfig:
        args: dict[str, object] = dict(host=self.host, port=self.port, security="plain", timeout=5.0)
        args.update(kw)
        return SmtpConfig(**args)  # type: ignore[arg-type]

    def config(self, *, rate: float = 6000.0, retry_after: float = 60.0, max_attempts: int = 3,
               **smtp: object) -> Config:
        return Config(sender=SENDER, smtp=self.smtp_config(**smtp),
                      followup=FollowupConfig(rate_per_minute=rate, retry_after=retry_after, max_attempts=max_attempts))

    def config_toml(self, path: Path, *, extra: str = "") -> Path:
        path.write_text(
            f'[sender]\nname = "{SENDER.name}"\naddress = "{SENDER.address}"\n'
            f'signature = """{SENDER.signature}"""\n'
            f'[smtp]\nhost = "{self.host}"\nport = {self.port}\nsecurity = "plain"\ntimeout = 5\n'
            f'[followup]\nrate_per_minute = 6000\nretry_after = 60\nmax_attempts = 3\n{extra}',
            encoding="utf-8")
        return path


def _start(**kw: object) -> Iterator[SmtpServer]:
    handler = RecordingHandler()
    last: Exception | None = None
    for _ in range(5):  # the free port may be taken between probing and binding
        port = free_port()
        with warnings.catch_warnings():  # AUTH without TLS is intended here: loopback only
            warnings.simplefilter("ignore", UserWarning)
            controller = Controller(handler, hostname="127.0.0.1", port=port, ready_timeout=5, **kw)
        try:
            controller.start()
        except Exception as exc:  # noqa: BLE001 - retry on another port
            last = exc
            time.sleep(0.05)
            continue
        try:
            yield SmtpServer(handler, "127.0.0.1", port)
        finally:
            if handler.hold_data is not None:
                handler.hold_data.set()
            controller.stop()
        return
    raise RuntimeError(f"could not start the test SMTP server: {last}")


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    yield from _start()


@pytest.fixture
def smtp_auth_server() -> Iterator[SmtpServer]:
    """A server that requires AUTH (allowed without TLS: the test stays on 127.0.0.1)."""
    yield from _start(authenticator=_authenticator, auth_require_tls=False)


# --------------------------------------------------------------------------------------------
# invented contacts


def sha(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()


def person(name: str, email: str | None, *, company: str | None = "Invented Widgets Ltd",
           email_conf: float = 0.95, email_flags: tuple[str, ...] = (), phone: str | None = None) -> Contact:
    return Contact(
        name=Field(name, 0.9) if name else None,
        company=Field(company, 0.85) if company else None,
        emails=(Field(email, email_conf, flags=email_flags),) if email else (),
        phones=(Phone(phone, "work", phone, 0.9),) if phone else (),
        region="GB",
    )


def add(store: Store, key: str, contact: Contact, *, event: str | None = "Expo 2031",
        note: str | None = None) -> int:
    return store.record_success(sha(key), f"/photos/{key}.jpg", contact=contact, event=event, note=note)
