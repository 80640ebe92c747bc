"""The line reader (the default): detect text lines, turn the card upright, recognise every line.

    card crop -> detector (DBNet, ~960 px) -> orientation (box shape; direction-classifier vote)
    -> line crops -> PP-OCR recogniser (a call per line) + Tesseract psm 7 on the lines it can change
    -> PP-OCR's characters, split into words where either recogniser puts a space -> OcrResult
    (a line PP-OCR could not read, in a script it does not know: Tesseract's Korean model, `scripts`)

Every line is read by both recognisers, except the lines Tesseract's reading could not change
(`settled`). PP-OCR reads phone photos far better (blur, small print,
light-on-dark) but drops many spaces ("TEL+81", "E-mailname@x.jp"); Tesseract keeps them. The
line's text is PP-OCR's, with Tesseract's word breaks added where the two align (measured on the
dev set: 0.939 micro-F1 against 0.936 when Tesseract's line is kept whenever its confidence
reaches 90, and 0.924 for PP-OCR alone). Tesseract's reading is kept on the line as an alternative
when it differs. Where both read the line alike its words' confidence rises; where both see an
e-mail, a website or a phone number on it but read it differently, the line's confidence falls
below the review threshold, so the field is flagged.
"""
from __future__ import annotations

import itertools
import logging
import re
from dataclasses import replace

import numpy as np

from cardscan.models import CardImage, OcrResult, Word
from cardscan.reading.ocr import build as build_mod
from cardscan.reading.ocr import orient as orient_mod
from cardscan.reading.ocr import scripts as scripts_mod
from cardscan.reading.ocr.detect import DET_LONG_SIDE, TextBox, detect_lines
from cardscan.reading.ocr.sessions import REC_MODEL, model
from cardscan.reading.ocr.recognise import (LineReading, crop_line, pp_recognise, tesseract_line,
                                            widest_unspaced_step, with_spaces_of)
from cardscan.reading.preprocess import rotate_right_angle

log = logging.getLogger(__name__)

AGREE_CONF = 96.0  # both recognisers read the line alike: its words are at least this sure


DISAGREE_CONF = 55.0  # an e-mail/phone/web token the recognisers read differently: below review


def _agree(r: LineReading) -> LineReading:
    return LineReading(tuple(Word(w.text, max(w.conf, AGREE_CONF), w.box) for w in r.words), r.engine)


def _doubt(r: LineReading) -> LineReading:
    return LineReading(tuple(Word(w.text, min(w.conf, DISAGREE_CONF), w.box) for w in r.words), r.engine)


_DIGITS = re.compile(r"\d")
_WEB = re.compile(r"(?i)(?:www\.|https?:|[a-z0-9-]+\.(?:com|net|org|co|io|de|uk|br|jp|in|fr|it|es|ch|nl|au|ca|vn|kr|hk)\b)")


def contact_tokens(text: str) -> dict[str, set[str]]:
    """The e-mail, web and phone-number tokens of a line, in a form two readings can be compared in."""
    toks = text.replace(" @", "@").replace("@ ", "@").split()
    mails = {t.strip(".,;:()<>").lower() for t in toks if "@" in t}
    webs = {t.strip(".,;:()<>").lower() for t in toks if "@" not in t and _WEB.search(t)}
    digits = "".join(_DIGITS.findall(text))
    return {"email": mails, "web": webs, "phone": {digits} if len(digits) >= 7 else set()}


def disagree(a: str, b: str) -> bool:
    """Both readings see an e-mail (a website, a number) on the line, and read it differently."""
    ta, tb = contact_tokens(a), contact_tokens(b)

    def same(x: set[str], y: set[str]) -> bool:  # a label glued on ("E-mailjo@...") is no disagreement
        return all(any(p.endswith(q) or q.endswith(p) for q in y) for p in x)

    return any(ta[k] and tb[k] and not (same(ta[k], tb[k]) and same(tb[k], ta[k])) for k in ta)


SURE_WORD = 90.0  # PP-OCR's least sure word (mean character probability x 100) on a line Tesseract need not read
SETTLED_STEP = 2.0  # x the line's median character step: a wider step with no space may be a lost one
# "JohnSmith", "EMMAROWLAND", "DR.KELLY": spaces PP-OCR may have lost
_RUN_TOGETHER = re.compile(r"[a-z][A-Z]|\b[^\sa-z]{9,}|[A-Za-z]\.[A-Z]")


UNSURE_GLYPH = 0.5  # PP-OCR's probability of a character of an e-mail or website below which it is a guess


def unsure_contact_token(pp: LineReading) -> bool:
    """An e-mail or website on PP-OCR's reading of a line one of whose characters it read at less
    than UNSURE_GLYPH: a misread letter there sends the follow-up elsewhere. Measured on synthetic
    photos: on 700 px photos 3 of 6 wrong e-mails and 1 of 17 right ones are this unsure; on
    sharper photos none of 236 right ones."""
    for space, run in itertools.groupby(pp.glyphs, key=lambda g: g.char == " "):
        token = [] if space else list(run)
        text = "".join(g.char for g in token)
        if token and ("@" in text or _WEB.search(text)) and min(g.prob for g in token) < UNSURE_GLYPH:
            return True
    return False


SURE_GLYPH = 0.99  # every character of a line with an e-mail, website or phone number read at least this sure: no second reading


def unsure_number(pp: LineReading) -> bool:
    """A phone number on PP-OCR's reading of a line (7 digits or more) one of whose digits it read
    at less than UNSURE_GLYPH: a misread digit there calls a stranger. When Tesseract's reading of
    the line shows no number to agree or disagree with, the line is flagged for review. Measured on
    synthetic photos (700 px photos of seeds 9700 and 9940, small cards of seed 9890): 7 wrong
    numbers more flagged, and 3 right ones; the dev cards and seed 9500 unchanged."""
    digits = [g.prob for g in pp.glyphs if g.char.isdigit()]
    return len(digits) >= 7 and min(digits) < UNSURE_GLYPH


def settled(pp: LineReading) -> bool:
    """PP-OCR's reading of a line that a Tesseract reading would not change, so none is made.

    Tesseract's reading changes a line in three ways: its agreement raises the words to AGREE_CONF,
    a disagreement on an e-mail, website or phone number flags them, and its spaces split PP-OCR's
    run-together words. None matters when every word is read at SURE_WORD or more (well above
    every confidence bar the parser and the review use, so a raise changes no decision), no word
    looks run together (no step between two characters much wider than the line's usual one, no
    lower-case letter followed by a capital or a capital glued after a dot, no run of 9 or more
    characters without a lower-case letter: PP-OCR drops spaces most in tightly set capitals), and
    the line holds no e-mail, website or phone number unless PP-OCR read every one of its
    characters at SURE_GLYPH or more.

    Measured on the dev cards' 493 lines: 231 settled (122 when every character had to be 0.97
    sure), and Tesseract's reading of the 109 more would have changed the words of none. Contact
    lines read that sure: 1.65 fewer Tesseract lines a photo over the dev cards and the samples
    (5.31 -> 3.66). On the dev cards and three synthetic sets (309 photos) it took the flags off
    22 values, each of them right (Tesseract had misread it); no flag on a wrong value was lost and
    no field changed."""
    if not pp.words or min(w.conf for w in pp.words) < SURE_WORD:
        return False
    if widest_unspaced_step(pp) >= SETTLED_STEP or _RUN_TOGETHER.search(pp.text):
        return False
    return (not any(contact_tokens(pp.text).values())
            or min((g.prob for g in pp.glyphs if g.char != " "), default=0.0) >= SURE_GLYPH)


class LineReader:
    """Detector + two line recognisers + orientation, composed. `tesseract` is a Tesseract engine
    (tesserocr or the command) or None for PP-OCR alone."""

    def __init__(self, tesseract=None, *, det_long_side: int = DET_LONG_SIDE,  # type: ignore[no-untyped-def]
                 scripts: scripts_mod.ScriptReader | None = None, det_max_up: float = 1.0) -> None:
        self.tesseract = tesseract
        self.scripts = scripts  # Tesseract's models for scripts PP-OCR does not know (Korean); None: not tried
        self.det_long_side = det_long_side
        self.det_max_up = det_max_up  # a card smaller than det_long_side is detected up to this many times larger
        self.tesseract_engine = tesseract
        self.name = "lines (pp-ocr det+rec" + (", tesseract psm 7)" if tesseract is not None else ")")

    def like(self, *, det_long_side: int | None = None, det_max_up: float = 1.0) -> "LineReader":
        """A reader with this one's recognisers and name, detecting at another size."""
        r = LineReader(self.tesseract, det_long_side=self.det_long_side if det_long_side is None else det_long_side,
                       scripts=self.scripts, det_max_up=det_max_up)
        r.tesseract_engine, r.name = self.tesseract_engine, self.name
        return r

    def boxes(self, rgb: np.ndarray) -> list[TextBox]:
        return detect_lines(rgb, long_side=self.det_long_side, max_up=self.det_max_up)

    def upright(self, card: CardImage) -> tuple[CardImage, list[TextBox], list[np.ndarray]]:
        """The card turned upright, its text boxes and their line crops."""
        rgb = card.pixels
        boxes = self.boxes(rgb)
        rot = 0
        if orient_mod.sideways(boxes):
            rot = 90
            rgb = rotate_right_angle(rgb, 90)
            boxes = self.boxes(rgb)
        crops = [crop_line(rgb, b.quad) for b in boxes]
        if orient_mod.turn_180(crops):
            rot = (rot + 180) % 360
            size = (rgb.shape[1], rgb.shape[0])
            rgb = rotate_right_angle(rgb, 180)
            boxes = orient_mod.rotate_boxes_180(boxes, size)
            crops = [c[::-1, ::-1] for c in crops]
        if rot:
            card = replace(card, pixels=np.ascontiguousarray(rgb), rotation=(card.rotation + rot) % 360)
        order = sorted(range(len(boxes)), key=lambda i: (boxes[i].bounds[1] + boxes[i].bounds[3] / 2, boxes[i].bounds[0]))
        return card, [boxes[i] for i in order], [np.ascontiguousarray(crops[i]) for i in order]

    def read_card(self, card: CardImage) -> tuple[CardImage, OcrResult]:
        card, boxes, crops = self.upright(card)
        pp = pp_recognise(crops) if crops else []
        parts = []
        for box, crop, p in zip(boxes, crops, pp):
            if self.scripts is not None and scripts_mod.unread(p, crop.shape[1]):
                s = self.scripts.read(crop)
                if s is not None:  # a Korean line: PP-OCR's reading of it was noise
                    parts.append((box, crop.shape[1], s, None))
                    continue
            t = tesseract_line(self.tesseract, crop) if self.tesseract is not None and not settled(p) else None
            chosen, other = p, t
            if t is not None and t.words:
                if build_mod.squash(t.text) == build_mod.squash(p.text):
                    chosen, other = t, p  # the same text: Tesseract's words, with its spaces
                else:
                    chosen = with_spaces_of(p, t, crop.shape[0])
            seen = other.text if other is not None and other.words else ""
            seen_tokens = contact_tokens(seen)
            if seen and build_mod.squash(seen) == build_mod.squash(chosen.text):
                chosen = _agree(chosen)
            elif seen and disagree(chosen.text, seen):
                chosen = _doubt(chosen)
            elif unsure_contact_token(p) and not (seen_tokens["email"] or seen_tokens["web"]):
                chosen = _doubt(chosen)  # only PP-OCR sees the address, and one of its characters is a guess
            elif unsure_number(p) and not seen_tokens["phone"]:
                chosen = _doubt(chosen)  # only PP-OCR sees the number, and one of its digits is a guess
            parts.append((box, crop.shape[1], chosen, other))
        size = (card.pixels.shape[1], card.pixels.shape[0])
        engine = f"{self.name} on {model(REC_MODEL).runtime}"  # "... on openvino bf16": what read the lines
        return card, build_mod.build(parts, engine=engine, size=size)
