"""Text-line detection: the PP-OCR DBNet detector, run on the card crop at a reduced size.

`detect_lines(rgb)` gives one quadrilateral per text line (4 corners, clockwise from top-left, in
the pixels of `rgb`) with the detector's mean score inside it. Post-processing is DBNet's own:
threshold the probability map, take each connected region's minimum-area rectangle, score it on
the map, grow it by the unclip ratio (the network predicts shrunk text kernels).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from cardscan.reading.ocr.sessions import DET_MODEL, model

DET_LONG_SIDE = 960  # px of the card crop's long side the detector sees (dev: 736 px cost 0.931 F1 against 0.939, saving 0.06 s CPU a card)
BIN_THRESH = 0.3
BOX_THRESH = 0.5
UNCLIP = 1.6
MIN_SIDE = 3  # px in the map: smaller regions are specks


@dataclass(frozen=True)
class TextBox:
    quad: np.ndarray  # (4, 2) float32, clockwise from top-left, image pixels
    score: float

    @property
    def width(self) -> float:
        return float(np.linalg.norm(self.quad[1] - self.quad[0]))

    @property
    def height(self) -> float:
        return float(np.linalg.norm(self.quad[3] - self.quad[0]))

    @property
    def bounds(self) -> tuple[int, int, int, int]:
        l, t = self.quad.min(axis=0)
        r, b = self.quad.max(axis=0)
        return int(l), int(t), int(max(1, r - l)), int(max(1, b - t))


def _prepare(rgb: np.ndarray, long_side: int, max_up: float = 1.0) -> tuple[np.ndarray, float, float]:
    h, w = rgb.shape[:2]
    s = min(max_up, long_side / max(h, w)) if long_side else 1.0
    nh, nw = max(32, int(round(h * s / 32)) * 32), max(32, int(round(w * s / 32)) * 32)
    img = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    # BGR planes in [-1, 1]: one contiguous float copy, scaled in place (the same values as
    # (x / 127.5 - 1) on the interleaved pixels, at a third of the memory passes)
    x = np.array(img.transpose(2, 0, 1)[::-1], dtype=np.float32, order="C")
    x /= np.float32(127.5)
    x -= np.float32(1.0)
    return x[None], w / nw, h / nh


def _order(pts: np.ndarray) -> np.ndarray:
    """Corners clockwise from top-left."""
    pts = pts[np.argsort(pts[:, 0])]
    left, right = pts[:2], pts[2:]
    tl, bl = left[np.argsort(left[:, 1])]
    tr, br = right[np.argsort(right[:, 1])]
    return np.array([tl, tr, br, bl], dtype=np.float32)


def _box_score(prob: np.ndarray, box: np.ndarray, logits: bool = False) -> float:
    h, w = prob.shape
    xmin, xmax = int(np.clip(np.floor(box[:, 0].min()), 0, w - 1)), int(np.clip(np.ceil(box[:, 0].max()), 0, w - 1))
    ymin, ymax = int(np.clip(np.floor(box[:, 1].min()), 0, h - 1)), int(np.clip(np.ceil(box[:, 1].max()), 0, h - 1))
    mask = np.zeros((ymax - ymin + 1, xmax - xmin + 1), dtype=np.uint8)
    pts = (box - [xmin, ymin]).astype(np.int32)
    cv2.fillPoly(mask, [pts], 1)
    region = prob[ymin:ymax + 1, xmin:xmax + 1]
    if logits:  # the sigmoid, as tanh: no overflow however far below zero a logit lies
        region = 0.5 + 0.5 * np.tanh(0.5 * region)
    return float(cv2.mean(region, mask)[0])


def _unclip(box: np.ndarray, ratio: float) -> np.ndarray | None:
    """Grow a rectangle outwards by area * ratio / perimeter on every side (DBNet's unclip)."""
    rect = cv2.minAreaRect(box.astype(np.float32))
    (cx, cy), (rw, rh), ang = rect
    area, perim = rw * rh, 2 * (rw + rh)
    if perim <= 0:
        return None
    d = area * ratio / perim
    return cv2.boxPoints(((cx, cy), (rw + 2 * d, rh + 2 * d), ang))


_BIN_LOGIT = float(np.log(BIN_THRESH / (1.0 - BIN_THRESH)))  # the same pixels on the map before its sigmoid


def boxes_from_map(prob: np.ndarray, sx: float, sy: float, size: tuple[int, int], *,
                   logits: bool = False) -> list[TextBox]:
    """DBNet post-processing of one probability map (H, W) into text boxes in image pixels.
    ``logits``: the map is taken before the detector's final sigmoid (`sessions.Model.logits`)."""
    bitmap = (prob > (_BIN_LOGIT if logits else BIN_THRESH)).astype(np.uint8)
    bitmap = cv2.dilate(bitmap, np.ones((2, 2), np.uint8))
    contours, _ = cv2.findContours(bitmap * 255, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    w, h = size
    out = []
    for c in contours[:1000]:
        rect = cv2.minAreaRect(c)
        if min(rect[1]) < MIN_SIDE:
            continue
        box = cv2.boxPoints(rect)
        score = _box_score(prob, box, logits)
        if score < BOX_THRESH:
            continue
        grown = _unclip(box, UNCLIP)
        if grown is None or min(cv2.minAreaRect(grown)[1]) < MIN_SIDE + 2:
            continue
        quad = _order(grown) * np.array([sx, sy], dtype=np.float32)
        quad[:, 0] = np.clip(quad[:, 0], 0, w - 1)
        quad[:, 1] = np.clip(quad[:, 1], 0, h - 1)
        out.append(TextBox(quad=quad, score=score))
    return out


def detect_lines(rgb: np.ndarray, /, *, long_side: int = DET_LONG_SIDE, max_up: float = 1.0) -> list[TextBox]:
    """Text lines of an RGB image, in no particular order. An image smaller than ``long_side`` is
    seen at its own size, or up to ``max_up`` times larger."""
    x, sx, sy = _prepare(rgb, long_side, max_up)
    det = model(DET_MODEL)
    size = (rgb.shape[1], rgb.shape[0])
    return det.run(x, post=lambda out: boxes_from_map(out[0, 0], sx, sy, size, logits=det.logits))
