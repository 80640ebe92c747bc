"""Duplicates (strong / possible / not), merging that keeps every image, value, note and
follow-up, auto-merge, and rescans that never create a contact."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from cardscan.contacts import dedupe
from cardscan.store import merge as store_merge
from cardscan.errors import ValidationError
from cardscan.store import Store
from conftest import run_cli
from contacts_fixtures import add, person


@pytest.fixture()
def store(tmp_path: Path):  # noqa: ANN201
    with Store(tmp_path / "d.db") as s:
        yield s


def pairs(store: Store) -> dict[tuple[int, int], dedupe.DuplicatePair]:
    return {(p.a, p.b): p for p in dedupe.duplicates(store)}


def test_shared_email_or_number_is_strong(store: Store) -> None:
    a = add(store, person("Jane Doe", phones=()))
    b = add(store, person("JANE DOE", emails=("Jane@Acme-Widgets.example",), phones=(), company="Other Co"))
    c = add(store, person(None, emails=(), phones=(("+14155550100", "mobile"),)))
    d = add(store, person("Jane Doe", emails=(), phones=(("+14155550100", "mobile"),)))
    found = pairs(store)
    assert found[(a, b)].strength == "strong" and found[(a, b)].reasons == ("same e-mail jane@acme-widgets.example",)
    assert found[(c, d)].strength == "strong" and found[(c, d)].reason == "same phone +14155550100"
    assert found[(a, d)].strength == "possible"  # same name, same company, nothing shared
    assert (a, c) not in found and (b, c) not in found


def test_same_name_similar_company_is_possible_accents_folded(store: Store) -> None:
    a = add(store, person("José Pérez", company="Acme Widgets Inc.", emails=(), phones=()))
    b = add(store, person("Jose Perez", company="ACME Widgets", emails=("jp@other.example",), phones=()))
    c = add(store, person("Jose Perez", company="Totally Different Ltd", emails=(), phones=()))
    d = add(store, person("Dr. José Pérez", company=None, emails=(), phones=()))
    found = pairs(store)
    assert found[(a, b)].strength == "possible"
    assert found[(a, b)].reasons[0] == "same name jose perez"
    assert (a, c) not in found and (b, c) not in found
    assert found[(a, d)].reasons[1] == "company on one card only"


def test_colleagues_sharing_the_switchboard_are_not_duplicates(store: Store) -> None:
    a = add(store, person("Alice Martin", emails=("alice@acme.example",), phones=(("+14155550100", "work"),)))
    b = add(store, person("Bob Chen", emails=("bob@acme.example",), phones=(("+14155550100", "work"),)))
    c = add(store, person("Carol Diaz", emails=("info@acme.example",), phones=()))
    d = add(store, person("Dan Wu", emails=("info@acme.example",), phones=()))
    found = pairs(store)
    assert (a, b) not in found
    assert found[(c, d)].strength == "possible" and "but different names" in found[(c, d)].reasons


def test_two_cards_of_one_photo_are_two_people_unless_the_evidence_is_strong(store: Store) -> None:
    """Cards laid side by side in one photo: colleagues sharing info@ are not merged by
    --auto-merge possible; two copies of the same card still are a strong pair."""
    from cardscan.store import CardRead

    shared = person("Carol Diaz", emails=("info@acme.example",), phones=())
    c, d = store.record_cards("ab" * 32, "/photos/pair.jpg", [
        CardRead(shared), CardRead(person("Dan Wu", emails=("info@acme.example",), phones=()))])
    twin = person("Frank Ng", emails=("frank@ng.example",), phones=())
    e, f2 = store.record_cards("cd" * 32, "/photos/twins.jpg", [CardRead(twin), CardRead(twin)])
    g = add(store, person("Erin Fox", emails=("info@acme.example",), phones=()))  # another photo
    found = pairs(store)
    assert (c, d) not in found
    assert found[(e, f2)].strength == "strong"
    assert found[(c, g)].strength == "possible" and found[(d, g)].strength == "possible"
    merged = dedupe.auto_merge(store, "possible")  # g joins c; d, on c's photo, stays apart
    assert {(m.kept, m.merged) for m in merged} == {(c, g), (e, f2)}
    assert store.contact(g).id == c and store.contact(d).id == d


def test_invalid_values_do_not_make_duplicates(store: Store) -> None:
    from cardscan.models import Field, Phone

    bad = person("A One", emails=(), phones=())
    bad = bad.__class__(**{**bad.__dict__, "emails": (Field("x@y.example", 0.2, flags=("invalid",)),),
                           "phones": (Phone("+14155550100", "work", "r", flags=("invalid",)),)})
    add(store, bad)
    add(store, person("B Two", emails=("x@y.example",), phones=(("+14155550100", "work"),)))
    assert pairs(store) == {}


def test_dismissed_pairs_are_left_out(store: Store) -> None:
    a = add(store, person("Jane Doe"))
    b = add(store, person("Jane Doe"))
    from cardscan.outputs.review import dismiss_duplicate

    assert (a, b) in pairs(store)
    dismiss_duplicate(store, a, b)
    assert pairs(store) == {}


def _field_rows(store: Store, cid: int, name: str) -> list[tuple]:
    return store.connection.execute(
        "SELECT value, is_current, action FROM fields WHERE contact_id = ? AND name = ? ORDER BY id",
        (cid, name)).fetchall()


def test_merge_keeps_every_image_value_note_and_history(store: Store) -> None:
    old = person("Jane Doe", title="Sales Manager", company="Acme Widgets", emails=("jane@acme-widgets.example",),
                 phones=(("+14155550100", "work"), ("+12025550123", "mobile")))
    new = person("Jane Doe", title="VP Sales", company="Globex", emails=("jane@globex.example",),
                 phones=(("+12025550123", "mobile"), ("+16175550111", "work")))
    a = add(store, old, event="Expo 2023", note="met at booth 4", crop=b"crop-a")
    time.sleep(0.01)
    b = add(store, new, event="Expo 2024", note="now at Globex", crop=b"crop-b")
    assert dedupe.merge(store, a, b) == a

    rec = store.contact(a)
    assert sorted(k.crop_jpeg for k in rec.cards) == [b"crop-a", b"crop-b"]  # every card image kept
    assert rec.notes == ("met at booth 4", "now at Globex")
    c = rec.contact
    # the newer card's job is current, the older kept as history
    assert (c.scalar("title"), c.scalar("company")) == ("VP Sales", "Globex")
    assert [v for v, cur, _ in _field_rows(store, a, "title")] == ["Sales Manager", "VP Sales"]
    assert [cur for _, cur, _ in _field_rows(store, a, "title")] == [0, 1]
    # list values united: the kept contact's in place, then the other's new ones, nothing twice
    assert [e.value for e in c.emails] == ["jane@acme-widgets.example", "jane@globex.example"]
    assert [p.number for p in c.phones] == ["+14155550100", "+12025550123", "+16175550111"]
    assert rec.event == "Expo 2023"
    # B is marked, not deleted; its id leads to A
    assert store.contact(b).id == a
    row = store.connection.execute("SELECT merged_into FROM contacts WHERE id = ?", (b,)).fetchone()
    assert row == (a,)
    assert [r.id for r in store.contacts()] == [a]
    assert len(store.contacts(include_merged=True)) == 2


def test_user_edit_wins_over_a_newer_card(store: Store) -> None:
    a = add(store, person("Jane Doe", title="Sales Manager"))
    store.set_field(a, "title", "Chief Revenue Officer")
    time.sleep(0.01)
    b = add(store, person("Jane Doe", title="Sales Mgr"))
    dedupe.merge(store, a, b)
    assert store.contact(a).contact.scalar("title") == "Chief Revenue Officer"
    assert "Sales Mgr" in [v for v, _, _ in _field_rows(store, a, "title")]  # the other kept as history


def test_merge_moves_followups_one_live_per_event(store: Store) -> None:
    a = add(store, person("Jane Doe"), event="Expo")
    b = add(store, person("Jane Doe"), event="Expo")
    ev = store.connection.execute("SELECT id FROM events WHERE name = 'Expo'").fetchone()[0]
    now = "2024-01-01T00:00:00.000+00:00"
    with store.write() as conn:
        for cid, state in ((a, "draft"), (b, "sent")):
            conn.execute("INSERT INTO followups (contact_id, event_id, state, to_addr, subject, body, created_at, "
                         "updated_at) VALUES (?, ?, ?, 'jane@acme-widgets.example', 's', 'b', ?, ?)",
                         (cid, ev, state, now, now))
    dedupe.merge(store, a, b)
    rows = store.connection.execute("SELECT contact_id, state FROM followups ORDER BY id").fetchall()
    # B's e-mail was already sent: A's draft must not go out as a second one
    assert rows == [(a, "skipped"), (a, "sent")]


def test_merge_refusals(store: Store) -> None:
    a = add(store, person("Jane Doe"))
    b = add(store, person("Jane Doe"))
    dedupe.merge(store, a, b)
    with pytest.raises(ValidationError, match="already one contact"):
        dedupe.merge(store, a, b)
    with pytest.raises(ValidationError, match="no contact #99"):
        dedupe.merge(store, a, 99)


def test_merge_is_all_or_nothing(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    a = add(store, person("Jane Doe"), note="n1")
    b = add(store, person("Jane Doe", title="VP"), note="n2")
    before = store.connection.execute("SELECT count(*) FROM fields").fetchone()

    def boom(*args, **kw) -> None:  # noqa: ANN002, ANN003 - fault injection after the field rows
        raise RuntimeError("disk gone")

    monkeypatch.setattr(store_merge, "_move_followups", boom)  # the store runs the merge's SQL
    with pytest.raises(RuntimeError):
        dedupe.merge(store, a, b)
    assert store.connection.execute("SELECT count(*) FROM fields").fetchone() == before
    assert store.contact(b).id == b and store.contact(a).notes == ("n1",)


def test_auto_merge_strong_folds_groups_into_the_oldest(store: Store) -> None:
    a = add(store, person("Jane Doe", phones=()))
    b = add(store, person("Jane Doe", phones=()))
    c = add(store, person("J. Doe", emails=("jane@acme-widgets.example", "jd@home.example"), phones=()))
    d = add(store, person("Jane Doe", emails=(), phones=()))  # possible only: left alone
    done = dedupe.auto_merge(store, "strong")
    assert {(m.kept, m.merged) for m in done} == {(a, b), (a, c)}
    assert [r.id for r in store.contacts()] == [a, d]
    assert len(store.contact(a).cards) == 3


def test_rescanning_a_photo_never_creates_a_contact(store: Store) -> None:
    a = add(store, person("Jane Doe"), photo=b"same bytes")
    again = add(store, person("Someone Else"), photo=b"same bytes")
    assert again == a and len(store.contacts()) == 1
    b = add(store, person("Jane Doe"), photo=b"other bytes")
    dedupe.merge(store, a, b)
    assert add(store, person("Jane Doe"), photo=b"other bytes") == a  # even after the merge
    assert len(store.contacts(include_merged=True)) == 2


def test_cli_duplicates_and_merge(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    with Store(db) as s:
        a = add(s, person("Jane Doe"))
        b = add(s, person("Jane Doe"))
    r = run_cli("duplicates", "--db", str(db))
    assert r.returncode == 0, r.stderr
    assert f"#{a} #{b}  strong" in r.stdout and "same e-mail jane@acme-widgets.example" in r.stdout
    r = run_cli("merge", str(a), str(b), "--db", str(db))
    assert r.returncode == 0 and f"#{b} merged into #{a}" in r.stdout and "2 card(s)" in r.stdout
    r = run_cli("duplicates", "--db", str(db))
    assert "no duplicates found" in r.stdout
    r = run_cli("merge", str(a), str(b), "--db", str(db))
    assert r.returncode == 1 and "already one contact" in r.stderr
    r = run_cli("export", "--db", str(db), "--format", "jsonl")
    assert len(r.stdout.splitlines()) == 1 and json.loads(r.stdout)["id"] == a


def test_report_uses_find_duplicates(store: Store) -> None:
    from cardscan.outputs.report import duplicate_pairs

    a = add(store, person("Jane Doe", emails=(), phones=()))
    b = add(store, person("Jane Doe", emails=(), phones=(), company="ACME Widgets Inc"))
    out = duplicate_pairs(store.contacts())
    assert [(p.a, p.b) for p in out] == [(a, b)]


def test_name_stays_the_kept_contacts_and_the_other_goes_to_history(store: Store) -> None:
    a = add(store, person("Jane Doe", address="1 Old Road, Springfield"))
    time.sleep(0.01)
    b = add(store, person("Jane Doe-Smith", address="9 New Street, Shelbyville"))
    dedupe.merge(store, a, b)
    c = store.contact(a).contact
    assert c.scalar("name") == "Jane Doe" and c.scalar("address") == "9 New Street, Shelbyville"
    assert [(v, cur) for v, cur, _ in _field_rows(store, a, "name")] == [("Jane Doe", 1), ("Jane Doe-Smith", 0)]
    assert [(v, cur) for v, cur, _ in _field_rows(store, a, "address")] == [
        ("1 Old Road, Springfield", 0), ("9 New Street, Shelbyville", 1)]


def test_company_key_leaves_out_the_parsers_legal_forms() -> None:
    """One list of legal forms (parsing/data/company_suffixes.txt): duplicates ignore them all."""
    assert dedupe.company_key("Nonexistent Widgets Sdn. Bhd.") == dedupe.company_key("Nonexistent Widgets")
    assert dedupe.company_key("Nonexistent Gadgets GmbH") == "nonexistent gadgets"
    assert dedupe.company_key("The Holding AB") == "the holding ab"  # nothing but noise: kept whole


def test_a_name_is_parsed_once_however_many_cards_share_a_key(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same card scanned 60 times: every pair is a candidate (1770 of them), but each distinct
    name is parsed once, not twice per pair (a 2,000-card batch of one card took minutes)."""
    for _ in range(60):
        add(store, person("Dr. Jane Q. Doe"))
    calls: list[str] = []
    real = dedupe.parse_name

    def counting(name: str):  # noqa: ANN202 - a spy on the real parser, not a stand-in
        calls.append(name)
        return real(name)

    monkeypatch.setattr(dedupe, "parse_name", counting)
    for cached in (dedupe.name_key, dedupe._first_last, dedupe.company_key):
        cached.cache_clear()
    found = dedupe.duplicates(store)
    assert len(found) == 60 * 59 // 2 and all(p.strength == "strong" for p in found)
    assert len(calls) <= 2, calls[:5]


def test_scan_summary_names_ten_new_duplicates_and_points_at_the_rest(tmp_path: Path) -> None:
    """Six shots of one card (15 pairs): 10 possible-duplicate lines, then one line for the other 5."""
    from watch_fixtures import FAKE_ENGINE, card_jpeg, cli_env

    photos = tmp_path / "p"
    photos.mkdir()
    for q in range(6):
        (photos / f"shot{q}.jpg").write_bytes(card_jpeg(7, quality=60 + 5 * q))  # the same card, other bytes
    r = run_cli("scan", str(photos), "--db", str(tmp_path / "c.db"), "--no-report", "-j", "1",
                env=cli_env({"CARDSCAN_TEST_ENGINE_FACTORY": FAKE_ENGINE}))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert sum(1 for x in lines if x.startswith("possible duplicate: #")) == 10, r.stdout
    assert any(x.startswith("... and 5 more possible duplicate(s): cardscan duplicates --db ") for x in lines), r.stdout
