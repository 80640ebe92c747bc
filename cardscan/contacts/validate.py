"""Value checks shared by every package: mail header text, e-mail recipients, website addresses.

One owner for each rule, so the config file, the mailer, user edits and the report agree on what
is acceptable.  Pure functions: no I/O, no state.
"""
from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email

from cardscan.errors import ValidationError

MAX_HEADER_CHARS = 300

# Bidirectional formatting characters (all are Unicode category Cf, named separately for a clear reason).
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def header_problem(value: str, /) -> str | None:
    """Why ``value`` must not go into a header, or None when it is safe."""
    if "\r" in value or "\n" in value:
        return "contains a line break (CR/LF), which could add headers to the message"
    if "\x00" in value:
        return "contains a NUL character"
    if "=?" in value:
        return "contains '=?', an encoded-word marker that mail programs would decode"
    if len(value) > MAX_HEADER_CHARS:
        return f"is longer than {MAX_HEADER_CHARS} characters"
    for ch in value:
        if ch in _BIDI:
            return (f"contains the bidirectional control character U+{ord(ch):04X}, "
                    "which can make the text display in a different order")
        cat = unicodedata.category(ch)
        if cat == "Cc":
            return f"contains the control character U+{ord(ch):04X}"
        if cat == "Cf":
            return f"contains the invisible formatting character U+{ord(ch):04X}"
        if cat in ("Zl", "Zp"):
            return f"contains the line separator U+{ord(ch):04X}"
        if cat == "Cs":
            return "contains an unpaired surrogate (broken text)"
    return None


def check_header_text(value: str, /, *, what: str = "header value") -> str:
    """``value`` unchanged when it is safe in a header, else ValidationError with the reason."""
    problem = header_problem(value)
    if problem:
        raise ValidationError(f"{what} {_shown(value)} {problem}; correct it before sending")
    return value


def check_recipient(address: str, /) -> str:
    """The normalised address, or ValidationError with email-validator's reason."""
    problem = header_problem(address)
    if problem:
        raise ValidationError(f"e-mail address {_shown(address)} {problem}")
    try:
        return validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValidationError(f"e-mail address {_shown(address)} is not valid: {exc}") from None



def _shown(value: str) -> str:
    """A value quoted for a message, with control characters made visible."""
    return ascii(value[:80]) if not value.isprintable() else repr(value[:80])


# --------------------------------------------------------------------------------------------
# websites

_HOST = re.compile(r"^(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})$")
_URL_CHARS = re.compile(r"^[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+$")  # RFC 3986, no quotes / spaces / < >


def website_href(value: str) -> str | None:
    """The http(s) URL for a website value (``www.x.com`` gets ``https://``), else None:
    other schemes, credentials in the URL, odd characters or a host that is not a domain name."""
    v = value.strip()
    if not v or not _URL_CHARS.match(v):
        return None
    if "://" not in v:
        if ":" in v.split("/", 1)[0] or v.lower().startswith(("javascript", "data", "vbscript", "file")):
            return None
        v = "https://" + v
    try:
        parts = urlsplit(v)
        host = parts.hostname
        _ = parts.port  # raises on a bad port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or "@" in parts.netloc or not host or not _HOST.match(host):
        return None
    return v
