"""Sagittal measurements on virtual spines with exact ground truth, from the geometry and from
landmark files drawn from it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spinefuse.anatomy.template import VirtualPatientSpec, virtual_spine
from spinefuse.assess.assessment import Assessment, Measurement
from spinefuse.assess.criteria import block
from spinefuse.assess.sagittal import measure_sagittal, pelvic_parameters, schwab_grade
from spinefuse.assess.views import sagittal_from_geometry, sagittal_from_landmarks
from spinefuse.imaging.xray_landmarks import (
    XrayLandmarks,
    read_xray_landmarks,
    write_xray_landmarks,
)

from .virtual_films import lateral_landmarks


def _get(ms: list[Measurement], name: str, level: str | None = None) -> float:
    return Assessment(measurements=ms).measurement(name, level).value


def test_average_spine_lordosis_and_pelvis_are_the_spec() -> None:
    spec = VirtualPatientSpec(pelvic_incidence_deg=55.0, pelvic_tilt_deg=14.0)
    ms = measure_sagittal(sagittal_from_geometry(virtual_spine(spec)))
    assert _get(ms, "lumbar_lordosis") == pytest.approx(spec.lordosis, abs=1e-6)
    assert _get(ms, "pelvic_incidence") == pytest.approx(55.0, abs=1e-6)
    assert _get(ms, "pelvic_tilt") == pytest.approx(14.0, abs=1e-6)
    assert _get(ms, "sacral_slope") == pytest.approx(41.0, abs=1e-6)
    assert _get(ms, "pi_ll_mismatch") == pytest.approx(55.0 - spec.lordosis, abs=1e-6)
    seg = sum(_get(ms, "segmental_lordosis", s) for s in ("L1-L2", "L2-L3", "L3-L4", "L4-L5"))
    assert seg + _get(ms, "segmental_lordosis", "L5-S1") == pytest.approx(spec.lordosis)
    for s in ("L1-L2", "L4-L5", "L5-S1"):
        assert _get(ms, "slip_percent", s) == pytest.approx(0.0, abs=1e-6)


def test_pelvic_identity_holds_for_any_posture() -> None:
    rng = np.random.default_rng(3)
    for _ in range(50):
        ss, pt, d = rng.uniform(0, 60), rng.uniform(-10, 40), rng.uniform(60, 140)
        e = np.array([np.cos(np.radians(ss)), -np.sin(np.radians(ss))])
        s1 = np.stack([-15 * e, 15 * e]) + rng.normal(size=2)
        hip = s1.mean(axis=0) + d * np.array([np.sin(np.radians(pt)), -np.cos(np.radians(pt))])
        pi, pt_m, ss_m = pelvic_parameters(s1, hip)
        assert (pt_m, ss_m) == pytest.approx((pt, ss), abs=1e-9)
        assert pi == pytest.approx(pt + ss, abs=1e-9)


@pytest.mark.parametrize("slip", [5.0, 12.0, 25.0, 38.0, 60.0])
def test_slip_measured_exactly_on_the_geometry_and_to_0_2_percent_on_a_film(
    slip: float, tmp_path: Path
) -> None:
    g = virtual_spine(VirtualPatientSpec(slip_percent={"L4-L5": slip}))
    exact = measure_sagittal(sagittal_from_geometry(g))
    assert _get(exact, "slip_percent", "L4-L5") == pytest.approx(slip, abs=1e-6)
    assert _get(exact, "slip_percent", "L3-L4") == pytest.approx(0.0, abs=1e-6)
    path = write_xray_landmarks(lateral_landmarks(g, 0.15), tmp_path / "lat.csv")
    film = measure_sagittal(sagittal_from_landmarks(read_xray_landmarks(path)))
    # 0.001 px rounding on a 0.15 mm grid: far below 0.2 % of a 35 mm endplate
    assert _get(film, "slip_percent", "L4-L5") == pytest.approx(slip, abs=0.2)
    depth = g.vertebra("L5").superior.depth_mm
    assert _get(film, "slip", "L4-L5") == pytest.approx(slip / 100 * depth, abs=0.05)


def test_film_orientation_and_magnification_do_not_change_angles_or_ratios() -> None:
    g = virtual_spine(VirtualPatientSpec(slip_percent={"L5-S1": 20.0}, pelvic_incidence_deg=60))
    ref = measure_sagittal(sagittal_from_landmarks(lateral_landmarks(g, 0.2, "left")))
    for facing, mag in (("right", 1.0), ("left", 1.15), ("right", 0.9)):
        ms = measure_sagittal(
            sagittal_from_landmarks(lateral_landmarks(g, 0.2, facing, "preop", mag))
        )
        for name, level in (
            ("pelvic_incidence", None),
            ("lumbar_lordosis", None),
            ("slip_percent", "L5-S1"),
            ("disc_height_index", "L4-L5"),
            ("segmental_lordosis", "L4-L5"),
        ):
            assert _get(ms, name, level) == pytest.approx(_get(ref, name, level), abs=1e-6)


def test_unscaled_film_reports_lengths_in_pixels() -> None:
    g = virtual_spine()
    view = sagittal_from_landmarks(lateral_landmarks(g, None))
    ms = measure_sagittal(view)
    m = Assessment(measurements=ms).measurement("disc_height_middle", "L4-L5")
    assert m.unit == "px"
    assert m.value * 0.2 == pytest.approx(g.disc("L4-L5").middle_height_mm, abs=1e-3)
    assert not any(x.name == "sagittal_vertical_axis" for x in ms)


def test_disc_height_loss_lowers_the_index_by_that_fraction() -> None:
    healthy = measure_sagittal(sagittal_from_geometry(virtual_spine()))
    g = virtual_spine(VirtualPatientSpec(disc_height_loss={"L4-L5": 0.4}))
    sick = measure_sagittal(sagittal_from_geometry(g))
    assert _get(sick, "disc_height_middle", "L4-L5") == pytest.approx(
        g.disc("L4-L5").middle_height_mm, abs=1e-6
    )
    ratio = _get(sick, "disc_height_index", "L4-L5") / _get(healthy, "disc_height_index", "L4-L5")
    assert ratio == pytest.approx(0.6, abs=0.03)  # mean of anterior/posterior vs middle height
    normal = block("disc_height")["normal_index"]
    for seg in ("L1-L2", "L2-L3", "L3-L4", "L5-S1"):  # the average spine sits on its norm
        assert _get(healthy, "disc_height_index", seg) == pytest.approx(normal[seg], rel=0.08)


def test_sva_from_c7() -> None:
    g = virtual_spine()
    s1 = g.vertebra("S1").superior.posterior
    g = g.model_copy(update={"c7_centroid": (0.0, s1[1] + 52.5, s1[2] + 450.0)})
    ms = measure_sagittal(sagittal_from_landmarks(lateral_landmarks(g, 0.25)))
    assert _get(ms, "sagittal_vertical_axis") == pytest.approx(52.5, abs=0.01)
    assert schwab_grade(52.5, block("schwab")["sva_mm"]) == "+"


@pytest.mark.parametrize("degrees", [-7.0, 4.0, 11.0])
def test_in_plane_rotation_changes_posture_angles_not_shape(degrees: float) -> None:
    """Turning the whole film (a patient leaning, a tilted cassette) leaves lordosis, PI, slip and
    disc ratios unchanged and moves PT and SS by the turn, in opposite directions."""
    g = virtual_spine(VirtualPatientSpec(slip_percent={"L4-L5": 14.0}, pelvic_incidence_deg=57))
    film = lateral_landmarks(g, 0.2)
    r = np.radians(degrees)
    rot = np.array([[np.cos(r), -np.sin(r)], [np.sin(r), np.cos(r)]])
    turned = XrayLandmarks(
        "lateral",
        {k: tuple(rot @ (np.asarray(p) - 1000.0) + 1000.0) for k, p in film.points.items()},
        film.image_size,
        film.pixel_spacing_mm,
    )
    a, b = (measure_sagittal(sagittal_from_landmarks(x)) for x in (film, turned))
    for name, level in (
        ("lumbar_lordosis", None),
        ("pelvic_incidence", None),
        ("slip_percent", "L4-L5"),
        ("disc_height_index", "L3-L4"),
    ):
        assert _get(b, name, level) == pytest.approx(_get(a, name, level), abs=1e-6)
    dpt = _get(b, "pelvic_tilt") - _get(a, "pelvic_tilt")
    dss = _get(b, "sacral_slope") - _get(a, "sacral_slope")
    assert abs(dpt) == pytest.approx(abs(degrees), abs=1e-6)
    assert dpt == pytest.approx(-dss, abs=1e-6)
