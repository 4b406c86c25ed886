"""Shared fixtures: the bundled rules, engines on both backends, a Hypothesis profile."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from referral_rules import Bundle, Engine, load_rulesets

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rulesets"
#: a down rule that overlaps the up rules on sbp: lint reports a conflict with an example patient
#: (workbench API and browser tests)
CONFLICTING_DOWN = """rules:
  - id: HTN-WB-DOWN
    title: {zh: 测试：下转, en: "Test: down"}
    when: care_level == secondary and sbp <= 200 and has_hypertension
    direction: down
    citation: {source: S1, clause: "初诊转诊 1"}
"""

settings.register_profile(
    "ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(scope="session")
def bundle() -> Bundle:
    return load_rulesets(RULES)


@pytest.fixture(scope="session")
def durable(bundle: Bundle) -> Iterator[Engine]:
    engine = Engine(bundle, "durable")
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def python_engine(bundle: Bundle) -> Engine:
    return Engine(bundle, "python")


@pytest.fixture(scope="session", params=["durable", "python"])
def engine(request: pytest.FixtureRequest, durable: Engine, python_engine: Engine) -> Engine:
    return durable if request.param == "durable" else python_engine
