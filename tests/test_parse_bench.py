"""The parser's measuring tools: the synthetic printed-lines benchmark and the OCR cache."""
from __future__ import annotations

import pytest

from cardscan.bench import ocrcache, parselines
from cardscan.bench.synth import make_card
from cardscan.models import Line, OcrResult, QrPayload, Word


def test_printed_lines_keep_their_boxes_and_order() -> None:
    card = make_card(7, qr=None)
    ocr = parselines.printed_ocr(card.lines, card.boxes)
    assert [l.text for l in ocr.lines] == [t for t in card.lines if t.split()]
    name_line = next(l for l in ocr.lines if l.text == card.truth["name"])
    assert name_line.height > 0


def test_hard_cards_hold_name_and_title_on_one_line_for_some_seeds() -> None:
    s, c = next((s, c) for s in range(60) if (c := make_card(s, qr=None, hard=True)).content.printed_name)
    assert c.content.printed_name in c.lines and c.truth["name"] not in c.lines
    assert make_card(s, qr=None).lines != c.lines and make_card(s, qr=None).truth["name"] == c.truth["name"]


def test_parselines_tallies_every_card() -> None:
    tally = parselines.run(range(3), hard=True)
    assert all(t.cards == 3 for t in tally.values())


def test_ocr_cache_round_trip() -> None:
    ocr = OcrResult(lines=(Line((Word("Ana", 91.0, (1, 2, 3, 4)), Word("Lima", 88.5, (5, 2, 6, 4)))),),
                    engine="t", image_size=(10, 20))
    assert ocrcache.ocr_from_json(ocrcache.ocr_to_json(ocr)) == ocr
    q = QrPayload("vcard", "BEGIN:VCARD", {"name": "Ana Lima"})
    assert ocrcache.qr_from_json(ocrcache.qr_to_json(q)) == q


def test_job_titles_bench_runs_on_faker_lists() -> None:
    pytest.importorskip("faker")
    from cardscan.bench import jobtitles

    tally = jobtitles.run(40, seed=1)
    assert sum(t["cards"] for t in tally.values()) == 40
    assert all(t["right"] + t["missed"] + t["wrong"] == t["cards"] for t in tally.values())
