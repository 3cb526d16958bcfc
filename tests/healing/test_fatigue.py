"""Rod fatigue: Goodman, Basquin and Miner."""

from __future__ import annotations

import numpy as np
import pytest

from spinefuse.healing.fatigue import cycles_to_failure, damage_per_day, equivalent_amplitude_mpa
from spinefuse.healing.parameters import load_parameters

P = load_parameters()
TI = P.rods["titanium"]


def test_basquin_round_trip_and_titanium_endurance_level() -> None:
    n = np.array([1e4, 1e5, 1e7])
    amp = TI.fatigue_coefficient_mpa * (2 * n) ** TI.basquin_exponent
    np.testing.assert_allclose(cycles_to_failure(amp, TI), n, rtol=1e-9)
    # notched Ti-6Al-4V rods: ~500-600 MPa at 1e7 cycles (da Silva 2017: 594 MPa)
    assert 450 < amp[2] < 620


def test_goodman_raises_the_amplitude_of_a_zero_to_peak_cycle() -> None:
    a = equivalent_amplitude_mpa(np.array([0.0, 200.0, 2 * TI.ultimate_strength_mpa]), TI)
    assert a[0] == 0.0
    assert a[1] == pytest.approx(100.0 / (1 - 100.0 / TI.ultimate_strength_mpa))
    assert np.isinf(a[2])
    assert np.isinf(cycles_to_failure(np.array([0.0]), TI)[0])


def test_miner_sum_is_cycles_over_life() -> None:
    stress = np.array([[300.0, 0.0, 0.0, 0.0, 0.0, 0.0], [300.0, 300.0, 0.0, 0.0, 0.0, 0.0]])
    cycles = np.array([1000.0, 500.0, 0, 0, 0, 0])
    life = cycles_to_failure(equivalent_amplitude_mpa(np.array([300.0]), TI), TI)[0]
    d = damage_per_day(stress, cycles, TI)
    np.testing.assert_allclose(d, [1000 / life, 1500 / life])
    # a rod with half the life collects twice the damage
    d2 = damage_per_day(stress, cycles, TI, np.array([0.5, 0.5]))
    np.testing.assert_allclose(d2, 2 * d)


def test_cobalt_chrome_outlasts_titanium_at_equal_stress() -> None:
    s = np.array([[500.0, 0, 0, 0, 0, 0]])
    c = np.array([1.0, 0, 0, 0, 0, 0])
    assert damage_per_day(s, c, P.rods["cobalt_chrome"])[0] < damage_per_day(s, c, TI)[0]
