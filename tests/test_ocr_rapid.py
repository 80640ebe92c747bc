"""The second OCR engine (RapidOCR, `--second-engine rapidocr`): real ONNX models, no mocks except
the missing-package case."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from cardscan import api

from cardscan.reading import pipeline
from cardscan.errors import MissingDependencyError
from cardscan.models import Line
from cardscan.reading.ocr.rapid import _line
from cardscan.options import Options
from ocr_fixtures import RIGHT_EMAIL, render_card

rapidocr = pytest.importorskip("rapidocr", reason="the rapidocr extra is not installed")


@pytest.fixture(scope="module")
def rapid():  # type: ignore[no-untyped-def]
    from cardscan.reading.ocr.rapid import get_rapid_engine

    return get_rapid_engine()


def test_reads_a_card_line_by_line(rapid) -> None:  # type: ignore[no-untyped-def]
    r = rapid.read(render_card())
    texts = [l.text for l in r.lines]
    assert any(RIGHT_EMAIL in t for t in texts), texts
    assert r.engine == "rapidocr" and r.image_size == (1100, 620)
    mids = [l.box[1] + l.box[3] / 2 for l in r.lines]
    assert mids == sorted(mids)  # top to bottom by line centre; a shared row left to right:
    row = [t for t in texts if "555" in t or "@" in t]
    assert len(row) == 2 and "555" in row[0] and RIGHT_EMAIL in row[1], texts
    assert all(0 <= w.conf <= 100 for l in r.lines for w in l.words)


def test_second_opinion_through_the_pipeline(tmp_path, rapid) -> None:  # type: ignore[no-untyped-def]
    data = pipeline.encode_crop(render_card(), 1100)
    out = pipeline.process_data("card.jpg", data, api.load_engine(Options(jobs=1)),
                                Options(second_engine="rapidocr", jobs=1))
    assert out.ok, out.error
    assert "rapidocr" in out.ocr_engine and ("tesserocr" in out.ocr_engine or "pytesseract" in out.ocr_engine)
    assert [e.value for e in out.contact.emails] == [RIGHT_EMAIL]
    assert out.contact.scalar("name") == "Ada Lovelace"
    assert "second_engine" in out.timings


def test_word_boxes_split_from_a_slanted_line() -> None:
    quad = np.array([[0, 10], [200, 0], [202, 30], [2, 40]], dtype=float)  # a line tilted ~3 degrees
    line = _line(quad, "ab cdef", 0.9)
    assert isinstance(line, Line) and [w.text for w in line.words] == ["ab", "cdef"]
    assert line.words[0].box[3] == 30  # the quad's short side, not the 40 px axis-aligned box
    assert line.words[1].box[0] > line.words[0].box[0] + line.words[0].box[2]
    assert line.words[0].conf == pytest.approx(90.0)
    assert _line(quad, "   ", 0.9) is None


def test_missing_package_fails_the_scan_before_any_photo(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setitem(sys.modules, "rapidocr", None)  # fault injection: the extra not installed
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None if name == "rapidocr" else object())
    with pytest.raises(MissingDependencyError, match="rapidocr") as ei:
        api.check_ready(Options(second_engine="rapidocr", jobs=1, db=tmp_path / "x.db"))
    assert ei.value.exit_code == 3
    from cardscan.reading.ocr.rapid import RapidOcrEngine

    with pytest.raises(MissingDependencyError, match="RapidOCR"):
        RapidOcrEngine()
