"""Line recognisers: PP-OCR's CTC recogniser and Tesseract on one line (psm 7).

Both take the line crops `crop_line` cuts out of the card (straightened with a perspective warp)
and give, per line, words with boxes in the crop's pixels and confidences 0..100.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from cardscan.models import Line, Word
from cardscan.reading.ocr.sessions import REC_MODEL, model

REC_HEIGHT = 48
MAX_RATIO = 40.0  # a line wider than 40x its height is recognised in pieces by nobody: clipped


def crop_line(rgb: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """The line's quadrilateral warped to an upright rectangle (height = the quad's short side)."""
    w = int(max(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[2] - quad[3])))
    h = int(max(np.linalg.norm(quad[0] - quad[3]), np.linalg.norm(quad[1] - quad[2])))
    w, h = max(w, 2), max(h, 2)
    dst = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    m = cv2.getPerspectiveTransform(quad.astype(np.float32), dst)
    return cv2.warpPerspective(rgb, m, (w, h), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC)


@dataclass(frozen=True)
class LineReading:
    words: tuple[Word, ...]  # boxes in the line crop's pixels
    engine: str
    glyphs: tuple["Glyph", ...] = ()  # PP-OCR's characters (empty for Tesseract)

    @property
    def text(self) -> str:
        return Line(self.words).text

    @property
    def conf(self) -> float:
        return Line(self.words).conf


_CHARS: list[str] | None = None


def charset() -> list[str]:
    global _CHARS
    if _CHARS is None:
        _CHARS = ["<blank>"] + model(REC_MODEL).metadata("character").splitlines() + [" "]
    return _CHARS


def _norm(crop: np.ndarray, width: int, pad_to: int = 0) -> np.ndarray:
    """The crop at REC_HEIGHT and at most `width` px, on a zero background `pad_to` (or `width`) wide."""
    h, w = crop.shape[:2]
    rw = min(width, max(1, int(np.ceil(REC_HEIGHT * w / h))))
    img = cv2.resize(crop, (rw, REC_HEIGHT), interpolation=cv2.INTER_AREA if h > REC_HEIGHT else cv2.INTER_LINEAR)
    x = np.zeros((3, REC_HEIGHT, max(width, pad_to)), dtype=np.float32)
    x[:, :, :rw] = (img[:, :, ::-1].astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)
    return x


@dataclass(frozen=True)
class Glyph:
    """One character PP-OCR read: its probability and its span in the line crop's pixels."""

    char: str  # " " for a space the recogniser itself put in
    prob: float
    x0: int
    x1: int


def glyphs(idx: np.ndarray, prob: np.ndarray, scale: float) -> list[Glyph]:
    """CTC greedy decode, each character with the crop columns of its time step."""
    chars = charset()
    out: list[Glyph] = []
    prev = 0
    for t, (i, p) in enumerate(zip(idx, prob)):
        if i != 0 and i != prev and i < len(chars):
            out.append(Glyph(chars[i], float(p), max(0, int((t - 0.5) * scale)), int((t + 1.5) * scale)))
        prev = i
    return out


def words_from_glyphs(gs: list[Glyph], crop_h: int, breaks: frozenset[int] = frozenset()) -> tuple[Word, ...]:
    """Words of a glyph sequence: split at its spaces and before every index in `breaks`."""
    out: list[Word] = []
    cur: list[Glyph] = []

    def flush() -> None:
        if cur:
            text = "".join(g.char for g in cur)
            conf = 100.0 * float(np.mean([g.prob for g in cur]))
            out.append(Word(text, conf, (cur[0].x0, 0, max(1, cur[-1].x1 - cur[0].x0), crop_h)))
            cur.clear()

    for i, g in enumerate(gs):
        if g.char == " ":
            flush()
            continue
        if i in breaks:
            flush()
        cur.append(g)
    flush()
    return tuple(out)


def _best_classes(preds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each time step's best class and its probability (from the model's output, not a second pass)."""
    best = preds[0].argmax(axis=1)
    return best, preds[0][np.arange(len(best)), best]


def pp_recognise(crops: list[np.ndarray]) -> list[LineReading]:
    """PP-OCR's recogniser on every crop: one call per line, at the line's own width.

    No batching: a batch is padded to its widest line (and PP-OCR's own inference pads to at
    least 320 px), and the convolutions pay for the padding. On the dev cards (one thread) batches
    of 8 padded so cost 0.27 s CPU a card, one unpadded line a call 0.18 s, with the same accuracy
    (the padding also changes what the model reads in a few lines, either way).

    A runtime that compiles each input shape (OpenVINO) gets the line padded on the right to a
    multiple of its `width_step` (at most 31 px of 0, PP-OCR's own padding value), and the time
    steps of the padding are dropped from its output."""
    rec = model(REC_MODEL)
    out = []
    for c in crops:
        ratio = min(MAX_RATIO, c.shape[1] / max(1, c.shape[0]))
        width = max(1, int(np.ceil(REC_HEIGHT * ratio)))
        padded = -(-width // rec.width_step) * rec.width_step
        best, prob = rec.run(_norm(c, width, padded)[None], post=_best_classes)
        if padded != width:  # the steps that saw the line, not its padding
            steps = max(1, int(round(len(best) * width / padded)))
            best, prob = best[:steps], prob[:steps]
        scale = c.shape[1] / len(best)  # crop px per time step
        gs = glyphs(best, prob, scale)
        out.append(LineReading(words_from_glyphs(gs, c.shape[0]), "pp-ocr", tuple(gs)))
    return out


GAP_STEP = 1.3  # x the line's median glyph step: a gap PP-OCR saw, where a space may go


def _steps(gs: list[Glyph], a_idx: list[int]) -> np.ndarray:
    """Steps between the centres of consecutive non-space glyphs (a_idx[k-1] -> a_idx[k] at k-1),
    in multiples of the line's median step."""
    centres = [(gs[i].x0 + gs[i].x1) / 2 for i in a_idx]
    if len(centres) < 2:
        return np.zeros(0)
    steps = np.diff(centres)
    return steps / max(float(np.median(steps)), 1e-6)


def _gaps(gs: list[Glyph], a_idx: list[int]) -> set[int]:
    """k such that the step from non-space glyph a_idx[k-1] to a_idx[k] is a gap (>= GAP_STEP)."""
    return {k + 1 for k, st in enumerate(_steps(gs, a_idx)) if st >= GAP_STEP}


def widest_unspaced_step(r: LineReading) -> float:
    """The widest step between two neighbouring characters PP-OCR put no space between, in
    multiples of the line's median step (0 for a line of one character)."""
    gs = list(r.glyphs)
    a_idx = [i for i, g in enumerate(gs) if g.char != " "]
    st = _steps(gs, a_idx)
    return max((float(st[k]) for k in range(len(st)) if a_idx[k + 1] == a_idx[k] + 1), default=0.0)


def with_spaces_of(pp: LineReading, other: LineReading, crop_h: int) -> LineReading:
    """PP-OCR's reading with the word breaks of another reading of the same line added.

    PP-OCR drops many spaces ("TEL+81", "E-mailname@..."); Tesseract keeps them. The two texts are
    aligned character by character (spaces left out); where the other reading starts a word between
    two characters that both readings share, PP-OCR's line is split there too."""
    import difflib

    gs = list(pp.glyphs)
    a_idx = [i for i, g in enumerate(gs) if g.char != " "]
    a = "".join(gs[i].char for i in a_idx).lower()
    b_chars, b_starts = [], set()
    for wi, w in enumerate(other.words):
        if wi:
            b_starts.add(len(b_chars))
        b_chars.extend(w.text.lower())
    b = "".join(b_chars)
    if not a or not b or not b_starts:
        return pp
    to_a: dict[int, int] = {}
    for blk in difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks():
        for k in range(blk.size):
            to_a[blk.b + k] = blk.a + k
    # a break only where PP-OCR also saw a gap: the step between the two glyphs is wider than its
    # usual step on this line (Tesseract also splits words in two: "Administra tivo")
    gaps = _gaps(gs, a_idx)
    breaks = set()
    for j in b_starts:
        if j in to_a and j - 1 in to_a and to_a[j] == to_a[j - 1] + 1 and to_a[j] in gaps:
            breaks.add(a_idx[to_a[j]])
    if not breaks:
        return pp
    return LineReading(words_from_glyphs(gs, crop_h, frozenset(breaks)), pp.engine, pp.glyphs)


LINE_PAD = 0.25  # of the crop height, white-ish margin Tesseract wants around a line


def tesseract_line(engine, crop: np.ndarray) -> LineReading:  # type: ignore[no-untyped-def]
    """Tesseract psm 7 (one text line) on a crop, at a height it reads well, with a margin."""
    gray = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    h = gray.shape[0]
    s = 1.0
    if h < 32 or h > 80:
        s = 48.0 / h
        gray = cv2.resize(gray, (max(1, int(gray.shape[1] * s)), 48), interpolation=cv2.INTER_CUBIC if s > 1 else cv2.INTER_AREA)
    if float(np.median(gray)) < 110:  # light text on a dark band: Tesseract wants dark on light
        gray = 255 - gray
    pad = max(4, int(LINE_PAD * gray.shape[0]))
    gray = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    words = []
    for rw in engine.words(np.ascontiguousarray(gray), psm=7):
        text = rw.text.strip()
        if not text or rw.conf < 0:
            continue
        l, t, w, hh = rw.box
        words.append(Word(text, float(min(max(rw.conf, 0.0), 100.0)),
                          (max(0, int((l - pad) / s)), 0, max(1, int(w / s)), crop.shape[0])))
    return LineReading(tuple(words), "tesseract")
