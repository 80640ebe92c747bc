"""Orientation from the detected lines: sideways from the boxes' shape, upside-down from a vote of
PP-OCR's direction classifier over the longest lines (no Tesseract OSD on this path)."""
from __future__ import annotations

import cv2
import numpy as np

from cardscan.reading.ocr.detect import TextBox
from cardscan.reading.ocr.sessions import CLS_MODEL, model

CLS_SHAPE = (48, 192)
VOTE_LINES = 12  # the longest lines vote
FLIP_SHARE = 0.6  # weighted share of '180' votes that turns the card


def sideways(boxes: list[TextBox]) -> bool:
    """Most text (by area) lies in boxes much taller than wide: the card is turned 90 or 270."""
    tall = wide = 0.0
    for b in boxes:
        l, t, w, h = b.bounds
        if max(w, h) < 2.5 * min(w, h):  # short words say little about direction
            continue
        if h > w:
            tall += w * h
        else:
            wide += w * h
    return tall > 1.5 * wide and tall > 0


def _norm(crop: np.ndarray) -> np.ndarray:
    h, w = crop.shape[:2]
    ch, cw = CLS_SHAPE
    rw = min(cw, max(1, int(np.ceil(ch * w / h))))
    img = cv2.resize(crop, (rw, ch))
    x = np.zeros((3, ch, cw), dtype=np.float32)
    x[:, :, :rw] = (img[:, :, ::-1].astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)
    return x


def upside_down_share(crops: list[np.ndarray]) -> float:
    """Share (weighted by line length) of the longest line crops the classifier reads as turned 180."""
    if not crops:
        return 0.0
    pick = sorted(range(len(crops)), key=lambda i: -crops[i].shape[1] / max(1, crops[i].shape[0]))[:VOTE_LINES]
    x = np.stack([_norm(crops[i]) for i in pick])
    probs = model(CLS_MODEL).run(x)
    weights = np.array([min(10.0, crops[i].shape[1] / max(1, crops[i].shape[0])) for i in pick])
    return float((probs[:, 1] * weights).sum() / max(weights.sum(), 1e-6))


def rotate_boxes_180(boxes: list[TextBox], size: tuple[int, int]) -> list[TextBox]:
    w, h = size
    out = []
    for b in boxes:
        q = np.array([[w - 1 - x, h - 1 - y] for x, y in b.quad], dtype=np.float32)
        out.append(TextBox(quad=q[[2, 3, 0, 1]], score=b.score))
    return out
