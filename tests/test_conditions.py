"""The condition language: parsing, precedence, binding, and errors with offsets."""

from __future__ import annotations

import pytest

from referral_rules.bind import All, AnyOf, Atom, BindError, Const, FactInfo, Scope, bind
from referral_rules.conditions import ConditionSyntaxError, parse_condition

FACTS = {
    "sbp": FactInfo("number", unit="mmHg", range=(40, 300)),
    "dbp": FactInfo("number", unit="mmHg", range=(20, 200)),
    "pregnant": FactInfo("boolean"),
    "care_level": FactInfo("enum", ("primary", "secondary", "tertiary")),
}
VALUES = {"severe_sbp": 180}


def scope(**conditions: str) -> Scope:
    def named(name: str) -> Atom | All | AnyOf | Const | None:
        text = conditions.get(name)
        return None if text is None else bind(parse_condition(text), scope(**conditions))

    return Scope(FACTS, VALUES, named)


def b(text: str, **conditions: str) -> object:
    return bind(parse_condition(text), scope(**conditions))


def test_comparison_and_or_precedence() -> None:
    """`and` binds tighter than `or`."""
    assert b("sbp >= 180 or dbp >= 110 and pregnant") == AnyOf((
        Atom("sbp", ">=", 180),
        All((Atom("dbp", ">=", 110), Atom("pregnant", "==", True))),
    ))


def test_not_is_pushed_into_atoms() -> None:
    """Negation normal form: `not (a or b)` is `not a and not b`, operators flipped."""
    assert b("not (sbp >= 140 or dbp >= 90)") == All((Atom("sbp", "<", 140),
                                                      Atom("dbp", "<", 90)))
    assert b("not pregnant") == Atom("pregnant", "!=", True)


def test_between_is_inclusive() -> None:
    assert b("sbp between 140 and 179") == All((Atom("sbp", ">=", 140), Atom("sbp", "<=", 179)))


def test_membership_with_bare_enum_values() -> None:
    assert b("care_level in [secondary, primary]") == Atom(
        "care_level", "in", ("primary", "secondary"))
    assert b("care_level not in [tertiary]") == Atom("care_level", "not_in", ("tertiary",))


def test_presence_and_unicode_operators() -> None:
    assert b("sbp is present") == Atom("sbp", "present")
    assert b("not sbp is absent") == Atom("sbp", "present")
    assert b("sbp ≥ severe_sbp") == Atom("sbp", ">=", 180)
    assert b("dbp ≤ 90") == Atom("dbp", "<=", 90)


def test_named_condition_expands() -> None:
    assert b("not high", high="sbp >= 140") == Atom("sbp", "<", 140)


@pytest.mark.parametrize(
    ("text", "offset", "code", "hint"),
    [
        ("sbp => 180", 4, "unknown-operator", "did you mean '>='?"),
        ("sbp = 180", 4, "unknown-operator", "did you mean '=='?"),
        ("sbp gte 180", 4, "unknown-operator", "did you mean '>='?"),
        ("sbp 180", 4, "unknown-operator", None),
        ("sbp >= 180 AND dbp >= 110", 11, "syntax", "write 'and' in lower case"),
        ("(sbp >= 180", 11, "syntax", None),
        ("", 0, "syntax", None),
    ],
)
def test_syntax_errors_have_offsets_and_codes(
    text: str, offset: int, code: str, hint: str | None
) -> None:
    with pytest.raises(ConditionSyntaxError) as info:
        parse_condition(text)
    assert info.value.offset == offset
    assert info.value.code == code
    if hint:
        assert info.value.suggestion == hint


@pytest.mark.parametrize(
    ("text", "offset", "code", "hint"),
    [
        ("sbpp >= 180", 0, "unknown-fact", "did you mean 'sbp'?"),
        ("sbp >= 'high'", 0, "type-mismatch", None),
        ("pregnant >= 1", 0, "type-mismatch", None),
        ("care_level == primry", 14, "unknown-value", "did you mean 'primary'?"),
        ("sbp >= severe_sbpp", 7, "unknown-name", "did you mean 'severe_sbp'?"),
        ("care_level >= primary", 0, "type-mismatch", None),
        ("sbp", 0, "type-mismatch", None),
        ("severe_sbp >= 1", 0, "type-mismatch", None),
        ("sbp >= dbp", 7, "type-mismatch", None),
    ],
)
def test_bind_errors_name_the_problem(text: str, offset: int, code: str, hint: str | None) -> None:
    with pytest.raises(BindError) as info:
        b(text)
    assert info.value.offset == offset
    assert info.value.code == code
    if hint:
        assert info.value.suggestion == hint


def test_nothing_is_evaluated_as_python() -> None:
    """Python syntax is not part of the language."""
    for text in ("__import__('os')", "sbp >= 1; import os", "sbp.__class__"):
        with pytest.raises((ConditionSyntaxError, BindError)):
            b(text)
