"""Field-level accuracy of predicted contacts against labelled ground truth.

cardscan's own implementation of the matching rules of the evaluation scorer
(../shared/eval/score.py): text fields compared after NFKC case-folding with punctuation and
spacing ignored (alternatives under "ambiguous" accepted); address right at word-level F1 >= 0.7;
e-mails case-insensitive; websites without scheme, "www." and trailing "/"; phones by their last
9 digits, E.164 exactness where the truth has a "+", and type accuracy over matched numbers.
A test checks both give the same numbers on the same predictions.
"""
from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

SCALAR_FIELDS = ("name", "title", "company", "address")
LIST_FIELDS = ("emails", "websites", "phones")
ALL_FIELDS = SCALAR_FIELDS + LIST_FIELDS


def canon(text: Any) -> str | None:
    if text is None:
        return None
    t = unicodedata.normalize("NFKC", str(text)).casefold()
    words = re.findall(r"\w+", t)
    return " ".join(words) or None


def site_key(url: Any) -> str | None:
    u = str(url).strip().casefold()
    u = re.sub(r"^[a-z]+://", "", u)
    if u.startswith("www."):
        u = u[4:]
    return u.rstrip("/") or None


def digits_of(value: Any) -> str:
    return "".join(ch for ch in str(value or "") if ch.isdigit())


def number_key(number: Any) -> str | None:
    d = digits_of(number)
    return d[-9:] if len(d) >= 7 else None


def address_matches(pred: str, truth: str) -> bool:
    p = (canon(pred) or "").split()
    t = (canon(truth) or "").split()
    if not p or not t:
        return False
    common = sum((Counter(p) & Counter(t)).values())
    if common == 0:
        return False
    precision, recall = common / len(p), common / len(t)
    return 2 * precision * recall / (precision + recall) >= 0.7


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    def f1(self) -> float | None:
        d = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / d if d else None


@dataclass(frozen=True)
class FieldError:
    file: str
    field: str
    got: Any
    want: Any


@dataclass
class Score:
    cards: int = 0
    missing: int = 0
    exact: int = 0
    type_right: int = 0
    type_total: int = 0
    counts: dict[str, Counts] = field(default_factory=lambda: {f: Counts() for f in ALL_FIELDS + ("phone_e164",)})
    errors: list[FieldError] = field(default_factory=list)

    @property
    def micro(self) -> Counts:
        total = Counts()
        for f in ALL_FIELDS:
            c = self.counts[f]
            total.tp, total.fp, total.fn = total.tp + c.tp, total.fp + c.fp, total.fn + c.fn
        return total

    @property
    def type_accuracy(self) -> float | None:
        return self.type_right / self.type_total if self.type_total else None

    def as_dict(self) -> dict[str, Any]:
        m = self.micro
        return {
            "cards": self.cards, "cards_without_prediction": self.missing, "cards_exact": self.exact,
            "phone_type_accuracy": self.type_accuracy,
            "micro": {"precision": m.precision(), "recall": m.recall(), "f1": m.f1()},
            "fields": {f: {"tp": c.tp, "fp": c.fp, "fn": c.fn, "precision": c.precision(), "recall": c.recall(),
                           "f1": c.f1()} for f, c in self.counts.items()},
        }


def _scalar(name: str, pred: Any, truth: Mapping[str, Any], counts: Counts) -> bool:
    accepted = [truth.get(name), *((truth.get("ambiguous") or {}).get(name) or [])]
    empty_ok = any(a is None for a in accepted)
    wanted = [a for a in accepted if a]
    if not (isinstance(pred, str) and pred.strip()):
        if not empty_ok:
            counts.fn += 1
        return empty_ok
    if name == "address":
        right = any(address_matches(pred, w) for w in wanted)
    else:
        right = canon(pred) in {canon(w) for w in wanted}
    if right:
        counts.tp += 1
    else:
        counts.fp += 1
        counts.fn += 0 if empty_ok else 1
    return right


def _multiset(pred: Iterable[Any], truth: Iterable[Any], counts: Counts) -> bool:
    p = Counter(k for k in pred if k)
    t = Counter(k for k in truth if k)
    hit = sum((p & t).values())
    np_, nt = sum(p.values()), sum(t.values())
    counts.tp += hit
    counts.fp += np_ - hit
    counts.fn += nt - hit
    return hit == np_ == nt


def score(truths: list[Mapping[str, Any]], preds: list[Mapping[str, Any]]) -> Score:
    s = Score(cards=len(truths))
    for t in truths:
        p = next((x for x in preds if str(x.get("file", "")).replace("\\", "/").endswith(t["file"])), None)
        if p is None:
            s.missing += 1
            p = {}
        amb = t.get("ambiguous") or {}
        card_ok = True
        for name in SCALAR_FIELDS:
            if not _scalar(name, p.get(name), t, s.counts[name]):
                card_ok = False
                s.errors.append(FieldError(t["file"], name, p.get(name), t.get(name)))
        ok_emails = _multiset((str(e).strip().casefold() for e in p.get("emails") or []),
                              (str(e).strip().casefold() for e in t.get("emails") or []), s.counts["emails"])
        psites = [site_key(x) for x in p.get("websites") or []]
        tsites = [site_key(x) for x in t.get("websites") or []]
        for alt in amb.get("websites") or []:
            if sorted(filter(None, map(site_key, alt))) == sorted(filter(None, psites)):
                tsites = psites
                break
        ok_sites = _multiset(psites, tsites, s.counts["websites"])
        tph = [x for x in t.get("phones") or [] if number_key(x.get("number"))]
        pph = [x for x in p.get("phones") or [] if isinstance(x, dict)]
        ok_phones = _multiset((number_key(x.get("number")) for x in pph), (number_key(x.get("number")) for x in tph),
                              s.counts["phones"])
        strict_truth = [digits_of(x["number"]) for x in tph if str(x["number"]).startswith("+")]
        truth_keys = {number_key("+" + d) for d in strict_truth}
        strict_pred = [digits_of(x.get("number")) for x in pph
                       if str(x.get("number", "")).startswith("+") and number_key(x.get("number")) in truth_keys]
        _multiset(strict_pred, strict_truth, s.counts["phone_e164"])
        types_ok = True
        alt_types = set(amb.get("phone_type") or [])
        for tp in tph:
            match = next((x for x in pph if number_key(x.get("number")) == number_key(tp["number"])), None)
            if match is None:
                continue
            s.type_total += 1
            good = {tp.get("type")} | (alt_types if len(tph) == 1 else set())
            if match.get("type") in good:
                s.type_right += 1
            else:
                types_ok = False
                s.errors.append(FieldError(t["file"], "phone_type", match.get("type"), tp.get("type")))
        for name, ok, got, want in (
            ("emails", ok_emails, p.get("emails"), t.get("emails")),
            ("websites", ok_sites, p.get("websites"), t.get("websites")),
            ("phones", ok_phones, [x.get("number") for x in pph], [x.get("number") for x in tph]),
        ):
            if not ok:
                card_ok = False
                s.errors.append(FieldError(t["file"], name, got, want))
        if card_ok and types_ok:
            s.exact += 1
    return s


def format_table(s: Score) -> str:
    def f(x: float | None) -> str:
        return "  -  " if x is None else f"{x:.3f}"

    out = [f"{'field':<12}{'tp':>5}{'fp':>5}{'fn':>5}{'prec':>8}{'recall':>8}{'f1':>8}"]
    for name, c in s.counts.items():
        out.append(f"{name:<12}{c.tp:>5}{c.fp:>5}{c.fn:>5}{f(c.precision()):>8}{f(c.recall()):>8}{f(c.f1()):>8}")
    out.append(f"phone_type accuracy (matched numbers): {f(s.type_accuracy)} of {s.type_total}")
    out.append(f"cards exactly right: {s.exact}/{s.cards}; cards with no prediction: {s.missing}")
    out.append(f"micro-F1 {f(s.micro.f1())}")
    return "\n".join(out)
