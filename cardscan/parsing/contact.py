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
from typing import Sequence

from cardscan.models import SOURCE_OCR, Contact, Field, OcrResult, Phone, QrPayload
from cardscan.parsing.address import _find_address
from cardscan.parsing.company import _find_company
from cardscan.parsing.domains import by_region
from cardscan.parsing.emails import EmailHit, find_emails
from cardscan.parsing.layout import cap, text_to_ocr
from cardscan.parsing.lines import LOW, _left_labels, _leftover_letters, _Ln, _mask_emails, _prepare, _words_conf
from cardscan.parsing.person import _find_name
from cardscan.parsing.phones import NO_PLUS, PhoneHit, RegionGuess, find_phones, infer_region, region_of
from cardscan.parsing import crosscheck, roles, scripts
from cardscan.parsing.qrmerge import _merge_qr
from cardscan.parsing.readings import merge_readings
from cardscan.parsing.region import _region_from_numbers, misgrouped, pointed_to
from cardscan.parsing.scripts import find_other_name
from cardscan.parsing.titles import _find_title
from cardscan.parsing.web import (
    _check_site_against_emails,
    _email_domains,
    _find_websites,
    _host,
    _site_field,
    _sites_spelled_like_email_domains,
)

log = logging.getLogger(__name__)

__all__ = ["merge_readings", "parse", "parse_text"]


def parse_text(text: str, /, *, region: str | None = None) -> Contact:
    """Parse plain text lines (no layout: equal heights, confidence 90)."""
    return parse(text_to_ocr(text), region=region)


@dataclass
class _Read:
    """What the first half of the parse found: the working lines (contact lines marked), e-mails,
    websites, phones and the card's region. The role model and its training read the same."""

    lines: list[_Ln]
    email_hits: list[EmailHit]
    site_hits: list[tuple[int, tuple[int, int], str]]
    mail_domains: list[str]
    domains: list[str]
    reg: RegionGuess
    phone_hits: list[PhoneHit]


def _read_lines(ocr: OcrResult, region: str | None = None) -> _Read:
    lines = _prepare(ocr)
    texts = [l.text for l in lines]

    email_hits = find_emails(texts)
    masked = [_mask_emails(t) for t in texts]
    misread: list[tuple[int, tuple[int, int]]] = []  # an address after an e-mail label, its '@' misread
    site_hits = _find_websites(masked, misread)
    for li, (s, e) in misread:  # no site, and no name or company either: the line is contact print
        masked[li] = masked[li][:s] + " " * (e - s) + masked[li][e:]
        lines[li].contact = True
    mail_domains = _email_domains(email_hits)
    site_hits += _sites_spelled_like_email_domains(masked, site_hits, mail_domains)
    for li, (s, e), _ in site_hits:
        masked[li] = masked[li][:s] + " " * (e - s) + masked[li][e:]
    domains = [h.value.rsplit("@", 1)[1] for h in email_hits] + [_host(v) for _, _, v in site_hits]
    reg = infer_region(texts, domains, default=region)

    left = _left_labels(lines)
    phone_hits = find_phones(masked, reg, left_labels=left)
    abroad = [h for h in phone_hits if h.message == NO_PLUS]  # "852 2345 6789": a country code without '+'
    if reg.source == "fallback" and (any(not h.number.startswith("+") for h in phone_hits) or misgrouped(phone_hits)
                                     or (not phone_hits and pointed_to(texts)) or abroad):
        reg, phone_hits = _region_from_numbers(masked, texts, reg, phone_hits, left,
                                               tuple(region_of(h.number) for h in abroad))

    if any(h.repairs for h in email_hits):
        email_hits = [_ending_by_region(h, phone_hits) for h in email_hits]
        mail_domains = _email_domains(email_hits)
        domains = [h.value.rsplit("@", 1)[1] for h in email_hits] + [_host(v) for _, _, v in site_hits]
    for h in email_hits:
        lines[h.line].contact = True
    for li, _, _ in site_hits:
        lines[li].contact = True
    for h in phone_hits:
        lines[h.line].contact = True
    for l, m in zip(lines, masked):
        if l.contact and _leftover_letters(m, l.i, phone_hits) < 3:
            l.used = l.used or "contact"
    return _Read(lines, list(email_hits), list(site_hits), list(mail_domains), domains, reg, list(phone_hits))


def line_features(ocr: OcrResult) -> tuple[list[_Ln], list[dict[str, float]]]:
    """The working lines of a reading and the role model's features for each, exactly as ``parse``
    computes them (scripts/train_roles.py trains on these)."""
    r = _read_lines(ocr)
    _find_address(r.lines, r.phone_hits)
    return r.lines, roles.features(r.lines, r.email_hits, r.domains)


def parse(ocr: OcrResult, /, qr: Sequence[QrPayload] = (), *, region: str | None = None,
          use_model: bool = True) -> Contact:
    """use_model=False decides name, title and company by the rules alone (no line-role model)."""
    r = _read_lines(ocr, region)
    lines, email_hits, site_hits, phone_hits, reg = r.lines, r.email_hits, r.site_hits, r.phone_hits, r.reg
    domains = r.domains

    emails = tuple(_email_field(h, lines) for h in email_hits)
    phones = tuple(_phone(h, lines) for h in phone_hits)
    websites = tuple(_site_field(v, lines[li]) for li, _, v in site_hits)

    address = _find_address(lines, phone_hits)
    probs = roles.role_probs(lines, email_hits, domains) if use_model else None  # None: the rules alone
    name = _find_name(lines, email_hits)
    other_name = find_other_name(lines, name[0] if name else None)
    if other_name and other_name[0] is not None:
        other_name[0].used = "name"
    title = _find_title(lines, name, probs)
    company = _find_company(lines, domains, email_hits, probs)
    # a card printed in Chinese or Japanese only: those fields in that script
    if name is None and (found := scripts.find_script_name(lines)) is not None:
        name = found
    if title is None:
        title = scripts.find_script_title(lines, name[0] if name else None)
    if title is not None and re.fullmatch(r"\([^()]+\)", title.value):
        title = replace(title, value=title.value[1:-1].strip())  # "(Proprietor)" under the name
    if company is None:
        company = scripts.find_script_company(lines)

    # each address against the card's website, company and holder's name; then each website
    # against the addresses as they now stand
    hosts = [_host(w.value) for w in websites]
    printed = (company.raw or company.value) if company else None
    emails = tuple(crosscheck.check_email(f, hosts, printed, name[1].value if name else None) for f in emails)
    emails, websites = _mail_read_as_site(emails, websites, name[1].value if name else None, printed)
    websites = tuple(_check_site_against_emails(w, _email_domains(emails)) for w in websites)
    websites = tuple(crosscheck.repair_www(w) for w in websites)
    websites = tuple(crosscheck.check_site(w, websites, printed, company.value if company else None) for w in websites)

    contact = Contact(
        name=name[1] if name else None,
        title=title,
        company=company,
        address=address,
        other_name=other_name[1] if other_name else None,
        emails=emails,
        phones=phones,
        websites=websites,
        region=reg.region,
        raw_text=ocr.text,
    )
    if qr:
        contact = _merge_qr(contact, qr, reg)
    return contact


def _mail_read_as_site(emails: tuple[Field, ...], websites: tuple[Field, ...], name: str | None,
                       company: str | None) -> tuple[tuple[Field, ...], tuple[Field, ...]]:
    """A bare website that is the holder's name, a letter where an '@' belongs and a domain may
    be the holder's e-mail, misread (``crosscheck.mail_in_site``). When the card gives that
    domain elsewhere (``crosscheck.domain_seen``) it is no website: the address is given instead,
    flagged for review, unless the card gives it already. Otherwise ("marksmithgallery.com" on
    Mark Smith's card may be his gallery) the site stays, flagged for review."""
    keep, more = [], []
    have = {e.value.casefold() for e in emails}
    for w in websites:
        got = crosscheck.mail_in_site(w.value, name) if w.source == SOURCE_OCR else None
        if got is None:
            keep.append(w)
            continue
        address, ch = got
        domain = address.rsplit("@", 1)[1]
        others = [e.value.rsplit("@", 1)[1] for e in emails] + [_host(x.value) for x in websites if x is not w]
        seen = crosscheck.domain_seen(domain, others, company)
        if seen is None:
            keep.append(replace(w, confidence=round(min(w.confidence, LOW), 3),
                                flags=tuple(dict.fromkeys(w.flags + ("low_confidence",))),
                                message=w.message or f"may be the e-mail {address}, read with {ch!r} for its '@'"))
            continue
        address = f"{address.rsplit('@', 1)[0]}@{seen}"
        if address not in have:
            have.add(address)
            more.append(Field(address, round(min(w.confidence, LOW), 3), SOURCE_OCR, raw=w.raw or w.value,
                              flags=("repaired", "low_confidence"),
                              message=f"read as the website {w.value}: the holder's name, then {ch!r} where an '@' belongs"))
    return emails + tuple(more), tuple(keep)


def _ending_by_region(h: EmailHit, phone_hits: Sequence[PhoneHit]) -> EmailHit:
    """An address whose top-level domain does not exist and has several repairs: the one in the
    country of the card's phone numbers, if exactly one is ("...@ubemoz.comz" with +258 numbers)."""
    if not h.repairs:
        return h
    import phonenumbers

    regions = set()
    for p in phone_hits:
        if p.number.startswith("+"):
            try:
                regions.add(phonenumbers.region_code_for_number(phonenumbers.parse(p.number)) or "")
            except phonenumbers.NumberParseException:
                continue
    pick = by_region(list(h.repairs), regions)
    if pick is None:
        return h
    tld = pick.rsplit(".", 1)[-1]
    return replace(h, value=pick, repaired=True, known_tld=True, repairs=(),
                   message=f"no top-level domain '{h.value.rsplit('.', 1)[-1]}' exists; read as "
                           f"'{pick.rsplit('@', 1)[1]}', as the card's phone numbers are in {tld.upper()}")


def _email_field(h: EmailHit, lines: list[_Ln]) -> Field:
    ln = lines[h.line]
    conf = _words_conf(ln) * (0.55 if h.repaired else 0.98) * (1.0 if h.known_tld else 0.6)
    flags: list[str] = []
    if h.repaired:
        flags.append("repaired")
    if conf < LOW or not h.known_tld:
        flags.append("low_confidence")
    msg = h.message if h.repaired else (None if h.known_tld else "no such top-level domain; check the spelling")
    return Field(h.value, round(conf, 3), SOURCE_OCR, h.raw, tuple(dict.fromkeys(flags)), msg)


def _phone(h: PhoneHit, lines: list[_Ln]) -> Phone:
    conf = round(h.confidence * _words_conf(lines[h.line]), 3)
    flags = list(h.flags)
    if conf < LOW and "low_confidence" not in flags:
        flags.append("low_confidence")
    return Phone(h.number, h.type, cap(h.raw, 80), conf, SOURCE_OCR, tuple(flags), h.message)
