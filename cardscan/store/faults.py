"""SQLite's failures as one clear line each (a CardscanError with its exit code), not a traceback.

``database_error(exc, path)`` maps an exception raised while using the database at ``path`` to a
CardscanError, or returns None when it is not a database fault (a bug, to be shown as one).
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

from cardscan.errors import CardscanError, DatabaseBusyError, OutputAccessError


def database_error(exc: BaseException, path: Path | str | None) -> CardscanError | None:
    if isinstance(exc, CardscanError):
        return exc
    if not isinstance(exc, sqlite3.Error):
        return None
    db = str(path) if path is not None else "the database"
    msg = str(exc)
    low = msg.lower()
    if "readonly" in low or "read-only" in low:
        return OutputAccessError(f"database {db} is read-only: nothing was changed",
                                 hint="check the file's permissions and that the disk is writable; "
                                      "status, report, export and duplicates still read it")
    if "malformed" in low or "not a database" in low or "corrupt" in low:
        return OutputAccessError(f"database {db} is damaged (SQLite: {msg})",
                                 hint="restore it from a backup; it was not changed")
    if "full" in low:
        return OutputAccessError(f"cannot write database {db}: the disk is full",
                                 hint="free some space and run the command again; nothing was half-saved")
    if "disk i/o" in low:
        return OutputAccessError(f"cannot write database {db}: disk I/O error",
                                 hint="is the disk full, removed or failing? nothing was half-saved")
    if "locked" in low or "busy" in low:
        return DatabaseBusyError(f"database {db} is busy: another program holds a write lock",
                                 hint="wait for the other cardscan to finish, or use another --db")
    if "unable to open" in low:
        return OutputAccessError(f"cannot open database {db}: {msg}",
                                 hint="check the --db path: its folder must exist and be readable")
    return OutputAccessError(f"database {db}: {msg}")
