"""The workbench's read-only views of the loaded rules: the patient form, one evaluation with
its presentation, and a ruleset's rules, thresholds and flow.

Everything here is read from the library (the bundle, ``Engine.evaluate``, ``present``,
``render_flow``); nothing decides anything. The page renders what these functions return.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from referral_rules import Bundle, Decision, Engine
from referral_rules.bind import facts_of
from referral_rules.docs import condition_text, render_flow
from referral_rules.ir import CitationRef, CompiledRule, RulesetIR
from referral_rules.model import Citation, FactSpec, RulesetFile, Text
from referral_rules.present import present

__all__ = ["evaluation", "form_schema", "ruleset_view"]

Lang = Literal["zh", "en"]

#: facts the resolver reads itself, outside any rule (resolve.py): shown with the patient
_POLICY_FACTS = ("care_level", "accepts_transfer")

_PATIENT = {"zh": "患者与转诊政策", "en": "Patient and referral policy"}
_OTHER = {"zh": "其他（仅供参考，无规则读取）", "en": "Other (for context; no rule reads them)"}


def _text(value: Text | str | None) -> dict[str, str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return {"zh": value, "en": value}
    return {"zh": value.zh, "en": value.en}


def _cite(c: CitationRef) -> dict[str, Any]:
    return {"source": c.source, "title": c.title, "clause": c.clause, "quote": c.quote,
            "url": c.url}


def _expand(names: Iterable[str], inputs: Mapping[str, Sequence[str]]) -> list[str]:
    """``names`` with each computed or derived value followed by what it is worked out from
    (bounded: each name is visited once)."""
    out: dict[str, None] = {}
    stack = list(reversed(list(names)))
    while stack:
        name = stack.pop()
        if name in out:
            continue
        out[name] = None
        stack.extend(reversed(list(inputs.get(name, ()))))
    return list(out)


def _inputs(bundle: Bundle) -> dict[str, tuple[str, ...]]:
    """Computed value or derived fact → the names it is worked out from."""
    found: dict[str, tuple[str, ...]] = {d.fact: d.inputs for d in bundle.derived}
    for rs in bundle.rulesets.values():
        for c in rs.computed:
            found[c.name] = c.inputs
    return found


def _fact(name: str, spec: FactSpec, bundle: Bundle, readers: list[str]) -> dict[str, Any]:
    derived = next((d for d in bundle.derived if d.fact == name), None)
    derive = None
    if derived is not None and spec.derive:
        pieces = []
        for written, piece in zip(spec.derive, derived.pieces, strict=True):
            pieces.append({
                "when": condition_text(written.when), "value": piece.value,
                "compute": written.compute,
                "citations": [_cite(c) for c in piece.citations],
                "convention": _text(piece.convention)})
        derive = {"from": list(derived.inputs), "pieces": pieces, "line": derived.line}
    return {
        "type": spec.type, "unit": spec.unit,
        "range": list(spec.range) if spec.range else None,
        "values": list(spec.values) if spec.values else None,
        "label": {"zh": spec.zh, "en": spec.en},
        "required": spec.required, "informational": spec.informational,
        "derive": derive, "used_by": readers,
    }


def form_schema(bundle: Bundle, generation: int) -> dict[str, Any]:
    """The patient form: every vocabulary fact (type, unit, range, values, zh/en label, how it
    is derived, which rules read it) and the order to show them in, grouped by ruleset and, in
    each, by the ruleset's scope (``applies_to``) and its criteria.

    Each fact is shown once: the policy's facts first, then each ruleset's scope facts (so
    ``sbp`` sits with hypertension, whose scope reads it, not with the first ruleset whose
    criteria do), then each ruleset's criteria facts; a group names the facts it reads that are
    shown in another ruleset's group under ``shared``."""
    vocab = bundle.vocabulary
    inputs = _inputs(bundle)
    readers: dict[str, list[str]] = {name: [] for name in vocab.facts}
    for rule in bundle.rules:
        for name in _expand(rule.facts, inputs):
            if name in readers and rule.id not in readers[name]:
                readers[name].append(rule.id)
    facts = {name: _fact(name, spec, bundle, readers[name])
             for name, spec in vocab.facts.items()}
    shown: set[str] = set()

    def take(names: Iterable[str]) -> list[str]:
        new = [n for n in dict.fromkeys(names) if n in vocab.facts and n not in shown]
        shown.update(new)
        return new

    patient = take([*vocab.required, *_POLICY_FACTS, *facts_of(bundle.policy.bypass)])
    scopes = {rs.id: [f for f in _expand(facts_of(rs.scope), inputs) if f in vocab.facts]
              for rs in bundle.rulesets.values()}
    criteria = {rs.id: [f for f in _expand((f for r in rs.rules for f in r.facts), inputs)
                        if f in vocab.facts] for rs in bundle.rulesets.values()}
    scope_new = {rid: take(names) for rid, names in scopes.items()}
    criteria_new = {rid: take(names) for rid, names in criteria.items()}
    groups: list[dict[str, Any]] = [{
        "id": "patient", "ruleset": None, "title": _PATIENT, "scope": None,
        "sections": [{"kind": "policy", "facts": patient}], "shared": []}]
    rulesets = []
    for rs in bundle.rulesets.values():
        spec = rs.spec
        scope_text = condition_text(spec.applies_to) if spec is not None else "true"
        own = {*scope_new[rs.id], *criteria_new[rs.id], *patient}  # the patient's: at the top
        shared = [f for f in dict.fromkeys([*scopes[rs.id], *criteria[rs.id]]) if f not in own]
        groups.append({
            "id": rs.id, "ruleset": rs.id, "title": _text(rs.title), "scope": scope_text,
            "sections": [{"kind": "scope", "facts": scope_new[rs.id]},
                         {"kind": "criteria", "facts": criteria_new[rs.id]}],
            "shared": shared})
        rulesets.append({"id": rs.id, "title": _text(rs.title), "version": rs.version,
                         "file": Path(rs.file).name, "scope": scope_text,
                         "scope_facts": scopes[rs.id], "rules": len(rs.rules),
                         "cases": len(rs.cases)})
    rest = take(vocab.facts)
    if rest:
        groups.append({"id": "other", "ruleset": None, "title": _OTHER, "scope": None,
                       "sections": [{"kind": "other", "facts": rest}], "shared": []})
    return {"generation": generation, "directory": Path(bundle.directory).name,
            "versions": _versions(bundle), "rulesets": rulesets, "facts": facts,
            "groups": groups}


def _versions(bundle: Bundle) -> list[dict[str, str]]:
    out = [{"id": "facts", "version": bundle.vocabulary.spec.version,
            "sha256": bundle.vocabulary_sha256},
           {"id": "policy", "version": bundle.policy.spec.version,
            "sha256": bundle.policy.sha256}]
    out += [{"id": rs.id, "version": rs.version, "sha256": rs.sha256}
            for rs in bundle.rulesets.values()]
    return out


def _rule_ref(rule: CompiledRule, bundle: Bundle) -> dict[str, Any]:
    rs = bundle.rulesets[rule.ruleset]
    when = rs.spec.rules[rule.index - rs.rules[0].index].when if rs.spec is not None else None
    return {"ruleset": rule.ruleset, "file": Path(rule.file).name, "line": rule.line,
            "when": condition_text(when) if when is not None else None,
            "title": _text(rule.title), "direction": rule.direction, "urgency": rule.urgency,
            "target_level": rule.target_level}


def evaluation(engine: Engine, facts: Mapping[str, Any], conditions: Sequence[str] | None,
               lang: Lang) -> str:
    """One evaluation as JSON: the library's decision (byte for byte ``Decision.to_json()``),
    its presentation in ``lang``, where each rule it names is written (file:line and the
    condition as written), and each undetermined rule with the unrecorded facts that would
    decide it. Raises FactsError / UnknownConditionError like ``Engine.evaluate``."""
    decision = engine.evaluate(facts, conditions)
    bundle = engine.bundle
    by_id = {r.id: r for r in bundle.rules}
    named = dict.fromkeys([*decision.fired_ids, *decision.undetermined_rules,
                           *(p.rule for p in decision.possible_emergencies)])
    rules = {rid: _rule_ref(by_id[rid], bundle) for rid in named if rid in by_id}
    undetermined = []
    for rid in decision.undetermined_rules:
        need = [{"fact": m.fact, "label": _text(m.label), "effect": m.effect,
                 "derivable_from": list(m.derivable_from)}
                for m in decision.missing_facts if rid in m.needed_by]
        undetermined.append({"rule": rid, **rules[rid], "facts": need})
    extra = {
        "presentation": dataclasses.asdict(present(decision, lang)),
        "rules": rules,
        "undetermined": undetermined,
        "recorded": sorted(k for k, v in facts.items() if v is not None),
    }
    return ('{"decision":' + decision.to_json() + ","
            + json.dumps(extra, ensure_ascii=False)[1:])


def expectation(decision: Decision) -> dict[str, Any]:
    """What a case would expect of ``decision``, key by key (the ruleset format's ``expect``)."""
    return {
        "direction": decision.direction,
        "urgency": decision.urgency,
        "target_level": decision.target_level,
        "destination": decision.destination.kind if decision.destination else None,
        "fired": sorted(decision.fired_ids),
        "records": sorted(decision.record_ids),
        "deferrable": sorted(r.id for r in decision.records if r.deferrable),
        "refusal": decision.refusal.status,
        "complete": decision.complete,
        "confirm": sorted(m.fact for m in decision.confirm_before_transfer),
        "possible_emergencies": sorted(p.rule for p in decision.possible_emergencies),
        "derived": {f.fact: f.value for f in sorted(decision.derived_facts,
                                                    key=lambda f: f.fact)},
        "missing": sorted(m.fact for m in decision.missing_facts),
    }


# --- the rules view ----------------------------------------------------------------------------


def _citations(value: Citation | list[Citation] | None, spec: RulesetFile) -> list[Any]:
    items = value if isinstance(value, list) else [value] if value else []
    out = []
    for c in items:
        src = spec.sources.get(c.source)
        out.append({"source": c.source, "title": src.title if src else c.source,
                    "clause": c.clause, "quote": c.quote, "url": src.url if src else None})
    return out


def ruleset_view(ir: RulesetIR) -> dict[str, Any]:
    """One ruleset for reading: scope, sources, thresholds (definitions), rules with their
    conditions as written, citations with quotes and file:line, what is not encoded, and the
    Mermaid flowchart (the same as in ``docs/rulesets/<id>.md``)."""
    spec = ir.spec
    assert spec is not None  # a loaded ruleset keeps its validated file
    definitions = []
    for name, d in spec.definitions.items():
        if d.value is not None:
            kind, what = "threshold", d.value
        elif d.when is not None:
            kind, what = "condition", condition_text(d.when)
        elif isinstance(d.compute, str):
            kind, what = "computed", d.compute
        else:
            kind = "computed"
            what = "; ".join(f"{condition_text(p.when)} → {p.value}" for p in d.compute or [])
        definitions.append({"name": name, "kind": kind, "value": what, "unit": d.unit,
                            "otherwise": d.otherwise,
                            "citations": _citations(d.citation, spec), "note": _text(d.note)})
    rules = []
    for rule, compiled in zip(spec.rules, ir.rules, strict=True):
        rules.append({
            "id": rule.id, "criterion": rule.criterion, "title": _text(rule.title),
            "when": condition_text(rule.when), "direction": rule.direction, "urgency": rule.urgency,
            "target_level": rule.target_level, "records": list(rule.records),
            "capability": rule.capability,
            "thresholds": [{"fact": f, "op": op, "value": v}
                           for f, op, v in ir.thresholds.get(rule.id, ())],
            "citations": [_cite(c) for c in compiled.citations],
            "advice": [_text(a) for a in rule.advice], "note": _text(rule.note),
            "file": Path(compiled.file).name, "line": compiled.line})
    flow = render_flow(spec)
    return {
        "id": ir.id, "version": ir.version, "sha256": ir.sha256, "file": Path(ir.file).name,
        "title": _text(ir.title), "specialty": ir.specialty,
        "scope": condition_text(spec.applies_to),
        "sources": [{"id": sid, "title": s.title, "publisher": s.publisher, "year": s.year,
                     "url": s.url, "note": s.note} for sid, s in spec.sources.items()],
        "definitions": definitions, "rules": rules,
        "not_encoded": [{"criterion": n.criterion, "item": _text(n.item),
                         "reason": _text(n.reason)} for n in spec.not_encoded],
        "flow": "\n".join(flow[1:-1]),  # without the ```mermaid fence
        "cases": len(ir.cases)}
