"""What `scan` does after the photos are stored: --auto-merge, then follow-up drafts (real OCR)."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from PIL import Image


def _recoded(src: Path, dst: Path) -> None:
    """The same card photo with other bytes: a second photo of one person."""
    Image.open(src).save(dst, "JPEG", quality=70)
    assert dst.read_bytes() != src.read_bytes()


def _count(db: Path, sql: str) -> int:
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchone()[0]
    finally:
        con.close()


@pytest.fixture
def two_photos_one_person(samples_dir, tmp_path) -> Path:
    d = tmp_path / "photos"
    d.mkdir()
    src = samples_dir / "card-01.jpg"
    (d / "a.jpg").write_bytes(src.read_bytes())
    _recoded(src, d / "b.jpg")
    return d


@pytest.fixture
def env(tmp_path) -> dict:
    return {"XDG_CONFIG_HOME": str(tmp_path / "config"), "CARDSCAN_CONFIG": ""}


@pytest.mark.parametrize("merge", [False, True])
def test_scan_drafts_one_followup_per_person_and_merges_when_asked(two_photos_one_person, tmp_path, cli, env, merge):
    db = tmp_path / "c.db"
    args = ["scan", str(two_photos_one_person), "--db", str(db), "--no-report", "-j", "1", "--event", "Expo"]
    r = cli(*args, *(["--auto-merge", "strong"] if merge else []), env=env)
    assert r.returncode == 0, r.stderr
    assert _count(db, "SELECT count(*) FROM cards") == 2  # both photos are kept either way
    contacts = _count(db, "SELECT count(*) FROM contacts WHERE merged_into IS NULL") if merge else None
    if merge:
        assert contacts == 1, r.stdout
        assert "merged #" in r.stdout
    else:
        assert _count(db, "SELECT count(*) FROM contacts") == 2
        assert "merged #" not in r.stdout
    # one person, one address: one draft, never two
    assert _count(db, "SELECT count(*) FROM followups WHERE state = 'draft'") == 1
    assert "1 new draft(s)" in r.stdout
    # a rescan writes nothing new
    again = cli(*args, env=env)
    assert again.returncode == 0, again.stderr
    assert _count(db, "SELECT count(*) FROM followups") == 1


def test_no_drafts_option(two_photos_one_person, tmp_path, cli, env):
    db = tmp_path / "c.db"
    r = cli("scan", str(two_photos_one_person / "a.jpg"), "--db", str(db), "--no-report", "-j", "1", "--no-drafts", env=env)
    assert r.returncode == 0, r.stderr
    assert _count(db, "SELECT count(*) FROM followups") == 0


def test_bad_config_does_not_fail_the_scan(two_photos_one_person, tmp_path, cli, env):
    cfg = tmp_path / "config" / "cardscan" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text("this is [not toml\n")
    db = tmp_path / "c.db"
    r = cli("scan", str(two_photos_one_person / "a.jpg"), "--db", str(db), "--no-report", "-j", "1", env=env)
    assert r.returncode == 0, r.stderr
    assert "not valid TOML" in r.stderr
    assert _count(db, "SELECT count(*) FROM contacts") == 1
    assert _count(db, "SELECT count(*) FROM followups") == 0


def test_auto_merge_refuses_unknown_strength(tmp_path, cli, env):
    r = cli("scan", str(tmp_path), "--db", str(tmp_path / "c.db"), "--auto-merge", "maybe", env=env)
    assert r.returncode == 1 or r.returncode == 2
    assert "--auto-merge" in r.stderr


def _options(monkeypatch, tmp_path, config: str | None, *argv: str):
    from cardscan.cli.main import build_parser, options_from_args, scan_config

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.delenv("CARDSCAN_CONFIG", raising=False)
    if config is not None:
        f = tmp_path / "cfg" / "cardscan" / "config.toml"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(config)
    args = build_parser().parse_args(["scan", "x", *argv])
    before = vars(args).copy()
    options = options_from_args(args, config=scan_config())
    assert vars(args) == before  # the arguments are read, not changed
    return options


def test_scan_defaults_come_from_the_config_file_and_the_command_line_wins(monkeypatch, tmp_path):
    cfg = '[scan]\nregion = "fr"\nlang = "eng+fra"\n'
    o = _options(monkeypatch, tmp_path, cfg)
    assert (o.region, o.lang) == ("FR", "eng+fra")
    o = _options(monkeypatch, tmp_path, cfg, "--region", "DE", "--lang", "eng")
    assert (o.region, o.lang) == ("DE", "eng")
    o = _options(monkeypatch, tmp_path, "")  # an empty file: the built-in defaults
    assert (o.region, o.lang) == (None, "eng")


def test_a_bad_region_in_the_config_is_reported_and_not_used(monkeypatch, tmp_path, caplog):
    o = _options(monkeypatch, tmp_path, '[scan]\nregion = "France"\n')
    assert o.region is None
    assert "two-letter country code" in caplog.text


def test_event_date_reaches_the_draft(two_photos_one_person, tmp_path, cli, env):
    db = tmp_path / "c.db"
    r = cli("scan", str(two_photos_one_person / "a.jpg"), "--db", str(db), "--no-report", "-j", "1",
            "--event", "Expo", "--event-date", "2026-11-20", env=env)
    assert r.returncode == 0, r.stderr
    con = sqlite3.connect(db)
    try:
        assert con.execute("SELECT date FROM events WHERE name = 'Expo'").fetchone() == ("2026-11-20",)
        (body,) = con.execute("SELECT body FROM followups").fetchone()
    finally:
        con.close()
    assert "at Expo on 2026-11-20" in body


@pytest.mark.parametrize("argv, message", [(["--event-date", "20 Nov"], "--event-date must be a date"),
                                           (["--event-date", "2026-11-20"], "needs --event")])
def test_event_date_is_checked(tmp_path, cli, env, argv, message):
    r = cli("scan", str(tmp_path), "--db", str(tmp_path / "c.db"), *argv, env=env)
    assert r.returncode == 1 and message in r.stderr
    assert not (tmp_path / "c.db").exists()
