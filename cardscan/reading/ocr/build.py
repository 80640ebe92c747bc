"""From per-line readings to an `OcrResult`: words placed in card pixels, lines split at wide gaps
and put in reading order, the other recogniser's reading kept on each line as an alternative."""
from __future__ import annotations

import re

import numpy as np

from cardscan.models import Line, OcrResult, Word
from cardscan.reading.ocr.detect import TextBox
from cardscan.reading.ocr.recognise import LineReading
from cardscan.reading.ocr.tesseract import order_lines, split_at_gaps


def place(words: tuple[Word, ...], box: TextBox, crop_w: int) -> list[Word]:
    """Words with boxes in a line crop -> boxes in card pixels, along the line's top edge."""
    q = box.quad
    _, top, _, height = box.bounds
    out = []
    for w in words:
        f0 = w.box[0] / max(1, crop_w)
        f1 = (w.box[0] + w.box[2]) / max(1, crop_w)
        x0 = q[0] + (q[1] - q[0]) * min(1.0, f0)
        x1 = q[0] + (q[1] - q[0]) * min(1.0, f1)
        out.append(Word(w.text, w.conf, (int(x0[0]), int(top), max(1, int(x1[0] - x0[0])), max(1, int(box.height)))))
    return out


def squash(text: str) -> str:
    """Text compared between recognisers: no spaces, lower case."""
    return re.sub(r"\s+", "", text).lower()


def build(parts: list[tuple[TextBox, int, LineReading, LineReading | None]], *, engine: str,
          size: tuple[int, int]) -> OcrResult:
    """parts: (box, crop width, chosen reading, other reading or None) per detected line."""
    lines: list[Line] = []
    for box, crop_w, chosen, other in parts:
        words = place(chosen.words, box, crop_w)
        if not words:
            continue
        alts: tuple[str, ...] = ()
        if other is not None and other.words and squash(other.text) != squash(chosen.text):
            alts = (other.text,)
        groups = split_at_gaps(words)
        for g in groups:
            lines.append(Line(tuple(g), alternatives=alts if len(groups) == 1 else ()))
    return OcrResult(lines=order_lines(lines), engine=engine, image_size=size)


def mean_conf(readings: list[LineReading]) -> float:
    ws = [w.conf for r in readings for w in r.words]
    return float(np.mean(ws)) if ws else 0.0
