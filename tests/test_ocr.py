"""OCR stage with real Tesseract (tesserocr and the tesseract command) on rendered cards."""
from __future__ import annotations

import os
import shutil
import stat
import time
from pathlib import Path

import numpy as np
import pytest

from cardscan.reading.ocr import tesseract as ocr
from cardscan.errors import MissingDependencyError, OcrFailedError
from cardscan.models import CardImage, Line, OcrResult, Word
from cardscan.reading.ocr.tesseract import (
    PytesseractEngine,
    RawWord,
    TesserocrEngine,
    build_lines,
    detect_orientation,
    find_tessdata,
    get_engine,
    parse_tsv,
    read_card,
    read_card_looks,
    score_words,
)
from cardscan.options import Options
from fakes import BadUtf8Engine, CrashEngine, EmptyEngine, SlowEngine
from ocr_fixtures import LEFT_PHONE, RIGHT_EMAIL, render_card, rotate_cw, words_of

HAVE_TESSERACT_CMD = shutil.which("tesseract") is not None


@pytest.fixture(scope="module")
def card() -> np.ndarray:
    return render_card()


@pytest.fixture(scope="module")
def tess() -> ocr.OcrEngine:
    return get_engine(Options(engine="tesserocr"))


@pytest.fixture(scope="module")
def ptess() -> ocr.OcrEngine:
    if not HAVE_TESSERACT_CMD:
        pytest.skip("the tesseract command is not installed")
    return get_engine(Options(engine="pytesseract"))


EXPECTED = words_of("Ada Lovelace Chief Engineer Analytical Engines Ltd " + LEFT_PHONE + " " + RIGHT_EMAIL + " www.example.org")


# ----------------------------------------------------------------------------- real Tesseract


@pytest.mark.parametrize("which", ["tess", "ptess"])
def test_reads_words_boxes_and_confidences(which: str, card: np.ndarray, request: pytest.FixtureRequest) -> None:
    eng = request.getfixturevalue(which)
    r = eng.read(card)
    assert isinstance(r, OcrResult)
    assert r.image_size == (card.shape[1], card.shape[0])
    got = words_of(r.text)
    assert len(got & EXPECTED) >= 0.85 * len(EXPECTED), got ^ EXPECTED
    h, w = card.shape[:2]
    for line in r.lines:
        for word in line.words:
            assert 0.0 <= word.conf <= 100.0
            l, t, bw, bh = word.box
            assert 0 <= l and 0 <= t and bw > 0 and bh > 0 and l + bw <= w and t + bh <= h
    assert r.mean_conf > 80
    # The name is the first line; its box sits where it was drawn.
    assert r.lines[0].text == "Ada Lovelace"
    assert abs(r.lines[0].box[0] - 70) < 15


@pytest.mark.parametrize("which", ["tess", "ptess"])
def test_two_columns_at_one_height_are_two_lines(which: str, card: np.ndarray, request: pytest.FixtureRequest) -> None:
    r = request.getfixturevalue(which).read(card)
    texts = [l.text for l in r.lines]
    assert LEFT_PHONE in texts and RIGHT_EMAIL in texts, texts
    # Same row: left column first.
    assert texts.index(LEFT_PHONE) + 1 == texts.index(RIGHT_EMAIL)


def test_both_engines_give_similar_words(tess: ocr.OcrEngine, ptess: ocr.OcrEngine, card: np.ndarray) -> None:
    a, b = words_of(tess.read(card).text), words_of(ptess.read(card).text)
    assert len(a & b) / len(a | b) >= 0.8, a ^ b


def test_engine_is_loaded_once_and_named(tess: ocr.OcrEngine) -> None:
    assert get_engine(Options(engine="tesserocr")) is tess
    assert tess.name.startswith("tesserocr 5.")
    assert os.environ.get("OMP_THREAD_LIMIT")  # set before Tesseract is loaded


def test_grayscale_input_reads_too(tess: ocr.OcrEngine, card: np.ndarray) -> None:
    gray = np.ascontiguousarray(card.mean(axis=2).astype(np.uint8))
    assert len(words_of(tess.read(gray).text) & EXPECTED) >= 0.85 * len(EXPECTED)


def test_bad_image_is_an_ocr_error(tess: ocr.OcrEngine) -> None:
    with pytest.raises(OcrFailedError):
        tess.read(np.zeros((10, 10, 3), dtype=np.float32))
    with pytest.raises(OcrFailedError):
        tess.read(np.zeros((0, 0, 3), dtype=np.uint8))


def test_blank_image_reads_as_no_lines_not_an_error(tess: ocr.OcrEngine) -> None:
    r = tess.read(np.full((300, 500, 3), 255, dtype=np.uint8))
    assert r.lines == ()


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_orientation_of_rotated_card_is_corrected(tess: ocr.OcrEngine, card: np.ndarray, degrees: int) -> None:
    turned = rotate_cw(card, degrees)
    fix = tess.orientation(turned)
    assert (degrees + fix) % 360 == 0
    upright = rotate_cw(turned, fix)
    assert tess.read(upright).lines[0].text == "Ada Lovelace"


def test_orientation_upright_is_zero(tess: ocr.OcrEngine, card: np.ndarray) -> None:
    assert tess.orientation(card) == 0


@pytest.mark.parametrize("degrees", [90, 180])
def test_orientation_fallback_without_osd(tess: ocr.OcrEngine, card: np.ndarray, degrees: int) -> None:
    # osd_sure above any real confidence: the OCR-score comparison decides.
    assert (degrees + detect_orientation(tess, rotate_cw(card, degrees), osd_sure=1e9)) % 360 == 0


def test_pytesseract_orientation(ptess: ocr.OcrEngine, card: np.ndarray) -> None:
    assert ptess.orientation(rotate_cw(card, 180)) == 180


def test_orientation_of_blank_image_is_zero(tess: ocr.OcrEngine) -> None:
    assert tess.orientation(np.full((400, 600, 3), 255, dtype=np.uint8)) == 0


# ----------------------------------------------------------------------------- missing pieces


def test_missing_language_names_the_package() -> None:
    with pytest.raises(MissingDependencyError) as ei:
        TesserocrEngine("xyz")
    assert "tesseract-ocr-xyz" in str(ei.value) and "tessdata.xyz" in str(ei.value)
    with pytest.raises(MissingDependencyError) as ei:
        get_engine(Options(lang="eng+xyz"))
    assert "tesseract-ocr-xyz" in str(ei.value) and "tesseract-ocr-eng" not in str(ei.value)


@pytest.mark.parametrize("engine", ["auto", "tesserocr", "pytesseract"])
def test_check_available_agrees_with_get_engine_without_loading(engine: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if engine == "pytesseract" and not HAVE_TESSERACT_CMD:
        pytest.skip("the tesseract command is not installed")
    ocr.check_available(Options(engine=engine, lang="eng"))  # present: no error
    with pytest.raises(MissingDependencyError) as ei:
        ocr.check_available(Options(engine=engine, lang="eng+xyz"))
    assert "xyz" in str(ei.value)
    opened: list[object] = []
    monkeypatch.setattr(TesserocrEngine, "_open", lambda *a, **k: opened.append(a))
    ocr.check_available(Options(engine=engine, lang="eng"))
    assert opened == []  # no model was loaded to check


@pytest.mark.skipif(not HAVE_TESSERACT_CMD, reason="the tesseract command is not installed")
def test_missing_language_pytesseract() -> None:
    with pytest.raises(MissingDependencyError) as ei:
        PytesseractEngine("xyz")
    assert "apt-get install tesseract-ocr-xyz" in str(ei.value)


def test_missing_tesseract_binary(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import pytesseract

    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", str(tmp_path / "no-such-tesseract"))
    with pytest.raises(MissingDependencyError) as ei:
        PytesseractEngine("eng")
    assert "apt-get install tesseract-ocr" in str(ei.value)
    eng = PytesseractEngine("eng", check=False)
    with pytest.raises(MissingDependencyError):
        eng.read(render_card())


def test_invalid_language_string_is_refused() -> None:
    with pytest.raises(MissingDependencyError):
        PytesseractEngine("eng; rm -rf /", check=False)


def test_tessdata_prefix_is_searched_first(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    src = find_tessdata(["eng"])
    assert src is not None
    (tmp_path / "eng.traineddata").symlink_to(src / "eng.traineddata")
    monkeypatch.setenv("TESSDATA_PREFIX", str(tmp_path))
    assert find_tessdata(["eng"]) == tmp_path
    # A prefix without the language does not hide the others.
    assert find_tessdata(["osd"]) not in (None, tmp_path)


# ----------------------------------------------------------------------------- a fake tesseract command


def _fake_tesseract(tmp_path: Path, body: str) -> str:
    p = tmp_path / "tesseract"
    p.write_text('#!/bin/sh\ncase "$1" in --version) echo "tesseract 5.3.0"; exit 0;; esac\n' + body)
    p.chmod(p.stat().st_mode | stat.S_IXUSR)
    return str(p)


def _with_fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, body: str, timeout: float = 10) -> PytesseractEngine:
    import pytesseract

    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", _fake_tesseract(tmp_path, body))
    return PytesseractEngine("eng", timeout=timeout, check=False)


def test_tesseract_crash_is_ocr_failed_with_stderr(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    eng = _with_fake(monkeypatch, tmp_path, 'echo "Error in pixReadStream: bad data" >&2\nexit 1\n')
    with pytest.raises(OcrFailedError, match="pixReadStream"):
        eng.read(render_card())


def test_tesseract_crash_with_non_utf8_stderr(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    eng = _with_fake(monkeypatch, tmp_path, "printf 'bad \\377\\376 bytes' >&2\nkill -SEGV $$\n")
    with pytest.raises(OcrFailedError):
        eng.read(render_card())


def test_tesseract_timeout(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    eng = _with_fake(monkeypatch, tmp_path, "exec sleep 5\n", timeout=0.3)
    with pytest.raises(OcrFailedError, match=r"timed out after 0.3 s"):
        eng.read(render_card())


def test_tesseract_empty_output_is_no_lines(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    eng = _with_fake(monkeypatch, tmp_path, ': > "$2.tsv"\nexit 0\n')
    r = eng.read(render_card())
    assert r.lines == () and r.text == ""


def test_tesseract_invalid_utf8_is_replaced(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    tsv = tmp_path / "out.tsv"
    tsv.write_bytes(BadUtf8Engine.TSV)
    eng = _with_fake(monkeypatch, tmp_path, f'cp "{tsv}" "$2.tsv"\nexit 0\n')
    r = eng.read(render_card())
    assert "\ufffd" in r.text and "info@example.org" in r.text


# ----------------------------------------------------------------------------- lines and scores


def _rw(text: str, x: int, y: int, w: int = 60, h: int = 20, conf: float = 90, line: int = 0, block: int = 0) -> RawWord:
    return RawWord(text, conf, (x, y, w, h), block, 0, line)


def test_build_lines_splits_large_gaps_and_orders() -> None:
    words = [
        _rw("b@example.org", 600, 102, 200, line=1),  # same Tesseract line as "Tel 555", far right
        _rw("Tel", 10, 100, 40, line=1),
        _rw("555", 60, 100, 40, line=1),
        _rw("Name", 10, 10, line=0),
        _rw("Here", 80, 10, line=0),
        _rw("junk", 200, 10, conf=-1, line=0),  # Tesseract's conf -1 rows are not words
        _rw("   ", 300, 10, line=0),
        _rw("Right", 600, 5, line=0, block=1),  # another block on the name's row, to the right
    ]
    lines = build_lines(words)
    assert [l.text for l in lines] == ["Name Here", "Right", "Tel 555", "b@example.org"]


def test_build_lines_keeps_normal_word_spacing() -> None:
    words = [_rw(t, 10 + i * 75, 50) for i, t in enumerate(["one", "two", "three"])]
    assert [l.text for l in build_lines(words)] == ["one two three"]


def test_score_rewards_confident_words_not_word_count() -> None:
    confident = [Word("Engineer", 92, (0, 0, 1, 1)), Word("example.org", 90, (0, 0, 1, 1))]
    junk = [Word(t, 35, (0, 0, 1, 1)) for t in ["il", "|", "~", "ae", "oe", "rn", "ll", "lI"] * 5]
    assert score_words(confident) > score_words(junk) == 0.0
    assert score_words([Word("--", 99, (0, 0, 1, 1))]) == 0.0


def test_parse_tsv_drops_header_levels_and_conf_minus_one() -> None:
    data = BadUtf8Engine.TSV + b"4\t1\t1\t1\t1\t0\t10\t10\t300\t30\t-1\t\n5\t1\t1\t1\t3\t1\t1\t1\t5\t5\t-1\tx\n"
    ws = parse_tsv(data)
    assert [w.text for w in ws][2] == "info@example.org" and len(ws) == 3
    assert parse_tsv(b"") == []
    with pytest.raises(OcrFailedError):
        parse_tsv(b"garbage without a header\n")


# ----------------------------------------------------------------------------- read_card


def test_read_card_stops_after_one_good_look(tess: ocr.OcrEngine, card: np.ndarray) -> None:
    looks = read_card_looks(CardImage(pixels=card), tess)
    assert len(looks) == 1
    assert read_card(CardImage(pixels=card), tess).text == looks[0].result.text


def test_read_card_takes_more_looks_on_a_poor_card(tess: ocr.OcrEngine, card: np.ndarray) -> None:
    rng = np.random.default_rng(7)
    poor = card.astype(np.float32) * 0.25 + 150  # faint, low-contrast print
    poor += rng.normal(0, 18, poor.shape)
    poor = np.clip(poor, 0, 255).astype(np.uint8)
    c = CardImage(pixels=poor)
    looks = read_card_looks(c, tess)
    assert len(looks) > 1
    best = read_card(c, tess)
    assert ocr.score(best) == max(l.score for l in looks) > looks[0].score
    # A binarised variant reads the faint, noisy print that the photo as it is does not.
    assert len(words_of(best.text) & EXPECTED) >= 0.7 * len(EXPECTED)


class BusyEngine(SlowEngine):
    """Like SlowEngine, but spends its delay computing (the budget counts CPU time, as Tesseract
    spends it), not sleeping."""

    def read(self, rgb: np.ndarray, /, *, psm: int = 3) -> OcrResult:
        self.calls += 1
        delay = self.first_delay if self.calls == 1 and self.first_delay is not None else self.delay
        t0 = time.thread_time()
        while time.thread_time() - t0 < delay:
            pass
        return OcrResult(lines=(), engine=self.name, image_size=(rgb.shape[1], rgb.shape[0]))


def test_read_card_respects_its_time_budget(card: np.ndarray) -> None:
    # A quick first look that reads nothing, then slow ones: the second look overruns the budget.
    eng = BusyEngine(delay=0.3, timeout=1.0, first_delay=0.0)
    looks = read_card_looks(CardImage(pixels=card), eng, budget=0.2)
    assert len(looks) == 2 == eng.calls


class ScriptedEngine(SlowEngine):
    """Returns one confident word of ``words[i]`` letters on its i-th read; records the psm."""

    def __init__(self, words: list[int]) -> None:
        super().__init__(delay=0.0, timeout=1.0)
        self.words, self.psms = words, []

    def read(self, rgb: np.ndarray, /, *, psm: int = 3) -> OcrResult:
        n = self.words[self.calls]
        self.calls += 1
        self.psms.append(psm)
        line = Line(words=(Word(text="x" * n, conf=70.0, box=(0, 0, 10 * n, 10)),)) if n else None
        return OcrResult(lines=(line,) if line else (), engine=self.name, image_size=(rgb.shape[1], rgb.shape[0]))


@pytest.mark.parametrize("method,second_psm", [("contour", 3), ("passthrough", 11)])
def test_quick_plan_order_and_stop_when_a_look_helps(card: np.ndarray, method: str, second_psm: int) -> None:
    # found card: the binarised variant (psm 3) first; unfound: the background-flattened photo (psm 11)
    eng = ScriptedEngine([5, 9, 20])
    looks = read_card_looks(CardImage(pixels=card, method=method), eng)
    assert eng.psms == [3, second_psm] and len(looks) == 2  # the second look beat the first: stop
    eng = ScriptedEngine([5, 2, 20])
    looks = read_card_looks(CardImage(pixels=card, method=method), eng)
    assert len(looks) == 3 and sorted(eng.psms[1:]) == [3, 11]  # it did not: the other look too
    assert max(looks, key=lambda l: l.score).score == looks[2].score


def test_read_card_budget_counts_cpu_not_waiting(card: np.ndarray) -> None:
    # Waiting (a loaded machine) spends no CPU: every planned look is still taken.
    eng = SlowEngine(delay=0.3, timeout=1.0, first_delay=0.0)
    looks = read_card_looks(CardImage(pixels=card), eng, budget=0.2)
    assert len(looks) == 3 == eng.calls


def test_read_card_on_light_on_dark_card(tess: ocr.OcrEngine, card: np.ndarray) -> None:
    dark = 255 - card
    r = read_card(CardImage(pixels=dark, inverted=True), tess)
    assert len(words_of(r.text) & EXPECTED) >= 0.7 * len(EXPECTED)


def test_read_card_propagates_crash(card: np.ndarray) -> None:
    with pytest.raises(OcrFailedError, match="exit -11"):
        read_card(CardImage(pixels=card), CrashEngine())


def test_read_card_propagates_timeout(card: np.ndarray) -> None:
    eng = SlowEngine(delay=5, timeout=0.05)
    with pytest.raises(OcrFailedError, match="timed out"):
        read_card(CardImage(pixels=card), eng)
    assert eng.calls == 1  # the first failure ends the card; no retries that multiply the wait


def test_read_card_empty_engine_gives_no_lines(card: np.ndarray) -> None:
    eng = EmptyEngine()
    r = read_card(CardImage(pixels=card), eng)
    assert r.lines == () and eng.calls > 1  # empty is poor, so the other looks were tried


def test_read_card_bad_utf8_engine(card: np.ndarray) -> None:
    r = read_card(CardImage(pixels=card), BadUtf8Engine())
    assert r.lines[1].text == "info@example.org" and "\ufffd" in r.lines[0].text


def test_closed_engine_is_not_handed_out_again(card: np.ndarray) -> None:
    opts = Options(engine="tesserocr", ocr_timeout=59.0)  # its own cache slot
    first = get_engine(opts)
    first.close()
    first.close()  # twice is harmless
    with pytest.raises(OcrFailedError, match="closed"):
        first.read(card)
    with pytest.raises(OcrFailedError, match="closed"):
        first.orientation(card)
    again = get_engine(opts)
    assert again is not first
    assert again.read(card).lines[0].text == "Ada Lovelace"
    again.close()


# ----------------------------------------------------------------------------- upright first


@pytest.mark.parametrize("deg", [0, 90, 180, 270])
def test_reads_upright_only_for_an_upright_card(tess: ocr.OcrEngine, card: np.ndarray, deg: int) -> None:
    r = tess.read(ocr.to_gray(rotate_cw(card, deg)), psm=3)
    assert ocr.reads_upright(r) is (deg == 0)


@pytest.mark.parametrize("deg", [0, 90, 270])
def test_pipeline_turns_a_sideways_card_and_skips_orientation_for_an_upright_one(tess: ocr.OcrEngine, card: np.ndarray, deg: int) -> None:
    from cardscan.reading import pipeline
    clock = pipeline._Clock()
    turned, r = pipeline.read_upright(CardImage(pixels=rotate_cw(card, deg)), tess, clock)
    assert turned.rotation == (360 - deg) % 360
    assert ("orientation" in clock.laps) is (deg != 0)
    assert len(words_of(r.text) & EXPECTED) >= 0.85 * len(EXPECTED)


def test_flatten_light_evens_out_a_shadow(card: np.ndarray) -> None:
    g = ocr.to_gray(card).astype(np.float32)
    ramp = np.linspace(0.35, 1.0, g.shape[1], dtype=np.float32)[None, :]
    shadowed = (g * ramp).astype(np.uint8)
    flat = ocr.flatten_light(shadowed)
    assert flat.shape == shadowed.shape and flat.dtype == np.uint8
    # the paper is near-white across the whole card after flattening, not dark on one side
    left, right = flat[:, : flat.shape[1] // 5], flat[:, -flat.shape[1] // 5 :]
    assert abs(float(np.median(left)) - float(np.median(right))) < 20 < abs(float(np.median(shadowed[:, :50])) - float(np.median(shadowed[:, -50:])))
    assert float(np.median(flat)) > 200
