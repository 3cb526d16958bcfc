"""Complication models: calibrated to published rates, with intervals and named drivers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spinefuse.errors import ParameterError
from spinefuse.outcomes.complications import (
    OUTCOMES,
    asd_cumulative,
    complication_intervals,
    complication_models,
    complication_probabilities,
)
from spinefuse.outcomes.covariates import validate_patients
from spinefuse.outcomes.population import reference_patients, sample_patients


def _one(**over: object) -> pd.DataFrame:
    row = {
        "age_years": 60.0,
        "sex": "female",
        "bmi": 27.0,
        "smoking": "never",
        "diabetes": "none",
        "depression": False,
        "preop_opioid_use": False,
        "workers_compensation": False,
        "baseline_odi": 48.0,
        "asa_class": 2,
        "technique": "TLIF",
        "approach": "mis",
        "graft": "local_autograft",
        "levels": 1,
        "interbody": True,
    }
    row.update(over)
    return validate_patients(pd.DataFrame([row]))


def test_reference_population_mean_risk_equals_each_published_rate() -> None:
    ref = reference_patients()
    p = complication_probabilities(ref)
    for name in OUTCOMES:
        assert p[name].mean() == pytest.approx(complication_models()[name].marginal.value, rel=1e-6)


def test_infection_risk_rises_by_the_published_odds_ratios() -> None:
    base = complication_probabilities(_one())["infection"][0]
    diab = complication_probabilities(_one(diabetes="non_insulin"))["infection"][0]
    odds = lambda p: p / (1 - p)  # noqa: E731
    assert odds(diab) / odds(base) == pytest.approx(2.19, rel=1e-9)
    open_ = complication_probabilities(_one(approach="open"))["infection"][0]
    assert odds(open_) / odds(base) == pytest.approx(3.7, rel=1e-9)


def test_healing_nonunion_replaces_the_fallback_and_drives_reoperation() -> None:
    low = complication_probabilities(_one(nonunion_probability=0.02))
    high = complication_probabilities(_one(nonunion_probability=0.40))
    assert low["nonunion"][0] == 0.02 and high["nonunion"][0] == 0.40
    assert high["reoperation_2y"][0] > 1.5 * low["reoperation_2y"][0]


def test_intervals_contain_the_point_risk_and_widen_for_uncertain_effects() -> None:
    pts = _one(diabetes="insulin", bmi=36.0, approach="open", levels=2)
    p = complication_probabilities(pts)
    iv = complication_intervals(pts, p)
    for name in OUTCOMES:
        lo, hi = iv[name]
        assert lo[0] <= p[name][0] <= hi[0], name
        assert hi[0] > lo[0]
    # open-vs-MIS OR spans 1.0-32.7: the interval is wide for this patient's infection risk
    assert iv["infection"][1][0] / iv["infection"][0][0] > 3


def test_drivers_name_this_patients_factors_largest_first() -> None:
    pts = _one(diabetes="insulin", bmi=36.0, approach="open")
    p = complication_probabilities(pts)
    drv = complication_models()["infection"].drivers(pts, p)
    names = [d.factor for d in drv]
    assert names[0] == "open_approach" and set(names) == {"open_approach", "obesity", "diabetes"}
    assert drv[0].ratio == pytest.approx(3.7)


def test_asd_accumulates_at_the_published_annual_rate() -> None:
    p5 = np.array([0.136])
    assert asd_cumulative(p5, 10.0)[0] == pytest.approx(1 - 0.864**2)
    assert asd_cumulative(p5, 1.0)[0] == pytest.approx(0.029, abs=0.002)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("age_years", -4.0, "age_years = -4.0"),
        ("baseline_odi", 120.0, "baseline_odi = 120.0"),
        ("approach", "robotic", "use one of open, mis"),
    ],
)
def test_impossible_inputs_get_a_clear_error(column: str, value: object, message: str) -> None:
    df = sample_patients(3, seed=0)
    df[column] = df[column].astype(object)
    df.loc[1, column] = value
    with pytest.raises(ParameterError, match=message) as err:
        validate_patients(df)
    assert "row 1" in str(err.value)


def test_missing_columns_are_named() -> None:
    with pytest.raises(ParameterError, match="missing column.*baseline_odi"):
        validate_patients(sample_patients(2).drop(columns=["baseline_odi"]))


def test_operative_duration_given_or_expected_drives_deficit_risk() -> None:
    odds = lambda p: p / (1 - p)  # noqa: E731
    short = complication_probabilities(_one(operative_time_min=180.0))
    long = complication_probabilities(_one(operative_time_min=300.0))
    ratio = odds(long["neurological_deficit"][0]) / odds(short["neurological_deficit"][0])
    assert ratio == pytest.approx(1.4**2, rel=1e-9)  # OR 1.4 per hour (LLIF series)
    # without a duration the expected operative time of a 1-level MIS TLIF is used (179 min)
    expected = complication_probabilities(_one())["neurological_deficit"][0]
    assert expected == pytest.approx(short["neurological_deficit"][0], rel=0.01)
    pts = _one(operative_time_min=360.0)
    names = [
        d.factor
        for d in complication_models()["readmission_90d"].drivers(
            pts, complication_probabilities(pts)
        )
    ]
    assert "operative_time" in names


def test_ten_year_asd_of_the_population_within_sears() -> None:
    from spinefuse.outcomes.parameters import outcome_parameters, quantity

    q = quantity(outcome_parameters()["binary"]["asd_5y"]["ten_year"], "ten_year")
    p10 = asd_cumulative(complication_probabilities(reference_patients())["asd_5y"], 10.0)
    assert q.interval[0] <= p10.mean() <= q.interval[1]
