"""Each card line's role (name, title, company, ...) from a learned sequence model.

The rules of ``person``, ``titles`` and ``company`` decide from word lists; on a layout they were
not written against they miss a company with no legal form or company word, or a title outside
the vocabulary. This module gives them a second opinion that holds on any card: a linear-chain
CRF (python-crfsuite, the engine of probablepeople) over the card's lines, whose features are
evidence of any card -- relative text height, position and alignment, neighbouring lines, case
pattern, letters and digits, vocabulary hits (first names, surnames, title words, company words,
legal forms), agreement with the e-mail's local part and the e-mail/website domain, script.
No feature is a word itself, so the model learns how a role looks, not the synthetic names.

The model ships as ``data/roles.crfsuite``. It is trained by ``scripts/train_roles.py`` (``make
roles``) on the printed lines of the project's synthetic cards (``cardscan.bench.synth``, which
knows each line's role); the same seeds give the same file.

When the model file is missing or unreadable, :func:`role_probs` logs one warning and returns
None: the parser then decides with its rules alone. :func:`load_model` raises
:class:`~cardscan.errors.RoleModelError` for callers that want to know.
"""
from __future__ import annotations

import logging
import re
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from cardscan.errors import RoleModelError
from cardscan.parsing.emails import EmailHit
from cardscan.parsing.layout import CJK_RE, fold, has_phrase, wordlist, words_of
from cardscan.parsing.lines import _URLISH_RE, _Ln
from cardscan.parsing.vocab import (
    _STOPWORDS,
    _first_names,
    _has_legal_suffix,
    _is_title,
    _is_title_word,
    _pp_kind,
    _surnames,
)

log = logging.getLogger(__name__)

ROLES = ("name", "title", "company", "department", "address", "tagline", "contact", "other")
MODEL_PATH = Path(__file__).parent / "data" / "roles.crfsuite"

Features = dict[str, float]

_HONORIFICS = frozenset("dr mr mrs ms miss prof sr sra dra eng ir mme mlle herr frau dott ing".split())
_DEPARTMENT = frozenset("department dept division departamento abteilung departement team unit group office "
                        "services service area bereich setor sector".split())
_STREETISH = frozenset(
    """street st road rd avenue ave av avenida boulevard blvd lane drive dr way court place square highway
    parkway circle terrace plaza alley rua travessa alameda rodovia estrada calle carrera rue chemin strasse
    weg platz gasse via piazza suite ste floor fl building bldg tower house city box po""".split())
_NONLATIN_RE = re.compile(r"[\u0370-\u03ff\u0400-\u04ff\u0590-\u06ff\u0900-\u0dff\u0e00-\u0e7f]")
_POSTCODE_RE = re.compile(r"\b(?:\d{5}(?:-\d{3,4})?|\d{3}-\d{4}|[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}|\d{4})\b")


def _bucket(x: float, edges: Sequence[float], name: str) -> str:
    for k, e in enumerate(edges):
        if x < e:
            return f"{name}<{e}" if k == 0 else f"{name}{edges[k - 1]}-{e}"
    return f"{name}>={edges[-1]}"


def _org_labels(domains: Sequence[str]) -> list[str]:
    from cardscan.parsing.company import _org_label

    return [lab for lab in (_org_label(d) for d in domains) if lab]


def _own(ln: _Ln, emails: Sequence[EmailHit], labels: Sequence[str], med_h: float, rank: dict[int, int],
         width: float, left: float) -> Features:
    """The line's own evidence (no neighbours)."""
    from cardscan.parsing.company import _domain_agrees
    from cardscan.parsing.person import _email_agrees

    text = ln.text
    f: Features = {}
    ws = words_of(text)
    toks = text.split()
    hr = ln.height / med_h if med_h > 0 else 1.0
    f[_bucket(hr, (0.8, 0.95, 1.1, 1.3, 1.6, 2.0), "h")] = 1.0
    f["hr"] = min(hr, 3.0)
    f[f"hrank={min(rank.get(ln.i, 9), 3)}"] = 1.0
    x0, _, w, _ = ln.line.box
    if width > 0:
        cx = (x0 + w / 2 - left) / width
        f[_bucket(cx, (0.3, 0.45, 0.55, 0.7), "cx")] = 1.0
        f[_bucket((x0 - left) / width, (0.05, 0.2, 0.5), "x0")] = 1.0
        f[_bucket(w / width, (0.15, 0.3, 0.5, 0.75), "w")] = 1.0
    f[f"nw={min(len(toks), 7)}"] = 1.0
    f[_bucket(len(text), (4, 8, 15, 25, 40), "len")] = 1.0
    digits = sum(c.isdigit() for c in text)
    letters = sum(c.isalpha() for c in text)
    f[_bucket(digits, (1, 3, 6), "dig")] = 1.0
    if letters + digits:
        f[_bucket(letters / (letters + digits), (0.5, 0.8, 0.99), "alpha")] = 1.0
    alpha_toks = [t for t in toks if t[:1].isalpha()]
    if alpha_toks:
        if all(t.isupper() for t in alpha_toks if sum(c.isalpha() for c in t) > 1) and any(
                sum(c.isalpha() for c in t) > 1 for t in alpha_toks):
            f["case=upper"] = 1.0
        elif all(t[:1].isupper() for t in alpha_toks):
            f["case=title"] = 1.0
        elif any(t.islower() and fold(t) not in _STOPWORDS for t in alpha_toks):
            f["case=lowerword"] = 1.0
        else:
            f["case=mixed"] = 1.0
    if ln.contact:
        f["contact"] = 1.0
    if ln.used:
        f[f"used={ln.used}"] = 1.0
    if "@" in text:
        f["at"] = 1.0
    if _URLISH_RE.search(text) or re.search(r"(?i)\bwww\b|\.(?:com|net|org)\b", text):
        f["url"] = 1.0
    if ":" in text:
        f["colon"] = 1.0
    for ch, key in (("&", "amp"), (",", "comma"), ("|", "pipe"), ("(", "paren"), ("/", "slash"), ("-", "dash")):
        if ch in text:
            f[key] = 1.0
    if text.rstrip().endswith("."):
        f["end."] = 1.0
    if CJK_RE.search(text):
        f["cjk"] = 1.0
    if _NONLATIN_RE.search(text):
        f["nonlatin"] = 1.0
    if ws:
        fn, sn = _first_names(), _surnames()
        core = [w for w in ws if w not in _HONORIFICS]
        if ws[0] in _HONORIFICS:
            f["honorific"] = 1.0
        if core and core[0] in fn:
            f["fn_first"] = 1.0
        if core and core[-1] in sn:
            f["sn_last"] = 1.0
        known = sum(w in fn or w in sn for w in core)
        f[_bucket(known / max(len(core), 1), (0.01, 0.5, 0.99), "namewords")] = 1.0
        if _is_title(text):
            f["title"] = 1.0
        if _is_title_word(ws[-1]):
            f["title_last"] = 1.0
        if _is_title_word(ws[0]):
            f["title_first"] = 1.0
        if has_phrase(text, wordlist("company_words.txt")):
            f["compword"] = 1.0
        if _has_legal_suffix(text):
            f["legal"] = 1.0
        if any(w in _DEPARTMENT for w in ws):
            f["deptword"] = 1.0
        if any(w in _STREETISH for w in ws):
            f["street"] = 1.0
        n_stop = sum(w in _STOPWORDS for w in ws)
        if n_stop:
            f[f"stop={min(n_stop, 2)}"] = 1.0
        if len(toks) <= 6 and not digits:
            kind = _pp_kind(text)
            if kind:
                f[f"pp={kind}"] = 1.0
        em = _email_agrees(core, emails)
        if em:
            f[_bucket(em, (1.6, 2.1, 2.4), "email")] = 1.0
        dom = _domain_agrees(text, labels)
        if dom:
            f[f"domain={dom:.0f}"] = 1.0
    if _POSTCODE_RE.search(text):
        f["postcode"] = 1.0
    return f


# the neighbour features that carry over to the lines above and below
_NEIGHBOUR_KEYS = ("contact", "title", "title_last", "fn_first", "sn_last", "legal", "compword", "deptword",
                   "street", "postcode", "case=upper", "email>=2.4", "email2.1-2.4", "domain=3", "domain=2",
                   "pp=Person", "pp=Corporation", "used=address")


def features(lines: Sequence[_Ln], emails: Sequence[EmailHit], domains: Sequence[str]) -> list[Features]:
    """One feature dict a line, in the lines' order (the sequence the model reads)."""
    if not lines:
        return []
    labels = _org_labels(domains)
    text_lines = [l for l in lines if l.used != "noise"]
    heights = [l.height for l in text_lines if l.height > 0]
    med_h = float(np.median(heights)) if heights else 1.0
    order = sorted(text_lines, key=lambda l: -l.height)
    rank = {l.i: k for k, l in enumerate(order)}
    lefts = [l.line.box[0] for l in lines]
    rights = [l.line.box[0] + l.line.box[2] for l in lines]
    left, width = min(lefts), max(rights) - min(lefts)
    own = [_own(l, emails, labels, med_h, rank, width, left) for l in lines]
    out: list[Features] = []
    n = len(lines)
    for k, (ln, f) in enumerate(zip(lines, own)):
        g: Features = {"bias": 1.0, **f}
        g[_bucket(k / max(n - 1, 1), (0.2, 0.4, 0.6, 0.8), "pos")] = 1.0
        if k == 0:
            g["first"] = 1.0
        if k == n - 1:
            g["last"] = 1.0
        for step, tag in ((-1, "p"), (1, "n")):
            j = k + step
            if not 0 <= j < n:
                g[f"{tag}:none"] = 1.0
                continue
            nb = own[j]
            for key in _NEIGHBOUR_KEYS:
                if key in nb:
                    g[f"{tag}:{key}"] = 1.0
            hr = ln.height / lines[j].height if lines[j].height > 0 else 1.0
            g[_bucket(hr, (0.8, 0.95, 1.05, 1.25), f"{tag}:hratio")] = 1.0
            if abs(ln.line.box[0] - lines[j].line.box[0]) <= 0.5 * max(ln.height, 1.0):
                g[f"{tag}:left_aligned"] = 1.0
        out.append(g)
    return out


_lock = threading.Lock()
_cached: dict[Path, object] = {}


def _check_header(path: Path) -> None:
    """CRFsuite reads a cut or damaged model file past its end (the process dies): its header
    (magic 'lCRF', total size, 'FOMC', section offsets) is checked against the file first."""
    import struct

    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(48)
    ok = len(head) == 48 and head[:4] == b"lCRF" and head[8:12] == b"FOMC"
    if ok:
        total = struct.unpack("<I", head[4:8])[0]
        offsets = struct.unpack("<5I", head[28:48])
        ok = total == size and all(48 <= o < size for o in offsets)
    if not ok:
        raise RoleModelError(f"line-role model unreadable: {path}: not a whole CRFsuite model file",
                             hint="rebuild it with: make roles")


def load_model(path: Path | None = None) -> object:
    """A pycrfsuite Tagger opened on the model file (default MODEL_PATH); RoleModelError when it is
    missing or unreadable."""
    import pycrfsuite

    path = MODEL_PATH if path is None else path
    if not path.is_file():
        raise RoleModelError(f"line-role model not found: {path}", hint="rebuild it with: make roles")
    _check_header(path)
    tagger = pycrfsuite.Tagger()
    try:
        tagger.open(str(path))
    except Exception as exc:  # pycrfsuite raises ValueError / OSError on a file it cannot read
        raise RoleModelError(f"line-role model unreadable: {path}: {exc}", hint="rebuild it with: make roles") from exc
    if not set(ROLES) >= set(tagger.labels()):
        raise RoleModelError(f"line-role model has unknown roles {sorted(set(tagger.labels()) - set(ROLES))}: {path}",
                             hint="rebuild it with: make roles")
    return tagger


def _tagger(path: Path) -> object | None:
    with _lock:
        if path in _cached:
            return _cached[path]
        try:
            t: object | None = load_model(path)
        except RoleModelError as exc:
            log.warning("%s; deciding name, title and company by the rules alone", exc)
            t = None  # remembered: one warning a process, not one a card
        _cached[path] = t
        return t


def role_probs(lines: Sequence[_Ln], emails: Sequence[EmailHit], domains: Sequence[str], *,
               path: Path | None = None) -> list[dict[str, float]] | None:
    """Each line's probability of every role (marginals of the CRF), or None without a usable model
    (one warning is logged; the parser then decides by its rules alone)."""
    if not lines:
        return []
    tagger = _tagger(MODEL_PATH if path is None else path)
    if tagger is None:
        return None
    xseq = features(lines, emails, domains)
    with _lock:  # a Tagger holds the sequence it was last given: one caller at a time
        tagger.set(xseq)  # type: ignore[attr-defined]
        labels = tagger.labels()  # type: ignore[attr-defined]
        return [{lab: tagger.marginal(lab, k) for lab in labels} for k in range(len(lines))]  # type: ignore[attr-defined]
