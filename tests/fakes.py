"""Fault-injection OCR engines (the only stand-ins for Tesseract in the tests).

Each follows cardscan.reading.ocr.tesseract.OcrEngine. Use them to check that callers (read_card, the pipeline)
report OCR failures clearly and treat empty or garbled output as data, not as a crash.
"""
from __future__ import annotations

import time

import numpy as np

from cardscan.errors import OcrFailedError
from cardscan.models import OcrResult
from cardscan.reading.ocr.tesseract import build_lines, parse_tsv

TSV_HEADER = b"level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n"


class _Base:
    name = "fake"

    def __init__(self) -> None:
        self.calls = 0

    def orientation(self, rgb: np.ndarray, /) -> int:
        return 0

    def close(self) -> None:
        pass


class SlowEngine(_Base):
    """Takes `delay` seconds; past `timeout` it fails the way a timed-out Tesseract does."""

    name = "fake-slow"

    def __init__(self, delay: float = 2.0, timeout: float = 0.2, first_delay: float | None = None) -> None:
        super().__init__()
        self.delay, self.timeout, self.first_delay = delay, timeout, first_delay

    def read(self, rgb: np.ndarray, /, *, psm: int = 3) -> OcrResult:
        self.calls += 1
        delay = self.first_delay if self.calls == 1 and self.first_delay is not None else self.delay
        time.sleep(min(delay, self.timeout))
        if delay > self.timeout:
            raise OcrFailedError(f"OCR timed out after {self.timeout:g} s")
        return OcrResult(lines=(), engine=self.name, image_size=(rgb.shape[1], rgb.shape[0]))


class CrashEngine(_Base):
    """Fails like a Tesseract process killed by a signal."""

    name = "fake-crash"

    def read(self, rgb: np.ndarray, /, *, psm: int = 3) -> OcrResult:
        self.calls += 1
        raise OcrFailedError("Tesseract failed (exit -11): Segmentation fault")

    def orientation(self, rgb: np.ndarray, /) -> int:
        raise OcrFailedError("Tesseract failed (exit -11): Segmentation fault")


class EmptyEngine(_Base):
    """Exit 0 with no text: a result with no lines."""

    name = "fake-empty"

    def read(self, rgb: np.ndarray, /, *, psm: int = 3) -> OcrResult:
        self.calls += 1
        return OcrResult(lines=(), engine=self.name, image_size=(rgb.shape[1], rgb.shape[0]))


class BadUtf8Engine(_Base):
    """Output with invalid UTF-8 bytes, decoded by the real TSV parser (U+FFFD replacements)."""

    name = "fake-bad-utf8"
    TSV = TSV_HEADER + (
        b"5\t1\t1\t1\t1\t1\t10\t10\t80\t30\t91.5\tCaf\xe9\n"
        b"5\t1\t1\t1\t1\t2\t100\t10\t90\t30\t88.0\t\xff\xfeabc\n"
        b"5\t1\t1\t1\t2\t1\t10\t60\t200\t30\t95.0\tinfo@example.org\n"
    )

    def read(self, rgb: np.ndarray, /, *, psm: int = 3) -> OcrResult:
        self.calls += 1
        return OcrResult(lines=build_lines(parse_tsv(self.TSV)), engine=self.name, image_size=(rgb.shape[1], rgb.shape[0]))
