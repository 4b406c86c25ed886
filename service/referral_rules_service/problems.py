"""The one problem shape of every error answer, with a bounded list of issues."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import HTTPException
from fastapi.responses import JSONResponse

from referral_rules import ReferralRulesError

__all__ = ["MAX_ISSUES", "ProblemError", "problem"]

#: an answer lists at most this many issues (40,000 unknown names once made a 9 MB answer)
MAX_ISSUES = 50


def problem(status: int, error: str, message: str,
            issues: Iterable[Mapping[str, Any]] = (),
            headers: Mapping[str, str] | None = None) -> JSONResponse:
    """``{"error", "message", "issues"}``; past ``MAX_ISSUES`` the message says how many."""
    listed = [dict(i) for i in issues]
    if len(listed) > MAX_ISSUES:
        message = f"{message} ({len(listed)} problems; the first {MAX_ISSUES} are listed)"
        listed = listed[:MAX_ISSUES]
    return JSONResponse({"error": error, "message": message, "issues": listed}, status,
                        headers=dict(headers) if headers else None)


class ProblemError(HTTPException, ReferralRulesError):
    """Raised anywhere in a request: answered as ``problem(status, error, message, issues)``."""

    def __init__(self, status: int, error: str, message: str,
                 issues: Iterable[Mapping[str, Any]] = ()) -> None:
        super().__init__(status, message)
        self.error = error
        self.issues = list(issues)
