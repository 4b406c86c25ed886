"""Service fixtures: the app in-process over the bundled rulesets and a SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from referral_rules_service import Settings, create_app

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rulesets"
KEY = "test-api-key-0123456789"
INTEROP = ROOT.parent / "shared" / "interop"

HTN_URGENT = {"care_level": "primary", "has_hypertension": True, "visit_type": "follow_up",
              "sbp": 185, "dbp": 112}
STABLE = {"care_level": "primary", "sbp": 128, "dbp": 78}


def make_client(tmp: Path, **overrides: object) -> TestClient:
    options: dict[str, object] = {
        "rules": str(RULES), "database_url": f"sqlite:///{tmp / 'service.db'}",
        "api_key": KEY, "patient_hash_key": "hash-key", "backend": "durable"}
    options.update(overrides)
    return TestClient(create_app(Settings(**options)))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with make_client(tmp_path_factory.mktemp("svc"), cors_origins="https://ehr.example") as c:
        yield c


@pytest.fixture
def auth() -> dict[str, str]:
    return {"X-API-Key": KEY}
