"""Mechano-regulation rules and the tissue transition network."""

from __future__ import annotations

import numpy as np
import pytest

from spinefuse.healing.parameters import load_parameters
from spinefuse.healing.tissue import (
    CARTILAGE,
    FIBROUS,
    GRANULATION,
    IMMATURE,
    MATURE,
    bone_fraction,
    claes_heigele_membership,
    fusion_state,
    initial_fractions,
    lacroix_membership,
    lacroix_stimulus,
    mixture_modulus,
    step_fractions,
)

P = load_parameters()


def test_stimulus_is_one_at_the_reference_strain_and_velocity() -> None:
    s = lacroix_stimulus(np.array([0.0375, 0.0, 0.0375]), np.array([0.0, 3.0, 3.0]), P)
    np.testing.assert_allclose(s, [1.0, 1.0, 2.0])


@pytest.mark.parametrize(
    ("stimulus", "band"),
    [(10.0, FIBROUS), (1.8, CARTILAGE), (0.73, IMMATURE), (0.1, MATURE), (0.002, GRANULATION)],
)
def test_lacroix_bands_follow_the_published_thresholds(stimulus: float, band: int) -> None:
    mu = lacroix_membership(np.array([stimulus]), P)[0]
    assert mu.sum() == pytest.approx(1.0, abs=1e-12)
    assert mu[band] > 0.9
    assert mu.argmax() == band


def test_lacroix_membership_is_half_at_each_threshold() -> None:
    mu = lacroix_membership(np.array([3.0, 1.0, 0.53, 0.01]), P)
    assert mu[0, FIBROUS] == pytest.approx(0.5, abs=1e-9)
    assert mu[1, CARTILAGE] + mu[1, FIBROUS] == pytest.approx(0.5, abs=1e-3)
    assert mu[2, MATURE] + mu[2, GRANULATION] == pytest.approx(0.5, abs=1e-3)
    assert mu[3, GRANULATION] == pytest.approx(0.5, abs=1e-9)


def test_claes_heigele_phenotypes() -> None:
    strain = np.array([0.01, 0.10, 0.30])
    pressure = np.array([-0.05, -0.5, -0.05])
    mu = claes_heigele_membership(strain, pressure, P)
    np.testing.assert_allclose(mu.sum(axis=-1), 1.0)
    assert mu[0, MATURE] > 0.9  # intramembranous
    assert mu[1, CARTILAGE] > 0.9  # endochondral
    assert mu[2, FIBROUS] > 0.9  # connective tissue


def _run(stimulus: float, osteogenic: float, days: int) -> np.ndarray:
    f = initial_fractions((1,))
    mu = lacroix_membership(np.array([stimulus]), P)
    for _ in range(days):
        f = step_fractions(f, mu, np.array([osteogenic]), P)
    return f[0]


def test_low_stimulus_ossifies_and_high_stimulus_stays_fibrous() -> None:
    bone = _run(0.2, 1.0, 730)
    fibrous = _run(8.0, 1.0, 730)
    assert bone_fraction(bone) > 0.85
    assert bone[MATURE] > bone[IMMATURE]
    assert fibrous[FIBROUS] > 0.95
    assert bone_fraction(fibrous) < 0.01
    for f in (bone, fibrous):
        assert f.sum() == pytest.approx(1.0) and (f >= 0).all()


def test_cartilage_band_ossifies_endochondrally_only_after_cartilage() -> None:
    f = _run(1.5, 1.0, 60)
    assert f[CARTILAGE] > 0.3
    assert bone_fraction(f) < 0.3


def test_osteogenic_multiplier_speeds_bone_formation() -> None:
    slow, fast = _run(0.4, 0.6, 120), _run(0.4, 1.5, 120)
    assert bone_fraction(fast) > bone_fraction(slow) + 0.1


def test_fusion_state_inverts_the_mechanics_density_law() -> None:
    e = np.array([0.0, 1000.0, 6000.0, 9000.0])
    phi = fusion_state(e, P)
    assert phi[0] == 0.0 and phi[2] == pytest.approx(1.0) and phi[3] == 1.0
    # the mechanics' modulus E_mature * phi^n reproduces the mixture modulus
    assert 6000.0 * phi[1] ** P.fusion_state_exponent == pytest.approx(1000.0)
    full = np.zeros(5)
    full[MATURE] = 1.0
    assert mixture_modulus(full, P) == pytest.approx(6000.0)
