"""The code is linted with ruff and type-checked with mypy --strict (configured in pyproject)."""

from __future__ import annotations

import subprocess
import sys

from .conftest import ROOT


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)


def test_ruff_is_clean() -> None:
    proc = _run(sys.executable, "-m", "ruff", "check", ".")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_strict_is_clean() -> None:
    proc = _run(sys.executable, "-m", "mypy")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "strict = true" in (ROOT / "pyproject.toml").read_text(encoding="utf-8")


def test_nothing_outside_the_package_imports_a_private_module() -> None:
    """Issue 12: the service, the benchmarks and the tests use the library's public modules."""
    import re

    private = re.compile(r"^\s*(from|import)\s+referral_rules\.(?:\w+\.)*_\w+", re.M)
    offenders = [str(p.relative_to(ROOT)) for folder in ("service", "bench", "tests")
                 for p in (ROOT / folder).rglob("*.py")
                 if private.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_every_public_exception_is_a_referral_rules_error() -> None:
    """Issue 12: one error base class, for the library and the service alike."""
    import importlib
    import inspect
    import pkgutil

    from referral_rules import ReferralRulesError

    found = []
    for package in ("referral_rules", "referral_rules_service"):
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, f"{package}."):
            if info.name.rsplit(".", 1)[-1] in ("__main__",) or "spark" in info.name:
                continue
            module = importlib.import_module(info.name)
            for name, cls in inspect.getmembers(module, inspect.isclass):
                if (issubclass(cls, BaseException) and cls.__module__ == info.name
                        and not name.startswith("_")):
                    found.append(cls)
    assert len(found) >= 10  # RulesetError, FactsError, … MappingError, StoreError, …
    assert [c.__qualname__ for c in found if not issubclass(c, ReferralRulesError)] == []
