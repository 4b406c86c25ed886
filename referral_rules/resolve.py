"""Resolve: turn the set of fired rules into a Decision, by the policy.

Semantics (shared/design.md "Decision semantics", in the policy's ``combination`` order):
any emergency → up with urgency emergency; else any up → up; else any explicit stay → stay;
else any down → down; else stay, "no criterion met". Direction is relative to the patient's
current level: nothing goes above tertiary or below primary (up at tertiary and down at
primary are stay). Missing facts never fire a rule; a rule they leave undetermined is reported
when it could change the direction or urgency, and the decision is then incomplete.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, TypeVar

from .decision import (
    DISCLAIMER,
    Citation,
    Decision,
    Destination,
    FiredRule,
    MissingFact,
    Reason,
    RefusalRequirement,
    RequiredRecord,
    RulesetRef,
    construct,
)
from .ir import Bundle, CitationRef, CompiledRule
from .model import Text

__all__ = ["Outcome", "Resolver"]

T = TypeVar("T")
LEVELS = ("primary", "secondary", "tertiary")
_CACHE_MAX = 2_048  # bound every per-pattern cache: memory stays flat on any input
_SMALL_CACHE_MAX = 16_384  # caches whose keys are few by construction (signatures, parts)
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_URGENCY_RANK = {None: 0, "routine": 1, "urgent": 2, "emergency": 3}

REASONS: dict[str, Text] = {
    "no_criterion_met": Text(zh="未满足任何转诊标准，继续在当前机构管理。",
                             en="No referral criterion is met; continue care at this level."),
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
    "down_withheld": Text(zh="下转标准已满足，但缺少的信息可能改变结论：信息补全前不下转。",
                          en="The down-transfer criteria are met, but missing facts could change "
                             "the decision: not sent down until they are known."),
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
    """What decides a rule's effect on the direction: all ``outcome`` reads of a rule."""

    direction: str
    urgency: str | None
    target_level: str | None


@dataclass(frozen=True)
class Outcome:
    """The direction part of a decision."""

    direction: str
    urgency: str | None
    target: str | None
    deciding: tuple[CompiledRule, ...]
    reasons: tuple[str, ...]


def _category(rule: RuleLike) -> str:
    return "emergency" if rule.direction == "up" and rule.urgency == "emergency" else rule.direction


class RuleLike(Protocol):
    """What ``outcome`` reads of a rule."""

    @property
    def direction(self) -> str: ...
    @property
    def urgency(self) -> str | None: ...
    @property
    def target_level(self) -> str | None: ...


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


def _cite(refs: Iterable[CitationRef]) -> tuple[Citation, ...]:
    return tuple(Citation.model_construct(source=c.source, title=c.title, clause=c.clause,
                                          quote=c.quote, url=c.url) for c in refs)


class Resolver:
    """Builds Decisions for one Bundle."""

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self.policy = bundle.policy.spec
        self.order = tuple(self.policy.combination)
        self.record_order = {rid: i for i, rid in enumerate(self.policy.records)}
        self.direction_records: dict[str, list[str]] = {
            d: list(dr.records) for d, dr in self.policy.direction_records.items()}
        self.record_titles = {rid: Text.model_construct(zh=r.zh, en=r.en)
                              for rid, r in self.policy.records.items()}
        direct = {c.name: c.inputs for rs in bundle.rulesets.values() for c in rs.computed}

        def expand(name: str, seen: frozenset[str] = frozenset()) -> tuple[str, ...]:
            if name not in direct or name in seen:
                return (name,)
            return tuple(dict.fromkeys(x for i in direct[name] for x in expand(i, seen | {name})))

        # A computed value that is missing is reported as the facts it is computed from.
        self.computed_inputs = {name: expand(name) for name in direct}
        cites = bundle.policy.citations
        self.refusal_cites = _cite(cites["refusal"])
        self.bypass_cites = _cite(cites["emergency_bypass"])
        self.destination_cites = _cite(cites["destination"])
        refusal = self.policy.refusal
        self.capture_labels = dict(refusal.captures)
        self.captures = tuple(refusal.captures)
        # Everything that does not depend on a patient's values is built once.
        self.reason_objects = {c: Reason.model_construct(code=c, text=t)
                               for c, t in REASONS.items()}
        self.rule_citations = {r.index: _cite(r.citations) for r in bundle.rules}
        self.refusals = {(d, declined): self._build_refusal(d, declined)
                         for d in ("up", "down", "stay") for declined in (False, True)}
        self._records_cache: dict[tuple[Any, ...], tuple[RequiredRecord, ...]] = {}
        self._missing_cache: dict[tuple[str, tuple[str, ...]], MissingFact] = {}
        self._destinations: dict[tuple[str, str | None], Destination] = {}
        self._patterns: dict[tuple[Any, ...], tuple[Outcome, tuple[str, ...],
                                                     tuple[CompiledRule, ...],
                                                     tuple[CompiledRule, ...]]] = {}
        self._verdicts: dict[tuple[Any, ...], bool] = {}
        self._statics: dict[tuple[Any, ...], tuple[dict[str, Any], str, str,
                                                    tuple[CompiledRule, ...]]] = {}
        self._fragments: dict[int, tuple[object, str]] = {}
        self.read = {r.index: tuple(sorted(r.facts)) for r in bundle.rules}
        self.fact_labels = {name: Text.model_construct(zh=f.zh, en=f.en)
                            for name, f in bundle.vocabulary.facts.items()}
        for name in direct:  # never reported (expanded above), labelled for safety
            self.fact_labels.setdefault(name, Text.model_construct(zh=name, en=name))
        self.sig = {r.index: Sig(r.direction, r.urgency, r.target_level) for r in bundle.rules}
        self.inputs = {
            r.index: tuple(dict.fromkeys(n for f in r.facts
                                         for n in self.computed_inputs.get(f, (f,))))
            for r in bundle.rules
        }
        for reason in self.reason_objects.values():
            self._remember(reason)
        for refusal_object in self.refusals.values():
            self._remember(refusal_object)
        for rule in bundle.rules:
            for advice in rule.advice:
                self._remember(advice)
        self.disclaimer_json = DISCLAIMER.model_dump_json()
        self.fired_prefix: dict[int, str] = {}
        self.fired_suffix: dict[int, str] = {}
        for rule in bundle.rules:
            text = self._fired(rule, {}).model_dump_json()
            head, tail = text.split('"matched":{}', 1)
            self.fired_prefix[rule.index] = head + '"matched":'
            self.fired_suffix[rule.index] = tail

    def refs(self, conditions: Sequence[str]) -> tuple[RulesetRef, ...]:
        b = self.bundle
        out = [RulesetRef.model_construct(id="facts", version=b.vocabulary.version,
                                          sha256=b.vocabulary_sha256),
               RulesetRef.model_construct(id="policy", version=self.policy.version,
                                          sha256=b.policy.sha256)]
        out.extend(RulesetRef.model_construct(id=c, version=b.rulesets[c].version,
                                              sha256=b.rulesets[c].sha256)
                   for c in conditions)
        return self._remember(tuple(out))

    def decide(
        self,
        facts: dict[str, Any],
        fired_idx: Sequence[int],
        undetermined_idx: Sequence[int],
        refs: tuple[RulesetRef, ...],
        bypass: bool,
    ) -> Decision:
        """The Decision for validated ``facts`` and the fired / undetermined rule indexes.

        Everything but the matched values is a function of the fired and undetermined rules,
        the current level, refusal, bypass and which needed facts are absent; that part is
        built once per such pattern (bounded caches) and reused.
        """
        current = facts["care_level"]
        key1 = (tuple(fired_idx), tuple(undetermined_idx), current)
        first = self._patterns.get(key1)
        if first is None:
            first = self._pattern(key1)
        relevant_inputs = first[1]
        absent = tuple(f for f in relevant_inputs if f not in facts)
        key2 = (key1, facts.get("accepts_transfer") == "no", bypass, absent, id(refs))
        static = self._statics.get(key2)
        if static is None:
            static = self._static(first[0], first[2], first[3], current, key2[1], bypass, facts,
                                  refs)
            if len(self._statics) < _CACHE_MAX:
                self._statics[key2] = static
        values, head, tail, fired = static
        read = self.read
        matched = [{f: facts[f] for f in read[r.index] if f in facts} for r in fired]
        values = dict(values)
        values["fired"] = tuple(self._fired(r, m) for r, m in zip(fired, matched, strict=True))
        text = "".join((head, ",".join(
            self.fired_prefix[r.index] + _ENCODER.encode(m) + self.fired_suffix[r.index]
            for r, m in zip(fired, matched, strict=True)), tail))
        return construct(Decision, values, {"_json": text})

    def _pattern(self, key1: tuple[tuple[int, ...], tuple[int, ...], str]
                 ) -> tuple[Outcome, tuple[str, ...], tuple[CompiledRule, ...],
                            tuple[CompiledRule, ...]]:
        rules = self.bundle.rules
        fired = [rules[i] for i in key1[0]]
        out = outcome(fired, key1[2], self.order)
        relevant = tuple(self._relevant(key1[2], out, fired, [rules[i] for i in key1[1]]))
        if out.direction == "down" and relevant:
            # Down-criteria are conjunctive: a fact that could still block the transfer (or turn
            # it up) must be known first (criteria.md §0, convention 2). Stay, and say why.
            out = Outcome("stay", None, None, (), (*out.reasons, "down_withheld"))
        inputs = tuple(dict.fromkeys(f for r in relevant for f in self.inputs[r.index]))
        value = (out, inputs, relevant, tuple(fired))
        if len(self._patterns) < _CACHE_MAX:
            self._patterns[key1] = value
        return value

    def _static(self, out: Outcome, relevant: tuple[CompiledRule, ...],
                fired: tuple[CompiledRule, ...], current: str, declined: bool, bypass: bool,
                facts: dict[str, Any], refs: tuple[RulesetRef, ...]
                ) -> tuple[dict[str, Any], str, str, tuple[CompiledRule, ...]]:
        reasons = list(out.reasons)
        direction, urgency = out.direction, out.urgency
        transfer = direction in ("up", "down")
        # The bypass (direct / nearest transfer, referral certificate completed afterwards) is for
        # a transfer that happens: a declined one has its refusal written on the form now.
        bypass = (transfer and direction == "up" and not declined
                  and (bypass or urgency == "emergency"))
        if bypass:
            reasons.append("emergency_bypass")
        refusal = self.refusals[(direction, declined)]
        if refusal.status == "required_now":
            reasons.append("patient_declined")
        records = self._records(direction, out.deciding, bypass, refusal) if transfer else ()
        missing = self._missing(relevant, facts)
        if relevant:
            reasons.append("incomplete")
        destination = self._destination(out, bypass) if direction == "up" else None
        reason_objects = tuple(self.reason_objects[c] for c in reasons)
        advice = tuple(dict.fromkeys(a for r in out.deciding for a in r.advice)) \
            if transfer else ()
        undetermined = tuple(r.id for r in relevant)
        values = {
            "direction": direction,
            "urgency": urgency,
            "current_level": current,
            "target_level": out.target,
            "destination": destination,
            "reasons": reason_objects,
            "fired": (),
            "records": records,
            "refusal": refusal,
            "advice": advice,
            "complete": not relevant,
            "missing_facts": missing,
            "undetermined_rules": undetermined,
            "rulesets": refs,
            "disclaimer": DISCLAIMER,
        }
        js = self._js
        head = "".join((
            '{"direction":"', direction, '","urgency":', _str(urgency),
            ',"current_level":"', current, '","target_level":', _str(out.target),
            ',"destination":', js(destination) if destination is not None else "null",
            ',"reasons":[', ",".join(js(r) for r in reason_objects), '],"fired":[',
        ))
        tail = "".join((
            '],"records":', js(records), ',"refusal":', js(refusal),
            ',"advice":[', ",".join(js(a) for a in advice),
            '],"complete":', "false" if relevant else "true",
            ',"missing_facts":[', ",".join(js(m) for m in missing),
            '],"undetermined_rules":[', ",".join(f'"{u}"' for u in undetermined),
            '],"rulesets":', js(refs), ',"disclaimer":', self.disclaimer_json, "}",
        ))
        return values, head, tail, fired

    def _js(self, obj: Any) -> str:
        """JSON of a part of a decision; remembered parts are serialised once."""
        hit = self._fragments.get(id(obj))
        if hit is not None and hit[0] is obj:
            return hit[1]
        if isinstance(obj, tuple):
            return "[" + ",".join(self._js(o) for o in obj) + "]"
        return str(obj.model_dump_json())

    def _remember(self, obj: T) -> T:
        """Serialise a long-lived part once (only parts kept in a bounded cache come here)."""
        if len(self._fragments) < _SMALL_CACHE_MAX:
            self._fragments[id(obj)] = (obj, self._js(obj))  # holds obj: its id stays unique
        return obj

    def _relevant(self, current: str, now: Outcome, fired: list[CompiledRule],
                  undetermined: list[CompiledRule]) -> list[CompiledRule]:
        """The undetermined rules whose firing would change direction, urgency or target.

        That depends only on the current level and on the (direction, urgency, target level)
        of the fired rules and of the candidate: few combinations, so verdicts are cached.
        """
        sig_of = self.sig
        sigs = frozenset(sig_of[r.index] for r in fired)
        now_core = (now.direction, now.urgency, now.target)
        verdicts = self._verdicts
        local: dict[Sig, bool] = {}
        out = []
        for rule in undetermined:
            sig = sig_of[rule.index]
            verdict = local.get(sig)
            if verdict is None:
                key = (sigs, current, sig)
                verdict = verdicts.get(key)
                if verdict is None:
                    other = outcome([*sigs, sig], current, self.order)
                    verdict = (other.direction, other.urgency, other.target) != now_core
                    if len(verdicts) < _SMALL_CACHE_MAX:
                        verdicts[key] = verdict
                local[sig] = verdict
            if verdict:
                out.append(rule)
        return out

    def _fired(self, rule: CompiledRule, matched: dict[str, Any]) -> FiredRule:
        return construct(FiredRule, {
            "id": rule.id, "ruleset": rule.ruleset, "criterion": rule.criterion,
            "title": rule.title, "direction": rule.direction, "urgency": rule.urgency,
            "matched": matched, "citations": self.rule_citations[rule.index],
            "note": rule.note,
        })

    def _records(self, direction: str, deciding: Sequence[CompiledRule], bypass: bool,
                 refusal: RefusalRequirement) -> tuple[RequiredRecord, ...]:
        key = (direction, tuple(r.index for r in deciding), bypass, refusal.status)
        hit = self._records_cache.get(key)
        if hit is None:
            hit = self._build_records(direction, deciding, bypass, refusal)
            if len(self._records_cache) < _CACHE_MAX:
                self._records_cache[key] = self._remember(hit)
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
                capture_labels={}, kept_in=None, citations=())
        return RefusalRequirement.model_construct(
            status="required_now" if declined else "required_if_declined",
            transfer_proceeds=not declined,
            record=self.policy.refusal.record,
            captures=self.captures,
            capture_labels=self.capture_labels,
            kept_in=self.policy.refusal.kept_in,
            citations=self.refusal_cites,
        )

    def _destination(self, out: Outcome, bypass: bool) -> Destination:
        specialties = {r.specialty for r in out.deciding if r.specialty}
        key = ("bypass" if bypass else "plain", ",".join(sorted(s for s in specialties)))
        hit = self._destinations.get(key)
        if hit is None:
            hit = self._destinations[key] = self._remember(self._build_destination(out, bypass))
        return hit

    def _build_destination(self, out: Outcome, bypass: bool) -> Destination:
        dest = self.policy.destination
        if bypass:
            return Destination.model_construct(
                kind="nearest_capable", text=self.policy.emergency_bypass.destination,
                specialty=None, citations=self.bypass_cites)
        specialties = sorted({r.specialty for r in out.deciding if r.specialty}
                             & set(dest.specialty_exceptions))
        if specialties:
            return Destination.model_construct(
                kind="specialty_allowed", text=dest.specialty, specialty=specialties[0],
                citations=self.destination_cites)
        return Destination.model_construct(kind="same_consortium", text=dest.default,
                                           specialty=None, citations=self.destination_cites)

    def _missing(self, relevant: Sequence[CompiledRule],
                 facts: dict[str, Any]) -> tuple[MissingFact, ...]:
        need: dict[str, list[str]] = {}
        for rule in relevant:
            for name in self.inputs[rule.index]:
                if name not in facts:
                    need.setdefault(name, []).append(rule.id)
        out = []
        for fact in sorted(need):
            key = (fact, tuple(dict.fromkeys(need[fact])))
            item = self._missing_cache.get(key)
            if item is None:
                item = construct(MissingFact, {"fact": fact, "label": self.fact_labels[fact],
                                               "needed_by": key[1]})
                if len(self._missing_cache) < _CACHE_MAX:
                    self._missing_cache[key] = self._remember(item)
            out.append(item)
        return tuple(out)


def _str(value: str | None) -> str:
    return "null" if value is None else f'"{value}"'
