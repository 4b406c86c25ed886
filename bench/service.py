"""Load benchmark of the HTTP service on loopback: decisions/s and p50/p99 latency.

    python bench/service.py                  # 2 workers, 20 s per step, c = 4, 8, 16, 32
    python bench/service.py --quick          # 5 s per step

Starts ``referral-rules serve --workers 2`` (durable_rules backend, SQLite audit with
synchronous=FULL, one audit row per decision) on 127.0.0.1 and drives ``POST /v1/decisions``
with wrk (Debian package ``wrk``; C, one thread, so the load generator takes as little of the
two cores as possible) over 2,000 distinct synthetic patients. Nothing leaves the machine.
Not a test: nothing here asserts a time. Target (issue 4): ≥ 1,500 decisions/s at p99 ≤ 25 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from referral_rules import load_rulesets
from referral_rules.synthetic import patients

ROOT = Path(__file__).resolve().parent.parent

LUA = r"""
local bodies = {}
for line in io.lines(os.getenv("BODIES")) do bodies[#bodies + 1] = line end
local i = 0
request = function()
  i = i + 1
  return wrk.format("POST", "/v1/decisions", {["Content-Type"] = "application/json"},
                    bodies[(i % #bodies) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d\n", summary.requests, summary.duration,
    e.status, e.connect + e.read + e.write + e.timeout, latency:percentile(50),
    latency:percentile(99)))
end
"""


def _wait(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit("the server exited")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    sys.exit("the server did not become ready")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--connections", default="4,8,16,32")
    ap.add_argument("--sqlite-synchronous", choices=["full", "normal"], default="full")
    ap.add_argument("--mix", choices=["one", "all"], default="one",
                    help="one: each request names one ruleset (rotating through the four), as "
                         "integrators are told to do; all: every request evaluates all four")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install -y wrk")
    seconds = 5 if args.quick else 20
    tmp = Path(tempfile.mkdtemp(prefix="referral-rules-bench-"))
    bundle = load_rulesets(ROOT / "rulesets")
    bodies = tmp / "bodies.jsonl"
    with bodies.open("w", encoding="utf-8") as fh:
        ids = sorted(bundle.rulesets)
        for i, record in enumerate(patients(bundle, 2000, seed=7)):
            body: dict[str, Any] = {"facts": record}
            if args.mix == "one":
                body["conditions"] = [ids[i % len(ids)]]
            fh.write(json.dumps(body, separators=(",", ":")) + "\n")
    script = tmp / "post.lua"
    script.write_text(LUA, encoding="utf-8")
    env = {**os.environ, "REFERRAL_RULES_RULES": str(ROOT / "rulesets"),
           "REFERRAL_RULES_DATABASE_URL": f"sqlite:///{tmp / 'audit.db'}",
           "REFERRAL_RULES_WORKERS": str(args.workers), "REFERRAL_RULES_PORT": str(args.port),
           "REFERRAL_RULES_BACKEND": "durable", "REFERRAL_RULES_LOG_LEVEL": "warning",
           "REFERRAL_RULES_SQLITE_SYNCHRONOUS": args.sqlite_synchronous,
           "BODIES": str(bodies)}
    server = subprocess.Popen([sys.executable, "-m", "referral_rules", "serve"], env=env)
    results: list[dict[str, Any]] = []
    try:
        _wait(args.port, server)
        url = f"http://127.0.0.1:{args.port}"
        subprocess.run(["wrk", "-t1", "-c4", "-d3s", "-s", str(script), url], env=env,
                       check=True, capture_output=True)  # warm-up: handles, caches
        for c in (int(x) for x in args.connections.split(",")):
            out = subprocess.run(["wrk", "-t1", f"-c{c}", f"-d{seconds}s", "--timeout", "5s",
                                  "-s", str(script), url], env=env, check=True,
                                 capture_output=True, text=True).stdout
            line = next(x for x in out.splitlines() if x.startswith("RESULT"))
            n, micros, bad_status, socket_errors, p50, p99 = map(int, line.split()[1:])
            row = {"connections": c, "requests": n, "decisions_per_s": round(n / micros * 1e6),
                   "p50_ms": round(p50 / 1000, 2), "p99_ms": round(p99 / 1000, 2),
                   "non_2xx": bad_status, "socket_errors": socket_errors}
            results.append(row)
            print(json.dumps(row))
        with urllib.request.urlopen(f"http://127.0.0.1:{args.port}/readyz") as r:
            backend = json.loads(r.read())["backend"]
    finally:
        server.terminate()
        server.wait(30)
    report = {"when": time.strftime("%Y-%m-%d"), "python": platform.python_version(),
              "cpus": os.cpu_count(), "workers": args.workers, "backend": backend,
              "mix": args.mix, "sqlite_synchronous": args.sqlite_synchronous,
              "seconds_per_step": seconds, "results": results}
    target = [r for r in results if r["decisions_per_s"] >= 1500 and r["p99_ms"] <= 25
              and r["non_2xx"] == 0 and r["socket_errors"] == 0]
    report["target_met"] = bool(target)
    name = f"service-{args.mix}-{args.sqlite_synchronous}-latest.json"
    target_file = ROOT / "bench" / "results" / name
    target_file.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
