"""Schemathesis against the OpenAPI document, in-process: no input may produce a 500, and
every answer must match what the document says (status codes, content types, schemas)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from referral_rules_service import Settings, create_app

from .conftest import KEY, RULES

_DB = Path(tempfile.mkdtemp(prefix="referral-rules-schemathesis-")) / "records.db"
app = create_app(Settings(rules=str(RULES), database_url=f"sqlite:///{_DB}", api_key=KEY,
                          backend="python", max_body_bytes=200_000))


# The lifespan runs before the document is read, so it carries the loaded vocabulary (the
# schema of ``facts``); the module fixture below ends it.
_client = TestClient(app)
_client.__enter__()
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.fixture(scope="module", autouse=True)
def _running() -> Iterator[None]:
    yield
    _client.__exit__(None, None, None)


@schema.parametrize()
@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.function_scoped_fixture])
def test_api_conforms(case: schemathesis.Case[Any]) -> None:
    case.call_and_validate(headers={"X-API-Key": KEY})
