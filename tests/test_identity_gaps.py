"""A card whose name, title or company was not read says so (report, followup list), issue 12."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cardscan.followup import queue as fu
from cardscan.models import Contact, Field
from cardscan.outputs.report import FollowupRow, render_report
from cardscan.store import Store

from smtp_fixtures import SmtpServer, add, person, smtp_server  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]


def test_identity_gaps_names_what_is_missing() -> None:
    full = Contact(name=Field("Robin Testperson", 0.9), title=Field("Buyer", 0.9), company=Field("Widgets Ltd", 0.9))
    assert fu.identity_gaps(full) == ()
    bare = Contact(emails=(Field("robin@widgets.example.com", 0.9),))
    assert fu.identity_gaps(bare) == ("no name read", "no company read", "no title read")
    assert fu.identity_gaps(bare, ["Subject: x\n\nHello there,\n\nGood to meet you."])[0] == \
        "no name read: the draft says 'Hello there,'"


def test_report_says_which_identity_fields_are_missing(tmp_path: Path) -> None:
    with Store(tmp_path / "cards.db") as s:
        cid = add(s, "a", person("", "robin@widgets.example.com", company=None))
        rec = s.contact(cid)
    row = FollowupRow(1, cid, "draft", "robin@widgets.example.com", "Good to meet you", "Hello there,\n\nThanks.")
    html = render_report([rec], stats={}, failures=[], followups={cid: [row]})
    assert "No name read: the draft says &#39;Hello there,&#39;; no company read; no title read." in html


def test_followup_list_says_no_name_read(tmp_path: Path, smtp_server: SmtpServer) -> None:  # noqa: F811
    db = tmp_path / "cards.db"
    with Store(db) as s:
        add(s, "a", person("", "robin@widgets.example.com"))
        add(s, "b", person("Kim Named", "kim@widgets.example.com"))
    env = {**os.environ, "CARDSCAN_CONFIG": str(smtp_server.config_toml(tmp_path / "config.toml")),
           "HOME": str(tmp_path)}
    r = subprocess.run([sys.executable, "-m", "cardscan", "followup", "list", "--db", str(db)], env=env, cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "! no name read: the draft says 'Hello there,'" in r.stdout
    assert r.stdout.count("no name read") == 1  # Kim's draft greets Kim
