"""The workbench: a page (``/workbench``) where policy staff and clinicians try the rules, read
why, and turn a patient into a test case; and the read-only API it uses (``/v1/workbench``).

Nothing here writes, fetches or audits: an evaluation of the workbench is never stored, the
draft check runs in a temporary copy, and reloading the served rules stays behind the admin
key (``POST /v1/admin/reload``). Every answer comes from the library.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from referral_rules import FactsError, RulesetError, UnknownConditionError
from referral_rules.lint import lint

from ..decide import fact_problems, facts_message
from ..jsonbody import StrictJsonRoute
from ..models import Problem
from ..problems import problem
from ..state import Current, Rules
from ..workbench_cases import case_snippet, list_cases, run_selected
from ..workbench_draft import FILE_NAME, check_draft, list_files, read_file
from ..workbench_models import (
    CaseRequest,
    CasesList,
    CaseSnippet,
    DraftRequest,
    DraftResult,
    Evaluation,
    EvaluationRequest,
    FileList,
    FileText,
    FormSchema,
    LintResult,
    RulesetView,
    RunRequest,
    RunResult,
)
from ..workbench_views import evaluation, form_schema, ruleset_view

__all__ = ["Bench", "add_workbench", "router"]

T = TypeVar("T")
_STATIC = Path(__file__).resolve().parent.parent / "static"
PAGE = "/workbench"
ASSETS = "/workbench-assets"
#: the page may load and connect to nothing but this service
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


@dataclass
class Bench:
    """What the workbench endpoints use: the served rules, limits, and a per-version cache."""

    rules: Rules
    max_facts: int = 300
    cpu: anyio.CapacityLimiter = field(default_factory=lambda: anyio.CapacityLimiter(2))
    _cache: dict[tuple[str, int], Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def cached(self, kind: str, current: Current, make: Callable[[], T]) -> T:
        """``make()`` once per rules version (older versions are dropped)."""
        key = (kind, current.generation)
        with self._lock:
            if key in self._cache:
                value: T = self._cache[key]
                return value
        value = make()
        with self._lock:
            for old in [k for k in self._cache if k[0] == kind and k[1] < current.generation]:
                del self._cache[old]
            self._cache[key] = value
        return value


async def get_bench(request: Request) -> Bench:
    """The workbench state: its own (``referral-rules workbench``) or the service's."""
    bench: Bench | None = getattr(request.app.state, "workbench", None)
    if bench is None:
        services = request.app.state.services
        bench = Bench(services.rules, services.settings.max_facts, services.cpu)
        request.app.state.workbench = bench
    return bench


router = APIRouter(prefix="/v1/workbench", tags=["workbench"], route_class=StrictJsonRoute)
Wb = Annotated[Bench, Depends(get_bench)]
_INVALID: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "The body could not be read as JSON"},
    413: {"model": Problem, "description": "Body too large"},
    422: {"model": Problem, "description": "Invalid request (facts with the fact's path)"}}


def _facts_problem(exc: FactsError) -> JSONResponse:
    return problem(422, "invalid-facts", facts_message(exc), fact_problems(exc, "body.facts"))


async def _check_facts(bench: Bench, current: Current, facts: dict[str, Any]
                       ) -> JSONResponse | None:
    """The same bounds as ``POST /v1/decisions``: a fact count limit before any name is looked
    at, and the report of unknown names (did-you-mean for each) off the event loop."""
    if len(facts) > bench.max_facts:
        message = f"{len(facts)} facts given; at most {bench.max_facts} are accepted"
        return problem(422, "invalid-facts", message, [
            {"path": "body.facts", "fact": "(record)", "code": "too-many-facts",
             "message": message, "suggestion": None}])
    vocabulary = current.bundle.vocabulary
    if any(name not in vocabulary.facts for name in facts):
        try:
            await anyio.to_thread.run_sync(vocabulary.validate, facts, limiter=bench.cpu)
        except FactsError as exc:
            return _facts_problem(exc)
    return None


def _unknown_condition(exc: UnknownConditionError) -> JSONResponse:
    return problem(422, "invalid-facts", str(exc), [
        {"path": "body.conditions", "fact": exc.name, "code": "unknown-condition",
         "message": str(exc), "suggestion": exc.suggestion}])


@router.get("/form", summary="The patient form (vocabulary and scopes)",
            response_model=FormSchema)
async def get_form(bench: Wb) -> dict[str, Any]:
    """Every fact of the vocabulary with its type, unit, plausible range, allowed values,
    zh/en label, derivation (for a derived fact) and the rules that read it, and the order
    to show them in: grouped by ruleset and, in each, by its scope (``applies_to``) and its
    criteria."""
    with bench.rules.lease() as current:
        return bench.cached("form", current,
                            lambda: form_schema(current.bundle, current.generation))


@router.post("/evaluate", summary="Evaluate the form's patient (never audited)",
             response_model=Evaluation, responses=_INVALID)
async def post_evaluate(body: EvaluationRequest, bench: Wb) -> Response:
    """The library's decision for the facts, with its presentation in ``lang`` (the same
    sections as ``explain`` and the CDS card), where each rule it names is written
    (file:line, the condition as written), the citations with their quotes, and each
    undetermined rule with the unrecorded facts that would decide it. Nothing is audited or
    stored, and nothing is logged about the patient."""
    facts = dict(body.facts)
    with bench.rules.lease() as current:
        wrong = await _check_facts(bench, current, facts)
        if wrong is not None:
            return wrong
        try:
            text = evaluation(current.engine, facts, body.conditions, body.lang)
        except FactsError as exc:
            return _facts_problem(exc)
        except UnknownConditionError as exc:
            return _unknown_condition(exc)
    return Response(text, media_type="application/json")


@router.get("/cases", summary="The YAML test cases, by file", response_model=CasesList)
async def get_cases(bench: Wb) -> dict[str, Any]:
    """Every case of the loaded rules: file, line, name, criterion, the rulesets it evaluates
    (``all``: each where its scope holds), its facts and its ``expect`` as written."""
    with bench.rules.lease() as current:
        return bench.cached("cases", current, lambda: list_cases(current.bundle))


@router.post("/cases/run", summary="Run test cases (pass/fail and the diff)",
             response_model=RunResult, responses={404: {"model": Problem}, **_INVALID})
async def post_run(body: RunRequest, bench: Wb) -> dict[str, Any]:
    """Run one file's cases, one case, or every case (then with coverage), as
    ``referral-rules test`` does: for each, pass or fail, the library's problem lines, and
    each expected key beside what the decision gives."""

    def run() -> dict[str, Any] | None:
        with bench.rules.lease() as current:
            return run_selected(current.bundle, current.engine, body.file, body.index)

    found = await anyio.to_thread.run_sync(run, limiter=bench.cpu)
    if found is None:
        raise HTTPException(404, "no such case or cases file")
    return found


@router.post("/case", summary="The form's patient as a YAML test case",
             response_model=CaseSnippet, responses=_INVALID)
async def post_case(body: CaseRequest, bench: Wb) -> Response:
    """A YAML list item for ``cases:`` (in any ruleset file or a cases file such as
    ``cross_condition.yaml``) with the facts and, as its ``expect``, what today's decision
    says: direction, urgency, target level, destination, fired rules, records, deferrable
    records, refusal, complete, checklist, possible emergencies and derived facts. With no
    ``conditions`` the case says ``conditions: all``. The YAML is read back with the library's
    loader and run as a case before it is returned (``verified``)."""
    facts = dict(body.facts)
    with bench.rules.lease() as current:
        wrong = await _check_facts(bench, current, facts)
        if wrong is not None:
            return wrong

        def make() -> dict[str, Any]:
            return case_snippet(current.bundle, current.engine, facts, body.conditions,
                                body.name, body.criterion)

        try:
            made = await anyio.to_thread.run_sync(make, limiter=bench.cpu)
        except FactsError as exc:
            return _facts_problem(exc)
        except UnknownConditionError as exc:
            return _unknown_condition(exc)
    return JSONResponse(CaseSnippet(**made).model_dump())


@router.get("/rulesets/{ruleset_id}", summary="A ruleset's rules, thresholds and flow",
            response_model=RulesetView, responses={404: {"model": Problem}})
async def get_ruleset(ruleset_id: Annotated[str, PathParam(max_length=64)],
                      bench: Wb) -> dict[str, Any]:
    """Scope, sources, definitions (the editable thresholds, each with its citation), every
    rule with its condition as written, outcome, citations with quotes and file:line, what is
    deliberately not encoded, and the Mermaid flowchart of rule → outcome."""
    with bench.rules.lease() as current:
        ir = current.bundle.rulesets.get(ruleset_id)
        if ir is None:
            raise HTTPException(404, f"no ruleset {ruleset_id!r}")
        return bench.cached(f"ruleset:{ruleset_id}", current, lambda: ruleset_view(ir))


@router.get("/lint", summary="Lint findings with example patients", response_model=LintResult)
async def get_lint(bench: Wb) -> dict[str, Any]:
    """``referral-rules lint`` of the rules directory: rules, scopes and derivations that can
    never apply, overlap or conflict, untested thresholds and unused names, each at
    file:line:column and, where it helps, with an example patient for the form. Computed once
    per loaded version (it takes seconds)."""

    def run() -> dict[str, Any]:
        with bench.rules.lease() as current:
            def make() -> dict[str, Any]:
                try:
                    findings = lint(bench.rules.directory)
                except RulesetError as exc:
                    return {"ok": False, "generation": current.generation, "findings": [],
                            "issues": [_short_issue(i.to_dict()) for i in exc.issues]}
                return {"ok": True, "generation": current.generation,
                        "findings": [_short_issue(f.to_dict()) for f in findings],
                        "issues": []}
            return bench.cached("lint", current, make)

    return await anyio.to_thread.run_sync(run, limiter=bench.cpu)


def _short_issue(item: dict[str, Any]) -> dict[str, Any]:
    item["file"] = Path(str(item["file"])).name
    return item


@router.get("/files", summary="The rules directory's YAML files", response_model=FileList)
async def get_files(bench: Wb) -> dict[str, Any]:
    """The files a draft may start from (read only)."""
    return {"files": await anyio.to_thread.run_sync(list_files, bench.rules.directory)}


@router.get("/files/{name}", summary="One rules file's text", response_model=FileText,
            responses={404: {"model": Problem}})
async def get_file(name: Annotated[str, PathParam(pattern=FILE_NAME)],
                   bench: Wb) -> dict[str, Any]:
    """The text of a file of the rules directory as it is on disk, for the draft editor."""
    text = await anyio.to_thread.run_sync(read_file, bench.rules.directory, name)
    if text is None:
        raise HTTPException(404, f"no rules file {name!r}")
    return {"file": name, "text": text}


@router.post("/draft", summary="Check a draft ruleset file (validation only)",
             response_model=DraftResult, responses=_INVALID)
async def post_draft(body: DraftRequest, bench: Wb) -> dict[str, Any]:
    """Validate the rules directory with this file replaced (or added) by the draft, in a
    temporary copy: every problem at file:line:column with a suggestion, as ``referral-rules
    check`` prints them, or what loads. Nothing is written to the rules directory and the
    served rules do not change (reloading needs the admin key)."""
    return await anyio.to_thread.run_sync(check_draft, bench.rules.directory, body.file,
                                          body.text, limiter=bench.cpu)


# --- the page --------------------------------------------------------------------------------

_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache"}


def _openapi_with_rules(app: FastAPI) -> None:
    """The OpenAPI document with the loaded vocabulary as the schema of the form's ``facts``
    and the loaded ruleset ids as the values of ``conditions``, as for ``/v1/decisions``."""
    plain = app.openapi

    def openapi() -> dict[str, Any]:
        spec = plain()
        state = app.state
        rules: Rules | None = (state.workbench.rules if hasattr(state, "workbench") else
                               state.services.rules if hasattr(state, "services") else None)
        if rules is None:
            return spec
        bundle = rules.current.bundle
        schemas = spec["components"]["schemas"]
        if "PatientFacts" not in schemas:
            facts = bundle.vocabulary.json_schema()
            facts["title"] = "PatientFacts"
            schemas["PatientFacts"] = facts
        for name in ("EvaluationRequest", "CaseRequest"):
            props = schemas[name]["properties"]
            props["facts"] = {"$ref": "#/components/schemas/PatientFacts"}
            props["conditions"]["anyOf"][0]["items"] = {"enum": sorted(bundle.rulesets),
                                                        "type": "string"}
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


def add_workbench(app: FastAPI) -> None:
    """Add the API, the page at ``/workbench`` and its assets (in the package, no CDN)."""
    app.include_router(router)
    _openapi_with_rules(app)
    # the more specific mount first: a mount matches every path under its prefix
    app.mount(f"{ASSETS}/mermaid", StaticFiles(directory=_STATIC / "mermaid"),
              name="workbench-mermaid")
    app.mount(ASSETS, StaticFiles(directory=_STATIC / "workbench"), name="workbench-assets")
    page = (_STATIC / "workbench" / "index.html").read_text(encoding="utf-8")

    @app.get(PAGE, include_in_schema=False)
    async def workbench_page(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return HTMLResponse(page.replace("{{root}}", root), headers=_HEADERS)

    @app.get(PAGE + "/", include_in_schema=False)
    async def workbench_slash(request: Request) -> RedirectResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return RedirectResponse(root + PAGE)
