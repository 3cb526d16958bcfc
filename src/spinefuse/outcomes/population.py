"""The published reference population of elective lumbar fusion, drawn as a patient table.

The outcome models' intercepts are calibrated on it (mean predicted risk = published rate), and the
synthetic registry generator draws its patients from it. Seeded and vectorised.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from spinefuse.outcomes.covariates import validate_patients
from spinefuse.outcomes.parameters import outcome_parameters


def _normal(rng: np.random.Generator, spec: dict[str, Any], n: int) -> np.ndarray:
    return np.clip(rng.normal(spec["mean"], spec["sd"], n), spec["min"], spec["max"])


def _choice(rng: np.random.Generator, spec: dict[str, Any], n: int, prefix: str = "") -> np.ndarray:
    keys = [k for k in spec if k not in ("unit", "source", "certainty", "interval")]
    p = np.array([float(spec[k]) for k in keys])
    return np.array([k.removeprefix(prefix) for k in keys])[rng.choice(len(keys), n, p=p / p.sum())]


def sample_patients(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` patients of the reference population (columns of ``covariates.REQUIRED`` and
    ``OPTIONAL``), the same for the same seed. ``nonunion_probability`` is the healing stage's
    calibration figure for the patient's technique (interbody or posterolateral): the reference
    population needs one to solve the intercepts of the models that depend on non-union, and
    tests draw registries from it; a forecast always takes the healing stage's own."""
    pop = outcome_parameters()["reference_population"]
    rng = np.random.default_rng(seed)
    female = rng.random(n) < pop["female"]["value"]
    diabetic = rng.random(n) < pop["diabetes"]["value"]
    insulin = rng.random(n) < pop["diabetes"]["insulin_share"]
    technique = _choice(rng, pop["technique"], n)
    levels = _choice(rng, pop["levels"], n, prefix="l").astype(int)
    asa = _choice(rng, pop["asa_class"], n, prefix="p").astype(int)
    approach = _choice(rng, pop["approach"], n)
    # Lateral and anterior interbody fusions are done through their own small incisions.
    approach = np.where(np.isin(technique, ("LLIF", "ALIF")), "mis", approach)
    diagnosis = _choice(rng, pop["diagnosis"], n)
    # Stenosis comes with a degenerative slip or is the diagnosis; half of deformities have it.
    stenotic = np.isin(diagnosis, ("degenerative_spondylolisthesis", "stenosis")) | (
        (diagnosis == "deformity") & (rng.random(n) < 0.5)
    )
    prior = pop["nonunion"]
    nonunion = np.where(
        technique == "PLF", float(prior["posterolateral"]), float(prior["interbody"])
    )
    return pd.DataFrame(
        {
            "age_years": np.round(_normal(rng, pop["age_years"], n), 1),
            "sex": np.where(female, "female", "male"),
            "bmi": np.round(_normal(rng, pop["bmi"], n), 1),
            "smoking": _choice(rng, pop["smoking"], n),
            "diabetes": np.where(diabetic, np.where(insulin, "insulin", "non_insulin"), "none"),
            "depression": rng.random(n) < pop["depression"]["value"],
            "preop_opioid_use": rng.random(n) < pop["preop_opioid_use"]["value"],
            "workers_compensation": rng.random(n) < pop["workers_compensation"]["value"],
            "baseline_odi": np.round(_normal(rng, pop["baseline_odi"], n), 0),
            "asa_class": asa,
            "technique": technique,
            "approach": approach,
            "graft": _choice(rng, pop["graft"], n),
            "levels": levels,
            "interbody": technique != "PLF",
            "nonunion_probability": nonunion,
            "revision": rng.random(n) < pop["revision"]["value"],
            "stenosis": stenotic,
            "diagnosis": diagnosis,
            "back_pain_nrs": np.round(_normal(rng, pop["back_pain_nrs"], n), 0),
            "leg_pain_nrs": np.round(_normal(rng, pop["leg_pain_nrs"], n), 0),
            "eras": np.zeros(n, dtype=bool),
            "site": np.full(n, "us"),
        }
    )


@lru_cache(maxsize=1)
def reference_patients() -> pd.DataFrame:
    """The fixed reference sample (8,000 patients, seed 20240) the intercepts are solved on."""
    from spinefuse.outcomes.operative import with_operative_time

    patients = validate_patients(sample_patients(8000, seed=20240), "reference population")
    return with_operative_time(patients)
