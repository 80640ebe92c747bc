"""Worker processes end when the process that started them goes, however it goes (kill -9 too).

``exit_with(pid)`` starts a daemon thread that waits on a pidfd of ``pid`` (Linux 5.3+; else it
polls) and ends this process at once when ``pid`` is gone. On Linux the worker also asks the kernel
for SIGKILL when its direct parent (the forkserver) dies (prctl PR_SET_PDEATHSIG).

Importing this module *as a forkserver preload* (``api.new_pool`` lists it) makes the forkserver
itself follow its parent, the scanning process. Nothing else imports it at module level.
"""
from __future__ import annotations

import os
import select
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1


def _die_with_parent_thread() -> None:
    """prctl(PR_SET_PDEATHSIG, SIGKILL): the kernel kills this process when its parent exits."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - no libc prctl
        pass


def _watch(pid: int) -> None:
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        fd = None
    if fd is None:
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            except PermissionError:
                pass
            time.sleep(0.5)
    else:
        select.select([fd], [], [])
    os._exit(1)  # the parent is gone: nobody waits for this worker's result


def exit_with(pid: int, *, pdeathsig: bool = True) -> None:
    """End this process as soon as process ``pid`` has ended (and, on Linux, when the direct parent does)."""
    if pdeathsig:
        _die_with_parent_thread()
    if os.getppid() == 1 and pid != 1:  # already orphaned before we got here
        os._exit(1)
    threading.Thread(target=_watch, args=(pid,), name="cardscan-lifeline", daemon=True).start()


if __name__ != "__main__" and "multiprocessing.forkserver" in sys.modules and sys.argv[:1] == ["-c"]:
    # imported as a forkserver preload: the forkserver follows the scanning process that started it
    exit_with(os.getppid(), pdeathsig=False)
