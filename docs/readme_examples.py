"""Runs the README's examples and returns what they print, for cog (`make readme` writes them into
README.md, `make readme-check` and tests/test_readme.py fail when README.md is stale).

Every example runs, in README order, in one fresh folder holding a link to samples/ and the
README's config.toml (sender and signature; no SMTP server is needed by the examples shown).
Volatile parts are normalised so that the text is the same on every run: that folder is shown as
~/cards and photos-per-second figures as "…".
"""
from __future__ import annotations

import atexit
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHOWN_AS = "~/cards"
CONFIG = '''[sender]
name = "Ada Example"
address = "ada@example.org"
signature = """Ada Example
Example Tools Ltd"""
'''

_work: Path | None = None


def work() -> Path:
    """The examples' folder (made once per cog run, removed at exit)."""
    global _work
    if _work is None:
        _work = Path(tempfile.mkdtemp(prefix="cardscan-readme-"))
        atexit.register(shutil.rmtree, _work, True)
        (_work / "samples").symlink_to(ROOT / "samples")
        (_work / "config.toml").write_text(CONFIG)
    return _work


def normalise(text: str, folder: Path) -> str:
    text = text.replace(str(folder.resolve()), SHOWN_AS).replace(str(folder), SHOWN_AS)
    text = re.sub(r"\d+\.\d+ (photos|cards)/s", r"… \1/s", text)
    return "\n".join(line.rstrip() for line in text.splitlines())


def run(command: str) -> str:
    """`command` run by bash in the examples' folder; "$ command" and what it printed (stdout and
    stderr as they interleave), normalised."""
    folder = work()
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["CARDSCAN_CONFIG"] = str(folder / "config.toml")
    env["COLUMNS"] = "100"
    env.pop("CARDSCAN_TEST_ENGINE_FACTORY", None)
    p = subprocess.run(["bash", "-c", command], cwd=folder, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=900)
    return f"$ {command}\n{normalise(p.stdout, folder)}".rstrip("\n")


def block(*commands: str) -> str:
    """The commands and their output as a fenced Markdown code block (cog removes a common
    indentation, so an indented block would not survive)."""
    body = "\n".join(run(c) for c in commands)
    return "```console\n" + body + "\n```\n"
