"""Which domain endings exist: the Public Suffix List (ICANN section), through `publicsuffixlist`.

The list is kept by Mozilla and the registries and ships inside the package (updated with each of its
releases); nothing is fetched at run time. It answers two questions the parser asks of an e-mail or
website read by OCR: does its top-level domain exist at all ("ubemoz.comz" does not), and which
one-character repairs turn a misread ending into one that does ("comz" -> "co.mz", a dot the
reader dropped; "cem" -> "com", a letter misread).
"""
from __future__ import annotations

from functools import lru_cache

from publicsuffixlist import PSLFILE, PublicSuffixList

# The endings a misread letter is repaired towards: only the ones common on cards, so that a
# repair is not a guess among many real but rare TLDs.
POPULAR_TLDS = ("com", "net", "org", "jp", "br", "de", "vn", "uk", "fr", "it", "es", "edu", "gov", "info",
                "biz", "au", "ca")


@lru_cache(maxsize=1)
def _psl() -> PublicSuffixList:
    return PublicSuffixList(accept_unknown=False, only_icann=True)


@lru_cache(maxsize=1)
def all_tlds() -> frozenset[str]:
    """Every top-level domain in the list's ICANN section (about 1,400), lower case, IDNs in punycode.
    Read from the list's rules, as some TLDs are listed only under their second level ("co.za")."""
    out = set()
    with open(PSLFILE, encoding="utf-8") as f:
        for raw in f:
            if raw.startswith("// ===END ICANN DOMAINS==="):
                break
            rule = raw.strip()
            if rule and not rule.startswith("//"):
                tld = rule.rsplit(".", 1)[-1].lstrip("!*.")
                if tld:
                    out.add(tld.encode("idna").decode("ascii").casefold() if not tld.isascii() else tld.casefold())
    return frozenset(out)


def tld_exists(tld: str, /) -> bool:
    return tld.casefold() in all_tlds()


def is_public_suffix(suffix: str, /) -> bool:
    """'co.mz', 'ne.jp', 'com': an ending under which people register names."""
    return bool(_psl().is_public(suffix.casefold()))


def repair_ending(domain: str, /) -> str | None:
    """The one repair of `ending_repairs`, or None when there is none or a choice remains."""
    found = ending_repairs(domain)
    return found[0] if len(found) == 1 else None


def ending_repairs(domain: str, /) -> list[str]:
    """The domain with a non-existent top-level domain repaired: every repair that fits.

    Two kinds of OCR damage are undone: a dropped dot inside the ending ("ubemoz.comz" ->
    "ubemoz.co.mz", where "co.mz" is a listed public suffix) and one misread or extra letter towards a
    popular ending ("x.cem" -> "x.com", "x.nett" -> "x.net", "rn" read for "m"). Of several fits,
    the ones forming a listed two-label suffix win ("x.ne.ip" -> "x.ne.jp", not "x.ne.it"). Empty
    when the ending exists or nothing fits; several when the text alone cannot choose ("comz": "co.mz"
    or "com"), which other evidence on the card may (see `by_region`).
    """
    head, _, tld = domain.rpartition(".")
    t = tld.casefold()
    if not head or not t.isascii() or not t.isalpha():
        return []
    if tld_exists(t):
        return []
    dotted = [f"{head}.{t[:k]}.{t[k:]}" for k in range(1, len(t) - 1)  # a dropped dot: "comz" -> "co.mz"
              if tld_exists(t[k:]) and is_public_suffix(f"{t[:k]}.{t[k:]}")]
    letters: list[str] = []
    for cand in POPULAR_TLDS:
        if len(cand) == len(t) and sum(x != y for x, y in zip(cand, t)) == 1:  # one letter misread
            letters.append(f"{head}.{cand}")
        elif len(cand) + 1 == len(t) and any(t[:i] + t[i + 1:] == cand for i in range(len(t))):  # one too many
            letters.append(f"{head}.{cand}")
    if t.replace("rn", "m") in POPULAR_TLDS:
        letters.append(f"{head}.{t.replace('rn', 'm')}")
    letters = list(dict.fromkeys(letters))
    if len(letters) > 1:  # "x.ne.ip": "ne.jp" is a listed suffix, "ne.it" is not
        letters = [f for f in letters if is_public_suffix(".".join(f.split(".")[-2:]))] or letters
    return dotted + letters


def by_region(repairs: list[str], regions: set[str], /) -> str | None:
    """Of several repairs, the one whose country-code ending is the card's country (its phone
    numbers' region): "ubemoz.co.mz" over "ubemoz.com" on a card with +258 numbers."""
    wanted = {r.casefold() for r in regions if r}
    hits = [d for d in repairs if d.rsplit(".", 1)[-1] in wanted]
    return hits[0] if len(hits) == 1 else None
