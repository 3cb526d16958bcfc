"""The numerical choices every patient shares, single or in a cohort, shown converged:

* the fusion grid (:data:`~spinefuse.healing.response.FUSION_GRID`, 8 states) against a 39-state
  grid: fusion, subsidence and rod-fracture probabilities within 0.01 at every month, median
  stiffness, motion and rod-stress courses within 10 %;
* the ensemble size (the parameter file's 256 members) against 4,096 members: fusion
  probabilities within 0.02 at 6, 12 and 24 months;
* the 3-day time step against daily steps: within 0.01.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spinefuse.anatomy.template import VirtualPatientSpec, virtual_spine
from spinefuse.healing.batch import run_biology
from spinefuse.healing.ensemble import EnsembleRun
from spinefuse.healing.parameters import load_parameters
from spinefuse.healing.response import FUSION_GRID
from spinefuse.mechanics import fused_segment_response

from .conftest import instrumented_plan

P = load_parameters()
TECHNIQUES = ["PLF", "TLIF", "ALIF"]
FINE_GRID = np.unique(np.concatenate([np.linspace(0.0, 0.1, 21), np.linspace(0.1, 1.0, 19)]))
BIOLOGY = pd.DataFrame(
    {
        "case_id": "convergence",
        "age_years": 60.0,
        "smoking": "never",
        "diabetes": "none",
        "trabecular_hu": 150.0,
        "nsaids": False,
        "graft": "local_autograft",
        "technique": TECHNIQUES,
        "levels": 1,
    }
)


def _run(grid: np.ndarray, members: int | None = None, dt: float | None = None) -> EnsembleRun:
    g = virtual_spine(VirtualPatientSpec())
    plans = [instrumented_plan(g, technique=t, graft="local_autograft") for t in TECHNIQUES]
    response = fused_segment_response([g] * len(plans), plans, grid)
    return run_biology(
        BIOLOGY,
        response,
        months=24,
        seed=0,
        members=members,
        rule="lacroix_prendergast",
        dt_days=dt,
        params=P,
    )


@pytest.fixture(scope="module")
def default_run() -> EnsembleRun:
    return _run(FUSION_GRID)


def test_the_grid_is_shared_and_converged(default_run: EnsembleRun) -> None:
    assert FUSION_GRID.size == 8 and FUSION_GRID[0] == 0.0 and FUSION_GRID[-1] == 1.0
    fine = _run(FINE_GRID)
    coarse = default_run
    np.testing.assert_allclose(coarse.fused.mean(axis=1), fine.fused.mean(axis=1), atol=0.01)
    np.testing.assert_allclose(
        coarse.subsidence_probability(2.0), fine.subsidence_probability(2.0), atol=0.01
    )
    np.testing.assert_allclose(
        coarse.rod_fracture_probability(), fine.rod_fracture_probability(), atol=0.01
    )
    for name in ("stiffness_nmm_per_rad", "motion_deg", "rod_stress_mpa"):
        a = np.median(getattr(coarse, name), axis=1)
        b = np.median(getattr(fine, name), axis=1)
        np.testing.assert_allclose(a, b, rtol=0.10, err_msg=name)


def test_the_ensemble_size_is_converged(default_run: EnsembleRun) -> None:
    assert default_run.members == P.members_default == 256
    big = _run(FUSION_GRID, members=4096)
    for month in (6, 12, 24):
        np.testing.assert_allclose(
            default_run.fusion_probability(month), big.fusion_probability(month), atol=0.02
        )


def test_the_time_step_is_converged(default_run: EnsembleRun) -> None:
    assert P.dt_days == 3.0
    daily = _run(FUSION_GRID, dt=1.0)
    for month in (3, 6, 12, 24):
        np.testing.assert_allclose(
            default_run.fusion_probability(month), daily.fusion_probability(month), atol=0.01
        )
