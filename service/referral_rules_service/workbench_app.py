"""``referral-rules workbench``: the workbench alone, on 127.0.0.1, without the database.

For policy staff on their own computer: the page and its read-only API over one rules
directory. There is no audit store (the workbench's evaluations are never stored), no CDS
Hooks, no admin endpoints, and the server binds the loopback address only.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import webbrowser
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO

import anyio
import uvicorn
from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from referral_rules import RulesetError, __version__, load_rulesets
from referral_rules.evaluate import Backend

from .app import _errors
from .docs_ui import add_docs
from .limits import BodyLimit
from .routers.workbench import PAGE, Bench, add_workbench
from .settings import Settings
from .state import Rules

__all__ = ["HOST", "create_workbench_app", "run_workbench"]

#: the only address the workbench binds
HOST = "127.0.0.1"


def create_workbench_app(rules: str | Path, backend: Backend = "auto",
                         settings: Settings | None = None) -> FastAPI:
    """The workbench page and API over ``rules``; limits from ``settings`` (default: the
    ``REFERRAL_RULES_*`` variables)."""
    settings = settings or Settings.load()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loaded = Rules(rules, backend)
        app.state.workbench = Bench(loaded, settings.max_facts, anyio.CapacityLimiter(2))
        try:
            yield
        finally:
            loaded.close()

    app = FastAPI(title="referral-rules workbench", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None, license_info={"name": "Apache-2.0"},
                  description="Try the rules, read why, and turn a patient into a test case. "
                              "Decision support for a clinician, not an order.",
                  openapi_tags=[{"name": "workbench",
                                 "description": "The workbench page's read-only API"}])
    add_workbench(app)
    add_docs(app, "referral-rules workbench")
    _errors(app)

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse(PAGE)

    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    return app


def _open_when_up(server: uvicorn.Server, url: str) -> None:
    deadline = time.monotonic() + 30
    while not server.started and not server.should_exit and time.monotonic() < deadline:
        time.sleep(0.1)
    if server.started:
        webbrowser.open(url)


def _can_open() -> bool:
    """A desktop is there to show a browser (never a text browser in this terminal)."""
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def run_workbench(rules: str, port: int, backend: Backend = "auto",
                  open_browser: bool | None = None, out: IO[str] | None = None) -> int:
    """Check the rules, then serve the workbench on 127.0.0.1 until Ctrl+C. Returns the exit
    code (1 when the rules do not load: every problem is printed first)."""
    out = out or sys.stderr
    try:
        settings = Settings.load()
    except ValueError as exc:
        out.write(f"invalid setting: {exc}\n")
        return 2
    try:
        load_rulesets(rules)
    except RulesetError as exc:
        for issue in exc.issues:
            out.write(f"{issue}\n")
        out.write(f"{len(exc.issues)} problem(s); the workbench needs rules that load "
                  "(check a draft on the page once they do)\n")
        return 1
    app = create_workbench_app(rules, backend, settings)
    config = uvicorn.Config(app, host=HOST, port=port, log_level=settings.log_level,
                            proxy_headers=False)
    server = uvicorn.Server(config)
    url = f"http://{HOST}:{port}{PAGE}"
    out.write(f"workbench on {rules}: {url} (Ctrl+C to stop; nothing is stored)\n")
    out.flush()
    if open_browser if open_browser is not None else _can_open():
        threading.Thread(target=_open_when_up, args=(server, url), daemon=True).start()
    server.run()
    return 0 if server.started else 1
