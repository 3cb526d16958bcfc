"""The shared logistic / log-normal machinery: mixing over events, intercept solving, intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import expit

from spinefuse.errors import ParameterError
from spinefuse.outcomes.parameters import Effect, outcome_parameters, quantity
from spinefuse.outcomes.risk import Design, event_mixture, logistic_mixture, solve_intercepts


def test_event_mixture_weights_sum_to_one_and_match_independence() -> None:
    probs = np.array([[0.1, 0.5], [0.9, 0.2]])
    combos, w = event_mixture(probs)
    assert combos.shape == (4, 2) and w.shape == (2, 4)
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    both = np.flatnonzero((combos == 1).all(axis=1))[0]
    np.testing.assert_allclose(w[:, both], [0.05, 0.18])


def test_logistic_mixture_equals_hand_mixture() -> None:
    x = np.array([[1.0], [0.0]])
    d = Design(x, np.array([[0.3], [0.0]]))
    p = logistic_mixture(d, np.array([[0.5]]), np.array([[2.0]]), np.array([-3.0]))[:, 0]
    expected0 = 0.7 * expit(-2.5) + 0.3 * expit(-0.5)
    assert p[0] == pytest.approx(expected0, rel=1e-12)
    assert p[1] == pytest.approx(expit(-3.0), rel=1e-12)


def test_solved_intercepts_hit_each_target_rate() -> None:
    rng = np.random.default_rng(0)
    d = Design(rng.normal(size=(3000, 2)), rng.uniform(0, 0.2, size=(3000, 1)))
    beta = np.array([[0.4, -0.2], [1.0, 0.3]])
    targets = np.array([0.02, 0.3])
    a = solve_intercepts(d, beta, np.array([[1.5], [0.0]]), targets)
    p = logistic_mixture(d, beta, np.array([[1.5], [0.0]]), a)
    np.testing.assert_allclose(p.mean(axis=0), targets, rtol=1e-8)


def test_effect_standard_error_from_its_interval() -> None:
    e = Effect("x", "diabetes", 2.19, (1.43, 3.36), "RR", "src", "verified")
    assert e.coefficient == pytest.approx(math.log(2.19))
    assert e.coefficient_sd == pytest.approx((math.log(3.36) - math.log(1.43)) / 3.919928, 1e-6)
    add = Effect("y", "depression", 4.0, (2.0, 6.0), "ODI", "src", "unverified", additive=True)
    assert add.coefficient == 4.0 and add.coefficient_sd == pytest.approx(4.0 / 3.919928, 1e-6)


def test_every_parameter_has_value_interval_unit_source_certainty() -> None:
    data = outcome_parameters()
    n = 0
    for section in ("binary", "continuous"):
        for name, entry in data[section].items():
            for eff_name, eff in entry.get("effects", {}).items():
                q = quantity(eff, f"{section}.{name}.effects.{eff_name}")
                assert q.source and q.unit and q.interval[0] <= q.value <= q.interval[1]
                n += 1
    assert n >= 40


def test_a_value_outside_its_interval_is_refused() -> None:
    bad = {
        "value": 5.0,
        "interval": [1.0, 2.0],
        "unit": "OR",
        "source": "x",
        "certainty": "verified",
    }
    with pytest.raises(ParameterError, match="outside its interval"):
        quantity(bad, "binary.test")
