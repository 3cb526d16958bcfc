"""Drawing virtual patients from a cohort's population, vectorised and seeded."""

from __future__ import annotations

import numpy as np
import pandas as pd

from spinefuse.cohort.spec import Normal, Population


def _normal(rng: np.random.Generator, d: Normal, n: int) -> np.ndarray:
    return np.clip(rng.normal(d.mean, d.sd, n), d.min, d.max)


def sample_population(pop: Population, n: int, seed: int) -> pd.DataFrame:
    """``n`` virtual patients as a table, one row each, the same for the same seed.

    Columns: age_years, sex, height_cm, weight_kg, bmi, smoking, diabetes, depression,
    preop_opioid_use, workers_compensation, pelvic_incidence_deg, lumbar_lordosis_deg,
    trabecular_hu, pathology, slip_percent, baseline_odi."""
    rng = np.random.default_rng(seed)
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
    diabetic = rng.random(n) < pop.diabetes
    insulin = rng.random(n) < pop.diabetes_insulin_share
    spondylo = rng.random(n) < pop.spondylolisthesis_fraction
    return pd.DataFrame(
        {
            "patient": np.arange(n),
            "age_years": np.round(_normal(rng, pop.age_years, n), 1),
            "sex": np.where(female, "female", "male"),
            "height_cm": np.round(height, 1),
            "weight_kg": np.round(bmi * (height / 100.0) ** 2, 1),
            "bmi": bmi,
            "smoking": np.where(rng.random(n) < pop.smoking_current, "current", "never"),
            "diabetes": np.where(diabetic, np.where(insulin, "insulin", "non_insulin"), "none"),
            "depression": rng.random(n) < pop.depression,
            "preop_opioid_use": rng.random(n) < pop.preop_opioid_use,
            "workers_compensation": rng.random(n) < pop.workers_compensation,
            "pelvic_incidence_deg": pi,
            "lumbar_lordosis_deg": ll,
            "trabecular_hu": _normal(rng, pop.trabecular_hu, n),
            "pathology": np.where(
                spondylo, "degenerative_spondylolisthesis", "degenerative_disc_disease"
            ),
            "slip_percent": np.where(spondylo, _normal(rng, pop.slip_percent, n), 0.0),
            "baseline_odi": np.round(_normal(rng, pop.baseline_odi, n), 0),
        }
    )
