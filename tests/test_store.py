from __future__ import annotations

import hashlib
import multiprocessing
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from cardscan import store as store_mod
from cardscan.errors import OutputAccessError, ValidationError
from cardscan.models import SOURCE_QR, Contact, Field, Phone
from cardscan.store import MIGRATIONS, SCHEMA_VERSION, Store, migrate


def sha(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()


def make_contact(i: int = 0) -> Contact:
    return Contact(
        name=Field(f"Robin Testperson{i}", 0.91, raw=f"R0bin Testperson{i}", flags=("repaired",), message="0 read as o"),
        title=Field("Head of Widgets", 0.55, flags=("low_confidence",)),
        company=Field("Invented Widgets Ltd", 0.8),
        address=Field("1 Nowhere Lane, Faketown", 0.7),
        emails=(Field(f"robin{i}@widgets.invalid", 0.97), Field("sales@widgets.invalid", 0.9, source=SOURCE_QR)),
        phones=(
            Phone("+442079460000", "work", "T +44 20 7946 0000", 0.88),
            Phone("+447700900123", "mobile", "M 07700 900123", 0.42, flags=("inferred_region",), message="no +44 printed"),
        ),
        websites=(Field("https://widgets.invalid", 0.75),),
        region="GB",
        raw_text=f"Robin Testperson{i}\nHead of Widgets",
    )


def success(s: Store, key: str, contact: Contact | None = None, **kw: object) -> int:
    args: dict[str, object] = dict(contact=contact or make_contact(), crop_jpeg=b"\xff\xd8\xff\xe0fake", ocr_engine="test",
                                   ocr_conf=80.0, fmt="JPEG", size=1234, original_size=(4000, 3000))
    args.update(kw)
    return s.record_success(sha(key), f"/photos/{key}.jpg", **args)  # type: ignore[arg-type]


def count(db: Path, table: str) -> int:
    con = sqlite3.connect(db)
    try:
        return int(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        con.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "cards.db"


def test_empty_db_migrates_to_latest_with_wal_and_fk(db: Path) -> None:
    with Store(db) as s:
        assert s.schema_version == SCHEMA_VERSION == len(MIGRATIONS) >= 2
        conn = s.connection
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] > 0
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"photos", "contacts", "cards", "fields", "events", "notes", "followups", "schema_version"} <= tables
        success(s, "a")
    assert (db.parent / (db.name + "-wal")).exists() or count(db, "contacts") == 1
    # reopening does not migrate again
    with Store(db) as s:
        assert s.schema_version == SCHEMA_VERSION
        assert [r[0] for r in s.connection.execute("SELECT version FROM schema_version ORDER BY 1")] == list(
            range(1, SCHEMA_VERSION + 1))


def test_upgrade_from_previous_version_keeps_data(db: Path) -> None:
    con = sqlite3.connect(db, isolation_level=None)
    assert migrate(con, MIGRATIONS[:-1]) == SCHEMA_VERSION - 1
    # the previous schema still accepts a photo and a contact through plain SQL
    con.execute("INSERT INTO photos (sha256, path, state, first_seen, updated_at) VALUES (?, 'old.jpg', 'failed', 't', 't')",
                (sha("old"),))
    con.close()
    with Store(db) as s:
        assert s.schema_version == SCHEMA_VERSION
        assert [f.path for f in s.failures()] == ["old.jpg"]
        cid = success(s, "new")
        # the newest migration's tables work
        s.connection.execute(
            "INSERT INTO followups (contact_id, to_addr, subject, body, created_at, updated_at) VALUES (?, 'a@b.invalid', 's', 'b', 't', 't')",
            (cid,))


def test_failed_migration_rolls_back_with_its_version_record(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("boom")

    monkeypatch.setattr(store_mod, "MIGRATIONS", [*MIGRATIONS, store_mod.Migration(SCHEMA_VERSION + 1, "broken", broken)])
    with pytest.raises(RuntimeError):
        Store(db)
    con = sqlite3.connect(db)
    assert con.execute("SELECT max(version) FROM schema_version").fetchone()[0] == SCHEMA_VERSION
    assert con.execute("SELECT count(*) FROM sqlite_master WHERE name = 'half_done'").fetchone()[0] == 0
    con.close()


def test_newer_db_refused(db: Path) -> None:
    Store(db).close()
    con = sqlite3.connect(db)
    con.execute("INSERT INTO schema_version VALUES (?, 'future', 't')", (SCHEMA_VERSION + 1,))
    con.commit()
    con.close()
    with pytest.raises(OutputAccessError, match="newer cardscan"):
        Store(db)


def test_not_a_database_and_bad_paths(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is a text file, not SQLite\n" * 100)
    with pytest.raises(OutputAccessError, match="not a cardscan database"):
        Store(junk)
    other = tmp_path / "other.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE something_else (x)")
    con.commit()
    con.close()
    before = other.read_bytes()
    with pytest.raises(OutputAccessError, match="another program"):
        Store(other)
    assert other.read_bytes() == before  # refused before anything was written: no WAL mode switched on
    assert sqlite3.connect(other).execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    with pytest.raises(OutputAccessError, match="does not exist"):
        Store(tmp_path / "missing" / "x.db")
    with pytest.raises(OutputAccessError):
        Store(junk / "x.db")  # parent is a file
    with pytest.raises(OutputAccessError, match="not a regular file"):
        Store(tmp_path)


def test_round_trip_keeps_every_detail(db: Path) -> None:
    c = make_contact(3)
    with Store(db) as s:
        cid = success(s, "a", c, event="Spring Fair", note="  wants a quote  ")
        rec = s.contact(cid)
        assert rec.contact == c
        assert rec.event == "Spring Fair" and rec.notes == ("wants a quote",)
        assert len(rec.cards) == 1 and rec.cards[0].sha256 == sha("a")
        assert rec.cards[0].original_size == (4000, 3000) and rec.crops == (b"\xff\xd8\xff\xe0fake",)
        assert s.has_done(sha("a")) and not s.has_done(sha("b"))
        assert s.contact_id_for_photo(sha("a")) == cid and s.contact_id_for_photo(sha("b")) is None
        success(s, "b", make_contact(4), event="Other")
        assert [r.id for r in s.contacts(event="Spring Fair")] == [cid]
        assert len(s.contacts()) == 2


def test_record_success_is_idempotent(db: Path) -> None:
    with Store(db) as s:
        cid = success(s, "a")
        assert success(s, "a", make_contact(9)) == cid
        assert s.contact(cid).contact == make_contact()
    assert count(db, "contacts") == 1 and count(db, "cards") == 1 and count(db, "photos") == 1


def test_record_success_atomic_on_python_failure(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Store(db) as s:
        success(s, "first")

        def explode(*a: object, **k: object) -> None:
            raise RuntimeError("crash while writing fields")

        monkeypatch.setattr(Store, "_insert_fields", explode)
        with pytest.raises(RuntimeError):
            success(s, "second", event="New Event", note="n")
        assert not s.has_done(sha("second"))
    for table, n in [("contacts", 1), ("cards", 1), ("fields", 9), ("photos", 1), ("events", 0), ("notes", 0)]:
        assert count(db, table) == n, table


def test_record_success_atomic_on_sql_failure(db: Path) -> None:
    with Store(db) as s:
        s.connection.execute(
            "CREATE TRIGGER no_websites BEFORE INSERT ON fields WHEN NEW.name = 'website' "
            "BEGIN SELECT RAISE(ABORT, 'injected'); END")
        with pytest.raises(sqlite3.IntegrityError, match="injected"):
            success(s, "a")
        assert s.contacts() == [] and s.stats()["photos_done"] == 0
    for table in ("contacts", "cards", "fields", "photos"):
        assert count(db, table) == 0, table


def test_failures_and_stats(db: Path) -> None:
    with Store(db) as s:
        success(s, "ok")
        s.record_failure(None, "/photos/unreadable.jpg", "permission denied")
        s.record_failure(None, "/photos/unreadable.jpg", "permission denied")
        s.record_failure(sha("bad"), "/photos/bad.jpg", "no card found")
        s.record_failure(sha("ok"), "/photos/ok.jpg", "must not undo a success")
        fails = {f.path: f for f in s.failures()}
        assert set(fails) == {"/photos/unreadable.jpg", "/photos/bad.jpg"}
        assert fails["/photos/unreadable.jpg"].sha256 is None and fails["/photos/unreadable.jpg"].attempts == 2
        assert fails["/photos/bad.jpg"].reason == "no card found"
        st = s.stats()
        # name (repaired), title (low), mobile (0.42) need review
        assert st == {"photos_done": 1, "photos_failed": 2, "photos_pending": 0, "contacts": 1,
                      "contacts_needing_review": 1, "fields_needing_review": 3}
        # the bad file later reads fine: it leaves the failure list
        success(s, "bad")
        assert [f.path for f in s.failures()] == ["/photos/unreadable.jpg"]


def test_field_edit_and_revert_keep_the_read_value(db: Path) -> None:
    with Store(db) as s:
        cid = success(s, "a")
        read_phone = s.contact(cid).contact.phones[1]
        s.set_field(cid, "phone", "+447700900999", position=1)
        s.set_field(cid, "phone", "+447700900111", position=1, type="work")
        now = s.contact(cid).contact.phones[1]
        assert (now.number, now.type, now.source, now.confidence) == ("+447700900111", "work", "user", 1.0)
        assert s.stats()["fields_needing_review"] == 2  # the user's value is not doubtful
        assert s.revert_field(cid, "phone", position=1)
        assert s.contact(cid).contact.phones[1] == read_phone
        assert not s.revert_field(cid, "phone", position=1)  # already the read value
        hist = s.field_history(cid, "phone", position=1)
        assert [h.action for h in hist] == ["read", "edit", "edit", "revert"]
        assert [h.is_current for h in hist] == [False, False, False, True]
        assert hist[0].value == hist[-1].value == read_phone.number
        # delete then revert; add a new slot then revert empties it
        s.set_field(cid, "title", None)
        assert s.contact(cid).contact.title is None
        s.revert_field(cid, "title")
        assert s.contact(cid).contact.title == make_contact().title
        s.set_field(cid, "email", "new@widgets.invalid", position=2)
        assert [e.value for e in s.contact(cid).contact.emails][-1] == "new@widgets.invalid"
        s.revert_field(cid, "email", position=2)
        assert len(s.contact(cid).contact.emails) == 2
        with pytest.raises(ValidationError):
            s.set_field(cid, "nickname", "x")
        with pytest.raises(ValidationError):
            s.set_field(cid, "name", "x", position=1)
        with pytest.raises(KeyError):
            s.set_field(cid + 100, "name", "x")


def test_claim_release_and_leases(db: Path) -> None:
    with Store(db) as s:
        k = sha("p")
        assert s.claim(k, "p.jpg", "w1", 30, now=1000.0)
        assert not s.claim(k, "p.jpg", "w2", 30, now=1010.0)  # lease held
        assert s.claim(k, "p.jpg", "w1", 30, now=1010.0)  # renewal by the holder
        assert s.claim(k, "p.jpg", "w2", 30, now=1041.0)  # expired: taken over
        assert not s.release(k, "w1")
        assert s.release(k, "w2")
        assert s.claim(k, "p.jpg", "w1", 30, now=2000.0)
        s.record_failure(k, "p.jpg", "ocr timed out")
        attempts = s.connection.execute("SELECT attempts FROM photos WHERE sha256 = ?", (k,)).fetchone()[0]
        assert attempts == 3
        assert not s.claim(k, "p.jpg", "w1", 30, max_attempts=3, now=3000.0)
        assert s.claim(k, "p.jpg", "w1", 30, max_attempts=4, now=3000.0)
        success(s, "p")
        assert not s.claim(k, "p.jpg", "w2", 30, now=9999.0)  # done


def _claim_worker(db: str, keys: list[str], worker: str, ready: Any, out: Any) -> None:
    with Store(Path(db)) as s:  # both open the fresh database at once: migration must be race-free
        ready.wait(30)  # then both claim at the same time
        got = []
        for k in keys:
            if s.claim(k, f"/photos/{k[:8]}.jpg", worker, 60):
                got.append(k)
                s.record_success(k, f"/photos/{k[:8]}.jpg", contact=make_contact())
    out.put((worker, got))


def test_two_processes_claim_each_photo_once(db: Path) -> None:
    keys = [sha(f"photo-{i}") for i in range(50)]
    ctx = multiprocessing.get_context("fork")
    ready, out = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_claim_worker, args=(str(db), keys, f"w{i}", ready, out)) for i in range(2)]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    a, b = results["w0"], results["w1"]
    assert not set(a) & set(b)
    assert sorted(a + b) == sorted(keys)
    assert count(db, "contacts") == 50 and count(db, "cards") == 50
    assert count(db, "photos") == 50


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores folder permissions")
def test_unwritable_folder(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(OutputAccessError, match="not writable"):
            Store(ro / "x.db")
    finally:
        ro.chmod(0o755)


# ---------------------------------------------------------------- several cards per photo (schema 3)


def test_several_cards_of_one_photo_are_stored_together_and_a_rescan_adds_nothing(tmp_path: Path) -> None:
    from cardscan.store import CardRead

    with Store(tmp_path / "c.db") as st:
        key = sha("two cards")
        ids = st.record_cards(key, "two.jpg", [CardRead(make_contact(1), b"crop-1", "text 1"),
                                               CardRead(make_contact(2), b"crop-2", "text 2")], event="Expo")
        assert len(ids) == 2 and ids[0] != ids[1]
        assert st.contact_ids_for_photo(key) == ids
        assert st.contact_id_for_photo(key) == ids[0]
        assert [st.contact(i).cards[0].crop_jpeg for i in ids] == [b"crop-1", b"crop-2"]
        assert st.record_cards(key, "again.jpg", [CardRead(make_contact(3))]) == ids  # done: a no-op
        assert st.connection.execute("SELECT count(*) FROM contacts").fetchone()[0] == 2


def test_migration_to_schema_3_keeps_cards_fields_and_crops(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA foreign_keys = ON")
    assert migrate(con, MIGRATIONS[:2], path=db) == 2
    ts = "2026-01-01T00:00:00"
    sha = "a" * 64
    con.execute("INSERT INTO photos (sha256, path, state, crop_jpeg, first_seen, updated_at) "
                "VALUES (?, 'p.jpg', 'done', ?, ?, ?)", (sha, b"old-crop", ts, ts))
    con.execute("INSERT INTO contacts (id, created_at, updated_at) VALUES (7, ?, ?)", (ts, ts))
    con.execute("INSERT INTO cards (id, photo_sha256, contact_id, raw_text, created_at) VALUES (3, ?, 7, 'Ada', ?)",
                (sha, ts))
    con.execute("INSERT INTO fields (contact_id, card_id, name, value, confidence, source, created_at) "
                "VALUES (7, 3, 'name', 'Ada Example', 0.9, 'ocr', ?)", (ts,))
    con.close()
    with Store(db) as st:
        conn = st.connection
        assert conn.execute("SELECT max(version) FROM schema_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("SELECT card_id FROM fields").fetchone()[0] == 3  # not set NULL by the rebuild
        rec = st.contact(7)
        assert rec.contact.scalar("name") == "Ada Example"
        assert [(c.id, c.crop_jpeg, c.raw_text) for c in rec.cards] == [(3, b"old-crop", "Ada")]
        with pytest.raises(sqlite3.IntegrityError):  # the constraint is still enforced
            conn.execute("INSERT INTO cards (photo_sha256, card_index, contact_id, created_at) VALUES (?, 0, 7, ?)",
                         (sha, ts))


def test_migration_8_keeps_every_field_and_its_history(tmp_path: Path) -> None:
    db = tmp_path / "seven.db"
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA foreign_keys = ON")
    assert migrate(con, MIGRATIONS[:7], path=db) == 7
    ts = "2026-01-01T00:00:00"
    sha = "b" * 64
    con.execute("INSERT INTO photos (sha256, path, state, first_seen, updated_at) VALUES (?, 'p.jpg', 'done', ?, ?)",
                (sha, ts, ts))
    con.execute("INSERT INTO contacts (id, created_at, updated_at) VALUES (4, ?, ?)", (ts, ts))
    con.execute("INSERT INTO cards (id, photo_sha256, contact_id, raw_text, created_at) VALUES (2, ?, 4, 'x', ?)",
                (sha, ts))
    con.execute("INSERT INTO fields (id, contact_id, card_id, name, value, confidence, source, is_current, created_at) "
                "VALUES (10, 4, 2, 'name', 'Ada Exampel', 0.5, 'ocr', 0, ?)", (ts,))
    con.execute("INSERT INTO fields (id, contact_id, name, value, confidence, source, action, supersedes, created_at) "
                "VALUES (11, 4, 'name', 'Ada Example', 1.0, 'user', 'edit', 10, ?)", (ts,))
    with pytest.raises(sqlite3.IntegrityError):  # schema 7 knows no other_name
        con.execute("INSERT INTO fields (contact_id, name, value, confidence, source, created_at) "
                    "VALUES (4, 'other_name', 'x', 1.0, 'user', ?)", (ts,))
    con.close()
    with Store(db) as st:
        conn = st.connection
        assert conn.execute("SELECT max(version) FROM schema_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("SELECT id, card_id, supersedes, is_current FROM fields ORDER BY id").fetchall() == [
            (10, 2, None, 0), (11, None, 10, 1)]
        assert st.contact(4).contact.scalar("name") == "Ada Example"
        conn.execute("INSERT INTO fields (contact_id, name, value, confidence, source, created_at) "
                     "VALUES (4, 'other_name', '山田 太郎', 1.0, 'user', ?)", (ts,))
        assert st.contact(4).contact.scalar("other_name") == "山田 太郎"
        with pytest.raises(sqlite3.IntegrityError):  # the CHECK still refuses unknown names
            conn.execute("INSERT INTO fields (contact_id, name, value, confidence, source, created_at) "
                         "VALUES (4, 'nickname', 'x', 1.0, 'user', ?)", (ts,))
