"""Patient and graft biology as multipliers on the osteogenic and chondrogenic rates.

Each factor multiplies a hazard-like rate; the multipliers are calibrated so that the ensemble
reproduces the cited clinical effect (non-union risk ratio or fusion rate) stored beside each
value in ``healing_parameters.yaml``. Surgical technique is deliberately absent: it acts through
the mechanics (graft strain, cage) and through which graft regions exist, never as a constant.

The graft bed is a mixture: the plan's graft material, the local bone its decompression yields
(``local_bone_share`` of the bed) and an extender filling what local bone leaves. rhBMP-2 is
osteoinductive and sets the bed's biology whatever else is packed with it; iliac crest harvest
fills the bed with autograft; local autograft shares the bed with its extender; an allograft,
DBM or ceramic bed takes the local bone the decompression yields.
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
from spinefuse.healing.parameters import REGIONS, HealingParameters
from spinefuse.plan.surgical_plan import SurgicalPlan

FloatArray = NDArray[np.float64]

BIOLOGY_COLUMNS = (
    "case_id",
    "age_years",
    "smoking",
    "diabetes",
    "trabecular_hu",
    "nsaids",
    "graft",
    "technique",
    "levels",
)
"""Columns of the batched biology table (the cohort contract); :data:`OPTIONAL_COLUMNS` may be
added, with the defaults stated there."""

OPTIONAL_COLUMNS = (
    "rod_material",
    "interbody_graft",
    "posterolateral_graft",
    "local_bone_share",
    "extender",
)
"""Optional biology columns: the rods' material (default titanium), the grafted regions (default
from the technique as the planner grafts it: TLIF and PLIF the disc space and the gutters, ALIF
and LLIF the disc space, PLF the gutters), the share of the bed filled with local bone (default
1 for a local-autograft bed, 0 otherwise) and the extender (default none)."""


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
    m = graft_bed_multiplier(biology, params)
    m *= _lookup(list(biology["smoking"]), params.smoking_multiplier, "smoking")
    m *= _lookup(list(biology["diabetes"]), params.diabetes_multiplier, "diabetes")
    m *= np.where(biology["nsaids"].to_numpy(dtype=bool), params.nsaids_multiplier, 1.0)
    m *= params.age_multiplier_per_year ** (age - params.age_reference_years)
    m *= params.levels_multiplier ** (levels - 1.0)
    return m


def _column(biology: pd.DataFrame, name: str, default: object) -> list[object]:
    if name not in biology.columns:
        return [default] * len(biology)
    return [
        default if (v is None or (isinstance(v, float) and np.isnan(v))) else v
        for v in biology[name]
    ]


def graft_bed_multiplier(biology: pd.DataFrame, params: HealingParameters) -> FloatArray:
    """The graft bed's multiplier on osteogenic rates, ``(n,)``: the materials it holds, each
    weighted by its share of the bed (see the module docstring)."""
    graft = [str(g) for g in biology["graft"]]
    primary = _lookup(graft, params.graft_multiplier, "graft")
    local = params.graft_multiplier["local_autograft"]
    default_share = [1.0 if g == "local_autograft" else 0.0 for g in graft]
    share = np.array(
        [
            float(d) if v is None else float(v)  # type: ignore[arg-type]
            for v, d in zip(_column(biology, "local_bone_share", None), default_share, strict=True)
        ]
    )
    if np.any(~np.isfinite(share)) or np.any((share < 0) | (share > 1)):
        raise CaseError(
            "biology: local_bone_share must lie in 0-1 (the share of the graft bed filled with "
            f"local bone), got {share.min()}-{share.max()}"
        )
    ext_names = [
        None if e in (None, "", "none") else str(e) for e in _column(biology, "extender", None)
    ]
    ext = np.array(
        [
            local if e is None else _lookup([e], params.graft_multiplier, "extender")[0]
            for e in ext_names
        ]
    )
    g = np.asarray(graft)
    out = np.where(
        g == "rhbmp2",
        primary,
        np.where(
            g == "iliac_crest_autograft",
            primary,
            np.where(
                g == "local_autograft",
                share * local + (1.0 - share) * ext,
                share * local + (1.0 - share) * primary,
            ),
        ),
    )
    return np.asarray(out, dtype=float)


def compromised_share(biology: pd.DataFrame, params: HealingParameters) -> FloatArray:
    """Each row's share of compromised graft beds, ``(n,)``: the graft's own where the data
    file gives one (rhBMP-2's osteoinduction rescues poor beds), else the ensemble's, times the
    smoking ratio (smoking starves the bed of vessels: rhBMP-2 overcomes it, Glassman 2007)."""
    default = params.compromised_bed_share
    table = params.graft_compromised_share
    share = np.array([table.get(str(g), default) for g in biology["graft"]], dtype=float)
    share *= _lookup(list(biology["smoking"]), params.smoking_compromised_ratio, "smoking")
    return np.asarray(np.minimum(share, 0.9), dtype=float)


def region_graft_factor(biology: pd.DataFrame, params: HealingParameters) -> FloatArray:
    """Each row's factor on the osteogenic rate of each graft region (:data:`REGIONS` order),
    ``(n, R)``: 1 but where a graft acts otherwise in the disc space than its multiplier says
    (rhBMP-2 speeds a posterolateral bed, not an interbody one): there the ratio of its
    interbody value to its multiplier."""
    out = np.ones((len(biology), len(REGIONS)))
    k = REGIONS.index("interbody")
    for i, g in enumerate(biology["graft"]):
        value = params.graft_interbody_multiplier.get(str(g))
        if value is not None:
            out[i, k] = value / params.graft_multiplier[str(g)]
    return out


def interbody_resorption(biology: pd.DataFrame, params: HealingParameters) -> FloatArray:
    """Each row's interbody resorption phase, ``(n, 2)``: the share of its interbody beds that
    resorb before they heal and the phase's length in days, from the graft (rhBMP-2 in the disc
    space: vertebral osteolysis); zeros for grafts without one. The ensemble applies it only
    where the disc space is grafted."""
    out = np.zeros((len(biology), 2))
    for i, g in enumerate(biology["graft"]):
        entry = params.graft_resorption.get(str(g))
        if entry is not None:
            out[i] = entry
    return out


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


def plan_regions(plan: SurgicalPlan) -> list[str]:
    """The grafted regions of a plan: its graft's regions, else both with a cage and the
    posterolateral gutters without (the mechanics' fusion mass uses the same rule)."""
    if plan.graft is not None and plan.graft.regions:
        return [r for r in REGIONS if r in plan.graft.regions]
    return ["interbody", "posterolateral"] if plan.cages else ["posterolateral"]


def biology_row(
    case: Case, geometry: SpineGeometry | None, plan: SurgicalPlan, params: HealingParameters
) -> pd.DataFrame:
    """One patient's biology table: a single row with :data:`BIOLOGY_COLUMNS` and every
    :data:`OPTIONAL_COLUMNS` entry taken from the plan (the cohort builds its rows with this
    function too, so a patient gets one answer in both)."""
    p = case.patient
    g = plan.graft
    graft = g.material if g is not None else "local_autograft"
    share = 1.0 if graft == "local_autograft" else 0.0
    if g is not None and g.local_yield_cm3 is not None and g.volume_cm3 > 0:
        share = min(g.local_yield_cm3 / g.volume_cm3, 1.0)
        if graft == "local_autograft" and g.extender is None:
            share = 1.0  # no extender named: the bed is packed with the local bone there is
    regions = plan_regions(plan)
    return pd.DataFrame(
        {
            "case_id": [case.id],
            "age_years": [p.age_years],
            "smoking": [p.smoking],
            "diabetes": [p.diabetes],
            "trabecular_hu": [trabecular_hu(case, geometry, plan, params)],
            "nsaids": [p.nsaids_after_surgery],
            "graft": [graft],
            "technique": [plan.technique],
            "levels": [max(plan.levels, 1)],
            "rod_material": [plan.rods[0].material if plan.rods else "titanium"],
            "interbody_graft": ["interbody" in regions],
            "posterolateral_graft": ["posterolateral" in regions],
            "local_bone_share": [share],
            "extender": [g.extender if g is not None and g.extender is not None else "none"],
        }
    )
