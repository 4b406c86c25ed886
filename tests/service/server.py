"""A real ``referral-rules serve`` process on 127.0.0.1 for the tests."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ..processes import free_port, stop
from .conftest import KEY, ROOT


class Server:
    """Starts the service as a child process; ``stop()`` or ``kill()`` ends it."""

    def __init__(self, tmp: Path, rules: Path, workers: int = 1, **env: str) -> None:
        self.port = free_port()
        self.db = tmp / "records.db"
        self.log = tmp / "server.log"
        environ = {**os.environ, "REFERRAL_RULES_RULES": str(rules),
                   "REFERRAL_RULES_DATABASE_URL": f"sqlite:///{self.db}",
                   "REFERRAL_RULES_API_KEY": KEY, "REFERRAL_RULES_PATIENT_HASH_KEY": "k",
                   "REFERRAL_RULES_PORT": str(self.port),
                   "REFERRAL_RULES_WORKERS": str(workers), **env}
        self._logfile = self.log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "referral_rules", "serve"], cwd=ROOT, env=environ,
            stdout=self._logfile, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                msg = f"server exited: {self.log.read_text(errors='replace')}"
                raise RuntimeError(msg)
            try:
                if self.request("GET", "/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        msg = "server did not become ready"
        raise RuntimeError(msg)

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def request(self, method: str, path: str, body: Any = None,
                headers: dict[str, str] | None = None,
                conn: http.client.HTTPConnection | None = None) -> tuple[int, Any]:
        own = conn is None
        conn = conn or self.connection()
        try:
            data = json.dumps(body).encode() if body is not None else None
            conn.request(method, path, body=data, headers={
                "Content-Type": "application/json", "X-API-Key": KEY, **(headers or {})})
            response = conn.getresponse()
            raw = response.read()
            try:
                parsed = json.loads(raw) if raw else None
            except ValueError:
                parsed = raw.decode(errors="replace")
            return response.status, parsed
        finally:
            if own:
                conn.close()

    def stop(self) -> None:
        stop(self.proc, self._logfile)

    def kill9(self) -> None:
        self.proc.kill()  # SIGKILL: no shutdown code runs
        self.proc.wait()
        self._logfile.close()
