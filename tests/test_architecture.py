"""The layout rules that import-linter cannot see (it checks imports; `make test` runs it and ruff)."""
from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "cardscan"


def _sources(*, outside: tuple[str, ...] = ()) -> dict[str, str]:
    out = {}
    for p in sorted(PACKAGE.rglob("*.py")):
        rel = p.relative_to(PACKAGE).as_posix()
        if not rel.startswith(outside):
            out[rel] = p.read_text(encoding="utf-8")
    return out


def test_the_config_file_is_read_only_at_the_edges() -> None:
    """Only the CLI (and config.py, which defines it) calls load_config; the library gets values."""
    callers = [rel for rel, text in _sources(outside=("cli/", "config.py")).items() if re.search(r"\bload_config\b", text)]
    assert callers == []


def test_at_most_twelve_modules_directly_under_the_package() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 12, top
