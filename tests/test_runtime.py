"""The line reader's model runtimes (reading/ocr/sessions.py): onnxruntime in float32 and OpenVINO
(bfloat16 where the CPU has it), with the real models. Mocks only stand in for a machine without
bfloat16 or without OpenVINO, and for a model OpenVINO cannot load."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from cardscan.errors import BadArgumentsError, MissingDependencyError
from cardscan.options import Options
from cardscan.reading import pipeline
from cardscan.reading.ocr import detect, recognise, sessions
from cardscan.reading.ocr import tesseract as ocr_mod
from tests.imaging_fixtures import CARD_LINES, encode, photo_scene, render_card

pytest.importorskip("openvino")


@pytest.fixture(autouse=True)
def _back_to_auto():
    yield
    sessions.use("auto")


def squashed(text: str) -> str:
    return "".join(text.split()).lower()


def _lines(runtime: str) -> list[recognise.LineReading]:
    sessions.use(runtime)
    card = render_card()
    boxes = sorted(detect.detect_lines(card), key=lambda b: (b.bounds[1], b.bounds[0]))
    return recognise.pp_recognise([recognise.crop_line(card, b.quad) for b in boxes])


def test_both_runtimes_read_the_card_alike_and_place_the_words_alike():
    ort, ov = _lines("onnxruntime"), _lines("openvino")
    assert sessions.model(sessions.REC_MODEL).runtime.startswith("openvino")
    assert len(ort) == len(ov) >= len(CARD_LINES)
    assert [squashed(r.text) for r in ov] == [squashed(r.text) for r in ort]
    for a, b in zip(ort, ov):  # the padded time steps are dropped: the glyphs sit where they did
        assert len(a.glyphs) == len(b.glyphs)
        for ga, gb in zip(a.glyphs, b.glyphs):
            assert abs(ga.x0 - gb.x0) <= 8 and abs(ga.x1 - gb.x1) <= 8


def test_openvino_pads_the_line_to_its_width_step_and_reads_only_the_line(monkeypatch):
    sessions.use("openvino")
    rec = sessions.model(sessions.REC_MODEL)
    assert rec.width_step == sessions.OV_WIDTH_STEP
    card = render_card()
    boxes = sorted(detect.detect_lines(card), key=lambda b: (b.bounds[1], b.bounds[0]))
    crops = [recognise.crop_line(card, b.quad) for b in boxes]
    padded = recognise.pp_recognise(crops)
    monkeypatch.setattr(rec, "width_step", 1)  # the same model on each line at its own width
    unpadded = recognise.pp_recognise(crops)
    assert squashed(padded[0].text) == squashed(CARD_LINES[0])
    moved = [abs(a.x1 - b.x1) for p, u in zip(padded, unpadded) if p.text == u.text
             for a, b in zip(p.glyphs, u.glyphs)]
    assert len(moved) > 50 and max(moved) <= 3  # the padding's steps dropped: the glyphs stay put


def test_openvino_detector_gives_the_map_before_its_sigmoid_and_the_same_boxes():
    card = render_card()
    sessions.use("onnxruntime")
    x, sx, sy = detect._prepare(card, detect.DET_LONG_SIDE)
    prob = sessions.model(sessions.DET_MODEL).run(x)[0, 0]
    assert not sessions.model(sessions.DET_MODEL).logits and 0.0 <= prob.min() and prob.max() <= 1.0
    size = (card.shape[1], card.shape[0])
    want = detect.boxes_from_map(prob, sx, sy, size)
    # the same map as logits: the same pixels over the threshold and the same scores
    logit = np.log(np.clip(prob, 1e-7, 1 - 1e-7) / (1 - np.clip(prob, 1e-7, 1 - 1e-7))).astype(np.float32)
    got = detect.boxes_from_map(logit, sx, sy, size, logits=True)
    assert len(got) == len(want) >= len(CARD_LINES)
    for a, b in zip(want, got):
        assert np.allclose(a.quad, b.quad) and abs(a.score - b.score) < 1e-4
    sessions.use("openvino")
    det = sessions.model(sessions.DET_MODEL)
    raw = det.run(x)[0, 0]
    assert det.logits and raw.min() < -1.0  # the sigmoid is left out: values beyond [0, 1]
    boxes = detect.detect_lines(card)
    assert len(boxes) == len(want)
    for a in want:  # each box found by both runtimes, about where it was, about as sure
        b = min(boxes, key=lambda t: float(np.abs(t.quad - a.quad).max()))
        assert np.abs(a.quad - b.quad).max() <= 4 and abs(a.score - b.score) < 0.05
    # rec and cls end in a softmax: their outputs are kept as they are
    assert not sessions.model(sessions.REC_MODEL).logits and not sessions.model(sessions.CLS_MODEL).logits


def test_a_scan_gives_the_same_contact_with_either_runtime():
    engine = ocr_mod.get_engine(Options())
    data = encode(photo_scene().image, "PNG")
    got = {}
    for runtime in ("onnxruntime", "openvino"):
        opts = Options(runtime=runtime, jobs=1, keep_crops=False, followup_drafts=False)
        sessions.use(runtime)
        out = pipeline.process_data("card.png", data, engine, opts)
        assert out.ok, out.error
        c = out.contact
        got[runtime] = (c.name.value, [e.value for e in c.emails], [p.number for p in c.phones])
    assert got["openvino"] == got["onnxruntime"]
    assert got["openvino"][0] == "Quentin Harrowgate"


def test_auto_is_openvino_only_where_the_cpu_has_bfloat16(monkeypatch):
    monkeypatch.setattr(sessions, "cpu_has_bf16", lambda: False)
    assert sessions.resolve("auto") == "onnxruntime"
    assert sessions.describe("auto") == "onnxruntime"
    assert sessions.describe("openvino") == "openvino f32"
    monkeypatch.setattr(sessions, "cpu_has_bf16", lambda: True)
    assert sessions.resolve("auto") == "openvino"
    assert sessions.describe("auto") == "openvino bf16"
    assert sessions.resolve("onnxruntime") == "onnxruntime"


def test_an_unknown_runtime_is_a_bad_argument():
    with pytest.raises(BadArgumentsError, match="--runtime"):
        Options(runtime="tensorflow")
    with pytest.raises(BadArgumentsError, match="--runtime"):
        sessions.resolve("gpu")
    out = subprocess.run([sys.executable, "-m", "cardscan", "scan", "x.jpg", "--runtime", "gpu"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and "--runtime" in out.stderr


def test_openvino_asked_for_but_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)  # an install without it
    sessions.use("openvino")
    with pytest.raises(MissingDependencyError, match="openvino") as e:
        sessions.model(sessions.CLS_MODEL)
    assert "--runtime onnxruntime" in (e.value.hint or "")


def test_auto_reads_with_onnxruntime_when_openvino_cannot_load_a_model(monkeypatch, caplog):
    def broken(path):
        raise MissingDependencyError(f"OpenVINO could not load {path.name}: injected")

    monkeypatch.setattr(sessions, "cpu_has_bf16", lambda: True)
    monkeypatch.setattr(sessions, "OvModel", broken)
    sessions.use("onnxruntime")  # drop the models loaded so far
    sessions.use("auto")
    with caplog.at_level("WARNING"):
        m = sessions.model(sessions.CLS_MODEL)
    assert m.runtime == "onnxruntime"
    assert "reading with onnxruntime instead" in caplog.text
    sessions.use("onnxruntime")
    sessions.use("openvino")  # asked for by name: the failure is the answer
    with pytest.raises(MissingDependencyError, match="injected"):
        sessions.model(sessions.CLS_MODEL)


def test_the_forkserver_never_imports_openvino():
    """OpenVINO starts threads when imported, and a fork copies none: the workers import it."""
    code = ("import sys\n"
            "import cardscan.reading.workerwarm\n"
            "from cardscan.reading.ocr import sessions\n"
            "print(sessions.resolve('auto'), 'openvino' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    runtime, imported = out.stdout.split()
    assert imported == "False"
    if runtime == "onnxruntime":  # then its sessions are preloaded for the workers to share
        code2 = code.replace("print(", "print(len(sessions._MODELS), ")
        out2 = subprocess.run([sys.executable, "-c", code2], capture_output=True, text=True, timeout=120, check=True)
        assert out2.stdout.split()[0] == "3"


def test_a_worker_pool_reads_with_the_runtime_it_was_given(tmp_path):
    from cardscan import api

    photo = tmp_path / "card.png"
    photo.write_bytes(encode(photo_scene().image, "PNG"))
    res = {}
    for runtime in ("onnxruntime", "openvino"):
        opts = Options(runtime=runtime, jobs=2, db=tmp_path / f"{runtime}.db", followup_drafts=False)
        result = api.scan([str(photo)], options=opts)
        assert not result.failures
        assert [i.contact_id is not None for i in result.items] == [True]
        from cardscan.store import Store

        with Store(opts.db) as store:
            res[runtime] = [r[0] for r in store.connection.execute("SELECT ocr_engine FROM cards")]
    assert res["onnxruntime"][0].endswith(" on onnxruntime")
    assert res["openvino"][0].endswith(sessions.describe("openvino"))


def test_models_load_once_per_runtime():
    sessions.use("openvino")
    a = sessions.model(sessions.CLS_MODEL)
    assert sessions.model(sessions.CLS_MODEL) is a
    sessions.use("auto" if sessions.resolve("auto") == "openvino" else "openvino")
    assert sessions.model(sessions.CLS_MODEL) is a  # the same runtime: kept
    sessions.use("onnxruntime")
    b = sessions.model(sessions.CLS_MODEL)
    assert b is not a and b.runtime == "onnxruntime"
    x = np.zeros((1, 3, 48, 192), np.float32)
    assert b.run(x).shape == a.run(x).shape


_LOAD_AND_READ = """
import json, sys
import numpy as np
from cardscan.reading.ocr import sessions
sessions.use("openvino")
x = np.random.default_rng(7).random((1, 3, 48, 320), dtype=np.float32)
rec = sessions.model(sessions.REC_MODEL)
assert rec.runtime.startswith("openvino"), rec.runtime
out = rec.run(x)
sessions.preload()  # the other two models as well: a first run's workers compile all three at once
print(json.dumps([int(v) for v in out[0].argmax(axis=-1)]))
"""


def _load_in_a_new_process(cache: str) -> list[int]:
    import json
    import os

    env = {**os.environ, sessions.CACHE_ENV: cache}
    p = subprocess.run([sys.executable, "-c", _LOAD_AND_READ], env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_openvino_keeps_compiled_models_and_reads_the_same_from_them(tmp_path):
    cache = tmp_path / "cache"
    (cache / "openvino-0.0.old").mkdir(parents=True)  # left by another OpenVINO version: removed
    fresh = _load_in_a_new_process(str(cache))
    kept = [d for d in cache.iterdir()]
    assert len(kept) == 1 and kept[0].name.startswith("openvino-20") and list(kept[0].glob("*.blob"))
    assert _load_in_a_new_process(str(cache)) == fresh  # loaded from the kept file
    for blob in kept[0].glob("*.blob"):  # truncated files (a crash while writing): compiled again
        blob.write_bytes(blob.read_bytes()[:1000])
    assert _load_in_a_new_process(str(cache)) == fresh == _load_in_a_new_process("")
    assert all(b.stat().st_size > 1000 for b in kept[0].glob("*.blob"))
    for blob in kept[0].glob("*.blob"):  # a file that can be neither read nor written: compiled, not kept
        blob.unlink()
        blob.mkdir()
    assert _load_in_a_new_process(str(cache)) == fresh


def test_the_compiled_model_folder_is_optional(tmp_path, monkeypatch):
    monkeypatch.setenv(sessions.CACHE_ENV, "")
    assert sessions.compiled_cache_dir("2026.1") is None
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    monkeypatch.setenv(sessions.CACHE_ENV, str(blocked))
    assert sessions.compiled_cache_dir("2026.1") is None  # cannot be made: no cache, no error
    monkeypatch.delenv(sessions.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    d = sessions.compiled_cache_dir("2026.1/../x y")
    assert d is not None and d.parent == tmp_path / "xdg" / "cardscan" and d.name == "openvino-2026.1_.._x_y"
    assert d.is_dir() and (d.stat().st_mode & 0o777) == 0o700


def test_only_folders_of_compiled_models_are_removed(tmp_path, monkeypatch):
    """CARDSCAN_MODEL_CACHE may name a folder of the user's own: another version's folder goes
    only when it holds nothing but compiled models and the lock file."""
    old, mine = tmp_path / "openvino-2025.1", tmp_path / "openvino-notebooks"
    old.mkdir()
    (old / "123.blob").write_bytes(b"x")
    (old / ".lock").write_bytes(b"")
    mine.mkdir()
    (mine / "123.blob").write_bytes(b"x")
    (mine / "notes.txt").write_text("keep me")
    monkeypatch.setenv(sessions.CACHE_ENV, str(tmp_path))
    d = sessions.compiled_cache_dir("2026.1")
    assert d == tmp_path / "openvino-2026.1" and d.is_dir()
    assert not old.exists() and (mine / "notes.txt").read_text() == "keep me"


def test_a_worker_waits_while_another_compiles_into_the_same_folder(tmp_path):
    """Two OpenVINOs writing the same compiled file at once made one of them fail ("cannot set
    permissions"; seen with four processes starting together on an empty folder): compiling into
    a folder holds its lock, so a first run's workers compile one at a time."""
    import json
    import os
    import time

    cache = tmp_path / "cache"
    fresh = _load_in_a_new_process(str(cache))
    folder = next(cache.iterdir())
    for blob in folder.glob("*.blob"):
        blob.unlink()
    env = {**os.environ, sessions.CACHE_ENV: str(cache)}
    with sessions._folder_lock(folder):  # another worker compiling
        p = subprocess.Popen([sys.executable, "-c", _LOAD_AND_READ], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        time.sleep(6)  # far longer than the load takes unhindered (about 2 s)
        assert p.poll() is None and not list(folder.glob("*.blob"))
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    assert json.loads(out.strip().splitlines()[-1]) == fresh and len(list(folder.glob("*.blob"))) == 3


def test_compiling_through_a_failing_folder_compiles_without_it(tmp_path, monkeypatch, caplog):
    import logging

    import openvino as ov

    core = ov.Core()
    real, calls = ov.Core.compile_model, []

    def failing(self, *a, **k):  # fault injection: the cache folder's core fails as the race did
        calls.append(self is core)
        if self is core:
            raise RuntimeError("filesystem error: cannot set permissions")
        return real(self, *a, **k)

    monkeypatch.setattr(ov.Core, "compile_model", failing)
    graph = ov.Core().read_model(str(sessions.model_path(sessions.CLS_MODEL)))
    with caplog.at_level(logging.INFO, logger=sessions.__name__):
        compiled = sessions._compile(ov, core, tmp_path, graph, {"INFERENCE_NUM_THREADS": 1})
    assert calls == [True, False] and (tmp_path / ".lock").is_file()
    assert "compiling without it" in caplog.text
    x = np.zeros((1, 3, 48, 192), np.float32)
    assert compiled.create_infer_request().infer({0: x})[0].shape[0] == 1
