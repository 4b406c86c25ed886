"""Load: read YAML files into the strict file models, keeping file:line:column for every error.

``read_directory`` returns the parsed files and *all* problems found in them. Name resolution
across files (facts, definitions, sources, records) happens in ``link.py``.
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from ._sourcemap import Path, SourceMap, load_yaml
from .errors import Issue
from .model import (
    Block,
    Bypass,
    Case,
    CasesFile,
    Citation,
    Definition,
    Derivation,
    DestinationPolicy,
    DirectionRecords,
    DownDestination,
    Expect,
    FactSpec,
    NotEncoded,
    Piece,
    PolicyFile,
    RecordSpec,
    RefusalPolicy,
    Rule,
    RulesetFile,
    Source,
    Text,
    VocabularyFile,
)

__all__ = ["LoadedFile", "SourceMap", "Sources", "load_yaml", "read_directory", "read_file",
           "salvage"]

M = TypeVar("M", bound=BaseModel)
VOCABULARY = "facts.yaml"
POLICY = "policy.yaml"

_ALL_MODELS: tuple[type[BaseModel], ...] = (
    Block, Bypass, Case, CasesFile, Citation, Definition, Derivation, DestinationPolicy,
    DirectionRecords, DownDestination, Expect, FactSpec, NotEncoded, Piece, PolicyFile,
    RecordSpec, RefusalPolicy, Rule, RulesetFile, Source, Text, VocabularyFile,
)
_KNOWN_KEYS = sorted({
    (f.alias or name) for m in _ALL_MODELS for name, f in m.model_fields.items()
})


@dataclass
class LoadedFile:
    """One file: its display name, bytes' sha256, source map and validated model (or None)."""

    name: str
    sha256: str
    smap: SourceMap
    model: BaseModel | None
    data: Any = None


@dataclass
class Sources:
    """Every file of a rules directory."""

    vocabulary: LoadedFile | None = None
    policy: LoadedFile | None = None
    rulesets: list[LoadedFile] = field(default_factory=list)
    case_files: list[LoadedFile] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    unreadable: int = 0  # condition files that could not even be parsed


def read_directory(directory: str | FsPath) -> Sources:
    """Read ``facts.yaml``, ``policy.yaml`` and every other ``*.yaml`` of ``directory``."""
    root = FsPath(directory)
    out = Sources()
    if not root.is_dir():
        msg = f"not a directory: {root}"
        out.issues.append(Issue(str(root), 1, 1, "", msg, "file-missing"))
        return out
    for required in (VOCABULARY, POLICY):
        if not (root / required).is_file():
            msg = f"{required} is missing from {root}"
            hint = "every rules directory needs facts.yaml and policy.yaml"
            out.issues.append(Issue(str(root / required), 1, 1, "", msg, "file-missing", hint))
    files = sorted(p for p in root.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    for path in files:
        if path.name == VOCABULARY:
            out.vocabulary = read_file(path, VocabularyFile, out.issues)
        elif path.name == POLICY:
            out.policy = read_file(path, PolicyFile, out.issues)
        else:
            loaded = read_file(path, None, out.issues)
            if loaded.model is None and isinstance(loaded.data, dict) and "rules" in loaded.data:
                out.rulesets.append(loaded)
                continue
            if loaded.model is None:
                if not isinstance(loaded.data, dict):
                    out.unreadable += 1
                continue
            if isinstance(loaded.model, RulesetFile):
                out.rulesets.append(loaded)
            else:
                out.case_files.append(loaded)
    return out


def read_file(
    path: FsPath, model: type[BaseModel] | None, issues: list[Issue]
) -> LoadedFile:
    """Read one file into ``model`` (or, for None, a ruleset or a cases file by its keys)."""
    raw = path.read_bytes()
    name = str(path)
    sha = hashlib.sha256(raw).hexdigest()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        msg = f"the file is not UTF-8 text (byte {exc.start})"
        issues.append(Issue(name, 1, 1, "", msg, "yaml-syntax", "save it as UTF-8"))
        return LoadedFile(name, sha, SourceMap(name), None)
    data, smap, found = load_yaml(text, name)
    issues.extend(found)
    if data is None and not found:
        issues.append(Issue(name, 1, 1, "", "the file is empty", "schema"))
    if data is None or found:
        return LoadedFile(name, sha, smap, None)
    if not isinstance(data, dict):
        issues.append(smap.issue((), "the file must be a mapping of keys to values", "schema"))
        return LoadedFile(name, sha, smap, None)
    if model is None:
        # a cases file has only cases (and a note); any ruleset key means a ruleset whose
        # 'rules:' may be misspelt, which must be reported as such, not as a cases file
        only_cases = "cases" in data and not set(data) - set(CasesFile.model_fields)
        model = CasesFile if only_cases else RulesetFile
    return LoadedFile(name, sha, smap, validate(data, smap, model, issues), data)


def salvage(data: dict[str, Any]) -> RulesetFile:
    """The parts of an invalid ruleset that are valid on their own (errors already reported),
    so that name and citation problems in them are reported in the same run."""

    def mapping(model: type[M], items: Any) -> dict[str, M]:
        out = {}
        for key, item in (items.items() if isinstance(items, dict) else []):
            try:
                out[str(key)] = model.model_validate(item)
            except ValidationError:
                continue
        return out

    def rule(item: Any, i: int) -> Rule:
        try:
            return Rule.model_validate(item)
        except ValidationError:
            pass
        item = item if isinstance(item, dict) else {}
        when: Any = item.get("when", "true")
        try:
            when = _WhenOnly.model_validate({"when": when}).when
        except ValidationError:
            when = "true"
        direction = item.get("direction")
        return Rule.model_construct(
            id=str(item.get("id", f"rules.{i}")), criterion=None,
            title=Text.model_construct(zh="-", en="-"), when=when,
            direction=direction if direction in ("up", "down", "stay") else "up",
            urgency=None, target_level=None, records=[], citation=[], advice=[],
            specialty=None, capability=None, note=None,
        )

    applies_to: Any = data.get("applies_to", "true")
    try:
        applies_to = _WhenOnly.model_validate({"when": applies_to}).when
    except ValidationError:
        applies_to = "true"

    rules = data.get("rules")
    return RulesetFile.model_construct(
        id=str(data.get("id", "invalid")), version=str(data.get("version", "0")),
        title=Text.model_construct(zh="-", en="-"), specialty=None, applies_to=applies_to,
        sources=mapping(Source, data.get("sources")),
        definitions=mapping(Definition, data.get("definitions")),
        rules=[rule(r, i) for i, r in enumerate(rules if isinstance(rules, list) else [])],
        cases=[], not_encoded=[], note=None,
    )


class _WhenOnly(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    when: str | Block


def validate(data: Any, smap: SourceMap, model: type[M], issues: list[Issue]) -> M | None:
    """Validate ``data`` against ``model``; turn pydantic errors into located issues."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        issues.extend(_issues(exc, data, smap))
        return None


def _data_path(loc: tuple[int | str, ...], data: Any) -> tuple[Path, bool]:
    """Keep the loc parts that exist in the data (pydantic adds union tags to loc)."""
    path: list[str | int] = []
    node = data
    complete = True
    for part in loc:
        if isinstance(node, dict) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and part == loc[-1]:
            complete = False  # a missing or unknown key
            path.append(part)
        # else: a union tag such as 'str' or 'Block'; skip it
    return tuple(path), complete


def _issues(exc: ValidationError, data: Any, smap: SourceMap) -> list[Issue]:
    grouped: dict[Path, list[dict[str, Any]]] = {}
    for err in exc.errors(include_url=False):
        path, _ = _data_path(err["loc"], data)
        grouped.setdefault(path, []).append(dict(err))
    out: list[Issue] = []
    for path, errs in grouped.items():
        out.append(_issue(path, errs, smap))
    return out


def _issue(path: Path, errs: list[dict[str, Any]], smap: SourceMap) -> Issue:
    first = errs[0]
    kind = first["type"]
    if kind == "extra_forbidden":
        key = str(path[-1])
        close = difflib.get_close_matches(key, _KNOWN_KEYS, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else None
        return smap.issue(path, f"unknown key '{key}'", "schema", hint, key=True)
    if kind == "missing":
        parent, missing = path[:-1], path[-1]
        msg = f"missing required key '{missing}'"
        return smap.issue(parent, msg, "schema", f"add '{missing}:' here")
    if kind == "literal_error":
        expected = str(first.get("ctx", {}).get("expected", ""))
        options = [o.strip(" '") for o in expected.replace(" or ", ",").split(",") if o.strip()]
        value = first.get("input")
        hint = None
        if isinstance(value, str):
            close = difflib.get_close_matches(value, options, n=1, cutoff=0.5)
            hint = f"did you mean '{close[0]}'?" if close else None
        if isinstance(value, bool) and {"yes", "no"} & set(options):
            hint = "quote it: 'yes' / 'no'"
        return smap.issue(path, f"{value!r} is not allowed here: expected {expected}", "schema",
                          hint)
    messages = list(dict.fromkeys(_message(e) for e in errs))
    value = first.get("input")
    shown = f" (got {value!r})" if isinstance(value, str | int | float | bool) else ""
    hint = None
    if any(e["type"] == "string_type" for e in errs) and isinstance(value, int | float):
        hint = f"quote it: \"{value}\""
    return smap.issue(path, "; ".join(messages) + shown, "schema", hint)


def _message(err: dict[str, Any]) -> str:
    msg = str(err["msg"])
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    return msg[0].lower() + msg[1:] if msg else msg
