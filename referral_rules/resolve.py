"""Resolve: turn the fired and undetermined rules into a Decision, by the policy.

Semantics (shared/design.md "Decision semantics", in the policy's ``combination`` order):
any emergency → up with urgency emergency; else any up → up; else any explicit stay → stay;
else any down → down; else stay, "no criterion met". Direction is relative to the patient's
current level: nothing goes above tertiary or below primary (up at tertiary and down at
primary are stay).

Records are sparse (criteria.md §0, conventions 2 and 4): rules only fire on what is recorded.
A rule left undetermined by unrecorded facts never holds a patient back silently: when its
firing would change the advice, its facts are listed (most consequential first); a down-transfer
whose own criterion is met is advised with those facts as a "confirm before transfer" checklist;
every undetermined emergency criterion is surfaced as a possible emergency, whatever the
direction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from pydantic_core import to_json

from .decision import (
    DISCLAIMER,
    EFFECT_ORDER,
    Citation,
    Decision,
    DerivedFact,
    Destination,
    Effect,
    FactRef,
    FiredRule,
    MissingFact,
    PossibleEmergency,
    Reason,
    RefusalRequirement,
    RequiredRecord,
    RulesetRef,
    Scope,
    construct,
    frozen,
)
from .ir import Bundle, CitationRef, CompiledRule
from .model import Text

__all__ = ["REASONS", "Outcome", "Resolver", "outcome"]

LEVELS = ("primary", "secondary", "tertiary")
# Bound on every per-pattern cache (entries): memory stays flat on any input. Read at each
# store, so a test can make it tiny.
CACHE_LIMIT = 4_096
_URGENCY_RANK = {None: 0, "routine": 1, "urgent": 2, "emergency": 3}
_EFFECT_RANK = {e: i for i, e in enumerate(EFFECT_ORDER)}

REASONS: dict[str, Text] = {
    "no_criterion_met": Text(zh="未满足任何转诊标准，继续在当前机构管理。",
                             en="No referral criterion is met; continue care at this level."),
    "no_ruleset_applies": Text(
        zh="记录中没有任何病种规则适用的信息（如高血压、糖尿病、胸痛、术后），规则未作判断。",
        en="Nothing recorded brings the patient within any condition's rules (hypertension, "
           "diabetes, chest pain, post-operative): the rules give no advice."),
    "at_highest_level": Text(zh="已在三级医院，符合上转标准但无更高级别可转，应在本院处置。",
                             en="Up-transfer criteria are met but the patient is already at "
                                "tertiary level: manage here."),
    "at_capable_level": Text(zh="符合上转标准，但患者已在能够提供所需诊治的级别"
                                "（规则规定的目标级别）。",
                             en="Up-transfer criteria are met, but the patient is already at a "
                                "level that can provide the care the criteria ask for."),
    "at_primary_level": Text(zh="已在基层医疗机构，符合下转标准即继续在基层管理。",
                             en="Down-transfer criteria are met and the patient is already in "
                                "primary care: continue care here."),
    "stay_criterion": Text(zh="符合留治标准（如术后尚未达到出院/下转条件）。",
                           en="A criterion to stay is met (e.g. post-operative discharge "
                              "criteria not yet met)."),
    "stay_blocks_down": Text(zh="另一病种的留治标准优先于下转标准，暂不下转。",
                             en="A stay criterion of another condition takes precedence over "
                                "the down-transfer criteria: not sent down."),
    "up_overrides_down": Text(zh="上转标准优先于下转标准。",
                              en="Up-transfer criteria take precedence over down-transfer "
                                 "criteria."),
    "down_checks_outstanding": Text(
        zh="下转标准已满足；以下未记录的情况如存在会改变结论，转出前请逐项确认。",
        en="The down-transfer criteria are met; the unrecorded facts listed would change this "
           "if present: confirm each before the transfer."),
    "possible_emergency": Text(
        zh="有急危重症标准因信息未记录而无法排除：请立即核实所列情况。",
        en="An emergency criterion cannot be ruled out because facts are not recorded: check "
           "the facts listed now."),
    "emergency_bypass": Text(zh="急危重症/120/群体性事件：可直接或就近转诊，转诊证明事后补办。",
                             en="Critical, 120-ambulance or mass-casualty patient: transfer "
                                "directly or to the nearest capable hospital and complete the "
                                "referral certificate afterwards."),
    "patient_declined": Text(zh="患者或家属拒绝转诊：须在转诊单上写明理由并签字，转诊不进行。",
                             en="The patient or family declines the transfer: the reason must be "
                                "written on the referral form and signed; the transfer does not "
                                "proceed."),
    "incomplete": Text(zh="缺少的信息可能改变转诊方向、紧急程度或目标级别，请补充后重新评估。",
                       en="Missing facts could change the direction, urgency or target level: "
                          "add them and evaluate again."),
}


class Sig(NamedTuple):
    """What decides a rule's effect on the outcome."""

    direction: str
    urgency: str | None
    target_level: str | None


@dataclass(frozen=True)
class Outcome:
    """The direction part of a decision."""

    direction: str
    urgency: str | None
    target: str | None
    deciding: tuple[Any, ...]
    reasons: tuple[str, ...]


class RuleLike(Protocol):
    """What ``outcome`` reads of a rule."""

    @property
    def direction(self) -> str: ...
    @property
    def urgency(self) -> str | None: ...
    @property
    def target_level(self) -> str | None: ...


def _category(rule: RuleLike) -> str:
    return "emergency" if rule.direction == "up" and rule.urgency == "emergency" else rule.direction


def _up_target(rule: RuleLike, level: int) -> int:
    return LEVELS.index(rule.target_level) if rule.target_level else level + 1


def outcome(rules: Sequence[Any], current: str, order: Sequence[str]) -> Outcome:
    """Direction, urgency and target level for the fired ``rules`` at ``current`` level."""
    categories = {_category(r) for r in rules}
    winner = next((c for c in order if c in categories), None)
    if winner is None:
        return Outcome("stay", None, None, (), ("no_criterion_met",))
    direction = "up" if winner in ("emergency", "up") else winner
    deciding = tuple(r for r in rules if r.direction == direction)
    reasons: list[str] = []
    level = LEVELS.index(current)
    if direction == "stay":
        reasons.append("stay_criterion")
        if "down" in categories:
            reasons.append("stay_blocks_down")
        return Outcome("stay", None, None, deciding, tuple(reasons))
    if direction == "up":
        if "down" in categories:
            reasons.append("up_overrides_down")
        if level == len(LEVELS) - 1:
            return Outcome("stay", None, None, deciding, ("at_highest_level", *reasons))
        # A rule's target_level is the lowest level that can provide the care it asks for:
        # a patient already there (or higher) is not sent further up by that rule.
        needing = tuple(r for r in deciding if _up_target(r, level) > level)
        if not needing:
            return Outcome("stay", None, None, deciding, ("at_capable_level", *reasons))
        urgency = max((r.urgency for r in needing), key=lambda u: _URGENCY_RANK[u])
        wanted = max(_up_target(r, level) for r in needing)
        return Outcome("up", urgency, LEVELS[wanted], needing, tuple(reasons))
    if level == 0:
        return Outcome("stay", None, None, deciding, ("at_primary_level",))
    wanted = max(LEVELS.index(r.target_level) if r.target_level else 0 for r in deciding)
    return Outcome("down", None, LEVELS[min(wanted, level - 1)], deciding, tuple(reasons))


def _effect(now: Outcome, then: Outcome) -> Effect | None:
    """What firing one more rule would do to the advice ``now`` (None: nothing)."""
    if (then.direction, then.urgency, then.target) == (now.direction, now.urgency, now.target):
        return None
    if then.urgency == "emergency" and now.urgency != "emergency":
        return "emergency"
    if then.direction == "up" and now.direction != "up":
        return "up"
    if then.direction == now.direction == "up" and then.urgency != now.urgency:
        return "urgency"
    if then.direction == "stay" and now.direction != "stay":
        return "stay"
    return "target"


def _remember(cache: dict[Any, Any], key: Any, value: Any, scale: int = 1) -> None:
    """Store in a cache bounded to ``scale`` × CACHE_LIMIT entries; a full cache keeps what it
    has. Measured (bench workloads, 200k random records): evicting the oldest instead lowered
    throughput by a third, as common patterns, seen early, were pushed out by rare ones."""
    if len(cache) < CACHE_LIMIT * scale:
        cache[key] = value


def _refs_parts(refs: tuple[RulesetRef, ...]) -> tuple[tuple[RulesetRef, ...], str, bool]:
    """The scopes' JSON, and whether any ruleset was requested or applies."""
    return (refs, "[" + ",".join(r.model_dump_json() for r in refs) + "]",
            any(r.scope in ("requested", "applies") for r in refs))


def _cite(refs: Iterable[CitationRef]) -> tuple[Citation, ...]:
    return tuple(Citation.model_construct(source=c.source, title=c.title, clause=c.clause,
                                          quote=c.quote, url=c.url) for c in refs)


_DECISION_FIELDS = tuple(Decision.model_fields)
# Fields that differ between patients of one pattern, or between patterns and scopes that share
# the rest (undetermined_rules, rulesets); every other field's JSON is built once per _Static.
_PER_PATIENT = ("reasons", "possible_emergencies", "fired", "confirm_before_transfer",
                "missing_facts", "undetermined_rules", "derived_facts", "rulesets")


class _Candidate(NamedTuple):
    """A fact a relevant undetermined rule needs: listed as missing when it is unrecorded."""

    fact: str
    item: MissingFact
    json: str
    confirm: bool  # its effect is more than the target: on a down-transfer's checklist


class _Pattern(NamedTuple):
    """Everything that depends only on which rules fired / are undetermined at a level."""

    out: Outcome
    fired: tuple[CompiledRule, ...]
    relevant: tuple[tuple[CompiledRule, Effect], ...]  # undetermined rules that change it
    emergencies: tuple[CompiledRule, ...]  # undetermined emergency rules
    # The relevant rules' facts, most consequential first, then by how many rules need them,
    # then by name: whichever of them a record lacks are its missing facts, in this order.
    candidates: tuple[_Candidate, ...]
    undetermined_rules: tuple[tuple[str, ...], str]  # the relevant rules' ids, and JSON
    # What the rest of the decision depends on (see _static): many patterns share it.
    static_key: tuple[Any, ...]


class _Base(NamedTuple):
    """What depends only on the fired rules and the level; ``undetermined`` memoises, per
    rule index, what that rule would do if it were undetermined (see _undetermined)."""

    out: Outcome
    fired: tuple[CompiledRule, ...]
    sigs: frozenset[Sig]
    undetermined: dict[int, tuple[CompiledRule, Effect | None, bool]]


class _Static(NamedTuple):
    """A pattern's decision for one level, refusal, bypass and scopes, less the per-patient
    fields; its JSON as the text between those fields (``segments``)."""

    values: dict[str, Any]
    down: bool
    reasons: tuple[tuple[Reason, ...], str]  # without a checklist
    reasons_checks: tuple[tuple[Reason, ...], str]  # with one (down_checks_outstanding)
    segments: tuple[str, ...]  # len(_PER_PATIENT) + 1


class Resolver:
    """Builds Decisions for one Bundle. Thread-safe; shared parts are immutable."""

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self.policy = bundle.policy.spec
        self.order = tuple(self.policy.combination)
        self.record_order = {rid: i for i, rid in enumerate(self.policy.records)}
        self.direction_records: dict[str, tuple[str, ...]] = {
            d: tuple(dr.records) for d, dr in self.policy.direction_records.items()}
        self.record_titles = {rid: Text.model_construct(zh=r.zh, en=r.en)
                              for rid, r in self.policy.records.items()}
        cites = bundle.policy.citations
        self.refusal_cites = _cite(cites["refusal"])
        self.bypass_cites = _cite(cites["emergency_bypass"])
        self.destination_cites = _cite(cites["destination"])
        self.down_cites = _cite(cites.get("destination.down", ()))
        self.reason_objects = {c: Reason.model_construct(code=c, text=t)
                               for c, t in REASONS.items()}
        self.rule_citations = {r.index: _cite(r.citations) for r in bundle.rules}
        self.refusals = {(d, declined): self._build_refusal(d, declined)
                         for d in ("up", "down", "stay") for declined in (False, True)}
        self.fact_labels = {name: Text.model_construct(zh=f.zh, en=f.en)
                            for name, f in bundle.vocabulary.facts.items()}
        # A computed value (a ruleset's own, e.g. a HEART score) that is missing is reported as
        # the facts it is computed from; a derived vocabulary fact is reported as itself, with
        # the facts that would also answer it.
        direct = {c.name: c.inputs for rs in bundle.rulesets.values() for c in rs.computed}

        def expand(name: str, seen: frozenset[str] = frozenset()) -> tuple[str, ...]:
            if name not in direct or name in seen:
                return (name,)
            return tuple(dict.fromkeys(x for i in direct[name] for x in expand(i, seen | {name})))

        self.inputs = {
            r.index: tuple(dict.fromkeys(n for f in r.facts for n in expand(f)))
            for r in bundle.rules
        }
        self.derived = {d.fact: d for d in bundle.derived}
        self.derivable = {d.fact: d.inputs for d in bundle.derived}
        self.read = {r.index: tuple(sorted(r.facts)) for r in bundle.rules}
        self.sig = {r.index: Sig(r.direction, r.urgency, r.target_level) for r in bundle.rules}
        self._fired_json: dict[int, tuple[str, str]] = {}
        for rule in bundle.rules:
            text = FiredRule.model_construct(
                id=rule.id, ruleset=rule.ruleset, criterion=rule.criterion, title=rule.title,
                direction=rule.direction, urgency=rule.urgency, matched={}, derived=(),
                citations=self.rule_citations[rule.index], note=rule.note).model_dump_json()
            head, tail = text.split('"matched":{},"derived":[]', 1)
            self._fired_json[rule.index] = (head + '"matched":', tail)
        self._derived_json: dict[tuple[str, int], tuple[str, str, tuple[Citation, ...],
                                                        Text | None]] = {}
        self.fact_refs = {n: construct(FactRef, {"fact": n, "label": label,
                                                 "derivable_from": self.derivable.get(n, ())})
                          for n, label in self.fact_labels.items()}
        # '"<fact>","label":{…}' and '[…]' of each fact, for MissingFact's JSON
        self._fact_json = {n: to_json(n).decode() + ',"label":' + label.model_dump_json()
                           for n, label in self.fact_labels.items()}
        self._derivable_json = {n: to_json(self.derivable.get(n, ())).decode()
                                for n in self.fact_labels}
        self._missing_items: dict[tuple[str, str, tuple[str, ...]], MissingFact] = {}
        self._possible_items: dict[tuple[int, tuple[str, ...]],
                                   tuple[PossibleEmergency, str]] = {}
        self._fragments: dict[int, tuple[object, str]] = {}
        self._records_cache: dict[tuple[Any, ...], tuple[RequiredRecord, ...]] = {}
        self._destinations: dict[tuple[Any, ...], Destination | None] = {}
        self._patterns: dict[tuple[Any, ...], _Pattern] = {}
        self._statics: dict[tuple[Any, ...], _Static] = {}
        self._candidate_sets: dict[tuple[Any, ...], tuple[_Candidate, ...]] = {}
        self._bases: dict[tuple[Any, ...], _Base] = {}
        self._effects: dict[tuple[Any, ...], Effect | None] = {}
        self._refs: dict[tuple[Any, ...], tuple[RulesetRef, ...]] = {}
        self._refs_parts: dict[int, tuple[tuple[RulesetRef, ...], str, bool]] = {}

    # --- public -----------------------------------------------------------------------------
    def refs(self, scopes: Sequence[tuple[str, Scope]]) -> tuple[RulesetRef, ...]:
        """The files a decision was made with, each condition's ruleset with its scope."""
        key = tuple(scopes)
        hit = self._refs.get(key)
        if hit is not None:
            return hit
        b = self.bundle
        out = [RulesetRef.model_construct(id="facts", version=b.vocabulary.version,
                                          sha256=b.vocabulary_sha256, title=None, scope=None),
               RulesetRef.model_construct(id="policy", version=self.policy.version,
                                          sha256=b.policy.sha256, title=self.policy.title,
                                          scope=None)]
        out.extend(RulesetRef.model_construct(id=c, version=b.rulesets[c].version,
                                              sha256=b.rulesets[c].sha256,
                                              title=b.rulesets[c].title, scope=s)
                   for c, s in scopes)
        value = tuple(out)
        _remember(self._refs, key, value)
        # What decide() reads of them, worked out once per scopes (the entry holds value, so
        # its id stays unique while the entry lives)
        _remember(self._refs_parts, id(value), _refs_parts(value))
        return value

    def decide(
        self,
        facts: Mapping[str, Any],
        fired_idx: Sequence[int],
        undetermined_idx: Sequence[int],
        refs: tuple[RulesetRef, ...],
        bypass: bool,
        derived: Sequence[tuple[str, int]] = (),
    ) -> Decision:
        """The Decision for validated (and derived) ``facts``.

        Args:
            facts: the record the rules saw (recorded, derived and computed values).
            fired_idx: indexes of the rules that are true.
            undetermined_idx: indexes of in-scope rules neither true nor false.
            refs: from ``refs()``.
            bypass: the policy's emergency-bypass condition is true.
            derived: (fact, piece index) of each derived fact that was worked out.

        Everything but the matched and derived values is a function of the fired and
        undetermined rules, the level, refusal, bypass, the scopes and which needed facts are
        unrecorded: that part, and its JSON, is built once per such pattern (bounded caches).
        """
        current = facts["care_level"]
        key1 = (tuple(fired_idx), tuple(undetermined_idx), current)
        pattern = self._patterns.get(key1)
        if pattern is None:
            pattern = self._pattern(key1)
        declined = facts.get("accepts_transfer") == "no"
        parts = self._refs_parts.get(id(refs))
        if parts is None or parts[0] is not refs:  # refs() no longer caches: a full cache
            parts = _refs_parts(refs)
        refs_json, in_scope = parts[1], parts[2]
        key2 = (pattern.static_key, declined, bypass, in_scope)
        static = self._statics.get(key2)
        if static is None:
            static = self._static(pattern, current, declined, bypass, in_scope)
            _remember(self._statics, key2, static)
        missing = [c for c in pattern.candidates if c.fact not in facts]
        confirm = [c for c in missing if c.confirm] if static.down else []
        possible = [self._possible(rule, facts) for rule in pattern.emergencies]
        reasons, reasons_json = static.reasons_checks if confirm else static.reasons
        names = {f for f, _ in derived}
        fired_objects: list[FiredRule] = []
        fired_json: list[str] = []
        for rule in pattern.fired:
            fired, text = self._fired(rule, facts, names)
            fired_objects.append(fired)
            fired_json.append(text)
        derived_objects: list[DerivedFact] = []
        derived_json: list[str] = []
        for fact, index in derived:
            item, text = self._derived(fact, index, facts)
            derived_objects.append(item)
            derived_json.append(text)
        values = dict(static.values)
        values["reasons"] = reasons
        values["possible_emergencies"] = tuple(p for p, _ in possible)
        values["fired"] = tuple(fired_objects)
        values["confirm_before_transfer"] = tuple(c.item for c in confirm)
        values["missing_facts"] = tuple(c.item for c in missing)
        values["undetermined_rules"] = pattern.undetermined_rules[0]
        values["derived_facts"] = tuple(derived_objects)
        values["rulesets"] = refs
        seg = static.segments
        text = "".join((
            seg[0], reasons_json,
            seg[1], "[", ",".join(j for _, j in possible), "]",
            seg[2], "[", ",".join(fired_json), "]",
            seg[3], "[", ",".join(c.json for c in confirm), "]",
            seg[4], "[", ",".join(c.json for c in missing), "]",
            seg[5], pattern.undetermined_rules[1],
            seg[6], "[", ",".join(derived_json), "]",
            seg[7], refs_json,
            seg[8]))
        return construct(Decision, values, {"_json": text})

    # --- the pattern: outcome, and what unrecorded facts could do -------------------------
    def _pattern(self, key1: tuple[tuple[int, ...], tuple[int, ...], str]) -> _Pattern:
        rules = self.bundle.rules
        current = key1[2]
        base = self._bases.get(key1[0::2])
        if base is None:
            fired = tuple(rules[i] for i in key1[0])
            base = _Base(outcome(fired, current, self.order), fired,
                         frozenset(self.sig[r.index] for r in fired), {})
            _remember(self._bases, key1[0::2], base)
        out = base.out
        relevant: list[tuple[CompiledRule, Effect]] = []
        emergencies: list[CompiledRule] = []
        for i in key1[1]:
            hit = base.undetermined.get(i)  # at most one entry per rule
            if hit is None:
                hit = base.undetermined[i] = self._undetermined(base, current, rules[i])
            rule, effect, listed = hit
            if listed:
                emergencies.append(rule)
            if effect is not None:
                relevant.append((rule, effect))
        key = tuple((r.index, e) for r, e in relevant)
        candidates = self._candidate_sets.get(key)
        if candidates is None:
            candidates = self._candidates(relevant)
            _remember(self._candidate_sets, key, candidates)
        # _static reads the outcome (not the fired rules that did not decide it), whether any
        # fired, the level, and whether any rule is relevant or any emergency undetermined
        static_key = (out.direction, out.urgency, out.target, out.reasons,
                      tuple(r.index for r in out.deciding), bool(key1[0]), current,
                      bool(relevant), bool(emergencies))
        ids = tuple(r.id for r, _ in relevant)
        value = _Pattern(out, base.fired, tuple(relevant), tuple(emergencies), candidates,
                         (ids, to_json(ids).decode()), static_key)
        _remember(self._patterns, key1, value)
        return value

    def _undetermined(self, base: _Base, current: str, rule: CompiledRule
                      ) -> tuple[CompiledRule, Effect | None, bool]:
        """What one undetermined rule would change, and whether it is listed as a possible
        emergency, given what fired."""
        out = base.out
        effect = self._effect_of(base.sigs, current, out, self.sig[rule.index])
        # Every undetermined emergency criterion is raised, whatever the direction; once the
        # advice is already an emergency transfer, only those that would still change it
        # (the level, or the capability the destination needs).
        listed = rule.emergency and (
            out.urgency != "emergency" or effect is not None
            or (rule.capability is not None
                and rule.capability not in {r.capability for r in out.deciding}))
        return rule, effect, listed

    def _effect_of(self, sigs: frozenset[Sig], current: str, now: Outcome,
                   sig: Sig) -> Effect | None:
        """The effect of one more rule with ``sig``: few combinations, so cached."""
        key = (sigs, current, sig)
        if key in self._effects:
            return self._effects[key]
        effect = _effect(now, outcome([*sigs, sig], current, self.order))
        _remember(self._effects, key, effect)
        return effect

    def _static(self, pattern: _Pattern, current: str, declined: bool, bypass: bool,
                in_scope: bool) -> _Static:
        out = pattern.out
        reasons = list(out.reasons)
        direction, urgency = out.direction, out.urgency
        transfer = direction in ("up", "down")
        if not pattern.fired and not in_scope:
            reasons = ["no_ruleset_applies"]
        # The bypass (direct / nearest transfer, referral certificate completed afterwards) is for
        # a transfer that happens: a declined one has its refusal written on the form now.
        bypass = (direction == "up" and not declined and (bypass or urgency == "emergency"))
        if bypass:
            reasons.append("emergency_bypass")
        refusal = self.refusals[(direction, declined)]
        if refusal.status == "required_now":
            reasons.append("patient_declined")
        # every undetermined rule has an unrecorded fact: these two hold for every patient
        late = (["possible_emergency"] if pattern.emergencies else []) + \
            (["incomplete"] if pattern.relevant else [])
        plain = tuple(self.reason_objects[c] for c in [*reasons, *late])
        checks = tuple(self.reason_objects[c]
                       for c in [*reasons, "down_checks_outstanding", *late])
        values = {
            "direction": direction,
            "urgency": urgency,
            "current_level": current,
            "target_level": out.target,
            "destination": self._destination(out, bypass) if transfer else None,
            "records": self._records(direction, out.deciding, bypass, refusal)
            if transfer else (),
            "refusal": refusal,
            "advice": tuple(dict.fromkeys(a for r in out.deciding for a in r.advice))
            if transfer else (),
            "complete": not pattern.relevant,
            "disclaimer": DISCLAIMER,
        }
        # in field order (a constructed model dumps its values in their order), the
        # per-patient fields as placeholders that decide() replaces
        values = {name: values.get(name) for name in _DECISION_FIELDS}
        # The JSON of every other field, serialised once; the per-patient ones go between.
        segments: list[str] = []
        text = "{"
        for n, name in enumerate(_DECISION_FIELDS):
            text += ("," if n else "") + f'"{name}":'
            if name in _PER_PATIENT:
                segments.append(text)
                text = ""
            else:
                # the records are tuples held by their own cache
                text += self._js(values[name], kept=name == "records")
        segments.append(text + "}")
        return _Static(values, direction == "down", (plain, self._js(plain)),
                       (checks, self._js(checks)), tuple(segments))

    def _js(self, value: Any, *, kept: bool = False) -> str:
        """JSON of one field's value; long-lived parts (models, and tuples the caller says are
        ``kept`` in a cache) are serialised once."""
        if value is None or isinstance(value, str | bool | int):
            return to_json(value).decode()
        if isinstance(value, tuple) and not kept:
            if all(type(v) is str for v in value):  # rule ids, advice codes
                return to_json(value).decode()
            return "[" + ",".join(self._js(v) for v in value) + "]"
        hit = self._fragments.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        text = self._js(value) if kept else str(value.model_dump_json())
        # the entry holds value, so its id stays unique while the entry lives
        _remember(self._fragments, id(value), (value, text), 4)
        return text

    def _candidates(self, relevant: Sequence[tuple[CompiledRule, Effect]]
                    ) -> tuple[_Candidate, ...]:
        """The relevant rules' facts, most consequential first, then by name (see _Pattern)."""
        need: dict[str, list[str]] = {}
        effect: dict[str, Effect] = {}
        for rule, eff in relevant:
            for name in self.inputs[rule.index]:
                need.setdefault(name, []).append(rule.id)
                if name not in effect or _EFFECT_RANK[eff] < _EFFECT_RANK[effect[name]]:
                    effect[name] = eff
        ranked = sorted(need, key=lambda n: (_EFFECT_RANK[effect[n]], -len(need[n]), n))
        out = []
        for name in ranked:
            key = (name, effect[name], tuple(dict.fromkeys(need[name])))
            item = self._missing_items.get(key)
            if item is None:
                item = construct(MissingFact, {
                    "fact": name, "label": self.fact_labels[name], "effect": key[1],
                    "needed_by": key[2], "derivable_from": self.derivable.get(name, ())})
                _remember(self._missing_items, key, item)
            # by hand from parts serialised once (a test compares it with model_dump_json)
            text = "".join(('{"fact":', self._fact_json[name], ',"effect":"', key[1],
                            '","needed_by":', to_json(key[2]).decode(), ',"derivable_from":',
                            self._derivable_json[name], "}"))
            out.append(_Candidate(name, item, text, key[1] != "target"))
        return tuple(out)

    def _possible(self, rule: CompiledRule, facts: Mapping[str, Any]
                  ) -> tuple[PossibleEmergency, str]:
        names = tuple(n for n in self.inputs[rule.index] if n not in facts)
        key = (rule.index, names)
        hit = self._possible_items.get(key)
        if hit is None:
            check = tuple(self.fact_refs[n] for n in names)
            item = construct(PossibleEmergency, {
                "rule": rule.id, "ruleset": rule.ruleset, "title": rule.title, "check": check,
                "citations": self.rule_citations[rule.index]})
            hit = (item, item.model_dump_json())
            _remember(self._possible_items, key, hit)
        return hit

    # --- per patient ------------------------------------------------------------------------
    def _fired(self, rule: CompiledRule, facts: Mapping[str, Any],
               derived: set[str]) -> tuple[FiredRule, str]:
        matched = {f: facts[f] for f in self.read[rule.index] if f in facts}
        marked = tuple(f for f in matched if f in derived)
        obj = construct(FiredRule, {
            "id": rule.id, "ruleset": rule.ruleset, "criterion": rule.criterion,
            "title": rule.title, "direction": rule.direction, "urgency": rule.urgency,
            "matched": matched, "derived": marked,
            "citations": self.rule_citations[rule.index], "note": rule.note,
        })
        head, tail = self._fired_json[rule.index]
        text = "".join((head, to_json(matched).decode(), ',"derived":',
                        to_json(marked).decode(), tail))
        return obj, text

    def _derived(self, fact: str, index: int, facts: Mapping[str, Any]
                 ) -> tuple[DerivedFact, str]:
        piece = self.derived[fact].pieces[index]
        value = facts[fact]
        source = {f: facts[f] for f in piece.inputs if f in facts}
        key = (fact, index)
        parts = self._derived_json.get(key)
        if parts is None:
            parts = self._derived_json[key] = self._derived_parts(fact, index)
        head, tail, citations, convention = parts
        obj = construct(DerivedFact, {
            "fact": fact, "label": self.fact_labels[fact], "value": value,
            "derived_from": source, "citations": citations, "convention": convention,
        })
        text = "".join((head, to_json(value).decode(), ',"derived_from":',
                        to_json(source).decode(), tail))
        return obj, text

    def _derived_parts(self, fact: str, index: int
                       ) -> tuple[str, str, tuple[Citation, ...], Text | None]:
        piece = self.derived[fact].pieces[index]
        citations = _cite(piece.citations)
        text = DerivedFact.model_construct(
            fact=fact, label=self.fact_labels[fact], value=False, derived_from={},
            citations=citations, convention=piece.convention).model_dump_json()
        head, tail = text.split('"value":false,"derived_from":{}', 1)
        return head + '"value":', tail, citations, piece.convention

    # --- records, refusal, destination ------------------------------------------------------
    def _records(self, direction: str, deciding: Sequence[CompiledRule], bypass: bool,
                 refusal: RefusalRequirement) -> tuple[RequiredRecord, ...]:
        key = (direction, tuple(r.index for r in deciding), bypass, refusal.status)
        hit = self._records_cache.get(key)
        if hit is None:
            hit = self._build_records(direction, deciding, bypass, refusal)
            _remember(self._records_cache, key, hit)
        return hit

    def _build_records(self, direction: str, deciding: Sequence[CompiledRule], bypass: bool,
                       refusal: RefusalRequirement) -> tuple[RequiredRecord, ...]:
        need: dict[str, list[str]] = {}
        for rec in self.direction_records[direction]:
            need.setdefault(rec, []).append(f"policy:direction_records.{direction}")
        for rule in deciding:
            for rec in rule.records:
                need.setdefault(rec, []).append(rule.id)
        if refusal.status == "required_now" and refusal.record:
            need.setdefault(refusal.record, []).append("policy:refusal")
        deferrable = set(self.policy.emergency_bypass.deferrable_records) if bypass else set()
        return tuple(
            construct(RequiredRecord, {
                "id": rid, "title": self.record_titles[rid],
                "required_by": tuple(dict.fromkeys(need[rid])), "deferrable": rid in deferrable})
            for rid in sorted(need, key=self.record_order.__getitem__)
        )

    def _build_refusal(self, direction: str, declined: bool) -> RefusalRequirement:
        if direction not in self.policy.refusal.applies_to:
            return RefusalRequirement.model_construct(
                status="not_applicable", transfer_proceeds=False, record=None, captures=(),
                capture_labels=frozen({}), kept_in=None, citations=())
        return RefusalRequirement.model_construct(
            status="required_now" if declined else "required_if_declined",
            transfer_proceeds=not declined,
            record=self.policy.refusal.record,
            captures=tuple(self.policy.refusal.captures),
            capture_labels=frozen(self.policy.refusal.captures),
            kept_in=self.policy.refusal.kept_in,
            citations=self.refusal_cites,
        )

    def _destination(self, out: Outcome, bypass: bool) -> Destination | None:
        key = (out.direction, bypass, tuple(r.index for r in out.deciding))
        value = self._destinations.get(key)
        if value is not None or key in self._destinations:
            return value
        value = self._build_destination(out, bypass)
        _remember(self._destinations, key, value)
        return value

    def _build_destination(self, out: Outcome, bypass: bool) -> Destination | None:
        dest = self.policy.destination
        if out.direction == "down":
            if dest.down is None:
                return None
            return Destination.model_construct(
                kind="consortium_partner", text=dest.down.text, specialty=None,
                capability=None, citations=self.down_cites)
        needs = next((r for r in out.deciding if r.capability), None)
        if needs is not None and needs.capability is not None:
            return Destination.model_construct(
                kind="nearest_capable", text=dest.capabilities[needs.capability],
                specialty=None, capability=needs.capability,
                citations=self.rule_citations[needs.index])
        if bypass:
            return Destination.model_construct(
                kind="nearest_capable", text=self.policy.emergency_bypass.destination,
                specialty=None, capability=None, citations=self.bypass_cites)
        specialties = sorted({r.specialty for r in out.deciding if r.specialty}
                             & set(dest.specialty_exceptions))
        if specialties:
            return Destination.model_construct(
                kind="specialty_allowed", text=dest.specialty, specialty=specialties[0],
                capability=None, citations=self.destination_cites)
        return Destination.model_construct(kind="same_consortium", text=dest.default,
                                           specialty=None, capability=None,
                                           citations=self.destination_cites)
