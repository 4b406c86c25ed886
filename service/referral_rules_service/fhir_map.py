"""FHIR R4 resources (a CDS Hooks ``prefetch``) -> patient facts, by ``fhir_mapping.yaml``.

Resources are parsed with ``fhir.resources.R4B`` (fhir.resources 8 ships R5, R4B and STU3; R4B
is wire-compatible with R4 for Patient, Observation and Condition). Bundles are flattened here
and only those three resource types are parsed; anything else is reported, not validated.

Nothing is guessed: an unknown code, a result with a comparator (``> 60``), an unconvertible unit,
a cancelled or entered-in-error resource is left out and reported in ``Mapped.ignored``. A
malformed resource raises ``FhirInputError`` with the JSON path of every problem. The result is a
pure function of the input and ``now``. Nothing here logs; identifiers never leave the result.
"""

from __future__ import annotations

import collections.abc as abc
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.observation import Observation, ObservationComponent
from fhir.resources.R4B.patient import Patient
from pydantic import ValidationError

from referral_rules import ReferralRulesError
from referral_rules.vocabulary import Vocabulary

from .fhir_mapping_model import (
    Mapping,
    MappingError,
    ObservationRule,
    has_value,
    load_mapping_file,
    token,
)

__all__ = ["FhirInputError", "Ignored", "Mapped", "Mapping", "MappingError", "load_mapping",
           "map_resources"]

SNIP = "..."  # the CDS Hooks 2.0 examples' literal "...": "<snipped for brevity>" member
CLOCK_SKEW = timedelta(minutes=5)  # a value dated up to this far after `now` still counts
Resource = Observation | Condition | Patient | Encounter
_PARSERS: dict[str, type[Resource]] = {
    "Observation": Observation, "Condition": Condition, "Patient": Patient,
    "Encounter": Encounter}
_OBS_STATUS = {"registered", "preliminary", "final", "amended", "corrected", "cancelled",
               "entered-in-error", "unknown"}
_GENDERS = {"male", "female", "other", "unknown"}
_TERMINOLOGY = "http://terminology.hl7.org/CodeSystem/"
_CLINICAL = {"active", "recurrence", "relapse", "inactive", "remission", "resolved"}
_VERIFICATION = {"unconfirmed", "provisional", "differential", "confirmed", "refuted",
                 "entered-in-error"}
_PATIENT_REF = re.compile(r"(?:^|/)Patient/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]*)?$")
_OBS_REF = re.compile(r"(?:^|/)(Observation/[A-Za-z0-9\-.]{1,64})(?:/_history/[^/]*)?$")


class FhirInputError(ReferralRulesError, ValueError):
    """Malformed FHIR input; ``issues`` = ``[{"path": ..., "message": ...}]`` for a 4xx answer."""

    def __init__(self, issues: list[dict[str, str]]) -> None:
        self.issues = sorted(issues, key=lambda i: (i["path"], i["message"]))
        shown = "; ".join(f"{i['path']}: {i['message']}" for i in self.issues[:5])
        super().__init__(f"{len(self.issues)} problem(s) in the FHIR input: {shown}")


@dataclass(frozen=True)
class Ignored:
    """A resource (or one reading in it) that gave no fact, and why."""

    reference: str  # "Observation/id", else the fullUrl, else the JSON path
    reason: str  # e.g. unknown-code, entered-in-error, older-than-1-days, comparator
    code: str | None  # "system|code" of the reading concerned, when there is one
    # not part of its identity (equality, hashing): the reading and the reason are
    path: str = field(default="", compare=False)  # prefetch.observations.entry[2].resource
    fact: str | None = field(default=None, compare=False)  # the fact it would have given


@dataclass(frozen=True)
class Mapped:
    """Facts built from FHIR, where each came from, and what was left out."""

    facts: dict[str, Any]
    sources: dict[str, str]  # fact -> reference of the resource used
    ignored: tuple[Ignored, ...]


def load_mapping(path: str | Path | None = None, *,
                 vocabulary: Vocabulary | None = None) -> Mapping:
    """Load and check a mapping file (None = the bundled ``fhir_mapping.yaml``).

    With ``vocabulary`` (``load_rulesets(...).vocabulary``) every fact name, type and coded value
    is checked against facts.yaml too. Raises ``MappingError`` listing every problem.
    """
    return load_mapping_file(path, vocabulary)


@dataclass(frozen=True)
class _Raw:
    path: str
    data: dict[str, Any]
    ref: str
    full_url: str | None


@dataclass(frozen=True)
class _Candidate:
    fact: str
    value: Any
    when: datetime | None
    ref: str
    path: str

    def key(self) -> tuple[bool, float, str, str]:
        """Newest first; undated last; ties by reference, then input path."""
        stamp = -self.when.timestamp() if self.when is not None else 0.0
        return (self.when is None, stamp, self.ref, self.path)


def map_resources(mapping: Mapping, resources: abc.Iterable[Any] | abc.Mapping[str, Any], *,
                  now: datetime, patient_id: str | None = None,
                  encounter_id: str | None = None) -> Mapped:
    """Map prefetched FHIR R4 values to facts.

    ``resources``: the values of a CDS Hooks ``prefetch`` (a list), or the prefetch object itself
    (a dict: paths then read ``prefetch.<key>...``). Each value may be a resource, a Bundle, null
    (no data) or anything else (reported as not-a-resource). ``now`` must be timezone-aware;
    date-only values are taken at 00:00 in its timezone. With ``patient_id``, resources about
    another patient are left out. The Encounter with ``encounter_id`` (the hook's
    ``context.encounterId``) gives the visit type; without it, only a lone Encounter does.
    Raises ``FhirInputError`` if any resource is malformed.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        msg = "now must be timezone-aware"
        raise ValueError(msg)
    if isinstance(resources, str | bytes):
        msg = "resources must be a list or a prefetch object, not a string"
        raise TypeError(msg)
    roots = ([(f"prefetch.{k}", v) for k, v in resources.items()]
             if isinstance(resources, abc.Mapping) else
             [(f"resources[{i}]", v) for i, v in enumerate(resources)])
    run = _Run(mapping, now, patient_id, encounter_id)
    for path, value in roots:
        run.flatten(path, value, None)
    parsed = run.parse()
    if run.errors:
        raise FhirInputError(run.errors)
    run.member_times(parsed)
    encounters = sum(isinstance(res, Encounter) for _, res in parsed)
    for raw, res in parsed:
        if isinstance(res, Observation):
            run.observation(raw, res)
        elif isinstance(res, Condition):
            run.condition(raw, res)
        elif isinstance(res, Encounter):
            run.encounter(raw, res, alone=encounters == 1)
        else:
            run.patient(raw, res)
    return run.result()


class _Run:
    def __init__(self, mapping: Mapping, now: datetime, patient_id: str | None,
                 encounter_id: str | None) -> None:
        self.m, self.now, self.patient_id = mapping, now, patient_id
        self.encounter_id = encounter_id
        self.raws: list[_Raw] = []
        self.errors: list[dict[str, str]] = []
        self.ignored: set[Ignored] = set()
        self.found: list[_Candidate] = []
        self.panel_time: dict[str, datetime] = {}

    def skip(self, where: _Raw | str, reason: str, code: str | None = None,
             fact: str | None = None, *, path: str | None = None) -> None:
        """Record what was left out: a parsed resource, or a bare JSON path."""
        if isinstance(where, _Raw):
            self.ignored.add(Ignored(where.ref, reason, code, where.path, fact))
        else:
            self.ignored.add(Ignored(where, reason, code, path or where, fact))

    def error(self, path: str, message: str) -> None:
        self.errors.append({"path": path, "message": message})

    # --- input -> resources ------------------------------------------------------------------
    def flatten(self, path: str, value: Any, full_url: str | None) -> None:
        if value is None:
            return
        kind = value.get("resourceType") if isinstance(value, dict) else None
        if kind is None:
            self.skip(path, "not-a-resource")
            return
        if not isinstance(kind, str):
            self.error(f"{path}.resourceType", "must be a string")
            return
        rid = value.get("id")
        ref = f"{kind}/{rid}" if isinstance(rid, str) and rid else (full_url or path)
        if kind == "Bundle":
            self.bundle(path, value)
        elif kind in _PARSERS:
            self.raws.append(_Raw(path, value, ref, full_url))
        elif kind == "OperationOutcome" and ".entry[" not in path:
            # a prefetch value: the client could not get the data (CDS Hooks 2.0 §Prefetch)
            self.skip(ref, "prefetch-error", path=path)
        else:
            self.skip(ref, "unsupported-type", path=path)

    def bundle(self, path: str, value: dict[str, Any]) -> None:
        entries = value.get("entry", [])
        links = value.get("link", [])
        if not isinstance(entries, list) or not isinstance(links, list):
            self.error(path, "Bundle.entry and Bundle.link must be arrays")
            return
        total = value.get("total")
        if any(isinstance(ln, dict) and ln.get("relation") == "next" for ln in links) or (
                isinstance(total, int) and total > len(entries)):
            self.skip(path, "bundle-has-more-pages")
        for i, entry in enumerate(entries):
            where = f"{path}.entry[{i}]"
            if not isinstance(entry, dict):
                self.error(where, "a Bundle entry must be an object")
            elif entry.get("resource") is None:
                self.skip(where, "not-a-resource")
            else:
                url = entry.get("fullUrl")
                self.flatten(f"{where}.resource", entry["resource"],
                             url if isinstance(url, str) else None)

    def parse(self) -> list[tuple[_Raw, Resource]]:
        out: list[tuple[_Raw, Resource]] = []
        for raw in self.raws:
            data, snipped = _unsnip(raw.data)
            try:
                res = _PARSERS[raw.data["resourceType"]].model_validate(data)
            except ValidationError as exc:
                errs = exc.errors(include_url=False)
                if snipped and all(e["type"].endswith("missing") for e in errs):
                    self.skip(raw, "snipped-incomplete")  # the sender cut what is needed
                    continue
                for e in errs:
                    self.error(raw.path + _loc(e["loc"]), _message(e["type"], str(e["msg"])))
                continue
            if snipped:
                self.skip(raw, "snipped")
            if self.valid_codes(raw, res):
                out.append((raw, res))
        return out

    def valid_codes(self, raw: _Raw, res: Resource) -> bool:
        """Required bindings fhir.resources does not check: status, comparator, gender."""
        bad = len(self.errors)
        if isinstance(res, Observation):
            if res.status not in _OBS_STATUS:
                self.error(f"{raw.path}.status", f"'{res.status}' is not an Observation status")
            quantities = [("", res.valueQuantity)] + [
                (f".component[{i}]", c.valueQuantity) for i, c in enumerate(res.component or [])]
            for where, q in quantities:
                if q is not None and q.comparator not in (None, "<", "<=", ">=", ">"):
                    self.error(f"{raw.path}{where}.valueQuantity.comparator",
                               f"'{q.comparator}' is not one of < <= >= >")
        if isinstance(res, Patient) and res.gender not in (None, *_GENDERS):
            self.error(f"{raw.path}.gender", f"'{res.gender}' is not male/female/other/unknown")
        return len(self.errors) == bad

    def member_times(self, parsed: list[tuple[_Raw, Resource]]) -> None:
        """Members of a panel (``hasMember``) without a time of their own take the panel's."""
        for _, res in parsed:
            if isinstance(res, Observation) and res.hasMember:
                when = self.instant(_obs_time(res))
                for member in res.hasMember:
                    key = _member_key(member.reference)
                    if when is not None and key is not None:  # two panels: the earlier time
                        self.panel_time[key] = min(when, self.panel_time.get(key, when))

    # --- resources -> candidates -------------------------------------------------------------
    def about_other_patient(self, raw: _Raw, subject: str | None,
                            code: str | None = None) -> bool:
        found = _PATIENT_REF.search(subject or "")
        if self.patient_id is None or found is None or found.group(1) == self.patient_id:
            return False
        self.skip(raw, "other-patient", code)
        return True

    def observation(self, raw: _Raw, obs: Observation) -> None:
        m, code = self.m, token(obs.code, self.m)
        if self.about_other_patient(raw, obs.subject.reference if obs.subject else None, code):
            return
        if obs.status not in m.observation_status:
            why = obs.status if obs.status in ("entered-in-error", "cancelled") else (
                f"status-{obs.status}")
            self.skip(raw, why, code)
            return
        readings: list[tuple[Observation | ObservationComponent, tuple[ObservationRule, ...]]]
        readings = [(obs, m.observation_rules(obs.code))] if has_value(obs) or (
            m.observation_rules(obs.code)) else []  # a panel's own code is not a reading
        readings += [(c, m.observation_rules(c.code)) for c in obs.component or []]
        if not any(rules for _, rules in readings):
            why = ("members-only" if obs.hasMember and not readings else "not-mapped"
                   if m.is_not_mapped(obs.code) or any(m.is_not_mapped(r.code) for r, _ in readings)
                   else "unknown-code")
            self.skip(raw, why, code)
            return
        own = _obs_time(obs)
        when = self.instant(own) if own is not None else self.panel_time.get(
            _member_key(raw.ref) or "") or self.panel_time.get(raw.full_url or "")
        if when is None:
            self.skip(raw, "no-date", code)
            return
        for elem, rules in readings:
            code = token(elem.code, m)  # the reading's own code: a component is named by it
            if not rules:
                self.skip(raw, "not-mapped" if m.is_not_mapped(elem.code) else
                          "unknown-code", code)
            for rule in rules:
                if self.too_old(raw, when, rule.max_age_days, code, rule.fact):
                    continue
                value, reason = rule.read(elem)
                if reason is not None:
                    self.skip(raw, reason, code, rule.fact)
                else:
                    self.found.append(_Candidate(rule.fact, value, when, raw.ref, raw.path))

    def condition(self, raw: _Raw, cond: Condition) -> None:
        if self.about_other_patient(raw, cond.subject.reference):
            return
        rules, code = self.m.condition_rules(cond.code), token(cond.code, self.m)
        if not rules:
            self.skip(raw, "not-mapped" if self.m.is_not_mapped(cond.code) else
                      "unknown-code", code)
            return
        verification = _status(cond.verificationStatus, _TERMINOLOGY + "condition-ver-status",
                               _VERIFICATION)
        clinical = _status(cond.clinicalStatus, _TERMINOLOGY + "condition-clinical", _CLINICAL)
        abated = any(getattr(cond, f"abatement{t}") is not None for t in (
            "DateTime", "Age", "Period", "Range", "String"))
        if verification in ("entered-in-error", "refuted"):
            self.skip(raw, verification, code)
            return
        if abated or clinical not in self.m.clinical_status:
            self.skip(raw, "abated" if abated else f"clinical-status-{clinical}", code)
            return
        dated = cond.recordedDate or cond.onsetDateTime or (
            cond.onsetPeriod.start if cond.onsetPeriod else None)
        when = self.instant(dated)
        for rule in rules:
            if verification not in rule.verification:
                self.skip(raw, f"verification-{verification}", code)
            elif rule.max_age_days is not None and when is None:
                self.skip(raw, "no-date", code)
            elif when is None or not self.too_old(raw, when, rule.max_age_days, code):
                self.found.append(_Candidate(rule.fact, True, when, raw.ref, raw.path))

    def encounter(self, raw: _Raw, enc: Encounter, *, alone: bool) -> None:
        """The visit type from the hook's Encounter; never guessed (see fhir_mapping.yaml)."""
        rule = self.m.encounter
        if rule is None:
            self.skip(raw, "unsupported-type")
            return
        if self.about_other_patient(raw, enc.subject.reference if enc.subject else None):
            return
        if self.encounter_id is not None and enc.id != self.encounter_id:
            self.skip(raw, "other-encounter", None, rule.fact)
            return
        if self.encounter_id is None and not alone:
            self.skip(raw, "several-encounters", None, rule.fact)
            return
        klass = enc.class_fhir
        code = f"{klass.system}|{klass.code}" if klass and klass.code else None
        if enc.status not in rule.status:
            why = enc.status if enc.status in ("entered-in-error", "cancelled") else (
                f"status-{enc.status}")
            self.skip(raw, why, code, rule.fact)
            return
        values = {rule.types[k] for c in (t.coding or [] for t in enc.type or [])
                  for coding in c for k in self.m.coding_keys(coding) if k in rule.types}
        by_class = rule.classes.get((klass.system or "", (klass.code or "").strip())) \
            if klass else None
        if by_class is not None:
            values.add(by_class)
        if len(values) != 1:
            self.skip(raw, "encounter-types-disagree" if values else "visit-type-not-coded",
                      code, rule.fact)
            return
        self.found.append(_Candidate(rule.fact, values.pop(), None, raw.ref, raw.path))

    def patient(self, raw: _Raw, pat: Patient) -> None:
        if self.patient_id is not None and pat.id is not None and pat.id != self.patient_id:
            self.skip(raw, "other-patient")
            return
        born: object = pat.birthDate  # a date, or a str for a partial date ("1974-12")
        today = self.now.date()
        if self.m.age_fact and born is not None:
            if not isinstance(born, date) or born > today:
                self.skip(raw, "future-date" if isinstance(born, date) else
                          "partial-birth-date")
            else:
                age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
                self.found.append(_Candidate(self.m.age_fact, age, None, raw.ref, raw.path))
        if self.m.sex_fact and pat.gender is not None:
            sex = self.m.sex_values.get(pat.gender)
            if sex is None:
                self.skip(raw, "value-not-mapped",
                          f"http://hl7.org/fhir/administrative-gender|{pat.gender}")
            else:
                self.found.append(_Candidate(self.m.sex_fact, sex, None, raw.ref, raw.path))

    # --- helpers -----------------------------------------------------------------------------
    def instant(self, value: object) -> datetime | None:
        """The earliest instant a FHIR date/dateTime can mean (date-only: 00:00 in now's zone)."""
        tz = self.now.tzinfo
        if isinstance(value, datetime):
            return value if value.tzinfo is not None else value.replace(tzinfo=tz)
        if isinstance(value, date):
            return datetime.combine(value, time.min, tzinfo=tz)
        if isinstance(value, str) and re.fullmatch(r"\d{4}(-\d{2})?", value):
            year, _, month = value.partition("-")
            return datetime(int(year), int(month or 1), 1, tzinfo=tz)
        return None

    def too_old(self, raw: _Raw, when: datetime, days: int | None, token: str | None,
                fact: str | None = None) -> bool:
        if when > self.now + CLOCK_SKEW:
            self.skip(raw, "future-date", token, fact)
            return True
        if days is not None and self.now - when > timedelta(days=days):
            self.skip(raw, f"older-than-{days}-days", token, fact)
            return True
        return False

    def result(self) -> Mapped:
        best: dict[str, _Candidate] = {}
        for cand in sorted(self.found, key=_Candidate.key):
            best.setdefault(cand.fact, cand)
        names = sorted(best)
        ignored = sorted(self.ignored, key=lambda i: (i.reference, i.reason, i.code or ""))
        return Mapped({n: best[n].value for n in names}, {n: best[n].ref for n in names},
                      tuple(ignored))


def _obs_time(obs: Observation) -> object:
    period = obs.effectivePeriod
    if obs.effectiveDateTime is None and period is not None and (period.end or period.start):
        return period.end or period.start  # the end of a measuring period, else its start
    return obs.effectiveDateTime or obs.effectiveInstant or obs.issued


def _status(cc: CodeableConcept | None, system: str, known: set[str]) -> str:
    if cc is None:
        return "absent"
    codes = [c.code for c in cc.coding or [] if c.system in (system, None) and c.code in known]
    return str(codes[0]) if codes else "unknown"


def _member_key(reference: str | None) -> str | None:
    found = _OBS_REF.search(reference or "")
    return found.group(1) if found else reference


def _unsnip(value: Any) -> tuple[Any, bool]:
    """Drop the spec examples' ``"..."`` members (at any depth); say whether there were any."""
    if isinstance(value, dict):
        pairs = [(k, _unsnip(v)) for k, v in value.items() if k != SNIP]
        return {k: v for k, (v, _) in pairs}, SNIP in value or any(c for _, (_, c) in pairs)
    if isinstance(value, list):
        items = [_unsnip(v) for v in value]
        return [v for v, _ in items], any(c for _, c in items)
    return value, False


def _loc(loc: tuple[int | str, ...]) -> str:
    """pydantic's loc as a JSON path: ``component[0].valueQuantity.value``."""
    return "".join(f"[{p}]" if isinstance(p, int) else f"._{p[:-5]}" if p.endswith("__ext")
                   else f".{p}" for p in loc if p != "root")  # "root": a pydantic RootModel


def _message(kind: str, msg: str) -> str:
    if kind.endswith("missing"):
        return "required element is missing"
    known = {"extra_forbidden": "not an element of this resource in FHIR R4",
             "json_invalid": "expected an object"}
    return known.get(kind, msg.removeprefix("Value error, "))
