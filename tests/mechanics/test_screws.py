"""Pedicle screws and rods as a chain of physical compliances."""

from __future__ import annotations

import numpy as np
import pytest

from spinefuse.mechanics.constructs import Construct, RodSpec
from spinefuse.mechanics.model import beam_stiffness, build_model, trabecular_modulus_mpa
from spinefuse.mechanics.reference import reference_geometry
from spinefuse.mechanics.screws import (
    cantilever_compliance,
    moved,
    screw_bone_compliance,
    winkler_end_compliance,
)


def test_the_beam_on_a_winkler_foundation_matches_hetenyi() -> None:
    # a long beam (λL >> π) loaded at its end: deflection 2λ/k, slope -2λ²/k, 4λ³/k per moment
    k, ei, length = 292.0, 2.2e6, 100.0
    lam = (k / (4.0 * ei)) ** 0.25
    c = winkler_end_compliance(np.array([k]), np.array([ei]), np.array([length]))[0]
    assert c[0, 0] == pytest.approx(2 * lam / k, rel=0.01)
    assert c[0, 1] == pytest.approx(-2 * lam**2 / k, rel=0.01)
    assert c[1, 1] == pytest.approx(4 * lam**3 / k, rel=0.01)


def test_the_cantilever_is_the_inverse_of_the_beam_stiffness() -> None:
    a, b = np.array([1.0, 2.0, 30.0]), np.array([3.0, -4.0, 1.0])
    c = cantilever_compliance(a[None], b[None], np.array(110000.0), np.array(23.76), np.array(44.9))
    np.testing.assert_allclose(
        np.linalg.inv(c[0]), beam_stiffness(a, b, 110000.0, 23.76, 44.9), rtol=1e-9, atol=1e-6
    )


def test_moving_a_compliance_is_a_rigid_lever() -> None:
    # a unit force at a point 10 mm above a rotational compliance rotates it by 10 c: the
    # point moves 10 · 10 c sideways
    c = np.zeros((6, 6))
    c[0, 0] = 1e-6  # rotation about x only
    m = moved(c[None], np.zeros((1, 3)), np.array([[0.0, 0.0, 10.0]]))[0]
    assert m[4, 4] == pytest.approx(100e-6)  # u_y per F_y


def test_denser_bone_and_thicker_screws_hold_stiffer() -> None:
    axis, cranial = np.array([[0.0, 1.0, 0.0]]), np.array([[0.0, 0.0, 1.0]])

    def toggle(d: float, hu: float) -> float:
        c = screw_bone_compliance(
            axis,
            cranial,
            np.array([d]),
            np.array([45.0]),
            trabecular_modulus_mpa(np.array([hu])),
            110000.0,
        )[0]
        return float(1.0 / c[5, 5])  # cranio-caudal force at the entry

    assert toggle(6.5, 200.0) > toggle(6.5, 150.0) > toggle(6.5, 80.0)
    assert toggle(7.5, 150.0) > toggle(6.5, 150.0) > toggle(5.0, 150.0)


def test_osteoporotic_bone_loosens_the_instrumented_segment() -> None:
    g = reference_geometry()
    from spinefuse.mechanics.simulation import direction_response

    def rods(hu: float) -> Construct:
        return Construct(
            rods=[
                RodSpec(side=s, vertebrae=["L4", "L5"], screw_hu={"L4": hu, "L5": hu})  # type: ignore[arg-type]
                for s in ("left", "right")
            ]
        )

    r = direction_response([g] * 2, [rods(180.0), rods(70.0)], 7.5, neutral_zone=False)
    assert (r.rotation_rad[1][:, 3] > 1.05 * r.rotation_rad[0][:, 3]).all()
    assert (r.rotation_rad[1][:2, 3] > 1.15 * r.rotation_rad[0][:2, 3]).all()  # flexion-extension


def test_a_rod_span_is_symmetric_positive_definite() -> None:
    g = reference_geometry()
    from spinefuse.mechanics.constructs import parse_constructs

    a = build_model([g], [parse_constructs(["screws-rods:L4-L5"])]).segment("L4-L5")
    for j in (0, 1):
        k = a.bsh_k[0, j]
        np.testing.assert_allclose(k, k.T, rtol=1e-10, atol=1e-6 * np.abs(k).max())
        assert np.linalg.eigvalsh(k).min() > 0
