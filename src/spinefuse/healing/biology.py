"""Patient and graft biology as multipliers on the osteogenic and chondrogenic rates.

Each factor multiplies a hazard-like rate; the multipliers are calibrated so that the ensemble
reproduces the cited clinical effect (non-union risk ratio or fusion rate) stored beside each
value in ``healing_parameters.yaml``. Surgical technique is deliberately absent: it acts through
the mechanics (graft strain, cage) and through which graft regions exist, never as a constant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from spinefuse.anatomy.geometry import SpineGeometry
from spinefuse.case import Case
from spinefuse.conventions import parse_segment
from spinefuse.errors import CaseError
from spinefuse.healing.parameters import HealingParameters
from spinefuse.plan.surgical_plan import SurgicalPlan

FloatArray = NDArray[np.float64]

BIOLOGY_COLUMNS = (
    "age_years",
    "smoking",
    "diabetes",
    "trabecular_hu",
    "nsaids",
    "graft",
    "technique",
    "levels",
)
"""Columns of the batched biology table (the cohort contract)."""


def _lookup(values: Sequence[object], table: Mapping[str, float], column: str) -> FloatArray:
    out = np.empty(len(values))
    for i, v in enumerate(values):
        key = str(v)
        if key not in table:
            raise CaseError(
                f"biology row {i}: {column} = {v!r} is not known; use one of {sorted(table)}"
            )
        out[i] = table[key]
    return out


def osteogenic_multiplier(biology: pd.DataFrame, params: HealingParameters) -> FloatArray:
    """The patient-level multiplier on osteogenic rates, ``(n,)``, from a biology table with
    the columns :data:`BIOLOGY_COLUMNS` (graft, smoking, diabetes, NSAIDs, age, levels)."""
    missing = [c for c in BIOLOGY_COLUMNS if c not in biology.columns]
    if missing:
        raise CaseError(
            f"biology table lacks the columns {missing}; it needs {list(BIOLOGY_COLUMNS)}"
        )
    age = biology["age_years"].to_numpy(dtype=float)
    levels = biology["levels"].to_numpy(dtype=float)
    if np.any(~np.isfinite(age)) or np.any((age < 18) | (age > 110)):
        raise CaseError(f"biology: age_years must lie in 18–110 (got {age.min()}–{age.max()})")
    if np.any(levels < 1):
        raise CaseError(f"biology: levels must be at least 1 (got minimum {levels.min()})")
    m = _lookup(list(biology["graft"]), params.graft_multiplier, "graft")
    m *= _lookup(list(biology["smoking"]), params.smoking_multiplier, "smoking")
    m *= _lookup(list(biology["diabetes"]), params.diabetes_multiplier, "diabetes")
    m *= np.where(biology["nsaids"].to_numpy(dtype=bool), params.nsaids_multiplier, 1.0)
    m *= params.age_multiplier_per_year ** (age - params.age_reference_years)
    m *= params.levels_multiplier ** (levels - 1.0)
    return m


def trabecular_hu(
    case: Case, geometry: SpineGeometry | None, plan: SurgicalPlan, params: HealingParameters
) -> float:
    """Trabecular bone density (HU) next to the fused segments: measured on the geometry's
    vertebrae, else on the plan's screw tracts, else the DXA-class default."""
    names: set[str] = set()
    for s in plan.fuse_segments:
        names.update(parse_segment(s))
    if geometry is not None:
        measured = [
            v.trabecular_hu
            for v in geometry.vertebrae.values()
            if v.name in names and v.trabecular_hu is not None
        ]
        if measured:
            return float(np.mean(measured))
    screws = [s.mean_hu for s in plan.screws if s.mean_hu is not None]
    if screws:
        return float(np.mean(screws))
    p = case.patient
    if p.osteoporosis:
        return params.fallback_hu["osteoporosis"]
    if p.t_score is not None and p.t_score < -1.0:
        return params.fallback_hu["osteopenia"]
    return params.fallback_hu["normal"]


def biology_row(
    case: Case, geometry: SpineGeometry | None, plan: SurgicalPlan, params: HealingParameters
) -> pd.DataFrame:
    """One patient's biology table (a single row with :data:`BIOLOGY_COLUMNS`)."""
    p = case.patient
    graft = plan.graft.material if plan.graft is not None else "local_autograft"
    return pd.DataFrame(
        {
            "age_years": [p.age_years],
            "smoking": [p.smoking],
            "diabetes": [p.diabetes],
            "trabecular_hu": [trabecular_hu(case, geometry, plan, params)],
            "nsaids": [p.nsaids_after_surgery],
            "graft": [graft],
            "technique": [plan.technique],
            "levels": [max(plan.levels, 1)],
        }
    )
