"""The word lists the parser decides with: first names and surnames (probablepeople), job-title words
and German title compounds, legal forms and company words (parsing/data/), e-mail providers."""
from __future__ import annotations

import re
from functools import lru_cache

from cardscan.parsing.layout import fold, has_phrase, wordlist, words_of

_CONTACT_LABELS = frozenset("email mail web website site url www e correo internet http https skype".split())


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


_PERSONAL_DOMAINS = frozenset(
    """gmail googlemail yahoo ymail hotmail outlook live msn icloud me mac aol gmx web mail proton protonmail
    zoho yandex qq naver daum uol bol terra ig r7 globo hotmail rocketmail comcast verizon att sbcglobal
    orange free wanadoo libero virgilio t-online""".split()
)


_STOPWORDS = frozenset("the and of for your our we you to with in a an is are".split())


def _personal(text: str) -> bool:
    """Looks like a person's name (a known first name first, or probablepeople says so)."""
    ws = words_of(text)
    return bool(ws) and (ws[0] in _first_names() or (len(ws) >= 2 and _pp_kind(text) == "Person"))


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
