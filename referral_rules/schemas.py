"""JSON Schemas of the file formats, generated from the models (``referral-rules schema``).

Editors that speak JSON Schema (VS Code + Red Hat YAML) validate and complete the YAML as staff
type; point them at ``schemas/<name>.schema.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from .decision import Decision
from .errors import RulesetError
from .loader import VOCABULARY, read_file
from .model import CasesFile, PolicyFile, RulesetFile, VocabularyFile
from .vocabulary import Vocabulary

__all__ = ["all_schemas"]

_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _schema(model: type[BaseModel], name: str, title: str) -> dict[str, Any]:
    schema = model.model_json_schema(mode="validation")
    return {"$schema": _DIALECT, "$id": f"{name}.schema.json", **schema, "title": title}


def all_schemas(rules: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """Every schema by name; ``patient-facts`` too when ``rules`` has a valid facts.yaml."""
    out = {
        "ruleset": _schema(RulesetFile, "ruleset", "referral-rules ruleset"),
        "facts": _schema(VocabularyFile, "facts", "referral-rules fact vocabulary"),
        "policy": _schema(PolicyFile, "policy", "referral-rules policy"),
        "cases": _schema(CasesFile, "cases", "referral-rules cases file"),
        "decision": {"$schema": _DIALECT, "$id": "decision.schema.json",
                     "title": "referral-rules decision",
                     **Decision.model_json_schema(mode="serialization")},
    }
    if rules is not None and (Path(rules) / VOCABULARY).is_file():
        issues: list[Any] = []
        loaded = read_file(Path(rules) / VOCABULARY, VocabularyFile, issues)
        if issues:
            raise RulesetError(issues)
        if isinstance(loaded.model, VocabularyFile):
            out["patient-facts"] = {"$schema": _DIALECT, "$id": "patient-facts.schema.json",
                                    "title": "referral-rules patient facts",
                                    **Vocabulary(loaded.model).json_schema()}
    return out
