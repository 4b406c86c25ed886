"""``referral-rules batch`` and ``population``: their options, messages and exit codes.

Kept apart from ``cli.py`` and free of pyarrow at import, so the command line works without the
``batch`` extra and says how to install it.

Exit codes of ``batch``: 0 done; 1 invalid rules or column mapping; 2 usage (options, paths);
3 the run stopped (a worker died, SIGTERM): rerun to resume; 4 the input cannot be read
(empty, cut short, not Parquet); 5 ``--strict`` rejected the input; 130 interrupted (Ctrl-C):
rerun to resume.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Protocol

__all__ = ["INPUT", "INTERRUPTED", "REJECTED", "add_parsers", "batch", "population"]

OK, USAGE, STOPPED, INPUT, REJECTED, INTERRUPTED = 0, 2, 3, 4, 5, 130


class Out(Protocol):
    """``cli._Out``: writes one line, optionally styled."""

    stream: Any

    def __call__(self, text: str = "", style: str = "") -> None: ...


def add_parsers(sub: Any) -> None:
    """The ``batch`` and ``population`` subcommands."""
    b = sub.add_parser(
        "batch", help="screen a table of patients (Parquet or CSV) into a Parquet file",
        description="Evaluate every row of INPUT (one patient per row, columns named as facts) "
                    "and write one output row per input row, in order. Rows whose facts are "
                    "invalid, and CSV lines that are not rows, come out with ok=false and their "
                    "error. See docs/batch.md.",
        epilog="Exit codes: 0 done, 1 invalid rules or mapping, 2 usage, 3 stopped (rerun to "
               "resume), 4 input unreadable, 5 rejected by --strict, 130 interrupted (rerun "
               "to resume).")
    b.add_argument("input", help="a .parquet or .csv file")
    b.add_argument("-o", "--output", required=True, help="the Parquet file to write")
    b.add_argument("--rules", default=None,
                   help="rules directory (default: the bundled rulesets)")
    b.add_argument("--backend", choices=["durable", "python", "auto"], default="auto")
    b.add_argument("--engine", choices=["local", "spark"], default="local",
                   help="local worker processes (default) or a Spark job")
    b.add_argument("--workers", type=int, help="local worker processes (default: every core)")
    b.add_argument("--id-column", action="append", dest="id_columns", default=[],
                   metavar="COLUMN", help="carry COLUMN through untouched (repeatable; "
                                         "default: patient_id if present)")
    b.add_argument("--columns", metavar="MAP.yaml",
                   help="column mapping {input column: fact name}, and the actual_transfer "
                        "values of the export")
    b.add_argument("--encoding", help="a CSV's encoding (default: detected: UTF-8, else "
                                      "GB18030/GBK)")
    b.add_argument("--strict", action="store_true",
                   help="fail before screening when a column looks like a misspelt fact or an "
                        "actual_transfer value is not up/down/none or a known synonym")
    b.add_argument("--chunk-rows", type=int, default=25_000,
                   help="rows per part, the unit of restart (default: 25000)")
    b.add_argument("--no-progress", action="store_true", help="no progress bar")
    b.add_argument("--report", metavar="REPORT.html",
                   help="also write the indicators report (and REPORT.json beside it)")
    b.add_argument("--spark-master", default="local[*]",
                   help="Spark master URL for --engine spark (default: local[*])")
    g = sub.add_parser("population", help="write a seeded synthetic population (no real "
                                          "patients) for demos, tests and benchmarks")
    g.add_argument("n", type=int, help="number of patients")
    g.add_argument("-o", "--output", required=True, help="a .parquet or .csv file")
    g.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    g.add_argument("--rules", default=None,
                   help="rules directory (default: the bundled rulesets)")


def batch(args: argparse.Namespace, out: Out, err: Out) -> int:
    """Run ``batch``; return its exit code."""
    try:
        from .batch.errors import BatchFailed, BatchInputError, BatchRejected, BatchUsageError
        from .batch.run import BatchOptions, run_batch
    except ImportError as exc:
        err(f"batch needs its extra: pip install 'referral-rules[batch]' ({exc})", "red")
        return USAGE
    options = BatchOptions(
        input=Path(args.input), output=Path(args.output), rules=Path(args.rules),
        backend=args.backend, workers=args.workers, chunk_rows=args.chunk_rows,
        id_columns=tuple(args.id_columns), columns=Path(args.columns) if args.columns else None,
        progress=not args.no_progress, encoding=args.encoding, strict=args.strict,
        report=Path(args.report) if args.report else None)
    parts = options.output.with_name(options.output.name + ".parts")
    try:
        if args.engine == "spark":
            try:
                from .batch.spark import run_spark
            except ImportError as exc:
                err(f"--engine spark needs: pip install 'referral-rules[spark]' ({exc})", "red")
                return USAGE
            result = run_spark(options, args.spark_master, err.stream)
        else:
            result = run_batch(options, err.stream)
    except BatchUsageError as exc:
        err(str(exc), "red")
        return USAGE
    except BatchInputError as exc:
        err(f"cannot read the input: {exc}", "red")
        return INPUT
    except BatchRejected as exc:
        err(str(exc), "red")
        return REJECTED
    except BatchFailed as exc:
        err(f"batch stopped: {exc}", "red")
        return STOPPED
    except KeyboardInterrupt:
        if args.engine == "spark":
            err("interrupted: rerun the same command (a Spark run starts over)", "red")
        else:
            err(f"interrupted: the parts done are kept in {parts}; rerun the same command "
                "to resume", "red")
        return INTERRUPTED
    rate = result.rows / result.seconds if result.seconds else 0.0
    out(f"screened {result.rows:,} rows ({result.failed:,} not evaluated: invalid facts or "
        f"unreadable lines) in {result.seconds:.1f} s, {rate:,.0f} rows/s, {result.backend} "
        f"backend → {result.output}")
    if result.transfer is not None:
        out(_transfer_line(result.transfer))
    if args.report:
        from .batch.report import build_report

        report = build_report(result.output, args.rules)
        html = Path(args.report)
        report.write_html(html)
        report.write_json(html.with_suffix(".json"))
        out(f"report: {html} and {html.with_suffix('.json')}")
    return OK


def _transfer_line(t: dict[str, Any]) -> str:
    """The ``actual_transfer`` counts in one line (values are outcomes, never identifiers)."""
    line = (f"{t['column']}: up {t['up']:,}, down {t['down']:,}, none {t['none']:,}, "
            f"blank {t['blank']:,}")
    if t["unknown_rows"]:
        shown = ", ".join(f"'{u['value']}' {u['rows']:,}" for u in t["unknown_values"])
        more = f", {t['unknown_other_values']} other value(s)" if t["unknown_other_values"] \
            else ""
        line += f", not understood {t['unknown_rows']:,} ({shown}{more})"
    return line


def population(args: argparse.Namespace, out: Out, err: Out) -> int:
    """Run ``population``; return its exit code."""
    from .errors import RulesetError

    try:
        from .batch.population import write_population
    except ImportError as exc:
        err(f"population needs the batch extra: pip install 'referral-rules[batch]' ({exc})",
            "red")
        return USAGE
    if args.n < 0:
        err(f"N must be at least 0 (got {args.n})", "red")
        return USAGE
    try:
        write_population(Path(args.output), args.n, args.seed, rules=args.rules)
    except ValueError as exc:
        if isinstance(exc, RulesetError):
            raise
        err(str(exc), "red")
        return USAGE
    out(f"wrote {args.n:,} synthetic patients (seed {args.seed}) → {args.output}")
    return OK
