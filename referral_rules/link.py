"""Validate across files: resolve every fact, definition, source and record a ruleset names.

``load_rulesets(directory)`` is the library's entry point: it reads, validates and links a rules
directory and returns a ``Bundle``, or raises ``RulesetError`` listing every problem at once, in
file order, each at file:line:column with a code and, where one exists, a suggestion.
"""

from __future__ import annotations

import difflib
from pathlib import Path as FsPath

from ._sourcemap import Path, SourceMap, dotted
from .bind import (
    BindError,
    Const,
    Expr,
    FactInfo,
    Scope,
    arith_names,
    bind,
    facts_of,
    thresholds_of,
)
from .conditions import Arith, ConditionSyntaxError, Name, parse_arithmetic, parse_condition
from .errors import FactsError, Issue, IssueCode, RulesetError
from .ir import (
    Bundle,
    CaseSpec,
    CitationRef,
    CompiledRule,
    Computed,
    Derived,
    DerivePiece,
    Policy,
    RulesetIR,
)
from .loader import LoadedFile, read_directory, salvage
from .model import (
    Block,
    Case,
    CasesFile,
    Citation,
    Definition,
    Derivation,
    PolicyFile,
    RulesetFile,
    Source,
    VocabularyFile,
)
from .vocabulary import MAX_FACTS, Vocabulary

__all__ = ["bundled_rulesets", "load_rulesets"]

Scalar = int | float | str | bool


def bundled_rulesets() -> FsPath:
    """The directory of the rulesets shipped with the package (in a source checkout or an
    editable install, the repository's ``rulesets/``)."""
    here = FsPath(__file__).parent
    for candidate in (here / "rulesets", here.parent / "rulesets"):  # wheel; checkout
        if (candidate / "facts.yaml").is_file():
            return candidate
    msg = "the bundled rulesets are missing from this installation"
    raise RulesetError([Issue(str(here / "rulesets"), 1, 1, "", msg, "file-missing",
                              "reinstall referral-rules, or pass a rules directory")])


def load_rulesets(directory: str | FsPath | None = None) -> Bundle:
    """Load, validate and link every file of a rules directory (default: the bundled rulesets).

    Raises:
        RulesetError: listing every problem found, in file order.
    """
    if directory is None:
        directory = bundled_rulesets()
    src = read_directory(directory)
    linker = _Linker(src.issues)
    vocab = linker.vocabulary(src.vocabulary)
    derived = linker.derivations(src.vocabulary, vocab) if vocab is not None else ()
    policy = linker.policy(src.policy, vocab) if vocab is not None else None
    rulesets: dict[str, RulesetIR] = {}
    rules: list[CompiledRule] = []
    broken: set[str] = set()  # rulesets with errors of their own: cases naming them are skipped
    for loaded in src.rulesets:
        if vocab is None or policy is None:
            continue
        model = loaded.model if isinstance(loaded.model, RulesetFile) else salvage(loaded.data)
        ir = linker.ruleset(loaded, model, vocab, policy, len(rules))
        if ir is None:
            broken.add(model.id)
            continue
        if ir.id in rulesets:
            msg = f"ruleset id '{ir.id}' is also used by {rulesets[ir.id].file}"
            linker.issues.append(loaded.smap.issue(("id",), msg, "duplicate-id"))
            continue
        rulesets[ir.id] = ir
        rules.extend(ir.rules)
    cases: list[CaseSpec] = []
    if vocab is not None and policy is not None:
        linker.check_facts_limit(rulesets)
        for ir in rulesets.values():
            cases.extend(ir.cases)
        for loaded in src.case_files:
            if isinstance(loaded.model, CasesFile):
                cases.extend(linker.cases(loaded.model.cases, loaded.smap, vocab, policy, None))
        known = {r.id for r in rules}
        for loaded in src.rulesets:  # a ruleset with errors of its own lists no rules: skip it
            if isinstance(loaded.model, RulesetFile) and loaded.model.id not in broken:
                linker.check_overlaps(loaded.model, loaded.smap, known)
        for spec in cases:
            # A ruleset with errors of its own (or a file that cannot be read at all) makes the
            # cases that name it unverifiable: report the file's own errors, not a cascade.
            if not src.unreadable and not broken & set(spec.conditions or broken):
                linker.check_case_refs(spec, known, set(rulesets), policy, set(vocab.facts))
    if linker.issues or vocab is None or policy is None or src.vocabulary is None:
        raise RulesetError(linker.issues or [Issue(str(directory), 1, 1, "", "no rules",
                                                   "file-missing")])
    return Bundle(vocab, src.vocabulary.sha256, policy, rulesets, tuple(rules), tuple(cases),
                  str(directory), derived)


def _citations(value: Citation | list[Citation] | None) -> list[Citation]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


class _Linker:
    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        self.rule_ids: dict[str, str] = {}
        self.computed_names: dict[str, str] = {}

    # --- vocabulary -------------------------------------------------------------------------
    def vocabulary(self, loaded: LoadedFile | None) -> Vocabulary | None:
        if loaded is None or not isinstance(loaded.model, VocabularyFile):
            return None
        smap, spec = loaded.smap, loaded.model
        ok = True
        for name, fact in spec.facts.items():
            path: Path = ("facts", name)
            if fact.type in ("number", "integer") and fact.range is None:
                self.issues.append(smap.issue(path, f"'{name}' needs a plausible range",
                                              "schema", "add range: [min, max]", key=True))
                ok = False
            if fact.range is not None and fact.range[0] > fact.range[1]:
                self.issues.append(smap.issue((*path, "range"), "range min is above max",
                                              "schema"))
                ok = False
            if fact.type == "enum" and not fact.values:
                self.issues.append(smap.issue(path, f"'{name}' is an enum and needs values",
                                              "schema", "add values: [a, b]", key=True))
                ok = False
            if fact.type != "enum" and fact.values is not None:
                self.issues.append(smap.issue((*path, "values"),
                                              "only enum facts have values", "schema"))
                ok = False
            if fact.type not in ("number", "integer") and fact.range is not None:
                self.issues.append(smap.issue((*path, "range"),
                                              "only number and integer facts have a range",
                                              "schema"))
                ok = False
        if "care_level" not in spec.facts:
            self.issues.append(smap.issue(("facts",), "the vocabulary must declare care_level",
                                          "schema"))
            ok = False
        return Vocabulary(spec) if ok else None

    # --- derived facts ----------------------------------------------------------------------
    def derivations(self, loaded: LoadedFile | None, vocab: Vocabulary) -> tuple[Derived, ...]:
        """Link every ``derive:`` of the vocabulary; return them in dependency order."""
        if loaded is None or not isinstance(loaded.model, VocabularyFile):
            return ()
        smap, spec = loaded.smap, loaded.model
        scope = Scope(vocab.info, {}, lambda name: None)
        found: dict[str, Derived] = {}
        for name, fact in spec.facts.items():
            if not fact.derive:
                continue
            base: Path = ("facts", name, "derive")
            info = vocab.info[name]
            pieces: list[DerivePiece] = []
            for i, piece in enumerate(fact.derive):
                item = self.derive_piece(name, info, piece, scope, spec.sources, smap, (*base, i))
                if item is not None:
                    pieces.append(item)
            if len(pieces) == len(fact.derive):
                inputs = tuple(dict.fromkeys(f for p in pieces for f in p.inputs))
                line, _ = smap.locate(base, key=True)
                found[name] = Derived(name, info, tuple(pieces), inputs, smap.file, line)
        return self.derivation_order(found, smap)

    def derive_piece(
        self, name: str, info: FactInfo, piece: Derivation, scope: Scope,
        sources: dict[str, Source], smap: SourceMap, path: Path,
    ) -> DerivePiece | None:
        before = len(self.issues)
        when = self.condition(piece.when, scope, smap, (*path, "when"))
        arith: Arith | Name | float | int | None = None
        inputs = list(facts_of(when))
        if (piece.value is None) == (piece.compute is None):
            msg = "a derivation piece has exactly one of value, compute"
            self.issues.append(smap.issue(path, msg, "schema"))
        elif piece.value is not None:
            problem = _value_problem(info, piece.value)
            if problem:
                self.issues.append(smap.issue((*path, "value"), f"'{name}' {problem}",
                                              "type-mismatch"))
        elif info.type not in ("number", "integer"):
            msg = f"'{name}' is a {info.type} fact: use value, not compute"
            self.issues.append(smap.issue((*path, "compute"), msg, "type-mismatch"))
        else:
            assert piece.compute is not None
            try:
                arith = parse_arithmetic(piece.compute)
            except ConditionSyntaxError as exc:
                line, col = smap.text_position((*path, "compute"), exc.offset)
                self.issues.append(Issue(smap.file, line, col, dotted((*path, "compute")),
                                         exc.message, exc.code, exc.suggestion))
            else:
                for ref in arith_names(arith):
                    fact = scope.facts.get(ref.name)
                    if fact is None or fact.type not in ("number", "integer"):
                        line, col = smap.text_position((*path, "compute"), ref.offset)
                        hint = scope.suggest(ref.name, list(scope.facts))
                        msg = f"'{ref.name}' is not a number fact"
                        self.issues.append(Issue(smap.file, line, col,
                                                 dotted((*path, "compute")), msg,
                                                 "unknown-fact", hint))
                    else:
                        inputs.append(ref.name)
        cites = self.cite(piece.citation, sources, smap, (*path, "citation"))
        if piece.citation is None and piece.convention is None:
            msg = f"the derivation of '{name}' has no citation"
            hint = ("add citation: {source: ..., clause: ...}, or convention: {zh: ..., en: ...} "
                    "saying why it is our convention")
            self.issues.append(smap.issue(path, msg, "missing-citation", hint))
        if len(self.issues) > before:
            return None
        return DerivePiece(when, piece.value, arith, cites, piece.convention,
                           tuple(dict.fromkeys(inputs)))

    def derivation_order(self, found: dict[str, Derived], smap: SourceMap
                         ) -> tuple[Derived, ...]:
        """Derived facts so that each comes after the derived facts it reads; cycles are errors."""
        order: list[Derived] = []
        state: dict[str, int] = {}  # 1 visiting, 2 done

        def visit(name: str, trail: list[str]) -> None:
            if state.get(name) == 2:
                return
            if state.get(name) == 1:
                cycle = " → ".join([*trail[trail.index(name):], name])
                msg = f"derived facts refer to each other in a cycle: {cycle}"
                self.issues.append(smap.issue(("facts", name, "derive"), msg,
                                              "definition-cycle", key=True))
                return
            state[name] = 1
            for dep in found[name].inputs:
                if dep in found:
                    visit(dep, [*trail, name])
            state[name] = 2
            order.append(found[name])

        for name in found:
            visit(name, [])
        return tuple(order)

    # --- citations and records --------------------------------------------------------------
    def cite(
        self, value: Citation | list[Citation] | None, sources: dict[str, Source],
        smap: SourceMap, path: Path,
    ) -> tuple[CitationRef, ...]:
        out: list[CitationRef] = []
        many = isinstance(value, list)
        for i, cit in enumerate(_citations(value)):
            cpath = (*path, i) if many else path
            src = sources.get(cit.source)
            if src is None:
                close = difflib.get_close_matches(cit.source, list(sources), n=1, cutoff=0.5)
                hint = f"did you mean '{close[0]}'?" if close else "declare it under sources:"
                msg = f"citation names unknown source '{cit.source}'"
                self.issues.append(smap.issue((*cpath, "source"), msg, "unknown-source", hint))
                continue
            out.append(CitationRef(cit.source, src.title, cit.clause, cit.quote, src.url,
                                   src.file))
        return tuple(out)

    def record(self, rec: str, policy: PolicyFile, smap: SourceMap, path: Path) -> bool:
        if rec in policy.records:
            return True
        close = difflib.get_close_matches(rec, list(policy.records), n=1, cutoff=0.5)
        hint = (f"did you mean '{close[0]}'?" if close
                else "declare it under records: in policy.yaml")
        self.issues.append(smap.issue(path, f"unknown record '{rec}'", "unknown-record", hint))
        return False

    # --- conditions -------------------------------------------------------------------------
    def condition(self, value: str | Block, scope: Scope, smap: SourceMap, path: Path) -> Expr:
        from .bind import All, AnyOf, negate_expr

        if isinstance(value, str):
            try:
                return bind(parse_condition(value), scope)
            except (ConditionSyntaxError, BindError) as exc:
                line, col = smap.text_position(path, exc.offset)
                self.issues.append(Issue(smap.file, line, col, ".".join(map(str, path)),
                                         exc.message, exc.code, exc.suggestion))
                return Const(False)
        if value.all is not None:
            return All(tuple(self.condition(v, scope, smap, (*path, "all", i))
                             for i, v in enumerate(value.all)))
        if value.any is not None:
            return AnyOf(tuple(self.condition(v, scope, smap, (*path, "any", i))
                               for i, v in enumerate(value.any)))
        assert value.not_ is not None
        return negate_expr(self.condition(value.not_, scope, smap, (*path, "not")))

    # --- policy -----------------------------------------------------------------------------
    def policy(self, loaded: LoadedFile | None, vocab: Vocabulary) -> Policy | None:
        if loaded is None or not isinstance(loaded.model, PolicyFile):
            return None
        spec, smap = loaded.model, loaded.smap
        before = len(self.issues)
        cites: dict[str, tuple[CitationRef, ...]] = {}
        for rid, rec in spec.records.items():
            cites[f"record:{rid}"] = self.cite(rec.citation, spec.sources, smap,
                                               ("records", rid, "citation"))
        for direction, dr in spec.direction_records.items():
            for i, rec_id in enumerate(dr.records):
                self.record(rec_id, spec, smap, ("direction_records", direction, "records", i))
            cites[f"direction:{direction}"] = self.cite(
                dr.citation, spec.sources, smap, ("direction_records", direction, "citation"))
        for i, rec_id in enumerate(spec.emergency_bypass.deferrable_records):
            self.record(rec_id, spec, smap, ("emergency_bypass", "deferrable_records", i))
        self.record(spec.refusal.record, spec, smap, ("refusal", "record"))
        for key, value in (("emergency_bypass", spec.emergency_bypass.citation),
                           ("refusal", spec.refusal.citation),
                           ("destination", spec.destination.citation)):
            cites[key] = self.cite(value, spec.sources, smap, (key, "citation"))
        if spec.destination.down is not None:
            cites["destination.down"] = self.cite(spec.destination.down.citation, spec.sources,
                                                  smap, ("destination", "down", "citation"))
        if sorted(spec.combination) != sorted(["emergency", "up", "stay", "down"]):
            msg = "combination must list emergency, up, stay and down once each"
            self.issues.append(smap.issue(("combination",), msg, "bad-policy"))
        for d in ("up", "down"):
            if d not in spec.direction_records:
                self.issues.append(smap.issue(("direction_records",),
                                              f"records for '{d}' are missing", "bad-policy"))
        scope = Scope(vocab.info, {}, lambda name: None)
        bypass = self.condition(spec.emergency_bypass.when, scope, smap,
                                ("emergency_bypass", "when"))
        if len(self.issues) > before:
            return None
        return Policy(spec, loaded.sha256, loaded.name, bypass, cites)

    # --- rulesets ---------------------------------------------------------------------------
    def ruleset(
        self, loaded: LoadedFile, spec: RulesetFile, vocab: Vocabulary, policy: Policy,
        offset: int,
    ) -> RulesetIR | None:
        smap = loaded.smap
        before = len(self.issues)
        values: dict[str, Scalar] = {}
        cond_defs: dict[str, Definition] = {}
        computed_defs: dict[str, Definition] = {}
        for name, d in spec.definitions.items():
            path: Path = ("definitions", name)
            kinds = [k for k in ("value", "when", "compute") if getattr(d, k) is not None]
            if len(kinds) != 1:
                msg = "a definition has exactly one of value, when, compute"
                self.issues.append(smap.issue(path, msg, "schema"))
                continue
            if name in vocab.facts:
                msg = f"'{name}' is already a fact in the vocabulary; choose another name"
                self.issues.append(smap.issue(path, msg, "duplicate-id", key=True))
                continue
            self.cite(d.citation, spec.sources, smap, (*path, "citation"))
            if d.value is not None:
                if isinstance(d.value, int | float) and not isinstance(d.value, bool) \
                        and d.citation is None:
                    msg = f"threshold '{name}' has no citation"
                    hint = ("add citation: {source: ..., clause: ...}; "
                            "unsourced numbers are left out")
                    self.issues.append(smap.issue(path, msg, "missing-citation", hint, key=True))
                values[name] = d.value
            elif d.when is not None:
                cond_defs[name] = d
            else:
                computed_defs[name] = d
        bound: dict[str, Expr] = {}
        visiting: list[str] = []
        facts: dict[str, FactInfo] = dict(vocab.info)

        def named(name: str) -> Expr | None:
            if name not in cond_defs:
                return None
            if name in bound:
                return bound[name]
            if name in visiting:
                cycle = " → ".join([*visiting[visiting.index(name):], name])
                msg_0 = f"definitions refer to each other in a cycle: {cycle}"
                raise BindError(msg_0, 0,
                                "definition-cycle")
            visiting.append(name)
            try:
                when = cond_defs[name].when
                assert when is not None
                bound[name] = self.condition(when, scope, smap, ("definitions", name, "when"))
            finally:
                visiting.pop()
            return bound[name]

        scope = Scope(facts, values, named, tuple(cond_defs))
        computed: list[Computed] = []
        for name, d in computed_defs.items():
            item = self.computed(name, d, spec.id, scope, smap)
            if item is not None:
                computed.append(item)
                facts[name] = item.info
        for name in cond_defs:
            try:
                named(name)
            except BindError as exc:
                self.issues.append(smap.issue(("definitions", name), exc.message,
                                              exc.code, key=True))
        scope_expr = self.condition(spec.applies_to, scope, smap, ("applies_to",))
        rules: list[CompiledRule] = []
        thresholds: dict[str, tuple[tuple[str, str, float], ...]] = {}
        capabilities = policy.spec.destination.capabilities
        for i, rule in enumerate(spec.rules):
            path = ("rules", i)
            if rule.id in self.rule_ids:
                msg = f"rule id '{rule.id}' is already used in {self.rule_ids[rule.id]}"
                self.issues.append(smap.issue((*path, "id"), msg, "duplicate-id"))
            self.rule_ids.setdefault(rule.id, loaded.name)
            try:
                expr = self.condition(rule.when, scope, smap, (*path, "when"))
            except BindError as exc:
                self.issues.append(smap.issue((*path, "when"), exc.message, exc.code))
                expr = Const(False)
            for j, rec in enumerate(rule.records):
                self.record(rec, policy.spec, smap, (*path, "records", j))
            cits = self.cite(rule.citation, spec.sources, smap, (*path, "citation"))
            self.check_rule_shape(rule.direction, rule.urgency, rule.target_level, smap, path)
            if rule.capability is not None and rule.capability not in capabilities:
                close = difflib.get_close_matches(rule.capability, list(capabilities), n=1)
                hint = (f"did you mean '{close[0]}'?" if close else
                        "declare it under destination.capabilities in policy.yaml")
                msg = f"unknown capability '{rule.capability}'"
                self.issues.append(smap.issue((*path, "capability"), msg, "unknown-name", hint))
            if rule.capability is not None and rule.direction != "up":
                msg = "a capability applies to up-transfers only"
                self.issues.append(smap.issue((*path, "capability"), msg, "schema"))
            specialty = rule.specialty or spec.specialty
            line, _ = smap.locate(path)
            note = rule.note if not isinstance(rule.note, str) else None
            rules.append(CompiledRule(
                rule.id, spec.id, offset + i, rule.title, expr, tuple(facts_of(expr)),
                rule.direction, rule.urgency, rule.target_level, tuple(rule.records), cits,
                tuple(rule.advice), specialty, rule.criterion, note, loaded.name, line,
                rule.capability,
            ))
            thresholds[rule.id] = tuple(
                (a.fact, a.op, a.number) for a in thresholds_of(expr)
            )
        for item in computed:  # thresholds inside computed values count for coverage too
            atoms = [a for expr, _ in item.pieces for a in thresholds_of(expr)]
            if atoms:
                thresholds[f"{item.name} (computed)"] = tuple(
                    (a.fact, a.op, a.number) for a in atoms)
        scope_atoms = thresholds_of(scope_expr)
        if scope_atoms:
            thresholds["applies_to"] = tuple((a.fact, a.op, a.number) for a in scope_atoms)
        cases = self.cases(spec.cases, smap, vocab, policy, spec.id)
        if len(self.issues) > before:
            return None
        return RulesetIR(spec.id, spec.version, loaded.sha256, loaded.name, spec.title,
                         spec.specialty, tuple(rules), tuple(computed), tuple(cases), scope_expr,
                         thresholds, values, spec)

    def check_rule_shape(
        self, direction: str, urgency: str | None, target: str | None, smap: SourceMap,
        path: Path,
    ) -> None:
        if urgency is not None and direction != "up":
            msg = f"urgency applies to up-transfers only (this rule is '{direction}')"
            self.issues.append(smap.issue((*path, "urgency"), msg, "schema", "remove urgency"))
        if direction == "up" and target == "primary":
            msg = "an up-transfer cannot target primary care"
            self.issues.append(smap.issue((*path, "target_level"), msg, "schema"))
        if direction == "down" and target == "tertiary":
            msg = "a down-transfer cannot target tertiary care"
            self.issues.append(smap.issue((*path, "target_level"), msg, "schema"))
        if direction == "stay" and target is not None:
            msg = "a stay rule has no target level"
            self.issues.append(smap.issue((*path, "target_level"), msg, "schema"))

    def computed(
        self, name: str, d: Definition, ruleset: str, scope: Scope, smap: SourceMap
    ) -> Computed | None:
        path: Path = ("definitions", name)
        if name in self.computed_names:
            msg = f"computed value '{name}' is also defined in {self.computed_names[name]}"
            self.issues.append(smap.issue(path, msg, "duplicate-id", key=True))
            return None
        self.computed_names[name] = smap.file
        if d.type is None or d.range is None:
            msg = f"computed value '{name}' needs type (number or integer) and range"
            self.issues.append(smap.issue(path, msg, "schema", key=True))
            return None
        info = FactInfo(d.type, (), d.unit, (d.range[0], d.range[1]))
        arith: Arith | Name | float | int | None = None
        pieces: list[tuple[Expr, float | int]] = []
        inputs: list[str] = []
        if isinstance(d.compute, str):
            try:
                arith = parse_arithmetic(d.compute)
            except ConditionSyntaxError as exc:
                line, col = smap.text_position((*path, "compute"), exc.offset)
                self.issues.append(Issue(smap.file, line, col, f"definitions.{name}.compute",
                                         exc.message, exc.code, exc.suggestion))
                return None
            for ref in arith_names(arith):
                fact = scope.facts.get(ref.name)
                if fact is not None and fact.type in ("number", "integer"):
                    inputs.append(ref.name)
                elif not (ref.name in scope.values and isinstance(scope.values[ref.name],
                                                                   int | float)):
                    line, col = smap.text_position((*path, "compute"), ref.offset)
                    hint = scope.suggest(ref.name, scope.all_names())
                    msg = f"'{ref.name}' is not a number fact or a named number"
                    self.issues.append(Issue(smap.file, line, col, f"definitions.{name}.compute",
                                             msg, "unknown-fact", hint))
                    return None
        else:
            for i, piece in enumerate(d.compute or []):
                expr = self.condition(piece.when, scope, smap, (*path, "compute", i, "when"))
                pieces.append((expr, piece.value))
                inputs.extend(facts_of(expr))
        if d.otherwise is not None:
            other = scope.facts.get(d.otherwise)
            if other is None or other.type not in ("number", "integer"):
                hint = scope.suggest(d.otherwise, list(scope.facts))
                msg = f"otherwise must name a number fact (got '{d.otherwise}')"
                self.issues.append(smap.issue((*path, "otherwise"), msg, "unknown-fact", hint))
                return None
            inputs.append(d.otherwise)
        return Computed(name, ruleset, info, arith, tuple(pieces), d.otherwise,
                        tuple(dict.fromkeys(inputs)))

    # --- cases ------------------------------------------------------------------------------
    def cases(
        self, cases: list[Case], smap: SourceMap, vocab: Vocabulary, policy: Policy,
        ruleset: str | None,
    ) -> list[CaseSpec]:
        out: list[CaseSpec] = []
        for i, case in enumerate(cases):
            path: Path = ("cases", i)
            try:
                vocab.validate(case.facts)
            except FactsError as exc:
                for fi in exc.issues:
                    where = (*path, "facts", fi.fact) if fi.fact in case.facts else (*path, "facts")
                    self.issues.append(smap.issue(where, fi.message, "bad-case", fi.suggestion))
            conditions: tuple[str, ...] | None
            if case.conditions == "all":
                conditions = None
            else:
                conditions = tuple(case.conditions or ([ruleset] if ruleset else []))
            if conditions == ():
                msg = "a case in a cases file must list the rulesets it evaluates"
                self.issues.append(smap.issue(path, msg, "bad-case", "add conditions: [...]"))
            line, _ = smap.locate(path)
            out.append(CaseSpec(case, case.expect, conditions, smap.file, line, i))
        return out

    def check_case_refs(self, spec: CaseSpec, rules: set[str], rulesets: set[str],
                        policy: Policy, facts: set[str]) -> None:
        def add(msg: str, code: IssueCode, hint: str | None = None) -> None:
            self.issues.append(Issue(spec.file, spec.line, 1, f"cases.{spec.index}", msg,
                                     code, hint))

        for cond in spec.conditions or ():
            if cond not in rulesets:
                close = difflib.get_close_matches(cond, sorted(rulesets), n=1)
                add(f"unknown ruleset '{cond}'", "bad-case",
                    f"did you mean '{close[0]}'?" if close else None)
        for rid in [*(spec.expect.fired or []), *(spec.expect.not_fired or []),
                    *(spec.expect.possible_emergencies or [])]:
            if rid not in rules:
                close = difflib.get_close_matches(rid, sorted(rules), n=1)
                add(f"unknown rule '{rid}'", "bad-case",
                    f"did you mean '{close[0]}'?" if close else None)
        for rec in [*(spec.expect.records or []), *(spec.expect.deferrable or [])]:
            if rec not in policy.spec.records:
                add(f"unknown record '{rec}'", "unknown-record")
        for fact in [*(spec.expect.confirm or []), *(spec.expect.derived or {}),
                     *(spec.expect.missing or [])]:
            if fact not in facts:
                close = difflib.get_close_matches(fact, sorted(facts), n=1)
                add(f"unknown fact '{fact}'", "unknown-fact",
                    f"did you mean '{close[0]}'?" if close else None)

    def check_overlaps(self, spec: RulesetFile, smap: SourceMap, known: set[str]) -> None:
        for i, rule in enumerate(spec.rules):
            if rule.may_overlap and rule.direction != "down":
                self.issues.append(smap.issue(
                    ("rules", i, "may_overlap"), "may_overlap applies to down rules only",
                    "schema", "remove it; lint only checks down rules for overlaps"))
            for j, rid in enumerate(rule.may_overlap):
                if rid not in known:
                    close = difflib.get_close_matches(rid, sorted(known), n=1)
                    self.issues.append(smap.issue(
                        ("rules", i, "may_overlap", j), f"unknown rule '{rid}'", "unknown-name",
                        f"did you mean '{close[0]}'?" if close else None))

    def check_facts_limit(self, rulesets: dict[str, RulesetIR]) -> None:
        """durable_rules rejects a fact with more than 255 properties (one engine per ruleset)."""
        for ir in rulesets.values():
            used = {f for r in ir.rules for f in r.facts}
            if len(used) > MAX_FACTS:
                msg = f"rules read {len(used)} facts; the engine takes at most {MAX_FACTS}"
                self.issues.append(Issue(ir.file, 1, 1, "", msg, "schema"))


def _value_problem(info: FactInfo, value: Scalar) -> str | None:
    """Why ``value`` cannot be a value of a fact of type ``info`` (None if it can)."""
    if info.type == "boolean":
        return None if isinstance(value, bool) else f"is true or false (got {value!r})"
    if info.type == "enum":
        if isinstance(value, str) and value in info.values:
            return None
        return f"takes one of {', '.join(info.values)} (got {value!r})"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"is a number (got {value!r})"
    if info.type == "integer" and not isinstance(value, int):
        return f"is a whole number (got {value!r})"
    lo, hi = info.range or (float("-inf"), float("inf"))
    if not lo <= value <= hi:
        return f"must be within {lo:g}..{hi:g} (got {value!r})"
    return None
