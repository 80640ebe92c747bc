"""A test OCR engine for worker processes whose speed depends on the photo: the large card is slow,
so with several workers the later, small photos finish first (the order of results is then the
workers' order, not the input's, unless the caller restores it)."""
from __future__ import annotations

import time

import numpy as np

try:  # imported by pytest (tests/ on the path) and by worker processes (the repository root on it)
    from watch_fixtures import FakeTextEngine
except ImportError:
    from tests.watch_fixtures import FakeTextEngine

SLOW_WIDTH = 1500  # cards wider than this (after cropping) take SLOW_SECONDS to read
SLOW_SECONDS = 1.5


class SizeSlowEngine(FakeTextEngine):
    name = "fake-size-slow"

    def read(self, rgb: np.ndarray, /, *, psm: int = 3):  # noqa: ANN201
        if rgb.shape[1] > SLOW_WIDTH:
            time.sleep(SLOW_SECONDS)
        return super().read(rgb, psm=psm)


def make_size_slow_engine(options: object) -> SizeSlowEngine:
    return SizeSlowEngine()
