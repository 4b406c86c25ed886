"""Vectorised drawing helpers and per-state probabilities for the synthetic population."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

__all__ = ["ACUTE", "BORDERLINE", "DANGER", "GOOD", "STABLE", "SYMPTOM", "Arr", "Bools", "Draw",
           "Flag", "num", "whole"]

Bools = NDArray[np.bool_]
Arr = NDArray[Any]  # numbers, or booleans used as 0/1
STABLE, BORDERLINE, ACUTE = 0, 1, 2  # latent state; for an inpatient STABLE = ready to leave
# P(true) of a rare danger sign / a common symptom, by state (STABLE, BORDERLINE, ACUTE).
DANGER = (0.0006, 0.008, 0.08)
SYMPTOM = (0.002, 0.03, 0.12)
# P(a stability or discharge item holds), by state; inpatients and outpatients alike.
GOOD = (0.97, 0.55, 0.15)


class Flag(Protocol):
    """``flag(name, probs by state, extra, measured)``: put a boolean fact, return it."""

    def __call__(self, name: str, probs: tuple[float, float, float],
                 extra: Arr | float = 0.0, measured: Bools | None = None) -> Bools: ...


class Draw:
    """Draws for ``m`` patients at once and collects the fact columns (``put``)."""

    def __init__(self, rng: np.random.Generator, m: int) -> None:
        self.rng, self.m = rng, m
        self.values: dict[str, NDArray[np.generic]] = {}
        self.measured: dict[str, Bools] = {}

    def u(self) -> NDArray[np.uint16]:
        """Uniform on 0..65535 (fast; resolution 1/65536 is ample for these probabilities)."""
        return np.frombuffer(self.rng.bytes(2 * self.m), dtype="<u2")

    def p(self, prob: float | Arr) -> Bools:
        """True with probability ``prob`` (per row, if an array)."""
        return self.u() < np.multiply(prob, 65536.0)

    def by(self, key: NDArray[np.int64], table: Sequence[Sequence[float]]) -> NDArray[np.int64]:
        """Category index per row, from the probability row ``table[key]``."""
        cum = np.cumsum(np.asarray(table, dtype=np.float64), axis=1) * 65536.0
        u = self.u()
        out: NDArray[np.int64]
        if cum.shape[0] == 1:
            out = np.searchsorted(cum[0, :-1], u, side="right").astype(np.int64)
        else:
            out = (u[:, None] >= cum[key, :-1]).sum(axis=1).astype(np.int64)
        return out

    def normal(self, mean: float | Arr, sd: float | Arr) -> Arr:
        return np.asarray(self.rng.normal(mean, sd, self.m), dtype=np.float64)

    def put(self, name: str, values: NDArray[np.generic] | Arr,
            measured: Bools | None = None) -> None:
        self.values[name] = np.asarray(values)
        self.measured[name] = np.ones(self.m, np.bool_) if measured is None else measured


def num(x: Arr, lo: float, hi: float, digits: int = 0) -> Arr:
    """Rounded to ``digits`` and clipped to [lo, hi]."""
    return np.clip(np.round(x, digits), lo, hi)


def whole(x: Arr, lo: float, hi: float) -> NDArray[np.int64]:
    """Rounded to an integer and clipped to [lo, hi]."""
    return np.clip(np.rint(x), lo, hi).astype(np.int64)
