"""Fault-injection engine factories for tests/test_reliability.py.

Each factory follows the CARDSCAN_TEST_ENGINE_FACTORY hook in cardscan/api.py ("module:callable",
called with the Options). The fault is chosen with CARDSCAN_REL_FAULT:

    crash      the first read fails like a Tesseract killed by a signal (tests/fakes.CrashEngine)
    timeout    the first read overruns its time limit (tests/fakes.SlowEngine)
    badutf8    every read returns TSV with invalid UTF-8 (tests/fakes.BadUtf8Engine)
    ok         every read returns the small invented card of tests/watch_fixtures

After the first faulty read the engine answers like ``ok``: with one worker the photos are read in
name order, so the first photo meets the fault and the next ones show that the batch went on.

``make_cmd_engine`` is the real PytesseractEngine pointed at the program named in
CARDSCAN_REL_TESSERACT (a stand-in script that misbehaves the way a broken Tesseract does).
"""
from __future__ import annotations

import os

import numpy as np

from cardscan.models import OcrResult
from tests.fakes import BadUtf8Engine, CrashEngine, SlowEngine
from tests.watch_fixtures import FakeTextEngine

FAULT_ENV = "CARDSCAN_REL_FAULT"
TESSERACT_ENV = "CARDSCAN_REL_TESSERACT"
FACTORY = "tests.reliability_fixtures:make_fault_engine"
CMD_FACTORY = "tests.reliability_fixtures:make_cmd_engine"


class FirstReadFaults:
    """The given faulty engine for the first read call, then the invented card's text."""

    def __init__(self, fault: object) -> None:
        self.fault = fault
        self.good = FakeTextEngine()
        self.calls = 0
        self.name = "fault-then-text"

    def read(self, rgb: np.ndarray, /, *, psm: int = 3) -> OcrResult:
        self.calls += 1
        if self.calls == 1:
            return self.fault.read(rgb, psm=psm)  # type: ignore[attr-defined]
        return self.good.read(rgb, psm=psm)

    def orientation(self, rgb: np.ndarray, /) -> int:
        return 0

    def close(self) -> None:
        pass


def make_fault_engine(options: object) -> object:
    kind = os.environ.get(FAULT_ENV, "ok")
    if kind == "crash":
        return FirstReadFaults(CrashEngine())
    if kind == "timeout":
        return FirstReadFaults(SlowEngine(delay=5.0, timeout=0.2))
    if kind == "badutf8":
        return BadUtf8Engine()
    return FakeTextEngine()


def make_cmd_engine(options: object) -> object:
    import pytesseract

    from cardscan.reading.ocr.tesseract import PytesseractEngine

    pytesseract.pytesseract.tesseract_cmd = os.environ[TESSERACT_ENV]
    return PytesseractEngine("eng", timeout=10, check=False)
