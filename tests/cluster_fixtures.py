"""A test OCR engine for Dask cluster workers (CARDSCAN_TEST_ENGINE_FACTORY), tiny photos, and a
LocalCluster of 2 worker processes on 127.0.0.1 for tests/test_cluster.py."""
from __future__ import annotations

import io
import os

import numpy as np
from PIL import Image

from tests.watch_fixtures import FakeTextEngine

ENGINE = "tests.cluster_fixtures:make_engine"
DELAY_ENV = "CARDSCAN_FAKE_OCR_DELAY"


class KillingEngine(FakeTextEngine):
    """The fake card text for every photo, except that a (nearly) black photo ends the worker
    process at once, the way a crash in native code would: fault injection for the cluster."""

    def read(self, rgb: np.ndarray, /, *, psm: int = 3):  # noqa: ANN201
        if float(rgb.mean()) < 12:
            os._exit(1)
        return super().read(rgb, psm=psm)


def make_engine(options: object) -> KillingEngine:
    return KillingEngine(float(os.environ.get(DELAY_ENV, "0") or 0))


def tiny_jpeg(i: int) -> bytes:
    """A small plain photo (about 1 KB), unique per i: the pipeline passes it whole (no card edge
    to find) and the test engine gives it the card text, so a photo costs the workers ~3 ms."""
    buf = io.BytesIO()
    Image.new("RGB", (200, 150), (i % 256, (i // 256) % 256, 128)).save(buf, "JPEG", quality=80,
                                                                     comment=f"test photo {i}")
    return buf.getvalue()


def black_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (320, 240), (3, 3, 3)).save(buf, "JPEG", quality=90)
    return buf.getvalue()
