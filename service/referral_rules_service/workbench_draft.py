"""The workbench's draft check: a ruleset file as the user is editing it, validated in a
temporary copy of the rules directory (the served rules and the files on disk are never
touched), and the files of the rules directory read for editing.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml

from referral_rules import RulesetError, load_rulesets

__all__ = ["FILE_NAME", "MAX_FILE_BYTES", "check_draft", "list_files", "read_file"]

#: a file name the draft may have: a plain YAML name, no directory
FILE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}\.ya?ml$"
_NAME = re.compile(FILE_NAME)
#: the largest rules file read for editing (the bundled ones are ~120 KB)
MAX_FILE_BYTES = 2_000_000
#: rules files copied into the temporary directory (the bundled directory has 8)
MAX_FILES = 200
#: characters YAML does not allow in a stream (YAML 1.1 §5.1, as PyYAML's reader checks)
_UNPRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd"
                          "\U00010000-\U0010ffff]")


def _yaml_files(directory: Path) -> list[Path]:
    files = sorted(p for p in directory.iterdir()
                   if p.suffix in (".yaml", ".yml") and p.is_file())
    return files[:MAX_FILES]


def list_files(directory: Path) -> list[dict[str, Any]]:
    """The YAML files of the rules directory (name and size), as the loader reads them."""
    return [{"file": p.name, "bytes": p.stat().st_size} for p in _yaml_files(directory)
            if _NAME.match(p.name)]


def read_file(directory: Path, name: str) -> str | None:
    """The text of one rules file, or None when there is no such file (or it is too big)."""
    if not _NAME.match(name):
        return None
    path = directory / name
    if path not in _yaml_files(directory) or path.stat().st_size > MAX_FILE_BYTES:
        return None
    return path.read_text(encoding="utf-8", errors="replace")


def check_draft(directory: Path, name: str, text: str) -> dict[str, Any]:
    """Validate the rules directory with ``name`` replaced (or added) by ``text``: every
    problem at file:line:column, or a summary of what loads. Validation only: the check runs
    in a temporary copy, which is removed afterwards."""
    bad = _UNPRINTABLE.search(text)
    if bad is not None:  # the library's loader raises on these instead of reporting them
        return _problem(name, text, bad.start(),
                        f"character U+{ord(bad.group()):04X} is not allowed in YAML",
                        "delete it (it is invisible in most editors)")
    with tempfile.TemporaryDirectory(prefix="referral-rules-draft-") as tmp:
        root = Path(tmp)
        for path in _yaml_files(directory):
            if path.name != name:
                shutil.copyfile(path, root / path.name)
        (root / name).write_text(text, encoding="utf-8")
        try:
            bundle = load_rulesets(root)
        except yaml.YAMLError as exc:  # a reader error the loader did not turn into an issue
            return _problem(name, text, 0, f"the YAML could not be read: {exc}", None)
        except RulesetError as exc:
            issues = []
            for issue in exc.issues:
                item = issue.to_dict()
                item["file"] = Path(issue.file).name
                item["text"] = str(issue).replace(issue.file, str(item["file"]), 1)
                issues.append(item)
            return {"ok": False, "file": name, "issues": issues, "summary": None}
    rulesets = [{"id": rs.id, "file": Path(rs.file).name, "version": rs.version,
                 "rules": len(rs.rules), "cases": len(rs.cases)}
                for rs in bundle.rulesets.values()]
    return {"ok": True, "file": name, "issues": [],
            "summary": {"rulesets": rulesets, "rules": len(bundle.rules),
                        "cases": len(bundle.cases)}}


def _problem(name: str, text: str, offset: int, message: str,
             suggestion: str | None) -> dict[str, Any]:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    hint = f" ({suggestion})" if suggestion else ""
    issue = {"file": name, "line": line, "column": column, "path": "", "message": message,
             "code": "yaml-syntax", "suggestion": suggestion,
             "text": f"{name}:{line}:{column}: {message}{hint} [yaml-syntax]"}
    return {"ok": False, "file": name, "issues": [issue], "summary": None}
