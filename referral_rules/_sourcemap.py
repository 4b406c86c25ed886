"""Read YAML keeping every node's position, so later stages can say file:line:column.

PyYAML's ``safe_load`` silently keeps the last of duplicate keys and reads ``no`` as ``False``
(YAML 1.1). Policy staff write ``accepts_transfer: no`` and mean the word, so this loader uses
the YAML 1.2 core rules for booleans (only true/false) and rejects duplicate keys.

A hostile or broken file must not hang or crash the loader, so the composer is bounded before
any Python object is built: nesting deeper than ``MAX_DEPTH`` (PyYAML's composer recurses, so a
5,000-deep list would end in ``RecursionError``), a value that aliases expand to more than
``MAX_NODES`` nodes (an "alias bomb": nine nested anchors expand to 387 million strings), and an
alias inside the value it names (a cycle). Each is a ``yaml-limit`` issue at file:line:column.
The largest bundled ruleset has about 8,000 nodes and 10 levels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from .errors import Issue

Path = tuple[str | int, ...]


MAX_DEPTH = 50
MAX_NODES = 100_000


class _LimitError(yaml.MarkedYAMLError):
    """The document is too deep, too large once its aliases are expanded, or cyclic."""

    def __init__(self, problem: str, mark: Any, hint: str) -> None:  # a yaml Mark
        super().__init__(problem=problem, problem_mark=mark)
        self.hint = hint


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans, no sexagesimal or octal integers, and bounds on depth
    and on the size that aliases expand to (checked while composing, before building)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._sizes: dict[int, int] = {}  # id(node) -> nodes it stands for, aliases expanded

    def _next(self) -> yaml.Event:
        event: yaml.Event = self.peek_event()  # type: ignore[no-untyped-call]
        return event

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self._next()
            node = super().compose_node(parent, index)
            if node is not None and id(node) not in self._sizes:  # still being composed
                msg = f"the alias *{getattr(event, 'anchor', '')} is inside the value it names"
                raise _LimitError(msg, event.start_mark,
                                  "an alias may only repeat a value that ends before it")
            return node
        self._depth += 1
        if self._depth > MAX_DEPTH:
            msg = f"the YAML is nested more than {MAX_DEPTH} levels deep"
            raise _LimitError(msg, self._next().start_mark,
                              "a rules file needs about ten levels: look for unclosed brackets")
        node = super().compose_node(parent, index)
        self._depth -= 1
        if node is None:
            return None
        size = 1
        if isinstance(node, yaml.MappingNode):
            size += sum(self._sizes[id(k)] + self._sizes[id(v)] for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            size += sum(self._sizes[id(v)] for v in node.value)
        if size > MAX_NODES:
            msg = f"aliases (*name) expand this value to more than {MAX_NODES:,} values"
            raise _LimitError(msg, node.start_mark, "write the values out, or alias less")
        self._sizes[id(node)] = size
        return node


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in ("tag:yaml.org,2002:bool",)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)
_INT = re.compile(r"^[-+]?(?:0|[1-9][0-9_]*)$")
for _first, _resolvers in list(_Loader.yaml_implicit_resolvers.items()):
    _Loader.yaml_implicit_resolvers[_first] = [
        (tag, _INT if tag == "tag:yaml.org,2002:int" else rx) for tag, rx in _resolvers
    ]


@dataclass(frozen=True)
class Position:
    """A 1-based position of a scalar in a file, and how its text maps to columns."""

    line: int
    column: int
    inline: bool  # plain or quoted scalar on one line: column + offset is exact
    quoted: bool


@dataclass
class SourceMap:
    """Positions of every value (and every mapping key) of one YAML document."""

    file: str
    values: dict[Path, Position] = field(default_factory=dict)
    keys: dict[Path, Position] = field(default_factory=dict)

    def locate(self, path: Path, *, key: bool = False) -> tuple[int, int]:
        """Line and column of ``path``, or of its nearest located ancestor."""
        table = self.keys if key else self.values
        probe = tuple(path)
        while probe:
            pos = table.get(probe) or self.values.get(probe)
            if pos is not None:
                return pos.line, pos.column
            probe = probe[:-1]
        return 1, 1

    def text_position(self, path: Path, offset: int) -> tuple[int, int]:
        """Line and column of character ``offset`` inside the scalar at ``path``."""
        pos = self.values.get(tuple(path))
        if pos is None:
            return self.locate(path)
        if not pos.inline:
            return pos.line, pos.column
        return pos.line, pos.column + offset + (1 if pos.quoted else 0)

    def issue(
        self,
        path: Path,
        message: str,
        code: Any,
        suggestion: str | None = None,
        *,
        key: bool = False,
    ) -> Issue:
        """An Issue located at ``path``."""
        line, column = self.locate(path, key=key)
        return Issue(self.file, line, column, dotted(path), message, code, suggestion)


def dotted(path: Path) -> str:
    """``("rules", 0, "when")`` as ``rules.0.when``."""
    return ".".join(str(p) for p in path)


def _position(node: yaml.Node) -> Position:
    mark = node.start_mark
    style = node.style if isinstance(node, yaml.ScalarNode) else "{"
    inline = style in (None, "'", '"') and node.end_mark.line == mark.line
    return Position(mark.line + 1, mark.column + 1, inline, style in ("'", '"'))


def load_yaml(text: str, file: str) -> tuple[Any, SourceMap, list[Issue]]:
    """Parse ``text``; return the data, its source map and any problems found.

    A syntax error returns ``None`` data and one issue at the error's mark.
    """
    smap = SourceMap(file)
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow, e.g. U+007F
        return None, smap, [_unprintable(file, text, exc)]
    try:
        node = loader.get_single_node()
    except _LimitError as exc:
        mark = exc.problem_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return None, smap, [Issue(file, line, col, "", str(exc.problem), "yaml-limit", exc.hint)]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or "invalid YAML"
        context = f" {exc.context}" if exc.context else ""
        hint = "check the indentation and that every key has ': ' after it"
        msg = f"YAML syntax error: {problem}{context}"
        return None, smap, [Issue(file, line, col, "", msg, "yaml-syntax", hint)]
    except yaml.reader.ReaderError as exc:
        return None, smap, [_unprintable(file, text, exc)]
    except yaml.YAMLError as exc:
        return None, smap, [Issue(file, 1, 1, "", f"YAML error: {exc}", "yaml-syntax")]
    finally:
        loader.dispose()
    if node is None:
        return None, smap, []
    issues: list[Issue] = []
    data = _build(node, (), smap, issues, loader)
    return data, smap, issues


def _unprintable(file: str, text: str, exc: yaml.reader.ReaderError) -> Issue:
    """The position of a character YAML does not allow (a control character, pasted from
    a word processor or a spreadsheet)."""
    before = text[:exc.position]
    line = before.count("\n") + 1
    column = exc.position - (before.rfind("\n") + 1) + 1
    code = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or " ")
    msg = f"YAML does not allow the character U+{code:04X} here"
    return Issue(file, line, column, "", msg, "yaml-syntax",
                 "delete it (it may be invisible: retype the line)")


def _build(
    node: yaml.Node, path: Path, smap: SourceMap, issues: list[Issue], loader: _Loader
) -> Any:
    smap.values[path] = _position(node)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                issues.append(smap.issue(path, "YAML merge keys (<<) are not supported", "schema"))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                pos = _position(key_node)
                msg = "a key must be a plain word, not a list or mapping"
                issues.append(Issue(smap.file, pos.line, pos.column, dotted(path), msg, "schema"))
                continue
            key = loader.construct_object(key_node, deep=True)
            key = str(key) if not isinstance(key, str) else key
            if key in out:
                pos = _position(key_node)
                first = smap.keys[(*path, key)]
                msg = f"duplicate key '{key}' (first at line {first.line})"
                hint = "remove one of them or rename it"
                issues.append(
                    Issue(smap.file, pos.line, pos.column, dotted((*path, key)), msg,
                          "duplicate-key", hint)
                )
                continue
            smap.keys[(*path, key)] = _position(key_node)
            out[key] = _build(value_node, (*path, key), smap, issues, loader)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), smap, issues, loader) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)
