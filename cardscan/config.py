"""The user's configuration file: who sends the follow-up e-mails and through which server.

TOML at ``$CARDSCAN_CONFIG`` or ``~/.config/cardscan/config.toml``::

    [sender]
    name = "Ada Example"
    address = "ada@example.org"
    signature = '''
    Ada Example
    Example Ltd'''

    [smtp]
    host = "smtp.example.org"
    port = 587                 # default: 587 starttls, 465 ssl, 25 plain
    user = "ada@example.org"
    security = "starttls"      # starttls | ssl | plain (plain: a local test server only)
    timeout = 30

    [scan]
    region = "DE"              # default phone region when a card names no country (--region wins)
    lang = "eng+deu"           # Tesseract languages (--lang wins)

    [followup]
    rate_per_minute = 20       # at most this many messages a minute
    max_attempts = 5           # temporary failures are retried this many times in all
    retry_after = 300          # seconds before the first retry; doubles each time
    template_dir = "~/.config/cardscan/templates"   # <event>.txt.j2 per event

    [templates]                # per event, a template file (beats template_dir)
    "Expo 2025" = "~/expo.txt.j2"

Environment overrides: ``CARDSCAN_SMTP_HOST``, ``CARDSCAN_SMTP_PORT``, ``CARDSCAN_SMTP_USER``,
``CARDSCAN_SMTP_SECURITY``.  The password is read ONLY from ``CARDSCAN_SMTP_PASSWORD``; a
password in the file is refused.  The password is never logged, stored or shown (``repr=False``).
"""
from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cardscan.contacts.validate import check_header_text, check_recipient
from cardscan.errors import BadArgumentsError, ConfigError, ValidationError
from cardscan.options import check_region

try:  # Python 3.11+
    import tomllib
except ImportError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

log = logging.getLogger(__name__)

SECURITY_MODES = ("starttls", "ssl", "plain")
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "plain": 25}
ENV_CONFIG = "CARDSCAN_CONFIG"
ENV_PASSWORD = "CARDSCAN_SMTP_PASSWORD"


@dataclass(frozen=True)
class SenderConfig:
    name: str = ""
    address: str = ""
    signature: str = ""
    reply_to: str = ""


@dataclass(frozen=True)
class SmtpConfig:
    host: str | None = None
    port: int | None = None  # None: the default port of the security mode
    user: str | None = None
    security: str = "starttls"
    timeout: float = 30.0
    password: str | None = field(default=None, repr=False, compare=False)

    @property
    def effective_port(self) -> int:
        return self.port or DEFAULT_PORTS[self.security]


@dataclass(frozen=True)
class FollowupConfig:
    rate_per_minute: float = 20.0
    max_attempts: int = 5
    retry_after: float = 300.0
    template_dir: Path | None = None
    templates: Mapping[str, Path] = field(default_factory=dict)  # event name -> template file


@dataclass(frozen=True)
class ScanConfig:
    region: str | None = None  # default phone region (--region wins)
    lang: str | None = None  # Tesseract languages (--lang wins)


@dataclass(frozen=True)
class Config:
    scan: ScanConfig = ScanConfig()
    sender: SenderConfig = SenderConfig()
    smtp: SmtpConfig = SmtpConfig()
    followup: FollowupConfig = FollowupConfig()
    path: Path | None = None  # the file read, None when there was none

    def require_sender(self) -> SenderConfig:
        """The sender, or ConfigError saying how to set one."""
        if not self.sender.address:
            raise ConfigError(f"no sender address configured ({self.where})",
                              hint='add [sender] name = "..." and address = "you@example.org"')
        return self.sender

    def require_smtp(self) -> SmtpConfig:
        if not self.smtp.host:
            raise ConfigError(f"no SMTP server configured ({self.where})",
                              hint="add [smtp] host = ... to the config file or set CARDSCAN_SMTP_HOST")
        return self.smtp

    @property
    def where(self) -> str:
        return f"config file {self.path}" if self.path else f"no config file at {default_config_path()}"


def default_config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get(ENV_CONFIG):
        return Path(env[ENV_CONFIG]).expanduser()
    base = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else Path.home() / ".config"
    return base / "cardscan" / "config.toml"


def default_template_dir(env: Mapping[str, str] | None = None) -> Path:
    return default_config_path(env).parent / "templates"


def load_config(path: Path | None = None, *, env: Mapping[str, str] | None = None) -> Config:
    """Read the config file (missing file = defaults), apply the environment, validate."""
    env = os.environ if env is None else env
    explicit = path is not None or bool(env.get(ENV_CONFIG))
    p = Path(path).expanduser() if path is not None else default_config_path(env)
    data: dict[str, Any] = {}
    if p.is_file():
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read config file {p}: {exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {p} is not valid TOML: {exc}",
                              hint="fix the line named, see the README for an example") from exc
    elif explicit:
        raise ConfigError(f"config file {p} does not exist", hint=f"create it or unset {ENV_CONFIG}")
    return config_from_dict(data, env=env, path=p if p.is_file() else None)


def config_from_dict(data: Mapping[str, Any], *, env: Mapping[str, str] | None = None,
                     path: Path | None = None) -> Config:
    env = os.environ if env is None else env
    where = f"config file {path}" if path else "config"
    unknown = set(data) - {"scan", "sender", "smtp", "followup", "templates"}
    if unknown:
        raise ConfigError(f"{where}: unknown section(s) {', '.join(sorted(unknown))}",
                          hint="use [scan], [sender], [smtp], [followup] and [templates]")
    sc = _table(data, "scan", where)
    _no_unknown(sc, ("region", "lang"), f"{where} [scan]")
    region = _str(sc, "region", where) or None
    if region is not None:
        try:
            region = check_region(region, what="[scan] region")
        except BadArgumentsError as exc:
            raise ConfigError(f"{where}: {exc.message}") from None
    scan = ScanConfig(region=region, lang=_str(sc, "lang", where) or None)
    s = _table(data, "sender", where)
    m = _table(data, "smtp", where)
    f = _table(data, "followup", where)
    t = _table(data, "templates", where)
    if "password" in m or "pass" in m:
        raise ConfigError(f"{where}: a password in the config file is refused",
                          hint=f"remove it and set the environment variable {ENV_PASSWORD} instead")
    _no_unknown(s, ("name", "address", "signature", "reply_to"), f"{where} [sender]")
    _no_unknown(m, ("host", "port", "user", "security", "timeout"), f"{where} [smtp]")
    _no_unknown(f, ("rate_per_minute", "max_attempts", "retry_after", "template_dir"), f"{where} [followup]")

    sender = SenderConfig(
        name=_str(s, "name", where), address=_str(s, "address", where),
        signature=_str(s, "signature", where).strip("\n"), reply_to=_str(s, "reply_to", where))
    if sender.name:
        try:
            check_header_text(sender.name, what="sender name")
        except ValidationError as exc:
            raise ConfigError(f"{where}: {exc.message}") from exc
    for key in ("address", "reply_to"):
        value = getattr(sender, key)
        if value:
            try:
                check_recipient(value)
            except ValidationError as exc:
                raise ConfigError(f"{where}: sender {key} {value!r}: {exc.message}") from exc

    host = env.get("CARDSCAN_SMTP_HOST") or _str(m, "host", where) or None
    port_raw: Any = env.get("CARDSCAN_SMTP_PORT") or m.get("port")
    user = env.get("CARDSCAN_SMTP_USER") or _str(m, "user", where) or None
    security = (env.get("CARDSCAN_SMTP_SECURITY") or _str(m, "security", where) or "starttls").lower()
    if security not in SECURITY_MODES:
        raise ConfigError(f"{where}: smtp security must be starttls, ssl or plain, not {security!r}")
    port = None
    if port_raw not in (None, ""):
        try:
            port = int(port_raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: smtp port must be a number, not {port_raw!r}") from None
        if not 0 < port < 65536:
            raise ConfigError(f"{where}: smtp port {port} is out of range")
    timeout = _num(m, "timeout", 30.0, where)
    password = env.get(ENV_PASSWORD) or None
    if security == "plain" and host and (user or password) and not _is_loopback(host):
        raise ConfigError(f"{where}: refusing to send a password unencrypted to {host}",
                          hint="use security = \"starttls\" or \"ssl\"; plain is for a local test server")
    smtp = SmtpConfig(host=host, port=port, user=user, security=security, timeout=timeout, password=password)

    tdir = _str(f, "template_dir", where)
    templates = {}
    for event, p in t.items():
        if not isinstance(p, str) or not p:
            raise ConfigError(f"{where} [templates]: {event!r} must name a template file")
        templates[str(event)] = _resolve(p, path)
    followup = FollowupConfig(
        rate_per_minute=_num(f, "rate_per_minute", 20.0, where),
        max_attempts=int(_num(f, "max_attempts", 5, where)),
        retry_after=_num(f, "retry_after", 300.0, where, minimum=0.0),
        template_dir=_resolve(tdir, path) if tdir else None,
        templates=templates,
    )
    if followup.max_attempts < 1:
        raise ConfigError(f"{where}: followup max_attempts must be at least 1")
    return Config(scan=scan, sender=sender, smtp=smtp, followup=followup, path=path)


def _table(data: Mapping[str, Any], name: str, where: str) -> Mapping[str, Any]:
    v = data.get(name, {})
    if not isinstance(v, Mapping):
        raise ConfigError(f"{where}: [{name}] must be a table")
    return v


def _no_unknown(table: Mapping[str, Any], known: tuple[str, ...], where: str) -> None:
    extra = set(table) - set(known)
    if extra:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(extra))}", hint=f"known: {', '.join(known)}")


def _str(table: Mapping[str, Any], key: str, where: str) -> str:
    v = table.get(key, "")
    if not isinstance(v, str):
        raise ConfigError(f"{where}: {key} must be a string")
    return v


def _num(table: Mapping[str, Any], key: str, default: float, where: str, *, minimum: float = 1e-9) -> float:
    v = table.get(key, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < minimum:
        raise ConfigError(f"{where}: {key} must be a positive number, not {v!r}")
    return float(v)


def _resolve(p: str, config_path: Path | None) -> Path:
    q = Path(p).expanduser()
    if not q.is_absolute() and config_path is not None:
        q = config_path.parent / q
    return q


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


__all__ = ["Config", "FollowupConfig", "SenderConfig", "SmtpConfig", "default_config_path",
           "default_template_dir", "load_config", "config_from_dict"]
