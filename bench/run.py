"""Benchmark: decisions per second, latency, load+compile time and memory, per backend.

    python bench/run.py                 # full run (about 2 minutes on 2 cores)
    python bench/run.py --quick         # smaller counts, for a smoke test

Compares, in the same run and on the same synthetic patients (seeded), a full decision
(validate + derive + match + resolve + JSON) on the durable_rules backend and on the Python
backend with *raw* durable_rules matching of the same compiled rules (JSON-encode, assert,
drain, retract; no validation, no decision). Rounds are interleaved and the median is kept.
Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import durable_rules_engine as dre

from referral_rules import Engine, load_rulesets
from referral_rules.compiler import to_durable
from referral_rules.synthetic import patients

ROOT = Path(__file__).resolve().parent.parent


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def raw_matcher(source: str) -> Callable[[dict[str, Any]], set[str]]:
    """durable_rules' C extension driven directly: the floor our engine is compared with."""
    handle = dre.create_ruleset("bench_raw", source)
    init = '{"id":"init","_rr":3}'
    res = dre.assert_fact(handle, init)
    action = dre.start_action_for_state(handle, res[1])
    step = action[1] if action else None
    while step:
        step = dre.complete_and_start_action(handle, res[1])
    dre.retract_fact(handle, init)

    def match(facts: dict[str, Any]) -> set[str]:
        message = json.dumps({"id": "p", "_rr": 1, **facts})
        fired: set[str] = set()
        result = dre.assert_fact(handle, message)
        if result[0] == 0:
            first = dre.start_action_for_state(handle, result[1])
            msg = first[1] if first else None
            while msg:
                fired.update(json.loads(msg))
                msg = dre.complete_and_start_action(handle, result[1])
        dre.retract_fact(handle, message)
        return fired

    return match


def timed(fn: Callable[[Any], Any], inputs: list[Any], n: int) -> tuple[float, list[int]]:
    """Run fn n times over inputs; return (evaluations/s, per-call ns samples)."""
    samples = []
    clock = time.perf_counter_ns
    size = len(inputs)
    start = clock()
    for i in range(n):
        t0 = clock()
        fn(inputs[i % size])
        samples.append(clock() - t0)
    total = clock() - start
    return n / (total / 1e9), samples


def pct(samples: list[int], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts (smoke test)")
    parser.add_argument("--rules", default=str(ROOT / "rulesets"))
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "latest.json"))
    args = parser.parse_args()
    per_round, rounds, long_run = (20_000, 3, 200_000) if args.quick else (100_000, 5, 1_000_000)

    t0 = time.perf_counter()
    bundle = load_rulesets(args.rules)
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    durable = Engine(bundle, "durable")
    t_compile_durable = time.perf_counter() - t0
    t0 = time.perf_counter()
    python = Engine(bundle, "python")
    t_compile_python = time.perf_counter() - t0
    raw = raw_matcher(to_durable(bundle.rules))

    records = list(patients(bundle, 10_000, seed=2026))
    prepared = [durable.prepare(r) for r in records]
    used = {f for r in bundle.rules for f in r.facts}
    raw_inputs = [{k: v for k, v in p.items() if k in used} for p in prepared]

    modes: dict[str, tuple[Callable[[Any], Any], list[Any]]] = {
        "decision (durable_rules backend)": (lambda r: durable.evaluate(r).to_json(), records),
        "decision (python backend)": (lambda r: python.evaluate(r).to_json(), records),
        "raw durable_rules matching": (raw, raw_inputs),
    }
    for fn, inputs in modes.values():  # warm up
        timed(fn, inputs, 2_000)
    rates: dict[str, list[float]] = {m: [] for m in modes}
    lat: dict[str, list[int]] = {m: [] for m in modes}
    for _ in range(rounds):
        for mode, (fn, inputs) in modes.items():
            rate, samples = timed(fn, inputs, per_round)
            rates[mode].append(rate)
            lat[mode].extend(samples)
    memory: dict[str, dict[str, float]] = {}
    for mode, (fn, inputs) in modes.items():
        base = rss_mib()
        timed(fn, inputs, long_run // 10)
        at_100k = rss_mib()
        timed(fn, inputs, long_run - long_run // 10)
        at_1m = rss_mib()
        memory[mode] = {"rss_start_mib": round(base, 1), "rss_after_100k_mib": round(at_100k, 1),
                        "rss_after_1m_mib": round(at_1m, 1),
                        "growth_pct": round(100 * (at_1m - at_100k) / at_100k, 2)}
    durable.close()

    result = {
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(),
                    "processor": platform.processor() or platform.machine()},
        "rules": len(bundle.rules), "rulesets": sorted(bundle.rulesets),
        "load_s": round(t_load, 4), "compile_durable_s": round(t_compile_durable, 4),
        "compile_python_s": round(t_compile_python, 4),
        "evaluations_per_round": per_round, "rounds": rounds, "long_run": long_run,
        "modes": {
            m: {"per_s_median": round(statistics.median(rates[m])),
                "per_s_rounds": [round(r) for r in rates[m]],
                "p50_us": round(pct(lat[m], 0.50), 1), "p99_us": round(pct(lat[m], 0.99), 1),
                **memory[m]}
            for m in modes
        },
    }
    full = result["modes"]["decision (durable_rules backend)"]["per_s_median"]  # type: ignore[index]
    floor = result["modes"]["raw durable_rules matching"]["per_s_median"]  # type: ignore[index]
    result["cost_vs_raw"] = round(floor / full, 2)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")

    print(f"{len(bundle.rules)} rules in {len(bundle.rulesets)} rulesets; load {t_load * 1000:.0f} ms, "
          f"compile durable {t_compile_durable * 1000:.0f} ms, python {t_compile_python * 1000:.0f} ms")
    print("| mode | per second (median) | p50 µs | p99 µs | RSS 100k MiB | RSS 1M MiB | growth |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for m, r in result["modes"].items():  # type: ignore[union-attr]
        print(f"| {m} | {r['per_s_median']:,} | {r['p50_us']} | {r['p99_us']} | "
              f"{r['rss_after_100k_mib']} | {r['rss_after_1m_mib']} | {r['growth_pct']}% |")
    print(f"full decision costs {result['cost_vs_raw']}x raw durable_rules matching")
    return 0


if __name__ == "__main__":
    sys.exit(main())
