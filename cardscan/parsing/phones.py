"""Phone numbers from OCR'd card lines, typed by their printed label, and the card's own region.

``phonenumbers.PhoneNumberMatcher`` finds and validates numbers (it already refuses dates and page
ranges); digit runs with OCR look-alikes (O for 0, l/I for 1) are repaired and kept only when the
validator accepts them. A labelled run the validator refuses is kept as printed, flagged
``invalid``, with low confidence.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace, field
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberMatcher, PhoneNumberType

from cardscan.parsing.layout import MAX_LINE_CHARS, fold, tld_region, words_of

log = logging.getLogger(__name__)

# phonenumbers compiles its metadata's patterns through re.compile on every use; trying a number in
# several regions needs more of them than the re module's cache keeps (512), so a card recompiled
# about 27 of them (0.008 s CPU a photo over the dev cards). Its own cache keeps each one once.
phonenumbers.enable_pattern_cache()

# Printed labels (folded: lower case, no accents, punctuation as spaces) -> phone type.
_LABELS: dict[str, str] = {}
for _type, _words in {
    "work": """tel telephone phone ph p t office off direct dir d dl telefone fone fixo telefono
        tlf tfno tlfn telf telefon tf w work b business bureau buro main landline dt
        tollfree freephone pbx switchboard""",
    "mobile": """m mob mobile mobil cell cel celular cellular cellphone handphone hp handy portable
        port movil gsm whatsapp wa whats zap dd keitai c""",
    "fax": "f fax telefax fx facsimile fac",
    "other": "home res resi residence pager beeper",
}.items():
    for _w in _words.split():
        _LABELS.setdefault(_w, _type)
_TWO_WORD_LABELS = {"dien thoai": "work", "h p": "mobile", "di dong": "mobile", "toll free": "work",
                    "mobile phone": "mobile", "cell phone": "mobile", "tel fax": "fax", "phone fax": "fax",
                    "home phone": "other", "work phone": "work", "office phone": "work"}
_SINGLE_LETTER = {k for k in _LABELS if len(k) == 1}
_TYPE_PRIORITY = {"fax": 3, "mobile": 2, "other": 1, "work": 0}

# Labels that mean the digits are not a phone number at all.
_NOT_PHONE = frozenset(
    """cnpj cpf rg ie im vat tva ust ustid idnr mst abn acn ein tin gst siret siren nif nie cif rut rfc reg
    registration registro license licence lic creci crm oab crea skype id zip cep postal postcode pin box
    iban swift bic account acct conta agencia invoice order ref tax code mst""".split()
)

_SEP_TRANS = str.maketrans({"·": ".", "•": ".", "∙": ".", "⋅": ".", "–": "-", "—": "-", "‒": "-", "−": "-", "‑": "-"})
_RUN_RE = re.compile(r"(?<![A-Za-z\d])\(?\+?[\dOoIl](?:[\dOoIl]|[ ().\-/](?=[\dOoIl( ])){6,24}[\dOoIl)]?(?![A-Za-z\d])")
_CONFUSABLE = str.maketrans({"O": "0", "o": "0", "I": "1", "l": "1"})
# digit groups joined by colons: a middle dot ("248·343·5976") read by OCR as ":". Times ("9:30")
# have too few digits to match.
_COLON_GROUPS_RE = re.compile(r"(?<![\d:])\d{2,4}(?:[:.\-]\d{2,4}){2,3}(?![\d:])")


def _colons_to_dashes(text: str) -> str:
    def fix(m: re.Match[str]) -> str:
        g = m.group(0)
        return g.replace(":", "-") if ":" in g and sum(c.isdigit() for c in g) >= 9 else g
    return _COLON_GROUPS_RE.sub(fix, text)
_REGIONS = frozenset(phonenumbers.SUPPORTED_REGIONS)


@dataclass(frozen=True)
class PhoneHit:
    number: str  # E.164 when valid, else the digits as printed
    type: str
    raw: str  # printed text with its label
    line: int
    confidence: float  # how sure the rule is (0..1); the parse stage multiplies in OCR confidence
    flags: tuple[str, ...] = ()
    message: str | None = None
    span: tuple[int, int] = (0, 0)  # where in the line


@dataclass(frozen=True)
class RegionGuess:
    region: str
    source: str  # "card" (printed on it), "default" (the caller's), "fallback" (US, nothing else known)
    evidence: dict[str, float] = field(default_factory=dict)


def _tokens(segment: str) -> list[str]:
    return [t for t in re.split(r"[^a-z0-9]+", fold(segment)) if t]


def label_type(segment: str, /) -> str | None:
    """Type named by the label at the end of segment ('Tel:', 'Mobile phone', 'H.P.'), or None."""
    toks = _tokens(segment)
    if not toks:
        return None
    found: list[str] = []
    if len(toks) >= 2 and f"{toks[-2]} {toks[-1]}" in _TWO_WORD_LABELS:
        found.append(_TWO_WORD_LABELS[f"{toks[-2]} {toks[-1]}"])
    for j, t in enumerate(reversed(toks[-3:])):
        if t.isdigit():
            break
        if t in _LABELS and (t not in _SINGLE_LETTER or j == 0):
            found.append(_LABELS[t])
    if not found:
        return None
    return max(found, key=lambda k: _TYPE_PRIORITY[k])


def _forbidden_label(segment: str) -> bool:
    return any(t in _NOT_PHONE for t in _tokens(segment)[-3:])


def _region_hint(segment: str) -> str | None:
    """A country code printed in the label, as in 'TEL (VN mobile):' or 'JP (+81)'."""
    for tok in reversed(re.findall(r"\b[A-Z]{2}\b", segment)):
        if tok in _REGIONS and tok.casefold() not in _LABELS:
            return tok
    return None


def _type_of(num: phonenumbers.PhoneNumber) -> str:
    t = phonenumbers.number_type(num)
    if t == PhoneNumberType.MOBILE:
        return "mobile"
    if t in (PhoneNumberType.PAGER, PhoneNumberType.PERSONAL_NUMBER):
        return "other"
    return "work"


def _e164(num: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(num, PhoneNumberFormat.E164)


def _parse_valid(text: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        num = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as e:
        log.debug("not a phone number %r: %s", text, e.error_type)
        return None
    return num if phonenumbers.is_valid_number(num) else None


def _split_run(run: str, region: str) -> list[tuple[int, str, phonenumbers.PhoneNumber]] | None:
    """Two numbers printed side by side ('650 321 3900 650 321 3902'): split at a space if both halves are valid."""
    for k in (k for k, c in enumerate(run) if c == " "):
        a, b = run[:k], run[k + 1:]
        na, nb = _parse_valid(a, region), _parse_valid(b, region)
        if na is not None and nb is not None:
            return [(0, a, na), (k + 1, b, nb)]
    return None


def _trim_run(run: str, region: str) -> tuple[str, phonenumbers.PhoneNumber] | None:
    """A number followed by extension digits ('+90 324 238 05 40-41-42'): drop up to two trailing groups."""
    cut = run
    for _ in range(2):
        m = re.search(r"[\s.\-/]+\d{1,4}\)?$", cut)
        if not m or m.start() == 0:
            return None
        cut = cut[: m.start()]
        num = _parse_valid(cut, region)
        if num is not None:
            return cut, num
    return None


def _after_bar(run: str, region: str) -> tuple[str, phonenumbers.PhoneNumber] | None:
    """The number after a separator bar OCR read as a digit or a look-alike: a run that is no valid
    number, whose first character is '1' (or l, I) and whose rest, every digit of it, is one
    ("T | 05 36 49 07 28" read "T 10536 49 07 28", "Fax | 0536..." read "Fax l0536...")."""
    if len(run) < 8 or run[0] not in "1lI" or not (run[1].isdigit() or run[1] == " ") or \
            _parse_valid(run.translate(_CONFUSABLE), region) is not None:
        return None
    rest = run[1:].lstrip()
    num = _parse_valid(rest.translate(_CONFUSABLE), region)
    return (rest, num) if num is not None else None


def _digits_as_printed(run: str) -> str:
    run = run.replace("(0)", "")
    d = re.sub(r"\D", "", run)
    return ("+" + d) if run.lstrip().startswith(("+", "(+")) else d


def find_phones(
    lines: Sequence[str],
    /,
    region: RegionGuess,
    *,
    left_labels: dict[int, str] | None = None,
) -> list[PhoneHit]:
    """Phones in reading order, each number once."""
    hits: list[PhoneHit] = []
    seen: set[str] = set()
    left_labels = left_labels or {}
    for i, line in enumerate(lines):
        text = _colons_to_dashes(line[:MAX_LINE_CHARS].translate(_SEP_TRANS))
        text, back = _unglue_labels(text)
        found = [replace(h, span=(back[h.span[0]], back[max(h.span[1] - 1, h.span[0])] + 1))
                 for h in _find_in_line(text, i, region, left_labels.get(i))]
        for h in found:
            key = re.sub(r"\D", "", h.number)[-9:]
            if key in seen:
                continue
            seen.add(key)
            hits.append(h)
    areas = _area_codes(hits)
    if areas:
        for i, line in enumerate(lines):
            text = line[:MAX_LINE_CHARS].translate(_SEP_TRANS)
            for h in _without_area_code(text, i, areas, [x.span for x in hits if x.line == i]):
                key = re.sub(r"\D", "", h.number)[-9:]
                if key not in seen:
                    seen.add(key)
                    hits.append(h)
        hits.sort(key=lambda h: (h.line, h.span[0]))
    return hits


MAX_AREAS = 4  # areas tried for a number printed without one (a hostile card prints dozens)


def _area_codes(hits: Sequence[PhoneHit]) -> list[tuple[PhoneHit, int, str]]:
    """(hit, country code, area code) of the card's valid fixed-line numbers whose country has
    geographic area codes, first printed first."""
    out = []
    for h in hits:
        if "invalid" in h.flags or not h.number.startswith("+"):
            continue
        num = phonenumbers.parse(h.number)
        n = phonenumbers.length_of_geographical_area_code(num)
        if n and phonenumbers.number_type(num) in (PhoneNumberType.FIXED_LINE, PhoneNumberType.FIXED_LINE_OR_MOBILE):
            area = (num.country_code, phonenumbers.national_significant_number(num)[:n])
            if all((c, a) != area for _, c, a in out):
                out.append((h, *area))
    return out[:MAX_AREAS]


_LOCAL_RE = re.compile(r"(?<![\w+(])\d(?:[ \-]?\d){4,7}(?![\w)])")  # 6-8 digits: a local number


def _without_area_code(text: str, i: int, areas: Sequence[tuple[PhoneHit, int, str]],
                       taken: Sequence[tuple[int, int]]) -> list[PhoneHit]:
    """Labelled numbers printed without the area code another number of the card prints
    ("Tel: +91 522 2612345", then "Fax: 2612346"): each is read in the first such area where it
    is a valid fixed-line number. A guess on the card's word, so flagged for review; a run with
    no phone label before it (a postal code, a date) is never taken."""
    out = []
    prev_end = 0
    for m in _LOCAL_RE.finditer(text):
        if any(a < m.end() and m.start() < b for a, b in taken):
            prev_end = max(prev_end, m.end())
            continue
        prefix = text[max([prev_end] + [b for _, b in taken if b <= m.start()]):m.start()]
        prev_end = m.end()
        typ = label_type(prefix)
        if typ is None or _forbidden_label(prefix) or re.search(r"\d", prefix.strip(" ,;|/:.-")[-12:]):
            continue
        digits = re.sub(r"\D", "", m.group(0))
        for src, cc, area in areas:
            num = _parse_valid(f"+{cc}{area}{digits}", None)
            if num is not None and phonenumbers.number_type(num) in (PhoneNumberType.FIXED_LINE,
                                                                      PhoneNumberType.FIXED_LINE_OR_MOBILE):
                label_text = prefix.strip(" ,;|/")[-40:]
                out.append(PhoneHit(_e164(num), typ, f"{label_text} {m.group(0)}".strip(), i, 0.55,
                                    ("low_confidence",),
                                    f"printed without its area code; the area code is that of {src.raw!r}",
                                    (m.start(), m.end())))
                break
    return out


_GLUED_AFTER_RE = re.compile(r"(?<=\d)[A-Za-z][A-Za-z.\-]*")  # "555-0112Fax", "0011Mobile:"
_GLUED_BEFORE_RE = re.compile(r"(?<![A-Za-z\d])[A-Za-z]{1,6}\.?(?=\+?\d)")  # "T+81 3 ...", "Tel0123 ..."
_OTHER_LABELS = frozenset({"email", "e-mail", "mail", "web", "www", "website", "url"})


def _unglue_labels(text: str) -> tuple[str, list[int]]:
    """A label the OCR ran into a number ("555-0112Fax (304)...", "Tel:+44 ...0011Mobile: ...",
    "T+81 ..."): a space put between them, so both numbers are found. Also returns, for every
    position of the new text, the position in `text` it came from (hits keep the original spans)."""
    cuts: set[int] = set()
    for m in _GLUED_AFTER_RE.finditer(text):
        word = m.group(0).rstrip(".-").casefold()
        if len(word) >= 2 and (_LABELS.get(word) or word in _OTHER_LABELS):
            cuts.add(m.start())
    for m in _GLUED_BEFORE_RE.finditer(text):
        word = m.group(0).rstrip(".").casefold()
        if word in _LABELS:
            cuts.add(m.end())
    if not cuts:
        return text, list(range(len(text) + 1))
    out, back = [], []
    for k, ch in enumerate(text):
        if k in cuts:
            out.append(" ")
            back.append(k)
        out.append(ch)
        back.append(k)
    back.append(len(text))
    return "".join(out), back


_CONTINUATION_RE = re.compile(r"\s*[,/;&]\s*(\d{2,8})(?![\d.\-])(?=\s*(?:$|[,/;&]|\d|\+))")


def _continuations(text: str, spans: list) -> list:  # type: ignore[type-arg]
    """Short runs right after a number that are its last digits: "0522-2612345, 2612346",
    "+44 20 7946 0000 / 01 / 02" print more lines of the same exchange. Each run, 2 digits or more
    and fewer than the number's own, replaces that many of its last digits; taken when the result
    is valid and only another number, a separator or the line's end follows it."""
    out = []
    taken = [(sp[0], sp[1]) for sp in spans]
    for start, end, num, _raw, _flags in spans:
        if num is None:
            continue
        nsn = phonenumbers.national_significant_number(num)
        pos = end
        while (m := _CONTINUATION_RE.match(text, pos)) is not None:
            digits = m.group(1)
            if len(digits) >= len(nsn) or any(a < m.end(1) and m.start(1) < b for a, b in taken):
                break
            more = _parse_valid(f"+{num.country_code}{nsn[:-len(digits)]}{digits}", None)
            if more is None:
                break
            out.append((m.start(1), m.end(1), more, digits, ("continued",)))
            pos = m.end(1)
    return out


def _find_in_line(text: str, i: int, region: RegionGuess, left_label: str | None) -> list[PhoneHit]:
    spans: list[tuple[int, int, phonenumbers.PhoneNumber | None, str, tuple[str, ...]]] = []
    for m in PhoneNumberMatcher(text, region.region, leniency=phonenumbers.Leniency.VALID, max_tries=50):
        spans.append((m.start, m.end, m.number, m.raw_string, ()))
    # digit runs the matcher did not take: OCR look-alikes, or labelled numbers the validator refuses
    for m in _RUN_RE.finditer(text):
        if any(s < m.end() and m.start() < e for s, e, *_ in spans):
            continue
        run = m.group(0)
        ndig = sum(c.isdigit() for c in run)
        if ndig < 6:
            continue
        bar = _after_bar(run, region.region)
        if bar is not None:  # "T | 05 36 49 07 28" read "T 10536 49 07 28"
            spans.append((m.start(), m.end(), bar[1], bar[0], ("bar",)))
            continue
        fixed = run.translate(_CONFUSABLE)
        if fixed != run:
            num = _parse_valid(fixed, region.region)
            if num is not None:
                spans.append((m.start(), m.end(), num, run, ("repaired",)))
            continue
        parts = _split_run(run, region.region) if ndig >= 14 else None
        if parts:
            for off, sub, num in parts:
                spans.append((m.start() + off, m.start() + off + len(sub), num, sub, ()))
            continue
        trimmed = _trim_run(run, region.region)
        if trimmed is not None:
            spans.append((m.start(), m.start() + len(trimmed[0]), trimmed[1], trimmed[0], ("trimmed",)))
            continue
        if 9 <= ndig <= 15:
            spans.append((m.start(), m.end(), None, run, ("invalid",)))
    spans += _continuations(text, spans)
    spans.sort(key=lambda s: s[0])

    out: list[PhoneHit] = []
    prev_end = 0
    prev_typ: str | None = None
    for k, (start, end, num, raw_num, flags) in enumerate(spans):
        prefix = text[prev_end:start]
        next_start = spans[k + 1][0] if k + 1 < len(spans) else len(text)
        suffix = text[end:next_start]
        prev_end = end
        if _forbidden_label(prefix):
            continue
        typ = label_type(prefix)
        label_text = prefix.strip(" ,;|/")[-40:] if typ else ""
        if typ is None and k + 1 == len(spans) and not re.search(r"\d", suffix):
            toks = _tokens(suffix)
            if 0 < len(toks) <= 2 and label_type(suffix) and toks[0] in _LABELS:
                typ = label_type(suffix)
                label_text = suffix.strip()
        if typ is None and not prefix.strip(" :.-|") and left_label:
            typ = label_type(left_label)
            label_text = left_label.strip() if typ else ""
        if typ is None and prev_typ and re.fullmatch(r"\s*(?:[,/;&]|or|ou|o|oder)\s*", prefix):
            typ = prev_typ  # a list under one label: "Mob.: 98390 12345, 94150 67890"
        prev_typ = typ
        hint = _region_hint(prefix)
        raw = f"{label_text} {raw_num}".strip() if typ and label_text and label_text != suffix.strip() else (
            f"{raw_num} {label_text}".strip() if label_text else raw_num.strip())
        hit = _make_hit(num, raw_num, raw, typ, flags, hint, region, i, (start, end))
        if hit is not None:
            out.append(hit)
    return out


NO_PLUS = "the country code printed without '+' (or after 00)"


def _marked_abroad(raw: str) -> bool:
    """An unlabelled number printed the international way: after 00, or its country code in
    brackets ("(852) 2345 6789"). A bare "41-58 176 5275" may be a misread local number."""
    return bool(re.match(r"\s*(?:00[1-9]|\(\d{1,3}\))", raw))


def international(raw: str) -> phonenumbers.PhoneNumber | None:
    """A number its region's rules refuse that is valid when read as international: the country
    code printed without '+' ("852 2345 6789", "(82) 2-1234-5678") or after the 00 prefix
    ("00971 4 123 4567")."""
    digits = re.sub(r"\D", "", raw.replace("(0)", ""))
    if not 9 <= len(digits) <= 17 or digits.startswith("0") and not digits.startswith("00"):
        return None
    digits = digits[2:] if digits.startswith("00") else digits
    return _parse_valid("+" + digits, None)


def _make_hit(num, raw_num, raw, typ, flags, hint, region: RegionGuess, i, span) -> PhoneHit | None:
    plus = raw_num.lstrip("( ").startswith("+")
    message = None
    conf = 0.95 if typ else 0.85
    if num is not None and not plus and hint and hint != region.region:
        renum = _parse_valid(raw_num.translate(_CONFUSABLE), hint)
        if renum is not None:
            num = renum
            message = f"country taken from the label ({hint})"
    if num is None and hint and "repaired" not in flags:
        num = _parse_valid(raw_num, hint)
        message = f"country taken from the label ({hint})" if num is not None else None
    if num is None and not plus and "repaired" not in flags and (typ is not None or _marked_abroad(raw_num)):
        num = international(raw_num)
        if num is not None:
            message = NO_PLUS
            flags = tuple(f for f in flags if f != "invalid")
            if region.source == "card" and phonenumbers.region_code_for_number(num) != region.region:
                # the card says another country: the digits may be a misread local number
                flags = flags + ("low_confidence",)
                conf *= 0.5
    if num is None:
        # validator refused it: keep only labelled runs, as printed, with low confidence
        if typ is None:
            return None
        digits = _digits_as_printed(raw_num)
        try:
            possible = phonenumbers.parse(raw_num.replace("(0)", ""), hint or region.region)
        except phonenumbers.NumberParseException:
            possible = None
        # the right length for its country, only not in an allocated range: written as E.164 only
        # when the country is known (printed, from the label, or read off the card); otherwise the
        # digits stay as printed rather than gaining a country code nobody printed
        known = plus or hint is not None or region.source in ("card", "default")
        if known and possible is not None and phonenumbers.is_possible_number(possible):
            digits = _e164(possible)

        return PhoneHit(digits, typ, raw, i, 0.3, ("invalid", "low_confidence"),
                        _invalid_message(raw_num, hint, region, plus), span)
    if "continued" in flags:
        flags = tuple(f for f in flags if f != "continued")
        message = "its first digits are those of the number before it"
        if region.source != "card" and phonenumbers.region_code_for_number(num) == region.region:
            flags = flags + ("inferred_region",)  # as the number before it: no country printed
    if "trimmed" in flags:
        flags = tuple(f for f in flags if f != "trimmed")
        message = "trailing extension digits left out"
        conf *= 0.9
    if "repaired" in flags:
        conf *= 0.5
        flags = flags + ("low_confidence",)
        message = "OCR look-alike letters read as digits (O->0, l/I->1); check the number"
    if "bar" in flags:
        flags = tuple(f for f in flags if f != "bar") + ("repaired", "low_confidence")
        conf *= 0.5
        message = "a '1' before the number left out (a separator bar '|' read as 1); check the number"
    if not plus and message is None:
        if region.source != "card":
            flags = flags + ("inferred_region",)
            conf *= 0.8 if region.source == "default" else 0.7
            message = f"country not printed; assumed {region.region}"
        if "inferred_region" in flags and conf < 0.6:
            flags = flags + ("low_confidence",)
    if typ is None and _type_of(num) == "mobile" and message is None:
        message = "no label printed; the number is a mobile number"
    return PhoneHit(_e164(num), typ or "work", raw, i, conf, flags, message, span)


_READ_AS = {"card": "the country the card names", "default": "the default region (--region or the config)",
            "fallback": "nothing on the card names its country"}


def _invalid_message(raw_num: str, hint: str | None, region: RegionGuess, plus: bool) -> str:
    """Why a labelled number was refused, saying which country it was read as and, when it is a
    valid number of other countries, which ones (those writing it as printed first) and how to
    read it as theirs."""
    if plus:
        return "phonenumbers does not accept this number for any country; kept as printed"
    as_region = hint or region.region
    why = "the country its label names" if hint else _READ_AS.get(region.source, region.source)
    head = f"read as a {as_region} number ({why}), and {as_region} has no such number"
    ranked = _valid_in(raw_num.replace("(0)", "").strip())
    if not ranked:
        return f"{head}, nor has any other country; kept as printed"
    names = [r for _, r in ranked]
    shown = ", ".join(names[:3]) + (f" (and {len(names) - 3} others)" if len(names) > 3 else "")
    best = names[0] if ranked[0][0] < 2 else None  # printed the way that country writes it
    if region.source == "card" or hint:
        fix = f"if it is a {best} number, type it with +{phonenumbers.country_code_for_region(best)}" if best \
            else "type it with its +country code"
    elif best:
        fix = f"if the card is from {best}, scan it with --region {best}"
    else:
        fix = "give the card's country with --region CC"
    return f"{head}; it is a valid number of {shown}: {fix}; kept as printed"


def _groups(text: str) -> list[int]:
    return [len(g) for g in re.findall(r"\d+", text)]


@lru_cache(maxsize=256)
def _valid_in(printed: str) -> tuple[tuple[int, str], ...]:
    """(rank, region) of the regions whose valid numbers these national digits are (phonenumbers'
    own tables): rank 0 where the national format is exactly the printed text, 1 where it groups
    the digits the same way, 2 for the others; best first."""
    ranked = []
    for r in _REGIONS:
        try:
            num = phonenumbers.parse(printed, r)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(num) and phonenumbers.region_code_for_number(num) == r:
            national = phonenumbers.format_number(num, PhoneNumberFormat.NATIONAL)
            rank = 0 if national.split() == printed.split() else 1 if _groups(national) == _groups(printed) else 2
            ranked.append((rank, r))
    return tuple(sorted(ranked))


# ---------------------------------------------------------------- region inference

_US_STATES = (
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY "
    "NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY"
).split()
_US_STATE_NAMES = (
    "alabama alaska arizona arkansas california colorado connecticut delaware florida georgia hawaii idaho "
    "illinois indiana iowa kansas kentucky louisiana maine maryland massachusetts michigan minnesota "
    "mississippi missouri montana nebraska nevada ohio oklahoma oregon pennsylvania tennessee texas utah "
    "vermont virginia washington wisconsin wyoming"
).split()
_US_ZIP_RE = re.compile(r"\b(?:%s)\.?,?\s*\d{5}(?:-\d{4})?\b" % "|".join(_US_STATES))
_US_STATE_ZIP_RE = re.compile(r"\b(?:%s|new \w+|north \w+|south \w+|west virginia|rhode island)\.?,?\s+\d{5}(?:-\d{4})?\b"
                              % "|".join(_US_STATE_NAMES), re.I)
_BR_CEP_RE = re.compile(r"\b\d{5}-\d{3}\b")
_UK_POST_RE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s+\d[A-Z]{2}\b")
_CA_POST_RE = re.compile(r"\b[A-Z]\d[A-Z]\s?\d[A-Z]\d\b")
_JP_POST_RE = re.compile(r"〒\s*\d{3}-?\d{4}")
_JP_CONTEXT_RE = re.compile(r"\b\d{3}-\d{4}\b.*\b(?:\w+-ku|tokyo|osaka|kyoto|\w+-shi|\w+-ken)\b|"
                            r"\b(?:\w+-ku|tokyo|osaka|kyoto|\w+-shi|\w+-ken)\b.*\b\d{3}-\d{4}\b", re.I)
_PLUS_RE = re.compile(r"\+\s*\(?\s*\d[\d\s().\-]{5,20}\d")
_EXTRA_COUNTRY_NAMES = {
    "usa": "US", "u s a": "US", "united states of america": "US", "uk": "GB", "u k": "GB", "england": "GB",
    "scotland": "GB", "wales": "GB", "great britain": "GB", "vietnam": "VN", "viet nam": "VN",
    "brasil": "BR", "deutschland": "DE", "espana": "ES", "nippon": "JP", "italia": "IT", "schweiz": "CH",
    "suisse": "CH", "osterreich": "AT", "nederland": "NL", "belgique": "BE", "belgie": "BE",
}
_AMBIGUOUS_COUNTRY_NAMES = frozenset({"georgia", "jordan", "chad", "niger", "guinea", "turkey", "china", "france",
                                      "israel", "india", "jersey", "man", "congo", "mali"})


COUNTRY_NAME_LANGS = ("en", "pt", "es", "fr", "de", "it", "vi")


@lru_cache(maxsize=1)
def _country_names() -> dict[str, str]:
    """Folded country name -> region, in several languages: each region's name as phonenumbers'
    geocoder gives it for the region's example number (``geocoder.country_name_for_number``; none
    when that number is valid in several regions of its calling code, as Saint Martin's is in
    Guadeloupe's), read from the geocoder's own table of names without loading its 30 files of
    number prefixes (0.58 -> about 0.1 s, once a run in the process that forks the workers)."""
    locale = _locale_data()
    names: dict[str, str] = {}
    for r in sorted(phonenumbers.SUPPORTED_REGIONS):
        ex = phonenumbers.example_number(r)
        if ex is None:
            continue
        codes = phonenumbers.region_codes_for_country_code(ex.country_code)
        shown = codes if len(codes) == 1 else [c for c in codes if phonenumbers.is_valid_number_for_region(ex, c)]
        if len(shown) != 1:
            continue
        for lang in COUNTRY_NAME_LANGS:
            key = " ".join(words_of(_display_name(locale, shown[0], lang)))
            if len(key) >= 4:
                names.setdefault(key, r)
    names.update(_EXTRA_COUNTRY_NAMES)
    for k in _AMBIGUOUS_COUNTRY_NAMES:
        names.pop(k, None)
    return names


def _locale_data() -> dict[str, dict[str, str]]:
    """phonenumbers' table of region names by language (``geodata/locale.py``), loaded by itself:
    importing it the usual way first imports every file of the geocoder's prefix data (0.25 s).
    Where that file is not where this phonenumbers keeps it, the usual import."""
    import importlib.util

    path = Path(phonenumbers.__file__).parent / "geodata" / "locale.py"
    try:
        spec = importlib.util.spec_from_file_location("phonenumbers.geodata.locale", path)
        if spec is None or spec.loader is None:
            raise ImportError(path)
        module = importlib.util.module_from_spec(spec)  # not registered: a later normal import loads its own
        spec.loader.exec_module(module)
        return module.LOCALE_DATA
    except (ImportError, OSError, AttributeError, SyntaxError):
        from phonenumbers.geodata.locale import LOCALE_DATA

        return LOCALE_DATA


def _display_name(locale: dict[str, dict[str, str]], region: str, lang: str) -> str:
    """As ``geocoder._region_display_name``: a name "*xx" stands for the region's name in language xx."""
    d = locale.get(region, {})
    name = d.get(lang, "")
    return d.get(name[1:], "") if name.startswith("*") else name


def _countries_in(line: str) -> list[str]:
    ws = words_of(line)
    names = _country_names()
    out = []
    for n in (4, 3, 2, 1):
        for j in range(len(ws) - n + 1):
            key = " ".join(ws[j:j + n])
            if key in names:
                out.append(names[key])
    # upper-case short forms only as printed: "USA", "UK", "U.S.A."
    for m in re.finditer(r"\b(USA|U\.S\.A\.?|UK|U\.K\.)(?![\w.])", line):
        out.append("US" if m.group(1).startswith("U.S") or m.group(1) == "USA" else "GB")
    return out


def infer_region(lines: Sequence[str], /, domains: Sequence[str] = (), *, default: str | None = None) -> RegionGuess:
    """The card's own country from what is printed on it, else the caller's default, else US."""
    score: dict[str, float] = {}

    def add(r: str | None, w: float) -> None:
        if r and r != "001":
            score[r] = score.get(r, 0.0) + w

    for line in lines:
        line = line[:MAX_LINE_CHARS]
        for m in _PLUS_RE.finditer(line.translate(_SEP_TRANS)):
            try:
                num = phonenumbers.parse(m.group(0).replace("(0)", ""), None)
            except phonenumbers.NumberParseException:
                continue
            add(phonenumbers.region_code_for_country_code(num.country_code), 3.0 if phonenumbers.is_valid_number(num) else 1.5)
        for r in set(_countries_in(line)):
            add(r, 3.0)
        if _US_ZIP_RE.search(line) or _US_STATE_ZIP_RE.search(line):
            add("US", 2.0)
        if _BR_CEP_RE.search(line):
            add("BR", 2.0)
        if _UK_POST_RE.search(line):
            add("GB", 2.0)
        if _CA_POST_RE.search(line):
            add("CA", 2.0)
        if _JP_POST_RE.search(line) or _JP_CONTEXT_RE.search(line):
            add("JP", 2.5)
    for d in domains:
        add(tld_region(d), 2.0)
    if score:
        best = max(score, key=lambda r: score[r])
        if score[best] >= 2.0:
            return RegionGuess(best, "card", score)
    if default:
        return RegionGuess(default.upper(), "default", score)
    return RegionGuess("US", "fallback", score)


# Words that mark a card's language (folded). Only used when nothing printed names the country: the
# regions speaking it are tried, and the phone numbers themselves decide (see parse).
_LANG_WORDS: dict[str, tuple[frozenset[str], tuple[str, ...]]] = {
    "pt": (frozenset("de da do das dos e rua av avenida ltda celular cel telefone fone comercial diretor diretora "
                     "consultor consultora gerente vendas campanhas criacao nao sao joao".split()), ("BR", "PT")),
    "es": (frozenset("de del la las los y calle avenida gerente ventas director directora telefono movil "
                     "celular oficina empresa".split()), ("ES", "MX", "AR", "CO", "CL", "PE")),
    "de": (frozenset("und der die das strasse str gmbh geschaftsfuhrer telefon mobil vertrieb leiter".split()),
           ("DE", "AT", "CH")),
    "fr": (frozenset("de des du la le les et rue avenue directeur directrice commercial portable bureau".split()),
           ("FR", "BE", "CH", "CA")),
    "it": (frozenset("di della del via viale piazza direttore commerciale ufficio cellulare srl spa".split()), ("IT",)),
}


def language_regions(lines: Sequence[str], /) -> tuple[str, ...]:
    """Regions whose language the card is printed in (most marked words first), e.g. ('BR', 'PT')."""
    words = [w for line in lines for w in words_of(line[:MAX_LINE_CHARS])]
    hits = {lang: sum(w in vocab for w in words) for lang, (vocab, _) in _LANG_WORDS.items()}
    out: list[str] = []
    for lang, n in sorted(hits.items(), key=lambda kv: -kv[1]):
        if n >= 2:
            out += [r for r in _LANG_WORDS[lang][1] if r not in out]
    return tuple(out)


def region_of(e164: str, /) -> str:
    """The region of an E.164 number ("+85223456789" -> "HK"; "" when unknown)."""
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(e164)) or ""
    except phonenumbers.NumberParseException:
        return ""
