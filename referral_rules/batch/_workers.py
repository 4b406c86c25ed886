"""Worker processes that never outlive the batch, and a parent that stops them on a signal.

A worker holds the compiled rules and an engine (~300 MB). Before this, ``kill -9`` of the
parent left the workers running for minutes: they wait on a queue whose other end no longer
exists. Now each worker

- asks Linux to kill it when its parent dies (``prctl(PR_SET_PDEATHSIG, SIGKILL)`` through
  ctypes). Workers are started with ``spawn``, so their parent is the batch's process itself:
  with ``forkserver`` the parent would be the fork server, which lives as long as any worker
  holds its "alive" pipe, i.e. forever;
- runs a watchdog thread, the portable fallback (macOS, or a kernel without prctl): every
  ``WATCH`` seconds it checks that its parent is still the batch's process (a process whose
  parent dies is given another one at once, even while the dead one is not yet reaped), and
  ends the worker otherwise;
- ignores SIGINT: Ctrl-C in a terminal reaches the whole process group, and the parent, not
  each worker, handles it (no traceback per worker).

In the parent, ``stop_on_sigterm`` turns SIGTERM into ``BatchFailed`` (so the run unwinds as for
Ctrl-C: the parts done are kept, the output is not written) and ``terminate`` ends the workers
without waiting for the chunks they hold (their parts are written atomically, so a part cut off
is simply redone by the rerun).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from types import FrameType

from .errors import BatchFailed

__all__ = ["WATCH", "guard_worker", "stop_on_sigterm", "terminate"]

WATCH = 0.5  # seconds between the watchdog's checks
_PR_SET_PDEATHSIG = 1


def guard_worker(batch_pid: int) -> None:
    """In a worker process: exit when the batch's process ``batch_pid`` dies."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _pdeathsig()
    if os.getppid() != batch_pid:  # it died before prctl took effect
        os._exit(1)
    threading.Thread(target=_watch, args=(batch_pid,), daemon=True,
                     name="referral-rules-parent-watchdog").start()


def _pdeathsig() -> bool:
    """``prctl(PR_SET_PDEATHSIG, SIGKILL)`` on Linux; False where it is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _watch(batch_pid: int) -> None:
    while True:
        time.sleep(WATCH)
        if os.getppid() != batch_pid:
            os._exit(1)  # nothing to flush: a part is written whole or not at all


@contextmanager
def stop_on_sigterm(parts: str) -> Iterator[None]:
    """While the run lasts, SIGTERM raises ``BatchFailed`` in the main thread (elsewhere, e.g.
    in a thread of a service, the signal is left alone)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        del frame
        msg = (f"stopped by {signal.Signals(signum).name}; the parts done are kept in {parts}: "
               "rerun the same command to resume")
        raise BatchFailed(msg)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def terminate(pool: ProcessPoolExecutor) -> None:
    """End the pool's workers now (cancelled chunks are redone by a rerun)."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
    deadline = time.monotonic() + 5
    for proc in procs:
        proc.join(max(0.0, deadline - time.monotonic()))
        if proc.is_alive():
            proc.kill()
