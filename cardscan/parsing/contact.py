"""OCR lines (+ QR payloads) -> a Contact whose every field carries a confidence, a source and flags.

Order of work: e-mails and websites first (they are the least ambiguous), then the card's own
region (from +CC prefixes, country names, postal codes and domains), phones, the postal block,
and last the person's name, title and company, which are chosen from what is left.  When unsure a
field is left empty: a wrong value in the wrong field is worse than none.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Sequence

import numpy as np

from cardscan.parsing.emails import EmailHit, check_email, find_emails, repair_tld
from cardscan.parsing.layout import (
    MAX_LINE_CHARS,
    MAX_LINES,
    cap,
    fold,
    has_phrase,
    known_tlds,
    same_row,
    sanitize,
    split_columns,
    text_to_ocr,
    wordlist,
    words_of,
)
from cardscan.models import SOURCE_OCR, SOURCE_QR, Contact, Field, Line, OcrResult, Phone, QrPayload
from cardscan.parsing.phones import PhoneHit, RegionGuess, _countries_in, find_phones, infer_region, label_type, language_regions

log = logging.getLogger(__name__)

__all__ = ["parse", "parse_text"]

LOW = 0.5  # below this a field is flagged "low_confidence"


@dataclass
class _Ln:
    """A working line: sanitized text, its OCR line, and what it has been used for."""

    i: int
    text: str
    line: Line
    conf: float  # 0..1
    height: float
    dirty: bool = False  # control/bidi characters were removed
    used: str | None = None  # "contact", "label", "noise", "address", "name", "title", "company"
    contact: bool = False  # holds a phone, e-mail or website


def parse_text(text: str, /, *, region: str | None = None) -> Contact:
    """Parse plain text lines (no layout: equal heights, confidence 90)."""
    return parse(text_to_ocr(text), region=region)


def parse(ocr: OcrResult, /, qr: Sequence[QrPayload] = (), *, region: str | None = None) -> Contact:
    lines = _prepare(ocr)
    texts = [l.text for l in lines]

    email_hits = find_emails(texts)
    masked = [_mask_emails(t) for t in texts]
    site_hits = _find_websites(masked)
    mail_domains = _email_domains(email_hits)
    site_hits += _sites_spelled_like_email_domains(masked, site_hits, mail_domains)
    for li, (s, e), _ in site_hits:
        masked[li] = masked[li][:s] + " " * (e - s) + masked[li][e:]
    domains = [h.value.rsplit("@", 1)[1] for h in email_hits] + [_host(v) for _, _, v in site_hits]
    reg = infer_region(texts, domains, default=region)

    left = _left_labels(lines)
    phone_hits = find_phones(masked, reg, left_labels=left)
    if reg.source == "fallback" and any(not h.number.startswith("+") for h in phone_hits):
        reg, phone_hits = _region_from_numbers(masked, texts, reg, phone_hits, left)

    for h in email_hits:
        lines[h.line].contact = True
    for li, _, _ in site_hits:
        lines[li].contact = True
    for h in phone_hits:
        lines[h.line].contact = True
    for l, m in zip(lines, masked):
        if l.contact and _leftover_letters(m, l.i, phone_hits) < 3:
            l.used = l.used or "contact"

    emails = tuple(_email_field(h, lines) for h in email_hits)
    phones = tuple(_phone(h, lines) for h in phone_hits)
    websites = tuple(_check_site_against_emails(_site_field(v, lines[li]), mail_domains) for li, _, v in site_hits)

    address = _find_address(lines, phone_hits)
    name = _find_name(lines, email_hits)
    title = _find_title(lines, name)
    company = _find_company(lines, domains, email_hits)

    contact = Contact(
        name=name[1] if name else None,
        title=title,
        company=company,
        address=address,
        emails=emails,
        phones=phones,
        websites=websites,
        region=reg.region,
        raw_text=ocr.text,
    )
    if qr:
        contact = _merge_qr(contact, qr, reg)
    return contact


# ------------------------------------------------------------------ preparation


def _prepare(ocr: OcrResult) -> list[_Ln]:
    out: list[_Ln] = []
    parts = [p for line in ocr.lines[:MAX_LINES] for p in split_columns(line)]
    for line in parts[:MAX_LINES]:
        line = _drop_leading_icon(line)
        if not line.words:
            continue
        text, dirty = sanitize(line.text[:MAX_LINE_CHARS])
        text = " ".join(text.split())
        text = _INNER_DASH_RE.sub("-", text)  # "satoshi—t@", "Chiyoda—ku": OCR reads '-' as a long dash
        if not text:
            continue
        ln = _Ln(len(out), text, line, line.conf / 100.0, line.height, dirty)
        if len(re.sub(r"[\W_]", "", text)) < 2 and not re.search(r"\d", text) or \
                all(_junk_token(t) for t in text.split()):
            ln.used = "noise"  # icons and specks read as one stray character
        out.append(ln)
    return out


_ALNUM_RE = re.compile(r"[^\W_]")
_AT_TOKEN_RE = re.compile(r"\S*[@©®＠]\S*")
_EMAIL_TOKEN_RE = re.compile(r"\S+[@©®＠]\S+")
_LONE_ICON_RE = re.compile(r"(?:(?<=\s)|^)[@©®＠•·|](?=\s|$)")
_INNER_DASH_RE = re.compile(r"(?<=[^\W_])[—–‒―](?=[^\W_])")


_ICON_KEEP = frozenset("dr mr ms mrs st av no nr de da di du le la el of".split())


def _drop_leading_icon(line: Line) -> Line:
    """A pictogram before a line (phone, pin, envelope, globe) often reads as one or two stray
    characters ('Q@ 737 Mill Ave', 'QO Tavaton Ltd.'), set apart from the text by a wide gap.
    Phone labels ('M', 'T'), honorifics and short words are kept."""
    if len(line.words) < 2:
        return line
    w0, w1 = line.words[0], line.words[1]
    alnum = _ALNUM_RE.findall(w0.text)
    if len(alnum) > 2 or any(c.isdigit() for c in w0.text) or re.fullmatch(r"[A-Z]\.|[&+(]", w0.text) or \
            fold(w0.text).strip(".:") in _ICON_KEEP or _legal_form_token(w0.text):
        return line  # ... or the "Co.," of "Co., Ltd."
    if label_type(w0.text) is not None or fold(w0.text).strip(".:") in _CONTACT_LABELS:
        return line
    gap = w1.box[0] - (w0.box[0] + w0.box[2])
    h = max(line.height, 1.0)
    if gap >= 0.6 * h or (len(alnum) < len(w0.text.strip(".:")) and gap >= 0.35 * h):
        return Line(line.words[1:])
    return line


def _mask_emails(text: str) -> str:
    return _AT_TOKEN_RE.sub(lambda m: " " * len(m.group(0)), text)


def _leftover_letters(masked: str, i: int, phones: Sequence[PhoneHit]) -> int:
    t = masked
    for h in phones:
        if h.line == i:
            s, e = h.span
            t = t[:s] + " " * (e - s) + t[e:]
    ws = [w for w in words_of(t) if label_type(w) is None and w not in _CONTACT_LABELS]
    return sum(len(w) for w in ws)


_CONTACT_LABELS = frozenset("email mail web website site url www e correo internet http https skype".split())


def _region_from_numbers(masked: list[str], texts: list[str], reg: RegionGuess, hits: list[PhoneHit],
                         left: dict[int, str]) -> tuple[RegionGuess, list[PhoneHit]]:
    """Nothing printed names the country and some numbers are not valid for the fallback: try
    the regions that speak the card's language; a region is taken only when strictly more of the
    printed numbers are valid there (the numbers decide, never the language alone)."""
    def valid(hs: list[PhoneHit]) -> int:
        return sum(h.number.startswith("+") for h in hs)

    best = (valid(hits), reg, hits)
    for r in language_regions(texts):
        guess = RegionGuess(r, "card", {**reg.evidence, "language+numbers": 1.0})
        hs = find_phones(masked, guess, left_labels=left)
        if valid(hs) > best[0]:
            best = (valid(hs), guess, hs)
    return best[1], best[2]


def _left_labels(lines: list[_Ln]) -> dict[int, str]:
    """A label printed in its own column, left of the number on the same row ('Tel' | '555 0100')."""
    out: dict[int, str] = {}
    for a in lines:
        if not re.search(r"\d{3}", a.text):
            continue
        ax = a.line.box[0]
        best: _Ln | None = None
        for b in lines:
            if b is a or len(b.text.split()) > 3 or re.search(r"\d", b.text):
                continue
            bx_right = b.line.box[0] + b.line.box[2]
            if bx_right <= ax + 2 and same_row(a.line, b.line) and label_type(b.text):
                if best is None or bx_right > best.line.box[0] + best.line.box[2]:
                    best = b
        if best is not None:
            out[a.i] = best.text
            best.used = "label"
    return out


def _words_conf(ln: _Ln) -> float:
    return max(0.0, min(1.0, ln.conf))


# ------------------------------------------------------------------ e-mails, websites, phones


def _email_field(h: EmailHit, lines: list[_Ln]) -> Field:
    ln = lines[h.line]
    conf = _words_conf(ln) * (0.55 if h.repaired else 0.98) * (1.0 if h.known_tld else 0.6)
    flags: list[str] = []
    if h.repaired:
        flags.append("repaired")
    if conf < LOW or not h.known_tld:
        flags.append("low_confidence")
    msg = h.message if h.repaired else (None if h.known_tld else "unusual top-level domain; check the spelling")
    return Field(h.value, round(conf, 3), SOURCE_OCR, h.raw, tuple(dict.fromkeys(flags)), msg)


_SITE_RE = re.compile(
    r"(?<![\w@.:/-])(?:https?://)?(?:www\d?\s?[.,]\s?)?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.){1,4}[a-z]{2,24}"
    r"(?::\d{2,5})?(?:/[\w\-./%?=&#~+]*)?(?![\w@])",
    re.I,
)
_WWW_SPACES_RE = re.compile(r"\b(?:https?://)?www\d?\s?[.,]\s?[a-z0-9-]+(?:\.\s?[a-z0-9-]+)*\.\s[a-z]{2,3}\b", re.I)
_NOT_SITE_LABELS = frozenset("e.g i.e a.m p.m".split())


# OCR misreadings of a URL scheme ("hittps://", "htps;//", "http//"): repaired in place, padded
# with spaces on the left so the positions of everything after it stay the same
_SCHEME_RE = re.compile(r"(?i)(?<![a-z])h[il1]?t{1,2}[il1]?p(s?)(?:[:;.,]/{1,2}|//)(?=[a-z0-9])")


def _repair_scheme(text: str) -> str:
    def fix(m: re.Match[str]) -> str:
        canon = f"http{m.group(1).lower()}://"
        g = m.group(0)
        return g if g.lower() == canon or len(g) < len(canon) else " " * (len(g) - len(canon)) + canon
    return _SCHEME_RE.sub(fix, text)


def _find_websites(masked: Sequence[str]) -> list[tuple[int, tuple[int, int], str]]:
    out: list[tuple[int, tuple[int, int], str]] = []
    seen: set[str] = set()
    for i, text in enumerate(masked):
        text = _WWW_SPACES_RE.sub(lambda m: re.sub(r"\s+", "", m.group(0)), _repair_scheme(text))
        for m in _SITE_RE.finditer(text):
            raw = m.group(0).rstrip(".,/")
            v = re.sub(r"^(www\d?)\s?[.,]\s?", r"\1.", raw, flags=re.I)
            host = _host(v)
            fixed = repair_tld(host) if re.match(r"(?:https?://|www\d?\.)", v, re.I) else None
            if fixed:
                v = v.replace(host.rsplit(".", 1)[-1], fixed.rsplit(".", 1)[-1]) if v.islower() else v[: v.lower().rfind(host.rsplit(".", 1)[-1])] + fixed.rsplit(".", 1)[-1] + v[v.lower().rfind(host.rsplit(".", 1)[-1]) + len(host.rsplit(".", 1)[-1]):]
                host = fixed
            labels = host.split(".")
            tld = labels[-1].casefold()
            explicit = bool(re.match(r"(?:https?://|www\d?\.)", v, re.I))
            if tld not in known_tlds() or host.casefold() in _NOT_SITE_LABELS:
                continue
            if not explicit:
                if m.start() > 0 and not text[m.start() - 1].isspace() and text[m.start() - 1] not in ":|(<[":
                    continue  # glued to other text ("ricknog3?dgmail.com"): a misread e-mail, not a site
                if labels[-2].casefold() in _PERSONAL_DOMAINS:
                    continue  # gmail.com is nobody's website
                # a bare domain: at least a 2-character name, lower-case letters or a path, not an initial
                if len(labels[-2]) < 2 or (v.isupper() and len(labels[-2]) < 4):
                    continue
                if tld in ("co", "in", "is", "it", "no", "us", "me", "to", "at", "be", "de", "do") and not v.islower():
                    continue
            key = v.casefold().removeprefix("http://").removeprefix("https://").removeprefix("www.").rstrip("/")
            if key in seen:
                continue
            seen.add(key)
            out.append((i, (m.start(), m.start() + len(raw)), cap(v)))
    return out


def _email_domains(email_hits: Sequence[EmailHit]) -> list[str]:
    out = []
    for h in email_hits:
        d = h.value.rsplit("@", 1)[1].casefold()
        if d.split(".")[0] not in _PERSONAL_DOMAINS and d not in out:
            out.append(d)
    return out


def _sites_spelled_like_email_domains(masked: Sequence[str], found: Sequence[tuple[int, tuple[int, int], str]],
                                      mail_domains: Sequence[str]) -> list[tuple[int, tuple[int, int], str]]:
    """A "www" followed by the e-mail's domain read with spaces for dots ("WWW." then
    "beltis com br" on the next line): the website, spelled as the e-mail domain."""
    have = {_host(v) for _, _, v in found}
    out: list[tuple[int, tuple[int, int], str]] = []
    for d in mail_domains:
        if d in have:
            continue
        spaced = r"[\s.,]+".join(re.escape(x) for x in d.split("."))
        pat = re.compile(rf"(?i)(?<![a-z0-9])www\d?\s*[.,]?\s*{spaced}(?![a-z0-9])")
        for i, text in enumerate(masked):
            nxt = masked[i + 1] if i + 1 < len(masked) else ""
            m = pat.search(text) or (pat.search(text + " " + nxt) if re.search(r"(?i)www\d?\s*[.,]?\s*$", text) else None)
            if m:
                end = min(m.end(), len(text))
                out.append((i, (m.start(), end), f"www.{d}"))
                have.add(d)
                break
    return out


def _check_site_against_emails(f: Field, mail_domains: Sequence[str]) -> Field:
    """A website one or two letters away from the e-mail domain: one of the two is misread."""
    from rapidfuzz.distance import Levenshtein

    host = _host(f.value)
    if any(d == host or d.endswith("." + host) or host.endswith("." + d) for d in mail_domains):
        return f
    near = next((d for d in mail_domains if len(host) >= 6 and Levenshtein.distance(host, d) <= 2), None)
    if near is None:
        return f
    return replace(f, confidence=round(min(f.confidence, 0.45), 3),
                   flags=tuple(dict.fromkeys(f.flags + ("low_confidence",))),
                   message=f"differs from the e-mail domain {near}: one of them is misread")


def _host(url: str) -> str:
    h = re.sub(r"^[a-z]+://", "", url, flags=re.I).split("/")[0].split(":")[0]
    return re.sub(r"^www\d?\.", "", h, flags=re.I).casefold()


def _site_field(v: str, ln: _Ln) -> Field:
    explicit = bool(re.match(r"(?:https?://|www\d?\.)", v, re.I))
    conf = _words_conf(ln) * (0.95 if explicit else 0.8)
    flags = ("low_confidence",) if conf < LOW else ()
    return Field(v, round(conf, 3), SOURCE_OCR, v, flags)


def _phone(h: PhoneHit, lines: list[_Ln]) -> Phone:
    conf = round(h.confidence * _words_conf(lines[h.line]), 3)
    flags = list(h.flags)
    if conf < LOW and "low_confidence" not in flags:
        flags.append("low_confidence")
    return Phone(h.number, h.type, cap(h.raw, 80), conf, SOURCE_OCR, tuple(flags), h.message)


# ------------------------------------------------------------------ address

_STREET_WORDS = frozenset(
    """street st road rd avenue ave av avda avenida blvd boulevard lane ln drive dr way court ct place pl
    square sq highway hwy parkway pkwy circle cir terrace ter plaza alley rua r travessa alameda rodovia
    estrada praca calle carrera paseo camino rue allee chemin strasse str weg platz allee gasse via viale
    avenija ulica ul utca cesta ulitsa sokak sok cadde caddesi jalan jl
    piazza corso duong pho ngo quan phuong chome dori machi""".split()
)
# compound street names: "Hafenstraße" (casefolded to -strasse), "Lindenweg", "Kerkstraat", "Parklaan"
_STREET_SUFFIXES = ("strasse", "str", "weg", "platz", "allee", "gasse", "damm", "straat", "laan", "plein", "gatan", "vej")
_UNIT_WORDS = frozenset(
    """suite ste floor fl bldg building unit room rm andar sala piso etage tower house apt apartment
    office of box bloco conj conjunto loja city ward district province prefecture ku shi""".split()
)
_ADDR_LABEL_RE = re.compile(r"^\s*(?:address|addr|add|endere[cç]o|adresse|direcci[oó]n|dia chi|địa chỉ|anschrift)\s*[:.]\s*", re.I)
_POSTAL_RES = (
    re.compile(r"\b[A-Z]{2}\.?,?\s*\d{5}(?:-\d{4})?\b"),  # US state + ZIP
    re.compile(r"\b\d{5}-\d{3}\b"),  # BR CEP
    re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s+\d[A-Z]{2}\b"),  # UK
    re.compile(r"\b[A-Z]\d[A-Z]\s?\d[A-Z]\d\b"),  # CA
    re.compile(r"〒?\s*\b\d{3}-\d{4}\b"),  # JP
    re.compile(r"\b(?:[A-Z]{1,2}-)?\d{4,5}\s+[A-ZÀ-Ý][A-Za-zÀ-ÿ]{2,}"),  # continental Europe "75008 Paris", "B-9000 Gent"
)


_US_CODE_ZIP_RE = re.compile(r"\b(?:A[KLRZ]|C[AOT]|D[CE]|FL|GA|HI|I[ADLN]|K[SY]|LA|M[ADEINOST]|N[CDEHJMVY]|O[HKR]|PA|RI|S[CD]|T[NX]|UT|V[AT]|W[AIVY])\.?,?\s*\d{5}(?:-\d{4})?$")
_NAME_NUMBER_RE = re.compile(r"^[A-ZÀ-Ý][\w'.-]+(?:\s[A-ZÀ-Ý][\w'.-]+){0,3},?\s\d{1,5}[A-Za-z]?(?:\b|$)(?![-./]\d)")


def _aligned(a: _Ln, b: _Ln) -> bool:
    """Two lines of one block: similar font size and the same left edge (or centred alike)."""
    ha, hb = max(a.height, 1.0), max(b.height, 1.0)
    if max(ha, hb) / min(ha, hb) > 1.3:
        return False
    (ax, _, aw, _), (bx, _, bw, _) = a.line.box, b.line.box
    tol = 1.5 * max(ha, hb)
    return abs(ax - bx) <= tol or abs((ax + aw / 2) - (bx + bw / 2)) <= tol or abs((ax + aw) - (bx + bw)) <= tol


def _address_score(text: str) -> float:
    ws = words_of(text)
    if ws and ws[0] in ("dr", "st") and not re.search(r"\d", text):
        ws = ws[1:]  # "Dr. Kelly Focht": an honorific, not a drive
    letters = sum(c.isalpha() for c in text)
    if sum(c.isdigit() for c in text) >= 7 and letters <= 3:
        return 0.0  # a phone number the phone finder refused
    has_num = bool(re.search(r"\b\d+[A-Za-z]?\b", text))
    s = 0.0
    if _ADDR_LABEL_RE.match(text):
        s += 2.0
    if has_num and any(w in _STREET_WORDS or w.endswith(_STREET_SUFFIXES) for w in ws):
        s += 2.0
    elif any(w in _STREET_WORDS for w in ws) and len(ws) <= 6:
        s += 0.5
    if any(w in _UNIT_WORDS for w in ws) and has_num:
        s += 1.0
    if any(r.search(text) for r in _POSTAL_RES):
        s += 1.5
    if re.search(r"(?<![\d-])\d{1,4}-\d{1,4}-\d{1,4}(?:-\d{1,3}F?)?(?![\d-])", text) and len(ws) >= 1:
        s += 1.0  # Japanese chome-banchi-go "5-6-1 Shinjuku", "2-7-7-9F"
    if _NAME_NUMBER_RE.match(text) and not any(w in _STREET_WORDS for w in ws):
        s += 1.0  # street name, then the number: "Piedras 113", "Avenija Dubrovnik 15"
    if re.match(r"^\s*(?:no\.?\s*)?\d+(?:-\d+)*[A-Za-z]?\b[ ,]", text, re.I) and text.count(",") >= 1 and len(ws) >= 2:
        s += 1.0
    if re.search(r"(?i)\bc/o\b", text):
        s += 1.0
    from cardscan.parsing.phones import _US_STATE_ZIP_RE

    if _US_STATE_ZIP_RE.search(text) or _US_CODE_ZIP_RE.search(text):
        s += 1.5
    if _countries_in(text):
        s += 0.75
    return s


def _find_address(lines: list[_Ln], phones: Sequence[PhoneHit]) -> Field | None:
    scored: list[tuple[_Ln, float, str]] = []
    for ln in lines:
        if ln.used:
            continue
        text = ln.text
        # cut off a phone or e-mail that shares the line
        cut = len(text)
        for h in phones:
            if h.line == ln.i:
                cut = min(cut, h.span[0])
        at = _EMAIL_TOKEN_RE.search(text)
        if at:
            cut = min(cut, at.start())
        part = text[:cut]
        if cut < len(text):
            part = re.sub(r"(?:\b[A-Za-z.]{1,12}\s*[:.]?\s*)$", "", part).rstrip(" ,;|-")
        part = _LONE_ICON_RE.sub(" ", part).strip()  # a pin or '@' icon standing alone
        sc = _address_score(part) if part and not _has_legal_suffix(part) else 0.0
        scored.append((ln, sc, part))
    # A line ending in a comma that the next line continues ("38B Trieu Viet Vuong," / "Hai Ba
    # Trung, Ha Noi") is one address printed over two lines.
    for k in range(len(scored) - 1):
        (a, sa, pa), (b, sb, pb) = scored[k], scored[k + 1]
        if sa > 0 and pa.rstrip().endswith(",") and b.i == a.i + 1 and not b.contact and \
                re.match(r"^[A-ZÀ-Ý0-9]", pb) and len(pb.split()) <= 8 and \
                sum(c.isalpha() for c in pb) >= max(3, sum(c.isdigit() for c in pb)) and _aligned(a, b):
            scored[k] = (a, sa + 1.0, pa)
            scored[k + 1] = (b, max(sb, 0.5), pb)
    blocks: list[list[tuple[_Ln, float, str]]] = []
    cur: list[tuple[_Ln, float, str]] = []
    for item in (x for x in scored if x[1] > 0):
        gap = item[0].i - cur[-1][0].i if cur else 0
        ended = bool(cur) and any(r.search(p) for _, _, p in cur for r in _POSTAL_RES) and \
            bool(re.match(r"^\s*\d+(?:-\d+)*[A-Za-z]?\b", item[2]))  # a second address starts
        if cur and not ended and item[1] >= 1.0:  # "..., JAPAN" then "OSAKA : 4-1-8 ...": the next office
            last = cur[-1][2]
            ended = bool(_countries_in(last)) and any(r.search(last) for r in _POSTAL_RES)
        if cur and (gap > 2 or (gap == 2 and item[1] < 1.5) or ended):
            blocks.append(cur)
            cur = []
        cur.append(item)
    if cur:
        blocks.append(cur)
    for b in blocks:
        total = sum(s for _, s, _ in b)
        strong = max(s for _, s, _ in b)
        if strong >= 2.0 or (total >= 3.0 and len(b) >= 2):
            b = b[:4]
            parts = [_ADDR_LABEL_RE.sub("", p).strip(" ,;|") for _, _, p in b]
            value = cap(", ".join(p for p in parts if p))
            for ln, _, _ in b:
                ln.used = "address"
            conf = float(np.mean([_words_conf(ln) for ln, _, _ in b])) * min(0.9, 0.45 + 0.1 * total)
            flags = ("low_confidence",) if conf < LOW else ()
            return Field(value, round(conf, 3), SOURCE_OCR, " | ".join(ln.text for ln, _, _ in b), flags)
    return None


# ------------------------------------------------------------------ name

_STREET_NAME_BLOCK = frozenset(
    """street road avenue avenida boulevard lane drive way court place square highway parkway circle terrace
    plaza alley rua travessa alameda rodovia estrada calle carrera rue chemin strasse weg platz gasse via
    piazza suite floor building bldg tower house office city""".split()
)
_HONORIFICS = frozenset("dr mr mrs ms miss prof sr sra dra eng ir mme mlle herr frau dott ing".split())
_NAME_TOKEN_RE = re.compile(r"^[^\W\d_]+(?:[.'’-][^\W\d_]*)*\.?,?$")


@lru_cache(maxsize=1)
def _first_names() -> frozenset[str]:
    from probablepeople.gender import gender_names

    return frozenset(gender_names)


@lru_cache(maxsize=1)
def _surnames() -> frozenset[str]:
    from probablepeople.ratios import ratios

    return frozenset(k.casefold() for k in ratios)


def _pp_kind(text: str) -> str | None:
    try:
        import probablepeople

        return probablepeople.tag(text)[1]
    except Exception:  # probablepeople raises RepeatedLabelError and others on odd strings
        return None


# German job titles are compounds ending in a role: Steuerberater, Vertriebsleiterin,
# Softwareentwicklerin. Folded stems; the part before the stem must be a word of its own.
_TITLE_STEMS = tuple(
    """leiter leiterin berater beraterin entwickler entwicklerin ingenieur ingenieurin fuhrer fuhrerin
    referent referentin assistent assistentin manager managerin direktor direktorin kaufmann kauffrau
    sachbearbeiter sachbearbeiterin techniker technikerin architekt architektin anwalt anwaltin
    prufer pruferin planer planerin vertreter vertreterin spezialist spezialistin koordinator
    koordinatorin inhaber inhaberin""".split())
_NOT_TITLES = frozenset({"halbleiter"})  # semiconductor


def _is_title_word(w: str) -> bool:
    """A folded word that names a role: in the title list, or a German compound ending in one."""
    if w in wordlist("title_words.txt"):
        return True
    return len(w) >= 8 and w not in _NOT_TITLES and any(w.endswith(t) and len(w) - len(t) >= 3 for t in _TITLE_STEMS)


def _is_title(text: str) -> bool:
    """Whether text holds a job-title word or phrase."""
    return has_phrase(text, wordlist("title_words.txt")) or any(_is_title_word(w) for w in words_of(text))


def _blocked_for_person(text: str) -> bool:
    return (
        _is_title(text)
        or has_phrase(text, wordlist("company_suffixes.txt"))
        or has_phrase(text, wordlist("company_words.txt"))
        or any(w in _STREET_NAME_BLOCK for w in words_of(text))
        or any(w in _CONTACT_LABELS for w in words_of(text))
    )


def _email_agrees(tokens: list[str], emails: Sequence[EmailHit]) -> float:
    best = 0.0
    for h in emails:
        local = re.sub(r"[^a-z]", "", fold(h.value.split("@")[0]))
        if len(local) < 2:
            continue
        for k, t in enumerate(tokens):
            if len(t) >= 3 and t in local:
                best = max(best, 2.5 if k == len(tokens) - 1 else 2.0)
        initials = "".join(t[0] for t in tokens if t)
        if len(initials) >= 2 and local == initials:
            best = max(best, 1.5)
    return best


_NAME_CONFUSABLES = str.maketrans({"¢": "c", "!": "l", "|": "l", "1": "l", "0": "o", "5": "s", "$": "s", "€": "e", "@": "a"})


def _repair_name_token(tok: str) -> str:
    """An OCR look-alike inside a name ('Danie!' -> 'Daniel'), undone only when the repaired word
    is a known first name or surname: the validator decides, never the repair alone."""
    if _NAME_TOKEN_RE.match(tok):
        return tok
    fixed = tok.translate(_NAME_CONFUSABLES)
    if fixed == tok or not _NAME_TOKEN_RE.match(fixed):
        return tok
    key = fold(fixed).strip(".,'’-")
    if key in _first_names() or key in _surnames():
        return fixed
    return tok


def _find_name(lines: list[_Ln], emails: Sequence[EmailHit]) -> tuple[_Ln, Field] | None:
    heights = [l.height for l in lines if l.height > 0]
    med_h = float(np.median(heights)) if heights else 1.0
    n = max(len(lines), 1)
    best: tuple[float, _Ln, list[str]] | None = None
    for ln in lines:
        if ln.used or ln.contact:
            continue
        text = ln.text
        segs = [x.strip() for x in text.split(",")]
        if len(segs) >= 2 and any(_is_title(x) for x in segs[1:]):
            text = segs[0]  # "Jane Doe, Owner": the name before the comma
        toks = text.split()
        if not 2 <= len(toks) <= 5 or len(ln.text) > 60:
            continue
        if not all(_NAME_TOKEN_RE.match(t) for t in toks):
            fixed = [_repair_name_token(t) for t in toks]
            if not all(_NAME_TOKEN_RE.match(t) for t in fixed):
                continue
            toks = fixed  # "Danie! Whitton", "¢arol": kept only because the name lists know the word
            text = " ".join(toks)
        if _blocked_for_person(text):
            continue
        folded = [fold(t).strip(".,'’-") for t in toks]
        core = [t for t in folded if t and t not in _HONORIFICS]
        if len(core) < 2 and not (len(core) == 1 and len(folded) >= 2):
            continue
        if not core:
            continue
        s = 0.0
        if core[0] in _first_names() or (len(core[0]) <= 1 and len(core) > 1 and core[1] in _first_names()):
            s += 2.0
        if any(t in _first_names() for t in core[1:-1]):
            s += 0.3
        if core[-1] in _surnames():
            s += 0.5
        kind = _pp_kind(text)
        if kind == "Person":
            s += 1.0
        elif kind == "Corporation":
            s -= 0.5
        s += _email_agrees(core, emails)
        s += max(0.0, min(1.5, ln.height / med_h - 1.0)) if med_h > 0 else 0.0
        if ln.i < 0.4 * n:
            s += 0.3
        if all(t[:1].isupper() for t in toks if t[:1].isalpha()):
            s += 0.5
        elif any(t.islower() for t in toks):
            s -= 0.5
        if len(core) <= 3:
            s += 0.3
        if text != ln.text:
            s -= 0.5
        if ln.conf < 0.75:
            s -= (0.75 - ln.conf) * 6  # poorly read: likely a misreading of a logo or a script font
        if sum(len(t) <= 2 and not t.endswith(".") for t in toks) >= 2:
            s -= 1.0
        log.debug("name candidate %r: %.2f", text, s)
        if best is None or s > best[0]:
            best = (s, ln, text)
    if best is None or best[0] < 2.5:
        return None
    s, ln, text = best
    ln.used = "name"
    conf = _words_conf(ln) * min(0.97, 0.3 + s / 7)
    flags = ("low_confidence",) if conf < LOW else ()
    return ln, Field(cap(text.strip(" ,;|")), round(conf, 3), SOURCE_OCR, ln.text, flags)


# ------------------------------------------------------------------ title

_DEPARTMENT_WORDS = frozenset("department dept division departamento abteilung departement team".split())
# a line led by one of these names a department unless it also names a role ("Area Manager")
_DEPARTMENT_LEADS = frozenset("service servicio servico area bereich setor sector".split())
_ROLE_NOUNS = frozenset("manager director head lead supervisor coordinator engineer specialist representative "
                        "officer executive gerente diretor director responsable chef leiter".split())


_JUNK_RE = re.compile(r"[«»{}\[\]<>~^\\]")
_OFFICE_WORDS = frozenset("office offices headquarters hq".split())


def _find_title(lines: list[_Ln], name: tuple[_Ln, Field] | None) -> Field | None:
    if name is not None and name[1].value != name[0].text.strip(" ,;|"):
        segs = [x.strip() for x in name[0].text.split(",")[1:]]
        for seg in segs:
            if _is_title(seg) and not re.search(r"\d", seg):
                return Field(cap(seg), round(_words_conf(name[0]) * 0.7, 3), SOURCE_OCR, name[0].text)
    cands: list[tuple[float, _Ln]] = []
    for ln in lines:
        if ln.used or ln.contact or "@" in ln.text or len(ln.text) > 80 or _JUNK_RE.search(ln.text):
            continue
        ws = words_of(ln.text)
        if not ws or len(ln.text.split()) > 9 or sum(c.isdigit() for c in ln.text) > 0:
            continue
        if not _is_title(ln.text):
            continue
        if any(w in _DEPARTMENT_WORDS for w in ws) or has_phrase(ln.text, wordlist("company_suffixes.txt")):
            continue
        if ws[0] in _DEPARTMENT_LEADS and not any(w in _ROLE_NOUNS for w in ws):
            continue  # "Service Commercial", "Área Técnica": a department, not a role
        if any(w in _OFFICE_WORDS for w in ws) and not (ws[-1] not in _OFFICE_WORDS and _is_title_word(ws[-1])):
            continue  # "Head Office", "Milan Branch Office:" are places; "Office Manager" is a role
        s = 1.0
        if name is not None:
            d = abs(ln.i - name[0].i)
            s += {1: 2.0, 2: 1.0}.get(d, 0.0)
        if has_phrase(ln.text, wordlist("company_words.txt")) and not (name and abs(ln.i - name[0].i) == 1) and \
                not _is_title_word(ws[-1]):
            s -= 1.0  # "Global Logistics Provider"; but "Air Freight Sales Manager" ends in its role
        cands.append((s, ln))
    if not cands:
        return None
    s, ln = max(cands, key=lambda c: (c[0], -c[1].i))
    if s < 1.0 or (name is None and len(cands) > 1):
        return None
    ln.used = "title"
    conf = _words_conf(ln) * (0.9 if s >= 3 else 0.7 if s >= 2 else 0.5)
    flags = ("low_confidence",) if conf < LOW else ()
    return Field(cap(ln.text.strip(" ,;|")), round(conf, 3), SOURCE_OCR, ln.text, flags)


# ------------------------------------------------------------------ company

_PERSONAL_DOMAINS = frozenset(
    """gmail googlemail yahoo ymail hotmail outlook live msn icloud me mac aol gmx web mail proton protonmail
    zoho yandex qq naver daum uol bol terra ig r7 globo hotmail rocketmail comcast verizon att sbcglobal
    orange free wanadoo libero virgilio t-online""".split()
)
_SECOND_LEVEL = frozenset("co com net org ac gov edu ne or go ltd plc".split())
_STOPWORDS = frozenset("the and of for your our we you to with in a an is are".split())


def _org_label(domain: str) -> str | None:
    parts = domain.casefold().split(".")
    parts = [p for p in parts if p not in ("example", "mail", "email", "www")] or parts  # reserved / mail hosts
    if len(parts) >= 3 and parts[-2] in _SECOND_LEVEL:
        parts = parts[:-2]
    else:
        parts = parts[:-1]
    if not parts:
        return None
    label = parts[-1]
    if label in _PERSONAL_DOMAINS or len(label) < 3:
        return None
    return label


def _domain_agrees(text: str, labels: Sequence[str]) -> float:
    from rapidfuzz import fuzz

    letters = re.sub(r"[^a-z0-9]", "", fold(text))
    if len(letters) < 3:
        return 0.0
    best = 0.0
    initials = "".join(w[0] for w in words_of(text))
    for lab in labels:
        lab_l = re.sub(r"[^a-z0-9]", "", lab)
        if len(lab_l) < 3:
            continue
        if lab_l in letters or (len(letters) >= 4 and letters in lab_l):
            best = max(best, 3.0)
        elif fuzz.partial_ratio(letters, lab_l) >= 85 and min(len(letters), len(lab_l)) >= 4:
            best = max(best, 2.0)
        elif len(initials) >= 2 and (initials == lab_l or min(len(initials), len(lab_l)) >= 3 and (
                lab_l.startswith(initials) or initials.startswith(lab_l))):
            best = max(best, 2.0)
    return best


_FIRM_RE = re.compile(r"^([^\W\d_][\w'’-]+)\s*&\s*([^\W\d_][\w'’-]+)\b")


def _firm_of_surnames(text: str) -> float:
    """'Caldwell & Sutherland', 'HOFFMANN & BECKER': two family names joined by '&' name a firm
    (law, accounting, architecture); a person's name has no '&'."""
    m = _FIRM_RE.match(text.strip())
    if not m or _is_title(text):
        return 0.0
    a, b = m.group(1), m.group(2)
    if not (a[:1].isupper() and b[:1].isupper()) or min(len(a), len(b)) < 3:
        return 0.0
    generic = wordlist("company_suffixes.txt") | wordlist("company_words.txt") | {"associates", "partners", "sons", "me", "epp", "ek"}
    if any(w not in generic for w in _bare(text[m.end():])):
        return 0.0  # more than a legal form after the two names: "Cloud & AI Department"
    known = sum(fold(x) in _surnames() for x in (a, b))
    return 2.5 if known == 2 else 0.0


def _find_company(lines: list[_Ln], domains: Sequence[str], emails: Sequence[EmailHit]) -> Field | None:
    labels = [l for l in (_org_label(d) for d in domains) if l]
    heights = [l.height for l in lines if l.height > 0]
    med_h = float(np.median(heights)) if heights else 1.0
    best: tuple[float, _Ln] | None = None
    for ln in lines:
        if ln.used or ln.contact or "@" in ln.text or len(ln.text) > 100 or _JUNK_RE.search(ln.text):
            continue
        if _URLISH_RE.search(ln.text):  # a website read in pieces ("WWW. beltis com br") is no name
            continue
        ws = words_of(ln.text)
        if not ws or len(ln.text.split()) > 12:
            continue
        digits = sum(c.isdigit() for c in ln.text)
        if digits > 2:
            continue
        s = 0.0
        if _has_legal_suffix(ln.text):
            s += 3.0
        if has_phrase(ln.text, wordlist("company_words.txt")):
            s += 1.5
        s += _domain_agrees(ln.text, labels)
        s += _firm_of_surnames(ln.text)
        if med_h > 0 and ln.height / med_h >= 1.3:
            s += 1.0
        if len(ws) >= 5 and sum(w in _STOPWORDS for w in ws) >= 2 and not _has_legal_suffix(ln.text):
            s -= 2.0  # a tagline or a sentence
        if ws[0] in _first_names() and _pp_kind(ln.text) == "Person" and not _has_legal_suffix(ln.text):
            s -= 1.5
        if best is None or s > best[0]:
            best = (s, ln)
    if best is None or best[0] < 2.5:
        return None
    s, ln = best
    group = _company_lines(lines, ln)
    raw = " ".join(_strip_junk(g.text) for g in group)
    prefix = _logo_prefix(lines, group[0], raw, labels)
    if prefix:
        raw = f"{prefix} {raw}"
    elif not _distinctive(raw) and _domain_agrees(raw, labels) < 2.0:
        # Only generic words and a legal form ("Automotive GmbH", "Global Services"): the name
        # itself is most likely a logo the OCR did not read. Better no company than half of one.
        return None
    for g in group:
        g.used = "company"
    value, repaired = _repair_legal_form(raw.strip(" ,;|&"))
    conf = float(np.mean([_words_conf(g) for g in group])) * min(0.95, 0.35 + s / 8) * (0.8 if repaired else 1.0)
    flags = (("repaired",) if repaired else ()) + (("low_confidence",) if conf < LOW else ())
    return Field(cap(value), round(conf, 3), SOURCE_OCR, raw, flags, "OCR 'I' read for 'l' in the legal form" if repaired else None)


_URLISH_RE = re.compile(r"(?i)\b(?:www\d?|https?)\b|://|\s(?:com|net|org)(?:\s[a-z]{2})?$")


def _junk_token(tok: str) -> bool:
    """An icon or speck read as text: one stray letter, or at most two letters among symbols.
    Initials ('U.') and joiners ('&', '+') are kept."""
    if tok in ("&", "+") or re.fullmatch(r"[A-Z]\.", tok):
        return False
    if _legal_form_token(tok):
        return False  # "Co.," of "Co., Ltd."
    alnum = _ALNUM_RE.findall(tok)
    return len(alnum) == 0 or (len(alnum) <= 2 and (len(alnum) < len(tok) or len(tok) == 1))


def _strip_junk(text: str) -> str:
    """Drop stray marks OCR puts before a line (an icon read as 'é [l', a bullet)."""
    toks = text.split()
    while len(toks) > 1 and _junk_token(toks[0]):
        toks.pop(0)
    return " ".join(toks)


def _distinctive(text: str) -> bool:
    """A word that is neither generic (company_words), a legal form, nor a stop word."""
    generic = wordlist("company_words.txt") | wordlist("company_suffixes.txt") | _STOPWORDS
    return any(len(w) >= 2 and w not in generic for w in words_of(text))


def _logo_prefix(lines: list[_Ln], first: _Ln, name: str, labels: Sequence[str]) -> str | None:
    """The short logo word printed just above a name ('CIS' over 'Global Services'), taken only when
    an e-mail or website domain spells the two together (cisglobalservices, elementlogistic)."""
    prev = _neighbour(lines, first, -1)
    if prev is None or prev.used or prev.contact:
        return None
    name_letters = re.sub(r"[^a-z0-9]", "", fold(name))
    first_word = re.sub(r"[^a-z0-9]", "", fold(name.split()[0])) if name.split() else ""
    for tok in prev.text.split():
        t = re.sub(r"[^a-z0-9]", "", fold(tok))
        if len(t) < 2 or not re.fullmatch(r"[^\W_]+[.&]?", tok.strip("‘’'\"")):
            continue
        for lab in labels:
            lab_l = re.sub(r"[^a-z0-9]", "", lab)
            rest = lab_l[len(t):]
            if lab_l.startswith(t) and len(rest) >= 3 and (rest[:5] in name_letters or rest.startswith(first_word[:4])):
                return tok.strip("‘’'\"")
    return None


def _neighbour(lines: list[_Ln], ln: _Ln, step: int) -> _Ln | None:
    """The next line above (-1) or below (+1), skipping specks and icons."""
    j = ln.i + step
    while 0 <= j < len(lines) and lines[j].used == "noise":
        j += step
    return lines[j] if 0 <= j < len(lines) else None


def _joinable(ln: _Ln) -> bool:
    return not ln.used and not ln.contact and not re.search(r"\d", ln.text) and len(ln.text) <= 60 and \
        not _URLISH_RE.search(ln.text)


def _company_lines(lines: list[_Ln], ln: _Ln) -> list[_Ln]:
    """A name printed over two or three lines: '&, ACME' / 'International Freight' / '& Logistics Ltd.'"""
    group = [ln]
    while _neighbour(lines, group[0], -1) is not None and len(group) < 3:
        first = group[0].text.lstrip()
        prev = _neighbour(lines, group[0], -1)
        assert prev is not None
        if not _joinable(prev):
            break
        if first[:1] in "&+" or first[:1].islower() or re.match(r"(?i)(and|e|y|und|et)\b", first) or \
                prev.text.rstrip().endswith(("&", ",", "-")):
            group.insert(0, prev)
        else:
            break
    while _neighbour(lines, group[-1], 1) is not None and len(group) < 3:
        nxt = _neighbour(lines, group[-1], 1)
        assert nxt is not None
        if not _joinable(nxt):
            break
        t = _strip_junk(nxt.text.strip())
        if t[:1] in "&+" or re.match(r"(and|e|y|und|et)\b", t) or (
                _has_legal_suffix("X " + t) and len(words_of(t)) <= 4 and not _has_legal_suffix(group[-1].text)):
            group.append(nxt)
        else:
            break
    if len(group) == 1:
        group = _logo_lines(lines, group)
    return group


def _bare(text: str) -> list[str]:
    """The words of a company line without its legal form."""
    sfx = wordlist("company_suffixes.txt")
    return [w for w in words_of(" ".join(_legal_tokens(text))) if w not in sfx]


def _short_caps(ln: _Ln) -> bool:
    toks = ln.text.split()
    return 1 <= len(toks) <= 2 and all(t[:1].isupper() for t in toks) and not _is_title(ln.text) and _distinctive(ln.text)


def _personal(text: str) -> bool:
    """Looks like a person's name (a known first name first, or probablepeople says so)."""
    ws = words_of(text)
    return bool(ws) and (ws[0] in _first_names() or (len(ws) >= 2 and _pp_kind(text) == "Person"))


def _logo_lines(lines: list[_Ln], group: list[_Ln]) -> list[_Ln]:
    """A company name set as a two-line logo: 'Veloris' over 'Engineering K.K.', 'QUORIVIK' over
    'ARQUITETURA'. The short distinctive word(s) and the generic rest (trade words, legal form)
    are one name; a full line of its own on either side is not joined."""
    ln = group[0]
    body = _bare(ln.text)
    prev, nxt = _neighbour(lines, ln, -1), _neighbour(lines, ln, 1)
    if len(body) <= 2 and prev is not None and _joinable(prev) and _short_caps(prev) and not _personal(prev.text) and \
            (not _distinctive(ln.text) or _has_legal_suffix(ln.text)):
        return [prev, ln]  # the generic part (with its legal form) under the logo word
    if _short_caps(ln) and nxt is not None and _joinable(nxt) and len(nxt.text.split()) <= 3 and \
            not _distinctive(nxt.text) and not _is_title(nxt.text):
        return [ln, nxt]  # the logo word over its trade ("ARQUITETURA", "Studio LLP")
    return group


def _repair_legal_form(text: str) -> tuple[str, bool]:
    fixed = re.sub(r"\bItd\b", "Ltd", text)
    fixed = re.sub(r"\bITD\b", "LTD", fixed)
    fixed = re.sub(r"\b(?:IIc|LIc|Ilc)\b", "LLC", fixed)
    return fixed, fixed != text


def _legal_tokens(text: str) -> list[str]:
    """Folded words as legal forms are written: 'S.A.', 'S/A' -> sa, 'K.K.' -> kk, 'Itd' -> ltd."""
    t = re.sub(r"(?<=\b[a-z])[./](?=[a-z]\b)", "", fold(text))
    return ["ltd" if x == "itd" else x for x in re.sub(r"[.,]", " ", t).split()]


def _legal_form_token(tok: str) -> bool:
    """One printed token that is a legal form on its own ('Co.,', 'GmbH')."""
    return fold(re.sub(r"[^\w]", "", tok)) in wordlist("company_suffixes.txt")


def _has_legal_suffix(text: str) -> bool:
    if re.search(r"\S\s+(?:ME|EPP|[eE]\.\s?K\.)$", text.strip()):
        return True  # Brazilian micro and small firms, German sole traders: only as printed, at the end
    toks = _legal_tokens(text)
    sfx = wordlist("company_suffixes.txt")
    if len(toks) < 2:
        return False
    # the legal form is never the first word: "Co-op", "SA Power" are names
    if any(tok in sfx for tok in toks[1:]):
        return True
    joined = " ".join(toks)
    return any(" " in p and f" {p}" in f" {joined}" for p in sfx)


# ------------------------------------------------------------------ QR


def _merge_qr(c: Contact, qr: Sequence[QrPayload], reg: RegionGuess) -> Contact:
    """QR values are typed by the card's owner: they win over OCR for single values and lead lists."""
    import phonenumbers

    changes: dict[str, Any] = {}
    emails = list(c.emails)
    phones = list(c.phones)
    sites = list(c.websites)
    for p in qr:
        f = p.fields or {}
        for key in ("name", "title", "company", "address"):
            v = f.get(key)
            if isinstance(v, (list, tuple)):
                v = " ".join(str(x) for x in v if x)
            if isinstance(v, str):
                v, _ = sanitize(v)
                v = " ".join(v.split())
                if v and key not in changes:
                    changes[key] = Field(cap(v), 0.98, SOURCE_QR, v)
        for e in _as_list(f.get("emails")):
            chk = check_email(str(e).strip())
            if chk.ok and chk.normalized:
                emails = [x for x in emails if x.value.casefold() != chk.normalized.casefold()]
                emails.insert(len([x for x in emails if x.source == SOURCE_QR]), Field(chk.normalized, 0.98, SOURCE_QR, str(e)))
        for ph in _as_list(f.get("phones")):
            raw = ph.get("number") if isinstance(ph, dict) else ph
            typ = (ph.get("type") if isinstance(ph, dict) else None) or "work"
            if not raw:
                continue
            raw, _ = sanitize(str(raw))
            try:
                num = phonenumbers.parse(raw, reg.region)
                value = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164) if phonenumbers.is_valid_number(num) else None
            except phonenumbers.NumberParseException:
                value = None
            flags: tuple[str, ...] = () if value else ("invalid",)
            value = value or re.sub(r"[^\d+]", "", raw)
            if len(re.sub(r"\D", "", value)) < 6:
                continue
            key = re.sub(r"\D", "", value)[-9:]
            phones = [x for x in phones if re.sub(r"\D", "", x.number)[-9:] != key]
            t = str(typ).lower()
            t = t if t in ("work", "mobile", "fax", "other") else (label_type(t) or "other")
            printed = next((x for x in c.phones if re.sub(r"\D", "", x.number)[-9:] == key), None)
            if t == "work" and printed is not None and printed.type != "work":
                t = printed.type  # the printed label ("Mob:") is more specific than a vCard's default TEL
            phones.insert(len([x for x in phones if x.source == SOURCE_QR]), Phone(value, t, cap(raw, 80), 0.98, SOURCE_QR, flags))
        for w in _as_list(f.get("websites")):
            w, _ = sanitize(str(w).strip())
            if not re.match(r"^(?:https?://)?[\w.-]+\.[a-z]{2,}(?:[/?#]\S*)?$", w, re.I):
                continue
            key = _host(w)
            if p.kind == "url":
                # A bare link is where the code points (a profile, a landing page), not necessarily
                # the website printed on the card: keep the printed one; add the link only when it
                # is a plain site address and nothing was read.
                if any(_host(x.value) == key for x in sites):
                    continue
                if re.sub(r"^[a-z]+://[^/]+", "", w, flags=re.I).strip("/") or sites:
                    continue
            sites = [x for x in sites if _host(x.value) != key]
            sites.insert(len([x for x in sites if x.source == SOURCE_QR]), Field(cap(w), 0.98, SOURCE_QR, w))
    changes.update(emails=tuple(emails), phones=tuple(phones), websites=tuple(sites))
    return replace(c, **changes)


def _as_list(v: Any) -> list[Any]:
    if v is None:
        return []
    if isinstance(v, (list, tuple)):
        return list(v)
    return [v]


# ------------------------------------------------------------------ two readings


def _same_text(a: str, b: str) -> bool:
    return re.sub(r"[\W_]+", "", fold(a)) == re.sub(r"[\W_]+", "", fold(b))


def _scaled(f: Field, factor: float, flag: str | None = None) -> Field:
    conf = round(max(0.0, min(1.0, f.confidence * factor)), 3)
    flags = list(f.flags)
    if flag and flag not in flags:
        flags.append(flag)
    if conf < LOW and "low_confidence" not in flags:
        flags.append("low_confidence")
    if conf >= LOW and factor > 1 and "low_confidence" in flags and flag is None:
        flags.remove("low_confidence")
    return replace(f, confidence=conf, flags=tuple(flags))


def merge_readings(primary: Contact, secondary: Contact, /) -> Contact:
    """One contact from two OCR readings of the same card (two engines).

    A value both readings agree on is surer (confidence up); a value only one reading has is
    kept but less sure; where they disagree the primary's value stays, flagged for review. QR
    values (source "qr") are the same in both and pass through.
    """
    changes: dict[str, Any] = {}
    for key in ("name", "title", "company", "address"):
        a, b = getattr(primary, key), getattr(secondary, key)
        if a is None and b is None:
            continue
        if a is None:
            changes[key] = _scaled(b, 0.85)
        elif b is None:
            changes[key] = a if a.source != SOURCE_OCR else _scaled(a, 0.85)
        elif a.source != SOURCE_OCR or _same_text(a.value, b.value):
            changes[key] = _scaled(a, 1.15) if a.source == SOURCE_OCR else a
        else:
            changes[key] = _scaled(a, 0.7, "disagreement")

    def merge_list(xs: Sequence[Any], ys: Sequence[Any], keyf: Any) -> tuple[Any, ...]:
        keys_y = {keyf(y) for y in ys}
        keys_x = {keyf(x) for x in xs}
        out = [(_scaled(x, 1.1) if keyf(x) in keys_y else _scaled(x, 0.85)) if x.source == SOURCE_OCR else x for x in xs]
        out += [_scaled(y, 0.85) for y in ys if keyf(y) not in keys_x]
        return tuple(out)

    changes["emails"] = merge_list(primary.emails, secondary.emails, lambda f: f.value.casefold())
    changes["websites"] = merge_list(primary.websites, secondary.websites, lambda f: _host(f.value))
    changes["phones"] = merge_list(primary.phones, secondary.phones, lambda p: re.sub(r"\D", "", p.number)[-9:])
    if primary.region is None:
        changes["region"] = secondary.region
    return replace(primary, **changes)
