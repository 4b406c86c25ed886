"""The ``referral-rules`` command: a thin adapter over the library.

Exit codes: 0 ok; 1 invalid rules, invalid facts or failing cases; 2 usage error;
3 engine error (for ``batch``: the run stopped); ``batch`` also has 4, 5 and 130
(``_cli_batch.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from . import __version__, _cli_batch
from .docs import write_docs
from .errors import EngineError, FactsError, RulesetError, UnknownConditionError
from .evaluate import Engine
from .link import bundled_rulesets, load_rulesets
from .lint import lint
from .schemas import all_schemas
from .testing import run_cases, summary

__all__ = ["main"]

OK, INVALID, USAGE, ENGINE = 0, 1, 2, 3


class _Out:
    def __init__(self, stream: IO[str], colour: bool) -> None:
        self.stream = stream
        self.colour = colour

    def __call__(self, text: str = "", style: str = "") -> None:
        codes = {"red": "31", "green": "32", "yellow": "33", "bold": "1", "dim": "2"}
        if self.colour and style:
            text = f"\033[{codes[style]}m{text}\033[0m"
        self.stream.write(text + "\n")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="referral-rules",
        description="Clinical referral rules for tiered care: check, test and evaluate.",
        epilog="Exit codes: 0 ok, 1 invalid rules / facts or failing cases, 2 usage, 3 engine.",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def rules_arg(sp: argparse.ArgumentParser, positional: bool) -> None:
        if positional:
            sp.add_argument("rules", nargs="?", default=None,
                            help="rules directory (default: the bundled rulesets)")
        else:
            sp.add_argument("--rules", default=None,
                            help="rules directory (default: the bundled rulesets)")
        sp.add_argument("--json", action="store_true", help="machine-readable output")

    c = sub.add_parser("check", help="validate every file of a rules directory")
    rules_arg(c, True)
    c.add_argument("--fhir-mapping", metavar="FILE",
                   help="also check a FHIR → facts mapping file against the vocabulary "
                        "(needs the service extra)")
    t = sub.add_parser("test", help="run the YAML test cases and report coverage")
    rules_arg(t, True)
    t.add_argument("--backend", choices=["durable", "python", "auto"], default="auto")
    t.add_argument("-v", "--verbose", action="store_true", help="list every case")
    for name, helptext in (("eval", "evaluate one patient (JSON file or - for stdin)"),
                           ("explain", "explain the decision for one patient in zh or en")):
        e = sub.add_parser(name, help=helptext)
        e.add_argument("facts", nargs="?", default="-", help="JSON file of facts, or -")
        rules_arg(e, False)
        e.add_argument("--conditions", help="comma-separated ruleset ids, each taken as applying "
                       "(default: every ruleset, each where its applies_to scope holds)")
        e.add_argument("--backend", choices=["durable", "python", "auto"], default="auto")
        if name == "eval":
            e.add_argument("--explain", choices=["zh", "en"],
                           help="print the explanation instead of JSON")
        else:
            e.add_argument("--lang", choices=["zh", "en"], default="en")
    li = sub.add_parser("lint", help="static analysis: never-true, redundant and conflicting "
                                     "rules, untested thresholds, unused names")
    li.add_argument("rules", nargs="?", default=None,
                    help="rules directory (default: the bundled rulesets)")
    li.add_argument("--strict", action="store_true", help="warnings fail too")
    li.add_argument("--json", action="store_true", help="machine-readable output")
    d = sub.add_parser("docs", help="generate docs/rulesets/<id>.md and docs/facts.md")
    d.add_argument("rules", nargs="?", default=None,
                   help="rules directory (default: the bundled rulesets)")
    d.add_argument("--out", default="docs/rulesets", help="output directory")
    d.add_argument("--facts", metavar="FILE",
                   help="the fact data dictionary (default: facts.md next to --out)")
    d.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 if a document is stale or missing")
    s = sub.add_parser("schema", help="print (or write) the JSON Schemas of the file formats")
    s.add_argument("--write", metavar="DIR", help="write one <name>.schema.json per format")
    s.add_argument("--rules", default=None,
                   help="rules directory for the patient-facts schema (default: the bundled "
                        "rulesets)")
    v = sub.add_parser("serve", help="run the HTTP service (REST API and CDS Hooks 2.0)",
                       description="Run the FastAPI service under uvicorn. Every option can also "
                                   "be set in the environment (REFERRAL_RULES_<OPTION>).")
    v.add_argument("--rules", help="rules directory (env REFERRAL_RULES_RULES; default: the "
                                   "bundled rulesets)")
    v.add_argument("--host", help="bind address (env REFERRAL_RULES_HOST; default 127.0.0.1)")
    v.add_argument("--port", type=int, help="port (env REFERRAL_RULES_PORT; default 8000)")
    v.add_argument("--workers", type=int, help="worker processes (env REFERRAL_RULES_WORKERS; "
                                                  "default 1)")
    v.add_argument("--database-url", help="SQLAlchemy URL for the audit and feedback records "
                                          "(env REFERRAL_RULES_DATABASE_URL; default "
                                          "sqlite:///referral-rules.db)")
    v.add_argument("--sqlite-synchronous", choices=["full", "normal"],
                   help="SQLite durability: full (default; survives a power cut) or normal "
                        "(survives kill -9, not a power cut; faster on slow disks)")
    v.add_argument("--api-key", help="key for admin and write endpoints "
                                     "(env REFERRAL_RULES_API_KEY; prefer the environment)")
    v.add_argument("--care-level", choices=["primary", "secondary", "tertiary"],
                   help="care level of the facility the CDS Hooks services advise "
                        "(env REFERRAL_RULES_CARE_LEVEL; default primary)")
    v.add_argument("--backend", choices=["durable", "python", "auto"],
                   help="rule engine backend (env REFERRAL_RULES_BACKEND; default auto)")
    w = sub.add_parser("workbench", help="the workbench page on 127.0.0.1, without the "
                                         "database (try the rules, read why, write cases)",
                       description="Serve the workbench (/workbench) on 127.0.0.1 only, over "
                                   "the bundled or a given rules directory. No database: its "
                                   "evaluations are never stored.")
    w.add_argument("rules", nargs="?", default=None,
                   help="rules directory (default: the bundled rulesets)")
    w.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    w.add_argument("--backend", choices=["durable", "python", "auto"], default="auto")
    w.add_argument("--open", action=argparse.BooleanOptionalAction, default=None,
                   help="open it in the browser (default: when a desktop is there)")
    _cli_batch.add_parsers(sub)
    return p


def main(argv: Sequence[str] | None = None, stdout: IO[str] | None = None,
         stderr: IO[str] | None = None, stdin: IO[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    stdin = stdin or sys.stdin
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if getattr(args, "rules", "") is None and args.command != "serve":  # serve: its settings
        args.rules = str(bundled_rulesets())
    colour = stdout.isatty() and "NO_COLOR" not in os.environ
    out, err = _Out(stdout, colour), _Out(stderr, colour and stderr.isatty())
    try:
        if args.command == "check":
            return _check(args, out)
        if args.command == "test":
            return _test(args, out)
        if args.command in ("eval", "explain"):
            return _eval(args, out, err, stdin)
        if args.command == "docs":
            return _docs(args, out, err)
        if args.command == "lint":
            return _lint(args, out)
        if args.command == "serve":
            return _serve(args, err)
        if args.command == "workbench":
            return _workbench(args, err)
        if args.command == "batch":
            return _cli_batch.batch(args, out, err)
        if args.command == "population":
            return _cli_batch.population(args, out, err)
        return _schema(args, out)
    except RulesetError as exc:
        if getattr(args, "json", False):
            out(json.dumps({"ok": False, "issues": [i.to_dict() for i in exc.issues]},
                           ensure_ascii=False, indent=2))
        else:
            for issue in exc.issues:
                err(str(issue), "red")
            err(f"{len(exc.issues)} problem(s)", "bold")
        return INVALID
    except EngineError as exc:
        err(f"engine error: {exc}", "red")
        return ENGINE
    except OSError as exc:
        err(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), "red")
        return USAGE


def _check(args: argparse.Namespace, out: _Out) -> int:
    bundle = load_rulesets(args.rules)
    cases = len(bundle.cases)
    if args.fhir_mapping:
        problems = _check_mapping(args.fhir_mapping, bundle)
        if problems:
            if args.json:
                out(json.dumps({"ok": False, "issues": problems}, ensure_ascii=False, indent=2))
            else:
                for text in problems:
                    out(text, "red")
                out(f"{len(problems)} problem(s) in {args.fhir_mapping}", "bold")
            return INVALID
    if args.json:
        out(json.dumps({"ok": True, "issues": [], "rulesets": sorted(bundle.rulesets),
                        "rules": len(bundle.rules), "cases": cases}, indent=2))
    else:
        for rs in bundle.rulesets.values():
            out(f"{rs.file}: {rs.id} {rs.version}, {len(rs.rules)} rules, "
                f"{len(rs.cases)} cases")
        out(f"ok: {len(bundle.rulesets)} rulesets, {len(bundle.rules)} rules, {cases} cases",
            "green")
    return OK


def _check_mapping(path: str, bundle: Any) -> list[str]:
    """Problems of a FHIR mapping file (``file:line:column: …``), or none."""
    try:
        from referral_rules_service.fhir_map import MappingError, load_mapping
    except ImportError as exc:
        return [f"{path}: checking a FHIR mapping needs the service extra "
                f"(pip install 'referral-rules[service]'): {exc}"]
    try:
        load_mapping(path, vocabulary=bundle.vocabulary)
    except MappingError as exc:
        return list(exc.issues)
    return []


def _test(args: argparse.Namespace, out: _Out) -> int:
    bundle = load_rulesets(args.rules)
    engine = Engine(bundle, args.backend)
    try:
        report = run_cases(bundle, engine)
    finally:
        engine.close()
    if args.json:
        out(json.dumps(summary(report), ensure_ascii=False, indent=2))
        return OK if report.ok else INVALID
    width = max((len(r.spec.case.name) for r in report.results), default=10)
    width = min(width, 70)
    for r in report.results:
        if r.passed and not args.verbose:
            continue
        mark = "PASS" if r.passed else "FAIL"
        out(f"{mark}  {r.spec.case.name[:width]:<{width}}  {r.where}",
            "green" if r.passed else "red")
        for problem in r.problems:
            out(f"      {problem}", "red")
    cov = report.coverage
    for rid in cov.rules_unfired:
        out(f"UNCOVERED  rule {rid} is fired by no case", "yellow")
    for piece in cov.derivations_unused:
        out(f"UNCOVERED  derivation of {piece} is used by no case", "yellow")
    for text in cov.thresholds_uncovered:
        out(f"UNCOVERED  {text}", "yellow")
    passed = len(report.results) - len(report.failed)
    out(f"coverage: {cov.percent:.1f}% ({cov.rules_total} rules, {cov.derivations_total} "
        f"derivation pieces, {cov.thresholds_total} thresholds)", "bold")
    out(f"{passed} passed, {len(report.failed)} failed", "green" if report.ok else "red")
    return OK if report.ok else INVALID


def _read_facts(path: str, stdin: IO[str]) -> Any:
    text = stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    return json.loads(text)


def _eval(args: argparse.Namespace, out: _Out, err: _Out, stdin: IO[str]) -> int:
    try:
        facts = _read_facts(args.facts, stdin)
    except json.JSONDecodeError as exc:
        err(f"{args.facts}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}", "red")
        return INVALID
    bundle = load_rulesets(args.rules)
    engine = Engine(bundle, args.backend)
    conditions = args.conditions.split(",") if args.conditions else None
    try:
        decision = engine.evaluate(facts, conditions)
    except FactsError as exc:
        payload = {"ok": False, "errors": [i.to_dict() for i in exc.issues]}
        if args.json:
            out(json.dumps(payload, ensure_ascii=False, indent=2))
        for issue in exc.issues:
            err(f"invalid fact {issue}", "red")
        return INVALID
    except UnknownConditionError as exc:
        err(str(exc), "red")
        return USAGE
    finally:
        engine.close()
    lang = args.lang if args.command == "explain" else args.explain
    if lang:
        out(decision.explain(lang).rstrip("\n"))
    else:
        out(decision.to_json(indent=2))
    return OK


def _lint(args: argparse.Namespace, out: _Out) -> int:
    findings = lint(args.rules)
    errors = sum(f.severity == "error" for f in findings)
    warnings = len(findings) - errors
    failed = errors > 0 or (args.strict and warnings > 0)
    if args.json:
        out(json.dumps({"ok": not failed, "findings": [f.to_dict() for f in findings]},
                       ensure_ascii=False, indent=2))
        return INVALID if failed else OK
    for finding in findings:
        out(str(finding), "red" if finding.severity == "error" else "yellow")
        if finding.example is not None:
            out("    example patient: " + json.dumps(finding.example, ensure_ascii=False), "dim")
    out(f"{errors} error(s), {warnings} warning(s)", "red" if failed else "green")
    return INVALID if failed else OK


def _docs(args: argparse.Namespace, out: _Out, err: _Out) -> int:
    bundle = load_rulesets(args.rules)
    facts = Path(args.facts) if args.facts else None
    stale = write_docs(bundle, Path(args.out), check=args.check, facts=facts)
    if args.check:
        for path in stale:
            err(f"stale: {path} (run `referral-rules docs`)", "red")
        if not stale:
            out("docs are current", "green")
        return INVALID if stale else OK
    for path in stale:
        out(f"wrote {path}")
    if not stale:
        out("docs are current", "green")
    return OK


def _schema(args: argparse.Namespace, out: _Out) -> int:
    schemas = all_schemas(args.rules)
    if args.write:
        target = Path(args.write)
        target.mkdir(parents=True, exist_ok=True)
        for name, schema in schemas.items():
            path = target / f"{name}.schema.json"
            path.write_text(json.dumps(schema, ensure_ascii=False, indent=2) + "\n",
                            encoding="utf-8")
            out(str(path))
        return OK
    out(json.dumps(schemas, ensure_ascii=False, indent=2))
    return OK


def _serve(args: argparse.Namespace, err: _Out) -> int:
    try:
        from referral_rules_service.server import serve
    except ImportError as exc:
        err(f"the service needs its extra: pip install 'referral-rules[service]' ({exc})", "red")
        return USAGE
    options = {k: v for k, v in vars(args).items() if k != "command" and v is not None}
    return serve(options, err.stream)


def _workbench(args: argparse.Namespace, err: _Out) -> int:
    try:
        from referral_rules_service.workbench_app import run_workbench
    except ImportError as exc:
        err(f"the workbench needs the service extra: pip install 'referral-rules[service]' "
            f"({exc})", "red")
        return USAGE
    return run_workbench(args.rules, args.port, args.backend, args.open, err.stream)
