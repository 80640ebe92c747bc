"""Orientation from the detected lines: sideways from the boxes' shape, upside-down from a vote of
PP-OCR's direction classifier over the longest lines (no Tesseract OSD on this path); when the vote
is unsure, from reading the longest lines both ways (`flip_by_reading`)."""
from __future__ import annotations

import cv2
import numpy as np

from cardscan.reading.ocr.detect import TextBox
from cardscan.reading.ocr.recognise import pp_recognise
from cardscan.reading.ocr.sessions import CLS_MODEL, model

CLS_SHAPE = (48, 192)
VOTE_LINES = 12  # the longest lines vote
FLIP_SHARE = 0.6  # weighted share of '180' votes that turns the card
UNSURE = (0.2, 0.8)  # a vote between these is settled by reading the lines both ways
READ_LINES = 4  # the longest lines read both ways
READ_MARGIN = 0.1  # the mean character probability one way must beat the other's by this much
READ_MIN_CHARS = 10  # characters read the winning way, at least


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


def flip_by_reading(crops: list[np.ndarray]) -> bool | None:
    """Whether the card reads better turned 180: the longest lines recognised as they are and
    turned, and the way whose characters PP-OCR reads with the higher mean probability wins by
    READ_MARGIN (with READ_MIN_CHARS characters read that way); None when neither does.

    For a vote the classifier is unsure of. Measured on 304 cards (the dev cards, the samples and
    synthetic photos): where the vote was sure (under 0.2 or over 0.8, 296 cards) the reading agreed
    with it on every card that read at least 10 characters either way; of the 8 unsure votes it
    turned one card the vote had left upside down (light print on a dark card, small in the photo:
    mean probability 0.84 turned against 0.51) and agreed with the vote on the rest or had no
    opinion."""
    if not crops:
        return None
    pick = sorted(range(len(crops)), key=lambda i: -crops[i].shape[1] / max(1, crops[i].shape[0]))[:READ_LINES]

    def read(cs: list[np.ndarray]) -> tuple[float, int]:
        probs = [g.prob for r in pp_recognise(cs) for g in r.glyphs]
        return (float(np.mean(probs)) if probs else 0.0, len(probs))

    (as_is, n_as_is) = read([crops[i] for i in pick])
    (turned, n_turned) = read([np.ascontiguousarray(crops[i][::-1, ::-1]) for i in pick])
    if turned >= as_is + READ_MARGIN and n_turned >= READ_MIN_CHARS:
        return True
    if as_is >= turned + READ_MARGIN and n_as_is >= READ_MIN_CHARS:
        return False
    return None


def turn_180(crops: list[np.ndarray]) -> bool:
    """Whether the card is upside down: the classifier's vote, and when it is unsure, the reading."""
    share = upside_down_share(crops)
    if UNSURE[0] < share < UNSURE[1]:
        by_reading = flip_by_reading(crops)
        if by_reading is not None:
            return by_reading
    return share > FLIP_SHARE


def rotate_boxes_180(boxes: list[TextBox], size: tuple[int, int]) -> list[TextBox]:
    w, h = size
    out = []
    for b in boxes:
        q = np.array([[w - 1 - x, h - 1 - y] for x, y in b.quad], dtype=np.float32)
        out.append(TextBox(quad=q[[2, 3, 0, 1]], score=b.score))
    return out
