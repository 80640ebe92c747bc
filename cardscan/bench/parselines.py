"""The parser alone on synthetic cards' printed lines (no photo, no OCR errors).

Each card of ``cardscan.bench.synth`` is rendered and its printed lines, with their boxes, are
handed to the parser as an OcrResult (words spaced by character count, confidence 95), without
the QR code. Name, title and company are scored per field: right, empty (missed) or wrong (a
value that is not the printed one, worse than none):

    python -m cardscan.bench.parselines --seeds 900000:900500 [--hard] [--show-errors] [--rules-only]

Development used other seeds than the ones reported; pick a range nobody has looked at to check.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from cardscan.bench.scoring import canon
from cardscan.models import Line, OcrResult, Word

FIELDS = ("name", "title", "company")


def printed_ocr(lines: tuple[str, ...], boxes: tuple[tuple[float, float, float, float], ...]) -> OcrResult:
    """Printed lines as an OCR reading: one Line per printed line, its words placed along the box."""
    out = []
    for text, (x0, top, x1, bottom) in zip(lines, boxes):
        toks = text.split()
        if not toks:
            continue
        per = (x1 - x0) / max(len(text), 1)
        words, pos = [], 0
        for t in toks:
            start = text.index(t, pos)
            pos = start + len(t)
            words.append(Word(t, 95.0, (round(x0 + start * per), round(top), max(1, round(len(t) * per)),
                                        max(1, round(bottom - top)))))
        out.append(Line(tuple(words)))
    return OcrResult(lines=tuple(out), engine="printed lines", image_size=(0, 0))


@dataclass
class FieldTally:
    right: int = 0
    missed: int = 0
    wrong: int = 0
    extra: int = 0  # a value where the card prints none
    empty_ok: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def cards(self) -> int:
        return self.right + self.missed + self.wrong + self.extra + self.empty_ok

    @property
    def accuracy(self) -> float:
        return (self.right + self.empty_ok) / self.cards if self.cards else 0.0

    @property
    def wrong_rate(self) -> float:
        return (self.wrong + self.extra) / self.cards if self.cards else 0.0


def run(seeds: range, *, hard: bool | str = False, use_model: bool = True) -> dict[str, FieldTally]:
    from cardscan.bench.synth import make_card
    from cardscan.parsing.contact import parse

    tally = {f: FieldTally() for f in FIELDS}
    for seed in seeds:
        card = make_card(seed, qr=None, hard=hard)
        contact = parse(printed_ocr(card.lines, card.boxes), use_model=use_model)
        for f in FIELDS:
            truth = card.truth[f]
            got = getattr(contact, f)
            pred = got.value if got else None
            t = tally[f]
            if truth is None:
                if pred is None:
                    t.empty_ok += 1
                else:
                    t.extra += 1
                    t.errors.append(f"{seed} {f}: extra {pred!r}")
            elif pred is None:
                t.missed += 1
                t.errors.append(f"{seed} {f}: missed {truth!r}")
            elif canon(pred) == canon(truth):
                t.right += 1
            else:
                t.wrong += 1
                t.errors.append(f"{seed} {f}: {pred!r} for {truth!r}")
    return tally


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cardscan.bench.parselines")
    ap.add_argument("--seeds", default="900000:900500", help="start:stop")
    ap.add_argument("--hard", action="store_true", help="cards of synth.HARD_KINDS (name and title on one line, "
                    "logo word repeated, shop names, company only in the domain)")
    ap.add_argument("--kind", help="cards of one kind only: a kind of synth.HARD_KINDS or synth.ASKED_KINDS "
                    "(domain_short: the domain shortens the name word by word; initials_logo: the company "
                    "printed as its initials, the domain spelling its words with hyphens)")
    ap.add_argument("--show-errors", action="store_true")
    ap.add_argument("--rules-only", action="store_true", help="name, title and company by the rules alone (no role model)")
    a = ap.parse_args(argv)
    start, stop = (int(x) for x in a.seeds.split(":"))
    tally = run(range(start, stop), hard=a.kind or a.hard, use_model=not a.rules_only)
    print(f"{'field':8} {'cards':>5} {'right':>6} {'missed':>6} {'wrong':>6} {'accuracy':>8} {'wrong%':>7}")
    for f, t in tally.items():
        print(f"{f:8} {t.cards:5d} {t.right + t.empty_ok:6d} {t.missed:6d} {t.wrong + t.extra:6d} "
              f"{t.accuracy:8.3f} {100 * t.wrong_rate:6.1f}%")
    if a.show_errors:
        for t in tally.values():
            for e in t.errors:
                print(e)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

