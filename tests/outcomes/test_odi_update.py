"""Updating the 12-month ODI forecast with an early (3-month) ODI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from spinefuse.case import Case
from spinefuse.errors import ParameterError
from spinefuse.outcomes.complications import complication_probabilities
from spinefuse.outcomes.covariates import validate_patients
from spinefuse.outcomes.forecast import odi_update_forecast
from spinefuse.outcomes.operative import with_operative_time
from spinefuse.outcomes.parameters import outcome_parameters
from spinefuse.outcomes.pro import (
    diagnosis_codes,
    early_observation_sd,
    odi_update,
    pro_models,
    recovery_fraction,
)
from spinefuse.plan.surgical_plan import SurgicalPlan


def _simulated(registry: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """3-month ODIs drawn around each synthetic patient's course, and the updated forecasts."""
    b = registry["baseline_odi"].to_numpy(float)
    y12 = registry["odi_12m"].to_numpy(float)
    f = float(recovery_fraction(3.0))
    rng = np.random.default_rng(1)
    obs = np.clip(b - (b - y12) * f + rng.normal(0, early_observation_sd(), len(b)), 0, 100)
    pts = with_operative_time(
        validate_patients(registry.drop(columns=["operative_time_min", "blood_loss_ml"]))
    )
    m = pro_models()["odi"]
    d = m.design(pts, complication_probabilities(pts))
    mean, _, p = odi_update(m, d, b, diagnosis_codes(pts), 3.0, obs)
    return (b - y12) >= m.mcid, p, mean, y12


def test_updated_mcid_chances_are_calibrated(registry_10k: pd.DataFrame) -> None:
    reached, p, mean, y12 = _simulated(registry_10k)
    for lo, hi in [(0.0, 0.3), (0.3, 0.7), (0.7, 1.01)]:
        sel = (p >= lo) & (p < hi)
        assert abs(reached[sel].mean() - p[sel].mean()) < 0.03
    assert abs((mean - y12).mean()) < 0.5


def test_early_odi_sharpens_but_does_not_exceed_the_literature(
    registry_10k: pd.DataFrame,
) -> None:
    reached, p, _, _ = _simulated(registry_10k)
    ceiling = outcome_parameters()["pro"]["odi"]["discrimination"]["auc_max"]
    assert 0.84 < roc_auc_score(reached, p) <= ceiling


def test_a_poor_three_month_odi_lowers_the_chance(case: Case, plan: SurgicalPlan) -> None:
    good = odi_update_forecast(case, plan, 3.0, 25.0, 0.07)
    poor = odi_update_forecast(case, plan, 3.0, 52.0, 0.07)
    assert poor.prior_mcid_probability == good.prior_mcid_probability
    assert poor.mcid_probability < good.prior_mcid_probability < good.mcid_probability
    assert poor.mean_12m > good.prior_mean_12m > good.mean_12m
    assert good.sd_12m < pro_models()["odi"].sd  # tighter than the prior spread


def test_update_inputs_are_checked(case: Case, plan: SurgicalPlan) -> None:
    with pytest.raises(ParameterError, match="months = 14"):
        odi_update_forecast(case, plan, 14.0, 30.0, 0.07)
    with pytest.raises(ParameterError, match="the ODI lies in 0-100"):
        odi_update_forecast(case, plan, 3.0, 130.0, 0.07)
