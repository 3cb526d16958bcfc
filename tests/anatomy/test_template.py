"""The virtual patient: its ground truth must be what an independent measurement finds."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from spinefuse.anatomy.geometry import SpineGeometry
from spinefuse.anatomy.template import (
    VirtualPatientSpec,
    dimensions,
    posed,
    scoliosis_end_vertebrae,
    virtual_spine,
)
from spinefuse.conventions import LUMBAR, LUMBAR_SEGMENTS
from spinefuse.errors import ParameterError


def _angle_in_plane(a: np.ndarray, b: np.ndarray, axis: np.ndarray) -> float:
    """Signed angle (deg) from a to b about axis."""
    return float(np.degrees(np.arctan2(np.cross(a, b) @ axis, a @ b)))


def _slip_percent(g: SpineGeometry, seg: str) -> float:
    up, low = seg.split("-")
    lower = g.vertebra(low).superior
    upper = g.vertebra(up).inferior
    assert upper is not None
    ant = np.subtract(lower.anterior, lower.posterior)
    depth = float(np.linalg.norm(ant))
    offset = (np.subtract(upper.posterior, lower.posterior)) @ (ant / depth)
    return 100.0 * offset / depth


def test_average_spine_has_published_dimensions_and_lordosis() -> None:
    spec = VirtualPatientSpec(sex="female", height_cm=170 / 0.95 * 1.0)  # scale exactly 1
    g = virtual_spine(spec)
    d = dimensions()
    assert list(g.vertebrae) == list(LUMBAR) and list(g.discs) == list(LUMBAR_SEGMENTS)
    for name in LUMBAR[:-1]:
        v = g.vertebra(name)
        assert v.body_depth_mm == pytest.approx(d["body_depth_mm"]["values"][name])
        assert v.pedicles["left"].width_mm == pytest.approx(d["pedicle_width_mm"]["values"][name])
        # the body wedge seen in the anterior/posterior heights
        wedge = np.degrees(
            np.arctan((v.anterior_height_mm - v.posterior_height_mm) / v.body_depth_mm)
        )
        assert wedge == pytest.approx(d["body_wedge_deg"]["values"][name], abs=0.3)
    # L1–S1 lordosis: the angle between the L1 and S1 superior endplates
    x = np.array([1.0, 0.0, 0.0])
    ll = _angle_in_plane(
        np.asarray(g.vertebra("S1").superior.normal),
        np.asarray(g.vertebra("L1").superior.normal),
        x,
    )
    assert ll == pytest.approx(spec.lordosis, abs=1e-6)
    assert spec.lordosis == pytest.approx(0.54 * 52 + 27.6)
    for seg in LUMBAR_SEGMENTS:
        assert _slip_percent(g, seg) == pytest.approx(0.0, abs=1e-6)


def test_pelvic_parameters_are_exact() -> None:
    spec = VirtualPatientSpec(pelvic_incidence_deg=61.0, pelvic_tilt_deg=18.0)
    g = virtual_spine(spec)
    assert g.pelvis is not None
    s1 = g.vertebra("S1").superior
    hip = np.asarray(g.pelvis.hip_axis_centre)
    to_hip = hip - np.asarray(s1.centre)
    pi = np.degrees(np.arccos((-np.asarray(s1.normal)) @ to_hip / np.linalg.norm(to_hip)))
    pt = np.degrees(np.arctan2(-to_hip[1], -to_hip[2]))  # hip in front of the sacrum: PT > 0
    ss = np.degrees(np.arccos(s1.normal[2]))
    assert pi == pytest.approx(61.0, abs=1e-9)
    assert -pt == pytest.approx(18.0, abs=1e-9) or pt == pytest.approx(18.0, abs=1e-9)
    assert ss == pytest.approx(43.0, abs=1e-9)


@pytest.mark.parametrize("slip", [5.0, 18.0, 35.0, 60.0])
def test_slip_is_the_requested_percent(slip: float) -> None:
    g = virtual_spine(VirtualPatientSpec(slip_percent={"L4-L5": slip}))
    assert _slip_percent(g, "L4-L5") == pytest.approx(slip, abs=1e-6)
    assert _slip_percent(g, "L3-L4") == pytest.approx(0.0, abs=1e-6)
    assert g.parameters["slip_percent_L4-L5"] == pytest.approx(slip)


@pytest.mark.parametrize(("cobb", "apex"), [(10.0, "L3"), (30.0, "L2"), (50.0, "L3")])
def test_scoliosis_cobb_on_the_frontal_projection(cobb: float, apex: str) -> None:
    g = virtual_spine(VirtualPatientSpec(scoliosis_cobb_deg=cobb, scoliosis_apex=apex))
    upper, lower = scoliosis_end_vertebrae(apex)

    # independent measurement: endplate lines through projected left/right corners
    def tilt(name: str, which: str) -> float:
        plate = getattr(g.vertebra(name), which)
        d = np.subtract(plate.right, plate.left)
        return float(np.degrees(np.arctan2(d[2], d[0])))

    assert abs(tilt(upper, "superior") - tilt(lower, "inferior")) == pytest.approx(cobb, abs=0.01)
    # the apex is displaced toward the convex (left, -x) side
    assert g.vertebra(apex).centroid[0] < g.vertebra("S1").centroid[0] - 2.0


def test_disc_height_loss_and_stenosis() -> None:
    base = virtual_spine(VirtualPatientSpec())
    sick = virtual_spine(
        VirtualPatientSpec(disc_height_loss={"L4-L5": 0.4}, stenosis_csa_mm2={"L4-L5": 70.0})
    )
    h0 = base.parameters["disc_height_mm_L4-L5"]
    h1 = sick.parameters["disc_height_mm_L4-L5"]
    assert isinstance(h0, float) and isinstance(h1, float)
    assert h1 == pytest.approx(0.6 * h0)
    assert sick.disc("L4-L5").middle_height_mm == pytest.approx(h1, abs=0.3)
    canal = sick.disc("L4-L5").canal
    assert canal is not None and canal.area_mm2 == pytest.approx(70.0)
    assert canal.ap_diameter_mm < 7.0


def test_pedicle_axis_reaches_the_anterior_body() -> None:
    g = virtual_spine(VirtualPatientSpec())
    for name in LUMBAR:
        v = g.vertebra(name)
        for side, p in v.pedicles.items():
            assert p.chord_mm is not None and 40.0 < p.chord_mm < 65.0
            tip = np.asarray(p.entry_point) + p.chord_mm * np.asarray(p.axis)
            local = np.linalg.inv(v.frame()) @ np.append(tip, 1.0)
            assert (local[0] / (v.body_width_mm / 2)) ** 2 + (
                local[1] / (v.body_depth_mm / 2)
            ) ** 2 == pytest.approx(1.0, abs=1e-6)
            # medial convergence: the tip lies nearer the midline than the entry point
            assert abs(tip[0]) < abs(p.entry_point[0]), (name, side)


def test_seed_is_deterministic_and_varies_anatomy() -> None:
    a = virtual_spine(VirtualPatientSpec(seed=7))
    b = virtual_spine(VirtualPatientSpec(seed=7))
    c = virtual_spine(VirtualPatientSpec(seed=8))
    assert a.to_json() == b.to_json()
    assert a.vertebra("L4").body_width_mm != c.vertebra("L4").body_width_mm


def test_taller_men_have_larger_vertebrae() -> None:
    f = virtual_spine(VirtualPatientSpec(sex="female", height_cm=160))
    m = virtual_spine(VirtualPatientSpec(sex="male", height_cm=185))
    ratio = m.vertebra("L3").body_width_mm / f.vertebra("L3").body_width_mm
    assert ratio == pytest.approx(185 / 160 * 1.05 / 0.95)


def test_posture_adds_segment_rotation_and_translation() -> None:
    spec = VirtualPatientSpec(slip_percent={"L4-L5": 15.0})
    neutral = virtual_spine(spec)
    flexed = posed(spec, rotation_deg={"L4-L5": 8.0}, translation_mm={"L4-L5": 2.5})
    dw = flexed.disc("L4-L5").wedge_deg - neutral.disc("L4-L5").wedge_deg
    assert dw == pytest.approx(-8.0, abs=1e-6)  # flexion closes the lordotic wedge
    depth = np.linalg.norm(
        np.subtract(
            neutral.vertebra("L5").superior.anterior, neutral.vertebra("L5").superior.posterior
        )
    )
    shift = (_slip_percent(flexed, "L4-L5") - _slip_percent(neutral, "L4-L5")) / 100 * depth
    assert shift == pytest.approx(2.5, abs=1e-6)
    assert flexed.vertebra("S1") == neutral.vertebra("S1")


def test_json_round_trip() -> None:
    g = virtual_spine(VirtualPatientSpec(slip_percent={"L4-L5": 20}))
    assert SpineGeometry.from_json(g.to_json()) == g


def test_impossible_specs_are_refused_with_the_field() -> None:
    with pytest.raises(ValidationError, match="slip_percent"):
        VirtualPatientSpec(slip_percent={"L4-L5": 150})
    with pytest.raises(ValidationError, match="L6-S2|not of the form|unknown"):
        VirtualPatientSpec(slip_percent={"L6-S2": 10})
    with pytest.raises(ValidationError, match="disc_height_loss"):
        VirtualPatientSpec(disc_height_loss={"L4-L5": 1.5})
    with pytest.raises(ParameterError, match="sacral slope"):
        virtual_spine(VirtualPatientSpec(pelvic_incidence_deg=30, pelvic_tilt_deg=35))
