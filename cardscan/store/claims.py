"""Who holds a claim (a photo being read, a follow-up being sent) and whether that process still runs.

An owner is ``host:pid:start-time:random``; the kernel's start time tells a live owner from a
reused pid.  The watcher and the follow-up sender judge their claims with :func:`owner_alive` only.
"""
from __future__ import annotations

import os
import socket


def _start_time(pid: int) -> str | None:
    """The kernel's start time of a process (tells a live owner from a reused pid), None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read().decode("ascii", "replace")
    except OSError:
        return None
    return data.rsplit(")", 1)[-1].split()[19]


def worker_id() -> str:
    """host:pid:start-time:random, stored as the claim's owner."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_time(pid) or 0}:{os.urandom(3).hex()}"


def owner_alive(owner: str, host: str | None = None) -> bool:
    """False only when the owner is certainly dead: same host, and its pid is gone or reused."""
    parts = owner.split(":")
    if len(parts) != 4 or parts[0] != (host or socket.gethostname()) or not os.path.isdir("/proc"):
        return True  # another host (its lease expires) or not ours to judge
    try:
        pid = int(parts[1])
    except ValueError:
        return True
    started = _start_time(pid)
    return started is not None and (parts[2] == "0" or started == parts[2])
