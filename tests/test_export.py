"""cardscan export: vCard 3.0 read back with vobject, CSV layouts read back with csv, JSON lines,
atomic files (exit 5, old file intact)."""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import vobject
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cardscan.outputs import export as ex
from cardscan.reading import files as files_mod
from cardscan.errors import OutputAccessError
from cardscan.outputs.export import ExportItem
from cardscan.models import Contact, Field, Phone
from cardscan.store import Store
from conftest import run_cli
from contacts_fixtures import add, f, person

# printable text with the characters that break naive writers: , ; \ newlines, quotes, colons,
# emoji (4-byte UTF-8), accents, CJK, RTL; no other control characters (clean_text drops them)
_TRICKY = st.sampled_from([",", ";", "\\", "\n", ":", '"', "'", "=", "+", "-", "@", "🦄", "é", "漢", "ש", " "])
TEXT = st.lists(st.one_of(_TRICKY, st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Zs"))),
                min_size=1, max_size=120).map("".join).filter(lambda s: s.strip() != "")


def item(contact: Contact, **kw) -> ExportItem:  # noqa: ANN003
    return ExportItem(kw.pop("id", 1), contact, **kw)


def parse_vcf(data: bytes) -> list[vobject.base.Component]:
    return list(vobject.readComponents(data.decode("utf-8")))


def read_csv(data: bytes) -> list[list[str]]:
    text = data.decode("utf-8")
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline="")))


# --------------------------------------------------------------------------------------------
# vCard


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=TEXT, company=TEXT, title=TEXT, note=TEXT, address=TEXT)
def test_vcard_round_trips_every_value(name: str, company: str, title: str, note: str, address: str) -> None:
    c = person(name, company=company, title=title, address=address)
    it = item(c, event="Expo; North, Hall\\B", event_date="2024-05-01", notes=(note,))
    data = ex.to_vcf([it])
    cards = parse_vcf(data)
    assert len(cards) == 1
    card = cards[0]
    assert card.fn.value == name.strip()
    assert card.org.value == [company.strip()]
    assert card.title.value == title.strip()
    assert card.adr.value.street == address.strip()
    parts = ex.split_name(name)
    n = card.n.value
    assert (n.family, n.given, n.additional, n.prefix, n.suffix) == (
        parts.family, parts.given, parts.middle, parts.prefix, parts.suffix)
    assert card.note.value == ex.note_text(it)
    assert note.strip() in card.note.value and "Met at Expo; North, Hall\\B, 2024-05-01" in card.note.value
    assert [e.value for e in card.email_list] == ["jane@acme-widgets.example"]
    assert [t.value for t in card.tel_list] == ["+14155550100"]
    assert [u.value for u in card.url_list] == ["https://www.acme-widgets.example"]
    # no property came out of a value: exactly the ones written
    assert sorted(card.contents) == sorted(
        ["version", "prodid", "n", "fn", "org", "title", "email", "tel", "url", "adr", "note", "categories"])
    _check_physical_lines(data)


def _check_physical_lines(data: bytes) -> None:
    assert data.endswith(b"\r\n")
    for line in data.split(b"\r\n")[:-1]:
        assert len(line) <= 75, line
        line.decode("utf-8")  # every physical line is whole UTF-8: no character split by a fold
        assert b"\n" not in line and b"\r" not in line


def test_injected_property_stays_inside_the_name() -> None:
    c = person("Mallory Evil\nEMAIL:attacker@x.example\r\nTEL:+15555550123", emails=(), phones=())
    card = parse_vcf(ex.to_vcf([item(c)]))[0]
    assert "email" not in card.contents and "tel" not in card.contents
    assert card.fn.value == "Mallory Evil\nEMAIL:attacker@x.example\nTEL:+15555550123"


def test_fold_at_75_octets_never_splits_a_character_or_an_escape() -> None:
    for text in ("é" * 200, "🦄a" * 90, "x" * 74 + "\\n" * 50, "a" * 73 + "漢" * 40):
        folded = ex.fold_line("NOTE:" + text)
        lines = folded.encode("utf-8").split(b"\r\n")[:-1]
        assert all(len(x) <= 75 for x in lines)
        assert all(x.startswith(b" ") for x in lines[1:])
        for x in lines:
            x.decode("utf-8")
            assert not x.rstrip(b"\\").endswith(b"\\") or x.endswith(b"\\\\")  # no lone "\" at a fold
        assert folded.replace("\r\n ", "") == "NOTE:" + text + "\r\n"


def test_vcard_phone_types_and_invalid_values_go_to_the_note() -> None:
    c = Contact(
        name=f("Ana Lima"),
        emails=(f("ana@lima.example"), Field("ana@", 0.3, flags=("invalid",), message="no domain")),
        phones=(Phone("+14155550100", "work", "T 415 555 0100"), Phone("+12025550123", "mobile", "M"),
                Phone("+14155550199", "fax", "F"), Phone("5550", "other", "5550", flags=("invalid",))),
        websites=(f("javascript:alert(1)"),),
    )
    card = parse_vcf(ex.to_vcf([item(c)]))[0]
    tels = {t.value: t.params["TYPE"] for t in card.tel_list}
    assert tels == {"+14155550100": ["WORK", "VOICE"], "+12025550123": ["CELL", "VOICE"],
                    "+14155550199": ["WORK", "FAX"]}
    assert [e.value for e in card.email_list] == ["ana@lima.example"]
    assert "url" not in card.contents
    note = card.note.value
    assert "e-mail ana@ (no domain)" in note and "other phone 5550" in note and "website javascript:alert(1)" in note


def test_company_only_card_has_fn_and_empty_n() -> None:
    card = parse_vcf(ex.to_vcf([item(person(None, company="Blue Fjord AS"))]))[0]
    assert card.fn.value == "Blue Fjord AS" and card.org.value == ["Blue Fjord AS"]
    assert card.n.value.family == "" and card.n.value.given == ""


def test_several_cards_in_one_file_parse_separately() -> None:
    items = [item(person(f"Person {i}", emails=(f"p{i}@x.example",)), id=i) for i in range(5)]
    cards = parse_vcf(ex.to_vcf(items))
    assert [c.fn.value for c in cards] == [f"Person {i}" for i in range(5)]


# --------------------------------------------------------------------------------------------
# CSV


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=TEXT, company=TEXT, title=TEXT, note=TEXT, layout=st.sampled_from(ex.CSV_LAYOUTS))
def test_csv_cells_are_inert_and_round_trip(name: str, company: str, title: str, note: str, layout: str) -> None:
    c = person(name, company=company, title=title, address="=cmd|' /C calc'!A0")
    data = ex.to_csv([item(c, notes=(note,))], layout)
    rows = read_csv(data)
    assert len(rows) == 2 and len(rows[0]) == len(rows[1])
    assert data.count(b"\r\n") >= 2 and data.endswith(b"\r\n")
    row = dict(zip(rows[0], rows[1]))
    for header, cell in row.items():
        assert _inert(cell, layout), (header, cell)
    company_col = {"google": "Organization Name", "outlook": "Company", "plain": "company"}[layout]
    assert _undo(row[company_col]) == company.strip()
    title_col = {"google": "Organization Title", "outlook": "Job Title", "plain": "title"}[layout]
    assert _undo(row[title_col]) == title.strip()
    notes_col = {"google": "Notes", "outlook": "Notes", "plain": "notes"}[layout]
    assert note.strip() in _undo(row[notes_col])


def _undo(cell: str) -> str:
    """The documented reading rule: one apostrophe goes when the text after all leading
    apostrophes starts a formula (so a value that really began with ' survives)."""
    core = cell.lstrip("'")
    if cell.startswith("'") and (core[:1] in ex.FORMULA_TRIGGERS
                                 or core.lstrip(" \u00a0\u3000\n")[:1] in ex.FORMULA_TRIGGERS):
        return cell[1:]
    return cell


_PHONE_OK = __import__("re").compile(r"^\+[0-9][0-9 \-]*$")


def _inert(cell: str, layout: str) -> bool:
    """A spreadsheet will not run it: starts with ', or with no trigger, or (importer layouts)
    is a bare international number (only + digits spaces hyphens)."""
    first = cell.lstrip(" \u00a0\u3000\n")[:1]
    if cell[:1] == "'" or (cell[:1] not in ex.FORMULA_TRIGGERS and first not in ex.FORMULA_TRIGGERS):
        return True
    return layout in ("google", "outlook") and bool(_PHONE_OK.match(cell))


@pytest.mark.parametrize("value", ["=1+1", "+1+1", "-1+1", "@SUM(A1)", "\t=1", "\r=1", "\uff1d1+1", "\uff0b1",
                                   "\uff0d1", "\uff201", "  =1+1", "\u3000=1"])
def test_formula_cells_get_an_apostrophe(value: str) -> None:
    assert ex.neutralise(value) == "'" + value
    assert ex.neutralise("Acme " + value) == "Acme " + value
    assert ex.neutralise("'" + value) == "''" + value  # reversible: a real leading apostrophe is kept
    assert ex.neutralise("'quoted'") == "'quoted'"


def test_phone_policy_per_layout() -> None:
    c = person("Kai Berg", phones=(("+14155550100", "work"), ("+12025550123", "mobile"), ("+14155550199", "fax"),
                                   ("+4930123456", "other")))
    google = dict(zip(*read_csv(ex.to_csv([item(c)], "google"))))
    assert [google[f"Phone {i} - Value"] for i in (1, 2, 3, 4)] == [
        "+1 415-555-0100", "+1 202-555-0123", "+1 415-555-0199", "+49 30 123456"]
    assert [google[f"Phone {i} - Label"] for i in (1, 2, 3, 4)] == ["Work", "Mobile", "Work Fax", "Other"]
    outlook = dict(zip(*read_csv(ex.to_csv([item(c)], "outlook"))))
    assert (outlook["Business Phone"], outlook["Mobile Phone"], outlook["Business Fax"], outlook["Other Phone"]) == (
        "+1 415-555-0100", "+1 202-555-0123", "+1 415-555-0199", "+49 30 123456")
    plain = dict(zip(*read_csv(ex.to_csv([item(c)], "plain"))))
    assert plain["work phones"] == "'+1 415-555-0100" and plain["mobile phones"] == "'+1 202-555-0123"
    # a number that did not validate is text like any other (and is not put in a phone column)
    bad = person("Kai Berg", phones=(("=2+5", "work"),))
    g = dict(zip(*read_csv(ex.to_csv([item(bad)], "google"))))
    assert g["Phone 1 - Value"] == "" and "work phone =2+5" in g["Notes"]


def test_google_header_is_the_documented_layout() -> None:
    # the column names and order of a Google Contacts export (the file its import reads back)
    header = read_csv(ex.to_csv([item(person())], "google"))[0]
    assert header == [
        "First Name", "Middle Name", "Last Name", "Phonetic First Name", "Phonetic Middle Name",
        "Phonetic Last Name", "Name Prefix", "Name Suffix", "Nickname", "File As", "Organization Name",
        "Organization Title", "Organization Department", "Birthday", "Notes", "Photo", "Labels",
        "E-mail 1 - Label", "E-mail 1 - Value", "Phone 1 - Label", "Phone 1 - Value", "Address 1 - Label",
        "Address 1 - Formatted", "Address 1 - Street", "Address 1 - City", "Address 1 - PO Box",
        "Address 1 - Region", "Address 1 - Postal Code", "Address 1 - Country", "Address 1 - Extended Address",
        "Website 1 - Label", "Website 1 - Value"]
    two = person(emails=("a@x.example", "b@x.example"))
    header2 = read_csv(ex.to_csv([item(two), item(person(), id=2)], "google"))[0]
    assert header2[17:21] == ["E-mail 1 - Label", "E-mail 1 - Value", "E-mail 2 - Label", "E-mail 2 - Value"]


def test_outlook_header_is_microsofts_layout_with_bom() -> None:
    data = ex.to_csv([item(person())], "outlook")
    assert data.startswith(b"\xef\xbb\xbf\"Title\",\"First Name\",\"Middle Name\",\"Last Name\"")
    header = read_csv(data)[0]
    assert len(header) == len(set(header)) == 92
    for col in ("E-mail Address", "E-mail 2 Address", "E-mail 3 Address", "Business Phone", "Mobile Phone",
                "Business Fax", "Job Title", "Company", "Business Street", "Web Page", "Notes", "Categories"):
        assert col in header
    row = dict(zip(*read_csv(data)))
    assert (row["First Name"], row["Last Name"], row["Company"], row["Job Title"]) == (
        "Jane", "Doe", "Acme Widgets", "Head of Sales")
    assert row["E-mail Address"] == "jane@acme-widgets.example" and row["E-mail Type"] == "SMTP"
    assert not ex.to_csv([item(person())], "google").startswith(b"\xef\xbb\xbf")


def test_every_cell_is_quoted_with_crlf() -> None:
    data = ex.to_csv([item(person())], "plain").decode()
    for line in data.split("\r\n")[:-1]:
        assert line.startswith('"') and line.endswith('"')


# --------------------------------------------------------------------------------------------
# JSON lines


def test_jsonl_has_every_value_with_confidence_source_flags_event_and_notes() -> None:
    c = Contact(name=Field("Zoë O'Neil", 0.55, "ocr", "Zoe O'Neil", ("repaired",)),
                emails=(Field("z@x.example", 1.0, "user"),),
                phones=(Phone("+14155550100", "mobile", "M: 415 555 0100", 0.8, "qr"),))
    it = item(c, event="Expo", event_date="2024-05-01", notes=("line\u2028sep", "second"))
    lines = ex.to_jsonl([it, item(person(), id=2)]).decode("utf-8").splitlines()
    assert len(lines) == 2
    rec = json.loads(lines[0])
    assert rec["name"] == {"value": "Zoë O'Neil", "confidence": 0.55, "source": "ocr", "raw": "Zoe O'Neil",
                           "flags": ["repaired"], "message": None}
    assert rec["emails"][0]["source"] == "user" and rec["phones"][0]["type"] == "mobile"
    assert rec["phones"][0]["source"] == "qr" and rec["title"] is None
    assert (rec["event"], rec["event_date"], rec["notes"]) == ("Expo", "2024-05-01", ["line\u2028sep", "second"])


# --------------------------------------------------------------------------------------------
# through the store and the CLI


@pytest.fixture()
def db(tmp_path: Path) -> Path:
    path = tmp_path / "cards.db"
    with Store(path) as store:
        add(store, person("Jane Doe"), event="Expo 2024", note="wants a demo, in May")
        add(store, person("Li Wei", emails=("li@wei.example",), phones=(("+8613812345678", "mobile"),)),
            event="Fair")
    return path


def test_cli_exports_each_format_to_stdout_and_file(db: Path, tmp_path: Path) -> None:
    r = run_cli("export", "--db", str(db), "--format", "vcf")
    assert r.returncode == 0, r.stderr
    cards = list(vobject.readComponents(r.stdout))
    assert [c.fn.value for c in cards] == ["Jane Doe", "Li Wei"]
    assert "wants a demo, in May" in cards[0].note.value and "Met at Expo 2024" in cards[0].note.value
    out = tmp_path / "out.csv"
    r = run_cli("export", "--db", str(db), "--format", "csv", "--csv-layout", "outlook", "--event", "Fair",
                "-o", str(out))
    assert r.returncode == 0, r.stderr
    rows = read_csv(out.read_bytes())
    assert len(rows) == 2 and dict(zip(*rows))["Mobile Phone"] == "+86 138 1234 5678"
    r = run_cli("export", "--db", str(db), "--format", "jsonl")
    assert [json.loads(x)["name"]["value"] for x in r.stdout.splitlines()] == ["Jane Doe", "Li Wei"]


def test_vcard_uid_is_stable_per_contact_and_the_one_the_sync_writes(db: Path) -> None:
    from cardscan.contacts.uid import contact_uid
    first = [c.uid.value for c in vobject.readComponents(run_cli("export", "--db", str(db), "--format", "vcf").stdout)]
    again = [c.uid.value for c in vobject.readComponents(run_cli("export", "--db", str(db), "--format", "vcf").stdout)]
    assert first == again and len(set(first)) == 2
    with Store(db) as store:
        assert first == [contact_uid(r.id, r.created_at) for r in store.contacts()]


def test_since_and_unknown_event(db: Path) -> None:
    with Store(db) as store:
        assert len(ex.load_items(store, since="2000-01-01")) == 2
        assert ex.load_items(store, since="2999-01-01") == []
    r = run_cli("export", "--db", str(db), "--format", "jsonl", "--since", "May 1st")
    assert r.returncode == 1 and "not a date" in r.stderr
    r = run_cli("export", "--db", str(db), "--format", "vcf", "--event", "Nope")
    assert r.returncode == 1 and "no event named 'Nope'" in r.stderr


def test_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "contacts.vcf"
    target.write_bytes(b"previous export")

    def broken_replace(src: str, dst: str) -> None:  # fault injection: the rename fails
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(files_mod.os, "replace", broken_replace)
    with pytest.raises(OutputAccessError, match="cannot write .*contacts.vcf: Permission denied") as e:
        ex.write_atomic(target, b"new data")
    assert e.value.exit_code == 5
    assert target.read_bytes() == b"previous export"
    assert os.listdir(tmp_path) == ["contacts.vcf"]  # no temp file left behind


def test_missing_folder_is_exit_5(db: Path, tmp_path: Path) -> None:
    r = run_cli("export", "--db", str(db), "--format", "vcf", "-o", str(tmp_path / "nope" / "x.vcf"))
    assert r.returncode == 5 and "cannot write" in r.stderr and "Traceback" not in r.stderr


def test_read_only_folder_is_exit_5_and_old_file_intact(db: Path, tmp_path: Path) -> None:
    """A real read-only folder.  Root writes anywhere, so as root the export runs without the
    capabilities that bypass file permissions (setpriv drops them from the bounding set)."""
    outdir = tmp_path / "out"
    outdir.mkdir()
    target = outdir / "contacts.vcf"
    target.write_bytes(b"previous export")
    cmd = [sys.executable, "-m", "cardscan", "export", "--db", str(db), "--format", "vcf", "-o", str(target)]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv (util-linux) to drop CAP_DAC_OVERRIDE")
        cmd = [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner", *cmd]
    os.chmod(outdir, 0o555)
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    finally:
        os.chmod(outdir, 0o755)
    assert r.returncode == 5, r.stderr
    assert "cannot write" in r.stderr and "previous file is unchanged" in r.stderr
    assert "Traceback" not in r.stderr
    assert target.read_bytes() == b"previous export"
    assert os.listdir(outdir) == ["contacts.vcf"]


def test_new_file_replaces_old_atomically_with_its_permissions(tmp_path: Path) -> None:
    target = tmp_path / "c.csv"
    target.write_bytes(b"old")
    os.chmod(target, 0o600)
    ex.write_atomic(target, b"new")
    assert target.read_bytes() == b"new" and stat.S_IMODE(target.stat().st_mode) == 0o600
