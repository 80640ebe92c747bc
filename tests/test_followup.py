"""The follow-up queue against a real SMTP server (aiosmtpd in this process) and a real store."""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from cardscan.followup import queue as fu
from cardscan.config import Config, FollowupConfig
from cardscan.errors import SendError, ValidationError
from cardscan.followup.mailer import TokenBucket
from cardscan.store import Store

from smtp_fixtures import (GOOD_PASSWORD, GOOD_USER, SENDER, SmtpServer, add, person, smtp_auth_server,  # noqa: F401
                           smtp_server)

ROOT = Path(__file__).resolve().parents[1]


class FakeClock:
    def __init__(self, t: float = 2_000_000_000.0) -> None:
        self.t = t
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.t += s


@pytest.fixture
def store(tmp_path: Path):  # noqa: ANN201
    with Store(tmp_path / "cards.db") as s:
        yield s


def config_for(server: SmtpServer | None = None, **kw: object) -> Config:
    if server is not None:
        cfg = server.config()
    else:
        cfg = Config(sender=SENDER)
    return replace(cfg, **kw) if kw else cfg


def approve_all(store: Store, cfg: Config) -> list[int]:
    ids = [e.id for e in fu.entries(store, state="draft")]
    result = fu.approve(store, ids, config=cfg)
    assert not result.refused, result.refused
    return list(result.approved)


def send(store: Store, cfg: Config, clock: FakeClock | None = None, **kw: object) -> fu.SendReport:
    clock = clock or FakeClock()
    bucket = TokenBucket(cfg.followup.rate_per_minute, clock=clock, sleep=clock.sleep)
    return fu.send_queue(store, cfg, bucket=bucket, clock=clock, **kw)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ drafts


def test_drafts_are_personal_and_idempotent(store: Store) -> None:
    a = add(store, "a", person("Dr. Robin Testperson", "robin@widgets.example.com"), note="asked about the Berlin office")
    b = add(store, "b", person("Kim Nomail", None, phone="+442079460000"))
    c = add(store, "c", person("SAM OTHERPERSON", "sam@example.org", company=None), event=None)
    cfg = config_for()
    first = fu.ensure_drafts(store, config=cfg)
    assert len(first.created) == 2 and first.error is None
    assert [(n.contact_id, n.reason, n.phone) for n in first.not_queued] == [(b, "no e-mail address", "+442079460000")]
    again = fu.ensure_drafts(store, config=cfg)
    assert again.created == () and len(fu.entries(store)) == 2

    ra, rc = (next(e for e in fu.entries(store) if e.contact_id == x) for x in (a, c))
    assert ra.state == "draft" and ra.to_addr == "robin@widgets.example.com" and ra.event == "Expo 2031"
    assert ra.subject == "Great to meet you at Expo 2031"
    assert "Hello Robin," in ra.body and "Testperson" not in ra.body  # first name only, title dropped
    assert "asked about the Berlin office" in ra.body and "Invented Widgets Ltd" in ra.body
    assert ra.body.rstrip().endswith("Ada Example\nExample Tools Ltd")  # the signature from the config
    assert "Hello Sam," in rc.body and rc.subject == "Great to meet you"  # ALL CAPS name made readable
    assert ra.message_id is None  # fixed at approval


def test_drafts_use_the_config_given_and_read_no_config_file(store: Store, tmp_path: Path, monkeypatch) -> None:
    """The library reads no config file (the CLI and the watcher do): a broken one named in the
    environment changes nothing; no config means the built-in defaults."""
    broken = tmp_path / "broken.toml"
    broken.write_text("this is [not toml\n")
    monkeypatch.setenv("CARDSCAN_CONFIG", str(broken))
    add(store, "a", person("Robin Testperson", "robin@widgets.example.com"))
    result = fu.ensure_drafts(store)
    assert result.error is None and len(result.created) == 1
    assert "Ada Example" not in fu.get(store, result.created[0]).body  # no sender configured: none signed


def test_same_address_twice_is_queued_once_and_skipped_is_not_redrafted(store: Store) -> None:
    add(store, "a", person("Robin Testperson", "robin@widgets.example.com"))
    dup = add(store, "a-again", person("Robin Testperson", "Robin@Widgets.example.com"))
    result = fu.ensure_drafts(store, config=config_for())
    assert len(result.created) == 1
    assert [n.contact_id for n in result.not_queued] == [dup] and "already has follow-up" in result.not_queued[0].reason
    fu.skip(store, result.created[0], reason="met again next week")
    assert fu.ensure_drafts(store, config=config_for()).created == ()
    assert fu.get(store, result.created[0]).state == "skipped"


def test_injected_name_is_not_drafted_and_says_why(store: Store) -> None:
    cid = add(store, "x", person("Robin\r\nBcc: x@y", "robin@widgets.example.com"))
    result = fu.ensure_drafts(store, config=config_for())
    assert result.created == ()
    assert result.not_queued[0].contact_id == cid and "line break" in result.not_queued[0].reason
    store.set_field(cid, "name", "Robin Testperson")  # corrected: now it gets its draft
    assert len(fu.ensure_drafts(store, config=config_for()).created) == 1


def test_event_template_from_config_and_template_dir(store: Store, tmp_path: Path) -> None:
    tdir = tmp_path / "templates"
    tdir.mkdir()
    (tdir / "Expo 2031.txt.j2").write_text("Subject: Expo {{ company }}\n\nHi {{ first_name }}! {{ note }}\n")
    own = tmp_path / "fair.txt.j2"
    own.write_text("Subject: Fair\n\n{{ full_name }} / {{ event }} / {{ sender.address }}\n")
    add(store, "a", person("Robin Testperson", "robin@widgets.example.com"), note="wants a demo")
    add(store, "b", person("Kim Other", "kim@widgets.example.com"), event="Fair 2031")
    add(store, "c", person("Lee Default", "lee@widgets.example.com"), event="Other 2031")
    cfg = config_for(followup=FollowupConfig(template_dir=tdir, templates={"Fair 2031": own}))
    fu.ensure_drafts(store, config=cfg)
    e = {x.event: x for x in fu.entries(store)}
    assert (e["Expo 2031"].subject, e["Expo 2031"].body) == ("Expo Invented Widgets Ltd", "Hi Robin! wants a demo\n")
    assert e["Fair 2031"].body == "Kim Other / Fair 2031 / ada@example.org\n"
    assert e["Other 2031"].subject == "Great to meet you at Other 2031"


@pytest.mark.parametrize("source, word", [
    ("Subject: x\n\n{{ nickname }}\n", "nickname"),  # StrictUndefined
    ("Subject: x\n\n{{ ''.__class__.__mro__[1].__subclasses__() }}\n", "unsafe"),  # sandbox
    ("Subject: x\n\n{% if %}\n", "line 3"),
    ("no subject line\n", "Subject"),
])
def test_bad_templates_are_reported_not_half_drafted(store: Store, tmp_path: Path, source: str, word: str) -> None:
    t = tmp_path / "bad.txt.j2"
    t.write_text(source)
    add(store, "a", person("Robin Testperson", "robin@widgets.example.com"))
    result = fu.ensure_drafts(store, config=config_for(followup=FollowupConfig(templates={"Expo 2031": t})))
    assert result.created == () and word in (result.error or "")
    assert fu.entries(store) == []


def test_note_rewrites_an_unedited_draft_but_never_a_hand_edited_one(store: Store) -> None:
    cfg = config_for()
    a = add(store, "a", person("Robin Testperson", "robin@widgets.example.com"))
    b = add(store, "b", person("Kim Other", "kim@widgets.example.com"))
    ia, ib = fu.ensure_drafts(store, config=cfg).created
    assert "As we discussed" not in fu.get(store, ia).body
    res = fu.add_note(store, a, "asked about the Berlin office", config=cfg)
    assert res.draft_updated == ia and "As we discussed: asked about the Berlin office" in fu.get(store, ia).body
    entry = fu.get(store, ib)
    fu.save_edit(store, entry, "Subject: My own words\n\nKim, here is the list.\n")
    res = fu.add_note(store, b, "wants the price list", config=cfg)
    assert res.draft_kept == ib and fu.get(store, ib).body == "Kim, here is the list.\n"
    assert store.contact(b).notes == ("wants the price list",)


# ------------------------------------------------------------------------------ approval


def test_flagged_email_cannot_be_approved_until_corrected(store: Store) -> None:
    cfg = config_for()
    cid = add(store, "a", person("Robin Testperson", "robln@widgets.example.com", email_conf=0.95,
                                 email_flags=("repaired",)))
    low = add(store, "b", person("Kim Other", "kim@widgets.example.com", email_conf=0.4))
    fid, fid_low = fu.ensure_drafts(store, config=cfg).created
    result = fu.approve(store, [fid, fid_low], config=cfg)
    assert result.approved == ()
    assert "flagged for review" in dict(result.refused)[fid] and "repaired" in dict(result.refused)[fid]
    assert "0.40" in dict(result.refused)[fid_low]
    assert fu.reviewed_drafts(store) == []

    store.set_field(cid, "email", "robin@widgets.example.com")  # the user's correction: source user
    store.set_field(low, "email", "kim@widgets.example.com")  # confirmed as it was
    result = fu.approve(store, [fid, fid_low], config=cfg)
    assert result.approved == (fid, fid_low)
    e = fu.get(store, fid)
    assert e.state == "approved" and e.to_addr == "robin@widgets.example.com"
    assert e.message_id and e.message_id.endswith("@example.org>")
    assert fu.approve(store, [fid], config=cfg).refused[0][1] == "it is approved, not a draft"


def test_all_reviewed_takes_only_contacts_with_nothing_to_review(store: Store) -> None:
    cfg = config_for()
    add(store, "a", person("Robin Testperson", "robin@widgets.example.com"))
    shaky = person("Kim Other", "kim@widgets.example.com")
    shaky = replace(shaky, company=replace(shaky.company, confidence=0.3))  # type: ignore[arg-type]
    add(store, "b", shaky)
    ids = fu.ensure_drafts(store, config=cfg).created
    assert fu.reviewed_drafts(store) == [ids[0]]


def test_edit_text_round_trip_and_refusals(store: Store) -> None:
    add(store, "a", person("Robin Testperson", "robin@widgets.example.com"))
    (fid,) = fu.ensure_drafts(store, config=config_for()).created
    e = fu.get(store, fid)
    assert fu.save_edit(store, e, fu.edit_text(e)) is None  # unchanged
    with pytest.raises(ValidationError, match="line separator"):
        fu.save_edit(store, e, "Subject: hi\u2028Bcc: x@y\n\nbody\n")
    with pytest.raises(ValidationError, match="Subject"):
        fu.save_edit(store, e, "Hello\n\nbody\n")


# ------------------------------------------------------------------------------ sending


def test_send_delivers_each_approved_entry_exactly_once(store: Store, smtp_server: SmtpServer, tmp_path: Path) -> None:
    cfg = config_for(smtp_server)
    add(store, "a", person("Dr. Robin Testperson", "robin@widgets.example.com"), note="asked about the Berlin office")
    add(store, "b", person("Kim Other", "kim@widgets.example.com"))
    add(store, "c", person("Lee Unapproved", "lee@widgets.example.com"))
    ids = fu.ensure_drafts(store, config=cfg).created
    fu.approve(store, ids[:2], config=cfg)

    report = send(store, cfg, outbox=tmp_path / "sent")
    assert report.count("sent") == 2
    assert send(store, cfg).items == ()  # a second run sends nothing
    assert send(store, cfg).items == ()
    got = smtp_server.handler.received
    assert sorted(r.rcpt_tos[0] for r in got) == ["kim@widgets.example.com", "robin@widgets.example.com"]
    m = smtp_server.handler.to("robin@widgets.example.com")[0].message
    assert m["Subject"] == "Great to meet you at Expo 2031"
    assert m["To"].addresses[0].display_name == "Dr. Robin Testperson"
    assert m["From"].addresses[0].addr_spec == "ada@example.org"
    assert m["Message-ID"] == fu.get(store, ids[0]).message_id
    body = m.get_content()
    assert "asked about the Berlin office" in body and "Expo 2031" in body and "Hello Robin," in body
    assert fu.get(store, ids[2]).state == "draft"  # never approved: never sent
    assert all(fu.get(store, i).state == "sent" and fu.get(store, i).sent_at for i in ids[:2])
    assert len(list((tmp_path / "sent").glob("*.eml"))) == 2


def test_transient_451_is_retried_with_backoff_then_sent(store: Store, smtp_server: SmtpServer) -> None:
    cfg = config_for(smtp_server)
    add(store, "a", person("Robin Testperson", "robin@widgets.example.com"))
    fu.ensure_drafts(store, config=cfg)
    (fid,) = approve_all(store, cfg)
    smtp_server.handler.fail_451 = 2
    clock = FakeClock()
    r1 = send(store, cfg, clock)
    e = fu.get(store, fid)
    assert r1.items[0].state == "failed" and e.retry_pending and "451" in (e.last_error or "")
    assert e.next_attempt_at == pytest.approx(clock.t + 60)
    clock.t += 30
    assert send(store, cfg, clock).items == ()  # not due yet
    clock.t += 31
    assert send(store, cfg, clock).items[0].state == "failed"  # second 451
    assert fu.get(store, fid).next_attempt_at == pytest.approx(clock.t + 120)  # doubled
    clock.t += 121
    assert send(store, cfg, clock).items[0].state == "sent"
    assert fu.get(store, fid).attempts == 3
    assert len(smtp_server.handler.received) == 1 and smtp_server.handler.rcpt_commands == 3


def test_transient_failures_are_bounded(store: Store, smtp_server: SmtpServer) -> None:
    cfg = config_for(smtp_server)
    add(store, "a", person("Robin Testperson", "robin@widgets.example.com"))
    fu.ensure_drafts(store, config=cfg)
    (fid,) = approve_all(store, cfg)
    smtp_server.handler.fail_451 = 100
    clock = FakeClock()
    for _ in range(cfg.followup.max_attempts):
        send(store, cfg, clock)
        clock.t += 10_000
    e = fu.get(store, fid)
    assert e.state == "failed" and not e.retry_pending and "gave up after 3 attempts" in (e.last_error or "")
    assert send(store, cfg, clock).items == ()
    assert smtp_server.handler.rcpt_commands == 3


def test_permanent_550_is_not_retried(store: Store, smtp_server: SmtpServer) -> None:
    cfg = config_for(smtp_server)
    add(store, "a", person("Robin Testperson", "gone@widgets.example.com"))
    add(store, "b", person("Kim Other", "kim@widgets.example.com"))
    fu.ensure_drafts(store, config=cfg)
    gone, kim = approve_all(store, cfg)
    smtp_server.handler.reject = {"gone@widgets.example.com"}
    clock = FakeClock()
    r = send(store, cfg, clock)
    assert {i.id: i.state for i in r.items} == {gone: "failed", kim: "sent"}
    e = fu.get(store, gone)
    assert "550" in (e.last_error or "") and not e.retry_pending
    clock.t += 100_000
    assert send(store, cfg, clock).items == ()
    assert smtp_server.handler.rcpt_commands == 2


def test_disconnect_after_data_is_uncertain_and_never_resent(store: Store, smtp_server: SmtpServer) -> None:
    cfg = config_for(smtp_server)
    add(store, "a", person("Robin Testperson", "robin@widgets.example.com"))
    add(store, "b", person("Kim Other", "kim@widgets.example.com"))
    fu.ensure_drafts(store, config=cfg)
    robin, kim = approve_all(store, cfg)
    smtp_server.handler.drop_after_data = 1
    clock = FakeClock()
    r = send(store, cfg, clock)
    assert {i.id: i.state for i in r.items} == {robin: "uncertain", kim: "sent"}
    assert "may have been delivered" in (fu.get(store, robin).last_error or "")
    clock.t += 100_000
    assert send(store, cfg, clock).items == ()
    assert len(smtp_server.handler.to("robin@widgets.example.com")) == 1
    fu.mark_sent(store, robin)  # the person checked: it arrived
    assert fu.get(store, robin).state == "sent"


def test_entry_left_sending_by_a_crash_becomes_uncertain(store: Store, smtp_server: SmtpServer) -> None:
    cfg = config_for(smtp_server)
    add(store, "a", person("Robin Testperson", "robin@widgets.example.com"))
    fu.ensure_drafts(store, config=cfg)
    (fid,) = approve_all(store, cfg)

    class Crash(Exception):
        pass

    class CrashingTransport:  # fault injection: the process "dies" while the message is on its way
        def send(self, msg, rcpts):  # noqa: ANN001, ANN201
            raise Crash

        def close(self) -> None:
            pass

    with pytest.raises(Crash):
        send(store, cfg, transport=CrashingTransport())
    assert fu.get(store, fid).state == "sending"
    with store.write() as conn:  # the crashed run's lease has run out
        conn.execute("UPDATE followups SET lease_until = 0 WHERE id = ?", (fid,))
    r = send(store, cfg)
    assert r.recovered == (fid,) and r.items == ()
    assert fu.get(store, fid).state == "uncertain"
    assert smtp_server.handler.received == []
    fu.retry(store, fid)  # a person decided to send it again
    assert send(store, cfg).count("sent") == 1


def test_killed_sender_process_is_never_resent(tmp_path: Path, smtp_server: SmtpServer) -> None:
    """A real crash: `cardscan followup send` is killed while the server holds the DATA reply."""
    import threading

    cfgfile = smtp_server.config_toml(tmp_path / "config.toml")
    db = tmp_path / "cards.db"
    with Store(db) as s:
        add(s, "a", person("Robin Testperson", "robin@widgets.example.com"))
        fu.ensure_drafts(s, config=smtp_server.config())
        (fid,) = approve_all(s, smtp_server.config())
    smtp_server.handler.hold_data = threading.Event()
    env = dict(os.environ, CARDSCAN_CONFIG=str(cfgfile), HOME=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-m", "cardscan", "followup", "send", "--db", str(db)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert smtp_server.handler.in_data.wait(30), "the sender never reached DATA"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        smtp_server.handler.hold_data.set()
    with Store(db) as s:
        assert fu.get(s, fid).state == "sending"
        r = fu.send_queue(s, smtp_server.config())
        assert r.recovered == (fid,) and fu.get(s, fid).state == "uncertain"
        assert fu.send_queue(s, smtp_server.config()).items == ()
    assert len(smtp_server.handler.received) == 1


def test_dry_run_connects_to_nothing_and_writes_eml(store: Store, smtp_server: SmtpServer, tmp_path: Path) -> None:
    cfg = config_for(smtp_server)
    add(store, "a", person("José Müller", "jose@widgets.example.com"), note="wants a demo")
    add(store, "b", person("Lee Draft", "lee@widgets.example.com"))
    ids = fu.ensure_drafts(store, config=cfg).created
    fu.approve(store, ids[:1], config=cfg)
    r = send(store, cfg, dry_run=True, outbox=tmp_path / "out")
    assert smtp_server.handler.ehlos == 0 and smtp_server.handler.received == []
    files = sorted((tmp_path / "out").glob("*.eml"))
    assert len(files) == 1 and r.items[0].eml == files[0]
    m = message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert m["To"].addresses[0].display_name == "José Müller" and "wants a demo" in m.get_content()
    assert m["Message-ID"] == fu.get(store, ids[0]).message_id
    assert fu.get(store, ids[0]).state == "approved"  # unchanged: it still goes out on a real send


def test_rate_limit_spaces_messages_with_a_fake_clock(store: Store, smtp_server: SmtpServer) -> None:
    cfg = replace(config_for(smtp_server), followup=FollowupConfig(rate_per_minute=30))
    for i in range(4):
        add(store, f"p{i}", person(f"Person Number{i}", f"p{i}@widgets.example.com"))
    fu.ensure_drafts(store, config=cfg)
    approve_all(store, cfg)
    clock = FakeClock()
    r = send(store, cfg, clock)
    assert r.count("sent") == 4
    assert clock.slept == [pytest.approx(2.0)] * 3  # 30 a minute: one every 2 s after the first
    assert send(store, cfg, clock, limit=1).items == ()


def test_login_failure_leaves_the_entry_approved_and_logs_no_password(
        store: Store, smtp_auth_server: SmtpServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "Wr0ng-Passw0rd-xyz"
    cfg = config_for(smtp_auth_server)
    cfg = replace(cfg, smtp=replace(cfg.smtp, user=GOOD_USER, password=wrong))
    add(store, "a", person("Robin Testperson", "robin@widgets.example.com"))
    fu.ensure_drafts(store, config=cfg)
    (fid,) = approve_all(store, cfg)
    with pytest.raises(SendError, match="refused the login"):
        send(store, cfg)
    e = fu.get(store, fid)
    assert (e.state, e.attempts) == ("approved", 0)
    good = replace(cfg, smtp=replace(cfg.smtp, password=GOOD_PASSWORD))
    assert send(store, good).count("sent") == 1
    assert wrong not in caplog.text and GOOD_PASSWORD not in caplog.text and caplog.records


def test_unsafe_name_at_send_time_fails_permanently(store: Store, smtp_server: SmtpServer) -> None:
    cfg = config_for(smtp_server)
    cid = add(store, "a", person("Robin Testperson", "robin@widgets.example.com"))
    fu.ensure_drafts(store, config=cfg)
    (fid,) = approve_all(store, cfg)
    store.set_field(cid, "name", "Robin\r\nBcc: x@y")  # changed after approval
    r = send(store, cfg)
    assert r.items[0].state == "failed" and "line break" in r.items[0].reason
    assert smtp_server.handler.ehlos == 0 and not fu.get(store, fid).retry_pending


def test_reminders(store: Store) -> None:
    a = add(store, "a", person("Robin Testperson", "robin@widgets.example.com"))
    b = add(store, "b", person("Kim Nomail", None))
    c = add(store, "c", person("Lee Sent", "lee@widgets.example.com"))
    fu.ensure_drafts(store, config=config_for())
    lee = next(e.id for e in fu.entries(store) if e.contact_id == c)
    with store.write() as conn:
        conn.execute("UPDATE followups SET state = 'sent' WHERE id = ?", (lee,))
    assert fu.reminders(store, days=3) == []  # met today
    later = datetime.now(timezone.utc) + timedelta(days=5)
    rows = fu.reminders(store, days=3, now=later)
    assert [(r.contact_id, r.state) for r in rows] == [(a, "draft"), (b, "no e-mail")]
    assert fu.reminders(store, days=7, now=later) == []


# ------------------------------------------------------------------------------ CLI


def cli(*args: str, env: dict[str, str], input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cardscan", *args], env={**os.environ, **env}, cwd=ROOT,
                          capture_output=True, text=True, timeout=120, input=input)


def test_cli_flow_note_list_edit_approve_dry_run_send(tmp_path: Path, smtp_server: SmtpServer) -> None:
    db = tmp_path / "cards.db"
    with Store(db) as s:
        robin = add(s, "a", person("Robin Testperson", "robin@widgets.example.com"))
        add(s, "b", person("Kim Nomail", None, phone="+442079460000"))
        flagged = add(s, "c", person("Lee Flagged", "lee@widgets.example.com", email_conf=0.3))
    env = {"CARDSCAN_CONFIG": str(smtp_server.config_toml(tmp_path / "config.toml")), "HOME": str(tmp_path)}
    d = ["--db", str(db)]

    r = cli("note", str(robin), "asked about the Berlin office", *d, env=env)
    assert r.returncode == 0, r.stderr
    r = cli("followup", "list", *d, env=env)
    assert r.returncode == 0, r.stderr
    assert "follow up another way" in r.stdout and "Kim Nomail" in r.stdout and "+442079460000" in r.stdout
    assert "no note about this person" in r.stdout  # Lee's draft
    assert "flagged for review" in r.stdout
    with Store(db) as s:
        ids = {e.contact_id: e.id for e in fu.entries(s)}
        assert "asked about the Berlin office" in fu.get(s, ids[robin]).body

    editor = tmp_path / "editor.py"
    editor.write_text(textwrap.dedent("""
        import sys
        p = sys.argv[1]
        t = open(p, encoding="utf-8").read()
        t = t.replace("Subject: Great to meet you at Expo 2031", "Subject: The Berlin office")
        open(p, "w", encoding="utf-8").write(t + "PS: see you in Berlin\\n")
    """))
    r = cli("followup", "edit", str(ids[robin]), *d, env={**env, "EDITOR": f"{sys.executable} {editor}"})
    assert r.returncode == 0 and "saved" in r.stdout, r.stderr

    r = cli("followup", "approve", str(ids[robin]), str(ids[flagged]), *d, env=env)
    assert r.returncode == 1 and f"#{ids[robin]} approved" in r.stdout
    assert "flagged for review" in r.stderr

    r = cli("followup", "send", "--dry-run", *d, env=env)
    assert r.returncode == 0, r.stderr
    outbox = tmp_path / "cards-outbox"
    (eml,) = outbox.glob("*.eml")
    assert smtp_server.handler.ehlos == 0
    m = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert m["Subject"] == "The Berlin office" and "PS: see you in Berlin" in m.get_content()

    r = cli("followup", "send", *d, env=env)
    assert r.returncode == 0 and "1 sent" in r.stdout, r.stdout + r.stderr
    r = cli("followup", "send", *d, env=env)
    assert r.returncode == 0 and "0 sent" in r.stdout
    assert len(smtp_server.handler.received) == 1
    got = smtp_server.handler.received[0].message
    assert got["Subject"] == "The Berlin office" and "asked about the Berlin office" in got.get_content()

    r = cli("followup", "show", str(ids[robin]), *d, env=env)
    assert "state: sent" in r.stdout and "Message-ID: <" in r.stdout
    r = cli("followup", "list", "--state", "sent", *d, env=env)
    assert r.stdout.count("\n#") + r.stdout.startswith("#") == 1


def test_cli_send_errors_and_remind(tmp_path: Path, smtp_auth_server: SmtpServer) -> None:
    db = tmp_path / "cards.db"
    with Store(db) as s:
        add(s, "a", person("Robin Testperson", "robin@widgets.example.com"))
        fu.ensure_drafts(s, config=smtp_auth_server.config())
        approve_all(s, smtp_auth_server.config())
        with s.write() as conn:
            conn.execute("UPDATE contacts SET created_at = '2000-01-01T00:00:00.000+00:00'")
    cfgfile = smtp_auth_server.config_toml(tmp_path / "config.toml")
    text = cfgfile.read_text().replace('security = "plain"', f'security = "plain"\nuser = "{GOOD_USER}"')
    cfgfile.write_text(text)
    env = {"CARDSCAN_CONFIG": str(cfgfile), "HOME": str(tmp_path), "CARDSCAN_SMTP_PASSWORD": "Wr0ng-Passw0rd-xyz"}
    r = cli("-vv", "followup", "send", "--db", str(db), env=env)
    assert r.returncode == 10 and "refused the login" in r.stderr and "CARDSCAN_SMTP_PASSWORD" in r.stderr
    assert "Wr0ng-Passw0rd-xyz" not in r.stdout + r.stderr
    r = cli("followup", "send", "--db", str(db), env={**env, "CARDSCAN_SMTP_PASSWORD": ""})
    assert r.returncode == 9 and "no password" in r.stderr
    r = cli("followup", "remind", "--days", "30", "--db", str(db), env=env)
    assert r.returncode == 0 and "Robin Testperson" in r.stdout and "approved" in r.stdout
    r = cli("followup", "send", "--db", str(db), env={**env, "CARDSCAN_SMTP_PASSWORD": GOOD_PASSWORD})
    assert r.returncode == 0 and "1 sent" in r.stdout
    r = cli("followup", "remind", "--days", "30", "--db", str(db), env=env)
    assert "nobody" in r.stdout
