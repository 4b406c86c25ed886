"""Child processes of the tests (servers on 127.0.0.1): a free port, and a clean stop."""

from __future__ import annotations

import socket
import subprocess
from typing import IO


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def stop(proc: subprocess.Popen[bytes], log: IO[bytes]) -> None:
    """SIGTERM, then SIGKILL after 20 s; the log file is closed either way."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    log.close()
