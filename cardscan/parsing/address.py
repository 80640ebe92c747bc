"""The postal address: lines scored for street, unit, postal-code and country evidence, joined into blocks."""
from __future__ import annotations

import re
from typing import Sequence

import numpy as np

from cardscan.models import SOURCE_OCR, Field
from cardscan.parsing.layout import cap, words_of
from cardscan.parsing.lines import LOW, _Ln, _words_conf
from cardscan.parsing.phones import PhoneHit, _countries_in
from cardscan.parsing.region import SIX_DIGIT_POST_RE
from cardscan.parsing.vocab import _has_legal_suffix

_EMAIL_TOKEN_RE = re.compile(r"\S+[@©®＠]\S+")


_LONE_ICON_RE = re.compile(r"(?:(?<=\s)|^)[@©®＠•·|](?=\s|$)")


_STREET_WORDS = frozenset(
    """street st road rd avenue ave av avda avenida blvd boulevard lane ln drive dr way court ct place pl
    square sq highway hwy parkway pkwy circle cir terrace ter plaza alley rua r travessa alameda rodovia
    estrada praca calle carrera paseo camino rue allee chemin strasse str weg platz allee gasse via viale
    avenija ulica ul utca cesta ulitsa sokak sok cadde caddesi jalan jl
    piazza corso duong pho ngo quan phuong chome dori machi marg nagar chowk bazar bazaar market sector colony
    gali""".split()
)


# compound street names: "Hafenstraße" (casefolded to -strasse), "Lindenweg", "Kerkstraat", "Parklaan"
_STREET_SUFFIXES = ("strasse", "str", "weg", "platz", "allee", "gasse", "damm", "straat", "laan", "plein", "gatan", "vej")


_UNIT_WORDS = frozenset(
    """suite ste floor fl bldg building unit room rm andar sala piso etage tower house apt apartment
    office of box bloco conj conjunto loja city ward district province prefecture ku shi shop plot flat""".split()
)


# how Korean, Japanese and Chinese write an address's parts: a word ending in its unit (Korean
# spaces them: "서울특별시 강남구 테헤란로 123"; Chinese and Japanese run them together: "上海市浦东新区
# 世纪大道100号", "東京都新宿区西新宿2-8-1")
_HANGUL_UNIT_RE = re.compile(r"[\uac00-\ud7a3](?:시|도|구|군|읍|면|동|로|길|층|호|번지)(?=[\s,\d]|$)")
_HAN_UNIT_RE = re.compile(r"[\u4e00-\u9fff\u3040-\u30ff](?:都|道|府|県|省|市|区|區|县|縣|町|村|丁目|番地|路|街|号|號|楼|樓)")


# the same units romanised, joined to the name by a hyphen: "129 Samsung-ro, Yeongtong-gu,
# Suwon-si, Gyeonggi-do", "Shibuya-ku", "Nishi-shinjuku" is no unit ("shinjuku" is not one)
_ROMANISED_UNIT_RE = re.compile(r"\b[A-Z][a-z]+-(?:ro|gil|gu|gun|si|do|dong|eup|myeon|ku|shi|ken|cho|machi)\b")


def _cjk_units(text: str) -> int:
    return len(_HANGUL_UNIT_RE.findall(text)) + len(_HAN_UNIT_RE.findall(text)) + len(_ROMANISED_UNIT_RE.findall(text))


_ADDR_LABEL_RE = re.compile(r"^\s*(?:address|addr|add|endere[cç]o|adresse|direcci[oó]n|dia chi|địa chỉ|anschrift)\s*[:.]\s*", re.I)


_POSTAL_RES = (
    re.compile(r"\b[A-Z]{2}\.?,?\s*\d{5}(?:-\d{4})?\b"),  # US state + ZIP
    re.compile(r"\b\d{5}-\d{3}\b"),  # BR CEP
    re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s+\d[A-Z]{2}\b"),  # UK
    re.compile(r"\b[A-Z]\d[A-Z]\s?\d[A-Z]\d\b"),  # CA
    re.compile(r"〒?\s*\b\d{3}-\d{4}\b"),  # JP
    re.compile(r"\b(?:[A-Z]{1,2}-)?\d{4,5}\s+[A-ZÀ-Ý][A-Za-zÀ-ÿ]{2,}"),  # continental Europe "75008 Paris", "B-9000 Gent"
    SIX_DIGIT_POST_RE,  # IN, SG, CN: "Lucknow - 226001", "PIN: 560001"
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
    units = _cjk_units(text)
    if units >= 3 or (units == 2 and has_num):
        s += 2.0  # "서울특별시 강남구 테헤란로 123", "東京都新宿区西新宿2-8-1"
    from cardscan.parsing.phones import _US_STATE_ZIP_RE

    if _US_STATE_ZIP_RE.search(text) or _US_CODE_ZIP_RE.search(text):
        s += 1.5
    if _countries_in(text):
        s += 0.75
    return s


def _span(ln: _Ln) -> tuple[float, float]:
    x, _, w, _ = ln.line.box
    return float(x), float(x + w)


def _overlap(a: _Ln, b: _Ln) -> bool:
    """The two lines share at least half of the narrower one's width."""
    (a0, a1), (b0, b1) = _span(a), _span(b)
    return min(a1, b1) - max(a0, b0) >= 0.5 * min(a1 - a0, b1 - b0) > 0


def _below(a: _Ln, b: _Ln) -> bool:
    """``b`` continues ``a``'s column: printed just under it (at most 1.5 line heights between),
    across the same width."""
    _, ay, _, ah = a.line.box
    _, by, _, bh = b.line.box
    return b.i > a.i and _overlap(a, b) and by - (ay + ah) <= 1.5 * max(ah, bh, 1)


def _by_columns(lines: Sequence[_Ln]) -> list[_Ln]:
    """The lines in column order: each followed by the first later line that shares its width
    (lines of other columns in between are skipped), then the next chain. One column keeps its
    order; a card with a left and a right column gives the left one whole, then the right."""
    left = list(lines)
    out: list[_Ln] = []
    while left:
        cur = left.pop(0)
        out.append(cur)
        while True:
            nxt = next((k for k, x in enumerate(left) if _below(cur, x)), None)
            if nxt is None:
                break
            cur = left.pop(nxt)
            out.append(cur)
    return out


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
    # Lines side by side (the address on the left, phone numbers on the right) are read row by
    # row; an address block is looked for down its own column.
    order = {id(ln): k for k, ln in enumerate(_by_columns(lines))}
    scored.sort(key=lambda x: order[id(x[0])])
    # A line ending in a comma that the next line of its column continues ("38B Trieu Viet Vuong,"
    # / "Hai Ba Trung, Ha Noi") is one address printed over two lines.
    for k in range(len(scored) - 1):
        (a, sa, pa), (b, sb, pb) = scored[k], scored[k + 1]
        if sa > 0 and pa.rstrip().endswith(",") and _below(a, b) and not b.contact and \
                re.match(r"^[A-ZÀ-Ý0-9]", pb) and len(pb.split()) <= 8 and \
                sum(c.isalpha() for c in pb) >= max(3, sum(c.isdigit() for c in pb)) and _aligned(a, b):
            scored[k] = (a, sa + 1.0, pa)
            scored[k + 1] = (b, max(sb, 0.5), pb)
    blocks: list[list[tuple[_Ln, float, str]]] = []
    cur: list[tuple[_Ln, float, str]] = []
    for item in (x for x in scored if x[1] > 0):
        gap = order[id(item[0])] - order[id(cur[-1][0])] if cur else 0
        if cur and not _below(cur[-1][0], item[0]):
            gap = 99  # the next column: another block
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
