"""Population screening: a table of patients in, a table of decisions out (``pip install
'referral-rules[batch]'``).

- ``run_batch(BatchOptions(input, output))``: Parquet or CSV in, Parquet out, on every core,
  restartable (``referral-rules batch``); the output contract is in docs/batch.md.
- ``Screener``: the per-batch function (an Arrow batch in, an Arrow batch out) that both the
  local run and Spark call, so their outputs are identical.
- ``write_population``: a seeded synthetic population (``referral-rules population``).
- ``build_report``: tiered-care indicators from an output (``batch --report``).
- ``referral_rules.batch.spark.screen``: the same screening as a Spark job (needs the
  ``spark`` extra; it is the only module here that imports pyspark, and nothing imports it).
"""

from __future__ import annotations

from .columns import ColumnMapping, Plan, load_mapping, plan_columns, read_mapping
from .errors import BatchFailed, BatchInputError, BatchRejected, BatchUsageError
from .population import write_population
from .report import Report, build_report
from .run import BatchOptions, BatchResult, run_batch
from .screen import Screener, output_schema

__all__ = [
    "BatchFailed",
    "BatchInputError",
    "BatchOptions",
    "BatchRejected",
    "BatchResult",
    "BatchUsageError",
    "ColumnMapping",
    "Plan",
    "Report",
    "Screener",
    "build_report",
    "load_mapping",
    "output_schema",
    "plan_columns",
    "read_mapping",
    "run_batch",
    "write_population",
]
