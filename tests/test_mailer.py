"""Header safety, message building, the rate limit, the config file and SMTP against a real server."""
from __future__ import annotations

import base64
import re
import logging
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from cardscan.config import ConfigError, load_config
from cardscan.errors import SendError, ValidationError
from cardscan.followup.mailer import (PERMANENT, SENT, TRANSIENT, UNCERTAIN, SmtpTransport, TokenBucket, build_message,
                             check_header_text, check_recipient, header_problem, new_message_id)

from smtp_fixtures import GOOD_PASSWORD, GOOD_USER, SENDER, SmtpServer, free_port, smtp_auth_server, smtp_server  # noqa: F401


def msg(**kw: object):  # noqa: ANN201
    args: dict[str, object] = dict(sender=SENDER, to_addr="robin@widgets.example.com", to_name="Robin Testperson",
                                   subject="Great to meet you", body="Hello Robin,\n", message_id="<1.cardscan@example.org>")
    args.update(kw)
    return build_message(**args)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ header safety


@pytest.mark.parametrize("value, word", [
    ("Robin\r\nBcc: x@y", "line break"),
    ("Robin\nBcc: x@y", "line break"),
    ("Robin\rX", "line break"),
    ("Robin\x00", "NUL"),
    ("Robin\x07", "control character U+0007"),
    ("Robin \u202eevil", "bidirectional"),
    ("Robin\u2067x", "bidirectional"),
    ("Rob\u200bin", "invisible formatting"),
    ("Robin\u2028Bcc", "line separator"),
    ("=?utf-8?q?Bcc=3A_x=40y?=", "encoded-word"),
    ("x" * 400, "longer than"),
])
def test_unsafe_header_values_are_refused_with_a_reason(value: str, word: str) -> None:
    assert word in (header_problem(value) or "")
    with pytest.raises(ValidationError, match=re.escape(word)):
        check_header_text(value, what="recipient name")


@pytest.mark.parametrize("value", ["Robin Testperson", "José Müller-Lüdenscheidt", "李伟", "O'Brien & Sons, Inc.",
                                   "محمد علي"])
def test_ordinary_names_pass(value: str) -> None:
    assert header_problem(value) is None


def test_injected_name_never_reaches_a_message() -> None:
    with pytest.raises(ValidationError, match="line break"):
        msg(to_name="Robin\r\nBcc: x@y")
    with pytest.raises(ValidationError, match="encoded-word"):
        msg(subject="Hi =?utf-8?b?QmNjOiB4QHk=?=")


@pytest.mark.parametrize("addr", ["robin@", "robin@@widgets.example.com", "robin@widgets.invalid",
                                  "robin@widgets.example.com\r\nBcc: x@y", "robin widgets.example.com", ""])
def test_bad_recipients_are_refused(addr: str) -> None:
    with pytest.raises(ValidationError):
        check_recipient(addr)
    with pytest.raises(ValidationError):
        msg(to_addr=addr)


def test_message_headers_are_built_by_the_library() -> None:
    m = msg(to_name="Müller, Jörg (Sales)")
    raw = m.as_bytes()
    assert raw.isascii()  # non-ASCII names are encoded, not sent raw
    back = message_from_bytes(raw, policy=policy.default)
    assert back["To"].addresses[0].display_name == "Müller, Jörg (Sales)"
    assert back["To"].addresses[0].addr_spec == "robin@widgets.example.com"
    assert back["From"].addresses[0].addr_spec == "ada@example.org"
    assert back["Message-ID"] == "<1.cardscan@example.org>"
    assert back["Date"] is not None
    assert len(back.get_all("To")) == 1 and back.get("Bcc") is None and back.get("Cc") is None


def test_message_id_uses_the_sender_domain_and_is_unique() -> None:
    a, b = new_message_id("ada@example.org"), new_message_id("ada@example.org")
    assert a != b and a.endswith("@example.org>") and a.startswith("<")


# ------------------------------------------------------------------------------ rate limit


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.t += s


def test_token_bucket_spaces_messages_to_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(30, burst=2, clock=clock, sleep=clock.sleep)
    waits = [bucket.acquire() for _ in range(6)]
    assert waits[:2] == [0.0, 0.0]  # the burst
    assert all(w == pytest.approx(2.0) for w in waits[2:])  # 30/minute = one every 2 s
    assert clock.t - 1000.0 == pytest.approx(8.0)
    clock.t += 60  # idle time refills only up to the burst
    assert [bucket.acquire() for _ in range(3)] == [0.0, 0.0, pytest.approx(2.0)]


# ------------------------------------------------------------------------------ config


def test_config_file_env_overrides_and_password_only_from_env(tmp_path: Path) -> None:
    p = tmp_path / "config.toml"
    p.write_text('[sender]\nname = "Ada"\naddress = "ada@example.org"\nsignature = "Ada\\nTools"\n'
                 '[smtp]\nhost = "mail.example.org"\nuser = "ada"\n'
                 '[followup]\nrate_per_minute = 10\n[templates]\n"Expo 2031" = "expo.txt.j2"\n', encoding="utf-8")
    cfg = load_config(p, env={"CARDSCAN_SMTP_PORT": "2525", "CARDSCAN_SMTP_PASSWORD": GOOD_PASSWORD})
    assert (cfg.smtp.host, cfg.smtp.port, cfg.smtp.user, cfg.smtp.security) == ("mail.example.org", 2525, "ada", "starttls")
    assert cfg.smtp.password == GOOD_PASSWORD
    assert GOOD_PASSWORD not in repr(cfg)
    assert cfg.followup.templates["Expo 2031"] == tmp_path / "expo.txt.j2"
    assert cfg.followup.rate_per_minute == 10
    env = load_config(p, env={"CARDSCAN_SMTP_HOST": "other.example.org", "CARDSCAN_SMTP_SECURITY": "ssl"})
    assert (env.smtp.host, env.smtp.effective_port, env.smtp.password) == ("other.example.org", 465, None)

    p.write_text('[smtp]\nhost = "mail.example.org"\npassword = "x"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="CARDSCAN_SMTP_PASSWORD"):
        load_config(p, env={})
    p.write_text('[smtp]\nhost = "mail.example.org"\nsecurity = "plain"\nuser = "ada"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="unencrypted"):
        load_config(p, env={"CARDSCAN_SMTP_PASSWORD": "x"})
    p.write_text('[sender]\nname = "Ada\\r\\nBcc: x@y"\naddress = "ada@example.org"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="line break"):
        load_config(p, env={})
    p.write_text("[sender\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(p, env={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml", env={})


def test_missing_default_config_gives_empty_defaults(tmp_path: Path) -> None:
    cfg = load_config(env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert cfg.path is None and cfg.sender.address == ""
    with pytest.raises(ConfigError, match="sender"):
        cfg.require_sender()


# ------------------------------------------------------------------------------ SMTP, real server


def test_send_delivers_one_message(smtp_server: SmtpServer) -> None:
    with SmtpTransport(smtp_server.smtp_config()) as t:
        out = t.send(msg(), ["robin@widgets.example.com"])
        out2 = t.send(msg(to_addr="kim@widgets.example.com", message_id="<2.cardscan@example.org>"),
                      ["kim@widgets.example.com"])
    assert (out.status, out2.status) == (SENT, SENT)
    assert t.connections == 1  # one connection for both
    got = smtp_server.handler.received
    assert [r.rcpt_tos for r in got] == [["robin@widgets.example.com"], ["kim@widgets.example.com"]]
    assert got[0].mail_from == "ada@example.org"
    assert got[0].message["Message-ID"] == "<1.cardscan@example.org>"
    assert "Hello Robin" in got[0].message.get_content()


def test_451_is_transient_550_permanent_drop_after_data_uncertain(smtp_server: SmtpServer) -> None:
    h = smtp_server.handler
    h.fail_451 = 1
    h.reject = {"gone@widgets.example.com"}
    with SmtpTransport(smtp_server.smtp_config()) as t:
        a = t.send(msg(), ["robin@widgets.example.com"])
        assert a.status == TRANSIENT and "451" in a.reason
        b = t.send(msg(to_addr="gone@widgets.example.com"), ["gone@widgets.example.com"])
        assert b.status == PERMANENT and "550" in b.reason
        assert b.refused["gone@widgets.example.com"][0] == 550
        h.drop_after_data = 1
        c = t.send(msg(), ["robin@widgets.example.com"])
        assert c.status == UNCERTAIN
        d = t.send(msg(), ["robin@widgets.example.com"])  # reconnects after the break
        assert d.status == SENT
    assert t.connections == 2
    assert len(h.received) == 2  # the dropped one did arrive: that is why it is "uncertain"


def test_partial_refusal_is_reported(smtp_server: SmtpServer) -> None:
    smtp_server.handler.reject = {"gone@widgets.example.com"}
    with SmtpTransport(smtp_server.smtp_config()) as t:
        out = t.send(msg(), ["robin@widgets.example.com", "gone@widgets.example.com"])
    assert out.status == SENT
    assert list(out.refused) == ["gone@widgets.example.com"]
    assert smtp_server.handler.received[0].rcpt_tos == ["robin@widgets.example.com"]


def test_connection_refused_is_transient_and_stops() -> None:
    from cardscan.config import SmtpConfig

    t = SmtpTransport(SmtpConfig(host="127.0.0.1", port=free_port(), security="plain", timeout=2))
    out = t.send(msg(), ["robin@widgets.example.com"])
    assert out.status == TRANSIENT and out.connection_failed and "cannot connect" in out.reason


def test_starttls_missing_is_a_send_error(smtp_server: SmtpServer) -> None:
    with pytest.raises(SendError, match="STARTTLS") as ei:
        SmtpTransport(smtp_server.smtp_config(security="starttls")).send(msg(), ["robin@widgets.example.com"])
    assert ei.value.exit_code == 10 and ei.value.hint
    assert smtp_server.handler.received == []


def test_login_refused_is_a_send_error_and_the_password_is_never_logged(
        smtp_auth_server: SmtpServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "Wr0ng-Passw0rd-xyz"
    with pytest.raises(SendError, match="refused the login") as ei:
        SmtpTransport(smtp_auth_server.smtp_config(user=GOOD_USER, password=wrong)).send(
            msg(), ["robin@widgets.example.com"])
    assert "CARDSCAN_SMTP_PASSWORD" in (ei.value.hint or "")
    assert wrong not in str(ei.value)
    with SmtpTransport(smtp_auth_server.smtp_config(user=GOOD_USER, password=GOOD_PASSWORD)) as t:
        assert t.send(msg(), ["robin@widgets.example.com"]).status == SENT
    assert len(smtp_auth_server.handler.received) == 1
    for secret in (wrong, GOOD_PASSWORD):
        assert secret not in caplog.text
        assert base64.b64encode(secret.encode()).decode() not in caplog.text
        assert base64.b64encode(f"\0{GOOD_USER}\0{secret}".encode()).decode() not in caplog.text
    assert caplog.records  # something was logged, so the check above can fail


def test_user_without_password_is_a_config_error(smtp_server: SmtpServer) -> None:
    with pytest.raises(ConfigError, match="CARDSCAN_SMTP_PASSWORD"):
        SmtpTransport(smtp_server.smtp_config(user="ada"))
