"""The company: legal forms, company words, agreement with the e-mail/website domain, logo lines."""
from __future__ import annotations

import re
from typing import Sequence

import numpy as np

from cardscan.models import SOURCE_OCR, Field
from cardscan.parsing.emails import EmailHit
from cardscan.parsing.layout import cap, fold, has_phrase, letters_of, wordlist, words_of
from cardscan.parsing.address import _aligned, _overlap
from cardscan.parsing.scripts import ends_with_firm_mark, has_job_mark
from cardscan.parsing.lines import _JUNK_RE, _URLISH_RE, LOW, _Ln, _neighbour, _strip_junk, _words_conf
from cardscan.parsing.vocab import (
    _PERSONAL_DOMAINS,
    _STOPWORDS,
    _first_names,
    _has_legal_suffix,
    _is_title,
    _legal_tokens,
    _personal,
    _pp_kind,
    _repair_legal_form,
    _surnames,
)


def _stacked(lines: list[_Ln], ln: _Ln, step: int) -> _Ln | None:
    """The line printed just above (-1) or below (+1) ``ln``: the next line in reading order,
    unless that one stands in another column (not half its width shared) and a line of ``ln``'s own
    column lies within two line heights, which is taken instead ('Dexiwick' over 'Arquitetura
    S.A.' at the left, 'Departamento Comercial' between them in reading order at the right). A
    logo with its words beside it ('TMS' | 'Automotive GmbH') has no line of its column near:
    the reading-order neighbour, as ever."""
    def gap(nb: _Ln) -> float:
        _, ay, _, ah = ln.line.box
        _, by, _, bh = nb.line.box
        return (by - (ay + ah) if step == 1 else ay - (by + bh)) / max(ah, bh, 1)

    nb = _neighbour(lines, ln, step)
    if nb is None or _overlap(nb, ln):
        return nb
    cand = _neighbour(lines, nb, step)
    while cand is not None and not _overlap(cand, ln) and gap(cand) <= 2.0:
        cand = _neighbour(lines, cand, step)
    return cand if cand is not None and _overlap(cand, ln) and gap(cand) <= 2.0 else nb


def _spelled_by_domain(lines: list[_Ln], group: list[_Ln], labels: Sequence[str]) -> list[_Ln]:
    """A name wrapped over two lines ('OLIVEIRA' / 'TAILORS') that the e-mail or website domain
    spells whole (oliveiratailors): the next line (or the one before) joins it."""
    if len(group) >= 3:
        return group
    for step in (1, -1):
        nb = _neighbour(lines, group[-1] if step == 1 else group[0], step)
        if nb is None or not _joinable(nb) or len(nb.text.split()) > 3:
            continue
        parts = [g.text for g in group]
        joined = letters_of(" ".join(parts + [nb.text] if step == 1 else [nb.text] + parts))
        if len(letters_of(nb.text)) >= 3 and any(joined in lab for lab in labels if len(lab) >= 6) \
                and not any(letters_of(" ".join(parts)) == lab for lab in labels):
            return group + [nb] if step == 1 else [nb] + group
    return group


_TAGLINE_SEP_RE = re.compile(r"\s(?:[-–—|·•]|::)\s")


def _drop_tagline(text: str, labels: Sequence[str]) -> str:
    """Company and tagline on one line ('Acme Logistics Ltd - Moving you forward'): the part
    before the mark is the name when it carries the legal form or the domain spells it, and the
    part after is words of its own (two or more, no legal form)."""
    m = _TAGLINE_SEP_RE.search(text)
    if not m:
        return text
    left, right = text[:m.start()].strip(), text[m.end():].strip()
    if len(words_of(right)) >= 2 and not _has_legal_suffix(right) and \
            (_has_legal_suffix(left) or _domain_agrees(left, labels) >= 2.0):
        return left
    return text


def _drop_repeated_logo(text: str) -> str:
    """The logo word read into the name it stands before: 'NORVEX NORVEX SYSTEMS, INC.',
    'ROVONIX Rovonix Systems' -> the name once."""
    toks = text.split()
    if len(toks) >= 2 and len(toks[0]) >= 2 and fold(toks[0]).strip(".,") == fold(toks[1]).strip(".,"):
        return " ".join(toks[1:])
    return text


_SECOND_LEVEL = frozenset("co com net org ac gov edu ne or go ltd plc".split())


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


def _one_letter_off(a: str, b: str) -> int | None:
    """Where ``a`` differs from ``b`` by one letter read for another (same length), else None."""
    if len(a) != len(b):
        return None
    diff = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
    return diff[0] if len(diff) == 1 else None


def _abbreviates(label: str, text: str) -> bool:
    """The domain label is the name shortened word by word: 'acecomm' for 'ace:daytons
    COMMUNICATIONS' (ace + comm), 'harfrei' for 'Harbor Freight Ltd'. The label must be
    the beginnings of two or three of the name's words, in order, starting with its first word:
    the first at least three letters, each of the others at least two."""
    ws = [w for w in (letters_of(t) for t in text.replace(":", " ").split()) if w]
    if len(label) < 5 or len(ws) < 2:
        return False

    def fits(rest: str, j: int, pieces: int) -> bool:
        if not rest:
            return pieces >= 2
        if pieces >= 3:
            return False
        for k in range(j, len(ws)):
            w = ws[k]
            for n in range(min(len(w), len(rest)), 1, -1):
                if (pieces or n >= 3) and rest[:n] == w[:n] and fits(rest[n:], k + 1, pieces + 1):
                    return True
            if pieces == 0:
                return False  # the first piece is the first word's beginning
        return False

    return fits(label, 0, 0)


def _hyphen_initials(label: str) -> str:
    """'hemisphere-freight' -> 'hf': the initials of a domain label's hyphenated words."""
    parts = [p for p in label.split("-") if p]
    return "".join(p[0] for p in parts) if len(parts) >= 2 else ""


def _domain_agrees(text: str, labels: Sequence[str]) -> float:
    from rapidfuzz import fuzz

    letters = letters_of(text)
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
        elif len(letters) >= 6 and _one_letter_off(letters, lab_l) is not None:
            best = max(best, 3.0)  # the domain's word with one letter misread ('BIGGROWIH')
        elif _abbreviates(lab_l, text):
            best = max(best, 2.5)
        elif (hi := _hyphen_initials(lab)) and len(text.split()) == 1 and 2 <= len(letters) <= 5 and \
                text.strip().isupper() and letters.startswith(hi):
            best = max(best, 2.5)  # the logo's letters, the domain's words ('HFS', hemisphere-freight)
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


def _find_company(lines: list[_Ln], domains: Sequence[str], emails: Sequence[EmailHit],
                  probs: Sequence[dict[str, float]] | None = None) -> Field | None:
    """The company line: scored by legal forms, company words, the domain, size; with the role
    model's probabilities (``probs``, one dict a line) a line the model is sure of gains."""
    labels = [l for l in (_org_label(d) for d in domains) if l]
    heights = [l.height for l in lines if l.height > 0]
    med_h = float(np.median(heights)) if heights else 1.0
    best: tuple[float, _Ln] | None = None
    best_m: tuple[float, _Ln] | None = None
    joined: dict[int, _Ln] = {}
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
            if 2 <= len(ws) <= 4 and ws[-1] in wordlist("company_words.txt") and _distinctive(ln.text) and \
                    ln.text.strip()[:1].isupper() and not _is_title(ln.text) and \
                    not re.search(r"&|\+|\b(?:and|und|et|e|y)\b", ln.text) and \
                    (probs is None or probs[ln.i].get("department", 0.0) + probs[ln.i].get("tagline", 0.0) < 0.5):
                s += 1.0  # a name, then its trade: 'Sharma Traders', 'Balaji Electricals'; not a
                # department ('Einkauf & Logistik') nor a tagline the role model is sure of
        agree = _domain_agrees(ln.text, labels)
        nb = _neighbour(lines, ln, 1)
        if agree < 2.0 and nb is not None and _joinable(nb) and len(nb.text.split()) <= 3 and \
                _domain_agrees(f"{ln.text} {nb.text}", labels) >= 2.5:
            agree, joined[ln.i] = 2.5, nb  # the domain shortens the name set over two lines
        s += agree
        s += _firm_of_surnames(ln.text)
        if med_h > 0 and ln.height / med_h >= 1.3:
            s += 1.0
        if len(ws) >= 5 and sum(w in _STOPWORDS for w in ws) >= 2 and not _has_legal_suffix(ln.text):
            s -= 2.0  # a tagline or a sentence
        if ws[0] in _first_names() and _pp_kind(ln.text) == "Person" and not _has_legal_suffix(ln.text):
            s -= 1.5
        if best is None or s > best[0]:
            best = (s, ln)
        if probs is not None and not _looks_personal(ws) and _words_conf(ln) >= MODEL_MIN_READ and \
                (ln.height >= 0.95 * med_h or _domain_agrees(ln.text, labels)):
            # the role model alone never picks a person's name, a line printed smaller than the
            # text, nor a line the OCR was unsure of (a logo misread, "O4ERTE": a guess on a guess)
            m = s + _model_evidence(probs[ln.i].get("company", 0.0))
            if best_m is None or m > best_m[0]:
                best_m = (m, ln)
    if (best is None or best[0] < 2.5) and best_m is not None:
        best = best_m  # the rules found none: the line the role model is sure of, with the rules' evidence
    if best is None or best[0] < 2.5:
        big = _headline(lines, med_h)
        if big is None:
            return None
        best = (2.5, big)
    s, ln = best
    group = [ln, joined[ln.i]] if ln.i in joined else _spelled_by_domain(lines, _company_lines(lines, ln), labels)
    if probs is not None:
        group = _model_lines(lines, group, probs)
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
    value, repaired = _repair_legal_form(_drop_tagline(_drop_repeated_logo(raw.strip(" ,;|&")), labels))
    message = "OCR 'I' read for 'l' in the legal form" if repaired else None
    spelled = _spelled_as_domain(value, labels)
    if spelled != value:
        value, repaired, message = spelled, True, "one letter of the name read differently from the e-mail/website domain"
    value = _spaced_as_printed(value, [l for l in lines if l not in group])
    conf = float(np.mean([_words_conf(g) for g in group])) * min(0.95, 0.35 + s / 8) * (0.8 if repaired else 1.0)
    flags = (("repaired",) if repaired else ()) + (("low_confidence",) if conf < LOW else ())
    return Field(cap(value), round(conf, 3), SOURCE_OCR, raw, flags, message)


def _spelled_as_domain(value: str, labels: Sequence[str]) -> str:
    """A word of the name that is the domain's word with one letter misread ('BIGGROWIH' beside
    biggrowth.com) is spelled as the domain spells it, in the word's own case. A domain that
    shortens the name word by word ('calestear': caleste + ar, for 'Calestead Architects') is no
    misspelling of its first word, and a word one domain of the card spells exactly is no
    misreading of another ('Dexiwick' beside dexiwick.com.br in the e-mail and a website misread
    as dextwick.com.br)."""
    spelled = [lab for lab in (letters_of(lab) for lab in labels) if not _abbreviates(lab, value)]
    out = []
    for tok in value.split():
        letters = letters_of(tok)
        if letters in spelled:
            out.append(tok)
            continue
        for lab_l in spelled:
            at = _one_letter_off(letters, lab_l) if len(letters) >= 6 and re.fullmatch(r"[^\W_]+", tok) else None
            if at is not None:
                ch = lab_l[at]
                tok = tok[:at] + (ch.upper() if tok[at].isupper() or tok.isupper() else ch) + tok[at + 1:]
                break
        out.append(tok)
    return " ".join(out)


def _spaced_as_printed(value: str, others: Sequence[_Ln]) -> str:
    """A one-word name whose letters another line prints as two to four words ('THECOUNTER' and
    'The Counter Palo Alto'): the logo's letters run together, the words are as printed there."""
    word = value.strip()
    if not re.fullmatch(r"[^\W_]{6,}", word):
        return value
    target = fold(word)
    for ln in others:
        ws = ln.text.split()
        for i in range(len(ws)):
            for n in (2, 3, 4):
                part = ws[i:i + n]
                if len(part) == n and all(re.fullmatch(r"[^\W_]+", w) for w in part) and fold("".join(part)) == target:
                    out, k = [], 0
                    for w in part:
                        out.append(word[k:k + len(w)])
                        k += len(w)
                    return " ".join(out)
    return value


MODEL_SURE = 0.5  # below this company probability the model adds nothing
MODEL_MIN_READ = 0.7  # the OCR confidence (0..1) a line needs for the role model alone to make it the company
MODEL_WEIGHT = 3.0  # what a line the model is certain of gains (the rules' bar is 2.5)


def _model_evidence(p: float) -> float:
    """The role model's company probability as score: nothing below MODEL_SURE, up to MODEL_WEIGHT."""
    return MODEL_WEIGHT * max(0.0, p - MODEL_SURE) / (1.0 - MODEL_SURE)


def _looks_personal(ws: Sequence[str]) -> bool:
    """'R. Oliveira', 'Ana Lima': a first name or an initial, then a known surname."""
    return len(ws) >= 2 and ws[-1] in _surnames() and (ws[0] in _first_names() or len(ws[0]) == 1)


def _latin(text: str) -> bool:
    """Every letter of the text is a Latin one (with its accents): 'Журналист' or '株式会社' over
    'Velmora Systems Ltd' is two scripts, not one name over two lines."""
    return all(ord(c) < 0x250 or 0x1E00 <= ord(c) < 0x1F00 for c in text if c.isalpha())


def _model_lines(lines: list[_Ln], group: list[_Ln], probs: Sequence[dict[str, float]]) -> list[_Ln]:
    """A name wrapped over two lines ('WEXBERG' / 'DENTAL CARE'): the line just above or below joins
    when the role model calls it company too and it is printed in the same size and script (the
    name in a second script is the same name again, not its second half); nothing follows a legal
    form ('Rowland & Ashby Pty. Ltd.' / 'Design. Build. Deliver.', '한빛전자 주식회사' / '영업부 과장'),
    and a line with a CJK/Hangul job word is a title, not the name's second half."""
    if len(group) != 1:
        return group
    for step in (1, -1):
        edge = group[0]
        nb = _neighbour(lines, edge, step)
        if nb is None or not _joinable(nb) or probs[nb.i].get("company", 0.0) < MODEL_SURE or \
                _looks_personal(words_of(nb.text)) or _latin(nb.text) != _latin(edge.text) or \
                _has_legal_suffix((edge if step == 1 else nb).text) or \
                ends_with_firm_mark((edge if step == 1 else nb).text) or has_job_mark(nb.text) or \
                probs[edge.i].get("company", 0.0) < MODEL_SURE or len(nb.text.split()) > 4 or \
                abs(nb.height - edge.height) > 0.15 * max(edge.height, 1.0):
            continue
        return group + [nb] if step == 1 else [nb] + group
    return group


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
    name_letters = letters_of(name)
    first_word = letters_of(name.split()[0]) if name.split() else ""
    for tok in prev.text.split():
        t = letters_of(tok)
        if len(t) < 2 or not re.fullmatch(r"[^\W_]+[.&]?", tok.strip("‘’'\"")):
            continue
        for lab in labels:
            lab_l = re.sub(r"[^a-z0-9]", "", lab)
            rest = lab_l[len(t):]
            if lab_l.startswith(t) and len(rest) >= 3 and (rest[:5] in name_letters or rest.startswith(first_word[:4])):
                return tok.strip("‘’'\"")
    return None


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


def _logo_lines(lines: list[_Ln], group: list[_Ln]) -> list[_Ln]:
    """A company name set as a two-line logo: 'Veloris' over 'Engineering K.K.', 'QUORIVIK' over
    'ARQUITETURA'. The short distinctive word(s) and the generic rest (trade words, legal form)
    are one name ('YSARA' over 'LEGAL LLP' too: one word and a legal form); a full line of its own
    on either side is not joined, nor a word over a name of two words or more with its own
    ('Dyrlæge' over 'Velmora Systems Ltd': a job title in a language the vocabularies do not know)."""
    ln = group[0]
    body = _bare(ln.text)
    # a generic body ('Arquitetura S.A.') looks for its logo word in its own column
    prev = _neighbour(lines, ln, -1) if _distinctive(" ".join(body)) else _stacked(lines, ln, -1)
    nxt = _neighbour(lines, ln, 1)
    if len(body) <= 2 and prev is not None and _joinable(prev) and _short_caps(prev) and \
            (not _personal(prev.text) or _aligned(prev, ln)) and \
            (not _distinctive(" ".join(body)) or (_has_legal_suffix(ln.text) and len(body) == 1)):
        return [prev, ln]  # the generic part (with its legal form) under the logo word
    if _short_caps(ln) and nxt is not None and _joinable(nxt) and len(nxt.text.split()) <= 3 and \
            not _distinctive(nxt.text) and not _is_title(nxt.text):
        return [ln, nxt]  # the logo word over its trade ("ARQUITETURA", "Studio LLP")
    return group


HEADLINE = 1.5  # x the median line height: print this large that is not the holder's name is the logo


def _headline(lines: list[_Ln], med_h: float) -> _Ln | None:
    """The card's largest print, when it is no name, title, sentence or number: the logo text."""
    free = [l for l in lines if not l.used and not l.contact and l.height > 0]
    if not free or med_h <= 0:
        return None
    top = max(free, key=lambda l: l.height)
    ws = words_of(top.text)
    if top.height < HEADLINE * med_h or not ws or len(top.text.split()) > 4 or re.search(r"\d", top.text) or \
            _is_title(top.text) or any(w in _STOPWORDS for w in ws) or _words_conf(top) < MODEL_MIN_READ or \
            top.i > len(lines) / 2 or _JUNK_RE.search(top.text) or _URLISH_RE.search(top.text):
        return None
    return top
