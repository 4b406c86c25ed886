"""The plain-Python backend: generated matchers of the same rule model.

It is the oracle in the differential tests against durable_rules, the backend for platforms
that cannot build durable_rules, and the source of ``possible()`` (which rules *could* fire if
the absent facts were known) that both backends use to report missing facts.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .compiler import python_matchers
from .ir import CompiledRule

__all__ = ["PythonMatcher"]


class PythonMatcher:
    """Which rules match, and which could match if absent facts were known. Thread-safe."""

    def __init__(self, rules: Iterable[CompiledRule]) -> None:
        self._fired, self._possible, self._classify, self.source = python_matchers(rules)

    def match(self, facts: dict[str, Any]) -> list[int]:
        """Indexes of the rules whose condition is true (unknown atoms read as false)."""
        return self._fired(facts)

    def possible(self, facts: dict[str, Any]) -> list[int]:
        """Indexes of the rules whose condition is not false (unknown atoms read as true)."""
        return self._possible(facts)

    def classify(self, facts: dict[str, Any]) -> tuple[list[int], list[int]]:
        """(fired, undetermined) in one pass: true, and neither true nor false."""
        return self._classify(facts)

    def close(self) -> None:
        """Nothing to release."""
