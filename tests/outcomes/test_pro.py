"""PRO trajectories: diagnosis-specific ODI change, a realistic early course, published
predictors, the EQ-5D index and MCID chances that follow from the trajectories."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from spinefuse.errors import ParameterError
from spinefuse.outcomes.complications import complication_probabilities
from spinefuse.outcomes.covariates import DIAGNOSES, validate_patients
from spinefuse.outcomes.eq5d import score_eq5d
from spinefuse.outcomes.operative import with_operative_time
from spinefuse.outcomes.parameters import outcome_parameters, quantity
from spinefuse.outcomes.population import sample_patients
from spinefuse.outcomes.pro import (
    baselines,
    clipped_normal_mean,
    diagnosis_codes,
    early_observation_sd,
    eq5d_model,
    odi_12m_and_mcid,
    pro_models,
    recovery_fraction,
    time_points_months,
)


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    return with_operative_time(validate_patients(sample_patients(12000, seed=11)))


def _odi(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    m = pro_models()["odi"]
    d = m.design(frame, complication_probabilities(frame))
    base, dx = baselines(frame, "odi"), diagnosis_codes(frame)
    t = time_points_months()
    return m.mean_at(d, base, dx, t), m.reach_probability(d, base, dx, m.mcid, t), base


def test_population_odi_and_mcid_share_match_the_registries(cohort: pd.DataFrame) -> None:
    odi12, mcid = odi_12m_and_mcid(cohort, complication_probabilities(cohort))
    assert 27.0 <= odi12.mean() <= 32.0  # McGirt 2015: 50.4 -> 29.5
    assert 0.62 <= mcid.mean() <= 0.72  # N2QOD 2016: 67 % at 12 months


def test_odi_change_depends_on_the_diagnosis(cohort: pd.DataFrame) -> None:
    """Issue 18 item 2: everyone was pulled toward ODI 29.5; degenerative spondylolisthesis
    gained 12-14 points where fusion trials report ~20-26 and chronic low back pain gained more
    than trials show. Each diagnosis' 12-month change now lies in its published interval."""
    mean, _, base = _odi(cohort)
    dx = diagnosis_codes(cohort)
    table = outcome_parameters()["pro"]["odi"]["change_12m"]
    change = {}
    for k, name in enumerate(DIAGNOSES):
        rows = dx == k
        change[name] = float((mean[rows, 4] - base[rows]).mean())
        lo, hi = quantity(table[name], name).interval
        assert lo <= change[name] <= hi, (name, change[name])
    assert change["degenerative_spondylolisthesis"] <= -20.0
    assert change["discogenic"] > change["degenerative_spondylolisthesis"] + 8.0


def test_the_course_is_gradual_early_and_keeps_gaining_to_two_years(
    cohort: pd.DataFrame,
) -> None:
    """Issue 18 item 2: 70 % of the 12-month gain at 6 weeks and 24 months = 12 months. Now
    about half at 6 weeks, three quarters at 3 months (Finnish cohort: -19 of about -22 at 3
    months; QOD grade 1: 78.5 % of MCID reachers by 3 months) and 4 % more by 24 (5-year -26)."""
    f = recovery_fraction(time_points_months())
    assert f[0] == 0.0 and 0.40 <= f[1] <= 0.60 and 0.70 <= f[2] <= 0.90 and f[4] == 1.0
    assert f[5] == pytest.approx(1.04)
    mean, reach, base = _odi(cohort)
    gain = base[:, None] - mean
    assert np.all(np.abs(gain[:, 5]) >= np.abs(gain[:, 4]) - 1e-9)  # the change goes on
    assert gain[:, 5].mean() > gain[:, 4].mean() + 0.5
    assert np.all(np.diff(reach.mean(0)) >= -1e-12) and reach[:, 0].max() == 0.0


def _drawn_courses(seed: int) -> tuple[Any, ...]:
    """One sampled patient's model, design and 400,000 drawn 12-month ODIs with their early
    deviations (the model's own distribution, drawn)."""
    frame = with_operative_time(validate_patients(sample_patients(1, seed=seed)))
    m = pro_models()["odi"]
    d = m.design(frame, complication_probabilities(frame))
    base, dx = baselines(frame, "odi"), diagnosis_codes(frame)
    mu, w = m.location(d, base, dx)
    rng = np.random.default_rng(0)
    combo = rng.choice(w.shape[1], 400_000, p=w[0])
    y12 = np.clip(mu[0, combo] + m.sd * rng.standard_normal(combo.size), 0.0, 100.0)
    e = early_observation_sd() * rng.standard_normal(combo.size)
    return m, d, base, dx, y12, e


def test_mcid_chances_follow_from_the_trajectory() -> None:
    """The MCID probability at t is the share of the course's distribution that improves by at
    least 12.8 points: f(t)·(baseline - ODI_12) less the early deviation before 12 months
    (N2QOD: 3-month ODIs lie 11.9 ± 10.8 points from the 12-month ones). Drawn patients of the
    model reproduce it, and the 3-month band is the drawn 3-month ODI's quantiles."""
    m, d, base, dx, y12, e = _drawn_courses(4)
    months = time_points_months()
    model = m.reach_probability(d, base, dx, m.mcid, months)[0]
    band = m.band(d, base, dx, months, (0.05, 0.5, 0.95))[0]
    for j, t in enumerate(months[1:], start=1):
        f = recovery_fraction(np.array([t]))[0]
        early = e if 0.0 < t < 12.0 else 0.0
        drawn = ((base[0] - y12) * f - early >= m.mcid).mean()
        assert model[j] == pytest.approx(drawn, abs=0.005), t
        score = np.clip(base[0] - (base[0] - y12) * f + early, 0.0, 100.0)
        assert band[j] == pytest.approx(np.quantile(score, [0.05, 0.5, 0.95]), abs=0.6), t
    assert early_observation_sd() == pytest.approx(14.0)


def test_early_responders_reach_the_mcid_at_3_months_and_keep_it() -> None:
    """Djurasovic 2024 (QOD grade 1 spondylolisthesis) counts as early responders those who
    reached the MCID at 3 months and still held it at 12: the joint chance, below both
    marginal chances, reproduced by drawn patients."""
    for seed in (4, 7):
        m, d, base, dx, y12, e = _drawn_courses(seed)
        f = recovery_fraction(np.array([3.0]))[0]
        both = (((base[0] - y12) * f - e >= m.mcid) & (base[0] - y12 >= m.mcid)).mean()
        model = m.early_response_probability(d, base, dx, m.mcid, 3.0)[0]
        assert model == pytest.approx(both, abs=0.005), seed
        marginal = m.reach_probability(d, base, dx, m.mcid, np.array([3.0, 12.0]))[0]
        assert model <= marginal.min() + 1e-9
    with pytest.raises(ParameterError, match="before 12 months"):
        m.early_response_probability(d, base, dx, m.mcid, 12.0)


def test_predictors_worsen_the_12_month_odi_by_their_effect(cohort: pd.DataFrame) -> None:
    base = cohort.iloc[:200].copy()
    p = complication_probabilities(base)
    flagged = base.assign(depression=True, workers_compensation=True, preop_opioid_use=True)
    plain = base.assign(depression=False, workers_compensation=False, preop_opioid_use=False)
    worse = odi_12m_and_mcid(flagged, p)[0] - odi_12m_and_mcid(plain, p)[0]
    assert 12.0 <= worse.mean() <= 14.0 + 1e-9  # 4 + 6 + 4 points before clipping
    revision = odi_12m_and_mcid(base.assign(revision=True), p)[0]
    primary = odi_12m_and_mcid(base.assign(revision=False), p)[0]
    assert (revision - primary).mean() == pytest.approx(7.0, abs=0.7)


def test_nonunion_from_healing_lowers_the_mcid_chance(cohort: pd.DataFrame) -> None:
    row = cohort.iloc[:1]
    good_row, bad_row = row.assign(nonunion_probability=0.0), row.assign(nonunion_probability=1.0)
    good = odi_12m_and_mcid(good_row, complication_probabilities(good_row))
    bad = odi_12m_and_mcid(bad_row, complication_probabilities(bad_row))
    assert bad[0][0] - good[0][0] == pytest.approx(8.0, abs=0.5)
    assert bad[1][0] < good[1][0]


def test_mcid_is_impossible_from_a_baseline_below_it() -> None:
    row = with_operative_time(
        validate_patients(sample_patients(1, seed=1).assign(baseline_odi=10.0))
    )
    assert odi_12m_and_mcid(row, complication_probabilities(row))[1][0] == 0.0


def test_clipped_normal_mean_against_sampling() -> None:
    rng = np.random.default_rng(0)
    y = np.clip(rng.normal(5.0, 9.5, 400_000), 0, 100).mean()
    assert clipped_normal_mean(np.array([5.0]), 9.5, 0.0, 100.0)[0] == pytest.approx(y, abs=0.03)


def test_pain_improves_by_the_diagnosis_fraction(cohort: pd.DataFrame) -> None:
    """Back pain improves less than leg pain after fusion for stenosis, both by ~60 % for a
    degenerative slip (Parker 2011: -4.3 and -3.8 from ~7 and ~6.5), back pain by about a third
    in chronic low back pain (Fritzell 2001)."""
    p = complication_probabilities(cohort)
    dx = diagnosis_codes(cohort)
    out = {}
    for name in ("back_pain", "leg_pain"):
        m = pro_models()[name]
        base = baselines(cohort, name)
        y = m.mean_12m(m.design(cohort, p), base, dx)
        out[name] = [
            float(1 - y[dx == k].mean() / base[dx == k].mean()) for k in range(len(DIAGNOSES))
        ]
    ds, st, disc = (
        DIAGNOSES.index(d) for d in ("degenerative_spondylolisthesis", "stenosis", "discogenic")
    )
    assert 0.5 <= out["back_pain"][ds] <= 0.7 and 0.5 <= out["leg_pain"][ds] <= 0.7
    assert out["back_pain"][st] < out["leg_pain"][st]
    assert 0.25 <= out["back_pain"][disc] <= 0.45


def test_bands_widen_with_time_and_contain_the_median(cohort: pd.DataFrame) -> None:
    m = pro_models()["back_pain"]
    row = cohort.iloc[:5]
    d = m.design(row, complication_probabilities(row))
    band = m.band(
        d,
        baselines(row, "back_pain"),
        diagnosis_codes(row),
        time_points_months(),
        (0.05, 0.5, 0.95),
    )
    width = band[:, :, 2] - band[:, :, 0]
    assert np.all(width[:, 0] == 0) and np.all(width[:, 4] > width[:, 1])
    assert np.all((band[..., 0] <= band[..., 1]) & (band[..., 1] <= band[..., 2]))


def test_eq5d_index_course_and_mcid(cohort: pd.DataFrame) -> None:
    """EQ-5D-3L (UK TTO): ~0.35 before fusion at ODI ~48 and ~0.65 a year after a degenerative
    slip's fusion (registries); the MCID is 0.10 (Swespine, Parai 2020)."""
    eq, odi = eq5d_model(), pro_models()["odi"]
    p = complication_probabilities(cohort)
    d = odi.design(cohort, p)
    base, dx = baselines(cohort, "odi"), diagnosis_codes(cohort)
    eq0 = eq.baseline(cohort)
    assert 0.30 <= eq0.mean() <= 0.42
    t = time_points_months()
    course = eq.mean_at(odi, d, base, dx, eq0, t)
    ds = dx == DIAGNOSES.index("degenerative_spondylolisthesis")
    assert 0.58 <= course[ds, 4].mean() <= 0.75
    assert np.all(course[:, 4] <= 1.0) and np.all(course[:, 0] == eq0)
    reach = eq.reach_probability(odi, d, base, dx, eq0, t)
    assert reach[:, 0].max() == 0.0 and 0.6 <= reach[ds, 4].mean() <= 0.9
    given = cohort.iloc[:3].assign(baseline_eq5d=[0.2, 0.5, 0.95])
    np.testing.assert_allclose(eq.baseline(given), [0.2, 0.5, 0.95])
    near_full = eq.reach_probability(
        odi,
        odi.design(given, complication_probabilities(given)),
        baselines(given, "odi"),
        diagnosis_codes(given),
        eq.baseline(given),
        t,
    )
    assert near_full[2].max() == 0.0  # no room under full health for a 0.10 gain


def test_eq5d_questionnaire_scores_with_the_uk_value_set() -> None:
    assert score_eq5d("11111").index == 1.0
    assert score_eq5d([3, 3, 3, 3, 3]).index == pytest.approx(-0.594)
    # 21232: 1 - 0.081 - 0.069 - 0 - 0.036 - 0.386 - 0.071 - 0.269 (N3) = 0.088
    assert score_eq5d("21232").index == pytest.approx(0.088, abs=1e-9)
    mapping = dict(
        zip(
            ("mobility", "self_care", "usual_activities", "pain_discomfort", "anxiety_depression"),
            (1, 1, 2, 2, 1),
            strict=True,
        )
    )
    assert score_eq5d(mapping).index == pytest.approx(1 - 0.081 - 0.036 - 0.123)
    with pytest.raises(ParameterError, match="1, 2 or 3"):
        score_eq5d("11141")
    with pytest.raises(ParameterError, match="five"):
        score_eq5d("1111")
