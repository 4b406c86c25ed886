"""The published JSON Schemas accept the bundled files and reject broken ones."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from referral_rules import Engine
from referral_rules.loader import load_yaml
from referral_rules.synthetic import patients

from .conftest import ROOT, RULES

SCHEMAS = ROOT / "schemas"


def schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS / f"{name}.schema.json").read_text("utf-8"))
    return loaded


def load(path: Path) -> Any:
    data, _, issues = load_yaml(path.read_text("utf-8"), str(path))
    assert issues == []
    return data


@pytest.mark.parametrize("path", sorted(p.name for p in RULES.glob("*.yaml")))
def test_bundled_files_validate_against_published_schema(path: str) -> None:
    data = load(RULES / path)
    name = {"facts.yaml": "facts", "policy.yaml": "policy"}.get(
        path, "ruleset" if "rules" in data else "cases")
    jsonschema.validate(data, schema(name))


def test_schema_rejects_a_misspelt_key() -> None:
    data = load(RULES / "hypertension.yaml")
    data["rules"][0]["urgncy"] = "routine"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema("ruleset"))


def test_decision_and_patient_schemas_describe_real_output(python_engine: Engine) -> None:
    decision_schema, facts_schema = schema("decision"), schema("patient-facts")
    for record in patients(python_engine.bundle, 50, seed=5):
        jsonschema.validate(record, facts_schema)
        jsonschema.validate(json.loads(python_engine.evaluate(record).to_json()),
                            decision_schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"care_level": "primary", "sbp": "90"}, facts_schema)
