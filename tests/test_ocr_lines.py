"""The line reader with its real models (PP-OCR ONNX from the rapidocr wheel, Tesseract): no mocks.

Synthetic photos rendered in code (tests/imaging_fixtures.py): upright, turned 90/180/270, light
text on a dark panel, a 700 px photo, a white card on white paper."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from cardscan.models import CardImage, Line, OcrResult, Word
from cardscan.options import Options
from cardscan.reading import pipeline
from cardscan.bench import synth
from cardscan.reading.ocr import detect, lines as lines_mod, orient, recognise
from cardscan.reading.ocr import tesseract as ocr_mod
from tests.imaging_fixtures import (CARD_LINES, PANEL_LINES, encode, panel_card, photo_scene, render_card,
                                    same_colour_table, small_photo, turned_photo)

OPTS = Options(reader="lines", jobs=1, keep_crops=False, followup_drafts=False)


@pytest.fixture(scope="module")
def engine():
    return ocr_mod.get_engine(Options())


def squashed(text: str) -> str:
    return "".join(text.split()).lower()


def outcome(rgb: np.ndarray, engine, options: Options = OPTS) -> pipeline.CardOutcome:
    out = pipeline.process_data("card.png", encode(rgb, "PNG"), engine, options)
    assert out.ok, out.error
    return out


def test_detector_finds_every_printed_line():
    boxes = detect.detect_lines(render_card())
    assert len(boxes) >= len(CARD_LINES)
    tops = sorted(b.bounds[1] for b in boxes)
    assert tops[0] < 100 and tops[-1] > 350  # the first and the last printed line


def test_recogniser_reads_a_line_and_places_its_words():
    card = render_card()
    boxes = sorted(detect.detect_lines(card), key=lambda b: b.bounds[1])
    crop = recognise.crop_line(card, boxes[0].quad)
    r = recognise.pp_recognise([crop])[0]
    assert squashed(r.text) == squashed(CARD_LINES[0])
    assert all(0 <= w.box[0] < crop.shape[1] for w in r.words)


def test_photo_reads_every_line_and_the_contact(engine):
    out = outcome(photo_scene().image, engine)
    assert out.ocr_engine.startswith("lines")
    text = squashed(out.raw_text)
    for line in CARD_LINES:
        assert squashed(line) in text, line
    assert out.contact.name.value == "Quentin Harrowgate"
    assert "+14155550199" in [p.number for p in out.contact.phones]


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_turned_photos_are_read_upright(engine, degrees):
    out = outcome(turned_photo(degrees), engine)
    assert squashed(CARD_LINES[0]) in squashed(out.raw_text)
    assert "+14155550199" in [p.number for p in out.contact.phones]


def test_a_map_of_logits_far_below_zero_scores_its_boxes_without_overflow():
    import warnings

    logits = np.full((64, 96), -200.0, np.float32)
    logits[20:30, 10:80] = 30.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an exp() overflow would warn
        (box,) = detect.boxes_from_map(logits, 1.0, 1.0, (96, 64), logits=True)
    probs = (0.5 + 0.5 * np.tanh(0.5 * logits)).astype(np.float32)
    (want,) = detect.boxes_from_map(probs, 1.0, 1.0, (96, 64))
    assert np.allclose(box.quad, want.quad) and abs(box.score - want.score) < 1e-6


def test_reading_the_longest_lines_both_ways_tells_which_way_is_up():
    card = render_card()
    crops = [recognise.crop_line(card, b.quad) for b in detect.detect_lines(card)]
    assert orient.flip_by_reading(crops) is False
    assert orient.flip_by_reading([np.ascontiguousarray(c[::-1, ::-1]) for c in crops]) is True
    assert orient.flip_by_reading([np.full((40, 300, 3), 255, np.uint8)] * 3) is None  # nothing read either way
    assert orient.flip_by_reading([]) is None


def test_a_card_the_direction_classifier_is_unsure_of_is_turned_by_its_reading(engine):
    """Light print on a dark card, small in the photo and turned: the classifier's vote on its lines
    is unsure (about 0.34 of them '180'), and the card read as the vote left it gave "Ryylln Cail"."""
    item = 9830029513  # a synthetic photo: python -m cardscan.bench.synth DIR --seed 9830 --card-width 0.3
    ph = synth.photograph(synth.make_card(item), item, "photo", card_width=0.3)
    out = pipeline.process_data("card.jpg", ph.data, engine, OPTS)
    assert out.ok, out.error
    assert out.contact.name.value == ph.truth["name"] == "Ryan Caldwell"
    assert out.contact.title is not None and out.contact.title.value == ph.truth["title"]
    assert any(p.number.endswith("491570130") for p in out.contact.phones)


def test_light_text_on_a_dark_panel(engine):
    out = outcome(panel_card(), engine)
    text = squashed(out.raw_text)
    assert squashed(PANEL_LINES[0]) in text
    assert squashed(PANEL_LINES[1]) in text


def test_700px_photo(engine):
    out = outcome(small_photo(700), engine)
    text = squashed(out.raw_text)
    assert squashed(CARD_LINES[0]) in text
    assert "+14155550199" in [p.number for p in out.contact.phones]


def test_white_card_on_white_paper(engine):
    out = outcome(same_colour_table(), engine)
    text = squashed(out.raw_text)
    for line in CARD_LINES:
        assert squashed(line) in text, line


def test_tesseract_reader_is_still_there(engine):
    out = outcome(photo_scene().image, engine, OPTS.with_(reader="tesseract"))
    assert out.ocr_engine.startswith("tesserocr")
    assert squashed(CARD_LINES[0]) in squashed(out.raw_text)


def test_spaces_from_the_other_reading_are_added():
    gs = [recognise.Glyph(c, 0.99, i * 10 + (8 if i >= 3 else 0), i * 10 + 9 + (8 if i >= 3 else 0))
          for i, c in enumerate("TEL+81-852-32")]  # a wider step between L and +
    pp = recognise.LineReading(recognise.words_from_glyphs(gs, 30), "pp-ocr", tuple(gs))
    tess = recognise.LineReading((Word("TEL", 90, (0, 0, 30, 30)), Word("+81-852-32", 90, (40, 0, 90, 30))), "tesseract")
    merged = recognise.with_spaces_of(pp, tess, 30)
    assert [w.text for w in merged.words] == ["TEL", "+81-852-32"]
    assert merged.words[1].box[0] == 38  # the second word starts at its first glyph
    tess_split = recognise.LineReading((Word("TEL+8", 90, (0, 0, 50, 30)), Word("1-852-32", 90, (50, 0, 80, 30))), "tesseract")
    assert [w.text for w in recognise.with_spaces_of(pp, tess_split, 30).words] == ["TEL+81-852-32"]  # no gap there


def test_a_disagreement_on_an_email_lowers_the_line_below_review():
    assert lines_mod.disagree("E-mail jo@ee.example.com", "E-mail jo@ce.example.com")
    assert not lines_mod.disagree("E-mail jo@ee.example.com", "E-mailjo@ee.example.com")
    assert not lines_mod.disagree("Jo Bloggs", "J0 Bloggs")  # no e-mail, web or number on the line
    assert lines_mod.disagree("Tel 0171 555 0100", "Tel 0171 555 0180")


def test_alternative_reading_is_kept_on_the_line():
    from cardscan.reading.ocr import build

    box = detect.TextBox(np.array([[0, 0], [100, 0], [100, 20], [0, 20]], np.float32), 0.9)
    a = recognise.LineReading((Word("jo@ee.example", 99, (0, 0, 100, 20)),), "pp-ocr")
    b = recognise.LineReading((Word("jo@ce.example", 90, (0, 0, 100, 20)),), "tesseract")
    ocr = build.build([(box, 100, a, b)], engine="lines", size=(100, 20))
    assert ocr.lines[0].alternatives == ("jo@ce.example",)
    assert isinstance(ocr, OcrResult) and isinstance(ocr.lines[0], Line)
    # a card without any text line: nothing read, no crash
    blank = CardImage(pixels=np.full((300, 500, 3), 250, np.uint8))
    reader = lines_mod.LineReader(None)
    _, empty = reader.read_card(blank)
    assert empty.lines == ()


def _pp_line(text: str, prob: float = 0.99, gap_at: int | None = None) -> recognise.LineReading:
    """A PP-OCR reading of `text`, one glyph every 10 px (a gap of 12 px more before index gap_at)."""
    gs = [recognise.Glyph(c, prob, i * 10 + (12 if gap_at is not None and i >= gap_at else 0),
                          i * 10 + 9 + (12 if gap_at is not None and i >= gap_at else 0)) for i, c in enumerate(text)]
    return recognise.LineReading(recognise.words_from_glyphs(gs, 30), "pp-ocr", tuple(gs))


def test_settled_lines_are_the_ones_tesseract_cannot_change():
    assert lines_mod.settled(_pp_line("Principal Surveyor"))
    assert lines_mod.settled(_pp_line("Principal Surveyor", prob=0.93))  # sure enough: no bar changes
    assert not lines_mod.settled(_pp_line("Principal Surveyor", prob=0.85))  # an unsure word
    assert not lines_mod.settled(_pp_line("PrincipalSurveyor", gap_at=9))  # a gap with no space
    assert not lines_mod.settled(_pp_line("EMMAROWLAND"))  # capitals set tight: a space may be lost
    assert not lines_mod.settled(_pp_line("JohnSmith"))
    assert not lines_mod.settled(_pp_line("DR.KELLY FOCHT"))  # a capital glued after a dot
    for contact in ("jo@blackthorn.example", "www.blackthorn.com", "Tel 415 555 0199"):
        # agreement on these flags or clears the field: read a second time unless every character is sure
        assert not lines_mod.settled(_pp_line(contact, prob=0.98))
        assert lines_mod.settled(_pp_line(contact, prob=0.995))
        one_unsure = _pp_line(contact, prob=0.995)
        gs = list(one_unsure.glyphs)
        gs[5] = recognise.Glyph(gs[5].char, 0.95, gs[5].x0, gs[5].x1)
        assert not lines_mod.settled(recognise.LineReading(one_unsure.words, "pp-ocr", tuple(gs)))
    assert not lines_mod.settled(_pp_line("TEL+81312345678", prob=0.995))  # a label glued on: Tesseract's spaces


class _CountingTesseract:
    """The real Tesseract engine, counting the lines it is asked to read (a spy, not a stand-in)."""

    def __init__(self, engine) -> None:
        self.engine, self.calls = engine, 0

    def words(self, *a, **k):
        self.calls += 1
        return self.engine.words(*a, **k)


def test_tesseract_reads_only_the_lines_it_can_change(engine):
    spy = _CountingTesseract(engine)
    card, ocr = lines_mod.LineReader(spy).read_card(CardImage(pixels=render_card()))
    text = squashed(ocr.text)
    for line in CARD_LINES:
        assert squashed(line) in text, line
    assert spy.calls < len(CARD_LINES)  # lines PP-OCR read sure of every character are not read again
    # the same card at a fifth of its size: PP-OCR is less sure of the phone and e-mail lines, and
    # those are read by Tesseract as well (its agreement raises them; a disagreement flags them)
    small = cv2.resize(render_card(), None, fx=0.2, fy=0.2, interpolation=cv2.INTER_AREA)
    spy_small = _CountingTesseract(engine)
    lines_mod.LineReader(spy_small).read_card(CardImage(pixels=np.ascontiguousarray(small)))
    assert spy_small.calls >= 2


def test_a_line_reads_the_same_alone_or_with_others():
    card = render_card()
    crops = [recognise.crop_line(card, b.quad) for b in sorted(detect.detect_lines(card), key=lambda b: b.bounds[1])]
    together = recognise.pp_recognise(crops)
    assert [r.text for r in together] == [recognise.pp_recognise([c])[0].text for c in crops]


def _reading(text: str, probs: dict[int, float]) -> recognise.LineReading:
    gs = [recognise.Glyph(c, probs.get(i, 0.98), i * 10, i * 10 + 9) for i, c in enumerate(text)]
    return recognise.LineReading(recognise.words_from_glyphs(gs, 20), "pp-ocr", tuple(gs))


def test_an_address_with_a_guessed_character_is_unsure() -> None:
    text = "Email: hannah@taveton.co.uk"
    assert not lines_mod.unsure_contact_token(_reading(text, {}))
    assert lines_mod.unsure_contact_token(_reading(text, {text.index("@") + 3: 0.31}))
    # a guessed character outside the address (its label) is no doubt about the address
    assert not lines_mod.unsure_contact_token(_reading(text, {1: 0.2}))
    assert lines_mod.unsure_contact_token(_reading("www.taveton.co.uk", {5: 0.4}))
    assert not lines_mod.unsure_contact_token(_reading("Sales Manager", {2: 0.1}))


def test_a_number_with_a_digit_pp_ocr_guessed_is_unsure():
    assert lines_mod.unsure_number(_reading("Tel 415 555 0199", {9: 0.3}))
    assert not lines_mod.unsure_number(_reading("Tel 415 555 0199", {9: 0.7}))
    assert not lines_mod.unsure_number(_reading("Suite 415", {6: 0.3}))  # too few digits for a number
