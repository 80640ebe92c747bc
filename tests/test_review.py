"""cardscan review: the local web app, driven over HTTP and in a real headless Chromium."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_fixtures import XSS, Filled, browser, filled, filled_template, page  # noqa: F401

from cardscan.errors import BadArgumentsError, CardscanError, ExitCode, ValidationError
from cardscan.outputs.report import write_report
from cardscan.outputs.review import ReviewServer, ReviewSettings, check_bind, merge_contacts, validate_value
from cardscan.store import Store


@pytest.fixture
def server(filled: Filled) -> Iterator[ReviewServer]:  # noqa: F811
    srv = ReviewServer(ReviewSettings(db=filled.db)).start()
    try:
        yield srv
    finally:
        srv.stop()


def http(url: str, data: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> tuple[int, str]:
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, headers=headers or {})

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a: object, **kw: object) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def post(server: ReviewServer, path: str, form: dict[str, str], headers: dict[str, str] | None = None
         ) -> tuple[int, str]:
    """A POST as the page's own forms send it: this run's token in the form, this server as Origin."""
    return http(server.url + path, {"token": server.settings.token, **form},
                headers={"Origin": f"http://127.0.0.1:{server.port}"} if headers is None else headers)


def dump(db: Path) -> str:
    with Store(db) as s:
        return "\n".join(s.connection.iterdump())


def phone(db: Path, cid: int) -> str:
    with Store(db) as s:
        return s.contact(cid).contact.phones[0].number


def followup_state(db: Path, fid: int) -> str:
    with Store(db) as s:
        return s.connection.execute("SELECT state FROM followups WHERE id = ?", (fid,)).fetchone()[0]


# --------------------------------------------------------------------------------------------
# access control


def test_every_request_needs_the_token(server: ReviewServer, filled: Filled) -> None:  # noqa: F811
    root = f"http://127.0.0.1:{server.port}"
    tok = server.settings.token
    assert http(server.url)[0] == 200
    for path in ["/", "/favicon.ico", f"/{tok[:-1]}/", f"/{tok}x/", f"/{tok.upper()}/", "/static/x",
                 f"/photo/{'0' * 64}"]:
        assert http(root + path)[0] == 403, path
    form = {"field": "phone", "position": "0", "value": "+81 3 9876 5432", "action": "save"}
    target = f"{root}/{tok}/contact/{filled.good}/field"
    assert http(target, form)[0] == 403  # no token in the form: a cross-site POST
    assert http(target, {**form, "token": "wrong"})[0] == 403
    assert http(f"{root}/other/contact/{filled.good}/field", {**form, "token": tok})[0] == 403
    assert phone(filled.db, filled.good) == filled.read_phone  # nothing was changed
    assert http(server.url, headers={"Host": "attacker.example"})[0] == 403  # DNS rebinding
    status, _ = http(target, {**form, "token": tok}, headers={"Origin": root})
    assert status == 303 and phone(filled.db, filled.good) == "+81398765432"


def test_every_post_must_come_from_this_origin(server: ReviewServer, filled: Filled) -> None:  # noqa: F811
    """The token is in the form; Origin (or, without it, Referer) must also name this server (issue 14, item 8)."""
    origin = f"http://127.0.0.1:{server.port}"
    target = f"contact/{filled.good}/reviewed"
    before = dump(filled.db)
    for headers in ({}, {"Origin": "null"}, {"Origin": "http://evil.example"}, {"Origin": f"https://127.0.0.1:{server.port}"},
                    {"Origin": f"http://127.0.0.1:{server.port}0"}, {"Referer": "http://evil.example/page"},
                    {"Referer": f"{origin}.evil.example/{server.settings.token}/"},
                    {"Origin": "http://evil.example", "Referer": server.url}):
        status, body = post(server, target, {"reviewed": "1"}, headers)
        assert status == 403 and "Traceback" not in body, headers
    assert dump(filled.db) == before
    assert post(server, target, {"reviewed": "1"}, {"Referer": server.url})[0] == 303  # no Origin: Referer decides
    assert post(server, target, {"reviewed": "0"}, {"Origin": origin})[0] == 303
    assert post(server, target, {"reviewed": "1"}, {"Origin": f"http://localhost:{server.port}",
                                                    "Host": f"localhost:{server.port}"})[0] == 303


def test_headers_forbid_scripts_and_framing(server: ReviewServer) -> None:
    with urllib.request.urlopen(server.url, timeout=10) as r:
        csp = r.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "script-src" not in csp and "frame-ancestors 'none'" in csp
        # the token must not leak through links; same-origin lets the page's own forms send their Origin
        assert r.headers["Referrer-Policy"] == "same-origin"
        assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_non_loopback_bind_refused_unless_explicit(filled: Filled) -> None:  # noqa: F811
    with pytest.raises(BadArgumentsError, match="--host"):
        ReviewServer(ReviewSettings(db=filled.db), host="0.0.0.0")
    with pytest.raises(BadArgumentsError):
        check_bind("192.168.1.20", allow_remote=False)
    for host in ("127.0.0.1", "127.0.0.5", "::1", "localhost"):
        check_bind(host, allow_remote=False)
    check_bind("0.0.0.0", allow_remote=True)  # --host given explicitly: the user's choice


def test_cli_serves_on_loopback_and_stops_on_ctrl_c(filled: Filled) -> None:  # noqa: F811
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "cardscan", "review", "--db", str(filled.db), "--no-browser"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert line.startswith("cardscan review: http://127.0.0.1:"), line + proc.stderr.read()
        url = line.split(": ", 1)[1].strip()
        status, html = http(url)
        assert status == 200 and "Aiko Fictional" in html
        assert http(url.rsplit("/", 2)[0] + "/")[0] == 403
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=10)
        finally:
            if proc.poll() is None:  # never leave the server running, also when the test fails
                proc.kill()
                proc.wait()
    assert proc.returncode in (0, 130), err
    assert "Traceback" not in err


def test_cli_busy_timeout_reaches_the_page(filled: Filled) -> None:  # noqa: F811
    """`cardscan review --busy-timeout 0.3`: a save blocked by another program's write lock is
    answered "busy" at once (with the default 30 s the request below would time out after 10 s)."""
    assert subprocess.run([sys.executable, "-m", "cardscan", "review", "--db", str(filled.db), "--no-browser",
                           "--busy-timeout", "0"], capture_output=True, text=True, timeout=60).returncode == 1
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "cardscan", "review", "--db", str(filled.db), "--no-browser",
                             "--busy-timeout", "0.3"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    holder = sqlite3.connect(filled.db, isolation_level=None)
    try:
        url = proc.stdout.readline().split(": ", 1)[1].strip()
        token = url.rstrip("/").rsplit("/", 1)[1]
        origin = url.split("/", 3)[:3]
        holder.execute("BEGIN IMMEDIATE")
        status, html = http(f"{url}contact/{filled.good}/reviewed", {"token": token, "reviewed": "1"},
                            headers={"Origin": "/".join(origin)})
        assert status == 503 and "busy" in html, (status, html[-500:])
    finally:
        holder.close()
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_cli_refuses_a_missing_database(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "cardscan", "review", "--db", str(tmp_path / "none.db"), "--no-browser"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "no database" in r.stderr


def _damage(db: Path) -> None:
    """Real damage: the second half's pages get garbage page headers; the file header stays intact."""
    size = db.stat().st_size
    with open(db, "r+b") as fh:
        for off in range(size // 2 // 4096 * 4096, size, 4096):
            fh.seek(off)
            fh.write(bytes(range(7, 71)))


def test_a_bad_database_refuses_to_start_with_one_line(filled: Filled, tmp_path: Path) -> None:  # noqa: F811
    """Issue 14, item 8: not a database, another program's, damaged pages, missing: no server, one line."""
    text = tmp_path / "notes.db"
    text.write_text("these are my notes, not a database\n" * 200)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()
    with ReviewServer(ReviewSettings(db=filled.db)) as srv:  # damaged while it serves: one line, not a bare 500
        _damage(filled.db)
        status, body = http(srv.url)
        assert status == 503 and "is damaged" in body and len(body.strip().splitlines()) == 1, (status, body[:500])
    damaged = filled.db.read_bytes()
    cases = [(text, "is not a cardscan database"), (other, "of another program"), (filled.db, "is damaged"),
             (tmp_path / "none.db", "no database at")]
    for db, words in cases:
        with pytest.raises(CardscanError) as caught:
            ReviewServer(ReviewSettings(db=db))
        assert words in str(caught.value) and "\n" not in str(caught.value), (db, str(caught.value))
    assert not (tmp_path / "none.db").exists() and filled.db.read_bytes() == damaged
    r = subprocess.run([sys.executable, "-m", "cardscan", "review", "--db", str(filled.db), "--no-browser"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == ExitCode.output_access and r.stdout == "", r.stdout + r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "is damaged" in r.stderr, r.stderr


# --------------------------------------------------------------------------------------------
# ids that cannot exist, a database another program is writing


HUGE = "99999999999999999999"  # beyond SQLite's 64-bit integers


def test_huge_and_missing_ids_are_404_and_change_nothing(server: ReviewServer, filled: Filled) -> None:  # noqa: F811
    """Issue 14, item 7: an id beyond SQLite's integers, in the URL or in the form, is 404, not 500;
    marking a contact that does not exist reviewed is 404, not "marked reviewed"."""
    before = dump(filled.db)
    good, fid = str(filled.good), str(filled.followup)
    for path, form in [(f"contact/{HUGE}/field", {"field": "name", "position": "0", "value": "X", "action": "save"}),
                       (f"contact/{HUGE}/add", {"field": "title", "value": "X"}),
                       (f"contact/{HUGE}/reviewed", {"reviewed": "1"}),
                       (f"followup/{HUGE}/approve", {"contact": good}),
                       (f"followup/{fid}/skip", {"contact": HUGE}),
                       (f"intro/{HUGE}/answer", {"contact": good, "answer": "yes"}),
                       ("merge", {"keep": HUGE, "other": str(filled.twin), "action": "merge"}),
                       ("merge", {"keep": good, "other": HUGE, "action": "dismiss"}),
                       ("contact/999999/reviewed", {"reviewed": "1"}),
                       ("contact/999999/add", {"field": "title", "value": "X"})]:
        status, body = post(server, path, form)
        assert status == 404 and "reviewed" not in body and "Traceback" not in body, (path, form, status, body[:300])
    assert dump(filled.db) == before


def test_a_busy_database_keeps_what_was_typed(filled: Filled) -> None:  # noqa: F811
    """Issue 14, item 8: another process holds the write lock longer than the busy timeout: the page
    says so and shows each form again with what was typed; nothing is half-saved."""
    with ReviewServer(ReviewSettings(db=filled.db, busy_timeout=0.2)) as srv:
        holder = sqlite3.connect(filled.db, isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")  # a real write lock, as a scan in another process holds it
            before = dump(filled.db)
            status, html = post(srv, f"contact/{filled.good}/field",
                                {"field": "phone", "position": "0", "value": "+81 3 9876 5432", "action": "save"})
            assert status == 503 and "busy" in html and 'value="+81 3 9876 5432"' in html, (status, html[-2000:])
            status, html = post(srv, f"contact/{filled.good}/add", {"field": "title", "value": "Typed Title"})
            assert status == 503 and "busy" in html and 'value="Typed Title"' in html
            status, html = post(srv, f"followup/{filled.followup}/edit",
                                {"contact": str(filled.good), "subject": "Typed subject", "body": "Typed body line"})
            assert status == 503 and "busy" in html and 'value="Typed subject"' in html and "Typed body line" in html
            status, html = post(srv, f"contact/{filled.good}/reviewed", {"reviewed": "1"})
            assert status == 503 and "busy" in html
            assert dump(filled.db) == before
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        status, _ = post(srv, f"contact/{filled.good}/field",
                         {"field": "phone", "position": "0", "value": "+81 3 9876 5432", "action": "save"})
        assert status == 303 and phone(filled.db, filled.good) == "+81398765432"  # free again: saved


# --------------------------------------------------------------------------------------------
# editing in the browser


def _edit(pg: object, cid: int, slot: str, value: str) -> None:
    row = pg.locator(f"#contact-{cid} tr[data-field='{slot}']")  # type: ignore[attr-defined]
    row.locator("summary").click()
    row.locator("input[name=value]").fill(value)
    row.locator("button[value=save]").click()
    pg.wait_for_load_state()  # type: ignore[attr-defined]


def test_invalid_phone_is_refused_with_the_reason(server: ReviewServer, filled: Filled, page) -> None:  # noqa: F811
    pg, watch = page
    pg.goto(server.url)
    _edit(pg, filled.good, "phone-0", "+81 3 12")
    error = pg.locator(f"#contact-{filled.good} .error").inner_text()
    assert "not a valid number for JP" in error
    assert pg.locator(f"#contact-{filled.good} tr[data-field='phone-0'] input[name=value]").input_value() == "+81 3 12"
    assert phone(filled.db, filled.good) == filled.read_phone
    _edit(pg, filled.good, "email-0", "aiko@@nowhere")
    assert "not a valid e-mail address" in pg.locator(f"#contact-{filled.good} .error").inner_text()
    assert watch.dialogs == []


def test_valid_edit_persists_and_appears_in_the_next_report(server: ReviewServer, filled: Filled, page,  # noqa: F811
                                                            tmp_path: Path) -> None:
    pg, _ = page
    pg.goto(server.url)
    _edit(pg, filled.good, "phone-0", "03-9876-5432")  # national format: the contact's region (JP) applies
    assert "saved" in pg.locator(".notice").inner_text()
    assert pg.url.endswith(f"#contact-{filled.good}")  # POST, then redirect back to the contact
    assert phone(filled.db, filled.good) == "+81398765432"
    cell = pg.locator(f"#contact-{filled.good} tr[data-field='phone-0']")
    assert "+81398765432" in cell.inner_text() and "edited" in cell.inner_text()
    with Store(filled.db) as s:
        html = write_report(s, tmp_path / "next.html").read_text()
    assert 'href="tel:+81398765432"' in html and filled.read_phone not in html.split("Tel 03-1234-5678")[0]


def test_revert_restores_the_value_read_from_the_card(server: ReviewServer, filled: Filled, page) -> None:  # noqa: F811
    pg, _ = page
    pg.goto(server.url)
    _edit(pg, filled.good, "phone-0", "+81 3 9876 5432")
    assert phone(filled.db, filled.good) == "+81398765432"
    pg.locator(f"#contact-{filled.good} tr[data-field='phone-0'] summary").click()
    pg.locator(f"#contact-{filled.good} tr[data-field='phone-0'] button[value=revert]").click()
    pg.wait_for_load_state()
    assert phone(filled.db, filled.good) == filled.read_phone
    cell = pg.locator(f"#contact-{filled.good} tr[data-field='phone-0']")
    assert "OCR" in cell.inner_text() and cell.locator("button[value=revert]").count() == 0


def test_approve_skip_and_edit_a_followup(server: ReviewServer, filled: Filled, page) -> None:  # noqa: F811
    pytest.importorskip("cardscan.followup.queue", reason="the follow-up queue module is not installed")
    pg, _ = page
    pg.goto(server.url)
    box = pg.locator(f"#followup-{filled.followup}")
    box.locator("textarea[name=body]").fill("Dear Aiko,\n\nthanks again. Edited in the browser.\n")
    box.locator("button", has_text="Save draft").click()
    pg.wait_for_load_state()
    with Store(filled.db) as s:
        body = s.connection.execute("SELECT body FROM followups WHERE id = ?", (filled.followup,)).fetchone()[0]
    assert "Edited in the browser." in body
    assert followup_state(filled.db, filled.followup) == "draft"
    pg.locator(f"#followup-{filled.followup} button", has_text="Approve").click()
    pg.wait_for_load_state()
    assert followup_state(filled.db, filled.followup) == "approved"
    assert "approved" in pg.locator(f"#followup-{filled.followup} .state").inner_text()
    pg.locator(f"#followup-{filled.followup} button", has_text="Skip").click()
    pg.wait_for_load_state()
    assert followup_state(filled.db, filled.followup) == "skipped"
    assert pg.locator(f"#followup-{filled.followup} button", has_text="Approve").count() == 0


def test_merge_a_duplicate(server: ReviewServer, filled: Filled, page) -> None:  # noqa: F811
    pg, _ = page
    pg.goto(server.url)
    assert pg.locator("article.card").count() == filled.contacts
    pg.locator(f"#contact-{filled.good} .dups button[value=merge]").click()
    pg.wait_for_load_state()
    assert pg.locator("article.card").count() == filled.contacts - 1
    assert pg.locator(f"#contact-{filled.good} .photo img").count() == 2  # both cards now belong to one contact
    with Store(filled.db) as s:
        assert s.contact(filled.twin).id == filled.good  # the twin's id leads to the survivor
        assert s.contact(filled.good).contact.name.value == "Aiko Fictional"


def test_hostile_card_is_inert_in_review(server: ReviewServer, filled: Filled, page) -> None:  # noqa: F811
    pg, watch = page
    pg.goto(server.url)
    pg.wait_for_timeout(300)
    for cell in pg.locator(f"#contact-{filled.hostile} td.value").all():
        cell.hover()
    assert watch.dialogs == []
    assert pg.locator("script, iframe, svg").count() == 0
    assert XSS in pg.locator(f"#contact-{filled.hostile} h2").inner_text()
    hrefs = pg.evaluate("[...document.querySelectorAll('a[href]')].map(a => a.href)")
    assert not [h for h in hrefs if h.lower().startswith(("javascript:", "data:"))]
    origin = f"http://127.0.0.1:{server.port}/"
    assert [u for u in watch.requests if not u.startswith("data:")] == [server.url]
    assert all(u.startswith(origin) or u.startswith("data:") for u in watch.requests)
    # an edit form shows the hostile value as text in the input, not as markup
    field = pg.locator(f"#contact-{filled.hostile} tr[data-field='name-0'] input[name=value]")
    assert field.input_value() == XSS


# --------------------------------------------------------------------------------------------
# the store-only fallbacks (used until cardscan.contacts.edit / cardscan.contacts.dedupe are installed)


def test_validate_value_gives_the_validators_reason() -> None:
    assert validate_value("phone", "03-1234-5678", region="JP") == "+81312345678"
    with pytest.raises(ValidationError, match="not a valid number for JP"):
        validate_value("phone", "+81 3 12", region="JP")
    with pytest.raises(ValidationError, match="not a phone number"):
        validate_value("phone", "call me", region="JP")
    assert validate_value("email", "Aiko@Nowhere-Optics.example") == "Aiko@nowhere-optics.example"
    with pytest.raises(ValidationError, match="e-mail"):
        validate_value("email", "aiko at nowhere")
    with pytest.raises(ValidationError, match="web address"):
        validate_value("website", "javascript:alert(1)")
    with pytest.raises(ValidationError, match="invisible"):
        validate_value("name", "Aiko\u202eFictional")
    assert validate_value("title", "   ") is None  # empty: delete


def test_merge_keeps_both_cards_and_missing_values(filled: Filled) -> None:  # noqa: F811
    with Store(filled.db) as s:
        survivor = merge_contacts(s, filled.doubtful, filled.twin)
        rec = s.contact(filled.twin)
        assert survivor == filled.doubtful and rec.id == filled.doubtful
        assert len(rec.cards) == 2
        emails = [e.value for e in rec.contact.emails]
        assert emails == ["rem@sample-works.example", "aiko@nowhere-optics.example"]
        assert rec.contact.name.value == "Rem Placeholder"  # the survivor's own value stays
        assert len(s.contacts()) == filled.contacts - 1


def test_original_photo_is_served_while_it_is_unchanged(tmp_path: Path) -> None:
    import hashlib

    from browser_fixtures import card_jpeg

    from cardscan.models import Contact, Field

    photo = tmp_path / "card.jpg"
    photo.write_bytes(card_jpeg(["Original Photo"], 3))
    sha = hashlib.sha256(photo.read_bytes()).hexdigest()
    db = tmp_path / "p.db"
    with Store(db) as s:
        s.record_success(sha, photo, contact=Contact(name=Field("Original Photo", 0.9)), crop_jpeg=photo.read_bytes())
    with ReviewServer(ReviewSettings(db=db)) as srv:
        with urllib.request.urlopen(f"{srv.url}photo/{sha}", timeout=10) as r:
            assert r.headers["Content-Type"] == "image/jpeg" and r.read(3) == b"\xff\xd8\xff"
        photo.write_bytes(photo.read_bytes() + b"changed")
        assert http(f"{srv.url}photo/{sha}")[0] == 404  # another file now: not shown as this card
        assert http(f"{srv.url}photo/{'f' * 64}")[0] == 404
        assert http(f"{srv.url}photo/..%2f..%2fetc%2fpasswd")[0] in (403, 404)
