"""Condition facts of the synthetic population: hypertension, diabetes, chest pain,
post-operative recovery. Illustrative values, not epidemiological estimates."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ._population_draw import ACUTE, BORDERLINE, DANGER, GOOD, Arr, Bools, Draw, Flag, num

__all__ = ["chest_pain", "diabetes", "hypertension", "post_operative"]


def hypertension(d: Draw, flag: Flag, htn: Bools, visit: NDArray[np.int64],
                  age: NDArray[np.int64], sbp: Arr, dbp: Arr) -> None:
    first, follow = visit == 0, visit == 1
    d.put("has_hypertension", htn)
    onset = np.where(first, age - d.rng.integers(0, 2, d.m), age - d.rng.exponential(10, d.m))
    d.put("htn_onset_age", np.clip(np.rint(onset), 15, age).astype(np.int64))
    drugs = d.by(visit, [[0.75, 0.20, 0.05, 0, 0], [0.06, 0.40, 0.34, 0.15, 0.05],
                         [0.05, 0.30, 0.35, 0.20, 0.10]])
    d.put("antihypertensive_drug_count", drugs)
    d.put("antihypertensives_full_dose", d.p(0.45 + 0.2 * (drugs >= 3)))
    d.put("diuretic_in_regimen", d.p(0.15 + 0.35 * (drugs >= 3)))
    d.put("antihypertensive_treatment_months",
          np.where(drugs > 0, num(d.rng.exponential(40, d.m), 0, 600, 1), 0.0))
    above = (sbp >= 140) | (dbp >= 90)
    visits = d.by(np.zeros(d.m, np.int64), [[0, 0.55, 0.28, 0.17]])
    d.put("consecutive_unsatisfactory_bp_visits", np.where(above, visits, 0), follow)
    d.put("inter_arm_sbp_difference", num(np.abs(d.normal(0, 5)), 0, 150, 1))
    ckd = flag("chronic_kidney_disease", (0.08, 0.10, 0.15))
    flag("proteinuria", (0.02, 0.06, 0.10), 0.25 * ckd)
    flag("haematuria", (0.005, 0.02, 0.04))
    for name in ("hypokalaemia_not_diuretic", "paroxysmal_bp_rise"):
        flag(name, (0.002, 0.02, 0.04))
    flag("needs_higher_level_tests_for_diagnosis", (0.01, 0.10, 0.20))
    for name in ("bp_fluctuation_hard_to_control",
                 "antihypertensive_adverse_reaction_hard_to_manage",
                 "serious_illness_or_organ_damage_hard_to_manage", "htn_complication_new_or_worse",
                 "suspected_new_heart_brain_kidney_complication",
                 "other_serious_clinical_condition"):
        flag(name, (0.002, 0.05, 0.20))
    flag("htn_diagnosis_established", (0.97, 0.93, 0.80), -0.3 * first)
    flag("htn_treatment_plan_suitable_for_primary", GOOD)
    flag("htn_condition_stable", GOOD)


def diabetes(d: Draw, flag: Flag, dm: Bools, visit: NDArray[np.int64],
              age: NDArray[np.int64], state: NDArray[np.int64], sbp: Arr, dbp: Arr) -> None:
    """Glucose values from one latent HbA1c (ADAG: mean glucose = 1.59 × HbA1c − 2.59)."""
    new = dm & (visit == 0) & d.p(0.25)
    acute = state == ACUTE
    d.put("known_diabetes", dm & ~new)
    d.put("glucose_abnormal_first_found", new)
    d.put("diabetes_type_unclear", new & d.p(0.4))
    a1c = d.normal(6.6, 0.6) + 0.8 * (state == BORDERLINE) + acute * d.rng.random(d.m) * 2 + new
    # fasting taken as 1.4 mmol/L below the ADAG mean glucose (illustrative)
    fpg = num(1.59 * a1c - 2.59 - 1.4 + d.normal(0, 0.7), 2.5, 30, 1)
    hypo = d.p(np.where(acute, 0.08, 0.004))
    glucose = np.where(hypo, d.rng.uniform(2.2, 3.9, d.m), fpg + np.abs(d.normal(0, 1.6)))
    d.put("hba1c", a1c)  # the latent value; who was tested is drawn later (_issue10)
    d.put("fasting_glucose", fpg)
    d.put("previous_fasting_glucose", num(fpg + d.normal(0.2, 0.9), 2.5, 30, 1),
          (visit == 1) | (visit == 2) & d.p(0.7))  # from the last follow-up, if known
    d.put("blood_glucose", num(glucose, 1.5, 45, 1))
    d.put("glucose_abnormal", (glucose >= 7.0) | (glucose <= 3.9))
    d.put("severe_hypoglycaemia", hypo & acute)
    # ketones, bicarbonate and pH are measured on the ward, or when glucose is very high or the
    # patient is acutely unwell; nobody else has the test
    lab = (visit == 2) | acute | (glucose >= 13.9)
    dka = acute & d.p(0.12)
    d.put("blood_ketones", num(np.where(dka, d.rng.uniform(3.2, 7, d.m),
                                         d.rng.lognormal(np.log(0.2), 0.5, d.m)), 0, 20, 1), lab)
    d.put("urine_ketones_plus", np.where(dka, d.rng.integers(2, 5, d.m), d.p(0.07)), lab)
    d.put("serum_bicarbonate", num(np.where(dka, d.rng.uniform(8, 14.5, d.m),
                                             d.normal(24.5, 2)), 0, 60, 1), lab)
    d.put("venous_ph", num(np.where(dka, d.rng.uniform(7.05, 7.28, d.m),
                                     d.normal(7.39, 0.025)), 6.5, 8.0, 2), lab)
    d.put("dka_suspected", dka & d.p(0.9))
    for name in ("severe_hyperglycaemia", "diabetic_ketosis", "hhs_suspected",
                 "lactic_acidosis_suspected"):
        flag(name, DANGER)
    d.put("dm_treatment_months", np.where(new, 0.0, num(d.rng.exponential(50, d.m), 0, 600, 1)))
    target = np.where(age < 65, 7.5, 8.5)
    d.put("dm_glucose_not_at_target", (a1c > target) ^ d.p(0.05))
    # a judgement over the treatment period, which one raised reading only partly predicts
    d.put("dm_bp_not_at_target", ((sbp >= 140) | (dbp >= 90)) & d.p(0.35))
    d.put("dm_lipids_not_at_target", d.p(0.06))
    renal = flag("diabetic_renal_insufficiency", (0.005, 0.03, 0.06))
    for name in ("retinopathy_severe_vision_loss", "intermittent_claudication",
                 "diabetic_foot_ulcer", "recurrent_hypoglycaemia"):
        flag(name, (0.003, 0.03, 0.06))
    flag("active_diabetic_foot_problem", (0.003, 0.03, 0.08))
    flag("dm_complication_assessment_beyond_primary", (0.01, 0.08, 0.10), 0.2 * renal)
    for name in ("glucose_fluctuation_hard_to_control", "insulin_regimen_needs_design",
                 "dm_drug_adverse_reaction_uncontrolled", "dm_complication_new_or_worse"):
        flag(name, (0.003, 0.05, 0.15))
    flag("dm_diagnosis_established", (0.98, 0.95, 0.85), -0.5 * new)
    flag("dm_treatment_plan_set", GOOD)
    d.put("dm_glucose_stable", d.p(np.asarray(GOOD)[state]) & (glucose > 3.9) & (glucose < 16.7))
    flag("dm_complications_stable", GOOD)


def chest_pain(d: Draw, flag: Flag, cp: Bools, hospital: Bools, state: NDArray[np.int64],
                age: NDArray[np.int64], htn: Bools, dm: Bools) -> None:
    """At primary care: non-cardiac pain, stable angina, suspected ACS; in hospital: ACS
    work-up (HEART score, repeat troponin), post-MI patients and non-cardiac pain."""
    acute = state == ACUTE
    kind = np.where(hospital, d.by(np.zeros(d.m, np.int64), [[0.45, 0.30, 0.25, 0]]),
                    d.by(np.zeros(d.m, np.int64), [[0.25, 0, 0.45, 0.20, 0.10]]))
    acs, post_mi, non_cardiac, angina = kind == 0, kind == 1, kind == 2, kind == 3
    d.put("chest_pain_complaint", cp & (~post_mi | d.p(0.2)))
    d.put("suspected_acs", cp & acs)
    now = flag("chest_pain_now", (0.10, 0.30, 0.70), -0.05 * ~acs)
    d.put("chest_pain_minutes", num(d.rng.lognormal(np.log(8 + 30 * acute), 0.8, d.m),
                                     0, 4320, 0))
    since = np.where(now, 0.0, num(d.rng.exponential(30, d.m), 0, 720, 1))
    d.put("hours_since_chest_pain", since)
    d.put("hours_since_chest_pain_onset", num(since + d.rng.exponential(2, d.m), 0, 720, 1))
    st = np.where(acs & acute & d.p(0.3), d.rng.integers(2, 6, d.m), d.p(0.03))
    d.put("st_elevation_leads", st)
    d.put("stemi_ecg", (st >= 2) & d.p(0.9))
    abnormal = np.clip(0.05 + 0.35 * acs + 0.3 * (acs & acute), 0, 1)
    ecg = np.where(d.p(abnormal), 1, np.where(~hospital & d.p(0.08), 2, 0))
    d.put("ecg_result", ecg)
    d.put("stable_exertional_chest_pain", cp & angina)
    risk = np.minimum(htn.astype(np.int64) + dm + (age >= 65), 2)
    d.put("heart_history_points", d.by(state, [[0.5, 0.45, 0.05], [0.2, 0.5, 0.3],
                                                [0.05, 0.35, 0.6]]))
    d.put("heart_ecg_points", np.where(ecg == 1, d.rng.integers(1, 3, d.m), 0))
    d.put("heart_risk_factor_points", risk)
    troponin = d.by(state, [[0.92, 0.06, 0.02], [0.6, 0.3, 0.1], [0.3, 0.3, 0.4]])
    d.put("heart_troponin_points", troponin)
    items = ("heart_history_points", "heart_ecg_points", "heart_risk_factor_points")
    age_points = np.where(age <= 45, 0, np.where(age >= 65, 2, 1))  # as chest_pain.yaml scores
    total = sum((d.values[k] for k in items), troponin + age_points)
    d.put("heart_score_total", np.asarray(total, np.int64), d.p(0.3))
    d.put("troponin_repeat_result", d.by(state, [[0.85, 0.03, 0.12], [0.35, 0.2, 0.45],
                                                  [0.1, 0.6, 0.3]]), hospital)
    d.put("non_cardiac_chest_pain", cp & non_cardiac)
    flag("chest_pain_discharge_criteria_met", GOOD)
    d.put("post_mi", cp & post_mi)
    flag("post_mi_stable", GOOD)
    flag("acs_complication_signs", DANGER, 0.05 * (acs & acute))


def post_operative(d: Draw, flag: Flag, po: Bools, hospital: Bools, inpatient: Bools,
                    state: NDArray[np.int64]) -> None:
    """ERAS items mostly met when ready to leave; PADS for day surgery; NG51 signs if acute."""
    acute = state == ACUTE
    d.put("post_operative", po)
    day = d.p(np.where(inpatient & hospital, 0.25, 0.15))
    d.put("day_surgery", day)
    days = np.where(hospital, 1 + d.rng.geometric(0.2, d.m), 3 + d.rng.geometric(0.06, d.m))
    d.put("days_since_surgery", np.where(day & hospital, 0, np.minimum(days, 3650)))
    temp = d.values["body_temperature"]
    d.put("temperature_normal", np.asarray(temp, np.float64) < 37.3)
    flag("infection_signs", (0.01, 0.12, 0.40), 0.5 * (np.asarray(temp, np.float64) >= 37.5))
    for name in ("self_care_basic", "tolerating_semi_liquid_diet", "flatus_and_stool_passed",
                 "walking_freely", "oral_analgesia_effective", "stable_after_acute_treatment"):
        flag(name, GOOD)
    infected = flag("wound_infection", (0.005, 0.08, 0.20))
    flag("wound_dehiscence", (0.002, 0.02, 0.05))
    d.put("wound_healing_well", ~infected & d.p(np.asarray(GOOD)[state]))
    flag("iv_fluids_needed", (0.03, 0.50, 0.90))
    flag("needs_continued_rehabilitation", (0.5, 0.5, 0.5))
    for name in ("pads_vital_signs", "pads_activity", "pads_nausea_vomiting", "pads_pain",
                 "pads_surgical_bleeding"):
        d.put(name, d.by(state, [[0.01, 0.04, 0.95], [0.1, 0.4, 0.5], [0.3, 0.5, 0.2]]), day)
    pads = [d.values[k] for k in ("pads_vital_signs", "pads_activity", "pads_nausea_vomiting",
                                  "pads_pain", "pads_surgical_bleeding")]
    d.put("pads_total", np.asarray(sum(pads[1:], pads[0]), np.int64), day & d.p(0.3))
    d.put("sbp_drop_from_baseline", num(d.normal(0, 8) + acute * d.normal(25, 15), -150, 250))
    d.put("hours_without_urine", num(d.rng.exponential(3 + 8 * acute, d.m), 0, 240, 1))
    catheter = d.p(np.where(hospital, 0.3, 0.03))
    d.put("urinary_catheter", catheter)
    d.put("urine_output_ml_kg_h", num(d.normal(1.0 - 0.5 * acute, 0.3), 0, 20, 2), catheter)
