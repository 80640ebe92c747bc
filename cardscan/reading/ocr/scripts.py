"""Lines in a script PP-OCR's recogniser does not know: Korean (Hangul), read by Tesseract's model.

PP-OCR's recogniser reads Latin, Greek, Chinese and Japanese, but has no Hangul: a Hangul line
comes back empty, or as a few unsure Han characters ("김민준" as "召歪"), and the card's Korean name,
title and company are lost or replaced by noise. Such a line, and only such a line, is read again
by Tesseract with its Korean model (`tesseract-ocr-kor`), and its reading replaces PP-OCR's when it
is plainly Korean: at least MIN_SYLLABLES Hangul syllables, most of the line's characters Hangul,
read at MIN_CONF or more. On the dev cards 8 of 493 lines are tried and none is taken (the Korean
model reads a Japanese name or a logo at confidence 0-50).

Without the Korean model installed nothing is tried (one debug message).
"""
from __future__ import annotations

import logging
import re
import threading

import numpy as np

from cardscan.models import Word
from cardscan.parsing.layout import CJK_RE
from cardscan.reading.ocr.recognise import LineReading, tesseract_line

log = logging.getLogger(__name__)

KOREAN = "kor"  # the Tesseract model tried on a line PP-OCR could not read
HANGUL_RE = re.compile("[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
MIN_SYLLABLES = 2
MIN_SHARE = 0.6  # of the line's characters (spaces left out)
MIN_CONF = 85.0  # mean word confidence of the Korean reading
UNSURE_CJK = 0.9  # a Han/kana line with a character below this may be Hangul PP-OCR mistook
MIN_COVER = 0.5  # PP-OCR's characters span less than this share of the line: most of it unread


def unread(pp: LineReading, width: int) -> bool:
    """PP-OCR's reading of a line that may be in a script it does not know: nothing read, a few
    unsure Han/kana characters, or characters over less than half of the line."""
    if not pp.glyphs or not pp.words:
        return True
    if CJK_RE.search(pp.text) and min(g.prob for g in pp.glyphs) < UNSURE_CJK:
        return True
    span = max(g.x1 for g in pp.glyphs) - min(g.x0 for g in pp.glyphs)
    return span < MIN_COVER * max(1, width)


def is_korean(r: LineReading) -> bool:
    chars = r.text.replace(" ", "")
    syllables = len(HANGUL_RE.findall(chars))
    return bool(r.words) and syllables >= MIN_SYLLABLES and syllables >= MIN_SHARE * len(chars) and r.conf >= MIN_CONF


class ScriptReader:
    """Tesseract's Korean model, loaded on the first line that needs it (None when not installed)."""

    def __init__(self, lang: str = KOREAN) -> None:
        self.lang = lang
        self._engine: object | None = None
        self._loaded = False
        self._lock = threading.Lock()

    def engine(self):  # type: ignore[no-untyped-def]
        with self._lock:
            if not self._loaded:
                self._loaded = True
                from cardscan.reading.ocr.tesseract import TesserocrEngine, find_tessdata

                if find_tessdata([self.lang]) is None:
                    log.debug("no Tesseract model for %r: lines in its script are not read", self.lang)
                else:
                    try:
                        self._engine = TesserocrEngine(self.lang)
                    except Exception as e:  # noqa: BLE001 - the other lines are still read
                        log.debug("Tesseract could not load %r: %s", self.lang, e)
            return self._engine

    def read(self, crop: np.ndarray) -> LineReading | None:
        """The line's Korean reading when it is plainly Korean, else None."""
        engine = self.engine()
        if engine is None:
            return None
        r = tesseract_line(engine, crop)
        return LineReading(join_syllables(r.words), f"tesseract {self.lang}") if is_korean(r) else None


def join_syllables(words: tuple[Word, ...]) -> tuple[Word, ...]:
    """Tesseract's Korean model often sets a space between the syllables of one word ("서 울
    특별시", "한 빛 전자"): a run of two or more one-syllable words is joined into one word."""
    out: list[Word] = []
    run: list[Word] = []

    def flush() -> None:
        if len(run) >= 2:
            l, r = run[0].box[0], max(w.box[0] + w.box[2] for w in run)
            out.append(Word("".join(w.text for w in run), min(w.conf for w in run), (l, run[0].box[1], r - l, run[0].box[3])))
        else:
            out.extend(run)
        run.clear()

    for w in words:
        if len(w.text) == 1 and HANGUL_RE.match(w.text):
            run.append(w)
            continue
        flush()
        out.append(w)
    flush()
    return tuple(out)
