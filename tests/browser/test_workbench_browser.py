"""The workbench in a real headless Chromium against real servers on 127.0.0.1, with the network
blocked except 127.0.0.1 (issue 13): fill the form, read the decision and its guideline quote,
flip a fact, load and run cases, save a case and run it through ``referral-rules test``, see a
YAML error located while typing, use it with the keyboard."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import (
    CONFLICTING_DOWN,
    Guard,
    Process,
    copy_rules,
    fill_facts,
    open_workbench,
)

pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install "
                    "-e '.[browser]'; .ci/run does)")

from playwright.sync_api import BrowserContext, Page, expect

HTN_FIRST = {"care_level": "primary", "has_hypertension": True, "visit_type": "first_visit",
             "sbp": 182, "dbp": 96}
QUOTE = "血压显著升高≥180/110mmHg"


def test_the_guard_blocks_and_records_other_hosts(context: BrowserContext, workbench: Process,
                                                  guard: Guard) -> None:
    """The network guard works (a request to another host is aborted and recorded), and the
    page's Content-Security-Policy stops one before it is even made."""
    probe = context.new_page()
    probe.goto("about:blank")
    probe.evaluate("fetch('http://example.invalid/x').catch(() => 0)")
    probe.wait_for_timeout(300)
    assert guard.blocked == ["http://example.invalid/x"]
    guard.blocked.clear()
    console: list[str] = []
    probe.on("console", lambda m: console.append(m.text))
    open_workbench(probe, workbench)
    probe.evaluate("fetch('http://example.invalid/y').catch(() => 0)")
    probe.wait_for_timeout(300)
    assert guard.blocked == []
    assert any("Content Security Policy" in line for line in console), console
    probe.close()


def test_fill_the_form_and_read_the_decision_with_its_quote(page: Page,
                                                           workbench: Process) -> None:
    open_workbench(page, workbench)
    # the fields are found by their labels (zh label, then the fact name)
    page.get_by_label(re.compile(r"^收缩压\s+sbp")).fill("182")
    fill_facts(page, {k: v for k, v in HTN_FIRST.items() if k != "sbp"})
    headline = page.locator("#headline")
    expect(headline).to_have_attribute("data-direction", "up")
    expect(headline).to_contain_text("上转")
    card = page.locator(".rule-card[data-rule='HTN-U1-SEVERE-BP']")
    expect(card.locator("blockquote.quote").first).to_have_text(QUOTE)
    expect(card.locator("a.where")).to_have_text(re.compile(r"^hypertension\.yaml:\d+$"))
    expect(card).to_contain_text("sbp=182")
    # possible emergencies come first, before the advice
    boxes = page.locator("#decision > *")
    expect(boxes.first).to_have_attribute("data-section", "possible_emergencies")
    # records: the deferrable mark only where the library says so (none for a routine transfer)
    expect(page.locator("[data-section=records] li")).not_to_have_count(0)
    # undetermined rules list the facts that decide them, each a link to its field
    undetermined = page.locator("[data-section=undetermined] li").first
    expect(undetermined.locator("a[data-fact]").first).to_be_visible()
    # the file:line opens the rule in the rules view
    card.locator("a.where").click()
    expect(page.locator("#rule-HTN-U1-SEVERE-BP")).to_be_visible()
    expect(page.locator("#rule-HTN-U1-SEVERE-BP .quote").first).to_have_text(QUOTE)


def test_flipping_one_fact_changes_the_direction_and_shows_what_changed(
        page: Page, workbench: Process) -> None:
    open_workbench(page, workbench, "en")
    fill_facts(page, {"care_level": "primary", "has_hypertension": True,
                      "visit_type": "follow_up", "sbp": 150, "dbp": 92})
    headline = page.locator("#headline")
    expect(headline).to_have_attribute("data-direction", "stay")
    page.locator("#f-consciousness_impaired-yes").check()
    expect(headline).to_have_attribute("data-direction", "up")
    expect(headline).to_have_attribute("data-urgency", "emergency")
    expect(headline).to_have_class(re.compile(r"\bchanged\b"))
    changes = page.locator("#changes")
    expect(changes).to_contain_text("Changed since the last edit")
    expect(changes).to_contain_text("HTN-E1-CONSCIOUSNESS")
    expect(page.locator(".rule-card.changed[data-rule='HTN-E1-CONSCIOUSNESS']")).to_be_visible()
    # not recorded sends nothing: the direction goes back
    page.locator("#f-consciousness_impaired-unset").check()
    expect(headline).to_have_attribute("data-direction", "stay")


def test_an_invalid_value_is_shown_at_its_field_in_the_librarys_words(
        page: Page, workbench: Process) -> None:
    open_workbench(page, workbench, "en")
    page.fill("#f-sbp", "1800")
    error = page.locator("#e-sbp")
    expect(error).to_be_visible()
    expect(error).to_contain_text("'sbp' must be between 40 and 300 mmHg (got 1800)")
    expect(page.locator("#field-sbp")).to_have_class(re.compile(r"\bhas-error\b"))
    page.fill("#f-sbp", "180")
    expect(error).to_be_hidden()


def test_find_a_fact_by_name_or_label(page: Page, workbench: Process) -> None:
    open_workbench(page, workbench, "zh")
    page.fill("#fact-filter", "收缩压")
    expect(page.locator("#field-sbp")).to_be_visible()
    expect(page.locator("#field-dbp")).to_be_hidden()
    expect(page.locator("#group-post_operative")).to_be_visible()  # sbp_drop_from_baseline
    page.fill("#fact-filter", "hba1c_mmol")
    expect(page.locator("#field-hba1c_mmol_mol")).to_be_visible()
    expect(page.locator("#field-sbp")).to_be_hidden()
    expect(page.locator("#group-hypertension")).to_be_hidden()
    page.fill("#fact-filter", "")
    expect(page.locator("#field-dbp")).to_be_visible()


def test_derived_facts_show_their_value_and_where_it_came_from(page: Page,
                                                               workbench: Process) -> None:
    open_workbench(page, workbench, "en")
    fill_facts(page, {"care_level": "secondary", "post_operative": True,
                      "body_temperature": 37.5})
    derived = page.locator("#d-temperature_normal")
    expect(derived).to_have_text("Derived: false (from body_temperature=37.5)")
    expect(page.locator("#field-temperature_normal .badge")).to_have_text("derived")


def test_run_the_cases_and_load_one_into_the_form(page: Page, workbench: Process) -> None:
    open_workbench(page, workbench, "en", "#cases")
    page.select_option("#case-file", "hypertension.yaml")
    page.click("#run-file")
    summary = page.locator("#run-summary")
    expect(summary).to_contain_text(re.compile(r"^\d+ passed, 0 failed"))
    rows = page.locator("#case-table > tbody > tr[data-case]")
    passed = int(summary.inner_text().split()[0])
    assert passed == rows.count() > 50
    expect(page.locator("#case-table td.status-fail")).to_have_count(0)
    first = rows.first
    name = first.locator("td").nth(1).inner_text()
    first.get_by_role("button", name=f"Load into the form: {name}").click()
    expect(page.locator("#view-try")).to_be_visible()
    expect(page.locator("#loaded-case")).to_contain_text(name)
    expect(page.locator("#loaded-case-result")).to_contain_text("pass")
    # the first hypertension case: a follow-up at 185/112 -> urgent up-transfer
    expect(page.locator("#f-sbp")).to_have_value("185")
    expect(page.locator("#headline")).to_have_attribute("data-urgency", "urgent")


def test_save_a_case_and_run_it_through_referral_rules_test(
        page: Page, workbench: Process, rules_dir: Path) -> None:
    open_workbench(page, workbench)
    fill_facts(page, {**HTN_FIRST, "accepts_transfer": "no"})
    expect(page.locator("#headline")).to_have_attribute("data-direction", "up")
    page.fill("#case-name", "工作台：初诊 182/96，患者拒绝")
    page.fill("#case-criterion", "HTN-U1")
    page.click("#make-case")
    expect(page.locator("#case-verified")).to_have_class("ok")
    text = page.locator("#case-yaml").input_value()
    assert "    conditions: all\n" in text and "signed_refusal" in text
    with page.expect_download() as info:
        page.click("#download-case")
    downloaded = Path(info.value.path()).read_text(encoding="utf-8")
    assert downloaded == text
    cases = rules_dir / "cross_condition.yaml"
    cases.write_text(cases.read_text(encoding="utf-8").rstrip("\n") + "\n" + downloaded,
                     encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "referral_rules", "test", str(rules_dir), "-v"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    mine = [line for line in done.stdout.splitlines() if "工作台：初诊 182/96，患者拒绝" in line]
    assert len(mine) == 1 and mine[0].startswith("PASS"), mine


def test_a_yaml_error_is_located_while_typing(page: Page, workbench: Process) -> None:
    open_workbench(page, workbench, "en", "#draft")
    page.select_option("#draft-file", "hypertension.yaml")
    status = page.locator("#draft-status")
    expect(status).to_have_class("ok", timeout=30_000)
    expect(status).to_contain_text("No problems")
    area = page.locator("#draft-text")
    text = area.input_value()
    offset = text.index("when: bp_severely_raised") + len("when: ")
    line = text.count("\n", 0, offset) + 1
    column = offset - text.rfind("\n", 0, offset)
    area.evaluate("(a, o) => { a.focus(); a.setSelectionRange(o, o); }", offset)
    page.keyboard.type("sbpp >= 180 or ")  # typed: no button is pressed
    expect(status).to_have_class("bad", timeout=30_000)
    first = page.locator("#draft-issues li").first
    expect(first).to_contain_text(f"hypertension.yaml:{line}:{column}")
    expect(first).to_contain_text("unknown fact 'sbpp'")
    expect(first).to_contain_text("did you mean 'sbp'?")
    expect(page.locator("#draft-gutter .err")).to_have_text(str(line))
    page.keyboard.press("Control+End")
    first.get_by_role("button").click()
    assert area.evaluate("a => a.selectionStart") == offset
    # undoing the typo clears it
    area.evaluate("(a, t) => { a.value = t; a.dispatchEvent(new Event('input')); }", text)
    expect(status).to_have_class("ok", timeout=30_000)


def test_rules_view_draws_the_flow_locally(page: Page, workbench: Process) -> None:
    open_workbench(page, workbench, "zh", "#rules/hypertension")
    expect(page.locator("#flow svg")).to_be_visible(timeout=30_000)
    expect(page.locator("#flow")).to_have_attribute("data-rendered", "true")
    expect(page.locator("#flow svg")).to_contain_text("HTN-U1-SEVERE-BP")
    expect(page.locator("#ruleset-detail")).to_contain_text("has_hypertension or bp_raised")
    expect(page.locator("#lint")).to_contain_text("没有发现问题", timeout=60_000)


@pytest.fixture(scope="module")
def linted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    rules = copy_rules(tmp_path_factory.mktemp("lint") / "rules", CONFLICTING_DOWN)
    server = Process(["workbench", str(rules), "--no-open"], rules.parent,
                     "/v1/workbench/form")
    yield server
    server.stop()


def test_a_lint_finding_loads_its_example_patient(page: Page, linted: Process) -> None:
    open_workbench(page, linted, "en", "#rules/hypertension")
    finding = page.locator("#lint .finding[data-code=conflict]").first
    expect(finding).to_contain_text("HTN-WB-DOWN", timeout=60_000)
    expect(finding).to_contain_text(re.compile(r"hypertension\.yaml:\d+:\d+"))
    finding.get_by_role("button").click()
    expect(page.locator("#view-try")).to_be_visible()
    expect(page.locator("#f-care_level")).to_have_value("secondary")
    # the two rules the finding names fire together, and the down rule does not win
    expect(page.locator(".rule-card[data-rule='HTN-WB-DOWN']")).to_be_visible()
    expect(page.locator(".rule-card[data-direction=up]").first).to_be_visible()
    expect(page.locator("#headline")).not_to_have_attribute("data-direction", "down")


_UNLABELLED = """() => Array.from(document.querySelectorAll('input, select, textarea, button'))
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
               && !(e.tagName === 'BUTTON' && e.textContent.trim()))
  .map(e => e.id || e.outerHTML.slice(0, 80))"""


@pytest.mark.parametrize("view", ["#try", "#cases", "#rules/diabetes", "#draft"])
def test_every_control_has_a_name(page: Page, workbench: Process, view: str) -> None:
    open_workbench(page, workbench, "en", view)
    page.wait_for_timeout(1500)  # the view has loaded what it shows
    assert page.locator("input, select, textarea, button").count() > 3
    assert page.evaluate(_UNLABELLED) == []


def test_keyboard_only(page: Page, workbench: Process) -> None:
    open_workbench(page, workbench, "zh")
    page.keyboard.press("Tab")
    skip = page.locator("a.skip")
    expect(skip).to_be_focused()
    outline = skip.evaluate("e => getComputedStyle(e).outlineStyle")
    assert outline not in ("", "none")  # focus is visible
    page.keyboard.press("Tab")
    expect(page.locator("[data-nav=try]")).to_be_focused()
    # the language switch works from the keyboard
    english = page.get_by_role("button", name="English")
    english.focus()
    page.keyboard.press("Enter")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(english).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#h-try")).to_have_text("Try a patient")
    # a tri-state fact: Space picks an option, the arrow keys move within yes / no / not recorded
    fill_facts(page, {"care_level": "primary", "has_hypertension": True,
                      "visit_type": "follow_up", "sbp": 150, "dbp": 92})
    unset = page.locator("#f-consciousness_impaired-unset")
    unset.focus()
    page.keyboard.press("ArrowRight")  # wraps to "yes"
    expect(page.locator("#f-consciousness_impaired-yes")).to_be_checked()
    expect(page.locator("#headline")).to_have_attribute("data-urgency", "emergency")
    # a text field: typed and evaluated without a mouse
    page.locator("#f-dbp").focus()
    page.keyboard.press("Control+A")
    page.keyboard.type("95")
    expect(page.locator("#f-dbp")).to_have_value("95")
    # views from the keyboard: the nav link, then Enter
    page.locator("[data-nav=cases]").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#h-cases")).to_be_visible()
    page.locator("#run-file").focus()
    page.keyboard.press("Space")
    expect(page.locator("#run-summary")).to_contain_text("0 failed")


def test_serve_offers_the_workbench_and_audits_none_of_it(
        page: Page, tmp_path: Path) -> None:
    db = tmp_path / "records.db"
    server = Process(["serve"], tmp_path, "/readyz",
                     {"REFERRAL_RULES_DATABASE_URL": f"sqlite:///{db}",
                      "REFERRAL_RULES_RULES": "", "REFERRAL_RULES_WORKERS": "1"})
    try:
        open_workbench(page, server, "en")
        fill_facts(page, HTN_FIRST)
        expect(page.locator("#headline")).to_have_attribute("data-direction", "up")
        expect(page.locator(".rule-card[data-rule='HTN-U1-SEVERE-BP'] .quote").first
               ).to_have_text(QUOTE)
    finally:
        server.stop()
    with sqlite3.connect(db) as conn:
        assert conn.execute("select count(*) from decisions").fetchone()[0] == 0
