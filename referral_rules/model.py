"""The YAML-facing file formats, as strict frozen pydantic models.

These models are the single source of the published JSON Schemas (``referral-rules schema``).
They check shape and types only; names inside conditions, citations and record ids are checked
by ``loader.py`` once every file is read.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "Block",
    "Case",
    "CasesFile",
    "Citation",
    "Definition",
    "Derivation",
    "Expect",
    "FactSpec",
    "NotEncoded",
    "PolicyFile",
    "Rule",
    "RulesetFile",
    "Source",
    "Text",
    "VocabularyFile",
]

Direction = Literal["up", "down", "stay"]
Urgency = Literal["emergency", "urgent", "routine"]
Level = Literal["primary", "secondary", "tertiary"]
Refusal = Literal["not_applicable", "required_if_declined", "required_now"]
Specialty = Literal["infectious", "psychiatric", "paediatric", "oncology", "cardiovascular"]
FactName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
RuleId = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]*$", max_length=64)]
Version = Annotated[str, Field(min_length=1, max_length=32)]
Scalar = int | float | str | bool


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class Text(_Strict):
    """Text in Chinese and English."""

    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


class Citation(_Strict):
    """Where a rule or threshold comes from: a declared source and the clause in it."""

    source: str = Field(description="Id of a source declared under `sources` of the same file")
    clause: str = Field(min_length=1, description="Clause, section, table row or item")
    quote: str | None = Field(None, description="The words of the source, where useful")


Citations = Citation | list[Citation]


class Source(_Strict):
    """A source document."""

    title: str = Field(min_length=1)
    publisher: str | None = None
    year: int | None = None
    url: str | None = None
    file: str | None = Field(None, description="A file in shared/seeds, for project documents")
    note: str | None = None


# --- vocabulary ---------------------------------------------------------------------------------


class Derivation(_Strict):
    """One piece of a derived fact: when ``when`` is true, the fact is ``value`` (or ``compute``).

    Each piece cites its source, or says why it is our convention (``convention``).
    """

    when: Condition
    value: Scalar | None = Field(None, description="The fact's value when `when` is true")
    compute: str | None = Field(None, description="Arithmetic over number facts, e.g. "
                                                  "`0.09148 * hba1c_mmol_mol + 2.152`")
    citation: Citations | None = None
    convention: Text | None = Field(
        None, description="Why this derivation is our convention when no source states it")
    note: str | Text | None = None


class FactSpec(_Strict):
    """One fact: its type, unit, plausible range or allowed values, and what it means."""

    type: Literal["number", "integer", "boolean", "enum"]
    unit: str | None = None
    range: list[float] | None = Field(
        None, min_length=2, max_length=2,
        description="Plausible values [min, max], both included (not a clinical threshold)",
    )
    values: list[str] | None = Field(None, description="Allowed values of an enum fact")
    required: bool = False
    informational: bool = Field(
        False, description="Recorded for context; no rule reads it on purpose (lint skips it)")
    zh: str = Field(min_length=1, description="Description in Chinese")
    en: str = Field(min_length=1, description="Description in English")
    note: str | None = None
    derive: list[Derivation] | None = Field(
        None, description="How the fact follows from other facts when it is not recorded: the "
                          "first piece whose `when` is true gives the value; a recorded value "
                          "always wins")


class VocabularyFile(_Strict):
    """``facts.yaml``: the fact vocabulary."""

    version: Version
    sources: dict[str, Source] = Field(
        default_factory=dict, description="Sources cited by derivations (`derive:`)")
    facts: dict[FactName, FactSpec]


# --- rulesets -----------------------------------------------------------------------------------

class Block(_Strict):
    """``all:`` / ``any:`` of a list of conditions, or ``not:`` one condition; exactly one key."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, populate_by_name=True)
    all: list[Condition] | None = None
    any: list[Condition] | None = None
    not_: Condition | None = Field(None, alias="not")

    @model_validator(mode="after")
    def _one_key(self) -> Block:
        given = [k for k in ("all", "any", "not_") if getattr(self, k) is not None]
        if len(given) != 1:
            msg = "a condition block has exactly one of 'all', 'any', 'not'"
            raise ValueError(msg)
        return self


Condition = str | Block


class Piece(_Strict):
    """One piece of a piecewise computed value: the first piece whose ``when`` is true wins."""

    when: Condition
    value: int | float


class Definition(_Strict):
    """A named threshold (``value``), a named condition (``when``) or a computed value."""

    value: Scalar | None = None
    when: Condition | None = None
    compute: str | list[Piece] | None = None
    otherwise: str | None = Field(None, description="A fact used when `compute` is unknown")
    type: Literal["number", "integer"] | None = None
    unit: str | None = None
    range: list[float] | None = Field(None, min_length=2, max_length=2)
    citation: Citations | None = None
    note: str | Text | None = None


class Rule(_Strict):
    """One referral criterion."""

    id: RuleId
    criterion: str | None = Field(None, description="Criterion id in shared/criteria.md")
    title: Text
    when: Condition
    direction: Direction
    urgency: Urgency | None = None
    target_level: Level | None = None
    records: list[str] = Field(default_factory=list)
    citation: Citations
    advice: list[Text] = Field(default_factory=list)
    specialty: Specialty | None = None
    capability: str | None = Field(
        None, description="A capability the destination must have (declared under "
                          "`destination.capabilities` in policy.yaml, e.g. `pci`): the advice "
                          "names the nearest hospital that has it")
    may_overlap: list[str] = Field(
        default_factory=list,
        description="Rules this (down) rule may fire together with on purpose, leaving the "
                    "combination order to decide; `referral-rules lint` does not warn about them",
    )
    note: str | Text | None = None


class Expect(_Strict):
    """What a test case expects; every key given is checked (``urgency: null`` too)."""

    direction: Direction | None = None
    urgency: Urgency | None = Field(None, description="null: no urgency")
    target_level: Level | None = None
    fired: list[str] | None = None
    not_fired: list[str] | None = None
    records: list[str] | None = None
    deferrable: list[str] | None = None
    refusal: Refusal | None = None
    complete: bool | None = None
    missing: list[str] | None = None
    confirm: list[str] | None = Field(
        None, description="Facts the confirm-before-transfer checklist must list (exactly)")
    possible_emergencies: list[str] | None = Field(
        None, description="Rules the possible-emergency alerts must name (exactly)")
    derived: dict[str, Scalar] | None = Field(
        None, description="Derived facts and the values they must have taken")
    destination: Literal["same_consortium", "specialty_allowed", "nearest_capable",
                         "consortium_partner"] | None = None


class Case(_Strict):
    """A test case: facts and what the decision must say."""

    name: str = Field(min_length=1)
    criterion: str | None = None
    conditions: list[str] | Literal["all"] | None = Field(
        None, description="Rulesets to evaluate, each taken as applying to the patient; `all`: "
                          "every loaded ruleset, each only where its `applies_to` scope holds "
                          "(as the library, the service and batch do by default); default: the "
                          "file's own ruleset"
    )
    facts: dict[str, Scalar | None]
    expect: Expect


class NotEncoded(_Strict):
    """A criterion or threshold deliberately left out, and why (listed in the generated docs)."""

    item: Text
    reason: Text
    criterion: str | None = None


class RulesetFile(_Strict):
    """``<condition>.yaml``: one condition's referral rules and their test cases."""

    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    version: Version
    title: Text
    specialty: Specialty | None = None
    applies_to: Condition = Field(
        "true",
        description="Whom the ruleset applies to (its scope), e.g. `has_hypertension or "
                    "bp_raised`. Without explicit conditions, a ruleset whose scope is false "
                    "does not run, and one whose scope is unknown only raises emergencies that "
                    "are true on the recorded facts. Default `true`: every patient "
                    "(`referral-rules lint` warns)")
    sources: dict[str, Source]
    definitions: dict[FactName, Definition] = Field(default_factory=dict)
    rules: list[Rule] = Field(min_length=1)
    cases: list[Case] = Field(default_factory=list)
    not_encoded: list[NotEncoded] = Field(
        default_factory=list,
        description="Criteria or thresholds left out on purpose (e.g. not sourced), with why",
    )
    note: str | Text | None = None


class CasesFile(_Strict):
    """A file of cases only (cross-condition cases), evaluated against the listed rulesets."""

    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    title: Text
    cases: list[Case] = Field(min_length=1)


# --- policy -------------------------------------------------------------------------------------


class RecordSpec(_Strict):
    """A record that may have to go with a transfer."""

    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)
    citation: Citations | None = None


class DirectionRecords(_Strict):
    records: list[str]
    citation: Citations


class Bypass(_Strict):
    when: str
    deferrable_records: list[str]
    destination: Text
    citation: Citations


class RefusalPolicy(_Strict):
    applies_to: list[Literal["up", "down"]]
    record: str
    captures: dict[str, Text]
    kept_in: Text
    citation: Citations


class DownDestination(_Strict):
    text: Text
    citation: Citations


class DestinationPolicy(_Strict):
    default: Text
    specialty: Text
    specialty_exceptions: list[Specialty]
    citation: Citations
    down: DownDestination | None = Field(
        None, description="Where a down-transfer should go (e.g. the consortium partner)")
    capabilities: dict[FactName, Text] = Field(
        default_factory=dict,
        description="Capabilities a rule may require of its destination (`capability:`), each "
                    "with the destination text, e.g. pci: the nearest PCI-capable hospital")


class PolicyFile(_Strict):
    """``policy.yaml``: records, emergency bypass, refusal, destination, combination order."""

    id: Literal["policy"]
    version: Version
    title: Text
    sources: dict[str, Source]
    records: dict[FactName, RecordSpec]
    direction_records: dict[Literal["up", "down"], DirectionRecords]
    emergency_bypass: Bypass
    refusal: RefusalPolicy
    destination: DestinationPolicy
    combination: list[Literal["emergency", "up", "stay", "down"]]
