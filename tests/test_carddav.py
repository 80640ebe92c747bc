"""CardDAV sync against a real Radicale server on 127.0.0.1 (issue 17)."""
from __future__ import annotations

from pathlib import Path

import pytest
import requests
import vobject

from cardscan.contacts import dedupe
from cardscan.contacts.edit import edit_field
from cardscan.errors import BadArgumentsError, LoginError, RemoteError
from cardscan.store import Store, contact_uids
from cardscan.store import sync as q
from cardscan.sync.carddav import DavClient, check_url, discover, sync_carddav

from contacts_fixtures import add, person
from dav_fixtures import DAV_PASSWORD, DAV_USER, Radicale, radicale, radicale_tls  # noqa: F401

pytestmark = pytest.mark.slow


@pytest.fixture
def store(tmp_path: Path):  # noqa: ANN201
    with Store(tmp_path / "c.db") as s:
        yield s


def client(password: str = DAV_PASSWORD) -> DavClient:
    return DavClient(DAV_USER, password, timeout=10)


def uids(cards: dict[str, str]) -> dict[str, str]:
    return {vobject.readOne(t).uid.value: t for t in cards.values()}


def test_discovery_from_the_server_root_and_from_the_book(radicale: Radicale) -> None:
    with client() as c:
        assert discover(c, radicale.base) == radicale.book  # well-known -> principal -> home -> book
        assert discover(c, radicale.book) == radicale.book
        assert discover(c, f"{radicale.base}{DAV_USER}/") == radicale.book


def test_create_then_nothing_then_one_update_then_conflict_kept(store: Store, radicale: Radicale) -> None:
    a = add(store, person("Jane Doe"))
    b = add(store, person("Omar Haddad", emails=("omar@haddad.example",), phones=(("+14155550111", "mobile"),)))
    with radicale.session() as s:  # a card the user made on the phone: never touched
        r = s.put(radicale.book + "phone-made.vcf", data=b"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:phone-1\r\nFN:Mine\r\n"
                  b"N:;Mine;;;\r\nEND:VCARD\r\n", headers={"Content-Type": "text/vcard"})
        assert r.status_code == 201
    foreign = radicale.cards()[radicale.book + "phone-made.vcf"]

    with client() as c:
        rep = sync_carddav(store, c, radicale.book)
    assert (rep.count("created"), rep.count("updated")) == (2, 0)
    cards = radicale.cards()
    assert len(cards) == 3
    by_uid = uids(cards)
    ours = contact_uids(store, [a, b])  # the UIDs the vCard export writes
    ua, ub = ours[a], ours[b]
    assert set(by_uid) == {ua, ub, "phone-1"}
    card = vobject.readOne(by_uid[ub])
    assert card.fn.value == "Omar Haddad" and card.email.value == "omar@haddad.example"
    assert card.tel.value == "+14155550111"
    etags = {r.contact_id: r.etag for r in q.carddav_resources(store)}

    with client() as c:  # second sync: nothing written
        rep = sync_carddav(store, c, radicale.book)
    assert rep.count("unchanged") == 2 and len(rep.items) == 2
    assert radicale.cards() == cards
    assert {r.contact_id: r.etag for r in q.carddav_resources(store)} == etags

    edit_field(store, b, "title", "CTO")  # an edit in cardscan: exactly that resource changes
    with client() as c:
        rep = sync_carddav(store, c, radicale.book)
    assert [(i.contact_id, i.action) for i in rep.items if i.action != "unchanged"] == [(b, "updated")]
    after = radicale.cards()
    assert vobject.readOne(uids(after)[ub]).title.value == "CTO"
    assert uids(after)[ua] == by_uid[ua] and after[radicale.book + "phone-made.vcf"] == foreign

    # the user edits Jane on the phone, then Jane is edited in cardscan: conflict, phone wins
    href_a = next(r.href for r in q.carddav_resources(store) if r.contact_id == a)
    phone_text = uids(after)[ua].replace("FN:Jane Doe", "FN:Jane Doe (phone)")
    with radicale.session() as s:
        assert s.put(href_a, data=phone_text.encode(), headers={"Content-Type": "text/vcard"}).status_code in (201, 204)
    edit_field(store, a, "title", "VP Sales")
    with client() as c:
        rep = sync_carddav(store, c, radicale.book)
    assert [(i.contact_id, i.action) for i in rep.items if i.action != "unchanged"] == [(a, "conflict")]
    assert "changed on the server" in rep.items[0].detail
    now = vobject.readOne(uids(radicale.cards())[ua])
    assert now.fn.value == "Jane Doe (phone)" and now.title.value == "Head of Sales"
    assert radicale.cards()[radicale.book + "phone-made.vcf"] == foreign
    assert {r.contact_id: r.state for r in q.carddav_resources(store)}[a] == "conflict"


def test_merge_updates_the_survivor_and_prune_removes_the_merged_card(store: Store, radicale: Radicale) -> None:
    a = add(store, person("Jane Doe", phones=()))
    b = add(store, person("Jane Doe", emails=("jane.doe@mail.example",), phones=(("+14155550122", "mobile"),)))
    with client() as c:
        sync_carddav(store, c, radicale.book)
    assert len(radicale.cards()) == 2
    dedupe.merge(store, a, b)
    with client() as c:
        rep = sync_carddav(store, c, radicale.book)  # without --prune the merged card stays
    assert {(i.contact_id, i.action) for i in rep.items} == {(a, "updated"), (b, "kept")}
    assert len(radicale.cards()) == 2
    with client() as c:
        rep = sync_carddav(store, c, radicale.book, prune=True)
    assert {(i.contact_id, i.action) for i in rep.items} == {(a, "unchanged"), (b, "deleted")}
    cards = radicale.cards()
    assert len(cards) == 1
    survivor = vobject.readOne(next(iter(cards.values())))
    assert {e.value for e in survivor.contents["email"]} == {"jane@acme-widgets.example", "jane.doe@mail.example"}
    assert survivor.tel.value == "+14155550122"


def test_dry_run_writes_nothing(store: Store, radicale: Radicale) -> None:
    add(store, person())
    with client() as c:
        rep = sync_carddav(store, c, radicale.book, dry_run=True)
    assert rep.count("created") == 1 and radicale.cards() == {} and q.carddav_resources(store) == []


def test_wrong_password_and_plain_http_elsewhere(store: Store, radicale: Radicale) -> None:
    add(store, person())
    with client("wrong") as c, pytest.raises(LoginError) as err:
        sync_carddav(store, c, radicale.book)
    assert "refused the user name or password" in err.value.message and "wrong" not in str(err.value)
    with pytest.raises(BadArgumentsError):
        check_url("http://dav.example.org/book/")
    assert check_url("https://dav.example.org/book/")
    assert requests.get(radicale.base).status_code in (200, 302, 401)


def test_cli_sync_and_wrong_password_is_one_line(tmp_path: Path, radicale: Radicale, cli) -> None:  # noqa: ANN001
    db = tmp_path / "c.db"
    with Store(db) as s:
        add(s, person("Jane Doe"), event="Expo")
        add(s, person("Omar Haddad", emails=("omar@haddad.example",)), event="Other")
    env = {"CARDSCAN_CONFIG": str(tmp_path / "none.toml"), "CARDSCAN_CARDDAV_PASSWORD": "wrong"}
    (tmp_path / "none.toml").write_text("")
    r = cli("sync", "carddav", "--db", str(db), "--url", radicale.base, "--user", DAV_USER, env=env)
    assert r.returncode == 11, r.stderr
    assert r.stderr.count("\n") == 1 and "refused the user name or password" in r.stderr
    assert "wrong" not in r.stderr + r.stdout

    # password from the config's password_command; only the event's contact
    (tmp_path / "cfg.toml").write_text(f'[carddav]\nurl = "{radicale.base}"\nuser = "{DAV_USER}"\n'
                                       f'password_command = ["echo", "{DAV_PASSWORD}"]\n')
    env = {"CARDSCAN_CONFIG": str(tmp_path / "cfg.toml"), "CARDSCAN_CARDDAV_PASSWORD": ""}
    r = cli("sync", "carddav", "--db", str(db), "--event", "Expo", "--dry-run", env=env)
    assert r.returncode == 0, r.stderr
    assert "dry run, nothing written: 1 created" in r.stdout and radicale.cards() == {}
    r = cli("sync", "carddav", "--db", str(db), env=env)
    assert r.returncode == 0, r.stderr
    assert f"address book: {radicale.book}" in r.stdout and "2 created" in r.stdout
    assert len(radicale.cards()) == 2
    r = cli("sync", "carddav", "--db", str(db), env=env)
    assert r.returncode == 0 and r.stdout.strip().endswith("2 unchanged")
    assert DAV_PASSWORD not in r.stdout + r.stderr
    with Store(db) as s:
        assert DAV_PASSWORD not in repr(q.carddav_resources(s))
    r = cli("status", "--db", str(db), env=env)
    assert f"address book {radicale.book}: 2 contacts synced" in r.stdout
    r = cli("report", "--db", str(db), "-o", str(tmp_path / "r.html"), env=env)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "r.html").read_text().count(f"In the address book {radicale.book} (synced ") == 2


def test_plain_http_to_another_host_is_refused_before_any_password_is_sent(tmp_path: Path, cli) -> None:  # noqa: ANN001
    db = tmp_path / "c.db"
    with Store(db) as s:
        add(s, person())
    r = cli("sync", "carddav", "--db", str(db), "--url", "http://dav.example.org/", "--user", "x",
            env={"CARDSCAN_CARDDAV_PASSWORD": "pw", "CARDSCAN_CONFIG": ""})
    assert r.returncode == 1 and "refusing plain http" in r.stderr


def test_https_verifies_the_certificate(store: Store, radicale_tls: Radicale, monkeypatch: pytest.MonkeyPatch) -> None:
    add(store, person())
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with client() as c, pytest.raises(RemoteError, match="TLS certificate not accepted"):
        discover(c, radicale_tls.book)  # signed by a CA this machine does not trust
    assert q.carddav_resources(store) == []
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(radicale_tls.ca))
    with client() as c:
        book = discover(c, radicale_tls.base)
        assert sync_carddav(store, c, book).count("created") == 1
    assert book.startswith("https://") and len(radicale_tls.cards()) == 1


def test_cards_written_but_not_recorded_are_recognised_and_deleted_ones_not_recreated(
        tmp_path: Path, radicale: Radicale) -> None:
    import shutil
    db = tmp_path / "c.db"
    with Store(db) as s:
        a = add(s, person("Jane Doe"))
        b = add(s, person("Omar Haddad", emails=("omar@haddad.example",)))
        contact_uids(s, [a, b])  # a sync commits the UIDs before its first PUT
    shutil.copy(db, tmp_path / "before.db")  # the store as it was if a sync died after its PUTs
    with Store(db) as s, client() as c:
        assert sync_carddav(s, c, radicale.book).count("created") == 2
    cards = radicale.cards()
    with Store(tmp_path / "before.db") as s, client() as c:
        rep = sync_carddav(s, c, radicale.book)
        assert [i.action for i in rep.items] == ["updated", "updated"]  # rewritten in place, not duplicated
        assert all("earlier run" in i.detail for i in rep.items)
        assert set(radicale.cards()) == set(cards) and len(q.carddav_resources(s)) == 2
        assert [i.action for i in sync_carddav(s, c, radicale.book).items] == ["unchanged", "unchanged"]
        edit_field(s, b, "title", "CTO")
        assert [i.action for i in sync_carddav(s, c, radicale.book).items] == ["unchanged", "updated"]
    assert len(radicale.cards()) == 2

    with Store(db) as s:  # deleted on the phone: not re-created
        href = next(r.href for r in q.carddav_resources(s) if r.contact_id == a)
        with radicale.session() as sess:
            assert sess.delete(href).status_code in (200, 204)
        edit_field(s, a, "title", "VP")
        with client() as c:
            rep = sync_carddav(s, c, radicale.book)
            assert {(i.contact_id, i.action) for i in rep.items} >= {(a, "gone")}
            assert sync_carddav(s, c, radicale.book).items[0].action == "gone"
    assert href not in radicale.cards()
