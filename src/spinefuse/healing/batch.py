"""Healing for a cohort: one ensemble run over many patients' biology and fusion responses."""

from __future__ import annotations

import numpy as np
import pandas as pd

from spinefuse.errors import CaseError
from spinefuse.healing.biology import osteogenic_multiplier
from spinefuse.healing.ensemble import regions_for_technique, simulate
from spinefuse.healing.parameters import HealingParameters, load_parameters
from spinefuse.healing.response import FusionResponseLike, response_table
from spinefuse.healing.tissue import Rule

RESULT_COLUMNS = (
    "fusion_probability_6m",
    "fusion_probability_12m",
    "fusion_probability_24m",
    "nonunion_probability",
    "median_time_to_fusion_months",
    "subsidence_probability",
    "rod_fracture_probability",
)


def heal_batch(
    biology: pd.DataFrame,
    response: FusionResponseLike,
    months: float = 24,
    seed: int = 0,
    *,
    members: int = 100,
    rule: Rule = "lacroix_prendergast",
    dt_days: float = 3.0,
    params: HealingParameters | None = None,
) -> pd.DataFrame:
    """Fusion, non-union, subsidence and rod-fracture probabilities for each row of
    ``biology`` (columns :data:`~spinefuse.healing.biology.BIOLOGY_COLUMNS`, plus an optional
    ``rod_material``), with row ``i`` healing under patient ``i`` of ``response``.

    Returns a frame with :data:`RESULT_COLUMNS` and the biology's index. A fusion probability
    for a month beyond ``months`` is NaN; so is the median time to fusion when fewer than half
    the members fused. Cohorts step three days at a time (probabilities within 0.01 of daily
    steps, tests/healing/test_batch.py) with 100 members per patient by default."""
    params = params or load_parameters()
    table = response_table(response)
    if len(biology) != table.patients:
        raise CaseError(
            f"biology has {len(biology)} rows but the fusion response holds {table.patients} "
            "patients; give one response per biology row, in the same order"
        )
    osteo = osteogenic_multiplier(biology, params)
    regions = np.array([regions_for_technique(str(t)) for t in biology["technique"]])
    hu = biology["trabecular_hu"].to_numpy(dtype=float)
    if np.any(~np.isfinite(hu)):
        raise CaseError("biology: trabecular_hu holds missing values; give every patient's HU")
    rods = (
        [str(m) for m in biology["rod_material"]]
        if "rod_material" in biology.columns
        else ["titanium"] * len(biology)
    )
    run = simulate(
        table,
        osteo,
        regions,
        hu,
        rods,
        params,
        members=members,
        months=months,
        seed=seed,
        rule=rule,
        dt_days=dt_days,
    )
    nan = np.full(table.patients, np.nan)
    out = {
        f"fusion_probability_{m}m": run.fusion_probability(m) if m <= months else nan
        for m in (6, 12, 24)
    }
    out["nonunion_probability"] = run.nonunion_probability(params.assess_month)
    out["median_time_to_fusion_months"] = run.time_to_fusion_months(0.5)
    out["subsidence_probability"] = run.subsidence_probability(params.subsidence_threshold_mm)
    out["rod_fracture_probability"] = run.rod_fracture_probability()
    return pd.DataFrame(out, index=biology.index)[list(RESULT_COLUMNS)]
