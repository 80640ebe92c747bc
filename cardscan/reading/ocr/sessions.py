"""The PP-OCR ONNX models that ship inside the installed `rapidocr` wheel, opened with onnxruntime.

No download at run time: the files are found in the package's own `models` folder. One session per
model per process (a forked scan worker opens its own), one intra-op thread each, so two workers on
two cores never oversubscribe (Tesseract is single-threaded too, see `limit_threads`).
"""
from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

from cardscan.errors import MissingDependencyError

DET_MODEL = "PP-OCRv6_det_small.onnx"
REC_MODEL = "PP-OCRv6_rec_small.onnx"
CLS_MODEL = "ch_ppocr_mobile_v2.0_cls_mobile.onnx"

_SESSIONS: dict[str, object] = {}
_LOCK = threading.Lock()


def models_dir() -> Path:
    spec = importlib.util.find_spec("rapidocr")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("the line reader needs the PP-OCR models of the rapidocr package",
                                     hint="pip install 'rapidocr>=3.10,<3.11'")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def model_path(name: str) -> Path:
    p = models_dir() / name
    if not p.is_file():
        raise MissingDependencyError(f"the PP-OCR model {name} is missing from {p.parent}",
                                     hint="pip install --force-reinstall 'rapidocr>=3.10,<3.11'")
    return p


def session(name: str):  # type: ignore[no-untyped-def]
    """The onnxruntime session of model `name` in this process, loaded once."""
    with _LOCK:
        s = _SESSIONS.get(name)
        if s is None:
            try:
                import onnxruntime as ort
            except ImportError:
                raise MissingDependencyError("the line reader needs onnxruntime",
                                             hint="pip install 'onnxruntime>=1.17,<2'") from None
            so = ort.SessionOptions()
            so.intra_op_num_threads = 1
            so.inter_op_num_threads = 1
            so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            so.log_severity_level = 3
            try:
                s = ort.InferenceSession(str(model_path(name)), sess_options=so, providers=["CPUExecutionProvider"])
            except MissingDependencyError:
                raise
            except Exception as e:  # noqa: BLE001 - a broken model file: say so once
                raise MissingDependencyError(f"onnxruntime could not load {name}: {e}",
                                             hint="pip install --force-reinstall 'rapidocr>=3.10,<3.11'") from None
            _SESSIONS[name] = s
        return s


def preload() -> None:
    """Open all three sessions now (a worker calls it once, before its first card)."""
    for name in (DET_MODEL, REC_MODEL, CLS_MODEL):
        session(name)
