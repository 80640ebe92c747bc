"""QR stage: find 2-D codes on a card with zxing-cpp and parse vCard / MECARD / URL payloads.

Public API:
    decode_qr(rgb) -> tuple[QrPayload, ...]   never raises; () when nothing is found
    parse_payload(text) -> QrPayload           the parser alone (vCard 2.1/3.0/4.0, MECARD, BIZCARD, URL, text)

``QrPayload.fields`` uses the contact keys: name, title, company, emails, phones
([{"number", "type", "raw"}], number as written in the payload), websites, address.
"""
from __future__ import annotations

import logging
import quopri
import re
from typing import Any

import numpy as np

from cardscan.models import QrPayload

log = logging.getLogger(__name__)

_URL_RE = re.compile(r"^(?:https?://|www\.)[^\s]+$", re.IGNORECASE)


# ----------------------------------------------------------------------------- decoding


def _formats():  # type: ignore[no-untyped-def]
    import zxingcpp

    F = zxingcpp.BarcodeFormat
    names = ("QRCode", "MicroQRCode", "RMQRCode", "DataMatrix", "Aztec", "PDF417")
    return [getattr(F, n) for n in names if hasattr(F, n)]


def _gray(rgb: np.ndarray) -> np.ndarray:
    a = np.asarray(rgb)
    if a.dtype != np.uint8:
        a = np.clip(a, 0, 255).astype(np.uint8)
    if a.ndim == 3 and a.shape[2] >= 3:
        import cv2

        a = cv2.cvtColor(np.ascontiguousarray(a[:, :, :3]), cv2.COLOR_RGB2GRAY)
    elif a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim != 2:
        raise ValueError(f"not an image: shape {a.shape}")
    return np.ascontiguousarray(a)


def _resize(g: np.ndarray, f: float) -> np.ndarray:
    import cv2

    h, w = g.shape
    interp = cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC
    return cv2.resize(g, (max(1, round(w * f)), max(1, round(h * f))), interpolation=interp)


def _variants(g: np.ndarray, thorough: bool = False):  # type: ignore[no-untyped-def]
    """Second looks, tried only when the image as it is gives nothing.

    By default only the cheap ones (a reduced copy, an Otsu-binarised copy: ~10-30 ms each). On
    real card photos every code found was found on the image as it is, and the enlarged and
    sharpened looks cost 0.05-0.2 s a card, so they run only when ``thorough``.
    """
    import cv2

    long_side = max(g.shape)
    if long_side > 1400:
        yield "down", _resize(g, 1200 / long_side)
    if thorough and long_side < 1600:
        yield "up2", _resize(g, 2.0)
    if thorough:
        yield "sharpen", cv2.addWeighted(g, 1.6, cv2.GaussianBlur(g, (0, 0), 2.0), -0.6, 0)
    _, otsu = cv2.threshold(cv2.GaussianBlur(g, (3, 3), 0), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    yield "otsu", otsu


def _read(g: np.ndarray, binarizer=None, *, rotate: bool = False) -> list[str]:  # type: ignore[no-untyped-def]
    import zxingcpp

    # rotate=False: QR, Micro QR and Aztec codes are found at any angle without zxing's extra
    # 90-degree passes, which tripled the time on card photos; a DataMatrix or PDF417 code turned
    # on an upright card needs them (the thorough mode adds that pass)
    kw: dict[str, Any] = {"formats": _formats(), "try_rotate": rotate}
    if binarizer is not None:
        kw["binarizer"] = binarizer
    return [b.text for b in zxingcpp.read_barcodes(g, **kw) if b.valid and b.text]


def decode_qr(rgb: np.ndarray, /, *, thorough: bool = False) -> tuple[QrPayload, ...]:
    """Every 2-D code on the image, parsed; () when none (or on any failure: this never raises).

    ``thorough`` adds slower second looks (enlarged, sharpened) for tiny or soft codes."""
    try:
        import zxingcpp

        g = _gray(rgb)
        if g.size == 0 or min(g.shape) < 21:
            return ()
        texts = _read(g)
        if not texts:
            for label, v in _variants(g, thorough):
                texts = _read(v)
                if not texts and thorough and label in ("down", "up2"):
                    texts = _read(v, zxingcpp.Binarizer.GlobalHistogram)
                if texts:
                    log.debug("QR found on the %s variant", label)
                    break
        if not texts and thorough:
            texts = _read(g, rotate=True)
        seen: set[str] = set()
        out = []
        for t in texts:
            if t not in seen:
                seen.add(t)
                out.append(parse_payload(t))
        return tuple(out)
    except Exception as e:  # noqa: BLE001 - a QR code is a bonus; never lose the card over it
        log.warning("QR decoding failed: %s", e)
        return ()


# ----------------------------------------------------------------------------- payload parsing


def parse_payload(text: str, /) -> QrPayload:
    """Classify and parse one decoded payload; unknown content is kind "text" with no fields."""
    s = text.strip().lstrip("\ufeff")
    up = s[:16].upper()
    try:
        if up.startswith("BEGIN:VCARD"):
            return QrPayload("vcard", text, parse_vcard(s))
        if up.startswith("MECARD:"):
            return QrPayload("mecard", text, parse_mecard(s[7:]))
        if up.startswith("BIZCARD:"):
            return QrPayload("mecard", text, parse_bizcard(s[8:]))
    except Exception as e:  # noqa: BLE001 - a malformed card payload is still text
        log.debug("could not parse QR payload as a contact: %s", e)
        return QrPayload("text", text, {})
    if _URL_RE.match(s):
        return QrPayload("url", text, {"websites": [s]})
    low = s.lower()
    if low.startswith("mailto:"):
        addr = s[7:].split("?", 1)[0]
        return QrPayload("text", text, {"emails": [addr]} if "@" in addr else {})
    if low.startswith("tel:"):
        return QrPayload("text", text, {"phones": [{"number": s[4:], "type": "work", "raw": s[4:]}]})
    return QrPayload("text", text, {})


# --- vCard


def _unfold(s: str) -> list[str]:
    """Logical vCard lines: folded lines joined (RFC 6350 / 2426), quoted-printable soft breaks too."""
    raw = re.split(r"\r\n|\r|\n", s)
    out: list[str] = []
    for line in raw:
        if out and line[:1] in (" ", "\t"):
            out[-1] += line[1:]
        elif out and out[-1].endswith("=") and "QUOTED-PRINTABLE" in out[-1].split(":", 1)[0].upper():
            out[-1] = out[-1][:-1] + line  # vCard 2.1 soft line break
        elif line:
            out.append(line)
    return out


def _split_unescaped(s: str, sep: str) -> list[str]:
    parts, cur, i = [], [], 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            cur.append(s[i : i + 2])
            i += 2
            continue
        if c == sep:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    parts.append("".join(cur))
    return parts


def _unescape(s: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) in "nN" else m.group(1), s).strip()


def _parse_params(params: list[str]) -> dict[str, list[str]]:
    """vCard parameters: TYPE=a,b (3.0/4.0), bare WORK;CELL (2.1), quoted values."""
    out: dict[str, list[str]] = {}
    for p in params:
        if not p:
            continue
        if "=" in p:
            k, v = p.split("=", 1)
            vals = [x.strip().strip('"') for x in v.strip('"').split(",")]
            out.setdefault(k.strip().upper(), []).extend(x for x in vals if x)
        else:
            out.setdefault("TYPE", []).append(p.strip())
    return out


def _decode_qp(value: str, charset: str) -> str:
    data = quopri.decodestring(value.encode("ascii", errors="replace"))
    try:
        return data.decode(charset or "utf-8")
    except (LookupError, UnicodeDecodeError):
        return data.decode("utf-8", errors="replace")


def phone_type(types: list[str]) -> str:
    t = {x.lower() for x in types}
    if t & {"fax"}:
        return "fax"
    if t & {"cell", "mobile", "iphone", "pcs", "cellular"}:
        return "mobile"
    if t & {"home"} and not t & {"work", "main"}:
        return "other"
    return "work"


def _join_name(parts: list[str]) -> str:
    """N = family;given;additional;prefix;suffix -> "prefix given additional family suffix"."""
    p = (parts + [""] * 5)[:5]
    family, given, additional, prefix, suffix = (_unescape(x).replace(",", " ") for x in p)
    return " ".join(x for x in (prefix, given, additional, family, suffix) if x)


def _join_adr(parts: list[str]) -> str:
    """ADR = pobox;extended;street;locality;region;code;country -> one line, non-empty parts."""
    vals = [" ".join(_unescape(x).split()) for x in parts]
    return ", ".join(v for v in vals if v)


def parse_vcard(s: str, /) -> dict[str, Any]:
    """Fields from a vCard 2.1 / 3.0 / 4.0 text (the first card if several)."""
    f: dict[str, Any] = {"emails": [], "phones": [], "websites": []}
    n_name = None
    for line in _unfold(s):
        if ":" not in line:
            continue
        head, value = line.split(":", 1)
        name_params = _split_unescaped(head, ";")
        prop = name_params[0].split(".")[-1].strip().upper()  # "item1.TEL" -> TEL
        params = _parse_params(name_params[1:])
        if prop == "END":
            break
        if "QUOTED-PRINTABLE" in [x.upper() for x in params.get("ENCODING", []) + params.get("TYPE", [])]:
            value = _decode_qp(value, (params.get("CHARSET") or ["utf-8"])[0])
        if prop == "FN":
            f["name"] = _unescape(value)
        elif prop == "N":
            n_name = _join_name(_split_unescaped(value, ";"))
        elif prop == "ORG":
            org = [_unescape(x) for x in _split_unescaped(value, ";")]
            if org and org[0]:
                f["company"] = org[0]
        elif prop == "TITLE":
            f["title"] = _unescape(value)
        elif prop == "EMAIL":
            v = _unescape(value)
            if v.lower().startswith("mailto:"):
                v = v[7:]
            if v:
                f["emails"].append(v)
        elif prop == "TEL":
            raw = _unescape(value)
            num = raw[4:] if raw.lower().startswith("tel:") else raw
            num = num.split(";", 1)[0]  # tel: URIs may carry ;ext= parameters
            if num:
                f["phones"].append({"number": num, "type": phone_type(params.get("TYPE", [])), "raw": raw})
        elif prop == "URL":
            v = _unescape(value)
            if v:
                f["websites"].append(v)
        elif prop == "ADR" and "address" not in f:
            a = _join_adr(_split_unescaped(value, ";"))
            if a:
                f["address"] = a
        elif prop == "LABEL" and "address" not in f:
            f["label"] = " ".join(_unescape(value).split())
    if "address" not in f and "label" in f:
        f["address"] = f["label"]
    f.pop("label", None)
    if not f.get("name") and n_name:
        f["name"] = n_name
    return {k: v for k, v in f.items() if v}


# --- MECARD / BIZCARD


def _mecard_items(body: str) -> list[tuple[str, str]]:
    out = []
    for item in _split_unescaped(body, ";"):
        if ":" not in item:
            continue
        k, v = item.split(":", 1)
        v = _unescape(v)
        if v:
            out.append((k.strip().upper(), v))
    return out


def parse_mecard(body: str, /) -> dict[str, Any]:
    """Fields from the part after "MECARD:" (N:Last,First;TEL:..;EMAIL:..;URL:..;ADR:..;ORG:..;;)."""
    f: dict[str, Any] = {"emails": [], "phones": [], "websites": []}
    for k, v in _mecard_items(body):
        if k == "N":
            parts = [p.strip() for p in _split_unescaped(v, ",")]
            f["name"] = " ".join(reversed([p for p in parts if p])) if len(parts) > 1 else parts[0]
        elif k == "TEL":
            f["phones"].append({"number": v, "type": "work", "raw": v})
        elif k in ("TEL-AV",):
            continue
        elif k == "EMAIL":
            f["emails"].append(v)
        elif k == "URL":
            f["websites"].append(v)
        elif k == "ADR":
            f["address"] = ", ".join(p.strip() for p in _split_unescaped(v, ",") if p.strip())
        elif k == "ORG":
            f["company"] = v
        elif k == "TITLE":
            f["title"] = v
    return {k: v for k, v in f.items() if v}


def parse_bizcard(body: str, /) -> dict[str, Any]:
    """BIZCARD:N:first;X:last;T:title;C:company;A:address;B:phone;M:mobile;F:fax;E:email;;"""
    f: dict[str, Any] = {"emails": [], "phones": [], "websites": []}
    first = last = ""
    kinds = {"B": "work", "M": "mobile", "F": "fax"}
    for k, v in _mecard_items(body):
        if k == "N":
            first = v
        elif k == "X":
            last = v
        elif k == "T":
            f["title"] = v
        elif k == "C":
            f["company"] = v
        elif k == "A":
            f["address"] = v
        elif k in kinds:
            f["phones"].append({"number": v, "type": kinds[k], "raw": v})
        elif k == "E":
            f["emails"].append(v)
    if first or last:
        f["name"] = " ".join(x for x in (first, last) if x)
    return {k: v for k, v in f.items() if v}
