"""Synthetic registries: patients of the reference population with outcomes drawn from the models.

Each patient's complications are drawn in dependency order, so an infection drawn for a patient
raises that patient's readmission and reoperation risk (the ``event_*`` effects use the drawn
0/1 values), and the continuous outcomes (stay, blood loss, 12-month ODI and pain) are drawn from
their distributions given the drawn events. The result has the columns of a site registry CSV
(``registry.REGISTRY_OUTCOMES``), so the refit code can be tested on data with known coefficients.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from spinefuse.outcomes.complications import GIVEN, OUTCOMES, complication_models, nonunion_given
from spinefuse.outcomes.covariates import validate_patients
from spinefuse.outcomes.operative import operative_models
from spinefuse.outcomes.perioperative import perioperative_models
from spinefuse.outcomes.population import sample_patients
from spinefuse.outcomes.pro import baselines, diagnosis_codes, pro_models
from spinefuse.outcomes.risk import FloatArray
from spinefuse.records import write_atomic


def draw_outcomes(patients: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Outcomes drawn for each patient of a validated table: one bool column per binary outcome,
    and operative_time_min, blood_loss_ml, length_of_stay_days, odi_12m, back_pain_12m,
    leg_pain_12m. Same seed, same draws."""
    rng = np.random.default_rng(seed)
    # Operative time and blood loss first: the drawn duration is a covariate of infection,
    # readmission and new deficit, the drawn blood loss of transfusion.
    for name in ("operative_time_min", "blood_loss_ml"):
        op = operative_models()[name]
        d_op = op.design(patients, {})
        drawn_q = np.exp(d_op.x @ op.beta + op.mu + op.sigma * rng.standard_normal(len(patients)))
        given_q = (
            patients[name].to_numpy(dtype=float)
            if name in patients.columns
            else np.full(len(patients), np.nan)
        )
        patients = patients.assign(
            **{name: np.round(np.where(np.isnan(given_q), drawn_q, given_q), 1)}
        )
    models = complication_models()
    drawn: dict[str, FloatArray] = {}
    for name in OUTCOMES:
        if name in GIVEN:  # the healing stage's probability, as a forecast takes it
            p = nonunion_given(patients, "synthetic registry")
        else:
            p = models[name].probability(models[name].design(patients, drawn))
        drawn[name] = (rng.random(len(patients)) < p).astype(float)
    out = pd.DataFrame({name: drawn[name].astype(bool) for name in OUTCOMES}, index=patients.index)
    out["operative_time_min"] = patients["operative_time_min"]
    out["blood_loss_ml"] = patients["blood_loss_ml"]
    site_col = patients["site"].astype(str).to_numpy()
    for name in ("length_of_stay_days",):
        values = np.empty(len(patients))
        for site in np.unique(site_col):
            rows = site_col == site
            m = perioperative_models(str(site))[name]
            sub = {k: v[rows] for k, v in drawn.items()}
            d = m.design(patients.loc[rows], sub)
            centre = d.x @ m.beta + d.events @ m.beta_events + m.mu
            values[rows] = np.exp(centre + m.sigma * rng.standard_normal(int(rows.sum())))
        out[name] = np.round(values, 1)
    dx = diagnosis_codes(patients)
    for name, sm in pro_models().items():
        d = sm.design(patients, drawn)
        mu, w = sm.location(d, baselines(patients, name), dx)
        centre = (mu * w).sum(axis=1)  # drawn events are 0/1: all weight on one combination
        y = np.clip(centre + sm.sd * rng.standard_normal(len(patients)), 0.0, sm.top)
        out["odi_12m" if name == "odi" else f"{name}_12m"] = np.round(y, 1)
    return out


def synthetic_registry(n: int, seed: int = 0) -> pd.DataFrame:
    """A synthetic site registry of ``n`` patients: the patient columns and drawn outcomes."""
    patients = validate_patients(sample_patients(n, seed=seed), "synthetic registry")
    outcomes = draw_outcomes(patients, seed=seed + 1)
    return pd.concat(
        [patients.drop(columns=["operative_time_min", "blood_loss_ml"]), outcomes], axis=1
    )


def write_synthetic_registry(path: str | Path, n: int = 1000, seed: int = 0) -> Path:
    """Write a synthetic registry CSV (the documented registry columns) atomically."""
    return write_atomic(Path(path), synthetic_registry(n, seed).to_csv(index=False))
