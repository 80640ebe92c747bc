"""Issue 15: what a new user trips over (contact numbers, CLI habits, exports, HEIC, ...)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from browser_fixtures import Filled, browser, filled, filled_template, page  # noqa: F401
from cardscan.config import Config
from smtp_fixtures import SENDER, add, person, smtp_server  # noqa: F401
from watch_fixtures import card_jpeg, cli_env

SLOW_ENGINE = "tests.newcomer_fixtures:make_size_slow_engine"


# ----------------------------------------------------------------------------- 1. contact numbers
def _ids_by_file(jsonl: Path) -> dict[str, int]:
    recs = [json.loads(line) for line in jsonl.read_text().splitlines()]
    return {Path(r["file"]).name: r["contact_id"] for r in recs}


def test_contact_numbers_follow_the_input_order_whatever_worker_finishes_first(tmp_path, cli):
    """The first photo is slow to read: with two workers the others finish before it, yet it
    is contact #1, the same in every run."""
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a-big.jpg").write_bytes(card_jpeg(0, scale=2.0))
    for i in range(1, 5):
        (photos / f"b-{i}.jpg").write_bytes(card_jpeg(i))
    runs = []
    for k in range(3):
        out = tmp_path / f"run{k}.jsonl"
        r = cli("scan", str(photos), "--db", str(tmp_path / f"c{k}.db"), "-j", "2", "--no-report",
                "--no-drafts", "--jsonl", str(out), env=cli_env({"CARDSCAN_TEST_ENGINE_FACTORY": SLOW_ENGINE}))
        assert r.returncode == 0, r.stderr
        runs.append(_ids_by_file(out))
    expected = {name: n for n, name in enumerate(sorted(runs[0]), start=1)}
    assert runs == [expected] * 3


# ----------------------------------------------------------------------------- 7. CLI habits
FAKE = {"CARDSCAN_TEST_ENGINE_FACTORY": "tests.watch_fixtures:make_fake_engine"}


@pytest.fixture(scope="module")
def three_photos(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("three")
    for i in range(3):
        (d / f"card-{i}.jpg").write_bytes(card_jpeg(i))
    return d


def test_version(cli):
    from cardscan import __version__

    r = cli("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"cardscan {__version__}"


def test_quiet_and_verbose_after_the_command_and_quiet_prints_no_contacts(three_photos, tmp_path, cli):
    db = tmp_path / "c.db"
    r = cli("scan", str(three_photos), "--db", str(db), "--no-report", "-q", env=cli_env(FAKE))
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    import sqlite3

    with sqlite3.connect(db) as con:
        assert con.execute("select count(*) from contacts").fetchone()[0] == 3
    r = cli("scan", str(three_photos), "--db", str(tmp_path / "v.db"), "--no-report", "-v", env=cli_env(FAKE))
    assert r.returncode == 0, r.stderr
    assert "#1  " in r.stdout
    r = cli("watch", str(three_photos), "--db", str(tmp_path / "w.db"), "--no-report", "--once", "-q",
            env=cli_env(FAKE))
    assert r.returncode == 0 and r.stdout == "", r.stderr
    assert [line for line in r.stderr.splitlines() if "test OCR engine" not in line] == []


def test_rescan_says_how_many_were_already_scanned(three_photos, tmp_path, cli):
    db = tmp_path / "c.db"
    args = ("scan", str(three_photos), "--db", str(db), "--no-report")
    assert cli(*args, env=cli_env(FAKE)).returncode == 0
    r = cli(*args, env=cli_env(FAKE))
    assert r.returncode == 0, r.stderr
    summary = next(line for line in r.stdout.splitlines() if " photos: " in line)
    assert "3 contacts, 3 already scanned, 0 failed" in summary, r.stdout
    assert "0 skipped" in summary  # nothing was skipped: every photo was recognised as read


@pytest.mark.parametrize("args", [["scan"], ["scan", "x.jpg", "--no-such-option"], ["no-such-command"],
                                  ["scan", "x.jpg", "--jobs", "two"]])
def test_argument_errors_exit_1_as_the_readme_says(cli, tmp_path, args):
    r = cli(*args, cwd=tmp_path)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "cardscan: error:" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("region", ["XX", "ZZ", "EU"])
def test_region_must_be_one_phonenumbers_knows(cli, tmp_path, three_photos, region):
    r = cli("scan", str(three_photos / "card-0.jpg"), "--db", str(tmp_path / "c.db"), "--region", region,
            env=cli_env(FAKE))
    assert r.returncode == 1 and f"--region {region}" in r.stderr, r.stderr
    assert not (tmp_path / "c.db").exists()


def test_known_regions_are_accepted():
    from cardscan.options import Options

    assert Options(region="jp").region == "JP"
    assert Options(region="GB").region == "GB"


def test_export_that_matches_nothing_says_so_and_writes_nothing(three_photos, tmp_path, cli):
    db = tmp_path / "c.db"
    assert cli("scan", str(three_photos), "--db", str(db), "--no-report", env=cli_env(FAKE)).returncode == 0
    out = tmp_path / "out.vcf"
    r = cli("export", "--db", str(db), "-f", "vcf", "--since", "2030-01-01", "-o", str(out))
    assert r.returncode == 1 and "no contacts scanned on or after 2030-01-01" in r.stderr, r.stderr
    assert not out.exists()
    r = cli("export", "--db", str(db), "-f", "vcf", "--since", "2000-01-01", "-o", str(out))
    assert r.returncode == 0 and out.read_text().count("BEGIN:VCARD") == 3


# ----------------------------------------------------------------------------- 10. HEIC in the default install
def _heic(jpegs: list[bytes]) -> bytes:
    """A real HEIC file written by pillow-heif (several images: a burst)."""
    import io

    import pillow_heif
    from PIL import Image

    imgs = [Image.open(io.BytesIO(j)).convert("RGB") for j in jpegs]
    heif = pillow_heif.from_pillow(imgs[0])
    for im in imgs[1:]:
        heif.add_from_pillow(im)
    buf = io.BytesIO()
    heif.save(buf, quality=90)
    return buf.getvalue()


def test_pillow_heif_is_a_core_dependency():
    import tomllib

    from conftest import ROOT

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert any(d.replace(" ", "").startswith("pillow-heif") for d in project["dependencies"])


def test_heic_photos_and_bursts_are_read_by_scan(tmp_path, cli):
    photos = tmp_path / "iphone"
    photos.mkdir()
    (photos / "IMG_0001.HEIC").write_bytes(_heic([card_jpeg(1)]))
    (photos / "IMG_0002.heic").write_bytes(_heic([card_jpeg(2), card_jpeg(3)]))  # a burst
    out = tmp_path / "o.jsonl"
    r = cli("scan", str(photos), "--db", str(tmp_path / "c.db"), "--no-report", "-j", "1", "--jsonl", str(out),
            env=cli_env(FAKE))
    assert r.returncode == 0, r.stderr
    recs = {Path(x["file"]).name: x for x in map(json.loads, out.read_text().splitlines())}
    assert set(recs) == {"IMG_0001.HEIC", "IMG_0002.heic"}
    assert all(x.get("contact_id") and not x.get("error") for x in recs.values())
    assert recs["IMG_0002.heic"]["warnings"] == ["HEIF file with 2 images (a burst or live photo?): the first image used"]
    assert "the first image used" in r.stderr
    assert "warnings" not in recs["IMG_0001.HEIC"]


# ----------------------------------------------------------------------------- 11. exports
def _export(db: Path, tmp_path: Path, *args: str) -> bytes:
    out = tmp_path / f"export-{len(list(tmp_path.iterdir()))}"
    from conftest import run_cli

    r = run_cli("export", "--db", str(db), *args, "-o", str(out))
    assert r.returncode == 0, r.stderr
    return out.read_bytes()


def test_plain_csv_has_a_byte_order_mark_for_excel(tmp_path):
    from cardscan.store import Store
    from contacts_fixtures import add, person

    db = tmp_path / "c.db"
    with Store(db) as store:
        add(store, person("João Araújo", emails=("joao@exemplo.example",)))
    data = _export(db, tmp_path, "-f", "csv", "--csv-layout", "plain")
    assert data.startswith(b"\xef\xbb\xbf")
    assert "João Araújo" in data.decode("utf-8-sig")  # what Excel shows once it sees the BOM


def test_vcard_uid_is_stable_kept_across_merges_and_middle_name_in_n(tmp_path):
    import vobject

    from cardscan.contacts import dedupe
    from cardscan.store import Store
    from contacts_fixtures import add, person

    db = tmp_path / "c.db"
    with Store(db) as store:
        chloe = add(store, person("Chloe J. Rowland", emails=("chloe@rowland.example",)))
        other = add(store, person("Omar Haddad", emails=("omar@haddad.example",), phones=(("+14155550111", "work"),)))
    first = {c.fn.value: c for c in vobject.readComponents(_export(db, tmp_path, "-f", "vcf").decode())}
    assert set(first) == {"Chloe J. Rowland", "Omar Haddad"}
    n = first["Chloe J. Rowland"].n.value
    assert (n.given, n.additional, n.family) == ("Chloe", "J.", "Rowland")
    uids = {fn: c.uid.value for fn, c in first.items()}
    assert len(set(uids.values())) == 2 and all(u.startswith("urn:uuid:") for u in uids.values())

    again = {c.fn.value: c.uid.value for c in vobject.readComponents(_export(db, tmp_path, "-f", "vcf").decode())}
    assert again == uids  # the same contact, the same UID: a re-import updates, not duplicates

    with Store(db) as store:  # the same card shot twice, then merged into the first
        dup = add(store, person("Chloe J. Rowland", emails=("chloe@rowland.example",)))
        dedupe.merge(store, chloe, dup)
    after = {c.fn.value: c.uid.value for c in vobject.readComponents(_export(db, tmp_path, "-f", "vcf").decode())}
    assert after == uids
    with Store(db) as store:
        dedupe.merge(store, other, chloe)  # the kept contact keeps its own UID
    last = [c.uid.value for c in vobject.readComponents(_export(db, tmp_path, "-f", "vcf").decode())]
    assert last == [uids["Omar Haddad"]]


# ----------------------------------------------------------------------------- 6. stored paths
def test_paths_are_stored_resolved_so_another_folder_finds_the_photo(tmp_path, cli):
    import sqlite3

    work = tmp_path / "work"
    (work / "samples").mkdir(parents=True)
    (work / "samples" / "card-03.jpg").write_bytes(card_jpeg(3))
    (work / "samples" / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    r = cli("scan", "samples", "--db", "../cards.db", "--no-report", cwd=work, env=cli_env(FAKE))
    assert r.returncode == 2, r.stderr
    assert "samples/card-03.jpg" in r.stdout  # printed as typed (short)
    with sqlite3.connect(tmp_path / "cards.db") as con:
        paths = dict(con.execute("select state, path from photos").fetchall())
    assert paths["done"] == str((work / "samples" / "card-03.jpg").resolve())
    assert paths["failed"] == str((work / "samples" / "broken.jpg").resolve())
    assert Path(paths["done"]).is_file()


def test_stored_paths_are_shown_shortened(tmp_path):
    from cardscan.reading.files import short_path

    here, home = tmp_path / "work", tmp_path / "home"
    assert short_path(here / "samples" / "card-03.jpg", cwd=here, home=home) == "samples/card-03.jpg"
    assert short_path(home / "Pictures" / "a.heic", cwd=here, home=home) == "~/Pictures/a.heic"
    assert short_path("/srv/cards/a.jpg", cwd=here, home=home) == "/srv/cards/a.jpg"
    assert short_path("relative/a.jpg", cwd=here, home=home) == "relative/a.jpg"


# ----------------------------------------------------------------------------- 4. duplicates and merges
def test_a_flagged_value_never_replaces_a_confident_one_in_a_merge(tmp_path):
    import time

    from cardscan.contacts import dedupe
    from cardscan.models import Contact
    from cardscan.store import Store
    from contacts_fixtures import add, f, person

    with Store(tmp_path / "c.db") as store:
        a = add(store, person("Mara Wexler", company="Wexris Corp.", title="Buyer"))
        time.sleep(0.01)
        newer = person("Mara Wexler", company=None, title="Head Buyer")
        newer = Contact(**{**newer.__dict__, "company": f("wexris Co", 0.4, flags=("low_confidence",))})
        b = add(store, newer)
        dedupe.merge(store, a, b)
        c = store.contact(a).contact
    assert c.scalar("company") == "Wexris Corp."  # the newer card's flagged reading stays in history only
    assert c.scalar("title") == "Head Buyer"  # a confident newer job title still wins


@pytest.mark.parametrize("events", [("Expo", "Expo"), (None, "Expo")])
def test_merging_the_same_person_twice_leaves_one_live_followup(tmp_path, cli, events):
    """`cardscan merge 1 2` of one card shot twice (its e-mail read two ways, so two drafts were
    written): one follow-up stays live, the other is skipped and says why; send writes one message."""
    from cardscan.config import Config
    from cardscan.followup import queue as fu
    from cardscan.store import Store

    db = tmp_path / "c.db"
    with Store(db) as store:
        for key, addr, event in (("a", "mara@wexris.example", events[0]), ("b", "mara@wexr1s.example", events[1])):
            add(store, key, person("Mara Wexler", addr), event=event)
        assert len(fu.ensure_drafts(store, config=Config()).created) == 2
    r = cli("merge", "1", "2", "--db", str(db))
    assert r.returncode == 0, r.stderr
    with Store(db) as store:
        rows = {e.id: e for e in fu.entries(store)}
    live = [e for e in rows.values() if e.state != "skipped"]
    assert len(live) == 1 and live[0].contact_id == 1, rows
    skipped = [e for e in rows.values() if e.state == "skipped"]
    assert len(skipped) == 1 and "merged into contact #1" in (skipped[0].last_error or "")
    listed = cli("followup", "list", "--db", str(db))
    assert "merged into contact #1" in listed.stdout, listed.stdout


def test_scan_names_new_possible_duplicates_with_a_copyable_merge_hint(tmp_path, cli):
    photos = tmp_path / "p"
    photos.mkdir()
    (photos / "a.jpg").write_bytes(card_jpeg(7))
    (photos / "b.jpg").write_bytes(card_jpeg(7, quality=70))  # the same card shot twice (other bytes)
    db = tmp_path / "my cards.db"
    r = cli("scan", str(photos), "--db", str(db), "--no-report", "-j", "1", env=cli_env(FAKE))
    assert r.returncode == 0, r.stderr
    hint = next(line for line in r.stdout.splitlines() if line.startswith("possible duplicate: #1 and #2"))
    assert hint.endswith(f"cardscan merge 1 2 --db '{db}'")
    r2 = cli("merge", "1", "2", "--db", str(db))
    assert r2.returncode == 0, r2.stderr
    (photos / "c.jpg").write_bytes(card_jpeg(8))
    r3 = cli("scan", str(photos), "--db", str(db), "--no-report", "-j", "1", env=cli_env(FAKE))
    dups = [line for line in r3.stdout.splitlines() if line.startswith("possible duplicate")]
    assert dups and all("#3" in line for line in dups), r3.stdout  # only the new contact, not the merged pair


# ----------------------------------------------------------------------------- 3. nothing dropped silently
def test_event_options_on_already_scanned_photos_are_reported_not_dropped(three_photos, tmp_path, cli):
    db = tmp_path / "c.db"
    assert cli("scan", str(three_photos), "--db", str(db), "--no-report", env=cli_env(FAKE)).returncode == 0
    r = cli("scan", str(three_photos), "--db", str(db), "--no-report", "--event", "Expo", "--event-date",
            "2026-11-20", env=cli_env(FAKE))
    assert r.returncode == 0, r.stderr
    assert "3 photo(s) were already scanned: --event, --event-date not applied" in r.stderr
    r = cli("scan", str(three_photos), "--db", str(db), "--no-report", env=cli_env(FAKE))
    assert "not applied" not in r.stderr


def test_event_date_for_the_event_the_photos_belong_to_reaches_them(three_photos, tmp_path, cli):
    db = tmp_path / "c.db"
    args = ("scan", str(three_photos), "--db", str(db), "--no-report", "--event", "Expo")
    assert cli(*args, env=cli_env(FAKE)).returncode == 0
    r = cli(*args, "--event-date", "2026-11-20", "--note", "booth 4", env=cli_env(FAKE))
    assert r.returncode == 0, r.stderr
    assert "3 photo(s) were already scanned: --note not applied" in r.stderr  # the date went to the event


# ----------------------------------------------------------------------------- 9. report at phone width
def test_field_labels_are_not_broken_mid_word_at_phone_width(filled, tmp_path, browser):  # noqa: F811
    from cardscan.outputs.report import write_report
    from cardscan.store import Store

    out = tmp_path / "r.html"
    with Store(filled.db) as store:
        write_report(store, out)
    for width in (320, 375):
        context = browser.new_context(viewport={"width": width, "height": 740}, is_mobile=True)
        try:
            pg = context.new_page()
            pg.goto(out.as_uri())
            lines = pg.evaluate("""() => [...document.querySelectorAll('.fields th')].map(th => {
                const r = document.createRange(); r.selectNodeContents(th);
                const tops = new Set([...r.getClientRects()].map(x => Math.round(x.top)));
                return [th.textContent.trim(), tops.size, th.scrollWidth <= th.clientWidth + 1]; })""")
            assert lines, "no field labels on the page"
            broken = [(text, n) for text, n, _ in lines if n > 1 and " " not in text]
            assert broken == [], (width, broken)  # a one-word label stays on one line ("Company", not "Compan/y")
            assert all(fits for *_, fits in lines), (width, lines)
            assert pg.evaluate("document.documentElement.scrollWidth") <= width
        finally:
            context.close()


# ----------------------------------------------------------------------------- 3. the signature when sent
def test_drafts_written_before_the_config_get_the_signature_when_approved_or_sent(tmp_path, smtp_server):  # noqa: F811
    """Drafts written with no config file (no sender) are rendered again when approved or sent, so
    the signature configured later is in the message the server receives; a draft a person edited
    keeps that person's words."""
    from cardscan.config import Config
    from cardscan.followup import queue as fu
    from cardscan.store import Store

    server = smtp_server
    with Store(tmp_path / "c.db") as store:
        for key, name in (("a", "Robin Testperson"), ("b", "Kim Other"), ("c", "Lee Person")):
            add(store, key, person(name, f"{key}@widgets.example.com"))
        ia, ib, ic = fu.ensure_drafts(store, config=Config()).created  # before config.toml existed
        assert all(SENDER.signature not in fu.get(store, i).body for i in (ia, ib, ic))
        fu.save_edit(store, fu.get(store, ib), "Subject: My own words\n\nKim, here is the list.\n")
        assert not fu.approve(store, [ic]).refused  # approved without a config: text unchanged
        cfg = server.config()
        assert not fu.approve(store, [ia, ib], config=cfg).refused
        assert SENDER.signature in fu.get(store, ia).body  # approved: what will be sent is shown
        report = fu.send_queue(store, cfg)
        assert report.count("sent") == 3, report
        body = {r.rcpt_tos[0][0]: r.message.get_content().replace("\r\n", "\n") for r in server.handler.received}
        assert SENDER.signature in body["a"] and "Hello Robin," in body["a"]
        assert SENDER.signature in body["c"]  # approved before the config, signed when sent
        assert body["b"].strip() == "Kim, here is the list."  # a person's edit is never rewritten
        assert SENDER.signature in fu.get(store, ic).body  # the stored text is the one sent


def test_drafts_from_before_edits_were_tracked_are_rendered_again_only_when_untouched(tmp_path):
    from cardscan.config import Config
    from cardscan.followup import queue as fu
    from cardscan.store import Store

    with Store(tmp_path / "c.db") as store:
        add(store, "a", person("Robin Testperson", "a@widgets.example.com"))
        add(store, "b", person("Kim Other", "b@widgets.example.com"))
        ia, ib = fu.ensure_drafts(store, config=Config()).created
        fu.save_edit(store, fu.get(store, ib), "Subject: Hi Kim\n\nKim, here is the list.\n")
        with store.write() as conn:  # rows written before migration 7 know nothing of edits
            conn.execute("UPDATE followups SET edited = NULL")
        cfg = Config(sender=SENDER)
        assert not fu.approve(store, [ia, ib], config=cfg).refused
        assert SENDER.signature in fu.get(store, ia).body  # exactly the template's text: rendered again
        assert fu.get(store, ib).body == "Kim, here is the list.\n"  # maybe a person's: kept



# ----------------------------------------------------------------------------- 8. messages
def test_a_valid_foreign_number_on_a_card_naming_no_country_says_what_it_was_read_as():
    from cardscan.parsing.phones import find_phones, infer_region

    def hit(lines, default=None):  # noqa: ANN001, ANN202
        (h,) = find_phones(lines, infer_region(lines, default=default))
        return h

    h = hit(["Aiko Tanaka", "Tel 052-135-6156"])  # a Nagoya number, no country on the card
    assert "invalid" in h.flags and h.number == "0521356156"  # kept as printed, no invented country code
    assert h.message.startswith("read as a US number (nothing on the card names its country)"), h.message
    assert "valid number of JP" in h.message and "--region JP" in h.message
    assert "any country" not in h.message
    h = hit(["Tel 052-135-6156"], default="CA")
    assert h.message.startswith("read as a CA number (the default region (--region or the config))"), h.message
    h = hit(["Tel 0521356156"])  # printed without groups: many countries fit, none is guessed
    assert "--region CC" in h.message and "--region JP" not in h.message


def test_hints_the_cli_prints_carry_the_db_given_and_work_when_copied(tmp_path, cli):
    import shlex

    from cardscan.config import Config
    from cardscan.followup import queue as fu
    from cardscan.store import Store

    db = tmp_path / "my cards.db"
    with Store(db) as store:
        cid = add(store, "a", person("Lee Flagged", "lee@widgets.example.com", email_conf=0.3))
        (fid,) = fu.ensure_drafts(store, config=Config()).created
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config"), "CARDSCAN_CONFIG": ""}
    flag = f"--db {shlex.quote(str(db))}"
    listed = cli("followup", "list", "--db", str(db), env=env)
    assert f"cardscan edit {flag} {cid} --email ADDRESS" in listed.stdout, listed.stdout
    r = cli("followup", "approve", str(fid), "--db", str(db), env=env)
    assert r.returncode == 1 and "flagged for review" in r.stderr
    hint = r.stderr[r.stderr.index("cardscan edit"):].strip()
    assert hint == f"cardscan edit {flag} {cid} --email ADDRESS", r.stderr
    copied = shlex.split(hint.replace("ADDRESS", "lee@widgets.example.com"))[1:]
    assert cli(*copied, env=env).returncode == 0  # confirmed on the same database
    assert cli("followup", "approve", str(fid), "--db", str(db), env=env).returncode == 0
    r = cli("followup", "show", "99", "--db", str(db), env=env)  # a library error's hint, too
    assert r.returncode != 0 and f"cardscan followup list {flag}" in r.stderr, r.stderr


def test_with_db_puts_the_flag_after_the_command_and_its_action():
    from cardscan.cli.main import with_db

    db = Path("/tmp/x y.db")
    text = "see cardscan followup show 3, or cardscan report or cardscan edit 5 --email ADDRESS; cardscan reads JPEG"
    assert with_db(text, db) == ("see cardscan followup show --db '/tmp/x y.db' 3, or cardscan report --db '/tmp/x y.db' "
                                 "or cardscan edit --db '/tmp/x y.db' 5 --email ADDRESS; cardscan reads JPEG")
    assert with_db(text, None) == text and with_db(text, Path("cardscan.db")) == text
    assert with_db("cardscan sync carddav --prune", db) == "cardscan sync carddav --db '/tmp/x y.db' --prune"


def test_a_refusal_on_the_review_page_points_at_the_edit_box_beside_the_e_mail(filled, page):  # noqa: F811
    from cardscan.contacts.fields import ReviewPolicy
    from cardscan.outputs.review import ReviewServer, ReviewSettings

    srv = ReviewServer(ReviewSettings(db=filled.db, policy=ReviewPolicy(threshold=0.99))).start()
    try:  # at 0.99 the draft's e-mail (read at 0.97) needs review: approval is refused
        pg, _ = page
        pg.goto(srv.url)
        pg.locator(f"#followup-{filled.followup} button", has_text="Approve").click()
        pg.wait_for_load_state()
        error = pg.locator(f"#followup-{filled.followup} .error").inner_text()
        assert "flagged for review" in error and "Edit box beside that e-mail" in error, error
        assert "cardscan edit" not in pg.content()
        assert pg.locator(f"#contact-{filled.good} tr[data-field='email-0'] details.edit summary").count() == 1
    finally:
        srv.stop()


def test_a_note_rewrites_an_untouched_draft_written_before_the_event_date_was_given(tmp_path):
    """README: `scan --event X`, later `scan --event X --event-date D`, then `note 2 ...`: the draft
    is the template's own text (nobody edited it), so the note and the date go into it."""
    from cardscan.followup import queue as fu
    from cardscan.store import Store

    cfg = Config(sender=SENDER)
    with Store(tmp_path / "c.db") as store:
        cid = add(store, "a", person("Julia Hoffmann", "julia@widgets.example.com"), event="Expo 2026")
        (fid,) = fu.ensure_drafts(store, config=cfg).created
        store.set_event_date("Expo 2026", "2026-11-20")
        res = fu.add_note(store, cid, "asked about the Berlin office", config=cfg)
        body = fu.get(store, fid).body
    assert res.draft_updated == fid, res
    assert "As we discussed: asked about the Berlin office" in body and "on 2026-11-20" in body


# ----------------------------------------------------------------------------- 9. an uncropped card in the report
def test_an_uncropped_card_is_kept_upright_and_cut_to_its_text_for_the_report(samples_dir, tmp_path, browser):  # noqa: F811
    """samples/card-05 (a light card on light paper, portrait photo) is not found by the detector,
    so the photo passes whole. What the report shows is the card turned upright and reduced to the
    region its text was read in, not the whole photo with the card small in one corner."""
    import io

    import numpy as np
    from PIL import Image

    from cardscan.models import CardImage
    from cardscan.options import Options
    from cardscan.outputs.report import write_report
    from cardscan.reading import decode, pipeline, preprocess
    from cardscan.reading.ocr import tesseract as ocr
    from cardscan.store import Store

    photo = samples_dir / "card-05.jpg"
    img = decode.decode(photo.read_bytes(), max_side=pipeline.DECODE_LONG_SIDE)
    assert [c.method for c in preprocess.preprocess_all(img)] == ["passthrough"]  # the case under test
    assert img.pixels.shape[0] > img.pixels.shape[1]  # a portrait photo of a landscape card
    opts = Options()
    engine = ocr.get_engine(opts)
    out = pipeline.process_path(photo, engine, opts)
    assert out.ok, out.error
    crop = np.asarray(Image.open(io.BytesIO(out.crop_jpeg)).convert("RGB"))
    assert crop.shape[1] > crop.shape[0]  # upright (landscape), not sideways

    _, res = pipeline.line_reader(engine).read_card(CardImage(pixels=crop))  # read the crop again
    boxes = [ln.box for ln in res.lines if ln.conf >= 40]
    left, top = min(b[0] for b in boxes), min(b[1] for b in boxes)
    right, bottom = max(b[0] + b[2] for b in boxes), max(b[1] + b[3] for b in boxes)
    share = (right - left) * (bottom - top) / (crop.shape[0] * crop.shape[1])
    assert share >= 0.3, share  # the card's text fills the picture (the whole photo: 0.09)
    assert any("Kenji Kato" in ln.text for ln in res.lines)

    db = tmp_path / "c.db"
    with Store(db) as store:
        store.record_success(out.sha256, str(photo), contact=out.contact, crop_jpeg=out.crop_jpeg)
        write_report(store, tmp_path / "r.html")
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    try:
        pg = context.new_page()
        pg.goto((tmp_path / "r.html").as_uri())
        w, h, shown_w = pg.evaluate("""() => { const i = document.querySelector('.photo img');
            return [i.naturalWidth, i.naturalHeight, i.getBoundingClientRect().width]; }""")
        assert w > h and shown_w >= 300, (w, h, shown_w)
        # clicking a field's name outlines where on the card it was read
        place = pg.locator(".place[data-k='email-0']")
        assert not place.is_visible()
        pg.locator("tr[data-field='email-0'] th label").click()
        assert place.is_visible()
        img_box, box = pg.locator(".photo img").bounding_box(), place.bounding_box()
        got = ((box["x"] - img_box["x"]) / img_box["width"], (box["y"] - img_box["y"]) / img_box["height"],
               box["width"] / img_box["width"], box["height"] / img_box["height"])
        (line,) = [ln for ln in res.lines if "kkato@example.net" in ln.text]  # read again on the crop
        want = (line.box[0] / crop.shape[1], line.box[1] / crop.shape[0],
                line.box[2] / crop.shape[1], line.box[3] / crop.shape[0])
        assert _overlap(got, want) >= 0.5, (got, want)
        pg.locator("tr[data-field='name-0'] th label").click()
        assert not place.is_visible() and pg.locator(".place[data-k='name-0']").is_visible()
    finally:
        context.close()


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over union of two (left, top, width, height) boxes."""
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def test_where_boxes_travel_in_the_crop_and_bad_ones_are_ignored():
    import io

    import numpy as np
    from PIL import Image

    from cardscan.models import Contact, Field, Line, OcrResult, Phone, Word
    from cardscan.reading import where
    from cardscan.reading.pipeline import encode_crop

    def line(*words: tuple[str, int]) -> Line:
        return Line(tuple(Word(t, 90.0, (x, 100, 10 * len(t), 20)) for t, x in words))

    ocr = OcrResult(lines=(line(("Mara", 100), ("Wexler", 150)), line(("TEL", 100), ("|", 140), ("052-135-6156", 160)),
                           line(("mara@wexris.example", 100))), engine="test")
    contact = Contact(name=Field("Mara Wexler", 0.9), emails=(Field("mara@wexris.example", 0.9),),
                      phones=(Phone("+81521356156", "work", "TEL | 052-135-6156", 0.9),),
                      title=Field("Buyer", 0.9, source="user"))
    boxes = where.locate(contact, ocr, (50, 50, 450, 250))
    assert {b["field"] for b in boxes} == {"name", "email", "phone"}  # a person's value is on no card
    (phone,) = [b for b in boxes if b["field"] == "phone"]
    assert phone["value"] == "+81521356156" and phone["box"][0] == round((160 - 50) / 400, 4)  # the number, not TEL
    jpeg = where.attach(encode_crop(np.full((200, 400, 3), 240, np.uint8)), boxes)
    assert where.read(jpeg) == boxes
    assert Image.open(io.BytesIO(jpeg)).size == (400, 200)  # still a JPEG any viewer opens
    bad = where.attach(encode_crop(np.full((20, 40, 3), 240, np.uint8)), [{"field": "name", "value": "x", "box": [0, 0, 2, 1]}])
    assert where.read(bad) == [] and where.read(b"not a jpeg") == [] and where.read(None) == []
