"""Websites on the card: found (also when misread or spaced out), checked against the e-mail domains."""
from __future__ import annotations

import re
from dataclasses import replace
from typing import Sequence

from cardscan.models import SOURCE_OCR, Field
from cardscan.parsing.domains import is_public_suffix, repair_ending, tld_exists
from cardscan.parsing.emails import EmailHit
from cardscan.parsing.layout import cap, known_tlds
from cardscan.parsing.lines import LOW, _Ln, _words_conf
from cardscan.parsing.vocab import _PERSONAL_DOMAINS

_SITE_RE = re.compile(
    r"(?<![\w@.:/-])(?:https?://)?(?:www\d?\s?[.,]\s?)?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.){1,4}[a-z]{2,24}"
    r"(?::\d{2,5})?(?:/[\w\-./%?=&#~+]*)?(?![\w@])",
    re.I,
)


_WWW_SPACES_RE = re.compile(r"\b(?:https?://)?www\d?\s?[.,]\s?[a-z0-9-]+(?:\.\s?[a-z0-9-]+)*\.\s[a-z]{2,3}\b", re.I)


_NOT_SITE_LABELS = frozenset("e.g i.e a.m p.m".split())
# free-mail brands no other name ends in: "name39ldgmail.com" is an e-mail whose '@' was misread
_MAIL_BRANDS = ("gmail", "googlemail", "yahoo", "hotmail", "outlook", "icloud", "protonmail", "rocketmail")


# the line's label before a bare domain says e-mail ("E: ryan.caldwellgexample.au"): an address whose
# '@' was misread, not a site
# (a few spaces after it at most: an e-mail before the domain is masked out as spaces)
_MAIL_LABEL_RE = re.compile(r"(?i)^\W*(?:e-?mail|mail|e)\s?[:.|]?\s{0,3}$")


# OCR misreadings of a URL scheme ("hittps://", "htps;//", "http//"): repaired in place, padded
# with spaces on the left so the positions of everything after it stay the same
_SCHEME_RE = re.compile(r"(?i)(?<![a-z])h[il1]?t{1,2}[il1]?p(s?)(?:[:;.,]/{1,2}|//)(?=[a-z0-9])")


def _repair_scheme(text: str) -> str:
    def fix(m: re.Match[str]) -> str:
        canon = f"http{m.group(1).lower()}://"
        g = m.group(0)
        return g if g.lower() == canon or len(g) < len(canon) else " " * (len(g) - len(canon)) + canon
    return _SCHEME_RE.sub(fix, text)


def _find_websites(masked: Sequence[str], misread: list[tuple[int, tuple[int, int]]] | None = None,
                   ) -> list[tuple[int, tuple[int, int], str]]:
    """The websites of the lines, as (line, span, value). ``misread``, when given, collects the spans
    of bare domains printed after an e-mail label: addresses whose '@' was misread, no site."""
    out: list[tuple[int, tuple[int, int], str]] = []
    seen: set[str] = set()
    for i, text in enumerate(masked):
        text = _WWW_SPACES_RE.sub(lambda m: re.sub(r"\s+", "", m.group(0)), _repair_scheme(text))
        for m in _SITE_RE.finditer(text):
            raw = m.group(0).rstrip(".,/")
            v = re.sub(r"^(www\d?)\s?[.,]\s?", r"\1.", raw, flags=re.I)
            host = _host(v)
            fixed = repair_ending(host) if written_out(v) else None
            if fixed:
                v = v.replace(host.rsplit(".", 1)[-1], fixed.rsplit(".", 1)[-1]) if v.islower() else v[: v.lower().rfind(host.rsplit(".", 1)[-1])] + fixed.rsplit(".", 1)[-1] + v[v.lower().rfind(host.rsplit(".", 1)[-1]) + len(host.rsplit(".", 1)[-1]):]
                host = fixed
            labels = host.split(".")
            tld = labels[-1].casefold()
            explicit = written_out(v)
            # a site written as one ("www.", "https://") may end in any existing top-level domain;
            # a bare "word.word" only in a common one ("Inc.robert" is no site)
            if not (tld_exists(tld) if explicit else tld in known_tlds()) or host.casefold() in _NOT_SITE_LABELS:
                continue
            if len(labels) >= 2 and is_public_suffix(host):
                continue  # "co.in", "com.br": an ending alone (the name before it was lost), no site
            if not explicit:
                if m.start() > 0 and not text[m.start() - 1].isspace() and text[m.start() - 1] not in ":|(<[":
                    continue  # glued to other text ("ricknog3?dgmail.com"): a misread e-mail, not a site
                if _MAIL_LABEL_RE.match(text[:m.start()]):
                    if misread is not None:  # "E: name.surnamegexample.com": an e-mail whose '@' was misread
                        misread.append((i, (m.start(), m.start() + len(raw))))
                    continue
                if labels[-2].casefold() in _PERSONAL_DOMAINS:
                    continue  # gmail.com is nobody's website
                if labels[-2].casefold().endswith(_MAIL_BRANDS):
                    continue  # "name39ldgmail.com": an e-mail whose '@' was misread, not a site
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


def _email_domains(email_hits: Sequence[EmailHit | Field]) -> list[str]:
    """The domains of the addresses (hits or fields), personal mail services left out."""
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


def written_out(site: str) -> bool:
    """A site written as one ("www.", "https://"), not a bare "name.com"."""
    return bool(re.match(r"(?:https?://|www\d?\.)", site, re.I))


def _host(url: str) -> str:
    h = re.sub(r"^[a-z]+://", "", url, flags=re.I).split("/")[0].split(":")[0]
    return re.sub(r"^www\d?\.", "", h, flags=re.I).casefold()


def _site_field(v: str, ln: _Ln) -> Field:
    explicit = written_out(v)
    conf = _words_conf(ln) * (0.95 if explicit else 0.8)
    flags = ("low_confidence",) if conf < LOW else ()
    return Field(v, round(conf, 3), SOURCE_OCR, v, flags)
