"""Lint: static analysis of rulesets, exact over the vocabulary's types, ranges and values.

Conditions are in negation normal form, so each is a disjunction of conjunctions of atoms
(``fact op value``). A conjunction is satisfiable iff, fact by fact, the atoms leave some value
inside the vocabulary's plausible range or allowed values: an interval with open or closed ends
(whole numbers for integer facts) minus excluded points, or a set of allowed values. That decides
every question below exactly, and the surviving domains give a concrete example patient.

Findings: ``never-true`` (error: a rule, a ruleset's ``applies_to`` or a derivation piece),
``unreachable-branch`` (also a derivation piece hidden by an earlier one), ``redundant``,
``conflict``, ``threshold-untested`` (rules and derivations), ``unused-fact``,
``unused-definition``, ``unused-source``, ``no-scope`` (warnings).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ._sourcemap import SourceMap
from .bind import All, AnyOf, Atom, Const, Expr, FactInfo
from .evaluate import Engine
from .ir import Bundle, CompiledRule
from .link import load_rulesets
from .loader import read_directory
from .model import Citation, PolicyFile, RulesetFile
from .testing import run_cases

__all__ = ["Finding", "lint"]

Severity = Literal["error", "warning"]
MAX_TERMS = 4_096  # conjunctions per condition before the analysis gives up on it
_POLICY_FACTS = ("care_level", "accepts_transfer")


@dataclass(frozen=True, order=True)
class Finding:
    """One lint finding at a file position, with an example patient where it helps."""

    file: str
    line: int
    column: int
    severity: Severity
    code: str
    message: str
    example: dict[str, Any] | None = field(default=None, compare=False)

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.severity}: {self.message} [{self.code}]"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"file": self.file, "line": self.line, "column": self.column,
                "severity": self.severity, "code": self.code, "message": self.message,
                "example": self.example}


class _TooComplex(Exception):
    pass


def _dnf(expr: Expr) -> list[tuple[Atom, ...]]:
    """Disjunctive normal form: a list of conjunctions (empty list = false)."""
    if isinstance(expr, Const):
        return [()] if expr.value else []
    if isinstance(expr, Atom):
        return [(expr,)]
    if isinstance(expr, AnyOf):
        out = [term for item in expr.items for term in _dnf(item)]
        if len(out) > MAX_TERMS:
            raise _TooComplex
        return out
    terms: list[tuple[Atom, ...]] = [()]
    for item in expr.items:
        terms = [a + b for a in terms for b in _dnf(item)]
        if len(terms) > MAX_TERMS:
            raise _TooComplex
    return terms


def _not_fired(expr: Expr) -> Expr:
    """The condition under which ``expr`` does *not* fire: false, or unknown for lack of facts."""
    if isinstance(expr, Const):
        return Const(not expr.value)
    if isinstance(expr, Atom):
        if expr.op in ("present", "absent"):
            return expr.negated()
        return AnyOf((expr.negated(), Atom(expr.fact, "absent")))
    if isinstance(expr, All):
        return AnyOf(tuple(_not_fired(i) for i in expr.items))
    return All(tuple(_not_fired(i) for i in expr.items))


@dataclass
class _Domain:
    kind: str
    lo: float = -math.inf
    lo_open: bool = False
    hi: float = math.inf
    hi_open: bool = False
    excluded: set[Any] = field(default_factory=set)
    values: set[Any] | None = None
    absent: bool = False
    present: bool = False


def _domain(info: FactInfo) -> _Domain:
    if info.type == "boolean":
        return _Domain("set", values={False, True})
    if info.type == "enum":
        return _Domain("set", values=set(info.values))
    lo, hi = info.range or (-math.inf, math.inf)
    return _Domain(info.type, lo=lo, hi=hi)


def _apply(d: _Domain, atom: Atom) -> None:
    op, v = atom.op, atom.value
    if op == "absent":
        d.absent = True
        return
    d.present = True
    if op == "present":
        return
    if d.kind == "set":
        assert d.values is not None
        many = set(v) if isinstance(v, tuple) else {v}
        if op in ("==", "in"):
            d.values &= many
        elif op in ("!=", "not_in"):
            d.values -= many
        return
    x = atom.number
    if op == "==":
        _lower(d, x, False)
        _upper(d, x, False)
    elif op == "!=":
        d.excluded.add(x)
    elif op in (">", ">="):
        _lower(d, x, op == ">")
    elif op in ("<", "<="):
        _upper(d, x, op == "<")


def _lower(d: _Domain, x: float, open_: bool) -> None:
    if x > d.lo or (x == d.lo and open_):
        d.lo, d.lo_open = x, open_


def _upper(d: _Domain, x: float, open_: bool) -> None:
    if x < d.hi or (x == d.hi and open_):
        d.hi, d.hi_open = x, open_


def _pick(d: _Domain) -> Any:
    """A value in the domain, or None when it is empty (``absent`` is its own answer)."""
    if d.absent:
        return None if d.present else _ABSENT
    if d.kind == "set":
        assert d.values is not None
        return sorted(d.values, key=repr)[0] if d.values else None
    if d.kind == "integer":
        lo = math.floor(d.lo) + 1 if d.lo_open or not float(d.lo).is_integer() else int(d.lo)
        hi = math.ceil(d.hi) - 1 if d.hi_open or not float(d.hi).is_integer() else int(d.hi)
        for candidate in range(int(lo), int(min(hi, lo + len(d.excluded) + 1)) + 1):
            if candidate not in d.excluded:
                return candidate
        return None
    if d.lo > d.hi or (d.lo == d.hi and (d.lo_open or d.hi_open)):
        return None
    candidates = [d.lo] if not d.lo_open else []
    step = 0.1 if d.hi - d.lo > 0.2 else (d.hi - d.lo) / 4
    candidates += [round(d.lo + step * k, 6) for k in range(1, len(d.excluded) + 3)]
    for c in candidates:
        above = d.lo < c or (c == d.lo and not d.lo_open)
        below = c < d.hi or (c == d.hi and not d.hi_open)
        if above and below and c not in d.excluded:
            return int(c) if float(c).is_integer() else c
    return None


_ABSENT = object()


def _solve(term: Sequence[Atom], facts: dict[str, FactInfo]) -> tuple[dict[str, Any] | None, str]:
    """An example record satisfying every atom of ``term``, or None and the fact that fails."""
    domains: dict[str, _Domain] = {}
    for atom in term:
        d = domains.get(atom.fact)
        if d is None:
            d = domains[atom.fact] = _domain(facts[atom.fact])
        _apply(d, atom)
    example: dict[str, Any] = {}
    for name, d in domains.items():
        value = _pick(d)
        if value is None:
            return None, name
        if value is not _ABSENT:
            example[name] = value
    return example, ""


def satisfiable(expr: Expr, facts: dict[str, FactInfo]) -> dict[str, Any] | None:
    """An example record for which ``expr`` is true, or None if it can never be true."""
    for term in _dnf(expr):
        example, _ = _solve(term, facts)
        if example is not None:
            return example
    return None


class _Linter:
    def __init__(self, bundle: Bundle, directory: Path) -> None:
        self.bundle = bundle
        self.facts = dict(bundle.vocabulary.info)
        for rs in bundle.rulesets.values():
            for c in rs.computed:
                self.facts[c.name] = c.info
        self.findings: list[Finding] = []
        self.may_overlap = {r.id: tuple(r.may_overlap) for rs in bundle.rulesets.values()
                            if rs.spec is not None for r in rs.spec.rules}
        src = read_directory(directory)
        self.smaps: dict[str, SourceMap] = {f.name: f.smap for f in src.rulesets}
        self.vocab_smap = src.vocabulary.smap if src.vocabulary else None
        self.policy_smap = src.policy.smap if src.policy else None

    def add(self, file: str, pos: tuple[int, int], severity: Severity, code: str, message: str,
            example: dict[str, Any] | None = None) -> None:
        self.findings.append(Finding(file, pos[0], pos[1], severity, code, message, example))

    def where(self, rule: CompiledRule) -> tuple[int, int]:
        smap = self.smaps.get(rule.file)
        if smap is None:
            return rule.line, 1
        index = next(i for i, r in enumerate(self.bundle.rulesets[rule.ruleset].rules)
                     if r.id == rule.id)
        return smap.locate(("rules", index, "when"))

    def example(self, found: dict[str, Any], rule: CompiledRule) -> dict[str, Any]:
        record = {"care_level": "primary"} if "care_level" not in found else {}
        record.update(found)
        if rule.direction == "down" and "care_level" not in found:
            record["care_level"] = "secondary"
        return dict(sorted(record.items()))

    # --- conditions --------------------------------------------------------------------------
    def conditions(self) -> None:
        for rule in self.bundle.rules:
            pos = self.where(rule)
            try:
                terms = _dnf(rule.expr)
            except _TooComplex:
                self.add(rule.file, pos, "warning", "too-complex",
                         f"{rule.id}: the condition has too many branches to analyse")
                continue
            if not any(_solve(t, self.facts)[0] is not None for t in terms):
                fact = _solve(terms[0], self.facts)[1] if terms else ""
                why = f": the limits on '{fact}' cannot all hold" if fact else ""
                info = self.facts.get(fact)
                if info is not None and info.range and terms and self._range_matters(terms[0]):
                    why += f" (its plausible range is {info.range[0]:g}..{info.range[1]:g})"
                self.add(rule.file, pos, "error", "never-true",
                         f"{rule.id}: this condition can never be true{why}")
                continue
            for atom in {a for t in terms for a in t}:
                if _solve((atom,), self.facts)[0] is None:
                    info = self.facts[atom.fact]
                    rng = (f" (plausible range {info.range[0]:g}..{info.range[1]:g})"
                           if info.range else "")
                    self.add(rule.file, pos, "warning", "unreachable-branch",
                             f"{rule.id}: part of the condition can never be true: "
                             f"{atom.fact} {atom.op} {atom.value!r}{rng}")

    def scopes(self) -> None:
        """Each ruleset says whom it applies to, and that can be true."""
        for rs in self.bundle.rulesets.values():
            smap = self.smaps.get(rs.file)
            if rs.spec is not None and "applies_to" not in rs.spec.model_fields_set:
                pos = smap.locate(("id",)) if smap else (1, 1)
                self.add(rs.file, pos, "warning", "no-scope",
                         f"ruleset '{rs.id}' does not say whom it applies to: it applies to "
                         "every patient; add applies_to: (e.g. the condition's own fact)")
                continue
            pos = smap.locate(("applies_to",)) if smap else (1, 1)
            try:
                possible = satisfiable(rs.scope, self.facts) is not None
            except _TooComplex:
                continue
            if not possible:
                self.add(rs.file, pos, "error", "never-true",
                         f"{rs.id}: applies_to can never be true: the ruleset never applies")

    def derivations(self) -> None:
        """Each piece of a derived fact can be true, and is not hidden by an earlier piece."""
        file = str(Path(self.bundle.directory) / "facts.yaml")
        smap = self.vocab_smap
        for derived in self.bundle.derived:
            earlier: list[Expr] = []
            for index, piece in enumerate(derived.pieces):
                path = ("facts", derived.fact, "derive", index, "when")
                pos = smap.locate(path) if smap else (derived.line, 1)
                try:
                    alone = satisfiable(piece.when, self.facts)
                    after = alone is not None and satisfiable(
                        All((piece.when, *(_not_fired(e) for e in earlier))), self.facts)
                except _TooComplex:
                    earlier.append(piece.when)
                    continue
                if alone is None:
                    self.add(file, pos, "error", "never-true",
                             f"derivation {index + 1} of '{derived.fact}' can never apply")
                elif after is None:
                    self.add(file, pos, "warning", "unreachable-branch",
                             f"derivation {index + 1} of '{derived.fact}' never applies: an "
                             "earlier piece always applies first")
                earlier.append(piece.when)

    def _range_matters(self, term: Sequence[Atom]) -> bool:
        """Whether the term would be satisfiable if facts had no plausible range."""
        unbounded = {name: FactInfo(i.type, i.values, i.unit, None)
                     for name, i in self.facts.items()}
        return _solve(term, unbounded)[0] is not None

    def pairs(self) -> None:
        for rs in self.bundle.rulesets.values():
            rules = list(rs.rules)
            possible = {r.id for r in rules if self._possible(r)}
            for a in rules:
                for b in rules:
                    if a is b or a.id not in possible or b.id not in possible:
                        continue
                    self.redundant(a, b)
                    if a.direction == "down" and b.direction in ("up", "stay"):
                        self.conflict(a, b)

    def _possible(self, rule: CompiledRule) -> bool:
        try:
            return satisfiable(rule.expr, self.facts) is not None
        except _TooComplex:
            return True

    def redundant(self, a: CompiledRule, b: CompiledRule) -> None:
        same = (a.direction, a.urgency, a.target_level) == (b.direction, b.urgency, b.target_level)
        if not same or not set(a.records) <= set(b.records):
            return
        if a.index > b.index and self._implies(b, a):  # equivalent pair: report once
            return
        if self._implies(a, b):
            self.add(a.file, self.where(a), "warning", "redundant",
                     f"{a.id} is redundant: whenever it fires, {b.id} fires too with the same "
                     f"outcome ({b.direction}{', ' + b.urgency if b.urgency else ''})")

    def _implies(self, a: CompiledRule, b: CompiledRule) -> bool:
        try:
            return satisfiable(All((a.expr, _not_fired(b.expr))), self.facts) is None
        except _TooComplex:
            return False

    def conflict(self, down: CompiledRule, other: CompiledRule) -> None:
        """A down rule that constrains a fact another rule also constrains, yet overlaps it."""
        if other.id in self.may_overlap.get(down.id, ()):
            return
        # Facts both rules test *differently*: the down rule looked at the fact but its limits do
        # not exclude the other rule's region. Gates tested alike (post_operative) do not count.
        mine, theirs = _atoms_by_fact(down.expr), _atoms_by_fact(other.expr)
        shared = {f for f in set(mine) & set(theirs) - {"care_level"} if mine[f] != theirs[f]}
        if not shared:
            return
        try:
            found = satisfiable(All((down.expr, other.expr)), self.facts)
        except _TooComplex:
            return
        if found is None:
            return
        names = ", ".join(sorted(shared))
        self.add(down.file, self.where(down), "warning", "conflict",
                 f"{down.id} (down) and {other.id} ({other.direction}) can fire together although "
                 f"both test {names}: {other.direction} takes precedence over down; if that is "
                 f"intended, "
                 f"the down rule's guard on {names} could exclude it",
                 self.example(found, down))

    # --- coverage and unused names -----------------------------------------------------------
    def thresholds(self, engine: Engine) -> None:
        report = run_cases(self.bundle, engine)
        for rs_id, owner, text in report.coverage.gaps:
            if rs_id == "facts":  # a derivation's threshold
                fact = owner.removeprefix("derivation of ")
                smap = self.vocab_smap
                pos = smap.locate(("facts", fact, "derive"), key=True) if smap else (1, 1)
                self.add(str(Path(self.bundle.directory) / "facts.yaml"), pos, "warning",
                         "threshold-untested", text.split(": ", 1)[1])
                continue
            rs = self.bundle.rulesets[rs_id]
            rule = next((r for r in rs.rules if r.id == owner), None)
            if rule is not None:
                pos = self.where(rule)
            elif owner == "applies_to":
                smap = self.smaps.get(rs.file)
                pos = smap.locate(("applies_to",)) if smap else (1, 1)
            else:
                smap = self.smaps.get(rs.file)
                name = owner.removesuffix(" (computed)")
                pos = smap.locate(("definitions", name), key=True) if smap else (1, 1)
            self.add(rs.file, pos, "warning", "threshold-untested", text.split(": ", 1)[1])

    def unused(self) -> None:
        used = {f for r in self.bundle.rules for f in r.facts}
        used |= {f for rs in self.bundle.rulesets.values() for c in rs.computed for f in c.inputs}
        used |= set(_POLICY_FACTS) | {a.fact for t in _dnf(self.bundle.policy.bypass) for a in t}
        used |= {f for d in self.bundle.derived for f in d.inputs}
        used |= {a.fact for rs in self.bundle.rulesets.values() for t in _dnf(rs.scope)
                 for a in t}
        smap = self.vocab_smap
        for name, fact in self.bundle.vocabulary.facts.items():
            if name in used and fact.informational:
                pos = smap.locate(("facts", name), key=True) if smap else (1, 1)
                self.add(str(Path(self.bundle.directory) / "facts.yaml"), pos, "warning",
                         "unused-fact", f"fact '{name}' is marked informational but rules read it")
            if name not in used and not fact.informational:
                pos = smap.locate(("facts", name), key=True) if smap else (1, 1)
                self.add(str(Path(self.bundle.directory) / "facts.yaml"), pos, "warning",
                         "unused-fact", f"fact '{name}' is declared but no rule reads it")
        for rs in self.bundle.rulesets.values():
            spec, smap = rs.spec, self.smaps.get(rs.file)
            if spec is None or smap is None:
                continue
            self._unused_in(rs.file, spec, smap)
        vocab = self.bundle.vocabulary.spec
        if self.vocab_smap is not None:
            cited = {c.source for f in vocab.facts.values() for p in f.derive or ()
                     for c in _flatten(p.citation)}
            for sid in vocab.sources:
                if sid not in cited:
                    self.add(str(Path(self.bundle.directory) / "facts.yaml"),
                             self.vocab_smap.locate(("sources", sid), key=True), "warning",
                             "unused-source", f"source '{sid}' is never cited")
        policy = self.bundle.policy.spec
        if self.policy_smap is not None:
            cited = {c.source for c in _policy_citations(policy)}
            for sid in policy.sources:
                if sid not in cited:
                    self.add(self.bundle.policy.file, self.policy_smap.locate(("sources", sid),
                             key=True), "warning", "unused-source",
                             f"source '{sid}' is never cited")

    def _unused_in(self, file: str, spec: RulesetFile, smap: SourceMap) -> None:
        rule_text = " ".join(_text(r.when) for r in spec.rules)
        def_text: dict[str, str] = {}
        for name, d in spec.definitions.items():
            parts = [_text(d.when), d.otherwise or ""]
            if isinstance(d.compute, str):
                parts.append(d.compute)
            elif d.compute:
                parts += [_text(p.when) for p in d.compute]
            def_text[name] = " ".join(parts)
        for name in spec.definitions:
            pattern = re.compile(rf"\b{re.escape(name)}\b")
            others = [t for n, t in def_text.items() if n != name]
            if not any(pattern.search(t) for t in [rule_text, *others]):
                self.add(file, smap.locate(("definitions", name), key=True), "warning",
                         "unused-definition", f"definition '{name}' is never used")
        cited = {c.source for c in _ruleset_citations(spec)}
        for sid in spec.sources:
            if sid not in cited:
                self.add(file, smap.locate(("sources", sid), key=True), "warning",
                         "unused-source", f"source '{sid}' is never cited")


def _atoms_by_fact(expr: Expr) -> dict[str, frozenset[Atom]]:
    out: dict[str, set[Atom]] = {}

    def walk(e: Expr) -> None:
        if isinstance(e, Atom):
            out.setdefault(e.fact, set()).add(e)
        elif isinstance(e, All | AnyOf):
            for item in e.items:
                walk(item)

    walk(expr)
    return {k: frozenset(v) for k, v in out.items()}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return " ".join(_text(v) for v in (value.all or value.any or [value.not_]))


def _flatten(value: Citation | list[Citation] | None) -> list[Citation]:
    return [] if value is None else value if isinstance(value, list) else [value]


def _ruleset_citations(spec: RulesetFile) -> Iterable[Citation]:
    for rule in spec.rules:
        yield from _flatten(rule.citation)
    for d in spec.definitions.values():
        yield from _flatten(d.citation)


def _policy_citations(policy: PolicyFile) -> Iterable[Citation]:
    for rec in policy.records.values():
        yield from _flatten(rec.citation)
    for dr in policy.direction_records.values():
        yield from _flatten(dr.citation)
    yield from _flatten(policy.emergency_bypass.citation)
    yield from _flatten(policy.refusal.citation)
    yield from _flatten(policy.destination.citation)
    if policy.destination.down is not None:
        yield from _flatten(policy.destination.down.citation)


def lint(directory: str | Path, *, thresholds: bool = True) -> list[Finding]:
    """Every finding for a rules directory, sorted by file and position.

    Raises:
        RulesetError: the files do not load (lint needs valid rulesets).
    """
    root = Path(directory)
    bundle = load_rulesets(root)
    linter = _Linter(bundle, root)
    linter.conditions()
    linter.scopes()
    linter.derivations()
    linter.pairs()
    linter.unused()
    if thresholds:
        engine = Engine(bundle, "python")
        linter.thresholds(engine)
    return sorted(set(linter.findings))

