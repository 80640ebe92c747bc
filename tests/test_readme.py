"""README.md's example outputs are produced by running them (cog + docs/readme_examples.py): this
fails when README.md is stale, i.e. when `make readme` would change it."""
from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import ROOT


@pytest.mark.slow
def test_readme_examples_are_what_the_commands_print(samples_dir):
    r = subprocess.run([sys.executable, "-m", "cogapp", "--check", "--diff", "-I", str(ROOT / "docs"),
                        "--check-fail-msg", "run: make readme", str(ROOT / "README.md")],
                       cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, f"README.md is stale (run: make readme)\n{r.stdout}\n{r.stderr}"

