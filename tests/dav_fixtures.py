"""A real Radicale CardDAV server on 127.0.0.1 (a free port), started per test and always stopped."""
from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

DAV_USER = "ada"
DAV_PASSWORD = "s3cret-dav"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Radicale:
    base: str  # http://127.0.0.1:PORT/
    book: str  # the address book collection URL
    folder: Path  # Radicale's storage (the test reads the server's own files only through HTTP)
    ca: Path | None = None  # with TLS: the CA that signed the server's certificate


    def session(self) -> requests.Session:
        s = requests.Session()
        s.auth = (DAV_USER, DAV_PASSWORD)
        if self.ca is not None:
            s.verify = str(self.ca)
        return s

    def cards(self) -> dict[str, str]:
        """href -> vCard text of every resource in the address book, read from the server."""
        import xml.etree.ElementTree as ET
        with self.session() as s:
            r = s.request("PROPFIND", self.book, headers={"Depth": "1"})
            assert r.status_code == 207, r.text
            hrefs = [h.text for h in ET.fromstring(r.text).iter("{DAV:}href") if h.text and h.text.endswith(".vcf")]
            out = {}
            for h in hrefs:
                g = s.get(requests.compat.urljoin(self.book, h))
                assert g.status_code == 200
                out[requests.compat.urljoin(self.book, h)] = g.text
            return out


@pytest.fixture
def radicale(tmp_path: Path) -> Iterator[Radicale]:
    yield from _radicale(tmp_path, tls=False)


@pytest.fixture
def radicale_tls(tmp_path: Path) -> Iterator[Radicale]:
    """Radicale over HTTPS with a certificate for 127.0.0.1 signed by a throw-away CA (``.ca``)."""
    yield from _radicale(tmp_path, tls=True)


def _radicale(tmp_path: Path, *, tls: bool) -> Iterator[Radicale]:
    root = tmp_path / "radicale"
    book = root / "collection-root" / DAV_USER / "contacts"
    book.mkdir(parents=True)
    (book / ".Radicale.props").write_text('{"D:displayname": "Contacts", "tag": "VADDRESSBOOK"}')
    users = tmp_path / "users"
    users.write_text(f"{DAV_USER}:{DAV_PASSWORD}\n")
    port = free_port()
    ssl_conf, ca = "", None
    if tls:
        from imap_fixtures import make_certificates
        certs = tmp_path / "certs"
        certs.mkdir()
        ca, cert, key = make_certificates(certs)
        ssl_conf = f"ssl = True\ncertificate = {cert}\nkey = {key}\n"
    cfg = tmp_path / "radicale.conf"
    cfg.write_text(f"""[server]
hosts = 127.0.0.1:{port}
{ssl_conf}[auth]
type = htpasswd
htpasswd_filename = {users}
htpasswd_encryption = plain
[rights]
type = owner_only
[storage]
filesystem_folder = {root}
[logging]
level = warning
""")
    log = (tmp_path / "radicale.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "radicale", "--config", str(cfg)], stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        base = f"{'https' if tls else 'http'}://127.0.0.1:{port}/"
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(base, timeout=1, verify=str(ca) if ca else True)
                break
            except requests.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("radicale did not start: " + (tmp_path / "radicale.log").read_text()) from None
                time.sleep(0.1)
        yield Radicale(base, f"{base}{DAV_USER}/contacts/", root, ca)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
