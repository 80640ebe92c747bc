"""The job title: a line with a role word near the name, departments and places left out."""
from __future__ import annotations

import re
from typing import Sequence

from cardscan.models import SOURCE_OCR, Field
from cardscan.parsing.layout import cap, has_phrase, wordlist, words_of
from cardscan.parsing.lines import _JUNK_RE, LOW, _Ln, _words_conf
from cardscan.parsing.vocab import _is_title, _is_title_word

_DEPARTMENT_WORDS = frozenset("department dept division departamento abteilung departement team".split())


# a line led by one of these names a department unless it also names a role ("Area Manager")
_DEPARTMENT_LEADS = frozenset("service servicio servico area bereich setor sector".split())


_ROLE_NOUNS = frozenset("manager director head lead supervisor coordinator engineer specialist representative "
                        "officer executive gerente diretor director responsable chef leiter".split())


MODEL_OTHER = 0.9  # a line the role model calls a tagline or department this surely is no title


_OFFICE_WORDS = frozenset("office offices headquarters hq".split())


def _ends_in_role(ws: Sequence[str]) -> bool:
    """The line's last word, or its last two, name a role ('Team Lead', 'Team Leader')."""
    return bool(ws) and ws[-1] not in _DEPARTMENT_WORDS and (
        _is_title_word(ws[-1]) or " ".join(ws[-2:]) in wordlist("title_words.txt"))


def _find_title(lines: list[_Ln], name: tuple[_Ln, Field] | None,
                probs: Sequence[dict[str, float]] | None = None) -> Field | None:
    if name is not None and name[1].value != name[0].text.strip(" ,;|"):
        segs = [x.strip() for x in name[0].text.split(",")[1:]]
        for seg in segs:
            if _is_title(seg) and not re.search(r"\d", seg):
                return Field(cap(seg), round(_words_conf(name[0]) * 0.7, 3), SOURCE_OCR, name[0].text)
        toks, ntoks = name[0].text.split(), name[1].value.split()
        if toks[:len(ntoks)] == ntoks:  # the name was cut from the front of its line: the rest is the role
            rest = re.sub(r"^[\s|,/(–—-]+", "", " ".join(toks[len(ntoks):])).rstrip(" )")
            if rest and _is_title(rest) and not re.search(r"\d", rest):
                return Field(cap(rest), round(_words_conf(name[0]) * 0.7, 3), SOURCE_OCR, name[0].text)
    cands: list[tuple[float, _Ln]] = []
    for ln in lines:
        if ln.used or ln.contact or "@" in ln.text or len(ln.text) > 80 or _JUNK_RE.search(ln.text):
            continue
        ws = words_of(ln.text)
        if not ws or len(ln.text.split()) > 9 or sum(c.isdigit() for c in ln.text) > 0:
            continue
        if not _is_title(ln.text):
            continue
        if probs is not None and probs[ln.i].get("tagline", 0.0) + probs[ln.i].get("department", 0.0) >= MODEL_OTHER:
            continue  # a title word in a tagline ("Ihr Partner für Logistik"): the role model is sure it is one
        if any(w in _DEPARTMENT_WORDS for w in ws) and not _ends_in_role(ws) or \
                has_phrase(ln.text, wordlist("company_suffixes.txt")):
            continue  # "Sales Department", "Marketing Team"; but "Team Leader", "Team Lead" are roles
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
