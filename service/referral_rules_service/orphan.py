"""Worker processes end with their supervisor, even when it is killed with ``kill -9``.

A killed supervisor runs no shutdown code, so its workers would go on serving on the shared
socket and keep the port in use. On Linux the kernel sends each worker SIGTERM when its parent
dies (``prctl(PR_SET_PDEATHSIG)``); everywhere, a watchdog thread notices the parent is gone
(``os.getppid()`` changes) and asks for the same graceful stop. Either way, a worker that has not
stopped ``grace`` seconds later exits at once.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
import time

__all__ = ["exit_with_parent"]

log = logging.getLogger("referral_rules_service")

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _pdeathsig(sig: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def exit_with_parent(parent: int, *, grace: float = 3.0, interval: float = 0.5) -> None:
    """Stop this process when ``parent`` (its parent's pid now) is no longer its parent."""
    _pdeathsig(signal.SIGTERM)

    def orphaned() -> None:
        log.warning("the supervisor (pid %d) is gone: this worker stops", parent)
        os.kill(os.getpid(), signal.SIGTERM)  # uvicorn's graceful shutdown
        time.sleep(grace)
        os._exit(1)  # still here: in-flight work did not end in time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        orphaned()

    if os.getppid() != parent:  # the parent died before the kernel was told
        threading.Thread(target=orphaned, daemon=True, name="orphan-exit").start()
        return
    threading.Thread(target=watch, daemon=True, name="parent-watchdog").start()
