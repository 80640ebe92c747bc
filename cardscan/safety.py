"""Two guards every command shares: what may be printed, and where an output may be written.

``safe_text`` makes card text and file names harmless on a terminal (no control characters, no
ANSI escapes, no line breaks that forge another output line; bytes of a non-UTF-8 file name shown
as ``\\xe9``). ``check_output_path`` refuses an output file that is the database or one of its
companion files (``-wal``, ``-shm``, ``-journal``), also through a symlink, before anything is written.
"""
from __future__ import annotations

import os
from pathlib import Path

from cardscan.errors import BadArgumentsError

_DB_COMPANIONS = ("", "-wal", "-shm", "-journal")


def safe_text(value: object) -> str:
    """``value`` as one printable line: control and format characters escaped, surrogate escapes of
    undecodable file-name bytes shown as ``\\xNN``."""
    text = os.fspath(value) if isinstance(value, os.PathLike) else str(value)
    out = []
    for ch in text:
        o = ord(ch)
        if 0xDC80 <= o <= 0xDCFF:  # a byte of a non-UTF-8 file name (surrogateescape)
            out.append(f"\\x{o - 0xDC00:02x}")
        elif 0xD800 <= o <= 0xDFFF:
            out.append(f"\\u{o:04x}")
        elif ch.isprintable():
            out.append(ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        else:
            out.append(f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}")
    return "".join(out)


def _identity(p: Path) -> tuple[str, tuple[int, int] | None]:
    resolved = Path(os.path.realpath(p))
    try:
        st = os.stat(resolved)
        return str(resolved), (st.st_dev, st.st_ino)
    except OSError:
        return str(resolved), None


def check_output_path(output: Path | str | None, db: Path | str | None, *, what: str = "output") -> None:
    """Refuse (BadArgumentsError, exit 1) an output that is the database or its -wal/-shm/-journal
    file, by name, through symlinks, or as a hard link to the same file."""
    if output is None or db is None:
        return
    out_name, out_id = _identity(Path(output))
    for suffix in _DB_COMPANIONS:
        target = Path(os.fspath(db) + suffix)
        name, ident = _identity(target)
        if out_name == name or (out_id is not None and out_id == ident):
            shown = safe_text(output)
            raise BadArgumentsError(
                f"the {what} {shown} would overwrite the database {safe_text(target)}",
                hint="choose another output file")
