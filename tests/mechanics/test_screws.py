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
    pedicle_stiffness_share,
    screw_bone_compliance,
    shear_lag_end_compliance,
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


def test_a_two_zone_winkler_beam_reduces_to_the_uniform_one() -> None:
    k, ei, length = 292.0, 2.2e6, 45.0
    uniform = winkler_end_compliance(np.array([k]), np.array([ei]), np.array([length]))[0]
    same = winkler_end_compliance(
        np.array([k]), np.array([ei]), np.array([length]), np.array([k]), np.array([21.0])
    )[0]
    np.testing.assert_allclose(same, uniform, rtol=1e-12)
    stiffer = winkler_end_compliance(
        np.array([k]), np.array([ei]), np.array([length]), np.array([3 * k]), np.array([21.0])
    )[0]
    assert stiffer[0, 0] < uniform[0, 0]


def test_two_zone_shear_lag_matches_the_closed_forms() -> None:
    k, ea, length = 120.0, 1.7e6, 45.0
    beta = np.sqrt(k / ea)
    one_zone = float(np.sqrt(k * ea) * np.tanh(beta * length))
    for near in (0.0, 21.0, 45.0):  # a uniform medium, whatever the split
        c = shear_lag_end_compliance(
            np.array([k]), np.array([ea]), np.array([length]), np.array([k]), np.array([near])
        )[0]
        assert 1.0 / c == pytest.approx(one_zone, rel=1e-12)
    # the far zone gone: only the near zone's bar holds
    c = shear_lag_end_compliance(
        np.array([1e-12]), np.array([ea]), np.array([length]), np.array([k]), np.array([21.0])
    )[0]
    assert 1.0 / c == pytest.approx(np.sqrt(k * ea) * np.tanh(beta * 21.0), rel=1e-6)


def test_the_pedicle_holds_most_of_the_cranio_caudal_stiffness() -> None:
    # Hirano et al. 1997 (Spine 22:2504, abstract): about 80 % of a pedicle screw's
    # caudocephalad stiffness depends on the pedicle rather than the body; the model's pedicle
    # zone (as firm per length as the body, Frontiers Bioeng Biotechnol 2022) holds 70-90 %
    share = pedicle_stiffness_share(6.5, 45.0, 21.0, float(trabecular_modulus_mpa(150.0)))
    assert 0.7 <= share <= 0.9
    assert pedicle_stiffness_share(6.5, 45.0, 0.0, 445.0) == pytest.approx(0.0, abs=1e-6)
    assert pedicle_stiffness_share(6.5, 45.0, 45.0, 445.0) == pytest.approx(1.0, abs=1e-9)


def test_the_pedicle_stiffens_the_medio_lateral_toggle_only_where_it_is() -> None:
    axis, cranial = np.array([[0.0, 1.0, 0.0]]), np.array([[0.0, 0.0, 1.0]])
    e = trabecular_modulus_mpa(np.array([150.0]))

    def compliance(path: float) -> np.ndarray:
        return screw_bone_compliance(
            axis, cranial, np.array([6.5]), np.array([45.0]), e, 110000.0, np.array([path])
        )[0]

    body, pedicle = compliance(0.0), compliance(21.0)
    assert pedicle[3, 3] < 0.6 * body[3, 3]  # medio-lateral (x) force at the entry
    assert pedicle[5, 5] <= body[5, 5] * (1 + 1e-9)  # cranio-caudal: the same modulus
    assert pedicle[4, 4] < body[4, 4]  # pull-out along the screw


def test_screws_through_the_pedicles_hold_axial_rotation() -> None:
    # the pedicle's isotropic hold: bilateral screws keep less axial rotation than screws held
    # by the body's transverse modulus alone (the path through the pedicle set to zero)
    from spinefuse.mechanics import model as m
    from spinefuse.mechanics.constructs import parse_constructs
    from spinefuse.mechanics.simulation import direction_response

    g = reference_geometry()
    cons = [parse_constructs(["screws-rods:L4-L5"])]
    with_pedicle = direction_response([g], cons, 7.5, neutral_zone=False).rotation_rad[0]
    saved = m._pedicle_isthmus_to_body_mm
    try:
        m._pedicle_isthmus_to_body_mm = lambda name: -1e3  # type: ignore[assignment]
        body_only = direction_response([g], cons, 7.5, neutral_zone=False).rotation_rad[0]
    finally:
        m._pedicle_isthmus_to_body_mm = saved  # type: ignore[assignment]
    s = 3  # L4-L5 in the L1-S1 spine
    assert with_pedicle[4, s] < 0.95 * body_only[4, s]
    assert with_pedicle[5, s] < 0.95 * body_only[5, s]
