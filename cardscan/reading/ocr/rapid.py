"""A second OCR engine: RapidOCR (PP-OCR models shipped inside the PyPI package, ONNX, offline).

Optional (`pip install 'cardscan[rapidocr]'`). It reads whole text lines; words get boxes split
from the line box in proportion to their length. Used for a second look at cards Tesseract reads
poorly (`--second-engine rapidocr`).
"""
from __future__ import annotations

import logging

import numpy as np

from cardscan.errors import MissingDependencyError, OcrFailedError
from cardscan.models import Line, OcrResult, Word

log = logging.getLogger(__name__)


class RapidOcrEngine:
    name = "rapidocr"

    def __init__(self, *, threads: int = 1, max_side: int = 2000) -> None:
        try:
            from rapidocr import RapidOCR
        except ImportError:
            raise MissingDependencyError("the second OCR engine needs RapidOCR",
                                         hint="pip install 'cardscan[rapidocr]'") from None
        logging.getLogger("RapidOCR").setLevel(logging.WARNING)
        params = {
            "Global.log_level": "warning",
            "Global.max_side_len": max_side,
            "EngineConfig.onnxruntime.intra_op_num_threads": threads,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        }
        try:
            self._ocr = RapidOCR(params=params)
        except Exception as e:  # noqa: BLE001 - a broken model install: say so, once
            raise MissingDependencyError(f"RapidOCR could not load its models: {e}",
                                         hint="pip install --force-reinstall 'cardscan[rapidocr]'") from None

    def read(self, rgb: np.ndarray, /, *, psm: int = 3) -> OcrResult:  # noqa: ARG002 - psm is Tesseract's
        try:
            out = self._ocr(np.ascontiguousarray(rgb[:, :, ::-1]))  # RapidOCR expects BGR like OpenCV
        except Exception as e:  # noqa: BLE001
            raise OcrFailedError(f"RapidOCR failed: {e}") from None
        lines = []
        for box, text, score in zip(out.boxes if out.boxes is not None else [], out.txts or (), out.scores or ()):
            line = _line(np.asarray(box, dtype=float), str(text), float(score))
            if line is not None:
                lines.append(line)
        lines.sort(key=lambda l: (l.box[1] + l.box[3] / 2, l.box[0]))
        return OcrResult(lines=tuple(lines), engine="rapidocr", image_size=(rgb.shape[1], rgb.shape[0]))

    def orientation(self, rgb: np.ndarray, /) -> int:  # noqa: ARG002 - RapidOCR's classifier handles 180
        return 0

    def close(self) -> None:
        self._ocr = None


def _line(quad: np.ndarray, text: str, score: float) -> Line | None:
    tokens = text.split()
    if not tokens:
        return None
    left, top = quad[:, 0].min(), quad[:, 1].min()
    width, height = quad[:, 0].max() - left, quad[:, 1].max() - top
    # a slanted line's axis-aligned box is too tall; its true height is the quad's short side
    true_h = float(np.linalg.norm(quad[3] - quad[0])) if len(quad) == 4 else height
    total = sum(len(t) for t in tokens) + len(tokens) - 1
    words, x = [], left
    for t in tokens:
        w = width * len(t) / max(1, total)
        words.append(Word(t, score * 100.0, (int(x), int(top), max(1, int(w)), max(1, int(true_h)))))
        x += w + width / max(1, total)
    return Line(tuple(words))


_ENGINE: RapidOcrEngine | None = None


def get_rapid_engine() -> RapidOcrEngine:
    """The RapidOCR engine of this process, loaded once (the models take ~1 s to load)."""
    global _ENGINE
    if _ENGINE is None or _ENGINE._ocr is None:
        _ENGINE = RapidOcrEngine()
    return _ENGINE
