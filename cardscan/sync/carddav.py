"""CardDAV sync: each contact is one vCard resource on the user's address book.

Rules (issue 17):

- one resource per contact, named after its stable ``UID`` (the one the vCard export writes,
  :func:`cardscan.store.contact_uids`);
- the first sync creates it (``PUT`` with ``If-None-Match: *``: an existing resource of that name
  is never overwritten); later syncs write only contacts whose vCard changed since the last
  write (sha256 of the body kept in the store), with ``If-Match: <ETag>``: when the card was
  edited on the server (a phone) meanwhile, the server answers 412, the contact is reported as a
  conflict and the server's version is kept;
- a contact merged into another: the survivor is updated like any change; the merged one's
  resource is deleted (``If-Match`` again) only with ``prune=True``;
- only resources recorded in the store as created by cardscan are ever updated or deleted;
- the address book is found the way CardDAV clients do it (RFC 6764 / 6352): ``PROPFIND`` on
  the URL; when it is not an address book, its ``current-user-principal``, that principal's
  ``addressbook-home-set``, and the first address book in the home.  ``/.well-known/carddav`` is
  tried when the URL has no path;
- HTTPS with certificate verification; plain ``http://`` only to a loopback address.

The password is passed in by the caller (CLI: ``CARDSCAN_CARDDAV_PASSWORD`` or the config's
``password_command``); it is never logged, stored or put in a message.
"""
from __future__ import annotations

import hashlib
import logging
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
import re
from dataclasses import dataclass, field, replace
from urllib.parse import urljoin, urlsplit

import requests

from cardscan.config import is_loopback
from cardscan.errors import BadArgumentsError, LoginError, RemoteError
from cardscan.outputs.export import ExportItem, load_items, vcard
from cardscan.store import Store, contact_uids
from cardscan.store import sync as q

log = logging.getLogger(__name__)

DAV = "DAV:"
CARD = "urn:ietf:params:xml:ns:carddav"
USER_AGENT = "cardscan-carddav"
MAX_REDIRECTS = 5

CREATED, UPDATED, UNCHANGED, CONFLICT, DELETED, KEPT, GONE = (
    "created", "updated", "unchanged", "conflict", "deleted", "kept", "gone")


def check_url(url: str) -> str:
    """The URL if cardscan may send a password to it: https, or http to this machine only."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadArgumentsError(f"--url {url!r} is not an http(s) URL",
                                hint="give the address book or server URL, e.g. https://cloud.example.org/remote.php/dav")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise BadArgumentsError(f"refusing plain http to {parts.hostname}: the password would travel unencrypted",
                                hint="use https:// (plain http is accepted only for a server on this machine)")
    return url


# --------------------------------------------------------------------------------------------
# the HTTP side


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    text: str
    url: str


class DavClient:
    """A small WebDAV client on ``requests``: PROPFIND, GET, PUT, DELETE with redirects followed
    without changing the method (requests turns a redirected PROPFIND into GET)."""

    def __init__(self, user: str | None, password: str | None, *, timeout: float = 30.0,
                 verify: bool | str = True) -> None:
        self._session = requests.Session()
        self._session.headers["User-Agent"] = USER_AGENT
        if user is not None:
            self._session.auth = (user, password or "")
        self._session.verify = verify
        self.timeout = timeout

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> DavClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, url: str, *, headers: dict[str, str] | None = None,
                body: bytes | None = None) -> Response:
        check_url(url)
        for _ in range(MAX_REDIRECTS + 1):
            try:
                r = self._session.request(method, url, headers=headers, data=body, timeout=self.timeout,
                                          allow_redirects=False)
            except requests.exceptions.SSLError as exc:
                raise RemoteError(f"CardDAV server {urlsplit(url).netloc}: TLS certificate not accepted ({_short(exc)})",
                                  hint="the server's certificate must be valid for its name") from None
            except requests.RequestException as exc:
                raise RemoteError(f"CardDAV server {urlsplit(url).netloc} not reachable: {_short(exc)}") from None
            if r.status_code in (301, 302, 303, 307, 308) and r.headers.get("Location"):
                url = urljoin(url, r.headers["Location"])
                continue
            if r.status_code == 401:
                raise LoginError(f"CardDAV server {urlsplit(url).netloc} refused the user name or password",
                                 hint="check --user and CARDSCAN_CARDDAV_PASSWORD (or [carddav] password_command)")
            return Response(r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.text, url)
        raise RemoteError(f"CardDAV server {urlsplit(url).netloc}: too many redirects")

    def propfind(self, url: str, props: Iterable[tuple[str, str]], depth: str = "0") -> Response:
        root = ET.Element(f"{{{DAV}}}propfind")
        prop = ET.SubElement(root, f"{{{DAV}}}prop")
        for ns, name in props:
            ET.SubElement(prop, f"{{{ns}}}{name}")
        body = ET.tostring(root, encoding="utf-8", xml_declaration=True)
        return self.request("PROPFIND", url, headers={"Depth": depth, "Content-Type": "application/xml; charset=utf-8"},
                            body=body)


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:160]


def _multistatus(resp: Response) -> list[tuple[str, ET.Element]]:
    """(href, prop element) of each 200 propstat in a 207 answer."""
    if resp.status != 207:
        raise RemoteError(f"PROPFIND {resp.url} answered {resp.status}, not a WebDAV multistatus",
                          hint="is this a CardDAV URL? see the README for the URLs of common servers")
    try:
        root = ET.fromstring(resp.text)
    except ET.ParseError as exc:
        raise RemoteError(f"PROPFIND {resp.url}: unreadable XML answer ({exc})") from None
    out = []
    for r in root.findall(f"{{{DAV}}}response"):
        href = r.findtext(f"{{{DAV}}}href", default="").strip()
        for ps in r.findall(f"{{{DAV}}}propstat"):
            status = ps.findtext(f"{{{DAV}}}status", default="")
            prop = ps.find(f"{{{DAV}}}prop")
            if prop is not None and " 200 " in f"{status} ":
                out.append((urljoin(resp.url, href), prop))
    return out


def _href_in(prop: ET.Element, ns: str, name: str) -> str | None:
    el = prop.find(f"{{{ns}}}{name}")
    if el is None:
        return None
    h = el.findtext(f"{{{DAV}}}href")
    return h.strip() if h else None


def _is_addressbook(prop: ET.Element) -> bool:
    rt = prop.find(f"{{{DAV}}}resourcetype")
    return rt is not None and rt.find(f"{{{CARD}}}addressbook") is not None


def discover(client: DavClient, url: str) -> str:
    """The address book collection URL (ending in '/') reached from ``url``."""
    check_url(url)
    props = [(DAV, "resourcetype"), (DAV, "current-user-principal"), (CARD, "addressbook-home-set")]
    start = url
    if urlsplit(url).path in ("", "/"):  # a bare server name: RFC 6764 well-known URL first
        r = client.propfind(urljoin(url, "/.well-known/carddav"), props)
        if r.status == 207:
            start = r.url
    found = _multistatus(client.propfind(start, props))
    if not found:
        raise RemoteError(f"{start}: the server answered no properties", hint="give the address book URL directly")
    here, prop = found[0]
    if _is_addressbook(prop):
        return _slash(here)
    home = _href_in(prop, CARD, "addressbook-home-set")
    if home is None:
        principal = _href_in(prop, DAV, "current-user-principal")
        if principal is None:
            raise RemoteError(f"{here} is not an address book and names no current-user-principal",
                              hint="give the address book URL directly")
        pfound = _multistatus(client.propfind(urljoin(here, principal), [(CARD, "addressbook-home-set")]))
        home = next((h for _, p in pfound if (h := _href_in(p, CARD, "addressbook-home-set"))), None)
        if home is None:
            raise RemoteError(f"the principal {principal} has no addressbook-home-set",
                              hint="give the address book URL directly")
    home_url = urljoin(here, home)
    books = [h for h, p in _multistatus(client.propfind(home_url, [(DAV, "resourcetype")], depth="1"))
             if _is_addressbook(p)]
    if not books:
        raise RemoteError(f"no address book under {home_url}", hint="create one in the server's web interface first")
    if len(books) > 1:
        log.warning("%d address books under %s; using %s (give --url to choose another)", len(books), home_url, books[0])
    return _slash(books[0])


def _slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"


# --------------------------------------------------------------------------------------------
# the vCard written


def card_text(item: ExportItem, uid: str) -> str:
    """The export's vCard 3.0, whose UID is ``uid`` (the export writes it; checked here)."""
    text = vcard(item)
    if f"\r\nUID:{uid}\r\n" not in text:
        raise RuntimeError(f"the vCard of contact #{item.id} does not carry its UID {uid}")
    return text


def resource_name(uid: str) -> str:
    """The file name of a contact's resource: its UID without ``urn:uuid:``, URL-safe, ``.vcf``."""
    return re.sub(r"[^A-Za-z0-9._-]", "-", uid.removeprefix("urn:uuid:")) + ".vcf"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------------------------
# sync


@dataclass(frozen=True)
class SyncItem:
    contact_id: int
    name: str
    action: str  # created | updated | unchanged | conflict | deleted | kept | gone
    detail: str = ""


@dataclass(frozen=True)
class SyncReport:
    collection: str
    items: tuple[SyncItem, ...] = field(default_factory=tuple)
    dry_run: bool = False

    def count(self, action: str) -> int:
        return sum(1 for i in self.items if i.action == action)


def sync_carddav(store: Store, client: DavClient, collection: str, *, event: str | None = None,
                 dry_run: bool = False, prune: bool = False,
                 progress: Callable[[SyncItem], None] | None = None) -> SyncReport:
    """Bring the address book ``collection`` (a discovered URL) up to date with the store."""
    collection = _slash(check_url(collection))
    known = {r.contact_id: r for r in q.carddav_resources(store, collection)}
    items: list[SyncItem] = []

    def done(item: SyncItem) -> None:
        items.append(item)
        if progress is not None:
            progress(item)

    live = load_items(store, event=event)
    uids = contact_uids(store, [i.id for i in live])
    for item in live:
        uid = uids[item.id]
        item = replace(item, uid=uid)
        body = card_text(item, uid)
        sha = _sha(body)
        name = _display(item)
        res = known.get(item.id)
        if res is not None and res.state == "deleted":
            done(SyncItem(item.id, name, GONE, "deleted on the server earlier: not re-created"))
            continue
        if res is not None and res.body_sha256 == sha:
            done(SyncItem(item.id, name, UNCHANGED))
            continue
        if dry_run:
            done(SyncItem(item.id, name, CREATED if res is None else UPDATED, "dry run: nothing written"))
            continue
        if res is None:
            done(_create(store, client, collection, item.id, name, uid, body, sha))
        else:
            done(_update(store, client, res, name, body, sha))

    # merged-away contacts whose card cardscan created: the survivor above carries their data
    live_ids = {i.id for i in live}
    if event is None:
        merged = {r.id: r.merged_into for r in store.contacts(include_merged=True) if r.merged_into is not None}
        for cid, res in sorted(known.items()):
            if cid in live_ids or cid not in merged or res.state == "deleted":
                continue
            name = f"contact #{cid}"
            if not prune:
                done(SyncItem(cid, name, KEPT, f"merged into #{merged[cid]}; its card stays until sync --prune"))
            elif dry_run:
                done(SyncItem(cid, name, DELETED, f"merged into #{merged[cid]}; dry run: not deleted"))
            else:
                done(_delete(store, client, res, name, merged[cid]))
    return SyncReport(collection, tuple(items), dry_run)


def _display(item: ExportItem) -> str:
    c = item.contact
    return (c.name.value if c.name else "") or (c.company.value if c.company else "") or f"contact #{item.id}"


def _etag_of(client: DavClient, href: str, resp: Response) -> str | None:
    tag = resp.headers.get("etag")
    if tag:
        return tag
    try:
        found = _multistatus(client.propfind(href, [(DAV, "getetag")]))
    except RemoteError:
        return None
    for _, prop in found:
        t = prop.findtext(f"{{{DAV}}}getetag")
        if t:
            return t.strip()
    return None


def _record(store: Store, collection: str, contact_id: int, uid: str, href: str, etag: str | None, sha: str,
            state: str = "synced", detail: str | None = None) -> None:
    q.save_carddav_resource(store, q.CarddavResource(collection, contact_id, uid, href, etag, sha, state, detail, ""))


def _create(store: Store, client: DavClient, collection: str, cid: int, name: str, uid: str, body: str,
            sha: str) -> SyncItem:
    href = urljoin(collection, resource_name(uid))
    data = body.encode("utf-8")
    r = client.request("PUT", href, headers={"Content-Type": "text/vcard; charset=utf-8", "If-None-Match": "*"},
                       body=data)
    if r.status in (200, 201, 204):
        _record(store, collection, cid, uid, href, _etag_of(client, href, r), sha)
        return SyncItem(cid, name, CREATED)
    if r.status == 412:
        # A resource of that name exists: cardscan's own card from a run that stopped before it
        # recorded it (same UID), else someone else's, which is left alone.
        g = client.request("GET", href)
        if g.status == 200 and _has_uid(g.text, uid):
            # servers rewrite what they store (property order, folding), so the text cannot be
            # compared: cardscan's card is rewritten in place once, with If-Match
            etag = g.headers.get("etag")
            _record(store, collection, cid, uid, href, etag, "adopted")
            res = q.CarddavResource(collection, cid, uid, href, etag, "adopted", "synced", None, "")
            item = _update(store, client, res, name, body, sha)
            if item.action == UPDATED:
                return SyncItem(cid, name, UPDATED, "found on the server from an earlier run that stopped")
            return item
        return SyncItem(cid, name, CONFLICT, f"{href} exists and is not cardscan's: left alone")
    raise RemoteError(f"PUT {href} answered {r.status}: {r.text[:120].strip()}")


def _unfold(text: str) -> str:
    return text.replace("\r\n ", "").replace("\r\n", "\n").strip()


def _has_uid(text: str, uid: str) -> bool:
    return any(line.strip() == f"UID:{uid}" for line in _unfold(text).split("\n"))


def _update(store: Store, client: DavClient, res: q.CarddavResource, name: str, body: str, sha: str) -> SyncItem:
    headers = {"Content-Type": "text/vcard; charset=utf-8"}
    if res.etag:
        headers["If-Match"] = res.etag
    else:
        headers["If-Match"] = "*"  # no ETag known: still never re-create a deleted card
    r = client.request("PUT", res.href, headers=headers, body=body.encode("utf-8"))
    if r.status in (200, 201, 204):
        _record(store, res.collection, res.contact_id, res.uid, res.href, _etag_of(client, res.href, r), sha)
        return SyncItem(res.contact_id, name, UPDATED)
    if r.status == 412:
        detail = "changed on the server since the last sync: the server's version is kept, cardscan's change not written"
        gone = client.request("GET", res.href).status == 404
        if gone:
            detail = "deleted on the server: not re-created"
            q.mark_carddav_resource(store, res.collection, res.contact_id, "deleted", detail)
            return SyncItem(res.contact_id, name, GONE, detail)
        q.mark_carddav_resource(store, res.collection, res.contact_id, "conflict", detail)
        return SyncItem(res.contact_id, name, CONFLICT, detail)
    if r.status == 404:
        detail = "deleted on the server: not re-created"
        q.mark_carddav_resource(store, res.collection, res.contact_id, "deleted", detail)
        return SyncItem(res.contact_id, name, GONE, detail)
    raise RemoteError(f"PUT {res.href} answered {r.status}: {r.text[:120].strip()}")


def _delete(store: Store, client: DavClient, res: q.CarddavResource, name: str, survivor: int) -> SyncItem:
    headers = {"If-Match": res.etag} if res.etag else {}
    r = client.request("DELETE", res.href, headers=headers)
    if r.status in (200, 204, 404):
        q.mark_carddav_resource(store, res.collection, res.contact_id, "deleted", f"merged into #{survivor}; pruned")
        return SyncItem(res.contact_id, name, DELETED, f"merged into #{survivor}")
    if r.status == 412:
        detail = "changed on the server since the last sync: not deleted"
        q.mark_carddav_resource(store, res.collection, res.contact_id, "conflict", detail)
        return SyncItem(res.contact_id, name, CONFLICT, detail)
    raise RemoteError(f"DELETE {res.href} answered {r.status}: {r.text[:120].strip()}")


__all__ = ["DavClient", "SyncItem", "SyncReport", "card_text", "check_url", "discover", "sync_carddav"]
