"""Patient tables the outcome models read, their validation, and the covariates coded from them.

A patient table has one row per patient-arm and the columns of :data:`REQUIRED` (plus the optional
ones of :data:`OPTIONAL`, filled with their defaults when absent). Covariates are centred so that
zero is the reference patient: 60 years, BMI 30, ODI 48, ASA 2, never-smoker, no diabetes, open
1-level TLIF. ``event_*`` covariates are complications realised in the same patient (infection,
non-union, …); the models take their probabilities and mix over them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from spinefuse.errors import ParameterError

FloatArray = NDArray[np.float64]

REQUIRED: Final[tuple[str, ...]] = (
    "age_years",
    "sex",
    "bmi",
    "smoking",
    "diabetes",
    "depression",
    "preop_opioid_use",
    "workers_compensation",
    "baseline_odi",
    "technique",
    "approach",
    "graft",
    "levels",
)
"""Columns every patient table must have (the cohort's batched contract, less the two below
that have defaults)."""

OPTIONAL: Final[dict[str, object]] = {
    "asa_class": 2,
    "interbody": None,
    "nonunion_probability": np.nan,
    "revision": False,
    "stenosis": False,
    "back_pain_nrs": np.nan,
    "leg_pain_nrs": np.nan,
    "eras": False,
    "site": "us",
    "operative_time_min": np.nan,
    "blood_loss_ml": np.nan,
    "diagnosis": "unspecified",
    "baseline_eq5d": np.nan,
}
"""Optional columns and their defaults: ASA 2 as in ``case.Patient``; ``interbody`` from the
technique (all but PLF place a cage); NaN non-union: unknown (a forecast refuses it, as the
healing stage's probability is the one source of non-union); NaN operative time and blood loss:
their models' expected values; diagnosis ``unspecified``: the population's PRO course; NaN
baseline EQ-5D: from the baseline ODI."""

DIAGNOSES: Final[tuple[str, ...]] = (
    "degenerative_spondylolisthesis",
    "isthmic_spondylolisthesis",
    "stenosis",
    "discogenic",
    "deformity",
    "unspecified",
)
"""The diagnoses the PRO course distinguishes (``discogenic``: chronic low back pain from disc
degeneration without a structural lesion; revision is the ``revision`` column on top of any)."""

CATEGORIES: Final[dict[str, tuple[str, ...]]] = {
    "sex": ("female", "male"),
    "smoking": ("never", "former", "current"),
    "diabetes": ("none", "non_insulin", "insulin"),
    "technique": ("PLF", "TLIF", "PLIF", "ALIF", "LLIF"),
    "approach": ("open", "mis"),
    "graft": (
        "local_autograft",
        "iliac_crest_autograft",
        "allograft",
        "dbm",
        "ceramic",
        "rhbmp2",
    ),
    "diagnosis": DIAGNOSES,
}

RANGES: Final[dict[str, tuple[float, float, str]]] = {
    "age_years": (18.0, 110.0, "years (adults)"),
    "bmi": (10.0, 80.0, "kg/m2"),
    "baseline_odi": (0.0, 100.0, "% (Oswestry Disability Index 0-100)"),
    "asa_class": (1.0, 5.0, "ASA physical status 1-5"),
    "levels": (1.0, 8.0, "fused motion segments"),
    "nonunion_probability": (0.0, 1.0, "probability"),
    "back_pain_nrs": (0.0, 10.0, "NRS 0-10"),
    "leg_pain_nrs": (0.0, 10.0, "NRS 0-10"),
    "operative_time_min": (20.0, 900.0, "minutes"),
    "blood_loss_ml": (0.0, 20000.0, "mL"),
    "baseline_eq5d": (-0.6, 1.0, "EQ-5D-3L index (UK TTO, -0.594 to 1)"),
}

REFERENCE_AGE: Final = 60.0
REFERENCE_BMI: Final = 30.0
REFERENCE_ODI: Final = 48.0
REFERENCE_ASA: Final = 2
REFERENCE_BLOOD_LOSS_ML: Final = 376.0
"""Open one-level blood loss (PMC8369686), the zero of ``log2_blood_loss``."""


def validate_patients(patients: pd.DataFrame, source: str = "patients") -> pd.DataFrame:
    """A checked copy of ``patients`` with optional columns filled in.

    Raises :class:`ParameterError` naming the column, the first offending row and value, and the
    allowed range or categories."""
    missing = [c for c in REQUIRED if c not in patients.columns]
    if missing:
        raise ParameterError(
            f"{source}: missing column(s) {', '.join(missing)}; a patient table needs "
            f"{', '.join(REQUIRED)}"
        )
    df = patients.copy()
    for col, default in OPTIONAL.items():
        if col not in df.columns:
            df[col] = default
    if df["interbody"].isna().any():
        derived = df["technique"] != "PLF"
        df["interbody"] = df["interbody"].where(df["interbody"].notna(), derived)
    if len(df) == 0:
        raise ParameterError(f"{source}: the patient table has no rows")
    for col, (lo, hi, unit) in RANGES.items():
        values = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
        if col in (
            "nonunion_probability",
            "back_pain_nrs",
            "leg_pain_nrs",
            "operative_time_min",
            "blood_loss_ml",
            "baseline_eq5d",
        ):
            bad = ~np.isnan(values) & ((values < lo) | (values > hi))
        else:
            bad = np.isnan(values) | (values < lo) | (values > hi)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ParameterError(
                f"{source}: {col} = {df[col].iloc[i]!r} in row {i} is impossible; "
                f"allowed {lo:g} to {hi:g} {unit}"
            )
        df[col] = values
    for col, allowed in CATEGORIES.items():
        bad_mask = ~df[col].isin(allowed).to_numpy()
        if bad_mask.any():
            i = int(np.flatnonzero(bad_mask)[0])
            raise ParameterError(
                f"{source}: {col} = {df[col].iloc[i]!r} in row {i}; use one of {', '.join(allowed)}"
            )
    for col in (
        "depression",
        "preop_opioid_use",
        "workers_compensation",
        "interbody",
        "revision",
        "stenosis",
        "eras",
    ):
        df[col] = df[col].astype(bool)
    return df


def _hours(d: pd.DataFrame) -> FloatArray:
    minutes = d["operative_time_min"].to_numpy(float)
    if np.isnan(minutes).any():
        raise ParameterError(
            "operative_time_min is missing: fill it with outcomes.operative.with_operative_time "
            "(the expected operative time) before computing risks"
        )
    return np.asarray(minutes / 60.0 - 3.0, dtype=float)


def _log2_blood_loss(d: pd.DataFrame) -> FloatArray:
    ml = d["blood_loss_ml"].to_numpy(float)
    if np.isnan(ml).any():
        raise ParameterError(
            "blood_loss_ml is missing: fill it with outcomes.operative.with_operative_time "
            "(the expected blood loss) before computing risks"
        )
    return np.asarray(np.log2(np.maximum(ml, 10.0) / REFERENCE_BLOOD_LOSS_ML), dtype=float)


def _flag(x: pd.Series | NDArray[np.bool_]) -> FloatArray:
    return np.asarray(x, dtype=float)


COVARIATES: Final[dict[str, Callable[[pd.DataFrame], FloatArray]]] = {
    "diabetes": lambda d: _flag(d["diabetes"] != "none"),
    "insulin": lambda d: _flag(d["diabetes"] == "insulin"),
    "obesity": lambda d: _flag(d["bmi"] >= 30.0),
    "bmi_ge40": lambda d: _flag(d["bmi"] >= 40.0),
    "bmi_unit": lambda d: d["bmi"].to_numpy(float) - REFERENCE_BMI,
    "age_year": lambda d: d["age_years"].to_numpy(float) - REFERENCE_AGE,
    "age_decade": lambda d: (d["age_years"].to_numpy(float) - REFERENCE_AGE) / 10.0,
    "female": lambda d: _flag(d["sex"] == "female"),
    "current_smoker": lambda d: _flag(d["smoking"] == "current"),
    "depression": lambda d: _flag(d["depression"]),
    "preop_opioid_use": lambda d: _flag(d["preop_opioid_use"]),
    "workers_compensation": lambda d: _flag(d["workers_compensation"]),
    "revision": lambda d: _flag(d["revision"]),
    "stenosis": lambda d: _flag(d["stenosis"]),
    "asa_ge3": lambda d: _flag(d["asa_class"] >= 3),
    "asa_above_2": lambda d: d["asa_class"].to_numpy(float) - REFERENCE_ASA,
    "odi_point": lambda d: d["baseline_odi"].to_numpy(float) - REFERENCE_ODI,
    "open_approach": lambda d: _flag(d["approach"] == "open"),
    "mis_approach": lambda d: _flag(d["approach"] == "mis"),
    "extra_levels": lambda d: d["levels"].to_numpy(float) - 1.0,
    "levels_ge4": lambda d: _flag(d["levels"] >= 4),
    "interbody": lambda d: _flag(d["interbody"]),
    "no_interbody": lambda d: _flag(~d["interbody"].astype(bool)),
    "llif": lambda d: _flag(d["technique"] == "LLIF"),
    "plf": lambda d: _flag(d["technique"] == "PLF"),
    "plif": lambda d: _flag(d["technique"] == "PLIF"),
    "alif": lambda d: _flag(d["technique"] == "ALIF"),
    "anterior_lateral": lambda d: _flag(d["technique"].isin(("ALIF", "LLIF"))),
    "dx_spondylolisthesis": lambda d: _flag(
        d["diagnosis"].isin(("degenerative_spondylolisthesis", "isthmic_spondylolisthesis"))
    ),
    "rhbmp2": lambda d: _flag(d["graft"] == "rhbmp2"),
    "iliac_crest": lambda d: _flag(d["graft"] == "iliac_crest_autograft"),
    "eras": lambda d: _flag(d["eras"]),
    "operative_hours": lambda d: _hours(d),
    "log2_blood_loss": lambda d: _log2_blood_loss(d),
}
"""Covariate name -> its coding from a validated patient table, shape (n,)."""

EVENT_PREFIX: Final = "event_"


def covariate(name: str, patients: pd.DataFrame) -> FloatArray:
    """Covariate ``name`` for every row of a validated patient table, shape (n,)."""
    try:
        return COVARIATES[name](patients)
    except KeyError:
        raise ParameterError(
            f"outcome_parameters.yaml: unknown covariate {name!r}; known: "
            f"{', '.join(sorted(COVARIATES))} or event_<outcome>"
        ) from None


def describe(name: str, patients: pd.DataFrame, row: int) -> str:
    """The patient's value behind covariate ``name``, for a driving-factor line."""
    d = patients.iloc[row]
    text = {
        "diabetes": f"diabetes {d['diabetes']}",
        "insulin": f"diabetes {d['diabetes']}",
        "obesity": f"BMI {d['bmi']:.1f}",
        "bmi_ge40": f"BMI {d['bmi']:.1f}",
        "bmi_unit": f"BMI {d['bmi']:.1f}",
        "age_year": f"age {d['age_years']:.0f}",
        "age_decade": f"age {d['age_years']:.0f}",
        "female": f"sex {d['sex']}",
        "current_smoker": f"smoking {d['smoking']}",
        "asa_ge3": f"ASA {int(d['asa_class'])}",
        "asa_above_2": f"ASA {int(d['asa_class'])}",
        "odi_point": f"baseline ODI {d['baseline_odi']:.0f}",
        "open_approach": f"{d['approach']} approach",
        "mis_approach": f"{d['approach']} approach",
        "extra_levels": f"{int(d['levels'])} level(s)",
        "levels_ge4": f"{int(d['levels'])} level(s)",
        "interbody": "interbody cage" if d["interbody"] else "no interbody cage",
        "no_interbody": "interbody cage" if d["interbody"] else "posterolateral graft only",
        "llif": f"technique {d['technique']}",
        "plf": f"technique {d['technique']}",
        "plif": f"technique {d['technique']}",
        "alif": f"technique {d['technique']}",
        "anterior_lateral": f"technique {d['technique']}",
        "dx_spondylolisthesis": f"diagnosis {str(d['diagnosis']).replace('_', ' ')}",
        "log2_blood_loss": f"expected blood loss {d['blood_loss_ml']:.0f} mL",
        "rhbmp2": f"graft {d['graft']}",
        "iliac_crest": f"graft {d['graft']}",
        "eras": "ERAS pathway" if d["eras"] else "no ERAS pathway",
        "operative_hours": f"operative time {d['operative_time_min']:.0f} min",
    }.get(name)
    return text if text is not None else name.replace("_", " ")
