"""Healing for a table of patients: one ensemble run over many patients' biology and fusion
responses, each patient with its own members (from the run seed and its case id).

:func:`heal_batch` (the cohort path) and :func:`~spinefuse.healing.heal` (one patient) both run
:func:`run_biology`, so the same patient, seed and mechanics response give the same numbers in a
one-patient call and in any cohort batch.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from spinefuse.errors import CaseError
from spinefuse.healing.biology import (
    compromised_share,
    interbody_resorption,
    osteogenic_multiplier,
    region_graft_factor,
)
from spinefuse.healing.ensemble import EnsembleRun, regions_for_technique, simulate
from spinefuse.healing.members import cohort_deviates
from spinefuse.healing.parameters import HealingParameters, load_parameters
from spinefuse.healing.response import FusionResponseLike, response_table
from spinefuse.healing.tissue import Rule

RESULT_COLUMNS = (
    "fusion_probability_3m",
    "fusion_probability_6m",
    "fusion_probability_12m",
    "fusion_probability_24m",
    "nonunion_probability",
    "median_time_to_fusion_months",
    "subsidence_probability",
    "rod_fracture_probability",
)
REPORT_MONTHS = (3, 6, 12, 24)


def _regions(biology: pd.DataFrame) -> np.ndarray:
    default = np.array([regions_for_technique(str(t)) for t in biology["technique"]], dtype=bool)
    out = default.copy()
    for j, col in enumerate(("interbody_graft", "posterolateral_graft")):
        if col in biology.columns:
            given = biology[col].to_numpy()
            known = pd.notna(given)
            out[known, j] = given[known].astype(bool)
    if not out.any(axis=1).all():
        i = int(np.flatnonzero(~out.any(axis=1))[0])
        raise CaseError(
            f"biology row {i}: no grafted region (interbody_graft and posterolateral_graft both "
            "false); a fusion grafts at least one region"
        )
    return out


def run_biology(
    biology: pd.DataFrame,
    response: FusionResponseLike,
    *,
    months: float,
    seed: int,
    members: int | None,
    rule: Rule,
    dt_days: float | None,
    params: HealingParameters,
) -> EnsembleRun:
    """The ensemble run of a biology table (:data:`~spinefuse.healing.biology.BIOLOGY_COLUMNS`)
    with row ``i`` healing under patient ``i`` of ``response``; patient ``i``'s members come
    from ``(seed, case_id[i])``."""
    table = response_table(response)
    if len(biology) != table.patients:
        raise CaseError(
            f"biology has {len(biology)} rows but the fusion response holds {table.patients} "
            "patients; give one response per biology row, in the same order"
        )
    osteo = osteogenic_multiplier(biology, params)
    hu = biology["trabecular_hu"].to_numpy(dtype=float)
    if np.any(~np.isfinite(hu)):
        raise CaseError("biology: trabecular_hu holds missing values; give every patient's HU")
    rods = (
        [str(m) for m in biology["rod_material"]]
        if "rod_material" in biology.columns
        else ["titanium"] * len(biology)
    )
    deviates = cohort_deviates(
        seed, [str(c) for c in biology["case_id"]], members or params.members_default
    )
    return simulate(
        table,
        osteo,
        _regions(biology),
        hu,
        rods,
        params,
        deviates=deviates,
        months=months,
        rule=rule,
        dt_days=dt_days,
        compromised_share=compromised_share(biology, params),
        resorption=interbody_resorption(biology, params),
        region_factor=region_graft_factor(biology, params),
    )


def heal_batch(
    biology: pd.DataFrame,
    response: FusionResponseLike,
    months: float = 24,
    seed: int = 0,
    *,
    members: int | None = None,
    rule: Rule = "lacroix_prendergast",
    dt_days: float | None = None,
    params: HealingParameters | None = None,
) -> pd.DataFrame:
    """Fusion, non-union, subsidence and rod-fracture probabilities for each row of
    ``biology`` (columns :data:`~spinefuse.healing.biology.BIOLOGY_COLUMNS`, optionally
    :data:`~spinefuse.healing.biology.OPTIONAL_COLUMNS`), with row ``i`` healing under patient
    ``i`` of ``response``.

    ``seed`` is the run seed: each patient's members come from ``(seed, case_id)``, so a row
    gets the same numbers as :func:`~spinefuse.healing.heal` for that patient, whatever else
    is in the batch. ``members`` and ``dt_days`` None take the parameter file's values (the
    ones ``heal`` uses). Returns a frame with :data:`RESULT_COLUMNS` and the biology's index; a
    fusion probability for a month beyond ``months`` is NaN, and so is the median time to
    fusion when fewer than half the members fused."""
    params = params or load_parameters()
    run = run_biology(
        biology,
        response,
        months=months,
        seed=seed,
        members=members,
        rule=rule,
        dt_days=dt_days,
        params=params,
    )
    n = len(biology)
    nan = np.full(n, np.nan)
    out = {
        f"fusion_probability_{m}m": run.fusion_probability(m) if m <= months else nan
        for m in REPORT_MONTHS
    }
    out["nonunion_probability"] = run.nonunion_probability(params.assess_month)
    out["median_time_to_fusion_months"] = run.time_to_fusion_months(0.5)
    out["subsidence_probability"] = run.subsidence_probability(params.subsidence_threshold_mm)
    out["rod_fracture_probability"] = run.rod_fracture_probability()
    return pd.DataFrame(out, index=biology.index)[list(RESULT_COLUMNS)]
