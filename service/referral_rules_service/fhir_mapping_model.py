"""The FHIR -> facts mapping file: its strict model, its checks, and the compiled lookup tables.

``fhir_mapping.yaml`` is edited by IT and policy staff, so every problem in it is reported at
``file:line:column`` with a plain message and, where one exists, a suggestion, all at once
(``MappingError.issues``). The public entry points are re-exported by ``fhir_map``.
"""

from __future__ import annotations

import ast
import difflib
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.coding import Coding
from fhir.resources.R4B.observation import Observation, ObservationComponent
from fhir.resources.R4B.quantity import Quantity
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from referral_rules import ReferralRulesError
from referral_rules.errors import Issue, IssueCode
from referral_rules.loader import SourceMap, load_yaml
from referral_rules.vocabulary import Vocabulary

__all__ = ["EncounterRule", "Mapping", "MappingError", "ObservationRule", "UnitRule", "has_value",
           "load_mapping_file", "parse_mapping", "token"]

BUNDLED = Path(__file__).with_name("fhir_mapping.yaml")
UCUM = "http://unitsofmeasure.org"
# entered-in-error and cancelled cannot be listed as usable: they are never used
ObsStatus = Literal["registered", "preliminary", "final", "amended", "corrected", "unknown"]
Clinical = Literal["active", "recurrence", "relapse", "inactive", "remission", "resolved",
                   "absent"]
Verification = Literal["unconfirmed", "provisional", "differential", "confirmed", "absent"]
EncStatus = Literal["planned", "arrived", "triaged", "in-progress", "onleave", "finished",
                    "unknown"]
FactName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
Codes = dict[str, list[str]]
Convert = Callable[[Decimal], Decimal]


class MappingError(ReferralRulesError, ValueError):
    """The mapping file has problems; ``issues`` lists each as ``file:line:column: problem``."""

    def __init__(self, issues: Iterable[Issue]) -> None:
        located = sorted(set(issues))
        self.issues: list[str] = [str(i) for i in located]
        super().__init__("\n".join(self.issues))


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class SystemSpec(_Strict):
    uri: str = Field(min_length=1)
    match: Literal["exact", "prefix"] = "exact"


class UnitSpec(_Strict):
    ucum: str | list[str] | None = None
    display: list[str] = []
    convert: str = "x"

    @model_validator(mode="after")
    def _some_unit(self) -> UnitSpec:
        if self.ucum is None and not self.display:
            msg = "give the unit's UCUM code (ucum:) or how it is written (display:)"
            raise ValueError(msg)
        return self


class ObservationSpec(_Strict):
    codes: Codes = Field(min_length=1)
    units: list[UnitSpec] | None = Field(None, min_length=1)
    values: dict[str, dict[str, bool | int | float | str]] | None = Field(None, min_length=1)
    decimals: int | None = Field(None, ge=0, le=6)
    max_age_days: int = Field(ge=0, le=36500)
    per_reference_high: bool = Field(
        False, description="The fact is the value divided by the reading's upper reference "
                           "limit (referenceRange.high), both converted by `units` first")
    source: str = Field(min_length=1)

    @model_validator(mode="after")
    def _one_kind(self) -> ObservationSpec:
        if (self.units is None) == (self.values is None):
            msg = "give exactly one of 'units' (a measured number) or 'values' (coded results)"
            raise ValueError(msg)
        return self


class ConditionSpec(_Strict):
    codes: Codes = Field(min_length=1)
    verification: list[Verification] = ["confirmed", "absent"]
    max_age_days: int | None = Field(None, ge=0, le=36500)
    source: str = Field(min_length=1)


class PatientSpec(_Strict):
    age_fact: FactName | None = None
    sex_fact: FactName | None = None
    sex_values: dict[Literal["female", "male", "other", "unknown"], str] = {}


class EncounterSpec(_Strict):
    fact: FactName
    status: list[EncStatus] = ["arrived", "triaged", "in-progress", "onleave"]
    classes: dict[str, dict[str, str]] = {}
    types: dict[str, dict[str, str]] = {}
    source: str = Field(min_length=1)


class NotMappedSpec(_Strict):
    codes: Codes = Field(min_length=1)
    why: str = Field(min_length=1)


class MappingFile(_Strict):
    version: str = Field(min_length=1, max_length=32)
    systems: dict[str, SystemSpec] = Field(min_length=1)
    observation_status: list[ObsStatus] = ["final", "amended", "corrected"]
    condition_clinical_status: list[Clinical] = ["active", "recurrence", "relapse"]
    patient: PatientSpec = PatientSpec()
    panels: Codes = {}
    observations: dict[FactName, ObservationSpec] = {}
    conditions: dict[FactName, ConditionSpec] = {}
    encounter: EncounterSpec | None = None
    not_mapped: list[NotMappedSpec] = []


_MODELS: tuple[type[BaseModel], ...] = (SystemSpec, UnitSpec, ObservationSpec, ConditionSpec,
                                         PatientSpec, EncounterSpec, NotMappedSpec, MappingFile)
_KEYS = sorted({name for m in _MODELS for name in m.model_fields})


@dataclass(frozen=True)
class UnitRule:
    """One accepted unit: UCUM codes, written forms (casefolded) and the conversion."""

    ucum: frozenset[str]
    display: frozenset[str]
    convert: Convert


VALUE_FIELDS = ("valueQuantity", "valueCodeableConcept", "valueString", "valueBoolean",
                "valueInteger", "valueRange", "valueRatio", "valueSampledData", "valueTime",
                "valueDateTime", "valuePeriod")
Reading = Observation | ObservationComponent


def has_value(elem: Reading) -> bool:
    """Whether an Observation or component carries any value[x]."""
    return any(getattr(elem, f, None) is not None for f in VALUE_FIELDS)


@dataclass(frozen=True)
class ObservationRule:
    """How an Observation (or component) code gives one fact."""

    fact: str
    units: tuple[UnitRule, ...] | None
    values: dict[tuple[str, str], Any] | None  # (system uri, code) -> fact value
    decimals: int | None
    max_age_days: int
    per_reference_high: bool = False

    def read(self, elem: Reading) -> tuple[Any, str | None]:
        """The fact value of one reading, or None and the reason there is none."""
        if elem.dataAbsentReason is not None:
            return None, "data-absent"
        if self.values is not None:
            cc = elem.valueCodeableConcept
            if cc is None:
                return None, "value-type" if has_value(elem) else "no-value"
            for coding in cc.coding or []:  # the text is never read
                key = (coding.system or "", (coding.code or "").strip())
                if key in self.values:
                    return self.values[key], None
            return None, "value-not-mapped"
        q = elem.valueQuantity
        if q is None or q.value is None:
            return None, "value-type" if q is None and has_value(elem) else "no-value"
        if q.comparator is not None:
            return None, "comparator"
        unit = self.unit(q)
        if unit is None:
            return None, "unit-not-convertible"
        try:
            value = unit.convert(q.value)
        except ArithmeticError:
            return None, "unit-not-convertible"
        if self.per_reference_high:
            high = self.reference_high(elem)
            if high is None:
                return None, "no-reference-high"
            value = value / high
        if self.decimals is None or value.adjusted() > 20:  # absurd: left to the range check
            return float(value), None
        rounded = value.quantize(Decimal(1).scaleb(-self.decimals), rounding=ROUND_HALF_UP)
        return (int(rounded) if self.decimals == 0 else float(rounded)), None

    def reference_high(self, elem: Reading) -> Decimal | None:
        """The reading's upper reference limit in the rule's unit (first range with a high)."""
        for rng in elem.referenceRange or []:
            high = rng.high
            if high is None or high.value is None or high.comparator is not None:
                continue
            unit = self.unit(high)
            if unit is None:
                return None
            try:
                value = unit.convert(high.value)
            except ArithmeticError:
                return None
            return value if value > 0 else None
        return None

    def unit(self, q: Quantity) -> UnitRule | None:
        """The unit of a Quantity: by its UCUM code if it has one, else by the written unit."""
        if q.system == UCUM and q.code:
            return next((u for u in self.units or () if q.code.strip() in u.ucum), None)
        written = (q.unit if q.unit is not None else q.code or "").strip().casefold()
        return next((u for u in self.units or () if written in u.display), None)


@dataclass(frozen=True)
class ConditionRule:
    """How a Condition code gives one boolean fact (always ``true``)."""

    fact: str
    verification: frozenset[str]
    max_age_days: int | None


Key = tuple[str, str]  # (system uri, normalised code)


@dataclass(frozen=True)
class EncounterRule:
    """How the hook's Encounter gives one coded fact (visit_type): by Encounter.type codes the
    site configured, else by Encounter.class; only in the listed statuses."""

    fact: str
    status: frozenset[str]
    classes: dict[Key, str]
    types: dict[Key, str]


@dataclass(frozen=True)
class Mapping:
    """A checked mapping file, compiled into lookup tables. Immutable and thread-safe."""

    file: str
    version: str
    sha256: str
    prefix_systems: frozenset[str]
    observations: dict[Key, tuple[ObservationRule, ...]]
    conditions: dict[Key, tuple[ConditionRule, ...]]
    not_mapped: frozenset[Key]
    panels: frozenset[Key]
    observation_status: frozenset[str]
    clinical_status: frozenset[str]
    age_fact: str | None
    sex_fact: str | None
    sex_values: dict[str, str]
    encounter: EncounterRule | None = None

    @property
    def facts(self) -> tuple[str, ...]:
        """Every fact this mapping can give, sorted."""
        names = {r.fact for rules in self.observations.values() for r in rules}
        names |= {r.fact for rules in self.conditions.values() for r in rules}
        names |= {n for n in (self.age_fact, self.sex_fact) if n}
        if self.encounter is not None:
            names.add(self.encounter.fact)
        return tuple(sorted(names))

    def observation_codes(self) -> list[str]:
        """``system|code`` of every mapped Observation code and panel, for prefetch queries."""
        return sorted(f"{s}|{c}" for s, c in {*self.observations, *self.panels})

    def keys(self, cc: CodeableConcept | None) -> list[Key]:
        """Lookup keys of a concept's codings (a prefix system: every prefix of the code)."""
        return [k for c in (cc.coding or [] if cc else []) for k in self.coding_keys(c)]

    def coding_keys(self, c: Coding) -> list[Key]:
        """Lookup keys of one coding."""
        if not c.system or not c.code:
            return []
        if c.system not in self.prefix_systems:
            return [(c.system, c.code.strip())]
        norm = _prefix_norm(c.code)
        return [(c.system, norm[:n]) for n in range(len(norm), 0, -1)]

    def knows(self, c: Coding) -> bool:
        """Whether any table of the mapping lists this coding."""
        return any(k in self.observations or k in self.conditions or k in self.not_mapped
                   or k in self.panels for k in self.coding_keys(c))

    def observation_rules(self, cc: CodeableConcept | None) -> tuple[ObservationRule, ...]:
        """The rules of an Observation or component code, each fact once, in coding order."""
        out: dict[str, ObservationRule] = {}
        for k in self.keys(cc):
            for rule in self.observations.get(k, ()):
                out.setdefault(rule.fact, rule)
        return tuple(out.values())

    def condition_rules(self, cc: CodeableConcept | None) -> tuple[ConditionRule, ...]:
        """The rules of a Condition code, each fact once, sorted by fact."""
        found = {r.fact: r for k in self.keys(cc) for r in self.conditions.get(k, ())}
        return tuple(found[f] for f in sorted(found))

    def is_not_mapped(self, cc: CodeableConcept | None) -> bool:
        """Whether a code is listed under ``not_mapped``."""
        return any(k in self.not_mapped for k in self.keys(cc))


def token(cc: CodeableConcept | None, mapping: Mapping | None = None) -> str | None:
    """``system|code`` naming a concept: its first coding the mapping knows, else its first."""
    complete = [c for c in (cc.coding or [] if cc else []) if c.system and c.code]
    known = [c for c in complete if mapping is not None and mapping.knows(c)]
    return next((f"{c.system}|{c.code}" for c in known + complete), None)


def _prefix_norm(code: str) -> str:
    return "".join(code.split()).replace(".", "").upper()


def load_mapping_file(path: str | Path | None, vocabulary: Vocabulary | None) -> Mapping:
    """Read, check and compile a mapping file (None = the bundled one)."""
    file = Path(path) if path is not None else BUNDLED
    try:
        raw = file.read_bytes()
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise MappingError([Issue(str(file), 1, 1, "", f"cannot read the mapping: {why}",
                                  "file-missing")]) from None
    return parse_mapping(text, str(file), vocabulary, hashlib.sha256(raw).hexdigest())


def parse_mapping(text: str, name: str, vocabulary: Vocabulary | None = None,
                  sha256: str = "") -> Mapping:
    """Check and compile mapping YAML ``text`` (``name`` is used in the messages)."""
    data, smap, issues = load_yaml(text, name)
    if data is None and not issues:
        issues.append(Issue(name, 1, 1, "", "the mapping file is empty", "schema"))
    model: MappingFile | None = None
    if data is not None:
        try:
            model = MappingFile.model_validate(data)
        except ValidationError as exc:
            issues.extend(_pydantic_issues(exc, data, smap))
    if model is not None:
        checker = _Checker(model, smap, vocabulary)
        compiled = checker.compile(sha256)
        issues.extend(checker.issues)
        if not issues:
            return compiled
    raise MappingError(issues)


class _Checker:
    """Cross-checks the model (systems, formulas, facts) and builds the lookup tables."""

    def __init__(self, model: MappingFile, smap: SourceMap, vocab: Vocabulary | None) -> None:
        self.model, self.smap, self.vocab = model, smap, vocab
        self.issues: list[Issue] = []

    def issue(self, path: tuple[str | int, ...], msg: str, code: IssueCode,
              hint: str | None = None, *, key: bool = False) -> None:
        self.issues.append(self.smap.issue(path, msg, code, hint, key=key))

    def compile(self, sha256: str) -> Mapping:
        m = self.model
        obs: dict[Key, list[ObservationRule]] = {}
        for fact, spec in m.observations.items():
            rule = self.observation(fact, spec)
            for k in self.codes(("observations", fact, "codes"), spec.codes):
                obs.setdefault(k, []).append(rule)
        cond: dict[Key, list[ConditionRule]] = {}
        for fact, cspec in m.conditions.items():
            self.fact(("conditions", fact), fact, ("boolean",))
            crule = ConditionRule(fact, frozenset(cspec.verification), cspec.max_age_days)
            for k in self.codes(("conditions", fact, "codes"), cspec.codes):
                cond.setdefault(k, []).append(crule)
        skipped: set[Key] = set()
        for i, nm in enumerate(m.not_mapped):
            for k in self.codes(("not_mapped", i, "codes"), nm.codes):
                if k in obs or k in cond:
                    self.issue(("not_mapped", i, "codes"), f"{k[1]} is mapped above and also "
                               "listed as not mapped", "schema", "remove one of them")
                skipped.add(k)
        panels = set(self.codes(("panels",), m.panels))
        if m.patient.age_fact:
            self.fact(("patient", "age_fact"), m.patient.age_fact, ("integer",))
        if m.patient.sex_fact:
            self.fact(("patient", "sex_fact"), m.patient.sex_fact, ("enum",),
                      list(m.patient.sex_values.values()))
        encounter = self.encounter(m.encounter) if m.encounter is not None else None
        return Mapping(
            self.smap.file, m.version, sha256,
            frozenset(s.uri for s in m.systems.values() if s.match == "prefix"),
            {k: tuple(v) for k, v in obs.items()}, {k: tuple(v) for k, v in cond.items()},
            frozenset(skipped), frozenset(panels), frozenset(m.observation_status),
            frozenset(m.condition_clinical_status), m.patient.age_fact, m.patient.sex_fact,
            {str(k): v for k, v in m.patient.sex_values.items()}, encounter)

    def encounter(self, spec: EncounterSpec) -> EncounterRule:
        path: tuple[str | int, ...] = ("encounter",)
        self.fact((*path, "fact"), spec.fact, ("enum",))
        tables: list[dict[Key, str]] = []
        for part, table in (("classes", spec.classes), ("types", spec.types)):
            out: dict[Key, str] = {}
            for alias, codes in table.items():
                sys = self.system((*path, part, alias), alias)
                for code, value in codes.items():
                    self.value((*path, part, alias, code), spec.fact, value)
                    if sys is not None:
                        out[(sys.uri, code.strip())] = value
            tables.append(out)
        return EncounterRule(spec.fact, frozenset(spec.status), tables[0], tables[1])

    def system(self, path: tuple[str | int, ...], alias: str) -> SystemSpec | None:
        spec = self.model.systems.get(alias)
        if spec is None:
            close = difflib.get_close_matches(alias, list(self.model.systems), n=1)
            hint = f"did you mean '{close[0]}'?" if close else "declare it under 'systems'"
            self.issue(path, f"unknown code system '{alias}'", "unknown-name", hint, key=True)
        return spec

    def codes(self, path: tuple[str | int, ...], codes: Codes) -> list[Key]:
        out: list[Key] = []
        for alias, values in codes.items():
            spec = self.system((*path, alias), alias)
            if spec is None:
                continue
            for code in values:
                norm = _prefix_norm(code) if spec.match == "prefix" else code.strip()
                out.append((spec.uri, norm))
        return out

    def observation(self, fact: str, spec: ObservationSpec) -> ObservationRule:
        path: tuple[str | int, ...] = ("observations", fact)
        kinds: tuple[str, ...] = ("number", "integer") if spec.units else ("boolean", "integer",
                                                                           "number", "enum")
        ftype = self.fact(path, fact, kinds)
        if ftype == "integer" and spec.units and spec.decimals != 0:
            self.issue(path, f"'{fact}' is a whole number in facts.yaml", "type-mismatch",
                       "add 'decimals: 0'", key=True)
        units = None
        if spec.units is not None:
            units = tuple(self.unit((*path, "units", i), u) for i, u in enumerate(spec.units))
        values = None
        if spec.values is not None:
            values = {}
            for alias, table in spec.values.items():
                sys = self.system((*path, "values", alias), alias)
                for code, value in table.items():
                    self.value((*path, "values", alias, code), fact, value)
                    if sys is not None:
                        values[(sys.uri, code.strip())] = value
        if spec.per_reference_high and spec.units is None:
            self.issue((*path, "per_reference_high"),
                       "per_reference_high needs 'units' (a measured number)", "schema")
        return ObservationRule(fact, units, values, spec.decimals, spec.max_age_days,
                               spec.per_reference_high)

    def unit(self, path: tuple[str | int, ...], spec: UnitSpec) -> UnitRule:
        ucum = [spec.ucum] if isinstance(spec.ucum, str) else (spec.ucum or [])
        convert = self.formula((*path, "convert"), spec.convert)
        return UnitRule(frozenset(ucum), frozenset(d.strip().casefold() for d in spec.display),
                        convert)

    def formula(self, path: tuple[str | int, ...], text: str) -> Convert:
        try:
            tree = ast.parse(text.strip(), mode="eval").body
            fn = _compile(tree)
            if not any(isinstance(n, ast.Name) for n in ast.walk(tree)):
                msg = "the formula must use x, the value as sent"
                raise _FormulaError(msg, 0)
            fn(Decimal(1))
            return fn
        except (SyntaxError, _FormulaError) as exc:
            bad = isinstance(exc, _FormulaError)
            offset = exc.offset if bad else max((exc.offset or 1) - 1, 0)
            line, col = self.smap.text_position(path, offset or 0)
            msg = str(exc) if bad else f"formula '{text}' cannot be read"
            self.issues.append(Issue(self.smap.file, line, col, ".".join(map(str, path)), msg,
                                     "syntax", "only numbers, x, + - * / and ( )"))
        except ArithmeticError:
            self.issue(path, f"formula '{text}' divides by zero", "syntax")
        return _identity

    def fact(self, path: tuple[str | int, ...], name: str, kinds: tuple[str, ...],
             values: list[str] | None = None) -> str | None:
        if self.vocab is None:
            return None
        spec = self.vocab.facts.get(name)
        is_key = path[-1] not in ("age_fact", "sex_fact", "fact")  # a key, or a value
        if spec is None:
            close = difflib.get_close_matches(name, list(self.vocab.facts), n=1, cutoff=0.5)
            hint = f"did you mean '{close[0]}'?" if close else "only facts.yaml names can be used"
            self.issue(path, f"unknown fact '{name}'", "unknown-fact", hint, key=is_key)
            return None
        if spec.type not in kinds:
            self.issue(path, f"'{name}' is a {spec.type} fact in facts.yaml; it cannot come "
                       f"from here", "type-mismatch", key=is_key)
        for v in values or []:
            if v not in (spec.values or []):
                self.issue(("patient", "sex_values"), f"'{v}' is not a value of '{name}'",
                           "unknown-value", f"use one of {spec.values}")
        return spec.type

    def value(self, path: tuple[str | int, ...], fact: str, value: object) -> None:
        spec = self.vocab.facts.get(fact) if self.vocab else None
        if spec is None:
            return
        ok = {"boolean": isinstance(value, bool),
              "integer": isinstance(value, int) and not isinstance(value, bool),
              "number": isinstance(value, int | float) and not isinstance(value, bool),
              "enum": value in (spec.values or [])}[spec.type]
        if not ok:
            self.issue(path, f"{value!r} is not a valid {spec.type} value of '{fact}'",
                       "type-mismatch")


class _FormulaError(ValueError):
    def __init__(self, msg: str, offset: int) -> None:
        super().__init__(msg)
        self.offset = offset


def _identity(x: Decimal) -> Decimal:
    return x


_OPS: dict[type[ast.operator], Callable[[Decimal, Decimal], Decimal]] = {
    ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b, ast.Div: lambda a, b: a / b,
}


def _compile(node: ast.expr) -> Convert:
    """A closure computing a +-*/ formula in ``x`` with Decimal arithmetic (no eval)."""
    if isinstance(node, ast.Name) and node.id == "x":
        return _identity
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        const = Decimal(str(node.value))
        return lambda x: const
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        inner = _compile(node.operand)
        sign = -1 if isinstance(node.op, ast.USub) else 1
        return lambda x: sign * inner(x)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        op, left, right = _OPS[type(node.op)], _compile(node.left), _compile(node.right)
        return lambda x: op(left(x), right(x))
    msg = f"'{ast.unparse(node)}' is not allowed in a formula"
    raise _FormulaError(msg, node.col_offset)


def _pydantic_issues(exc: ValidationError, data: Any, smap: SourceMap) -> list[Issue]:
    out: list[Issue] = []
    for err in exc.errors(include_url=False):
        path: list[str | int] = []
        node = data
        for part in err["loc"]:  # keep the parts that are in the data (not union tags)
            if isinstance(node, dict | list) and (part in node if isinstance(node, dict) else
                                                  isinstance(part, int) and part < len(node)):
                node = node[part]  # type: ignore[index]
            elif not (isinstance(node, dict) and part == err["loc"][-1]):
                continue
            path.append(part)
        kind, value, where = err["type"], err.get("input"), tuple(path)
        if kind == "extra_forbidden":
            close = difflib.get_close_matches(str(path[-1]), _KEYS, n=1, cutoff=0.6)
            out.append(smap.issue(where, f"unknown key '{path[-1]}'", "schema",
                                  f"did you mean '{close[0]}'?" if close else None, key=True))
        elif kind == "missing":
            out.append(smap.issue(where[:-1], f"missing required key '{path[-1]}'", "schema",
                                  f"add '{path[-1]}:' here", key=True))
        else:
            msg = str(err["msg"]).removeprefix("Value error, ")
            scalar = isinstance(value, str | int | float) and not isinstance(value, bool)
            hint = f'quote it: "{value}"' if kind == "string_type" and scalar else None
            shown = f" (got {value!r})" if scalar or isinstance(value, bool) else ""
            out.append(smap.issue(where, msg[:1].lower() + msg[1:] + shown, "schema", hint))
    return out
