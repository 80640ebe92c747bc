"""Issue 15: what a new user trips over (contact numbers, CLI habits, exports, HEIC, ...)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from watch_fixtures import card_jpeg, cli_env

SLOW_ENGINE = "tests.newcomer_fixtures:make_size_slow_engine"


# ----------------------------------------------------------------------------- 1. contact numbers
def _ids_by_file(jsonl: Path) -> dict[str, int]:
    recs = [json.loads(line) for line in jsonl.read_text().splitlines()]
    return {Path(r["file"]).name: r["contact_id"] for r in recs}


def test_contact_numbers_follow_the_input_order_whatever_worker_finishes_first(tmp_path, cli):
    """The first photo is slow to read: with two workers the others finish before it, yet it
    is contact #1, the same in every run."""
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a-big.jpg").write_bytes(card_jpeg(0, scale=2.0))
    for i in range(1, 5):
        (photos / f"b-{i}.jpg").write_bytes(card_jpeg(i))
    runs = []
    for k in range(3):
        out = tmp_path / f"run{k}.jsonl"
        r = cli("scan", str(photos), "--db", str(tmp_path / f"c{k}.db"), "-j", "2", "--no-report",
                "--no-drafts", "--jsonl", str(out), env=cli_env({"CARDSCAN_TEST_ENGINE_FACTORY": SLOW_ENGINE}))
        assert r.returncode == 0, r.stderr
        runs.append(_ids_by_file(out))
    expected = {name: n for n, name in enumerate(sorted(runs[0]), start=1)}
    assert runs == [expected] * 3
