"""Where the card is when the contour finder did not find it: the cluster of its detected text lines.

A light card on a light table, a card in a hand or a sleeve, a card small in a large photo: no
outline the contour finder trusts, so the photo passes whole (``method="passthrough"``). The line
reader's text detector still finds the card's lines. Their main cluster (stray text far from it --
a mug's print, a document on the table -- left out) is where the card is; when that region is
clearly smaller than the photo, and the detector would see it clearly finer there, the card's
neighbourhood is detected again at its own scale, its text clustered again, and that region cut
and read as the card (``method="textcluster"``), shown in the report and searched for QR codes
first. A small region is cut from the photo decoded larger when the file has the pixels.

    boxes (detector, whole photo) -> blocks (gap <= LINK_H line heights)
    -> main block (most text) + the blocks near it while the text still fits in a card
    -> region <= MAX_SHARE of the photo and >= REDETECT_GAIN finer: detect its neighbourhood again
    -> cluster again -> cut (from a larger decode when small) -> the line reader reads the cut

Measured (dev set, synthetic photos from unseen seeds): see README, Limits.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from cardscan.models import CardImage
from cardscan.reading.ocr.detect import TextBox
from cardscan.reading.ocr.lines import LineReader
from cardscan.reading.preprocess import is_dark_background

log = logging.getLogger(__name__)

Larger = Callable[[float], "tuple[np.ndarray, float] | None"]

LINK_H = 2.5  # boxes this many (median) line heights apart, or closer, are one block of text
CARD_H = 40.0  # a card's long side is at most this many small-print line heights (the 25th percentile
#                of the detected boxes' heights; on the dev set's found cards 26-42 from the 5th to the
#                95th percentile, median 34)
JOIN_SHARE = 0.5  # a block joins the card's text when it is at most this share of that card size away ...
#                   ... and the text with it still fits in a card
MARGIN_SHARE = 0.12  # margin around the text: this share of the text's long side ...
MARGIN_H = 1.5  # ... plus this many line heights (about a card's own margin)
MAX_SHARE = 0.5  # the region is cut and read when it is at most this share of the photo's area (measured:
#                  0.3-0.6 the same on the synthetic sets; 0.6 lost a dev-set name to a misread letter)
REDETECT_GAIN = 1.25  # ... and the detector sees it at least this much finer than in the whole photo
MIN_BOXES = 1  # fewer text lines than this locate nothing
MIN_ASPECT = 1.6  # boxes squarer than this (a phone's screen, a coin, a logo) do not place the card
REACH = 1.0  # the finer detection looks this many times the text's long side around it
LARGER_SIDE = 1000  # px: a region smaller than this is cut from a larger decode of the photo, when it has one ...
LARGER_MAX = 2.0  # ... at most this many times larger
LARGER_MIN_GAIN = 1.2  # ... and only when the decode gains at least this factor
LARGER_MARGIN = 0.3  # ... with this share of the region's long side added around it (its small print was not seen)
LARGER_DET_SIDE = 1600  # px: and detected at up to this long side
CUT_MAX_UP = 2.0  # a cut the finer detection saw reduced, and no larger decode: detected again, up to this much enlarged


@dataclass(frozen=True)
class Region:
    """(left, top, right, bottom) in photo pixels, and the boxes of the card's text in it."""

    box: tuple[int, int, int, int]
    boxes: tuple[TextBox, ...]
    line_h: float

    @property
    def area(self) -> int:
        return (self.box[2] - self.box[0]) * (self.box[3] - self.box[1])


def _bounds(boxes: list[TextBox]) -> tuple[float, float, float, float]:
    q = np.concatenate([b.quad for b in boxes])
    (l, t), (r, b) = q.min(axis=0), q.max(axis=0)
    return float(l), float(t), float(r), float(b)


def _gap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Distance between two axis-aligned rectangles (0 when they touch or overlap)."""
    dx = max(0.0, max(a[0], b[0]) - min(a[2], b[2]))
    dy = max(0.0, max(a[1], b[1]) - min(a[3], b[3]))
    return float(np.hypot(dx, dy))


def _line_h(b: TextBox) -> float:
    return max(1.0, min(b.width, b.height))  # the short side: a sideways card's lines are tall


def components(boxes: list[TextBox], link: float) -> list[list[TextBox]]:
    """Single-linkage groups of boxes whose rectangles are at most ``link`` px apart."""
    n = len(boxes)
    if n == 0:
        return []
    r = np.array([_bounds([b]) for b in boxes])  # (n, 4): left, top, right, bottom
    dx = np.maximum(0.0, np.maximum(r[:, None, 0], r[None, :, 0]) - np.minimum(r[:, None, 2], r[None, :, 2]))
    dy = np.maximum(0.0, np.maximum(r[:, None, 1], r[None, :, 1]) - np.minimum(r[:, None, 3], r[None, :, 3]))
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(np.triu(np.hypot(dx, dy) <= link, 1))):
        parent[root(int(i))] = root(int(j))
    groups: dict[int, list[TextBox]] = {}
    for i in range(n):
        groups.setdefault(root(i), []).append(boxes[i])
    return list(groups.values())


def _text(group: list[TextBox]) -> float:
    """How much text a block holds: the length of its lines (a block of many lines beats one
    large word or a pen the detector took for a line)."""
    return sum(max(b.width, b.height) * b.score for b in group)


def card_text(boxes: list[TextBox]) -> tuple[list[TextBox], float] | None:
    """The boxes of the card's text (the main cluster and the blocks that join it), and their
    median line height; None when there is too little text to tell."""
    boxes = [b for b in boxes if max(b.width, b.height) >= MIN_ASPECT * _line_h(b)]
    if len(boxes) < MIN_BOXES:
        return None
    h = float(np.median([_line_h(b) for b in boxes]))
    groups = sorted(components(boxes, LINK_H * h), key=_text, reverse=True)
    main, rest = list(groups[0]), groups[1:]
    card = CARD_H * float(np.percentile([_line_h(b) for b in boxes], 25))  # the longest a card can be
    while rest:  # the nearest block that fits first, until none does
        mb = _bounds(main)

        def fits(g: list[TextBox]) -> bool:
            u = _bounds(main + g)
            return _gap(mb, _bounds(g)) <= JOIN_SHARE * card and max(u[2] - u[0], u[3] - u[1]) <= card

        near = sorted((i for i in range(len(rest)) if fits(rest[i])), key=lambda i: _gap(mb, _bounds(rest[i])))
        if not near:
            break
        main += rest.pop(near[0])
    if len(main) < MIN_BOXES:
        return None
    return main, float(np.median([_line_h(b) for b in main]))


def text_region(boxes: list[TextBox], size: tuple[int, int]) -> Region | None:
    """The card's region in a photo of ``size`` (w, h) from its detected text lines: the main
    cluster with a card-like margin, clipped to the photo; None when the text says nothing."""
    found = card_text(boxes)
    if found is None:
        return None
    main, h = found
    w_img, h_img = size
    l, t, r, b = _bounds(main)
    pad = MARGIN_SHARE * max(r - l, b - t) + MARGIN_H * h
    box = (max(0, int(l - pad)), max(0, int(t - pad)), min(w_img, int(np.ceil(r + pad))), min(h_img, int(np.ceil(b + pad))))
    return Region(box, tuple(main), h)


class _Primed(LineReader):
    """A line reader whose first detection on one given image is already known (no second run)."""

    def __init__(self, base: LineReader, rgb: np.ndarray, boxes: list[TextBox]) -> None:
        super().__init__(base.tesseract, det_long_side=base.det_long_side, scripts=base.scripts,
                         det_max_up=base.det_max_up)
        self.tesseract_engine, self.name = base.tesseract_engine, base.name
        self._rgb, self._boxes = rgb, boxes

    def boxes(self, rgb: np.ndarray) -> list[TextBox]:
        if rgb is self._rgb:
            return list(self._boxes)
        return super().boxes(rgb)


def _cut(card: CardImage, box: tuple[int, int, int, int], offset: tuple[int, int] = (0, 0)) -> CardImage:
    l, t, r, b = box
    crop = np.ascontiguousarray(card.pixels[t:b, l:r])
    x, y = l + offset[0], t + offset[1]
    quad = ((float(x), float(y)), (float(x + r - l), float(y)), (float(x + r - l), float(y + b - t)), (float(x), float(y + b - t)))
    return replace(card, pixels=crop, quad=quad, inverted=is_dark_background(crop), method="textcluster")


def _shifted(boxes: list[TextBox], box: tuple[int, int, int, int]) -> list[TextBox]:
    """The boxes whose centre lies in ``box``, in its pixels (clipped to it)."""
    l, t, r, b = box
    out = []
    for tb in boxes:
        cx, cy = tb.quad.mean(axis=0)
        if l <= cx < r and t <= cy < b:
            q = tb.quad - np.array([l, t], np.float32)
            q[:, 0] = np.clip(q[:, 0], 0, r - l - 1)
            q[:, 1] = np.clip(q[:, 1], 0, b - t - 1)
            out.append(TextBox(quad=q, score=tb.score))
    return out


def _scale(reader: LineReader, shape: tuple[int, ...]) -> float:
    return min(1.0, reader.det_long_side / max(shape[:2]))


def locate(card: CardImage, reader: LineReader, larger: Larger | None = None) -> tuple[CardImage, LineReader]:
    """For a photo passed whole: the card cut to its text's region, or the photo as it was; with
    the reader to read it with (no detection made here is run twice).

    The photo's detection (at most ``det_long_side`` px) places the card's text roughly -- of a
    card small in the frame it may see only the largest print. When the text's region is at most
    ``MAX_SHARE`` of the photo and the detector would see it clearly finer (``REDETECT_GAIN``; a
    small photo was detected at full scale already, and cutting it could only lose text), the
    neighbourhood the card can reach from that text is detected again at its own scale, the
    card's text located once more in that finer detection, and its region cut and read. A region
    smaller than ``LARGER_SIDE`` px is cut from the photo decoded larger when ``larger`` can
    (``larger(k)`` -> (the photo k times larger in ``card.pixels``' geometry, the factor it got)
    or None): a small card in a 12 MP photo is read from the file's own pixels."""
    rgb = card.pixels
    boxes = reader.boxes(rgb)
    size = (rgb.shape[1], rgb.shape[0])
    region = text_region(boxes, size)
    if region is None or region.area > MAX_SHARE * size[0] * size[1]:
        return card, _Primed(reader, rgb, boxes)
    before = _scale(reader, rgb.shape)
    if _scale(reader, (region.box[3] - region.box[1], region.box[2] - region.box[0])) < REDETECT_GAIN * before:
        return card, _Primed(reader, rgb, boxes)
    l, t, r, b = _bounds(list(region.boxes))
    # the card may lie this far beyond the text seen so far (of a small card only its largest
    # print may be seen: half a card measured in that print's height)
    reach = max(REACH * max(r - l, b - t), 0.5 * CARD_H * region.line_h)
    # ... but no farther than a look REDETECT_GAIN finer can take in (a reach past it had fallen
    # back to the text's own region, which cut off the lines of a card whose largest print was seen)
    widest = 0.99 * reader.det_long_side / (REDETECT_GAIN * before)
    reach = min(reach, max(0.0, (widest - max(r - l, b - t)) / 2))
    near = (max(0, int(l - reach)), max(0, int(t - reach)), min(size[0], int(r + reach)), min(size[1], int(b + reach)))
    if _scale(reader, (near[3] - near[1], near[2] - near[0])) < REDETECT_GAIN * before:
        near = region.box
    area = _cut(card, near)
    fine = reader.boxes(area.pixels)  # the one extra detection
    again = text_region(fine, (area.pixels.shape[1], area.pixels.shape[0]))
    if again is None:
        return area, _Primed(reader, area.pixels, fine)
    cut = _cut(area, again.box, offset=near[:2])
    boxes = _shifted(fine, again.box)
    side = max(cut.pixels.shape[:2])
    if larger is not None and side < LARGER_SIDE:
        sharper = _from_larger(cut, larger, min(LARGER_MAX, LARGER_SIDE / side))
        if sharper is not None:  # detected again, at up to its full size: the small print shows now
            return sharper, reader.like(det_long_side=max(reader.det_long_side,
                                                          min(LARGER_DET_SIDE, max(sharper.pixels.shape[:2]))))
    if _scale(reader, area.pixels.shape) < 1.0:
        # the neighbourhood was detected reduced, so the small print of a card small in the photo
        # may not have shown (only its name, say): the region, with the wider margin, detected
        # again at its own size or enlarged up to CUT_MAX_UP, and cut to the text found there
        wide = _widened(card, cut, LARGER_MARGIN)
        fine_reader = reader.like(det_max_up=CUT_MAX_UP)
        finer = fine_reader.boxes(wide.pixels)
        tight = text_region(finer, (wide.pixels.shape[1], wide.pixels.shape[0]))
        if tight is None:
            return wide, _Primed(fine_reader, wide.pixels, finer)
        origin = (int(wide.quad[0][0]), int(wide.quad[0][1]))
        final = _cut(wide, tight.box, offset=origin)
        return final, _Primed(fine_reader, final.pixels, _shifted(finer, tight.box))
    return cut, _Primed(reader, cut.pixels, boxes)


def _widened(card: CardImage, cut: CardImage, margin: float) -> CardImage:
    """The cut with ``margin`` of its long side added around it, from the photo ``card``."""
    (l, t), (r, b) = cut.quad[0], cut.quad[2]
    m = margin * max(r - l, b - t)
    h, w = card.pixels.shape[:2]
    return _cut(card, (max(0, int(l - m)), max(0, int(t - m)), min(w, int(np.ceil(r + m))), min(h, int(np.ceil(b + m)))))


MIN_CARD_BOXES = 4  # a card of its own among several: at least this many text lines
SPLIT_GAP = 6.0  # ... and at least this many line heights from every other such block of text
MAX_CARDS = 6


def separate_blocks(boxes: list[TextBox], size: tuple[int, int]) -> list[Region]:
    """Blocks of text that may each be a card of their own (two cards side by side on a table of
    their colour): MIN_CARD_BOXES lines or more each, SPLIT_GAP line heights or more apart from
    each other, in reading order. Fewer than two: []. Only a guess: the caller reads each and keeps
    them apart only when each reads as a card."""
    boxes = [b for b in boxes if max(b.width, b.height) >= MIN_ASPECT * _line_h(b)]
    if len(boxes) < 2 * MIN_CARD_BOXES:
        return []
    h = float(np.median([_line_h(b) for b in boxes]))
    big = [g for g in components(boxes, LINK_H * h) if len(g) >= MIN_CARD_BOXES]
    if not 2 <= len(big) <= MAX_CARDS:
        return []
    bounds = [_bounds(g) for g in big]
    if any(_gap(bounds[i], bounds[j]) < SPLIT_GAP * h for i in range(len(big)) for j in range(i + 1, len(big))):
        return []
    regions = [text_region(g, size) for g in big]
    if any(r is None or r.area > MAX_SHARE * size[0] * size[1] for r in regions):
        return []
    return sorted((r for r in regions if r is not None), key=lambda r: (r.box[1] // max(1, (r.box[3] - r.box[1]) // 2), r.box[0]))


def text_cards(card: CardImage, reader: LineReader) -> tuple[list[CardImage], LineReader]:
    """For a photo passed whole: the cuts of the blocks of text that may each be a card (none
    when the text shows one), and the reader primed with the photo's detection, for ``locate``."""
    rgb = card.pixels
    boxes = reader.boxes(rgb)
    regions = separate_blocks(boxes, (rgb.shape[1], rgb.shape[0]))
    return [_cut(card, r.box) for r in regions], _Primed(reader, rgb, boxes)


def _from_larger(cut: CardImage, larger: Larger, want: float) -> CardImage | None:
    """The cut region, with a wider margin (its small print was not all seen), taken from the
    photo decoded ``want`` times larger; None when the file has no more pixels."""
    try:
        big = larger(want)
    except Exception as e:  # noqa: BLE001 - the smaller decode is still good to read
        log.warning("could not decode the photo larger (%s); reading the card as decoded", e)
        return None
    if big is None:
        return None
    pixels, k = big
    if k < LARGER_MIN_GAIN:
        return None
    (l, t), (r, b) = cut.quad[0], cut.quad[2]
    m = LARGER_MARGIN * max(r - l, b - t)
    L, T = max(0, int((l - m) * k)), max(0, int((t - m) * k))
    R, B = min(pixels.shape[1], int(np.ceil((r + m) * k))), min(pixels.shape[0], int(np.ceil((b + m) * k)))
    crop = np.ascontiguousarray(pixels[T:B, L:R])
    if crop.size == 0:
        return None
    quad = tuple((x / k, y / k) for x, y in ((L, T), (R, T), (R, B), (L, B)))
    log.debug("card located by its text: %dx%d px from a %.2fx larger decode", crop.shape[1], crop.shape[0], k)
    return replace(cut, pixels=crop, quad=quad, inverted=is_dark_background(crop))
