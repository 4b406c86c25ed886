"""Batch benchmark: screen a seeded synthetic population with the local run and with Spark.

Not a test: nothing asserts a time. Generates (or reuses) ``bench/results/batch.tmp/
population-<rows>-seed<seed>.parquet`` (git-ignored), then times, on the same file:

- local run, durable_rules backend (every core);
- local run, python backend (every core);
- Spark local mode (``local[*]``), durable_rules backend.

and checks the outputs hold identical rows. Wall time runs from the call to the output file
being in place (rules loading, worker start-up, reading, screening, writing and assembling
included). Prints rows/s and writes ``bench/results/batch-latest.json``.

    python bench/batch.py                      # 1,000,000 rows
    python bench/batch.py --rows 100000 --no-spark
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

from referral_rules import __version__, load_rulesets
from referral_rules.batch import BatchOptions, run_batch, write_population
from referral_rules.evaluate import Backend

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def population(rows: int, seed: int) -> Path:
    """The seeded population file, generated once and reused."""
    path = RESULTS / "batch.tmp" / f"population-{rows}-seed{seed}.parquet"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        write_population(path, rows, seed, rules=ROOT / "rulesets")
        print(f"generated {path.name} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return path


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (other work on the machine skews the timings)."""
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text(encoding="utf-8").split()[:3]]
    except OSError:
        return []


def identical(outputs: list[Path]) -> bool:
    """Whether the outputs hold the same rows (metadata aside), row group by row group."""
    files = [pq.ParquetFile(p) for p in outputs]
    groups = {f.metadata.num_row_groups for f in files}
    if len(groups) != 1:
        return False
    for i in range(groups.pop()):
        first, *others = (f.read_row_group(i) for f in files)
        if not all(first.equals(o) for o in others):
            return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=None, help="default: every core")
    parser.add_argument("--chunk-rows", type=int, default=25_000)
    parser.add_argument("--no-spark", action="store_true", help="skip the Spark run")
    parser.add_argument("--only", choices=["durable", "python", "spark"], action="append",
                        help="run only these modes (repeatable)")
    parser.add_argument("--out", default=str(RESULTS / "batch-latest.json"))
    args = parser.parse_args()
    source = population(args.rows, args.seed)
    bundle = load_rulesets(ROOT / "rulesets")
    modes = args.only or ["durable", "python", *([] if args.no_spark else ["spark"])]
    work = source.parent
    results: dict[str, Any] = {}
    for mode in modes:
        output = work / f"out-{mode}.parquet"
        backend: Backend = "python" if mode == "python" else "durable"
        options = BatchOptions(source, output, rules=bundle, backend=backend,
                               workers=args.workers, chunk_rows=args.chunk_rows,
                               progress=False)
        before = load_average()
        t0 = time.perf_counter()
        if mode == "spark":
            from referral_rules.batch.spark import run_spark

            result = run_spark(options, "local[*]", io.StringIO())
        else:
            result = run_batch(options, io.StringIO())
        seconds = time.perf_counter() - t0
        assert pq.read_metadata(output).num_rows == args.rows
        results[mode] = {"backend": backend, "seconds": round(seconds, 1),
                         "rows_per_s": round(args.rows / seconds), "failed": result.failed,
                         "load_average_before": before}
        print(f"{mode:>8}: {args.rows:,} rows in {seconds:6.1f} s = "
              f"{args.rows / seconds:9,.0f} rows/s ({backend} backend; load before {before})")
    same = identical([work / f"out-{mode}.parquet" for mode in modes])
    print(f"outputs of {', '.join(modes)} identical: {'yes' if same else 'NO'}")
    doc = {"version": __version__, "rows": args.rows, "seed": args.seed,
           "workers": args.workers or os.cpu_count(), "chunk_rows": args.chunk_rows,
           "machine": {"python": sys.version.split()[0], "platform": platform.platform(),
                       "cpus": os.cpu_count()},
           "facts_per_row": _facts_per_row(source), "modes": results,
           "outputs_identical": same}
    Path(args.out).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return 0


def _facts_per_row(source: Path) -> float:
    """Mean count of present facts per row, from the first row group."""
    table = pq.ParquetFile(source).read_row_group(0)
    cells: int = sum(len(c) - c.null_count for c in table.columns[3:])
    return float(round(cells / table.num_rows, 1))


if __name__ == "__main__":
    sys.exit(main())
