"""Make the screenshots of docs/workbench.md: each view of the workbench, in Chinese and English.

Runs ``referral-rules workbench`` on a copy of the bundled rules on 127.0.0.1 and drives
Debian's headless Chromium with Playwright through its executable path, with every request to
another host aborted (the run fails if the page made one). Needs the ``[browser]`` extra,
``apt-get install chromium`` and, for the Chinese text, ``apt-get install fonts-noto-cjk``::

    .venv/bin/python docs/workbench/screenshots.py          # writes docs/workbench/*.png
"""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import Page, Route, expect, sync_playwright

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CHROMIUM = os.environ.get("REFERRAL_RULES_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
PATIENT = [("care_level", "primary"), ("has_hypertension", True), ("visit_type", "first_visit"),
           ("sbp", "182"), ("dbp", "96"), ("consciousness_impaired", False)]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            msg = "the workbench exited"
            raise SystemExit(msg)
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/v1/workbench/form")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    msg = "the workbench did not start"
    raise SystemExit(msg)


def _fill(page: Page) -> None:
    for name, value in PATIENT:
        if isinstance(value, bool):
            page.locator(f"#f-{name}-{'yes' if value else 'no'}").check()
        elif page.locator(f"select#f-{name}").count():
            page.select_option(f"#f-{name}", value)
        else:
            page.fill(f"#f-{name}", value)
        page.wait_for_timeout(400)  # each edit evaluated: the last one shows what changed


def _views(page: Page, base: str, lang: str) -> None:
    page.goto(f"{base}/workbench?lang={lang}#try")
    page.wait_for_selector("body[data-ready=true]")
    for group in ("chest_pain", "diabetes"):  # collapsed: the hypertension facts show
        page.locator(f"#group-{group} > summary").click()
    _fill(page)
    expect(page.locator("#headline")).to_have_attribute("data-direction", "up")
    page.set_viewport_size({"width": 1440, "height": 1500})
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(300)
    page.screenshot(path=str(HERE / f"try-{lang}.png"))
    page.set_viewport_size({"width": 1440, "height": 960})

    page.goto(f"{base}/workbench?lang={lang}#cases")
    page.select_option("#case-file", "hypertension.yaml")
    page.click("#run-file")
    expect(page.locator("#run-summary")).to_contain_text("0")
    page.wait_for_timeout(300)
    page.screenshot(path=str(HERE / f"cases-{lang}.png"))

    page.goto(f"{base}/workbench?lang={lang}#rules/hypertension")
    expect(page.locator("#flow svg")).to_be_visible(timeout=30_000)
    page.evaluate("document.querySelector('#flow').scrollTop = 0; window.scrollTo(0, 0)")
    page.wait_for_timeout(300)
    page.screenshot(path=str(HERE / f"rules-{lang}.png"))

    page.goto(f"{base}/workbench?lang={lang}#draft")
    page.select_option("#draft-file", "hypertension.yaml")
    expect(page.locator("#draft-status")).to_have_class("ok", timeout=30_000)
    area = page.locator("#draft-text")
    text = area.input_value()
    offset = text.index("when: bp_severely_raised") + len("when: ")
    area.evaluate("(a, o) => { a.focus(); a.setSelectionRange(o, o); }", offset)
    page.keyboard.type("sbpp >= 180 or ")
    expect(page.locator("#draft-status")).to_have_class("bad", timeout=30_000)
    page.locator("#draft-issues li button").first.click()
    page.wait_for_timeout(300)
    page.screenshot(path=str(HERE / f"draft-{lang}.png"))


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="referral-rules-shots-") as tmp:
        rules = Path(tmp) / "rulesets"
        shutil.copytree(ROOT / "rulesets", rules)
        port = _port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "referral_rules", "workbench", str(rules), "--port", str(port),
             "--no-open"], cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        blocked: list[str] = []

        def guard(route: Route) -> None:
            parts = urlsplit(route.request.url)
            if parts.scheme in ("data", "blob") or parts.hostname == "127.0.0.1":
                route.continue_()
            else:
                blocked.append(route.request.url)
                route.abort("blockedbyclient")

        try:
            _wait(port, proc)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                for lang in ("zh", "en"):
                    context = browser.new_context(viewport={"width": 1440, "height": 960},
                                                  locale="zh-CN" if lang == "zh" else "en-GB")
                    context.route("**/*", guard)
                    _views(context.new_page(), f"http://127.0.0.1:{port}", lang)
                    context.close()
                browser.close()
        finally:
            proc.terminate()
            proc.wait(20)
    if blocked:
        sys.stderr.write(f"requests to other hosts: {blocked}\n")
        return 1
    for path in sorted(HERE.glob("*.png")):
        sys.stderr.write(f"wrote {path.relative_to(ROOT)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
