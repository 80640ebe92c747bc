"""A real Dovecot IMAP server on 127.0.0.1 (a free port), started per test and always stopped.

Debian's dovecot-imapd (installed by `make test`, Makefile system-test-deps).  Runs as root with
a config and a passwd file written here: default_login_user = dovenull, default_internal_user =
dovecot, one passwd-file user with dovecot's uid, ssl = no (a loopback test server), and a
Drafts mailbox with special_use = \\Drafts.
"""
from __future__ import annotations

import imaplib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

IMAP_USER = "ada@example.org"
IMAP_PASSWORD = "s3cret-imap"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Dovecot:
    port: int  # IMAP (STARTTLS offered when started with tls)
    root: Path
    proc: subprocess.Popen
    ssl_port: int = 0  # IMAPS, with tls only
    ca: Path | None = None  # the CA that signed the server's certificate (for 127.0.0.1), with tls only

    def login(self) -> imaplib.IMAP4:
        m = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        m.login(IMAP_USER, IMAP_PASSWORD)
        return m

    def messages(self, folder: str = "Drafts") -> list[tuple[bytes, bytes]]:
        """(flags, full message) of every message in ``folder``, read from the server."""
        m = self.login()
        try:
            typ, _ = m.select(folder, readonly=True)
            assert typ == "OK", folder
            typ, data = m.search(None, "ALL")
            out = []
            for num in data[0].split():
                typ, parts = m.fetch(num, "(FLAGS BODY.PEEK[])")
                out.append((parts[0][0], parts[0][1]))
            return out
        finally:
            m.logout()


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A throw-away CA and a server certificate for 127.0.0.1 it signed (openssl, a dovecot-core dependency)."""
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=cardscan test CA", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (folder / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                                    "extendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf")
    return folder / "ca.pem", folder / "server.pem", folder / "server.key"


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    yield from _dovecot(tls=False)


@pytest.fixture
def dovecot_tls() -> Iterator[Dovecot]:
    yield from _dovecot(tls=True)


def _dovecot(*, tls: bool) -> Iterator[Dovecot]:
    exe = shutil.which("dovecot") or "/usr/sbin/dovecot"
    if not Path(exe).is_file():
        pytest.fail("dovecot is not installed: make test installs it (apt package dovecot-imapd)")
    if os.geteuid() != 0:
        pytest.skip("dovecot is started as root by the test (as CI runs)")
    dc = pwd.getpwnam("dovecot")
    root = Path(tempfile.mkdtemp(prefix="cardscan-dovecot-"))  # not under pytest's 0700 tmp: dovecot's users read it
    proc = None
    try:
        root.chmod(0o755)
        mail = root / "mail"
        mail.mkdir()
        os.chown(mail, dc.pw_uid, dc.pw_gid)
        (root / "passwd").write_text(f"{IMAP_USER}:{{PLAIN}}{IMAP_PASSWORD}:{dc.pw_uid}:{dc.pw_gid}::{mail}/ada\n")
        port = free_port()
        ssl_port, ca, ssl_conf = 0, None, "ssl = no"
        if tls:
            ssl_port = free_port()
            ca, cert, key = make_certificates(root)
            ssl_conf = f"ssl = yes\nssl_cert = <{cert}\nssl_key = <{key}"
        conf = root / "dovecot.conf"
        conf.write_text(f"""
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
instance_name = cardscan-test-{port}
log_path = {root}/dovecot.log
{ssl_conf}
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = dovenull
default_internal_user = dovecot
shutdown_clients = yes
auth_failure_delay = 0
first_valid_uid = {dc.pw_uid}
last_valid_uid = {dc.pw_uid}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/passwd
}}
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Drafts {{
    special_use = \\Drafts
    auto = subscribe
  }}
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {ssl_port}
  }}
}}
service stats {{
  inet_listener http {{
    port = 0
  }}
}}
""")
        proc = subprocess.Popen([exe, "-F", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    if s.recv(100).startswith(b"* OK"):
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
                raise RuntimeError(f"dovecot did not start: {proc.stderr.read().decode() if proc.poll() is not None else ''}"
                                   f" {log}")
            time.sleep(0.1)
        yield Dovecot(port, root, proc, ssl_port, ca)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(root, ignore_errors=True)
