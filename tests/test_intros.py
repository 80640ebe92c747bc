"""Introductions, asks/offers, suggestions and sharing, through the follow-up queue, against a real
SMTP server (aiosmtpd on 127.0.0.1, tests/smtp_fixtures.py) and a real store."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cardscan.config import Config
from cardscan.contacts.dedupe import merge
from cardscan.errors import ValidationError
from cardscan.followup import intros as it
from cardscan.followup import queue as fu
from cardscan.followup.mailer import TokenBucket
from cardscan.store import Store

from smtp_fixtures import SENDER, SmtpServer, add, person, smtp_server  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]


class FakeClock:
    def __init__(self, t: float = 2_000_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


@pytest.fixture
def store(tmp_path: Path):  # noqa: ANN201
    with Store(tmp_path / "cards.db") as s:
        yield s


def send(store: Store, cfg: Config, **kw: object) -> fu.SendReport:
    clock = FakeClock()
    bucket = TokenBucket(cfg.followup.rate_per_minute, clock=clock, sleep=clock.sleep)
    return fu.send_queue(store, cfg, bucket=bucket, clock=clock, **kw)  # type: ignore[arg-type]


def approve(store: Store, cfg: Config, ids: list[int] | tuple[int, ...]) -> None:
    result = fu.approve(store, list(ids), config=cfg)
    assert not result.refused, result.refused


def two(store: Store) -> tuple[int, int]:
    ana = add(store, "ana", person("Ana Designer", "ana@studio-ana.example.com", company="Studio Ana"))
    ben = add(store, "ben", person("Ben Founder", "ben@rocket.example.net", company="Rocket Labs"))
    return ana, ben


# ------------------------------------------------------------------------------ introductions


def test_double_opt_in_yes_yes_sends_two_asks_then_one_introduction_to_both(store: Store,
                                                                           smtp_server: SmtpServer) -> None:
    cfg = smtp_server.config()
    ana, ben = two(store)
    made = it.create(store, ana, ben, config=cfg, why="Ben needs a brand; Ana designs brands")
    assert len(made.entries) == 2
    assert {e.kind for e in fu.entries(store)} == {"intro_ask"}
    assert fu.ensure_drafts(store, config=cfg).created  # the asks do not stop the plain follow-ups
    approve(store, cfg, made.entries)
    assert send(store, cfg).count("sent") == 2
    got = smtp_server.handler.received
    assert sorted(r.rcpt_tos[0] for r in got) == ["ana@studio-ana.example.com", "ben@rocket.example.net"]
    assert all(len(r.rcpt_tos) == 1 for r in got)
    to_ana = smtp_server.handler.to("ana@studio-ana.example.com")[0].message
    assert "Ben Founder" in to_ana["Subject"] and "Rocket Labs" in to_ana.get_content()
    assert "Ben needs a brand" in to_ana.get_content()
    for r in got:  # an ask never says what the other answered
        assert "agreed" not in r.message.get_content().lower() and "declined" not in r.message.get_content().lower()

    assert it.answer(store, made.intro_id, ana, "yes", config=cfg).state == "asking"
    assert send(store, cfg).count("sent") == 0  # nothing new until both said yes
    done = it.answer(store, made.intro_id, ben, "yes", config=cfg)
    assert done.state == "introducing" and done.introduction
    approve(store, cfg, [done.introduction])
    assert send(store, cfg).count("sent") == 1
    assert send(store, cfg).items == ()  # never twice
    intro_msgs = [r for r in smtp_server.handler.received if len(r.rcpt_tos) == 2]
    assert len(intro_msgs) == 1
    m = intro_msgs[0]
    assert sorted(m.rcpt_tos) == ["ana@studio-ana.example.com", "ben@rocket.example.net"]
    assert sorted(a.display_name for a in m.message["To"].addresses) == ["Ana Designer", "Ben Founder"]
    body = m.message.get_content()
    assert "meet Ben Founder" in body and "meet Ana Designer" in body and "Studio Ana" in body
    assert it.show(store, made.intro_id).state == "introduced"


def test_a_no_ends_it_for_ever_and_nobody_is_told(store: Store, smtp_server: SmtpServer) -> None:
    cfg = smtp_server.config()
    ana, ben = two(store)
    made = it.create(store, ana, ben, config=cfg)
    approve(store, cfg, made.entries[:1])  # only Ana's ask approved and sent
    assert send(store, cfg).count("sent") == 1
    approve(store, cfg, made.entries[1:])  # Ben's ask approved, not yet sent
    res = it.answer(store, made.intro_id, ana, "yes", config=cfg)
    assert res.state == "asking"
    res = it.answer(store, made.intro_id, ben, "no", config=cfg)
    assert res.state == "declined" and res.skipped == (made.entries[1],)
    for _ in range(3):
        assert send(store, cfg).items == ()
    assert len(smtp_server.handler.received) == 1  # Ana's ask only: she is not told Ben declined
    with pytest.raises(ValidationError, match="declined"):
        it.answer(store, made.intro_id, ben, "yes", config=cfg)
    with pytest.raises(ValidationError, match="already have introduction"):
        it.create(store, ben, ana, config=cfg)
    assert fu.retry is not None
    # even an entry forced back to approved is refused at send time
    with store.write() as conn:
        conn.execute("UPDATE followups SET state = 'approved' WHERE id = ?", (made.entries[1],))
    rep = send(store, cfg)
    assert rep.count("sent") == 0 and "declined" in rep.items[0].reason
    assert len(smtp_server.handler.received) == 1


def test_direct_is_one_message_and_crlf_name_is_refused(store: Store, smtp_server: SmtpServer) -> None:
    cfg = smtp_server.config()
    ana, ben = two(store)
    made = it.create(store, ana, ben, config=cfg, direct=True, why="both asked me")
    assert len(made.entries) == 1 and fu.get(store, made.entries[0]).kind == "intro"
    approve(store, cfg, made.entries)
    assert send(store, cfg).count("sent") == 1
    assert len(smtp_server.handler.received) == 1
    assert sorted(smtp_server.handler.received[0].rcpt_tos) == ["ana@studio-ana.example.com",
                                                                "ben@rocket.example.net"]

    eve = add(store, "eve", person("Eve\r\nBcc: victim@example.com", "eve@example.org", company="Other"))
    with pytest.raises(ValidationError, match="line break"):
        it.create(store, ana, eve, config=cfg, direct=True)
    # a name changed to carry CRLF after approval is refused when the message is built
    cara = add(store, "cara", person("Cara Third", "cara@third.example.org", company="Third"))
    made = it.create(store, ana, cara, config=cfg, direct=True)
    approve(store, cfg, made.entries)
    store.set_field(cara, "name", "Cara\r\nBcc: victim@example.com")
    rep = send(store, cfg)
    assert rep.count("sent") == 0 and rep.count("failed") == 1
    assert len(smtp_server.handler.received) == 1


def test_flagged_address_and_merged_contact(store: Store, smtp_server: SmtpServer) -> None:
    cfg = smtp_server.config()
    ana = add(store, "ana", person("Ana Designer", "ana@studio-ana.example.com", company="Studio Ana"))
    lee = add(store, "lee", person("Lee Flagged", "lee@flag.example.org", company="Flag", email_conf=0.3))
    made = it.create(store, ana, lee, config=cfg, direct=True)
    res = fu.approve(store, made.entries, config=cfg)
    assert not res.approved and "flagged for review" in res.refused[0][1]

    ben = add(store, "ben", person("Ben Founder", "ben@rocket.example.net", company="Rocket Labs"))
    ben2 = add(store, "ben2", person("Ben Founder", "ben@rocket.example.net", company="Rocket Labs"), event="Fair")
    made = it.create(store, ana, ben2, config=cfg, direct=True)
    approve(store, cfg, made.entries)
    merge(store, ben, ben2)  # ben2 merged into ben: the entry follows the merge
    e = fu.get(store, made.entries[0])
    assert e.other_contact_id == ben
    assert send(store, cfg).count("sent") == 1
    assert sorted(smtp_server.handler.received[0].rcpt_tos) == ["ana@studio-ana.example.com",
                                                                "ben@rocket.example.net"]


def test_cancel_and_list_json(store: Store) -> None:
    cfg = Config(sender=SENDER)
    ana, ben = two(store)
    made = it.create(store, ana, ben, config=cfg)
    assert it.list_intros(store)[0].as_json()["state"] == "asking"
    skipped = it.cancel(store, made.intro_id)
    assert set(skipped) == set(made.entries)
    assert [v.state for v in it.list_intros(store)] == ["cancelled"]
    assert it.list_intros(store, state="asking") == []


# ------------------------------------------------------------------------------ share


def test_share_one_message_per_person_with_the_url(store: Store, smtp_server: SmtpServer) -> None:
    cfg = smtp_server.config()
    ana, ben = two(store)
    url = "https://example.org/articles/networking?x=1"
    res = it.share(store, url, [ana, ben], config=cfg, note="the article on follow-ups we talked about")
    assert len(res.created) == 2
    again = it.share(store, url, [ana], config=cfg)
    assert again.created == () and again.already == ((ana, res.created[0]),)
    approve(store, cfg, res.created)
    assert send(store, cfg).count("sent") == 2
    assert send(store, cfg).items == ()
    got = smtp_server.handler.received
    assert sorted(r.rcpt_tos[0] for r in got) == ["ana@studio-ana.example.com", "ben@rocket.example.net"]
    for r in got:
        body = r.message.get_content()
        assert url in body and "the article on follow-ups" in body and "Expo 2031" in body
    assert "Hello Ana," in smtp_server.handler.to("ana@studio-ana.example.com")[0].message.get_content()
    for bad in ("javascript:alert(1)", "https://x.example/a b", "https://x.example/\r\nBcc: y"):
        with pytest.raises(ValidationError):
            it.share(store, bad, [ana], config=cfg)


# ------------------------------------------------------------------------------ suggestions


def test_suggest_ranks_the_matching_pair_first_and_never_pairs_colleagues(store: Store) -> None:
    cfg = Config(sender=SENDER)
    ana, ben = two(store)
    it.add_offer(store, ana, "brand design and logos")
    it.add_ask(store, ben, "a designer for our new brand")
    tax = add(store, "tom", person("Tom Taxman", "tom@numbers.example.com", company="Numbers & Co"))
    it.add_offer(store, tax, "tax advice for startups")
    # a colleague of Ana's who also designs: never paired with Ana, however well it matches
    col = add(store, "col", person("Colin Colleague", "colin@studio-ana.example.com", company="Studio Ana Ltd"))
    it.add_ask(store, col, "brand design")
    lawyer = add(store, "pat", person("Pat Lawyer", "pat@law.example.com", company="Lex"))
    store.set_field(lawyer, "title", "Patent Attorney")
    it.add_ask(store, tax, "a patent lawyer")

    got = it.suggest(store)
    assert got, "no suggestion"
    top = got[0]
    assert (top.a, top.b) == (ben, ana) and top.score >= 90 and "brand design" in top.reason
    assert all({s.a, s.b} != {ana, col} for s in got)
    assert any({s.a, s.b} == {tax, lawyer} for s in got)
    assert all(s.score >= it.MIN_SCORE for s in got)
    scores = [s.score for s in got]
    assert scores == sorted(scores, reverse=True)
    # once introduced (or declined), a pair is never suggested again
    it.create(store, ana, ben, config=cfg)
    assert all({s.a, s.b} != {ana, ben} for s in it.suggest(store))


def test_asks_and_offers_stored_and_follow_merges(store: Store) -> None:
    ana, ben = two(store)
    it.add_ask(store, ana, "  a  printer  ")
    it.add_offer(store, ana, "photography")
    rec = store.contact(ana)
    assert rec.asks == ("a printer",) and rec.offers == ("photography",)
    with pytest.raises(ValidationError):
        it.add_ask(store, ana, "   ")
    ana2 = add(store, "ana2", person("Ana Designer", "ana@studio-ana.example.com", company="Studio Ana"), event="X")
    it.add_offer(store, ana2, "illustration")
    merge(store, ana, ana2)
    assert store.contact(ana).offers == ("photography", "illustration")


def test_waiting_asks_are_reminded(store: Store, smtp_server: SmtpServer) -> None:
    from datetime import datetime, timedelta, timezone

    cfg = smtp_server.config()
    ana, ben = two(store)
    made = it.create(store, ana, ben, config=cfg)
    approve(store, cfg, made.entries)
    send(store, cfg)
    it.answer(store, made.intro_id, ana, "yes", config=cfg)
    assert it.waiting_asks(store, days=3) == []
    later = datetime.now(timezone.utc) + timedelta(days=5)
    waiting = it.waiting_asks(store, days=3, now=later)
    assert [(w.contact_id, w.other) for w in waiting] == [(ben, "Ana Designer")]


# ------------------------------------------------------------------------------ CLI


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cardscan", *args], env={**os.environ, **env}, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_cli_flow(tmp_path: Path, smtp_server: SmtpServer) -> None:
    db = tmp_path / "cards.db"
    with Store(db) as s:
        ana, ben = two(s)
    env = {"CARDSCAN_CONFIG": str(smtp_server.config_toml(tmp_path / "config.toml")), "HOME": str(tmp_path)}
    d = ["--db", str(db)]

    def ok(*args: str) -> str:
        r = cli(*args, *d, env=env)
        assert r.returncode == 0, (args, r.stdout, r.stderr)
        return r.stdout

    ok("note", str(ana), "--offers", "brand design and logos")
    ok("note", str(ben), "--asks", "a designer for our new brand", "--asks", "investors")
    out = ok("intro", "suggest")
    assert "Ben Founder asks for 'a designer for our new brand'; Ana Designer offers" in out
    out = ok("intro", str(ben), str(ana), "--why", "Ben needs a brand")
    assert "introduction #1" in out
    listed = json.loads(ok("intro", "list", "--json"))
    assert listed[0]["id"] == 1 and listed[0]["state"] == "asking" and listed[0]["kind"] == "intro"
    assert [c["id"] for c in listed[0]["contacts"]] == [ben, ana]
    entries = json.loads(ok("followup", "list", "--json"))
    asks = [e for e in entries if e["kind"] == "intro_ask"]
    assert len(asks) == 2 and all(e["state"] == "draft" and e["intro"] == 1 for e in asks)
    assert {e["kind"] for e in entries} == {"intro_ask", "followup"}
    ok("followup", "approve", *(str(e["id"]) for e in asks))
    out = ok("followup", "send", "--dry-run")
    assert "2 message(s) written" in out and smtp_server.handler.received == []
    ok("followup", "send")
    assert len(smtp_server.handler.received) == 2
    ok("intro", "answer", "1", str(ana), "yes")
    out = ok("intro", "answer", "1", str(ben), "yes")
    assert "introduction draft" in out
    intro_entry = [e for e in json.loads(ok("followup", "list", "--json")) if e["kind"] == "intro"][0]
    ok("followup", "approve", str(intro_entry["id"]))
    ok("followup", "send")
    ok("followup", "send")
    assert len(smtp_server.handler.received) == 3
    assert "introduced" in ok("intro", "show", "1")

    out = ok("share", "https://example.org/a", "--with", str(ana), str(ben), "--note", "as promised")
    assert out.count("share #") == 2
    r = cli("intro", "answer", "1", str(ana), "maybe", *d, env=env)
    assert r.returncode != 0
    r = cli("share", "ftp://x", "--with", str(ana), *d, env=env)
    assert r.returncode != 0 and "link" in r.stderr


# ------------------------------------------------------------------------------ report and review app


def test_report_and_review_show_asks_offers_intros_and_record_answers(tmp_path: Path) -> None:
    import re
    import urllib.parse
    import urllib.request

    from cardscan.outputs.report import write_report
    from cardscan.outputs.review import ReviewServer, ReviewSettings

    db = tmp_path / "cards.db"
    cfg = Config(sender=SENDER)
    with Store(db) as s:
        ana, ben = two(s)
        it.add_offer(s, ana, "brand design <b>and</b> logos")
        it.add_ask(s, ben, "a designer")
        made = it.create(s, ana, ben, config=cfg, why="Ben needs a brand")
        html = write_report(s, tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Offers: <bdi>brand design &lt;b&gt;and&lt;/b&gt; logos</bdi>" in html
    assert "Asks for: <bdi>a designer</bdi>" in html
    assert html.count(f"Introduction #{made.intro_id} to") == 2 and "Introduction ask #" in html
    assert "Ben needs a brand" in html

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a: object, **kw: object) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)

    def post(url: str, data: dict[str, str]) -> int:  # as the page's forms post: Origin is this server
        origin = url.split("/", 3)
        req = urllib.request.Request(url, data=urllib.parse.urlencode(data).encode(),
                                     headers={"Origin": f"{origin[0]}//{origin[2]}"})
        try:
            with opener.open(req, timeout=10) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    srv = ReviewServer(ReviewSettings(db=db, config_loader=lambda: cfg)).start()
    try:
        page = urllib.request.urlopen(srv.url, timeout=10).read().decode()
        assert page.count(f"intro/{made.intro_id}/answer") == 2
        tok = srv.settings.token
        base = f"http://127.0.0.1:{srv.port}/{tok}/"
        assert post(base + f"intro/{made.intro_id}/answer", {"token": tok, "contact": str(ana), "answer": "yes"}) == 303
        assert post(base + f"intro/{made.intro_id}/answer", {"token": "bad", "contact": str(ben), "answer": "yes"}) == 403
        assert post(base + f"intro/{made.intro_id}/answer", {"token": tok, "contact": str(ben), "answer": "yes"}) == 303
        with Store(db) as s:
            intro_entry = [e for e in fu.entries(s) if e.kind == "intro"]
        assert len(intro_entry) == 1 and intro_entry[0].state == "draft"
        fid = intro_entry[0].id
        assert post(base + f"followup/{fid}/approve", {"token": tok, "contact": str(ana)}) == 303
        with Store(db) as s:
            assert fu.get(s, fid).state == "approved"
        page = urllib.request.urlopen(srv.url, timeout=10).read().decode()
        assert not re.search(r"intro/\d+/answer", page)  # nothing left to answer
        assert "introducing" in page
    finally:
        srv.stop()


def test_exports_carry_asks_and_offers_in_the_notes(store: Store) -> None:
    from cardscan.outputs.export import load_items, note_text, render

    ana, ben = two(store)
    it.add_ask(store, ana, "a printer in Lyon")
    it.add_offer(store, ana, "photography")
    item = [i for i in load_items(store) if i.id == ana][0]
    text = note_text(item)
    assert "Asks for: a printer in Lyon" in text and "Offers: photography" in text
    vcf = render([item], "vcf").decode()
    assert "Asks for: a printer in Lyon" in vcf
