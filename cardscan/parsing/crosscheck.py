"""An e-mail address checked against what else the card prints: its website, its company, its
holder's name.

OCR misreads one letter of an address as readily as any other word, and a follow-up sent to such an
address bounces or reaches a stranger. The card usually prints the same words more than once: the
domain as the website, the company's name in the logo, the holder's name in the local part. Where
the address is one or two letters away from one of them it is flagged for review; where two other
sources agree against it (the website and the company's name), the address takes their spelling
and is marked repaired.
"""
from __future__ import annotations

import re
from dataclasses import replace
from typing import Sequence

from rapidfuzz.distance import Levenshtein

from cardscan.models import Field
from cardscan.parsing.emails import l_or_i, name_patterns
from cardscan.parsing.layout import fold, letters_of, words_of
from cardscan.parsing.lines import LOW
from cardscan.parsing.vocab import _PERSONAL_DOMAINS
from cardscan.parsing.web import _host, written_out

NEAR = 2  # letters: a domain this close to the website's, and not the same, is one of them misread
LONG_LOCAL = 7  # letters: a local part this long two letters from the holder's name is flagged too
MIN_LABEL = 5  # shorter names are too easily one letter from another word


def _label(domain: str) -> str:
    """The name part of a domain: 'wexeris' of 'wexeris.com.br' (the first label)."""
    return domain.casefold().split(".")[0]


def _flag(f: Field, message: str) -> Field:
    return replace(f, confidence=round(min(f.confidence, LOW), 3),
                   flags=tuple(dict.fromkeys(f.flags + ("low_confidence",))), message=f.message or message)


def _same_site(domain: str, host: str) -> bool:
    return domain == host or domain.endswith("." + host) or host.endswith("." + domain)


def check_email(f: Field, hosts: Sequence[str], company: str | None, name: str | None) -> Field:
    """One e-mail field against the card's website hosts, company and holder's name (the company
    as printed: a company respelled after the domain is no evidence for it). A lone capital I is
    settled first; an address it leaves in doubt is flagged and checked no further."""
    if f.source != "ocr" or "@" not in f.value:
        return f
    got = l_or_i(f.value, words_of(name) if name else ())
    if got is not None and not got[1]:
        return _flag(f, "a capital I among lower-case letters: an l or an i? Check the spelling")
    if got is not None:
        f = replace(f, value=got[0], flags=tuple(dict.fromkeys(f.flags + ("repaired",))),
                    message=f.message or "a capital I read where the name spells the letter")
    local, _, domain = f.value.rpartition("@")
    domain = domain.casefold()
    label = _label(domain)
    firm = letters_of(company) if company else ""
    firm_mail = label not in _PERSONAL_DOMAINS  # gmail.com says nothing of the company or website
    if firm_mail and hosts and not any(_same_site(domain, h) for h in hosts):
        near = [h for h in hosts if len(h) >= 6 and Levenshtein.distance(h, domain) <= NEAR]
        if near:
            host = near[0]
            if firm and _label(host) in firm and label not in firm:
                # the website and the company's name spell it alike: the address was misread
                return replace(f, value=f"{local}@{host}", flags=tuple(dict.fromkeys(f.flags + ("repaired",))),
                               message=f.message or f"domain read as {domain}; the website and the company spell it {host}")
            return _flag(f, f"the domain differs from the website {host}: one of them is misread")
    elif firm_mail and not hosts and firm and len(label) >= MIN_LABEL and label not in firm:
        words = [w for w in words_of(company or "") if len(w) >= MIN_LABEL]
        close = next((w for w in words if Levenshtein.distance(w, label) == 1), None)
        if close is not None:
            return _flag(f, f"the domain is one letter away from the company's name {close!r}: check it")
    if name:
        letters = re.sub(r"[^a-z]", "", fold(local))
        pats = name_patterns(words_of(name))
        if len(letters) >= MIN_LABEL and letters not in pats:
            close = next((p for p in sorted(pats) if len(p) >= MIN_LABEL and Levenshtein.distance(p, letters) == 1), None)
            if close is not None:
                return _flag(f, "the address is one letter away from the holder's name: check it")
            if len(letters) >= LONG_LOCAL:
                close = next((p for p in sorted(pats) if len(p) >= LONG_LOCAL and Levenshtein.distance(p, letters) == 2), None)
                if close is not None:
                    return _flag(f, "the address is two letters away from the holder's name: check it")
    return f


MIN_NAME_LETTERS = 4  # "yliu" for Yang Liu
AT_READ_AS = "gq"  # letters OCR reads a small '@' as ("tkatogexample.com"; the symbols are repaired earlier)


def mail_in_site(site: str, name: str | None) -> tuple[str, str] | None:
    """(the e-mail address, the letter read for its '@') when a bare website is the holder's
    name, then a letter where an '@' belongs, then a domain: "tkatogexample.com" on Taro Kato's
    card is tkato@example.com read with a 'g' for its '@'. None otherwise, and for a site written
    as one ("www.", "https://"). The name decides, as in ``name_patterns``: its words whole or by
    their initials, at least one whole word of 3 letters or more, and MIN_NAME_LETTERS or more."""
    if not name or written_out(site) or "/" in site:
        return None
    pats = {p for p in name_patterns(words_of(name)) if len(p) >= MIN_NAME_LETTERS}
    host = site.casefold()
    for k, ch in enumerate(host):
        if ch not in AT_READ_AS or k == 0:
            continue
        local, domain = host[:k], host[k + 1:]
        if "." not in domain or len(domain.split(".")[0]) < 2 or local.endswith((".", "-", "_")):
            continue
        if re.sub(r"[^a-z]", "", fold(local)) in pats:
            return f"{local}@{domain}", ch
    return None


def domain_seen(domain: str, hosts: Sequence[str], company: str | None) -> str | None:
    """``domain`` as the card gives it elsewhere, or None: an e-mail domain or website host spelled
    the same or one letter away by its name before the top-level domain (that host's spelling is
    returned: "exampie.net" read where the card's website says "example.net"), a personal mail
    service, or a name the company's name (as printed) holds."""
    label = _label(domain)
    if label in _PERSONAL_DOMAINS:
        return domain
    near = sorted((Levenshtein.distance(label, _label(h)), -i, h) for i, h in enumerate(hosts) if len(_label(h)) >= 4)
    if near and near[0][0] <= 1:  # the closest; of two as close, the one given last (websites come last)
        h = near[0][2].casefold().removeprefix("www.")
        return h if "." in h else domain
    firm = letters_of(company) if company else ""
    return domain if len(label) >= 4 and label in firm else None


def check_site(f: Field, others: Sequence[Field], company: str | None, value: str | None = None) -> Field:
    """One website against the card's other websites and its company's name (as printed):
    flagged when its name (before the top-level domain) is one letter away from a word of the
    company's name ("www.quenberg.fr" on Queniberg Conseil's card), or, written bare, one letter
    away from a website the card writes in full ("hkelowick.in" beside "www.kelowick.in"). Not
    when the company's name, as printed or as given (``value``, repaired after the domain), spells
    the site, whole or by initials and words ("tbrave" for Techno Brave)."""
    if f.source != "ocr" or "low_confidence" in f.flags:
        return f
    host = _host(f.value)
    label = _label(host)
    if len(label) < MIN_LABEL:
        return f
    spelled = any(label in letters_of(c) or label in name_patterns(words_of(c))
                  for c in (company, value) if c)
    if company and not spelled:
        close = next((w for w in words_of(company) if len(w) >= MIN_LABEL and Levenshtein.distance(w, label) == 1), None)
        if close is not None:
            return _flag(f, f"the site's name is one letter away from the company's name {close!r}: check it")
    for o in others:
        if o is f or (written_out(f.value) and not written_out(o.value)):
            continue  # of a site written out and a bare one, the bare one is in doubt
        other = _host(o.value)
        if _label(other) != label and Levenshtein.distance(other, host) <= 2:
            # ("acme.de" and "acme.fr" are two sites; "lumoeta.com.br" and "lumoela.com.br" one, misread)
            return _flag(f, f"one or two letters away from the card's website {o.value}: one of them is misread")
    return f


_WW_RE = re.compile(r"(?i)^(?:ww|wwww+)\.(?=[a-z0-9-]+\.[a-z])")


def repair_www(f: Field) -> Field:
    """"ww.example.com", "wwww.example.com": the "www." of a website misread, repaired and flagged."""
    if f.source != "ocr" or not _WW_RE.match(f.value):
        return f
    return replace(f, value=_WW_RE.sub("www.", f.value), flags=tuple(dict.fromkeys(f.flags + ("repaired",))),
                   message=f.message or f"read as {f.value}: the 'www.' misread")
