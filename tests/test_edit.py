"""Field edits: validated (refusal messages pinned), source user / confidence 1.0, the value
read from the card kept and revertable; the cardscan edit command."""
from __future__ import annotations

from pathlib import Path

import pytest

from cardscan.contacts import edit
from cardscan.errors import ValidationError
from cardscan.store import Store
from conftest import run_cli
from contacts_fixtures import add, person


@pytest.fixture()
def store(tmp_path: Path):  # noqa: ANN201
    with Store(tmp_path / "e.db") as s:
        yield s


@pytest.fixture()
def cid(store: Store) -> int:
    return add(store, person("Jane Doe", region="US", phones=(("+14155550100", "work"),)))


@pytest.mark.parametrize(("field", "value", "message"), [
    ("phone", "12", "not a valid number for US (too short)"),
    ("phone", "+1 415 555 01001234567", "not a valid number for US (too long)"),
    ("phone", "+1 200 555 0100", "not a valid number for US (no such number range)"),
    ("phone", "call me maybe", "not a phone number: The string supplied did not seem to be a phone number"),
    ("email", "jane at acme", "not a valid e-mail address: it contains a space"),
    ("email", "jane@", "not a valid e-mail address: There must be something after the @-sign."),
    ("email", "jane@acme", "not a valid e-mail address: The part after the @-sign is not valid. "
                           "It should have a period."),
    ("website", "javascript:alert(1)", "not a web address: write a domain name such as example.com"),
    ("name", "Jane\u202eEod", "the name contains an invisible or control character (U+202E)"),
    ("name", "12345", "a name needs at least one letter"),
    ("title", "Head\nof Sales", "the title must be on one line"),
    ("company", "x" * 201, "the company is too long (201 characters, at most 200)"),
])
def test_refusals_give_the_validators_reason_and_change_nothing(store: Store, cid: int, field: str, value: str,
                                                                message: str) -> None:
    before = store.contact(cid).contact
    with pytest.raises(ValidationError) as e:
        edit.edit_field(store, cid, field, value)
    assert str(e.value).startswith(message), str(e.value)
    assert e.value.exit_code == 1
    assert store.contact(cid).contact == before


def test_phone_without_country_uses_the_contacts_region(store: Store) -> None:
    gb = add(store, person("Tom Hill", region="GB", phones=()))
    r = edit.edit_field(store, gb, "phone", "020 7946 0018", phone_type="work")
    assert r.new == "+442079460018"
    p = store.contact(gb).contact.phones[0]
    assert (p.number, p.type, p.source, p.confidence) == ("+442079460018", "work", "user", 1.0)
    nowhere = add(store, person("No Region", region=None, phones=()))
    with pytest.raises(ValidationError, match="write it with \\+ and the country code"):
        edit.edit_field(store, nowhere, "phone", "020 7946 0018")


def test_edit_is_user_sourced_and_revert_brings_back_the_card_value(store: Store, cid: int) -> None:
    r = edit.edit_field(store, cid, "email", "  Jane.Doe@Globex.Example ")
    assert (r.old, r.new) == ("jane@acme-widgets.example", "Jane.Doe@globex.example")
    e = store.contact(cid).contact.emails[0]
    assert (e.value, e.source, e.confidence) == ("Jane.Doe@globex.example", "user", 1.0)
    assert edit.revert_field(store, cid, "email") is True
    e = store.contact(cid).contact.emails[0]
    assert (e.value, e.source) == ("jane@acme-widgets.example", "ocr")
    assert edit.revert_field(store, cid, "email") is False  # already as read
    hist = store.field_history(cid, "email")
    assert [(h.value, h.action) for h in hist] == [
        ("jane@acme-widgets.example", "read"), ("Jane.Doe@globex.example", "edit"),
        ("jane@acme-widgets.example", "revert")]


def test_empty_value_deletes_and_revert_restores(store: Store, cid: int) -> None:
    r = edit.edit_field(store, cid, "title", "")
    assert (r.old, r.new) == ("Head of Sales", None)
    assert store.contact(cid).contact.title is None
    with pytest.raises(ValidationError, match="already empty"):
        edit.edit_field(store, cid, "title", "  ")
    assert edit.revert_field(store, cid, "title") is True
    assert store.contact(cid).contact.scalar("title") == "Head of Sales"


def test_add_and_position_among_shown_values(store: Store, cid: int) -> None:
    edit.edit_field(store, cid, "email", "second@acme.example", position=1)
    edit.edit_field(store, cid, "email", "third@acme.example", position=2)
    with pytest.raises(ValidationError, match="use a position from 0 to 3"):
        edit.edit_field(store, cid, "email", "x@acme.example", position=5)
    edit.edit_field(store, cid, "email", "", position=1)  # delete the middle one
    assert [e.value for e in store.contact(cid).contact.emails] == ["jane@acme-widgets.example", "third@acme.example"]
    edit.edit_field(store, cid, "email", "3rd@acme.example", position=1)  # shown position 1 = the third slot
    assert [e.value for e in store.contact(cid).contact.emails] == ["jane@acme-widgets.example", "3rd@acme.example"]
    # a value the user added reverts to nothing
    assert edit.revert_field(store, cid, "email", position=1) is True
    assert [e.value for e in store.contact(cid).contact.emails] == ["jane@acme-widgets.example"]
    # a deleted value read from the card: positions past the shown values address deleted slots
    edit.edit_field(store, cid, "email", "", position=0)
    assert store.contact(cid).contact.emails == ()
    assert edit.revert_field(store, cid, "email", position=0) is True
    assert [e.value for e in store.contact(cid).contact.emails] == ["jane@acme-widgets.example"]


def test_phone_type_rules(store: Store, cid: int) -> None:
    edit.edit_field(store, cid, "phone", "+1 202 555 0123", phone_type="mobile")
    assert store.contact(cid).contact.phones[0].type == "mobile"
    with pytest.raises(ValidationError, match="a phone type only goes with a phone"):
        edit.edit_field(store, cid, "email", "a@b.example", phone_type="mobile")
    with pytest.raises(ValidationError, match="no contact #404"):
        edit.edit_field(store, 404, "name", "X")


def test_edited_and_merged_contact_ids_follow_the_merge(store: Store, cid: int) -> None:
    from cardscan.contacts.dedupe import merge

    other = add(store, person("Jane Doe"))
    merge(store, cid, other)
    r = edit.edit_field(store, other, "title", "CEO")  # the merged id leads to the survivor
    assert r.contact_id == cid and store.contact(cid).contact.scalar("title") == "CEO"


def test_cli_edit_validates_everything_before_changing_anything(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    with Store(db) as s:
        c = add(s, person("Jane Doe", region="US"))
    r = run_cli("edit", str(c), "--title", "CTO", "--phone", "12", "--db", str(db))
    assert r.returncode == 1
    assert r.stderr.strip() == "cardscan: error: --phone: not a valid number for US (too short)"
    with Store(db) as s:
        assert s.contact(c).contact.scalar("title") == "Head of Sales"
    r = run_cli("edit", str(c), "--title", "CTO", "--phone", "(415) 555-0199", "--phone-type", "mobile",
                "--db", str(db))
    assert r.returncode == 0, r.stderr
    assert f"#{c} title: CTO  (was Head of Sales)" in r.stdout and "+14155550199" in r.stdout
    r = run_cli("edit", str(c), "--revert", "title", "--revert", "phone", "--db", str(db))
    assert r.returncode == 0 and r.stdout.count("back to the value read from the card") == 2
    with Store(db) as s:
        rec = s.contact(c).contact
        assert rec.scalar("title") == "Head of Sales" and rec.phones[0].number == "+14155550100"
    r = run_cli("edit", str(c), "--email", "bad@", "--db", str(db))
    assert r.returncode == 1 and "--email: not a valid e-mail address" in r.stderr
    r = run_cli("edit", "77", "--name", "X", "--db", str(db))
    assert r.returncode == 1 and "no contact #77" in r.stderr
