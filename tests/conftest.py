"""Shared fixtures: where the evaluation data is (skipped when absent) and how to run the CLI."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SAMPLES = ROOT / "samples"

os.environ.setdefault("OMP_THREAD_LIMIT", "1")

# Started from a shell where SIGINT is ignored (`nohup make test &`, a background job, some CI
# runners), every child would inherit "ignore" and the Ctrl-C tests could not interrupt it. A
# handled signal is reset to the default in a child at exec: handle it here, so children start
# with the default, whatever way the suite was started.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def shared_eval() -> Path:
    """../shared/eval, or skip: the evaluation data is never part of the repository."""
    d = SHARED / "eval"
    if not (d / "real" / "groundtruth.jsonl").is_file() or not (d / "score.py").is_file():
        pytest.skip("../shared/eval is not present")
    return d


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    if not (SAMPLES / "groundtruth.jsonl").is_file():
        pytest.skip("samples/ have not been generated")
    return SAMPLES


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 600,
            input: str | None = None) -> subprocess.CompletedProcess:
    """Run `cardscan ...` as a real subprocess (the installed entry point's module)."""
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "cardscan", *args], cwd=cwd, env=e, capture_output=True,
                          text=True, timeout=timeout, input=input)


@pytest.fixture
def cli():
    return run_cli
