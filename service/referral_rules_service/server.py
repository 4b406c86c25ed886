"""``referral-rules serve``: run the app under uvicorn (one process or a supervisor of several)."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from referral_rules import RulesetError, load_rulesets

from .reload import RELOAD_DIR_ENV, SUPERVISOR_ENV
from .settings import Settings

__all__ = ["serve"]

log = logging.getLogger("referral_rules_service")


class _Supervisor(Multiprocess):
    """uvicorn's supervisor, except that SIGHUP reloads the rulesets inside every worker
    (each validates and swaps atomically) instead of restarting the processes, and SIGUSR1
    passes a worker's API reload on to the other workers."""

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket],
                 requests: Path) -> None:
        super().__init__(config, sockets)
        self.requests = requests

    def _signal(self, pids: set[int]) -> None:
        for pid in sorted(pids):
            os.kill(pid, signal.SIGHUP)

    def _workers(self) -> set[int]:
        return {p.pid for p in self.processes if p.pid is not None}

    def handle_hup(self) -> None:
        logging.getLogger("uvicorn.error").info("SIGHUP: reloading the rulesets in each worker")
        self._signal(self._workers())

    def handle_usr1(self) -> None:
        """Each request file names the worker that reloaded; every other worker reloads once
        (two requests at once: each worker reloads once, after both)."""
        targets: set[int] = set()
        for request in self.requests.iterdir():
            if request.name.startswith("."):
                continue
            origin = request.read_text(encoding="ascii").strip()
            request.unlink()
            targets |= {pid for pid in self._workers() if str(pid) != origin}
        if targets:
            logging.getLogger("uvicorn.error").info(
                "a worker reloaded the rulesets: reloading the %d other(s)", len(targets))
        self._signal(targets)


def serve(options: Mapping[str, Any], errors: IO[str] | None = None) -> int:
    """Validate the rulesets, then serve until stopped. Returns the exit code; problems go to
    ``errors`` (default: standard error)."""
    errors = errors or sys.stderr
    try:
        settings = Settings.load(options)
    except ValueError as exc:
        errors.write(f"invalid setting: {exc}\n")
        return 2
    try:
        load_rulesets(settings.rules or None)  # fail before binding, at file:line:column
    except RulesetError as exc:
        for issue in exc.issues:
            errors.write(f"{issue}\n")
        errors.write(f"{len(exc.issues)} problem(s); not serving\n")
        return 1
    os.environ.update(settings.to_environ())
    config = uvicorn.Config("referral_rules_service.app:create_app", factory=True,
                            host=settings.host, port=settings.port, workers=settings.workers,
                            log_level=settings.log_level, proxy_headers=False)
    if settings.workers == 1:
        server = uvicorn.Server(config)
        server.run()
        return 0 if server.started else 1
    with tempfile.TemporaryDirectory(prefix="referral-rules-") as state:
        metrics_dir, requests = Path(state) / "metrics", Path(state) / "reload-requests"
        metrics_dir.mkdir()
        requests.mkdir()
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        os.environ[SUPERVISOR_ENV] = str(os.getpid())
        os.environ[RELOAD_DIR_ENV] = str(requests)
        sock = config.bind_socket()
        _Supervisor(config, [sock], requests).run()
    return 0
