"""Errors of the batch run.

Hierarchy::

    ReferralRulesError
    ├── BatchUsageError (ValueError)  the input, its columns and the options do not fit together
    ├── BatchInputError (ValueError)  the input file cannot be read at all (empty, cut short)
    ├── BatchRejected (ValueError)    ``--strict``: the input has columns or values that a run
    │                                 would otherwise only report (a misspelt column, an
    │                                 ``actual_transfer`` value that means nothing known)
    └── BatchFailed (RuntimeError)    the run stopped (a worker died, the input changed, a
                                      signal); the parts done so far are kept and a rerun
                                      resumes from them

A row whose facts are bad, or a CSV line that is not a row, is not an error of the run: it comes
out with ``ok=false``.
"""

from __future__ import annotations

from ..errors import ReferralRulesError

__all__ = ["BatchFailed", "BatchInputError", "BatchRejected", "BatchUsageError"]


class BatchUsageError(ReferralRulesError, ValueError):
    """The input's columns and the options do not fit together (exit 2)."""


class BatchInputError(ReferralRulesError, ValueError):
    """The input file cannot be read: empty, not Parquet, cut short, no header (exit 4)."""


class BatchRejected(ReferralRulesError, ValueError):
    """``--strict`` and the input has problems a normal run only reports (exit 5)."""


class BatchFailed(ReferralRulesError, RuntimeError):
    """The run stopped before its output was written; a rerun resumes from the parts done."""
