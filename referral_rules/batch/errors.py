"""Errors of the batch run.

Hierarchy::

    ReferralRulesError
    ├── BatchUsageError (ValueError)  the input, its columns and the options do not fit together
    └── BatchFailed (RuntimeError)    the run stopped (a worker died, the input changed); the
                                      parts done so far are kept and a rerun resumes from them

A row whose facts are bad is not an error of the run: it comes out with ``ok=false``.
"""

from __future__ import annotations

from ..errors import ReferralRulesError

__all__ = ["BatchFailed", "BatchUsageError"]


class BatchUsageError(ReferralRulesError, ValueError):
    """The input's columns and the options do not fit together (exit 2)."""


class BatchFailed(ReferralRulesError, RuntimeError):
    """The run stopped before its output was written; a rerun resumes from the parts done."""
