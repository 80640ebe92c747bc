"""Train the parser's line-role model: cardscan/parsing/data/roles.crfsuite (run with `make roles`).

Data: the printed lines of the project's own synthetic cards (cardscan.bench.synth renders each
card and knows every printed line's role: name, title, department, company, tagline, address,
contact), plain cards and the "hard" kinds (name and title on one line, logo word repeated, shop
names, company only in the domain), seeds TRAIN_SEEDS. Each card becomes the OcrResult the parser
would get (cardscan.bench.parselines.printed_ocr) and its lines the features the parser computes
(cardscan.parsing.contact.line_features), so training and use see the same evidence.

Not trained on: ../shared/eval/real (the dev set), the seeds the tests and the parser benchmark
use (300-399, 900000-), nor ../shared/eval/text: the asymmetrik cases carry no licence, the
mailgun signatures mark signature lines, not roles, and probablepeople's labelled names (MIT)
already reach the model through probablepeople's own tagger (the pp= features).

Deterministic: the same seeds and options give the same file (L-BFGS on the cards in seed order).

    python scripts/train_roles.py [--cards 3000] [--out cardscan/parsing/data/roles.crfsuite]
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

TRAIN_START = 1_000_000  # plain and hard cards of seeds TRAIN_START .. TRAIN_START + cards/2
OUT = Path(__file__).resolve().parents[1] / "cardscan" / "parsing" / "data" / "roles.crfsuite"
PARAMS = {"c1": 0.1, "c2": 0.1, "max_iterations": 200, "feature.possible_transitions": True}


_LETTERS = "ABCDEFGHIJKLMNOPRSTUVWZ"
_OTHER_WORDS = ("Member", "Certified", "Authorised", "Partner", "Since", "Est.", "Accredited", "Approved",
                "Scan", "Follow us", "Visit", "Official", "Quality", "Award", "Winner", "Dealer", "Network")


def _other_text(rng: random.Random) -> str:
    """Text printed on cards that is none of the contact's fields: certification and membership
    marks, accepted-payment logos, years, slogans of two words (all invented, of any card)."""
    from cardscan.bench.synth import _company_root

    k = rng.randrange(6)
    if k == 0:
        return "".join(rng.choice(_LETTERS) for _ in range(rng.randint(2, 5)))  # an acronym mark
    if k == 1:
        return " ".join("".join(rng.choice(_LETTERS) for _ in range(rng.randint(2, 4))) for _ in range(rng.randint(2, 4)))
    if k == 2:
        return f"{rng.choice(('ISO', 'EN', 'DIN', 'Since', 'Est.', 'Est'))} {rng.randint(1900, 2024) if rng.random() < 0.6 else rng.randint(9000, 45001)}"
    if k == 3:
        w = _company_root(rng)
        return w.upper() if rng.random() < 0.5 else w  # a brand or partner logo
    if k == 4:
        return f"{rng.choice(_OTHER_WORDS)} {_company_root(rng)}"
    return f"{rng.choice(_OTHER_WORDS)} {rng.choice(_OTHER_WORDS).lower()}"


def _distractors(rng: random.Random, boxes: list[tuple[float, float, float, float]]
                 ) -> list[tuple[str, tuple[float, float, float, float]]]:
    """A row of marks below the card's text or a column of them at its right edge, or none. They are
    read after the card's own lines. (Tried: putting them before or among the lines as well; the
    model then called most lines of real cards "other", and found no company the rules missed.)"""
    if rng.random() < 0.6 or not boxes:
        return []
    hs = sorted(b[3] - b[1] for b in boxes)
    med = hs[len(hs) // 2]
    left = min(b[0] for b in boxes)
    right = max(b[2] for b in boxes)
    bottom = max(b[3] for b in boxes)
    top = min(b[1] for b in boxes)
    out = []
    n = rng.randint(1, 4)
    if rng.random() < 0.6:  # a row under everything
        x, y = left, bottom + med * rng.uniform(0.8, 2.0)
        for _ in range(n):
            t = _other_text(rng)
            h = med * rng.uniform(0.6, 1.6)
            w = len(t) * h * 0.55
            out.append((t, (x, y, x + w, y + h)))
            x += w + 3.5 * h  # wide gaps: separate lines, as OCR reads them
    else:  # a column at the right
        x, y = right + med * 2, top + med * rng.uniform(0, 3)
        for _ in range(n):
            t = _other_text(rng)
            h = med * rng.uniform(0.6, 1.6)
            out.append((t, (x, y, x + len(t) * h * 0.55, y + h)))
            y += h * 1.6
    return out


def card_sequence(seed: int, hard: bool, rng: random.Random) -> tuple[list[dict[str, float]], list[str]]:
    """One synthetic card's line features and roles. Text heights are jittered (OCR boxes are never
    exact), now and then a line is dropped (OCR misses lines), and some cards get lines that are
    none of the fields ("other": marks, logos, years), as real cards have."""
    from cardscan.bench.parselines import printed_ocr
    from cardscan.bench.synth import make_card
    from cardscan.parsing.contact import line_features

    card = make_card(seed, qr=None, hard=hard)
    keep = [k for k in range(len(card.lines)) if rng.random() >= 0.05 or card.roles[k] in ("name", "company")]
    boxes = []
    for k in keep:
        x0, top, x1, bottom = card.boxes[k]
        j = rng.uniform(-0.15, 0.15) * (bottom - top)
        boxes.append((x0, top - j / 2, x1, bottom + j / 2))
    texts = [card.lines[k] for k in keep]
    roles_kept = [card.roles[k] for k in keep]
    for t, b in _distractors(rng, boxes):
        texts.append(t)
        boxes.append(b)
        roles_kept.append("other")
    role_of = {}
    ocr = printed_ocr(tuple(texts), tuple(boxes))
    for line, role in zip(ocr.lines, [r for t, r in zip(texts, roles_kept) if t.split()]):
        for w in line.words:
            role_of[w.box] = role
    lines, feats = line_features(ocr)
    labels = []
    for ln in lines:
        role = role_of.get(ln.line.words[0].box, "other")
        labels.append("other" if ln.used == "noise" else role)
    return feats, labels


def main(argv: list[str] | None = None) -> int:
    import pycrfsuite

    ap = argparse.ArgumentParser(prog="python scripts/train_roles.py")
    ap.add_argument("--cards", type=int, default=2000, help="cards in all, half plain and half hard")
    ap.add_argument("--start", type=int, default=TRAIN_START)
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args(argv)
    t0 = time.monotonic()
    trainer = pycrfsuite.Trainer(verbose=False)
    counts: dict[str, int] = {}
    half = a.cards // 2
    for seed in range(a.start, a.start + half):
        for hard in (False, True):
            rng = random.Random(f"cardscan-roles-{seed}-{hard}")
            x, y = card_sequence(seed, hard, rng)
            if x:
                trainer.append(x, y)
                for r in y:
                    counts[r] = counts.get(r, 0) + 1
    trainer.set_params(PARAMS)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = a.out.with_suffix(".tmp")
    trainer.train(str(tmp))
    tmp.replace(a.out)
    print(f"trained on {2 * half} synthetic cards (seeds {a.start}-{a.start + half - 1}, plain and hard), "
          f"lines per role {dict(sorted(counts.items()))}, in {time.monotonic() - t0:.0f} s -> {a.out}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
