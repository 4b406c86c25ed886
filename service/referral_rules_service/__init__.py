"""referral-rules service: a thin FastAPI adapter (REST and HL7 CDS Hooks 2.0) over the
``referral_rules`` library. It holds no rule logic of its own.

Run it with ``referral-rules serve``; build the app in code with ``create_app(Settings(...))``.
"""

from __future__ import annotations

from .app import create_app
from .settings import Settings

__all__ = ["Settings", "create_app"]
