"""Drawing virtual patients from a cohort's population, vectorised and seeded.

Every covariate the healing and outcome models read is drawn here, with the correlations of the
population spec: diabetes rises with age and BMI (logistic, its intercept solved on the spec's
age and BMI distributions so the prevalence is the spec's), ASA class rises with age, diabetes
and BMI (proportional odds, cut points solved likewise so the class shares are the spec's), and
bone density falls with age. The population is drawn in blocks of :data:`BLOCK_PATIENTS`, each
from its own generator keyed on the spec's seed and the block's index, so a patient is the same
person whatever the batch, and a batch draws only the blocks its rows lie in (a ten-million
patient cohort never holds its whole population in memory).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.optimize import brentq
from scipy.special import expit

from spinefuse.cohort.spec import Normal, Population

FloatArray = NDArray[np.float64]
SEGMENT_ORDER = ("L4-L5", "L5-S1", "L3-L4", "L2-L3")
"""The segments a virtual patient's fusion covers, in the order levels are added (the index
segment of degenerative disease is L4-L5)."""
STENOTIC = ("degenerative_spondylolisthesis", "stenosis")
BLOCK_PATIENTS = 4096
"""Patients per block of the population; block ``k`` is drawn from ``default_rng([seed, k])``."""


def _normal(rng: np.random.Generator, d: Normal, n: int) -> FloatArray:
    return np.clip(rng.normal(d.mean, d.sd, n), d.min, d.max)


def _reference(pop: Population) -> tuple[FloatArray, FloatArray]:
    """Age and BMI of 20,000 draws of the spec (fixed seed): where intercepts are solved."""
    rng = np.random.default_rng(20240)
    return _normal(rng, pop.age_years, 20_000), _normal(rng, pop.bmi, 20_000)


def _diabetes_lp(pop: Population, age: FloatArray, bmi: FloatArray) -> FloatArray:
    d = pop.diabetes
    lp: FloatArray = (
        np.log(d.odds_ratio_per_decade) * (age - pop.age_years.mean) / 10.0
        + np.log(d.odds_ratio_per_5_bmi) * (bmi - pop.bmi.mean) / 5.0
    )
    return lp


def _asa_lp(pop: Population, age: FloatArray, bmi: FloatArray, diabetic: FloatArray) -> FloatArray:
    a = pop.asa
    lp: FloatArray = (
        np.log(a.odds_ratio_per_decade) * (age - pop.age_years.mean) / 10.0
        + np.log(a.odds_ratio_per_5_bmi) * (bmi - pop.bmi.mean) / 5.0
        + np.log(a.odds_ratio_diabetes) * diabetic
    )
    return lp


@lru_cache(maxsize=8)
def _calibration(pop_json: str) -> tuple[float, tuple[float, float, float]]:
    """The diabetes intercept and the three ASA cut points of a population spec."""
    pop = Population.model_validate_json(pop_json)
    age, bmi = _reference(pop)
    lp = _diabetes_lp(pop, age, bmi)
    target = pop.diabetes.prevalence
    if target <= 0.0 or target >= 1.0:
        a0 = -np.inf if target <= 0.0 else np.inf
    else:
        a0 = brentq(lambda a: float(expit(a + lp).mean()) - target, -30.0, 30.0)
    p_dm = expit(a0 + lp) if np.isfinite(a0) else np.full(lp.shape, float(target > 0.5))
    # ASA: P(class > k) = expit(lp - c_k), mixed over diabetes, matching the spec's shares
    asa_lp = _asa_lp(pop, age, bmi, np.zeros_like(age))
    dm_shift = np.log(pop.asa.odds_ratio_diabetes)
    shares = np.array([pop.asa.p1, pop.asa.p2, pop.asa.p3, pop.asa.p4])
    above = 1.0 - np.cumsum(shares)[:3]  # P(class > 1), P(> 2), P(> 3)
    cuts = []
    for tail in above:
        if tail <= 0.0:
            cuts.append(np.inf)
            continue
        if tail >= 1.0:
            cuts.append(-np.inf)
            continue

        def gap(c: float, tail: float = tail) -> float:
            p = (1 - p_dm) * expit(asa_lp - c) + p_dm * expit(asa_lp + dm_shift - c)
            return float(p.mean() - tail)

        cuts.append(brentq(gap, -40.0, 40.0))
    return float(a0), (cuts[0], cuts[1], cuts[2])


def sample_population(pop: Population, n: int, seed: int, start: int = 0) -> pd.DataFrame:
    """The virtual patients ``start`` to ``start + n - 1`` as a table, one row each, the same
    patient for the same seed and index whatever ``start`` and ``n`` are.

    Columns: patient, age_years, sex, height_cm, weight_kg, bmi, smoking, diabetes, asa_class,
    depression, preop_opioid_use, workers_compensation, revision, levels, diagnosis, stenosis,
    pelvic_incidence_deg, lumbar_lordosis_deg, trabecular_hu, slip_percent, baseline_odi,
    back_pain_nrs, leg_pain_nrs."""
    if n < 0 or start < 0:
        raise ValueError(f"patients {start} to {start + n - 1}: give start >= 0 and n >= 0")
    first, last = start // BLOCK_PATIENTS, (start + max(n, 1) - 1) // BLOCK_PATIENTS
    blocks = [population_block(pop, seed, k) for k in range(first, last + 1)]
    offset = start - first * BLOCK_PATIENTS
    table = pd.concat(blocks, ignore_index=True).iloc[offset : offset + n]
    table.insert(0, "patient", np.arange(start, start + n))
    return table.reset_index(drop=True)


def population_block(pop: Population, seed: int, block: int) -> pd.DataFrame:
    """Block ``block`` of the population (:data:`BLOCK_PATIENTS` rows, no ``patient`` column),
    drawn from its own generator."""
    n = BLOCK_PATIENTS
    rng = np.random.default_rng([seed, block])
    female = rng.random(n) < pop.female_fraction
    h_mean = np.where(female, pop.height_cm.female[0], pop.height_cm.male[0])
    h_sd = np.where(female, pop.height_cm.female[1], pop.height_cm.male[1])
    height = np.clip(rng.normal(h_mean, h_sd), pop.height_cm.min, pop.height_cm.max)
    bmi = _normal(rng, pop.bmi, n)
    (pi_m, pi_s), (ll_m, ll_s) = pop.pelvic.pelvic_incidence_deg, pop.pelvic.lumbar_lordosis_deg
    z1, z2 = rng.standard_normal(n), rng.standard_normal(n)
    r = pop.pelvic.correlation
    pi = np.clip(pi_m + pi_s * z1, 30.0, 85.0)
    ll = np.clip(ll_m + ll_s * (r * z1 + np.sqrt(1 - r * r) * z2), 15.0, 75.0)
    age = np.round(_normal(rng, pop.age_years, n), 1)
    a0, cuts = _calibration(pop.model_dump_json())
    p_dm = expit(a0 + _diabetes_lp(pop, age, bmi)) if np.isfinite(a0) else np.full(n, a0 > 0)
    diabetic = rng.random(n) < p_dm
    insulin = rng.random(n) < pop.diabetes.insulin_share
    lp = _asa_lp(pop, age, bmi, diabetic.astype(float))
    u = rng.random(n)
    asa = 1 + sum((u < expit(lp - c)).astype(int) for c in cuts)
    smoke_u = rng.random(n)
    smoking = np.where(
        smoke_u < pop.smoking_current,
        "current",
        np.where(smoke_u < pop.smoking_current + pop.smoking_former, "former", "never"),
    )
    names = list(pop.diagnosis_mix)
    weights = np.array([pop.diagnosis_mix[k] for k in names], dtype=float)
    diagnosis = np.asarray(names)[rng.choice(len(names), n, p=weights / weights.sum())]
    slipped = np.isin(diagnosis, ("degenerative_spondylolisthesis", "isthmic_spondylolisthesis"))
    lv = pop.levels
    levels = 1 + rng.choice(4, n, p=np.array([lv.l1, lv.l2, lv.l3, lv.l4]))
    hu_mean = pop.trabecular_hu.mean + pop.trabecular_hu_per_decade * (
        (age - pop.age_years.mean) / 10.0
    )
    hu = np.clip(
        rng.normal(hu_mean, pop.trabecular_hu.sd), pop.trabecular_hu.min, pop.trabecular_hu.max
    )
    leg = _normal(rng, pop.leg_pain_nrs, n)
    # axial (discogenic) pain: leg pain is the lesser complaint
    leg = np.where(diagnosis == "discogenic", np.clip(leg - 3.0, 0.0, 10.0), leg)
    return pd.DataFrame(
        {
            "age_years": age,
            "sex": np.where(female, "female", "male"),
            "height_cm": np.round(height, 1),
            "weight_kg": np.round(bmi * (height / 100.0) ** 2, 1),
            "bmi": bmi,
            "smoking": smoking,
            "diabetes": np.where(diabetic, np.where(insulin, "insulin", "non_insulin"), "none"),
            "asa_class": asa.astype(int),
            "depression": rng.random(n) < pop.depression,
            "preop_opioid_use": rng.random(n) < pop.preop_opioid_use,
            "workers_compensation": rng.random(n) < pop.workers_compensation,
            "revision": rng.random(n) < pop.revision,
            "levels": levels.astype(int),
            "diagnosis": diagnosis,
            "stenosis": np.isin(diagnosis, STENOTIC),
            "pelvic_incidence_deg": pi,
            "lumbar_lordosis_deg": ll,
            "trabecular_hu": hu,
            "slip_percent": np.where(slipped, _normal(rng, pop.slip_percent, n), 0.0),
            "baseline_odi": np.round(_normal(rng, pop.baseline_odi, n), 0),
            "back_pain_nrs": np.round(_normal(rng, pop.back_pain_nrs, n), 0),
            "leg_pain_nrs": np.round(leg, 0),
        }
    )


def fused_segments(levels: int) -> list[str]:
    """The segments of a virtual patient's ``levels``-level fusion (:data:`SEGMENT_ORDER`,
    listed head to pelvis)."""
    if not 1 <= levels <= len(SEGMENT_ORDER):
        raise ValueError(f"levels = {levels}: a virtual fusion spans 1-{len(SEGMENT_ORDER)}")
    chosen = set(SEGMENT_ORDER[:levels])
    order = ("L2-L3", "L3-L4", "L4-L5", "L5-S1")
    return [s for s in order if s in chosen]
