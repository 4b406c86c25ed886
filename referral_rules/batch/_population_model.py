"""The clinical model behind the synthetic population (see ``population.py`` for the API).

Every number here is **illustrative**: chosen so the population looks like a consortium's
chronic-disease and surgical caseload and exercises every rule, not estimated from any data
set. Nothing here is an epidemiological estimate and none of it comes from real patients.

Each patient has a care level, an encounter type (``visit_type``), an age and sex, one to four
conditions and a latent *state*: ``STABLE`` (for an inpatient: ready to leave), ``BORDERLINE``
(recovering) or ``ACUTE``. Fact values follow the state and the conditions, so that values that
belong together agree (SBP and DBP are correlated; fasting glucose, the previous fasting glucose
and this visit's glucose come from one latent HbA1c through the ADAG relation; a post-operative
patient who is ready to leave mostly meets every ERAS item). Values are then *recorded* or not,
the way an HIS export holds them (documentation by exception): only facts that one of the
patient's rulesets reads, each with the patient's documentation probability; a finding (a
symptom, a danger sign, a complication, a condition such as ``has_hypertension``) only when it
is present, since nobody charts "no anaphylaxis"; a laboratory value only for the patients who
had the test; ``false`` only for the items a clinician charts either way (``ASSESSED``: discharge
checklists and stability judgements); ``accepts_transfer`` only when the patient was asked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ._population_draw import (
    ACUTE,
    BORDERLINE,
    DANGER,
    STABLE,
    SYMPTOM,
    Arr,
    Bools,
    Draw,
    Flag,
    num,
    whole,
)
from ._population_facts import chest_pain, diabetes, hypertension, post_operative

__all__ = ["ASSESSED", "CONDITIONS", "ENUMS", "STABLE", "Sim", "simulate"]

CONDITIONS = ("hypertension", "diabetes", "chest_pain", "post_operative")
ENUMS: dict[str, tuple[str, ...]] = {
    "care_level": ("primary", "secondary", "tertiary"),
    "visit_type": ("first_visit", "follow_up", "inpatient"),
    "sex": ("female", "male"),
    "accepts_transfer": ("yes", "no", "not_asked"),
    "ecg_result": ("normal", "abnormal", "not_available"),
    "troponin_repeat_result": ("negative", "positive", "not_done"),
}
TRANSFERS = ("up", "down", "none")

# Items behind the simulated clinicians' down-transfers, per condition (in CONDITIONS order).
FIT = (("htn_diagnosis_established", "htn_treatment_plan_suitable_for_primary",
        "htn_condition_stable"),
       ("dm_diagnosis_established", "dm_treatment_plan_set", "dm_glucose_stable",
        "dm_complications_stable", "not dm_glucose_not_at_target"),
       ("not acs_complication_signs",),
       ("self_care_basic", "temperature_normal", "not infection_signs", "wound_healing_well",
        "not wound_dehiscence", "not iv_fluids_needed", "oral_analgesia_effective"))
# Documentation: share of patients, and P(a relevant fact is recorded) for each group.
DOCUMENTATION = ((0.60, 0.995), (0.30, 0.93), (0.10, 0.60))
ALWAYS = ("care_level", "visit_type", "age", "sex", "accepts_transfer",
          "arrived_by_ambulance_120", "mass_casualty_event", "critically_ill")
RECORDED = {"care_level": 1.0, "visit_type": 0.98, "age": 0.99, "sex": 0.99,
            "accepts_transfer": 0.9, "arrived_by_ambulance_120": 0.85,
            "mass_casualty_event": 0.85, "critically_ill": 0.6,
            "facility_pci_capable": 0.95}  # from the facility table, not the chart
# Informational facts (no rule reads them): recorded for the patients of this condition.
INFORMATIONAL = {"days_since_surgery": 3, "diuretic_in_regimen": 0, "egfr": 1}
# Booleans a clinician charts as yes or no when assessing them (discharge checklists, ERAS
# items, stability judgements). Every other boolean is a finding, written down only if present.
ASSESSED = frozenset({
    "htn_diagnosis_established", "htn_treatment_plan_suitable_for_primary",
    "htn_condition_stable", "dm_diagnosis_established", "dm_treatment_plan_set",
    "dm_glucose_stable", "dm_complications_stable", "chest_pain_discharge_criteria_met",
    "post_mi_stable", "self_care_basic", "tolerating_semi_liquid_diet",
    "flatus_and_stool_passed", "wound_healing_well", "walking_freely", "oral_analgesia_effective",
    "stable_after_acute_treatment", "temperature_normal", "iv_fluids_needed",
    "needs_continued_rehabilitation", "facility_pci_capable",
})
_NOT_ASKED = 2  # accepts_transfer == "not_asked": blank in an export


@dataclass
class Sim:
    """One chunk: fact columns (values, present), conditions, what happened, latent state."""

    columns: dict[str, tuple[NDArray[np.generic], Bools]]
    conditions: NDArray[np.bool_]  # (m, len(CONDITIONS))
    actual: NDArray[np.int64]  # index into TRANSFERS
    state: NDArray[np.int64]


def simulate(rng: np.random.Generator, m: int, available: Sequence[str],
             reads: Mapping[str, frozenset[str]]) -> Sim:
    """Simulate ``m`` patients; ``reads[c]`` are the facts ruleset ``c`` reads."""
    d = Draw(rng, m)
    level = d.by(np.zeros(m, np.int64), [[0.55, 0.30, 0.15]])
    visit = d.by(level, [[0.20, 0.75, 0.05], [0.25, 0.35, 0.40], [0.25, 0.30, 0.45]])
    inpatient, hospital = visit == 2, level > 0
    state = d.by(visit, [[0.78, 0.16, 0.06], [0.86, 0.10, 0.04], [0.45, 0.30, 0.25]])
    age = whole(d.normal(60 + 3 * inpatient, 14), 18, 98)
    female = d.p(np.where(age > 70, 0.54, 0.50))
    d.put("care_level", level)
    d.put("visit_type", visit)
    d.put("age", age)
    d.put("sex", np.where(female, 0, 1))
    cond = _conditions(d, age, inpatient & hospital, level, visit, available)
    htn, dm, cp, po = (cond[:, i] for i in range(4))
    by_state = np.asarray(state)

    def flag(name: str, probs: tuple[float, float, float], extra: Arr | float = 0.0,
             measured: Bools | None = None) -> Bools:
        value = d.p(np.clip(np.asarray(probs)[by_state] + extra, 0.0, 1.0))
        d.put(name, value, measured)
        return value

    _policy(d, state, hospital, female, age, flag)
    sbp, dbp = _vitals(d, state, age, htn, visit)
    for name in ("consciousness_impaired", "apathy_with_low_or_unmeasurable_bp",
                 "heart_rate_dangerously_abnormal", "severe_systemic_anaphylaxis",
                 "other_vital_sign_threat", "severe_headache", "sudden_speech_disorder",
                 "sudden_limb_paralysis", "persistent_severe_chest_back_pain",
                 "lower_limb_oedema", "dyspnoea", "orthopnoea", "blurred_vision", "eye_pain",
                 "retinal_haemorrhage_or_papilloedema", "heart_failure_signs",
                 "acute_kidney_injury", "suspected_phaeochromocytoma", "behaviour_altered",
                 "acetone_breath", "abdominal_pain", "deep_rapid_breathing", "flushed_skin",
                 "sudden_vision_loss", "cold_limbs", "pallor", "tachypnoea",
                 "new_oxygen_need", "skin_mottled_or_ashen", "cyanosis", "non_blanching_rash",
                 "fever_or_sepsis_signs", "acute_cardio_cerebrovascular_disease",
                 "deep_foot_infection_suspected", "foot_gangrene", "limb_ischaemia"):
        flag(name, DANGER)
    for name in ("headache", "dizziness", "nausea", "vomiting", "palpitations", "sweating",
                 "appetite_loss", "polydipsia", "polyuria"):
        flag(name, SYMPTOM)
    hypertension(d, flag, htn, visit, age, sbp, dbp)
    diabetes(d, flag, dm, visit, age, state, sbp, dbp)
    chest_pain(d, flag, cp, hospital, state, age, htn, dm)
    post_operative(d, flag, po, hospital, inpatient, state)
    actual = _actual(d, level, visit, state, cond)
    _issue14(d, flag, state, po)
    _issue10(d, level, visit, state, age, cond)
    return Sim(_record(d, cond, available, reads), cond, actual, state)


def _issue14(d: Draw, flag: Flag, state: NDArray[np.int64], po: Bools) -> None:
    """Facts added by issue 14, drawn after everything else so the earlier columns keep their
    values: the 急危重症 judgement, S4's "other disease that cannot be handled" (hypertension and
    diabetes), the Chaoyang return list's "already transferred to the community", S21's major
    bleeding and a NEWS2 total (scored for a minority of post-operative patients)."""
    flag("critically_ill", (0.001, 0.02, 0.35))
    flag("unmanageable_other_disease", (0.002, 0.03, 0.10))
    flag("dm_transferred_to_community", (0.25, 0.25, 0.25))
    flag("major_bleeding_or_haemoptysis", (0.001, 0.01, 0.06))
    news2 = whole(d.normal(np.asarray([1.0, 3.0, 6.5])[state], 1.5), 0, 20)
    d.put("news2_score", news2, po & d.p(0.2))


def _issue10(d: Draw, level: NDArray[np.int64], visit: NDArray[np.int64],
             state: NDArray[np.int64], age: NDArray[np.int64], cond: NDArray[np.bool_]) -> None:
    """Facts added by issue 10, drawn after everything else so the earlier columns keep their
    values: laboratory results for those tested (HbA1c, a fifth of them reported in mmol/mol;
    potassium; troponin as a ratio to the upper reference limit, agreeing with the HEART
    troponin points; eGFR), the count of severe hypoglycaemia episodes (agreeing with
    ``recurrent_hypoglycaemia``), NSTE-ACS very-high-risk features, and whether the facility
    can do primary PCI (most tertiary hospitals, some secondary ones, no primary clinic)."""
    v, acute, inpatient = d.values, state == ACUTE, visit == 2
    a1c = np.asarray(v["hba1c"], np.float64)  # the latent HbA1c put by diabetes()
    tested = d.p(np.where(inpatient, 0.8, 0.55))
    ifcc = d.p(0.2)
    d.put("hba1c", num(a1c, 3, 20, 1), tested & ~ifcc)
    d.put("hba1c_mmol_mol", num((a1c - 2.152) / 0.09148, 10, 195), tested & ifcc)
    low = np.asarray(v["hypokalaemia_not_diuretic"], np.bool_)
    k = d.normal(4.1 - 0.2 * np.asarray(v["diuretic_in_regimen"], np.float64), 0.35)
    k = np.where(low, d.rng.uniform(2.6, 3.4, d.m), k)
    d.put("serum_potassium", num(k, 1, 10, 1), d.p(np.where(inpatient, 0.7, 0.25)))
    recurrent = np.asarray(v["recurrent_hypoglycaemia"], np.bool_)
    episodes = np.where(recurrent, 2 + d.rng.poisson(0.8, d.m),
                        np.minimum(d.rng.poisson(np.where(acute, 0.3, 0.03)), 1))
    d.put("severe_hypoglycaemia_episodes_12_months", episodes.astype(np.int64), d.p(0.5))
    points = np.asarray(v["heart_troponin_points"], np.int64)
    ratio = np.where(points == 0, d.rng.uniform(0.05, 1.0, d.m),
                     np.where(points == 1, d.rng.uniform(1.05, 2.95, d.m),
                              3 + d.rng.exponential(15, d.m)))
    d.put("troponin_ratio_url", num(ratio, 0, 10000, 2), (level > 0) & d.p(0.7))
    acs = np.asarray(v["suspected_acs"], np.bool_)
    d.put("nste_acs_very_high_risk", acs & acute & ~np.asarray(v["stemi_ecg"], np.bool_)
          & d.p(0.25))
    d.put("facility_pci_capable", d.p(np.array([0.0, 0.3, 0.9])[level]))
    kidney = np.asarray(v["chronic_kidney_disease"], np.bool_) | np.asarray(
        v["diabetic_renal_insufficiency"], np.bool_)
    egfr = np.where(kidney, d.rng.uniform(20, 59, d.m), d.normal(95 - 0.7 * (age - 40), 12))
    d.put("egfr", num(egfr, 5, 150), d.p(0.5) & cond[:, 1])


def _conditions(d: Draw, age: NDArray[np.int64], ward: Bools, level: NDArray[np.int64],
                visit: NDArray[np.int64], available: Sequence[str]) -> NDArray[np.bool_]:
    """Hypertension rises with age; diabetes is likelier with hypertension; chest pain with age,
    hypertension and admission; post-operative patients are mostly hospital inpatients. Drawn
    again for a patient with none of the (available) conditions, so the population is the
    patients with at least one, with the same joint structure."""
    a = (age - 55).astype(np.float64)
    keep = np.array([c in available for c in CONDITIONS])

    def draw() -> NDArray[np.bool_]:
        htn = d.p(np.clip(0.30 + 0.012 * a, 0.08, 0.80))
        dm = d.p(np.clip(0.10 + 0.22 * htn + 0.004 * a, 0.03, 0.55))
        po = d.p(np.where(ward, 0.45, np.where((level == 0) & (visit == 1), 0.03, 0.004)))
        cp = d.p(np.clip(0.04 + 0.05 * htn + 0.002 * a + 0.15 * (ward & ~po)
                         + 0.06 * (visit == 0), 0.01, 0.6))
        drawn: NDArray[np.bool_] = np.stack([htn, dm, cp, po], axis=1) & keep
        return drawn

    cond = draw()
    for _ in range(12):
        none = ~cond.any(axis=1)
        if not none.any():
            break
        cond[none] = draw()[none]
    cond[~cond.any(axis=1), int(np.argmax(keep))] = True  # the very few left
    return cond


def _policy(d: Draw, state: NDArray[np.int64], hospital: Bools, female: Bools,
            age: NDArray[np.int64], flag: Flag) -> None:
    d.put("accepts_transfer", d.by(np.zeros(d.m, np.int64), [[0.50, 0.05, 0.45]]))
    d.put("arrived_by_ambulance_120",
          d.p(np.where((state == ACUTE) & hospital, 0.35, 0.01)))
    flag("mass_casualty_event", (0.0002, 0.0005, 0.005))
    d.put("pregnant_or_breastfeeding", female & (age < 45) & d.p(0.06))  # charted when so


def _vitals(d: Draw, state: NDArray[np.int64], age: NDArray[np.int64], htn: Bools,
            visit: NDArray[np.int64]) -> tuple[Arr, Arr]:
    """Correlated BP pair (DBP follows SBP, falls with age); crises mostly in acute patients."""
    acute, border = state == ACUTE, state == BORDERLINE
    treated = htn & (visit != 0)
    sbp = (121 + 0.3 * (age - 50) + 10 * htn - 6 * treated + 10 * border * htn + 16 * acute
           + d.normal(0, 11))
    crisis = htn & d.p(np.where(acute, 0.35, np.where(border, 0.12, 0.004)))
    sbp = num(sbp + crisis * np.clip(d.normal(45, 12), 20, None), 70, 250)
    dbp = num(0.42 * sbp + 23 - 0.2 * (age - 60) + d.normal(0, 6), 40, 140)
    d.put("sbp", sbp)
    d.put("dbp", dbp)
    d.put("heart_rate", whole(d.normal(75, 9) + 14 * acute + 4 * border, 35, 180))
    temp = d.normal(36.6, 0.25) + acute * np.abs(d.normal(0.8, 0.8))
    d.put("body_temperature", num(temp, 34, 42, 1))
    d.put("respiratory_rate", whole(d.normal(16, 2) + 6 * acute, 8, 45))
    d.put("spo2", num(d.normal(97.5, 1.2) - 5 * acute * d.rng.random(d.m), 70, 100))
    return sbp, dbp


def _actual(d: Draw, level: NDArray[np.int64], visit: NDArray[np.int64],
            state: NDArray[np.int64], cond: NDArray[np.bool_]) -> NDArray[np.int64]:
    """What happened: up-transfers mostly of acute patients below tertiary; down-transfers of
    about a third of the hospital inpatients whose recorded stability items all hold (``_fit``),
    a few others, and some stable hospital outpatients."""
    up = np.array([[0.03, 0.30, 0.80], [0.01, 0.10, 0.35], [0, 0, 0]])[level, state]
    fit = _fit(d, cond) & (state == STABLE)
    ward = np.where(fit, 0.36, 0.02)
    clinic = np.array([0.12, 0.03, 0.0])[state]
    down = np.where(level == 0, 0.0, np.where(visit == 2, ward, clinic))
    u = d.u() / 65536.0
    return np.where(u < up, 0, np.where(u < up + down, 1, 2)).astype(np.int64)


def _fit(d: Draw, cond: NDArray[np.bool_]) -> Bools:
    """The discharge / down items the clinicians look at all hold, for each condition."""
    v = d.values
    ok = np.ones(d.m, np.bool_)
    for i, items in enumerate(FIT):
        held = np.ones(d.m, np.bool_)
        for item in items:
            held &= ~v[item[4:]].astype(np.bool_) if item.startswith("not ") else \
                v[item].astype(np.bool_)
        ok &= ~cond[:, i] | held
    return ok


def _record(d: Draw, cond: NDArray[np.bool_], available: Sequence[str],
            reads: Mapping[str, frozenset[str]]) -> dict[str, tuple[NDArray[np.generic], Bools]]:
    """Keep a value where one of the patient's rulesets reads it, the patient's clinic measured
    it, and it was written down (documentation probability of the patient's group); a finding
    only where it is present (``ASSESSED`` booleans either way)."""
    group = d.by(np.zeros(d.m, np.int64), [[share for share, _ in DOCUMENTATION]])
    p_rec = np.array([p for _, p in DOCUMENTATION])[group]
    out: dict[str, tuple[NDArray[np.generic], Bools]] = {}
    for name in sorted(d.values):
        relevant = np.zeros(d.m, np.bool_)
        for i, c in enumerate(CONDITIONS):
            if c in available and name in reads.get(c, frozenset()):
                relevant |= cond[:, i]
        if name in ALWAYS:
            relevant = np.ones(d.m, np.bool_)
        elif name in INFORMATIONAL:  # no rule reads it
            relevant = cond[:, INFORMATIONAL[name]].copy()
        p = RECORDED.get(name, p_rec)
        values = d.values[name]
        kept = relevant & d.measured[name] & d.p(p)
        if values.dtype == np.bool_ and name not in ASSESSED:
            kept &= values.astype(np.bool_)  # documented by exception
        elif name == "accepts_transfer":
            kept &= values != _NOT_ASKED
        out[name] = (values, kept)
    return out
