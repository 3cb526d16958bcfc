"""PRO trajectories: published 12-month ODI and MCID share, the saturating course, predictors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spinefuse.outcomes.complications import complication_probabilities
from spinefuse.outcomes.covariates import validate_patients
from spinefuse.outcomes.population import sample_patients
from spinefuse.outcomes.pro import (
    baselines,
    clipped_normal_mean,
    odi_12m_and_mcid,
    pro_models,
    recovery_fraction,
    time_points_months,
)


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    return validate_patients(sample_patients(6000, seed=11))


def test_population_odi_and_mcid_share_match_the_registries(cohort: pd.DataFrame) -> None:
    odi12, mcid = odi_12m_and_mcid(cohort, complication_probabilities(cohort))
    assert 27.0 <= odi12.mean() <= 32.0  # McGirt 2015: 50.4 -> 29.5
    assert 0.62 <= mcid.mean() <= 0.72  # N2QOD 2016: 67 % at 12 months


def test_most_of_the_gain_is_reached_by_three_months(cohort: pd.DataFrame) -> None:
    m = pro_models()["odi"]
    p = complication_probabilities(cohort)
    d = m.design(cohort, p)
    reach = m.reach_probability(d, baselines(cohort, "odi"), m.mcid, time_points_months()).mean(0)
    assert reach[0] == 0.0
    assert 0.59 <= reach[2] <= 0.69  # N2QOD 2016: 64 % at 3 months
    assert np.all(np.diff(reach) >= -1e-12)
    assert recovery_fraction(np.array([12.0, 24.0])).tolist() == [1.0, 1.0]


def test_predictors_worsen_the_12_month_odi_by_their_effect(cohort: pd.DataFrame) -> None:
    base = cohort.iloc[:200].copy()
    p = complication_probabilities(base)
    flagged = base.assign(depression=True, workers_compensation=True, preop_opioid_use=True)
    worse = (
        odi_12m_and_mcid(flagged, p)[0]
        - odi_12m_and_mcid(
            base.assign(depression=False, workers_compensation=False, preop_opioid_use=False), p
        )[0]
    )
    # 4 + 6 + 4 = 14 ODI points before clipping at 0/100
    assert 12.0 <= worse.mean() <= 14.0 + 1e-9


def test_nonunion_from_healing_lowers_the_mcid_chance(cohort: pd.DataFrame) -> None:
    row = cohort.iloc[:1]
    good = odi_12m_and_mcid(
        row.assign(nonunion_probability=0.0),
        complication_probabilities(row.assign(nonunion_probability=0.0)),
    )
    bad = odi_12m_and_mcid(
        row.assign(nonunion_probability=1.0),
        complication_probabilities(row.assign(nonunion_probability=1.0)),
    )
    assert bad[0][0] - good[0][0] == pytest.approx(8.0, abs=0.5)
    assert bad[1][0] < good[1][0]


def test_mcid_is_impossible_from_a_baseline_below_it() -> None:
    row = validate_patients(sample_patients(1, seed=1).assign(baseline_odi=10.0))
    assert odi_12m_and_mcid(row, complication_probabilities(row))[1][0] == 0.0


def test_clipped_normal_mean_against_sampling() -> None:
    rng = np.random.default_rng(0)
    y = np.clip(rng.normal(5.0, 9.5, 400_000), 0, 100).mean()
    assert clipped_normal_mean(np.array([5.0]), 9.5, 0.0, 100.0)[0] == pytest.approx(y, abs=0.03)


def test_bands_widen_with_time_and_contain_the_median(cohort: pd.DataFrame) -> None:
    m = pro_models()["back_pain"]
    row = cohort.iloc[:5]
    d = m.design(row, complication_probabilities(row))
    band = m.band(d, baselines(row, "back_pain"), time_points_months(), (0.05, 0.5, 0.95))
    width = band[:, :, 2] - band[:, :, 0]
    assert np.all(width[:, 0] == 0) and np.all(width[:, 4] > width[:, 1])
    assert np.all((band[..., 0] <= band[..., 1]) & (band[..., 1] <= band[..., 2]))
