"""Follow-ups as drafts: IMAP APPEND into a real Dovecot's Drafts folder on 127.0.0.1 (issue 17)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from cardscan.config import Config, ImapConfig, SenderConfig
from cardscan.errors import LoginError, RemoteError
from cardscan.followup import queue as fu
from cardscan.followup.imap import send_to_drafts
from cardscan.store import Store
from cardscan.store import sync as q

from contacts_fixtures import add, person
from imap_fixtures import IMAP_PASSWORD, IMAP_USER, Dovecot, dovecot, dovecot_tls  # noqa: F401

pytestmark = pytest.mark.slow

SENDER = SenderConfig(name="Ada Example", address="ada@example.org", signature="Ada")
ROOT = Path(__file__).resolve().parents[1]


def config(server: Dovecot, password: str = IMAP_PASSWORD, drafts: str = "Drafts") -> Config:
    return Config(sender=SENDER, imap=ImapConfig(host="127.0.0.1", port=server.port, user=IMAP_USER,
                                                 security="plain", drafts=drafts, timeout=10, password=password))


def approved(store: Store, n: int) -> list[int]:
    for i in range(n):
        add(store, person(f"Person Number{i}", emails=(f"p{i}@widgets.example",)), note=f"met at booth {i}")
    cfg = Config(sender=SENDER)
    ids = fu.ensure_drafts(store, config=cfg).created
    assert fu.approve(store, ids, config=cfg).approved
    return list(ids)


def message_ids(server: Dovecot) -> list[str]:
    out = []
    for flags, raw in server.messages("Drafts"):
        assert b"\\Draft" in flags
        out.append(message_from_bytes(raw, policy=policy.default)["Message-ID"])
    return out


def write_config(tmp_path: Path, server: Dovecot) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(textwrap.dedent(f"""\
        [sender]
        name = "Ada Example"
        address = "ada@example.org"
        [imap]
        host = "127.0.0.1"
        port = {server.port}
        user = "{IMAP_USER}"
        security = "plain"
        drafts = "Entwuerfe"   # not there: the folder marked \\\\Drafts wins
        """))
    return p


def test_each_approved_entry_becomes_one_draft_with_its_message_id(tmp_path: Path, dovecot: Dovecot) -> None:
    with Store(tmp_path / "c.db") as store:
        ids = approved(store, 3)
        fu.skip(store, ids[2])
        rep = send_to_drafts(store, config(dovecot, drafts="Whatever"))
        assert rep.count("drafted") == 2
        entries = {i: fu.get(store, i) for i in ids}
        assert [entries[i].state for i in ids] == ["drafted", "drafted", "skipped"]
        assert sorted(message_ids(dovecot)) == sorted(entries[i].message_id for i in ids[:2])
        raw = dovecot.messages()[0][1]
        m = message_from_bytes(raw, policy=policy.default)
        assert m["From"].addresses[0].addr_spec == "ada@example.org" and "booth" in m.get_content()
        assert q.delivery(store, ids[0])[:2] == ("drafts", "127.0.0.1/Drafts")
        assert dovecot.messages("INBOX") == []  # nothing was sent anywhere
        # a second run appends nothing
        assert send_to_drafts(store, config(dovecot)).items == ()
    assert len(message_ids(dovecot)) == 2


def test_an_append_whose_record_was_lost_is_found_by_message_id(tmp_path: Path, dovecot: Dovecot) -> None:
    """The server got the message, the store did not record it (crash): no second copy."""
    with Store(tmp_path / "c.db") as store:
        (fid,) = approved(store, 1)
        cfg = config(dovecot)
        m = dovecot.login()
        m.append("Drafts", r"(\Draft)", None, fu.message_for(store, fu.get(store, fid), cfg).as_bytes())
        m.logout()
        rep = send_to_drafts(store, cfg)
        assert [(i.state, i.reason) for i in rep.items] == [("drafted", "already in the folder (an earlier run put it there)")]
    assert len(message_ids(dovecot)) == 1


KILLER = """
import os, signal, sys
from cardscan.config import load_config
from cardscan.followup.imap import ImapDrafts, send_to_drafts
from cardscan.store import Store

class KilledAfterSecondAppend(ImapDrafts):
    n = 0
    def append(self, msg):
        super().append(msg)           # the real APPEND reached the server
        KilledAfterSecondAppend.n += 1
        if KilledAfterSecondAppend.n == 2:
            os.kill(os.getpid(), signal.SIGKILL)   # kill -9 before the store records it

cfg = load_config()
t = KilledAfterSecondAppend(cfg.imap)
t.open()
with Store(sys.argv[1]) as s:
    send_to_drafts(s, cfg, transport=t)
"""


def test_kill_9_then_rerun_leaves_exactly_one_draft_per_entry(tmp_path: Path, dovecot: Dovecot, cli) -> None:  # noqa: ANN001
    db = tmp_path / "c.db"
    with Store(db) as store:
        ids = approved(store, 4)
    env = dict(os.environ, CARDSCAN_CONFIG=str(write_config(tmp_path, dovecot)), CARDSCAN_IMAP_PASSWORD=IMAP_PASSWORD)
    r = subprocess.run([sys.executable, "-c", KILLER, str(db)], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == -9, r.stderr
    assert len(message_ids(dovecot)) == 2
    with Store(db) as store:
        states = [fu.get(store, i).state for i in ids]
    assert states == ["drafted", "sending", "approved", "approved"]

    r = cli("followup", "send", "--to-drafts", "--db", str(db), env=env)
    assert r.returncode == 0, r.stderr
    assert f"#{ids[1]} was being put into Drafts when an earlier run stopped" in r.stdout
    assert "3 put into Drafts, 0 failed" in r.stdout
    with Store(db) as store:
        entries = [fu.get(store, i) for i in ids]
    assert {e.state for e in entries} == {"drafted"}
    got = message_ids(dovecot)
    assert sorted(got) == sorted(e.message_id for e in entries)  # exactly one each
    r = cli("followup", "send", "--to-drafts", "--db", str(db), env=env)
    assert r.returncode == 0 and len(message_ids(dovecot)) == 4

    r = cli("followup", "list", "--db", str(db), env=env)
    assert r.stdout.count("put into Drafts (127.0.0.1/Drafts)") == 4
    r = cli("followup", "show", str(ids[0]), "--db", str(db), env=env)
    assert "put into Drafts (127.0.0.1/Drafts)" in r.stdout
    r = cli("status", "--db", str(db), env=env)
    assert "follow-ups out: 4 put into Drafts" in r.stdout
    r = cli("report", "--db", str(db), "-o", str(tmp_path / "r.html"), env=env)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "r.html").read_text().count("put into Drafts (127.0.0.1/Drafts) ") == 4


def test_wrong_password_is_one_line_and_claims_nothing(tmp_path: Path, dovecot: Dovecot, cli) -> None:  # noqa: ANN001
    db = tmp_path / "c.db"
    with Store(db) as store:
        ids = approved(store, 2)
        with pytest.raises(LoginError):
            send_to_drafts(store, config(dovecot, password="nope"))
    env = dict(os.environ, CARDSCAN_CONFIG=str(write_config(tmp_path, dovecot)), CARDSCAN_IMAP_PASSWORD="Wr0ng-pw")
    r = cli("followup", "send", "--to-drafts", "--db", str(db), env=env)
    assert r.returncode == 11
    assert r.stderr.strip().count("\n") == 0 and "refused the user name or password" in r.stderr
    assert "Wr0ng-pw" not in r.stdout + r.stderr
    with Store(db) as store:
        assert [(fu.get(store, i).state, fu.get(store, i).attempts) for i in ids] == [("approved", 0)] * 2
    assert dovecot.messages() == []


def test_plain_imap_to_another_host_is_refused_by_the_config() -> None:
    from cardscan.config import config_from_dict
    from cardscan.errors import ConfigError
    with pytest.raises(ConfigError, match="unencrypted"):
        config_from_dict({"imap": {"host": "imap.example.org", "security": "plain"}}, env={})
    with pytest.raises(ConfigError, match="password in the config file"):
        config_from_dict({"imap": {"host": "imap.example.org", "password": "x"}}, env={})
    assert replace(config_from_dict({"imap": {"host": "imap.example.org"}}, env={}).imap).effective_port == 993


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_tls_and_starttls_verify_the_certificate(tmp_path: Path, dovecot_tls: Dovecot, security: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    port = dovecot_tls.port if security == "starttls" else dovecot_tls.ssl_port
    cfg = replace(config(dovecot_tls), imap=ImapConfig(host="127.0.0.1", port=port, user=IMAP_USER, security=security,
                                                       timeout=10, password=IMAP_PASSWORD))
    with Store(tmp_path / "c.db") as store:
        ids = approved(store, 1)
        # the server's certificate is signed by a CA this machine does not trust: refused, nothing claimed
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "no-such-ca.pem"))
        monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
        with pytest.raises(RemoteError, match="TLS failed"):
            send_to_drafts(store, cfg)
        assert fu.get(store, ids[0]).state == "approved"
        monkeypatch.setenv("SSL_CERT_FILE", str(dovecot_tls.ca))
        assert send_to_drafts(store, cfg).count("drafted") == 1
    assert len(message_ids(dovecot_tls)) == 1
