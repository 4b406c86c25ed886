"""Seeded synthetic patients for tests and benchmarks (no real patient data anywhere).

Values concentrate on and around the thresholds the rules use, so generated patients exercise
every boundary; each fact is present with a given probability, so missing facts are common.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from .bind import Atom, facts_of, thresholds_of
from .ir import Bundle

__all__ = ["patients"]


def _interesting(bundle: Bundle) -> dict[str, list[float]]:
    out: dict[str, set[float]] = {}
    exprs = [r.expr for r in bundle.rules] + [rs.scope for rs in bundle.rulesets.values()]
    exprs += [p.when for d in bundle.derived for p in d.pieces]
    for expr in exprs:
        atoms: list[Atom] = thresholds_of(expr)
        for atom in atoms:
            t = atom.number
            step = 1.0 if t.is_integer() else 0.1
            out.setdefault(atom.fact, set()).update({t - step, t, t + step})
    return {k: sorted(v) for k, v in out.items()}


def patients(
    bundle: Bundle, n: int, seed: int = 0, present: float = 0.5
) -> Iterator[dict[str, Any]]:
    """``n`` valid patient records for ``bundle``'s vocabulary, reproducible from ``seed``."""
    rng = random.Random(seed)
    vocab = bundle.vocabulary
    near = _interesting(bundle)
    used = sorted({f for r in bundle.rules for f in r.facts}
                  | {f for d in bundle.derived for f in (d.fact, *d.inputs)}
                  | {f for rs in bundle.rulesets.values() for f in facts_of(rs.scope)}
                  | {"accepts_transfer", "arrived_by_ambulance_120", "mass_casualty_event"})
    used = [f for f in used if f in vocab.facts]
    for _ in range(n):
        record: dict[str, Any] = {"care_level": rng.choice(["primary", "secondary", "tertiary"])}
        for name in used:
            if name == "care_level" or rng.random() > present:
                continue
            spec = vocab.facts[name]
            if spec.type == "boolean":
                record[name] = rng.random() < 0.3
            elif spec.type == "enum":
                record[name] = rng.choice(spec.values or [])
            else:
                lo, hi = spec.range or (0.0, 100.0)
                candidates = [v for v in near.get(name, []) if lo <= v <= hi]
                if candidates and rng.random() < 0.7:
                    value = rng.choice(candidates)
                else:
                    value = rng.uniform(lo, hi)
                if spec.type == "integer":
                    record[name] = round(value)
                else:
                    record[name] = round(value, 1)
        yield record
