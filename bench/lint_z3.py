"""Does an SMT solver earn its place in ``referral_rules.lint``? A measurement, not a test.

    pip install z3-solver          # only for this script; not a project dependency
    python bench/lint_z3.py

``z3_satisfiable`` decides the same questions as the hand-written interval/DNF analysis
(``lint.satisfiable``) over the same conditions and vocabulary, encoded for z3: per fact a
presence Bool and a value (Real for number, Int for integer, Bool for boolean, an Int index for
enum), the plausible range or allowed values holding when the fact is present, an atom on an
absent fact false. Both engines answer exactly the same list of questions, built as the linter
builds them from the bundled rulesets:

    (a) is each rule's condition satisfiable;
    (b) is each atom of a rule's condition satisfiable on its own;
    (c) for each ordered pair of rules of one ruleset with the same (direction, urgency,
        target_level): is All(A, not-fired(B)) satisfiable (unsatisfiable = A implies B);
    (d) for each (down, up|stay) pair of one ruleset: is All(A, B) satisfiable.

These are supersets of what ``lint`` asks (it skips (b) for never-true rules, (c) unless A's
records are among B's, (d) unless both rules test a fact differently and no ``may_overlap``); the
subset it does ask is counted too. Every example either engine returns is checked with
``compiler.kleene(expr, example) is True``. Timing: 3 repetitions, median total kept.
"""

from __future__ import annotations

import importlib.metadata
import operator
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

# z3 ships no stubs, and is not a project dependency: CI type-checks bench/ without it.
import z3  # type: ignore[import-untyped, import-not-found, unused-ignore]

from referral_rules.bind import All, AnyOf, Atom, Const, Expr, FactInfo
from referral_rules.compiler import kleene
from referral_rules.ir import Bundle
from referral_rules.link import load_rulesets
from referral_rules.lint import MAX_TERMS, _atoms_by_fact, _not_fired, _TooComplex, satisfiable

ROOT = Path(__file__).resolve().parent.parent
REPEAT = 3

Engine = Callable[[Expr, dict[str, FactInfo]], "dict[str, Any] | None"]


# --- the z3 encoding ---------------------------------------------------------------------------

def _num(value: Any) -> Fraction:
    """A numeric constant as the exact rational Python compares with (0.1 is the float 0.1)."""
    return Fraction(value)


_CMP: dict[str, Callable[[Any, Any], Any]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "==": operator.eq, "!=": operator.ne,
}


class _Encoder:
    """z3 terms for the facts one expression reads, made on first use."""

    def __init__(self, facts: dict[str, FactInfo]) -> None:
        self.facts = facts
        self.present: dict[str, Any] = {}
        self.value: dict[str, Any] = {}
        self.domain: list[Any] = []

    def fact(self, name: str) -> tuple[Any, Any, FactInfo]:
        info = self.facts[name]
        if name not in self.present:
            p = self.present[name] = z3.Bool(f"{name}?")
            if info.type == "number":
                v = z3.Real(name)
            elif info.type == "integer":
                v = z3.Int(name)
            elif info.type == "boolean":
                v = z3.Bool(name)
            else:  # enum: the index of the value in info.values
                v = z3.Int(name)
                self.domain.append(z3.Implies(p, z3.And(v >= 0, v < len(info.values))))
            self.value[name] = v
            if info.type in ("number", "integer") and info.range is not None:
                lo, hi = (_num(x) for x in info.range)
                x = v if info.type == "number" else z3.ToReal(v)
                self.domain.append(z3.Implies(p, z3.And(x >= z3.RealVal(lo),
                                                        x <= z3.RealVal(hi))))
        return self.present[name], self.value[name], info

    def const(self, info: FactInfo, var: Any, c: Any) -> tuple[Any, Any]:
        """The variable and the constant, as z3 terms of one sort."""
        if info.type == "enum":
            return var, z3.IntVal(info.values.index(c))
        if info.type == "boolean":
            return var, z3.BoolVal(bool(c))
        q = _num(c)
        if info.type == "integer":
            if q.denominator == 1:
                return var, z3.IntVal(q.numerator)
            return z3.ToReal(var), z3.RealVal(q)
        return var, z3.RealVal(q)

    def expr(self, e: Expr) -> Any:
        if isinstance(e, Const):
            return z3.BoolVal(e.value)
        if isinstance(e, All):
            return z3.And(*(self.expr(i) for i in e.items)) if e.items else z3.BoolVal(True)
        if isinstance(e, AnyOf):
            return z3.Or(*(self.expr(i) for i in e.items)) if e.items else z3.BoolVal(False)
        p, v, info = self.fact(e.fact)
        op = e.op
        if op == "present":
            return p
        if op == "absent":
            return z3.Not(p)
        if op in ("in", "not_in"):
            assert isinstance(e.value, tuple)
            eqs = [x == c for x, c in (self.const(info, v, c) for c in e.value)]
            test = z3.Or(*eqs) if op == "in" else z3.Not(z3.Or(*eqs))
        else:
            x, c = self.const(info, v, e.value)
            test = _CMP[op](x, c)
        return z3.And(p, test)  # an atom on an absent fact is false

    def example(self, model: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, p in self.present.items():
            if not z3.is_true(model.eval(p, model_completion=True)):
                continue
            info = self.facts[name]
            val = model.eval(self.value[name], model_completion=True)
            if info.type == "boolean":
                out[name] = z3.is_true(val)
            elif info.type == "enum":
                out[name] = info.values[val.as_long()]
            elif info.type == "integer":
                out[name] = val.as_long()
            else:
                q = val.as_fraction()
                out[name] = q.numerator if q.denominator == 1 else float(q)
        return out


def z3_satisfiable(expr: Expr, facts: dict[str, FactInfo]) -> dict[str, Any] | None:
    """An example record for which ``expr`` is true, or None if it can never be true (z3)."""
    enc = _Encoder(facts)
    goal = enc.expr(expr)
    solver = z3.Solver()
    solver.add(goal, *enc.domain)
    result = solver.check()
    if result == z3.unsat:
        return None
    if result != z3.sat:  # pragma: no cover - linear arithmetic is decidable
        msg = f"z3 answered {result} ({solver.reason_unknown()})"
        raise RuntimeError(msg)
    return enc.example(solver.model())


def hand_satisfiable(expr: Expr, facts: dict[str, FactInfo]) -> dict[str, Any] | None:
    return satisfiable(expr, facts)


# --- the questions -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Question:
    kind: str  # a b c d
    label: str
    expr: Expr
    linter_asks: bool


def _atoms(e: Expr) -> Iterator[Atom]:
    if isinstance(e, Atom):
        yield e
    elif isinstance(e, All | AnyOf):
        for item in e.items:
            yield from _atoms(item)


def facts_of(bundle: Bundle) -> dict[str, FactInfo]:
    facts = dict(bundle.vocabulary.info)
    for rs in bundle.rulesets.values():
        for c in rs.computed:
            facts[c.name] = c.info
    return facts


def questions(bundle: Bundle, facts: dict[str, FactInfo]) -> list[Question]:
    out: list[Question] = []
    for rule in bundle.rules:
        out.append(Question("a", rule.id, rule.expr, True))
    for rule in bundle.rules:
        try:
            sat = satisfiable(rule.expr, facts) is not None
        except _TooComplex:
            sat = False
        for atom in sorted(set(_atoms(rule.expr)), key=repr):
            label = f"{rule.id}: {atom.fact} {atom.op} {atom.value!r}"
            out.append(Question("b", label, atom, sat))
    may_overlap = {r.id: tuple(r.may_overlap) for rs in bundle.rulesets.values()
                   if rs.spec is not None for r in rs.spec.rules}
    for rs in bundle.rulesets.values():
        for a in rs.rules:
            for b in rs.rules:
                if a is b:
                    continue
                key_a = (a.direction, a.urgency, a.target_level)
                if key_a == (b.direction, b.urgency, b.target_level):
                    asks = set(a.records) <= set(b.records)
                    out.append(Question("c", f"{a.id} implies {b.id}?",
                                        All((a.expr, _not_fired(b.expr))), asks))
                if a.direction == "down" and b.direction in ("up", "stay"):
                    mine, theirs = _atoms_by_fact(a.expr), _atoms_by_fact(b.expr)
                    shared = {f for f in set(mine) & set(theirs) - {"care_level"}
                              if mine[f] != theirs[f]}
                    asks = bool(shared) and b.id not in may_overlap.get(a.id, ())
                    out.append(Question("d", f"{a.id} and {b.id} together?",
                                        All((a.expr, b.expr)), asks))
    return out


# --- running and timing ------------------------------------------------------------------------

_GAVE_UP = "gave up"


def answer(engine: Engine, q: Question, facts: dict[str, FactInfo]) -> dict[str, Any] | str | None:
    try:
        return engine(q.expr, facts)
    except _TooComplex:
        return _GAVE_UP


def timed(engine: Engine, qs: list[Question], facts: dict[str, FactInfo]) -> float:
    """Median over REPEAT runs of the seconds to answer every question in ``qs``."""
    totals = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        for q in qs:
            answer(engine, q, facts)
        totals.append(time.perf_counter() - start)
    return statistics.median(totals)


def z3_import_seconds() -> float:
    """Median of three cold ``import z3`` in a fresh interpreter."""
    code = "import time; t = time.perf_counter(); import z3; print(time.perf_counter() - t)"
    runs = [float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                 text=True).stdout) for _ in range(3)]
    return statistics.median(runs)


def wheel_mib() -> tuple[str, float]:
    dist = importlib.metadata.distribution("z3-solver")
    size = sum(Path(str(f.locate())).stat().st_size for f in dist.files or ()
               if Path(str(f.locate())).is_file())
    return dist.version, size / 2**20


def main() -> int:
    bundle = load_rulesets(ROOT / "rulesets")
    facts = facts_of(bundle)
    qs = questions(bundle, facts)
    engines: dict[str, Engine] = {"hand-written (lint.satisfiable)": hand_satisfiable,
                                  "z3": z3_satisfiable}
    kinds = sorted({q.kind for q in qs})

    answers: dict[str, list[dict[str, Any] | str | None]] = {}
    verified: dict[str, tuple[int, int]] = {}
    for name, engine in engines.items():
        answers[name] = [answer(engine, q, facts) for q in qs]
        examples = [(q, a) for q, a in zip(qs, answers[name], strict=True) if isinstance(a, dict)]
        good = sum(kleene(q.expr, a) is True for q, a in examples)
        verified[name] = (good, len(examples))
        for q, a in examples:
            if kleene(q.expr, a) is not True:
                print(f"BAD EXAMPLE from {name}: ({q.kind}) {q.label}: {a}")

    hand, smt = (answers[n] for n in engines)
    disagreements = []
    gave_up = 0
    for q, h, s in zip(qs, hand, smt, strict=True):
        if h == _GAVE_UP:
            gave_up += 1
            continue
        if (h is None) != (s is None):
            disagreements.append((q, h, s))
    for q, h, s in disagreements:
        sat_side, example = ("hand-written", h) if h is not None else ("z3", s)
        ok = isinstance(example, dict) and kleene(q.expr, example) is True
        right = sat_side if ok else ("z3" if sat_side == "hand-written" else "hand-written")
        print(f"DISAGREE ({q.kind}) {q.label}: hand-written={h!r} z3={s!r} -> {right} is right "
              f"({sat_side}'s example {'satisfies' if ok else 'does NOT satisfy'} the condition)")

    seconds = {name: {k: timed(engine, [q for q in qs if q.kind == k], facts) for k in kinds}
               for name, engine in engines.items()}
    imp = z3_import_seconds()
    version, mib = wheel_mib()

    hard = [(q, s) for q, h, s in zip(qs, hand, smt, strict=True) if h == _GAVE_UP]
    hard_seconds = {name: timed(engine, [q for q, _ in hard], facts)
                    for name, engine in engines.items()}

    per_kind = {k: sum(q.kind == k for q in qs) for k in kinds}
    asked = sum(q.linter_asks for q in qs)
    unsat = sum(s is None for s in smt)
    print(f"{len(bundle.rules)} rules in {len(bundle.rulesets)} rulesets, {len(facts)} facts; "
          f"{len(qs)} questions (" + ", ".join(f"{k}: {n}" for k, n in per_kind.items())
          + f"), {unsat} unsatisfiable; the linter itself asks {asked} of them; "
          f"the hand-written analysis gave up on {gave_up}.")
    print(f"z3-solver {version}, Python {sys.version.split()[0]}; median of {REPEAT} runs.\n")
    print("| engine | questions | total s | mean µs/question | disagreements | examples verified |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name in engines:
        total = sum(seconds[name].values())
        good, made = verified[name]
        print(f"| {name} | {len(qs)} | {total:.3f} | {total / len(qs) * 1e6:.1f} | "
              f"{len(disagreements)} | {good}/{made} |")
    print()
    print("| engine | " + " | ".join(f"({k}) µs/q" for k in kinds) + " |")
    print("| --- | " + " | ".join("---:" for _ in kinds) + " |")
    for name in engines:
        cells = " | ".join(f"{seconds[name][k] / per_kind[k] * 1e6:.1f}" for k in kinds)
        print(f"| {name} | {cells} |")
    print()
    if hard:
        n_sat = sum(s is not None for _, s in hard)
        print(f"The hand-written analysis gave up (more than {MAX_TERMS} DNF terms) on {len(hard)} "
              f"questions ({', '.join(sorted({q.kind for q, _ in hard}))}), spending "
              f"{hard_seconds[next(iter(engines))]:.3f} s of its total on them; z3 answered them "
              f"in {hard_seconds['z3']:.3f} s: {n_sat} satisfiable, {len(hard) - n_sat} "
              f"unsatisfiable (the linter's fallback, 'not redundant' / 'no conflict', is "
              f"{'right on all' if n_sat == len(hard) else 'WRONG on some'}).")
        for q, s in hard:
            print(f"  ({q.kind}) {q.label}: z3 {'satisfiable' if s is not None else 'UNSAT'}")
        print()
    print(f"z3 cold import: {imp * 1e3:.0f} ms; installed z3-solver: {mib:.1f} MiB")
    return 1 if disagreements or any(g != m for g, m in verified.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
