"""The PP-OCR ONNX models that ship inside the installed `rapidocr` wheel, run by one of two runtimes.

No download at run time: the files are found in the package's own `models` folder. One loaded model
per name per process, one thread each, so two workers on two cores never oversubscribe (Tesseract is
single-threaded too, see `limit_threads`).

Runtimes (`--runtime`):
- ``onnxruntime``: float32, the reference.
- ``openvino``: OpenVINO's CPU plugin, computing in bfloat16 where the CPU has bfloat16 instructions
  (AVX512_BF16 or AMX). On this project's 2-core machine (AVX512_BF16) one detector call took 0.5-0.6x
  and a recogniser call about 0.6x the CPU of onnxruntime's; the fields read from the dev cards and
  five synthetic sets came out the same within a field or two either way (README, Accuracy).
- ``auto`` (the default): openvino when it is installed and the CPU has bfloat16 instructions, else
  onnxruntime (without them OpenVINO computes in float32 at onnxruntime's speed).

Each worker loads its own models. OpenVINO starts threads of its own when imported, so it is never
imported by the forkserver that forks the workers (`workerwarm` preloads onnxruntime's sessions
only when they will be used). OpenVINO keeps the models it compiles in the user's cache folder
(`compiled_cache_dir`), so a worker of a later run loads them instead of compiling them again.
"""
from __future__ import annotations

import contextlib
import functools
import importlib.util
import logging
import os
import re
import shutil
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

import numpy as np

from cardscan.errors import BadArgumentsError, MissingDependencyError
from cardscan.options import RUNTIMES

log = logging.getLogger(__name__)

DET_MODEL = "PP-OCRv6_det_small.onnx"
REC_MODEL = "PP-OCRv6_rec_small.onnx"
CLS_MODEL = "ch_ppocr_mobile_v2.0_cls_mobile.onnx"

OV_WIDTH_STEP = 32  # px: OpenVINO compiles each input shape once; recogniser widths rounded up to this


class Model(Protocol):
    """One loaded model: its first output for one input array."""

    runtime: str  # "onnxruntime" or "openvino bf16" / "openvino f32"
    width_step: int  # an input's width is best rounded up to a multiple of this (1: any width)
    logits: bool  # the output is taken before the model's final sigmoid (the caller applies it where it needs it)

    def run(self, x: np.ndarray, post: Callable[[np.ndarray], Any] | None = None) -> Any:
        """The first output for ``x``; with ``post``, ``post`` of it instead (the output is then
        not copied: OpenVINO's is the request's own buffer, which the next call overwrites)."""
        ...

    def metadata(self, key: str) -> str: ...


class OrtModel:
    width_step = 1
    runtime = "onnxruntime"
    logits = False

    def __init__(self, path: Path) -> None:
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
            self._s = ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001 - a broken model file: say so once
            raise MissingDependencyError(f"onnxruntime could not load {path.name}: {e}",
                                         hint="pip install --force-reinstall 'rapidocr>=3.10,<3.11'") from None
        self._input = self._s.get_inputs()[0].name

    def run(self, x: np.ndarray, post: Callable[[np.ndarray], Any] | None = None) -> Any:
        out = self._s.run(None, {self._input: x})[0]
        return out if post is None else post(out)

    def metadata(self, key: str) -> str:
        return self._s.get_modelmeta().custom_metadata_map[key]


class OvModel:
    width_step = OV_WIDTH_STEP
    CACHE_SHAPES = 200  # input shapes whose compiled kernels are kept (OpenVINO's default, 5000, held ~100 MB more
    #                     a worker over the dev cards, and was no faster)

    def __init__(self, path: Path) -> None:
        ov = _import_openvino()
        core, cache = _ov_core(ov)
        bf16 = cpu_has_bf16()
        config = {"INFERENCE_NUM_THREADS": 1, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
                  # pinned threads: two worker processes would both pin theirs to the first core
                  "ENABLE_CPU_PINNING": False, "CPU_RUNTIME_CACHE_CAPACITY": self.CACHE_SHAPES,
                  "INFERENCE_PRECISION_HINT": "bf16" if bf16 else "f32"}
        try:
            read = core.read_model(str(path))
            # the model's own metadata (the recogniser's characters), kept without the model: a
            # model compiled from the cache folder holds weights of its own (27 MB less a worker)
            info = read.get_rt_info()
            framework = info["framework"] if "framework" in list(info.keys()) else {}
            self._meta = {str(k): str(v.astype(str)) for k, v in framework.items()}
            graph, self.logits = _without_final_sigmoid(ov, read)
            self._request = _compile(ov, core, cache, graph, config).create_infer_request()
            del read, graph
        except Exception as e:  # noqa: BLE001 - a broken model file or plugin: say so once
            raise MissingDependencyError(f"OpenVINO could not load {path.name}: {e}",
                                         hint="use --runtime onnxruntime, or pip install --force-reinstall openvino") from None
        self._lock = threading.Lock()  # an infer request serves one call at a time
        self.runtime = "openvino bf16" if bf16 else "openvino f32"

    def run(self, x: np.ndarray, post: Callable[[np.ndarray], Any] | None = None) -> Any:
        with self._lock:
            out = self._request.infer({0: np.ascontiguousarray(x)})[0]
            # the output array is the request's own buffer, overwritten by the next call: copied
            # unless `post` takes what it needs from it now (the recogniser's 11 MB for a line 1,280 px wide)
            return np.array(out, copy=True) if post is None else post(out)

    def metadata(self, key: str) -> str:
        return self._meta[key]


def _without_final_sigmoid(ov: Any, m: Any) -> tuple[Any, bool]:
    """The model with the sigmoid that ends it left out, and True; or the model as it is, and False.

    The detector's last layer turns its full-size map (960 x 544 values) into probabilities: 8 ms
    of its 106 ms a call under OpenVINO on this project's machine. The caller thresholds the raw
    map at the logit of its probability threshold instead (the same pixels) and applies the sigmoid
    only inside the boxes it scores."""
    results = m.get_results()
    if len(results) != 1:
        return m, False
    last = results[0].input_value(0).get_node()
    if last.get_type_name() != "Sigmoid":
        return m, False
    return ov.Model([last.input_value(0)], m.get_parameters(), m.get_friendly_name()), True


CACHE_ENV = "CARDSCAN_MODEL_CACHE"  # a folder for OpenVINO's compiled models; empty: none kept


@functools.cache
def _ov_core(ov: Any) -> tuple[Any, Path | None]:
    """This process's OpenVINO Core, and the folder it keeps the models it compiles in
    (`compiled_cache_dir`; None: none kept): a worker then loads each model compiled by an
    earlier run instead of compiling it again (0.70 -> 0.32 s of CPU a worker for the three
    models on this project's machine).
    OpenVINO names each file by a hash of the model, its settings and the CPU, and compiles again
    when a file does not load (a truncated one is rewritten)."""
    core = ov.Core()
    cache = compiled_cache_dir(ov.get_version())
    if cache is not None:
        try:
            core.set_property({"CACHE_DIR": str(cache)})
        except Exception as e:  # noqa: BLE001 - no cache is only slower
            log.info("OpenVINO keeps no compiled models (%s)", e)
            cache = None
    return core, cache


def _compile(ov: Any, core: Any, cache: Path | None, graph: Any, config: dict) -> Any:
    """``core.compile_model`` for the CPU, one process at a time per cache folder: the workers of a
    first run start together, and two OpenVINOs writing the same file at once make one of them
    fail. Should compiling through the cache fail all the same, the model is compiled without it."""
    if cache is None:
        return core.compile_model(graph, "CPU", config)
    with _folder_lock(cache):
        try:
            return core.compile_model(graph, "CPU", config)
        except Exception as e:  # noqa: BLE001 - the cache's fault or the model's: tried once more without it
            log.info("OpenVINO could not use its compiled-model folder %s (%s); compiling without it", cache, e)
    return ov.Core().compile_model(graph, "CPU", config)


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """An exclusive lock on ``folder``'s lock file, released on leaving; none where it cannot be
    taken (no fcntl, a read-only folder): the compile then only risks the failure `_compile` handles."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    try:
        fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the file releases the lock


def compiled_cache_dir(version: str) -> Path | None:
    """The folder where OpenVINO keeps the compiled models, one folder per OpenVINO version: $CARDSCAN_MODEL_CACHE,
    else $XDG_CACHE_HOME/cardscan, else ~/.cache/cardscan; None when it is set empty or cannot be made.
    Folders left by other OpenVINO versions there are removed (about 30 MB each), and only those:
    a folder holding anything but compiled models and the lock file is left alone (the variable
    may name a folder of the user's own)."""
    env = os.environ.get(CACHE_ENV)
    if env is not None and not env.strip():
        return None
    base = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cardscan"
    name = "openvino-" + re.sub(r"[^A-Za-z0-9.]+", "_", version)[:60]
    try:
        (base / name).mkdir(mode=0o700, parents=True, exist_ok=True)
        for old in base.glob("openvino-*"):
            if old.name != name and _only_compiled_models(old):
                shutil.rmtree(old, ignore_errors=True)
    except (OSError, RuntimeError) as e:  # RuntimeError: no home folder to expand
        log.info("OpenVINO keeps no compiled models: %s: %s", base, e)
        return None
    return base / name


def _only_compiled_models(folder: Path) -> bool:
    """A folder (not a link) that holds only what OpenVINO's cache and `_folder_lock` write."""
    if folder.is_symlink() or not folder.is_dir():
        return False
    return all(f.is_file() and not f.is_symlink() and (f.suffix == ".blob" or f.name == ".lock") for f in folder.iterdir())


def _import_openvino() -> Any:
    try:
        import openvino as ov
    except ImportError:
        raise MissingDependencyError("--runtime openvino needs the openvino package",
                                     hint="pip install 'openvino>=2025.4,<2027', or use --runtime onnxruntime") from None
    return ov


@functools.cache
def cpu_has_bf16() -> bool:
    """The CPU has bfloat16 instructions (AVX512_BF16 or AMX), read without importing OpenVINO
    on Linux (its flags in /proc/cpuinfo); elsewhere OpenVINO is asked. Asked once a process."""
    if sys.platform.startswith("linux"):
        try:
            with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
                for line in fh:
                    if line.startswith("flags"):
                        flags = set(line.split(":", 1)[1].split())
                        return bool(flags & {"avx512_bf16", "amx_bf16"})
        except OSError:
            return False
        return False
    try:
        return "BF16" in _import_openvino().Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except Exception:  # noqa: BLE001 - no OpenVINO or no answer: no bfloat16 here
        return False


def resolve(runtime: str = "auto") -> str:
    """The runtime `runtime` stands for on this machine: onnxruntime or openvino."""
    if runtime not in RUNTIMES:
        raise BadArgumentsError(f"--runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}")
    if runtime != "auto":
        return runtime
    if importlib.util.find_spec("openvino") is not None and cpu_has_bf16():
        return "openvino"
    return "onnxruntime"


def describe(runtime: str = "auto") -> str:
    """What `runtime` runs as here, as `Model.runtime` names it: "onnxruntime", "openvino bf16"
    or "openvino f32" (without loading a model)."""
    r = resolve(runtime)
    return r if r == "onnxruntime" else ("openvino bf16" if cpu_has_bf16() else "openvino f32")


_MODELS: dict[str, Model] = {}
_LOCK = threading.Lock()
_CHOSEN = "auto"


def use(runtime: str) -> None:
    """Run this process's models with `runtime` (one of RUNTIMES); models already loaded with
    another runtime are dropped and load again on their next use."""
    global _CHOSEN
    want = resolve(runtime)
    with _LOCK:
        if resolve(_CHOSEN) != want:
            _MODELS.clear()
        _CHOSEN = runtime


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


def model(name: str) -> Model:
    """Model `name` in this process, loaded once with the chosen runtime. With ``auto``, a model
    OpenVINO cannot load is loaded with onnxruntime instead (and the log says why)."""
    with _LOCK:
        m = _MODELS.get(name)
        if m is None:
            path = model_path(name)
            if resolve(_CHOSEN) == "openvino":
                try:
                    m = OvModel(path)
                except MissingDependencyError as e:
                    if _CHOSEN != "auto":
                        raise
                    log.warning("%s; reading with onnxruntime instead", e)
                    m = OrtModel(path)
            else:
                m = OrtModel(path)
            _MODELS[name] = m
        return m


def preload() -> None:
    """Load all three models now (a worker calls it once, before its first card)."""
    for name in (DET_MODEL, REC_MODEL, CLS_MODEL):
        model(name)
