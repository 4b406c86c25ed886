"""The Decision: a frozen, JSON-stable record of what the rules advise and why.

Every list has a fixed order (rules in ruleset order, records in the policy catalogue's order,
unrecorded facts most consequential first, then by name), so the same facts and rulesets give
byte-identical JSON. Parts shared between decisions (citations, titles, refusal labels) are
immutable: a caller that tries to change one gets an error, never a changed next decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, NoReturn, TypeVar

from pydantic import BaseModel, ConfigDict, PrivateAttr

from .model import Text

__all__ = [
    "Citation",
    "Decision",
    "DerivedFact",
    "Destination",
    "FactRef",
    "FiredRule",
    "FrozenDict",
    "MissingFact",
    "PossibleEmergency",
    "Reason",
    "RefusalRequirement",
    "RequiredRecord",
    "RulesetRef",
]

M = TypeVar("M", bound=BaseModel)
K = TypeVar("K")
V = TypeVar("V")
Direction = Literal["up", "down", "stay"]
Urgency = Literal["emergency", "urgent", "routine"]
Level = Literal["primary", "secondary", "tertiary"]
FactValue = int | float | str | bool
#: What recording an unrecorded fact could do to the advice, most serious first.
Effect = Literal["emergency", "up", "urgency", "stay", "target"]
EFFECT_ORDER: tuple[Effect, ...] = ("emergency", "up", "urgency", "stay", "target")
Scope = Literal["requested", "applies", "unknown", "not_applicable"]

DISCLAIMER = Text(
    zh="本结果是供临床医师参考的决策支持建议，不是医嘱；是否转诊、转往何处及紧急程度由接诊医师结合患者"
       "具体情况决定。",
    en="Decision support for a clinician, not an order: the treating clinician decides whether, "
       "where and how urgently to transfer, taking the whole patient into account.",
)


class FrozenDict(dict[K, V]):
    """A dict that cannot be changed: shared by every decision that carries it."""

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        msg = "this mapping is shared between decisions and cannot be changed"
        raise TypeError(msg)

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _refuse
    __ior__ = _refuse

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(self.items()))


def frozen(mapping: Mapping[K, V]) -> FrozenDict[K, V]:
    """An immutable copy of ``mapping``."""
    return FrozenDict(mapping)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Citation(_Frozen):
    """A guideline or policy clause."""

    source: str
    title: str
    clause: str
    quote: str | None = None
    url: str | None = None


class FiredRule(_Frozen):
    """A criterion that is met, with the facts it read and where it comes from."""

    id: str
    ruleset: str
    criterion: str | None
    title: Text
    direction: Direction
    urgency: Urgency | None
    matched: dict[str, FactValue]
    derived: tuple[str, ...] = ()  # matched facts that were derived, not recorded
    citations: tuple[Citation, ...]
    note: Text | None = None


class RequiredRecord(_Frozen):
    """A record that must go with the transfer, and what requires it."""

    id: str
    title: Text
    required_by: tuple[str, ...]
    deferrable: bool


class RefusalRequirement(_Frozen):
    """Whether a signed refusal is needed, and what the refusal form must capture."""

    status: Literal["not_applicable", "required_if_declined", "required_now"]
    transfer_proceeds: bool
    record: str | None
    captures: tuple[str, ...]
    capture_labels: dict[str, Text]
    kept_in: Text | None
    citations: tuple[Citation, ...]


class Destination(_Frozen):
    """Where a transfer should go (seed 002 二（四）3, 二（四）4 and 二（四）6).

    ``same_consortium``: the upper hospital of the same consortium; ``specialty_allowed``: a
    specialty disease that may go to a specialty hospital; ``nearest_capable``: directly to the
    nearest hospital able to treat the patient (with ``capability``, e.g. ``pci``, when the
    criterion names one); ``consortium_partner``: a down-transfer to the consortium's partner
    institution, respecting the patient's wishes.
    """

    kind: Literal["same_consortium", "specialty_allowed", "nearest_capable",
                  "consortium_partner"]
    text: Text
    specialty: str | None
    capability: str | None = None
    citations: tuple[Citation, ...]


class FactRef(_Frozen):
    """A fact and its label."""

    fact: str
    label: Text
    derivable_from: tuple[str, ...] = ()  # recording these instead would also answer it


class MissingFact(_Frozen):
    """An unrecorded fact that could change the advice, how, and the rules that need it."""

    fact: str
    label: Text
    effect: Effect
    needed_by: tuple[str, ...]
    derivable_from: tuple[str, ...] = ()


class PossibleEmergency(_Frozen):
    """An emergency criterion that unrecorded facts leave open: check these facts now."""

    rule: str
    ruleset: str
    title: Text
    check: tuple[FactRef, ...]
    citations: tuple[Citation, ...]


class DerivedFact(_Frozen):
    """A fact the rules worked out from recorded facts, and on what authority."""

    fact: str
    label: Text
    value: FactValue
    derived_from: dict[str, FactValue]
    citations: tuple[Citation, ...]
    convention: Text | None


class Reason(_Frozen):
    """A coded explanation of how the direction was reached."""

    code: str
    text: Text


class RulesetRef(_Frozen):
    """A file the decision was made with; for a condition's ruleset, whether it applied.

    ``scope``: ``requested`` (the caller named it), ``applies`` (its ``applies_to`` holds),
    ``unknown`` (not recorded: only emergencies true on the recorded facts count),
    ``not_applicable`` (its scope is false: it did not run). None for facts and policy.
    """

    id: str
    version: str
    sha256: str
    title: Text | None = None
    scope: Scope | None = None


class Decision(_Frozen):
    """What the rules advise for one patient. Advice for a clinician, never an order."""

    direction: Direction
    urgency: Urgency | None
    current_level: Level
    target_level: Level | None
    destination: Destination | None
    reasons: tuple[Reason, ...]
    possible_emergencies: tuple[PossibleEmergency, ...]
    fired: tuple[FiredRule, ...]
    records: tuple[RequiredRecord, ...]
    refusal: RefusalRequirement
    advice: tuple[Text, ...]
    confirm_before_transfer: tuple[MissingFact, ...]
    complete: bool
    missing_facts: tuple[MissingFact, ...]
    undetermined_rules: tuple[str, ...]
    derived_facts: tuple[DerivedFact, ...]
    rulesets: tuple[RulesetRef, ...]
    disclaimer: Text
    _json: str | None = PrivateAttr(default=None)  # assembled by the resolver; same bytes

    def to_json(self, *, indent: int | None = None) -> str:
        """The decision as JSON: byte-identical for the same facts and rulesets.

        Equal to ``model_dump_json(indent=indent)``; the compact form is assembled by the
        resolver from parts serialised once per pattern (a property test checks the bytes).
        """
        if indent is None:
            private = self.__pydantic_private__
            cached = private.get("_json") if private else None
            if cached is not None:
                return str(cached)
        return self.model_dump_json(indent=indent)

    def __eq__(self, other: object) -> bool:
        """Decisions are equal when their fields are (the assembled JSON is not a field)."""
        if not isinstance(other, Decision):
            return NotImplemented
        return self.__dict__ == other.__dict__

    __hash__ = BaseModel.__hash__

    def explain(self, lang: Literal["zh", "en"] = "en") -> str:
        """Readable text for a clinician, in Chinese (``zh``) or English (``en``)."""
        from .explain import explain

        return explain(self, lang)

    @property
    def fired_ids(self) -> tuple[str, ...]:
        """Ids of the rules that fired."""
        return tuple(r.id for r in self.fired)

    @property
    def record_ids(self) -> tuple[str, ...]:
        """Ids of the required records."""
        return tuple(r.id for r in self.records)


_set = object.__setattr__


def construct(cls: type[M], values: dict[str, Any],
              private: dict[str, Any] | None = None) -> M:
    """``cls.model_construct(**values)`` for values that are already valid and complete,
    without its per-call overhead (the decision hot path builds several per patient).

    Every field must be given. ``tests/test_decision.py`` checks the result equals
    ``model_construct`` and serialises to the same bytes, for every decision model.
    """
    obj = cls.__new__(cls)
    _set(obj, "__dict__", values)
    _set(obj, "__pydantic_fields_set__", set(values))
    _set(obj, "__pydantic_extra__", None)
    _set(obj, "__pydantic_private__", private)
    return obj
