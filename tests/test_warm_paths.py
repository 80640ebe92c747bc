"""The speed work on the line reader's paths changes no result: the detector's input is the same
array as the plain formula gives, and the forkserver preload leaves nothing for a worker's first
card to import."""
from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest

from cardscan.reading.ocr import detect


def _reference(rgb: np.ndarray, long_side: int) -> tuple[np.ndarray, float, float]:
    h, w = rgb.shape[:2]
    s = min(1.0, long_side / max(h, w)) if long_side else 1.0
    nh, nw = max(32, int(round(h * s / 32)) * 32), max(32, int(round(w * s / 32)) * 32)
    img = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    x = (img[:, :, ::-1].astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)[None]
    return np.ascontiguousarray(x), w / nw, h / nh


@pytest.mark.parametrize("shape", [(937, 1500, 3), (1500, 900, 3), (300, 500, 3), (2016, 1512, 3)])
def test_detector_input_is_the_plain_formula_bit_for_bit(shape: tuple[int, int, int]) -> None:
    rgb = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    x, sx, sy = detect._prepare(rgb, detect.DET_LONG_SIDE)
    ref, rx, ry = _reference(rgb, detect.DET_LONG_SIDE)
    assert x.dtype == np.float32 and x.flags.c_contiguous
    assert x.shape == ref.shape and np.array_equal(x, ref)
    assert (sx, sy) == (rx, ry)


def test_forkserver_preload_leaves_no_lazy_imports_for_the_first_card() -> None:
    code = ("import sys\n"
            "import cardscan.reading.workerwarm\n"
            "need = ['PIL.JpegImagePlugin', 'PIL.PngImagePlugin', 'probablepeople', 'rapidfuzz', 'onnxruntime']\n"
            "print(','.join(m for m in need if m not in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == ""


def test_follow_up_template_compiled_once_and_renders_as_before() -> None:
    from cardscan.followup import queue

    source = "Subject: Hello {{ name }}\n\nDear {{ name }},\n{% if company %}at {{ company }}{% endif %}\n"
    queue._compiled.cache_clear()
    first = queue.render_text(source, {"name": "Ann", "company": "Acme"})
    second = queue.render_text(source, {"name": "Bo", "company": ""})
    assert queue._compiled.cache_info().misses == 1 and queue._compiled.cache_info().hits == 1
    plain = queue._environment().from_string(source)
    assert first == plain.render({"name": "Ann", "company": "Acme"})
    assert second == plain.render({"name": "Bo", "company": ""})


def test_after_batch_imports_run_in_a_fresh_process_without_error() -> None:
    code = ("import sys\n"
            "from cardscan import api\n"
            "from cardscan.options import Options\n"
            "api._import_for_after_batch(Options(jobs=2))\n"
            "need = ['cardscan.contacts.dedupe', 'nameparser', 'cardscan.followup.queue', 'jinja2']\n"
            "print(','.join(m for m in need if m not in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == ""
