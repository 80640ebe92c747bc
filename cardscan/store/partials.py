"""Rows of a file's earlier, partial versions (a photo written in chunks, seen by `watch` before it
was complete): once the whole file is stored, they are forgotten instead of staying "pending"."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from cardscan.store.rows import _path_param

if TYPE_CHECKING:
    from cardscan.store import Store


def forget_partial_versions(store: "Store", paths: "list[str | Path]", keep_sha256: str, /) -> int:
    """Delete the pending (never read) rows of ``paths`` other than ``keep_sha256``; how many.
    Only rows no card points at and no worker holds are touched."""
    names = sorted({_path_param(p) for p in paths}, key=repr)
    if not names:
        return 0
    marks = ",".join("?" * len(names))
    with store.write() as conn:
        return conn.execute(
            f"DELETE FROM photos WHERE path IN ({marks}) AND sha256 <> ? AND state = 'pending' "  # noqa: S608
            "AND NOT EXISTS (SELECT 1 FROM cards k WHERE k.photo_sha256 = photos.sha256)",
            (*names, keep_sha256)).rowcount
