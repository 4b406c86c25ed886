"""Service settings: command-line options first, then ``REFERRAL_RULES_*`` environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .fhir_fetch import normalise_base

__all__ = ["ENV_PREFIX", "Settings"]

ENV_PREFIX = "REFERRAL_RULES_"


@dataclass(frozen=True)
class Settings:
    """Everything the service can be told. Each field ``x`` is also ``REFERRAL_RULES_X``."""

    #: the rules directory; empty: the rulesets bundled with the package
    rules: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    database_url: str = "sqlite:///referral-rules.db"
    #: SQLite only: "full" syncs every commit (survives a power cut); "normal" survives kill -9
    #: but not a power cut, and is faster where fsync is slow
    sqlite_synchronous: Literal["full", "normal"] = "full"
    api_key: str | None = None
    #: key of the HMAC-SHA256 that turns a patient id into the audit's pseudonym; with no key,
    #: no patient reference is stored at all
    patient_hash_key: str | None = None
    care_level: Literal["primary", "secondary", "tertiary"] = "primary"
    backend: Literal["durable", "python", "auto"] = "auto"
    #: comma-separated origins allowed by CORS ("*" for any); empty: no CORS headers
    cors_origins: str = ""
    max_body_bytes: int = 1_000_000
    #: object members in one JSON body, all objects together (bounds the work a body can cause)
    max_json_members: int = 50_000
    #: facts in one REST decision request (the vocabulary has fewer names than this)
    max_facts: int = 300
    #: FHIR → facts mapping file; empty: the bundled one
    fhir_mapping: str = ""
    #: time zone of the facility: "now" for FHIR windows and date-only values
    timezone: str = "Asia/Shanghai"
    #: comma-separated base URLs of the FHIR servers the CDS services may query for data that
    #: was not prefetched; empty: the service never fetches
    fhir_servers: str = ""
    #: seconds one CDS call may spend fetching from a FHIR server, all its fetches together
    fhir_timeout: float = 5.0
    #: largest FHIR answer read, in bytes
    fhir_max_response_bytes: int = 5_000_000
    #: FHIR fetches in flight at once in one worker process, all callers together
    fhir_max_concurrent: int = 16
    #: require the API key on every CDS service call (fetching always requires it)
    cds_require_auth: bool = False
    log_level: str = "info"

    @classmethod
    def load(cls, options: Mapping[str, Any] | None = None,
             environ: Mapping[str, str] | None = None) -> Settings:
        """Options win over the environment, which wins over the defaults."""
        environ = os.environ if environ is None else environ
        options = options or {}
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw: Any = options.get(f.name)
            if raw is None:
                raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is None:
                continue
            default = f.default
            if isinstance(default, bool):
                raw = str(raw).lower() in ("1", "true", "yes")
            elif isinstance(default, int):
                raw = int(raw)
            elif isinstance(default, float):
                raw = float(raw)
            values[f.name] = raw
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        """Reject impossible settings with a clear message."""
        if self.care_level not in ("primary", "secondary", "tertiary"):
            msg = f"care_level must be primary, secondary or tertiary, not {self.care_level!r}"
            raise ValueError(msg)
        if self.sqlite_synchronous not in ("full", "normal"):
            msg = f"sqlite_synchronous must be full or normal, not {self.sqlite_synchronous!r}"
            raise ValueError(msg)
        if self.backend not in ("durable", "python", "auto"):
            msg = f"backend must be durable, python or auto, not {self.backend!r}"
            raise ValueError(msg)
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            msg = f"unknown time zone {self.timezone!r}"
            raise ValueError(msg) from exc
        if self.workers < 1 or self.max_body_bytes < 1024:
            msg = "workers must be ≥ 1 and max_body_bytes ≥ 1024"
            raise ValueError(msg)
        if self.max_json_members < 100 or self.max_facts < 1:
            msg = "max_json_members must be ≥ 100 and max_facts ≥ 1"
            raise ValueError(msg)
        if not (0 < self.fhir_timeout <= 60) or self.fhir_max_response_bytes < 1024 \
                or self.fhir_max_concurrent < 1:
            msg = ("fhir_timeout must be in (0, 60] s, fhir_max_response_bytes ≥ 1024 and "
                   "fhir_max_concurrent ≥ 1")
            raise ValueError(msg)
        bad = [s for s in self.fhir_server_list if normalise_base(s) is None]
        if bad:
            msg = (f"fhir_servers: {bad[0]!r} is not an http(s) base URL (no user, query or "
                   "fragment)")
            raise ValueError(msg)

    def to_environ(self) -> dict[str, str]:
        """The settings as environment variables, for worker processes."""
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out[ENV_PREFIX + f.name.upper()] = str(value)
        return out

    @property
    def fhir_server_list(self) -> list[str]:
        return [s.strip() for s in self.fhir_servers.split(",") if s.strip()]

    @property
    def origins(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]
