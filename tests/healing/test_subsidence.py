"""Cage subsidence: density-dependent yield and settling within three months."""

from __future__ import annotations

import numpy as np
import pytest

from spinefuse.healing.parameters import load_parameters
from spinefuse.healing.subsidence import endplate_yield_pressure, final_settlement_mm, settlement_at

P = load_parameters()


def test_yield_pressure_follows_the_density_power_law() -> None:
    hu = np.array([80.0, 150.0, 250.0])
    p = endplate_yield_pressure(hu, P)
    rho = P.hu_density_intercept + P.hu_density_slope * hu
    np.testing.assert_allclose(
        p, P.endplate_factor * P.yield_coefficient_mpa * rho**P.yield_exponent
    )
    assert np.all(np.diff(p) > 0)
    # halving the density cuts the yield pressure by 2^1.56 ~ 2.9
    ratio = endplate_yield_pressure(np.array([200.0]), P) / endplate_yield_pressure(
        np.array([100.0]), P
    )
    assert ratio[0] == pytest.approx(2**1.56, rel=1e-6)


def test_no_settlement_below_yield_and_capped_above() -> None:
    py = np.array([4.0, 4.0, 4.0])
    d = final_settlement_mm(np.array([3.9, 6.0, 400.0]), py, P)
    assert d[0] == 0.0
    assert d[1] == pytest.approx(P.settlement_compliance_mm * np.log(1.5))
    assert d[2] == P.max_settlement_mm


def test_settling_is_done_by_three_months() -> None:
    final = np.array([3.0])
    at_1m, at_3m, at_2y = (settlement_at(final, d, P)[0] for d in (30.0, 91.0, 730.0))
    assert 0.5 * final[0] < at_1m < final[0]  # mostly within the first month
    assert at_3m > 0.97 * final[0]  # no progression after three months
    assert at_2y == pytest.approx(final[0])
