"""Packaging (issue 12): a wheel works without the source tree, the version lives in one place,
and the README's test command does not install Spark."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import referral_rules

tomllib = pytest.importorskip("tomllib", reason="tomllib is standard from Python 3.11")

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_carries_the_rulesets_and_works_without_the_source_tree(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "-w", str(tmp_path / "dist"), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("referral_rules-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for name in ("facts.yaml", "policy.yaml", "hypertension.yaml", "cross_condition.yaml"):
        assert f"referral_rules/rulesets/{name}" in names
    for asset in ("workbench/index.html", "workbench/workbench.js", "workbench/workbench.css",
                  "mermaid/mermaid.min.js", "mermaid/LICENSE"):  # the workbench, no CDN
        assert f"referral_rules_service/static/{asset}" in names
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = ("import referral_rules as r; from referral_rules import Engine, load_rulesets\n"
             "print(r.__file__); print(r.bundled_rulesets())\n"
             "e = Engine(load_rulesets(), 'python')\n"
             "print(e.evaluate({'care_level': 'primary', 'has_hypertension': True, "
             "'sbp': 185, 'dbp': 100}).direction)\n")
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, check=True,
                          capture_output=True, text=True, timeout=120)
    module, rules, direction = done.stdout.split()
    assert module.startswith(str(site)) and rules.startswith(str(site))
    assert direction == "up"


def test_version_is_declared_once() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert importlib.metadata.version("referral-rules") == referral_rules.__version__


def test_dev_extra_does_not_pull_spark() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"][
        "optional-dependencies"]
    assert not any("spark" in d for d in extras["dev"])
    assert any(d.startswith("pyspark") for d in extras["spark"])
    assert "[dev,spark]" in (ROOT / ".ci" / "run").read_text("utf-8")


def test_pydantic_has_an_upper_bound() -> None:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]["dependencies"]
    (pydantic,) = [d for d in deps if d.startswith("pydantic")]
    assert "<3" in pydantic
