"""Browser tests of the workbench: Debian's headless Chromium driven by Playwright through its
executable path (no browser is downloaded), against real ``referral-rules workbench`` and
``serve`` processes on 127.0.0.1, with every request to any other host aborted and recorded.

They skip, saying why, when Playwright or Chromium is missing; ``.ci/run`` installs both.
"""

from __future__ import annotations

import http.client
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

from ..conftest import CONFLICTING_DOWN, ROOT, RULES
from ..processes import free_port, stop

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Route

CHROMIUM = os.environ.get("REFERRAL_RULES_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def _require_browser() -> None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("Playwright is not installed (pip install -e '.[browser]'; .ci/run does)")
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium; .ci/run does; "
                    "or set REFERRAL_RULES_CHROMIUM)")


def copy_rules(target: Path, extra: str | None = None) -> Path:
    shutil.copytree(RULES, target)
    if extra is not None:
        path = target / "hypertension.yaml"
        path.write_text(path.read_text(encoding="utf-8").replace("rules:\n", extra, 1),
                        encoding="utf-8")
    return target


class Process:
    """``python -m referral_rules <argv>`` on a free port of 127.0.0.1 until ``stop()``."""

    def __init__(self, argv: list[str], tmp: Path, ready: str,
                 env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tmp / f"server-{self.port}.log"
        self._out = self.log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "referral_rules", *argv, "--port", str(self.port)],
            cwd=tmp, env={**os.environ, **(env or {})}, stdout=self._out,
            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._out.close()
                msg = f"{argv[0]} exited: {self.log.read_text(errors='replace')}"
                raise RuntimeError(msg)
            if self.status(ready) == 200:
                return
            time.sleep(0.2)
        self.stop()
        msg = f"{argv[0]} did not become ready"
        raise RuntimeError(msg)

    def status(self, path: str) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", path)
            return conn.getresponse().status
        except OSError:
            return 0
        finally:
            conn.close()

    def stop(self) -> None:
        stop(self.proc, self._out)


@pytest.fixture(scope="module")
def rules_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the bundled rules that the tests may add cases to."""
    return copy_rules(tmp_path_factory.mktemp("bench") / "rules")


@pytest.fixture(scope="module")
def workbench(rules_dir: Path) -> Iterator[Process]:
    """``referral-rules workbench DIR`` (no database) on 127.0.0.1."""
    _require_browser()
    server = Process(["workbench", str(rules_dir), "--no-open"], rules_dir.parent,
                     "/v1/workbench/form")
    yield server
    server.stop()


@pytest.fixture(scope="module")  # Playwright's sync API holds an event loop while it runs:
def browser() -> Iterator[Browser]:  # stopped after the module, other tests may use asyncio
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


class Guard:
    """Aborts and records every request that is not for 127.0.0.1."""

    def __init__(self) -> None:
        self.blocked: list[str] = []

    def __call__(self, route: Route) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob") or parts.hostname == "127.0.0.1":
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort("blockedbyclient")


@pytest.fixture
def guard() -> Guard:
    return Guard()


@pytest.fixture
def context(browser: Browser, guard: Guard, tmp_path: Path) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True,
                              locale="zh-CN")
    ctx.route("**/*", guard)
    yield ctx
    ctx.close()
    assert guard.blocked == [], f"requests to other hosts: {guard.blocked}"


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    # a 4xx answer is logged by Chromium as "Failed to load resource": the page shows those
    p.on("console", lambda m: errors.append(m.text)
         if m.type == "error" and "the server responded with a status of 422" not in m.text
         else None)
    yield p
    assert errors == [], f"errors in the page: {errors}"


def open_workbench(page: Page, server: Process, lang: str = "zh", hash_: str = "") -> None:
    page.goto(f"{server.base}/workbench?lang={lang}{hash_}")
    page.wait_for_selector("body[data-ready=true]")


def fill_facts(page: Page, facts: dict[str, Any]) -> None:
    """Set facts through the form as a person would: select, type, or pick yes / no."""
    for name, value in facts.items():
        if isinstance(value, bool):
            page.locator(f"#f-{name}-{'yes' if value else 'no'}").check()
        elif page.locator(f"select#f-{name}").count():
            page.select_option(f"#f-{name}", str(value))
        else:
            page.fill(f"#f-{name}", str(value))


__all__ = ["CONFLICTING_DOWN", "ROOT", "Guard", "Process", "copy_rules", "fill_facts",
           "open_workbench"]
