"""``referral-rules serve``: run the app under uvicorn (one process or a supervisor of several)."""

from __future__ import annotations

import logging
import os
import signal
import sys
import tempfile
from collections.abc import Mapping
from typing import IO, Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from referral_rules import RulesetError, load_rulesets

from .reload import SUPERVISOR_ENV
from .settings import Settings

__all__ = ["serve"]

log = logging.getLogger("referral_rules_service")


class _Supervisor(Multiprocess):
    """uvicorn's supervisor, except that SIGHUP reloads the rulesets inside every worker
    (each validates and swaps atomically) instead of restarting the processes."""

    def handle_hup(self) -> None:
        logging.getLogger("uvicorn.error").info("SIGHUP: reloading the rulesets in each worker")
        for process in self.processes:
            pid = process.pid
            if pid is not None:
                os.kill(pid, signal.SIGHUP)


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
        load_rulesets(settings.rules)  # fail before binding, with file:line:column problems
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
    with tempfile.TemporaryDirectory(prefix="referral-rules-metrics-") as metrics_dir:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        os.environ[SUPERVISOR_ENV] = str(os.getpid())
        sock = config.bind_socket()
        _Supervisor(config, sockets=[sock]).run()
    return 0
