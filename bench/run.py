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
import os
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
from referral_rules.engine import durable_json
from referral_rules.synthetic import patients

ROOT = Path(__file__).resolve().parent.parent


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


_RAW = 0


def raw_matcher(source: str) -> Callable[[dict[str, Any]], set[str]]:
    """durable_rules' C extension driven as directly and cheaply as it can be: JSON-encode,
    assert, drain (reading only each action's rule name), retract by id. The floor our engine
    is compared with; no validation, no derivation, no decision."""
    global _RAW
    _RAW += 1
    handle = dre.create_ruleset(f"bench_raw_{_RAW}", source)
    init = '{"id":"init","_rr":3}'
    res = dre.assert_fact(handle, init)
    action = dre.start_action_for_state(handle, res[1])
    step = action[1] if action else None
    while step:
        step = dre.complete_and_start_action(handle, res[1])
    dre.retract_fact(handle, '{"id":"init"}')
    encode = json.JSONEncoder(separators=(",", ":")).encode

    def match(facts: dict[str, Any]) -> set[str]:
        message = '{"id":"p","_rr":1,' + encode(facts)[1:]
        fired: set[str] = set()
        result = dre.assert_fact(handle, message)
        if result[0] == 0:
            first = dre.start_action_for_state(handle, result[1])
            msg = first[1] if first else None
            while msg:
                fired.add(msg[2:msg.index('"', 2)])
                msg = dre.complete_and_start_action(handle, result[1])
        dre.retract_fact(handle, '{"id":"p"}')
        return fired

    return match


def definite_only(rules: list[Any]) -> str:
    """The rules' own conditions alone (no negations): what matching cost before durable_rules
    also had to tell false from undetermined."""
    full = json.loads(to_durable(rules))
    return json.dumps({k: v for k, v in full.items() if not k.startswith("f")})


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


WORKLOADS = {
    # name: (conditions, probability that each of those rulesets' facts is present,
    #        number of distinct patients cycled through)
    "hypertension, 200k distinct patients": (["hypertension"], 0.3, 200_000),
    "hypertension, 1k patients repeated": (["hypertension"], 0.3, 1_000),
    "hypertension, sparse records (200k distinct)": (["hypertension"], 0.1, 200_000),
    "all four rulesets (200k distinct)": (None, 0.3, 200_000),
}
MAIN = "hypertension, 200k distinct patients"


def run_workload(bundle: Any, engines: dict[str, Engine], conditions: list[str] | None,
                 present: float, pool: int, per_round: int, rounds: int,
                 long_run: int | None) -> dict[str, Any]:
    rules = [r for r in bundle.rules if conditions is None or r.ruleset in conditions]
    used = {f for r in rules for f in r.facts}
    records = [{k: v for k, v in r.items() if k in used or k in ("care_level", "accepts_transfer")}
               for r in patients(bundle, pool, seed=2026, present=present)]
    durable, python = engines["durable"], engines["python"]
    raw = raw_matcher(durable_json(to_durable(rules)))
    raw_definite = raw_matcher(durable_json(definite_only(rules)))
    raw_inputs = [{k: v for k, v in durable.prepare(r, conditions).items() if k in used}
                  for r in records]
    modes: dict[str, tuple[Callable[[Any], Any], list[Any]]] = {
        "decision, durable_rules backend": (
            lambda r: durable.evaluate(r, conditions).to_json(), records),
        "decision, python backend": (lambda r: python.evaluate(r, conditions).to_json(), records),
        "raw durable_rules matching": (raw, raw_inputs),
        "raw durable_rules matching, conditions only": (raw_definite, raw_inputs),
    }
    for fn, inputs in modes.values():  # warm up
        timed(fn, inputs, min(len(inputs), 20_000))
    rates: dict[str, list[float]] = {m: [] for m in modes}
    lat: dict[str, list[int]] = {m: [] for m in modes}
    for _ in range(rounds):
        for mode, (fn, inputs) in modes.items():
            rate, samples = timed(fn, inputs, per_round)
            rates[mode].append(rate)
            lat[mode].extend(samples)
    out: dict[str, Any] = {
        "conditions": conditions or "all", "present": present, "distinct_patients": pool,
        "rules": len(rules),
        "facts_per_record": round(sum(map(len, records)) / len(records), 1),
        "modes": {},
    }
    for mode, (fn, inputs) in modes.items():
        row: dict[str, Any] = {
            "per_s_median": round(statistics.median(rates[mode])),
            "per_s_rounds": [round(r) for r in rates[mode]],
            "p50_us": round(pct(lat[mode], 0.50), 1), "p99_us": round(pct(lat[mode], 0.99), 1),
        }
        if long_run:
            before = rss_mib()
            timed(fn, inputs, long_run // 10)
            at_100k = rss_mib()
            timed(fn, inputs, long_run - long_run // 10)
            at_1m = rss_mib()
            row.update(rss_before_mib=round(before, 1), rss_after_100k_mib=round(at_100k, 1),
                       rss_after_1m_mib=round(at_1m, 1),
                       rss_growth_pct=round(100 * (at_1m - at_100k) / at_100k, 2))
        out["modes"][mode] = row
    modes_out = out["modes"]
    full = modes_out["decision, durable_rules backend"]["per_s_median"]
    floor = modes_out["raw durable_rules matching"]["per_s_median"]
    out["cost_vs_raw"] = round(floor / full, 2)
    out["cost_vs_raw_conditions_only"] = round(
        modes_out["raw durable_rules matching, conditions only"]["per_s_median"] / full, 2)
    out["python_vs_raw"] = round(
        modes_out["decision, python backend"]["per_s_median"] / floor, 2)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts (smoke test)")
    parser.add_argument("--rules", default=str(ROOT / "rulesets"))
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "latest.json"))
    parser.add_argument("--json", action="store_true",
                        help="print the figures as JSON (stable names) instead of tables")
    args = parser.parse_args()
    per_round, rounds, long_run = (5_000, 2, 20_000) if args.quick else (50_000, 5, 1_000_000)

    t0 = time.perf_counter()
    bundle = load_rulesets(args.rules)
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    durable = Engine(bundle, "durable")
    t_durable = time.perf_counter() - t0
    t0 = time.perf_counter()
    python = Engine(bundle, "python")
    t_python = time.perf_counter() - t0
    engines = {"durable": durable, "python": python}
    result: dict[str, Any] = {
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(),
                    "cpus": os.cpu_count()},
        "rules": len(bundle.rules), "rulesets": sorted(bundle.rulesets),
        "load_validate_link_s": round(t_load, 3), "compile_durable_s": round(t_durable, 4),
        "compile_python_s": round(t_python, 4),
        "per_round": per_round, "rounds": rounds, "long_run": long_run, "workloads": {},
    }
    for name, (conditions, present, pool) in WORKLOADS.items():
        if args.quick:
            pool = min(pool, 20_000)
        result["workloads"][name] = run_workload(
            bundle, engines, conditions, present, pool, per_round, rounds,
            long_run if name == MAIN else None)
    durable.close()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(stable(result), indent=2))
        return 0

    print(f"{len(bundle.rules)} rules in {len(bundle.rulesets)} rulesets; load+validate+link "
          f"{t_load * 1000:.0f} ms; compile durable_rules {t_durable * 1000:.0f} ms, "
          f"python {t_python * 1000:.0f} ms")
    for name, w in result["workloads"].items():
        print(f"\n{name}: {w['rules']} rules, {w['facts_per_record']} facts per record; "
              f"full decision costs {w['cost_vs_raw']}x raw matching "
              f"({w['cost_vs_raw_conditions_only']}x matching the conditions alone); "
              f"python backend {w['python_vs_raw']}x the raw matching rate")
        print("| mode | per second (median) | p50 µs | p99 µs | RSS 100k → 1M MiB |")
        print("|---|---:|---:|---:|---|")
        for mode, r in w["modes"].items():
            rss = (f"{r['rss_after_100k_mib']} → {r['rss_after_1m_mib']} "
                   f"({r['rss_growth_pct']:+}%)" if "rss_after_1m_mib" in r else "")
            print(f"| {mode} | {r['per_s_median']:,} | {r['p50_us']} | {r['p99_us']} | {rss} |")
    return 0


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_").replace("__", "_")


def stable(result: dict[str, Any]) -> dict[str, Any]:
    """Each mode's figures under stable, machine-friendly names:
    ``<workload>.<mode>.{per_s, p50_us, p99_us[, rss_growth_pct]}`` and the ratios."""
    out: dict[str, Any] = {"rules": result["rules"],
                           "load_validate_link_s": result["load_validate_link_s"]}
    for name, w in result["workloads"].items():
        key = _slug(name.split(" (")[0].replace(", ", "_"))
        item: dict[str, Any] = {
            "cost_vs_raw": w["cost_vs_raw"],
            "cost_vs_raw_conditions_only": w["cost_vs_raw_conditions_only"],
            "python_vs_raw": w["python_vs_raw"],
        }
        for mode, r in w["modes"].items():
            figures = {"per_s": r["per_s_median"], "p50_us": r["p50_us"], "p99_us": r["p99_us"]}
            if "rss_growth_pct" in r:
                figures["rss_growth_pct"] = r["rss_growth_pct"]
            item[_slug(mode.replace("decision, ", ""))] = figures
        out[key] = item
    return out


if __name__ == "__main__":
    sys.exit(main())
