"""The linked, engine-free form of the rules, read by the compiler, both backends and resolve.

Everything here is plain frozen data. The engine only ever says *which* rules matched; titles,
citations, records and advice stay here, keyed by rule id.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .bind import Const, Expr, FactInfo
from .conditions import Arith, Name
from .model import Case, Expect, PolicyFile, RulesetFile, Text
from .vocabulary import Vocabulary

__all__ = [
    "Bundle",
    "CaseSpec",
    "CitationRef",
    "CompiledRule",
    "Computed",
    "DerivePiece",
    "Derived",
    "Policy",
    "RulesetIR",
]


@dataclass(frozen=True)
class CitationRef:
    """A citation with its source resolved: ``source`` id, title, clause, quote, url."""

    source: str
    title: str
    clause: str
    quote: str | None = None
    url: str | None = None
    file: str | None = None


@dataclass(frozen=True)
class CompiledRule:
    """One rule, linked: its condition in negation normal form and everything it says."""

    id: str
    ruleset: str
    index: int  # position in the bundle; the engine's name for the rule
    title: Text
    expr: Expr
    facts: tuple[str, ...]
    direction: str
    urgency: str | None
    target_level: str | None
    records: tuple[str, ...]
    citations: tuple[CitationRef, ...]
    advice: tuple[Text, ...]
    specialty: str | None
    criterion: str | None
    note: Text | None
    file: str
    line: int
    capability: str | None = None

    @property
    def emergency(self) -> bool:
        """An up-transfer with emergency urgency."""
        return self.direction == "up" and self.urgency == "emergency"


@dataclass(frozen=True)
class Computed:
    """A derived value worked out before matching (e.g. a HEART score from its components)."""

    name: str
    ruleset: str
    info: FactInfo
    arith: Arith | Name | float | int | None
    pieces: tuple[tuple[Expr, float | int], ...]
    otherwise: str | None
    inputs: tuple[str, ...]


@dataclass(frozen=True)
class DerivePiece:
    """One piece of a derived fact: when ``when`` is true, ``value`` (or ``arith`` worked out)."""

    when: Expr
    value: int | float | str | bool | None
    arith: Arith | Name | float | int | None
    citations: tuple[CitationRef, ...]
    convention: Text | None
    inputs: tuple[str, ...]


@dataclass(frozen=True)
class Derived:
    """A vocabulary fact that follows from other facts when it is not recorded.

    The first piece whose ``when`` is true gives the value; a piece whose ``when`` is unknown
    leaves the fact unknown (a later piece cannot know it would not have applied).
    """

    fact: str
    info: FactInfo
    pieces: tuple[DerivePiece, ...]
    inputs: tuple[str, ...]
    file: str
    line: int


@dataclass(frozen=True)
class CaseSpec:
    """A test case with where it is written."""

    case: Case
    expect: Expect
    conditions: tuple[str, ...] | None  # None: every ruleset, each where its scope holds
    file: str
    line: int
    index: int


@dataclass(frozen=True)
class RulesetIR:
    """One condition's ruleset, linked."""

    id: str
    version: str
    sha256: str
    file: str
    title: Text
    specialty: str | None
    rules: tuple[CompiledRule, ...]
    computed: tuple[Computed, ...]
    cases: tuple[CaseSpec, ...]
    scope: Expr = field(default_factory=lambda: Const(True))  # applies_to, bound
    thresholds: dict[str, tuple[tuple[str, str, float], ...]] = field(default_factory=dict)
    values: dict[str, int | float | str | bool] = field(default_factory=dict)
    spec: RulesetFile | None = None  # the validated file, for generated documentation


@dataclass(frozen=True)
class Policy:
    """The cross-cutting policy, linked."""

    spec: PolicyFile
    sha256: str
    file: str
    bypass: Expr
    citations: dict[str, tuple[CitationRef, ...]]  # also "destination.down"


@dataclass(frozen=True)
class Bundle:
    """A complete, valid rules directory: vocabulary, policy and rulesets."""

    vocabulary: Vocabulary
    vocabulary_sha256: str
    policy: Policy
    rulesets: dict[str, RulesetIR]
    rules: tuple[CompiledRule, ...]
    cases: tuple[CaseSpec, ...]
    directory: str
    derived: tuple[Derived, ...] = ()  # in dependency order
