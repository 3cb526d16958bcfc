"""Measurements from geometry (canal, foramina, bone density) and from sets of landmark films
(AP Cobb, flexion/extension instability) on virtual patients with known pathology."""

from __future__ import annotations

from pathlib import Path

import pytest

from spinefuse.anatomy.template import (
    VirtualPatientSpec,
    posed,
    scoliosis_end_vertebrae,
    virtual_spine,
)
from spinefuse.assess.assessment import Assessment
from spinefuse.assess.measurements import measure_geometry, measure_landmarks
from spinefuse.errors import ImagingError
from spinefuse.imaging.xray_landmarks import read_xray_landmarks, write_xray_landmarks

from .virtual_films import ap_landmarks, lateral_landmarks


def _a(ms: list) -> Assessment:
    return Assessment(measurements=ms)


def test_canal_foramina_and_bone_density_from_geometry() -> None:
    spec = VirtualPatientSpec(
        stenosis_csa_mm2={"L4-L5": 68.0}, disc_height_loss={"L5-S1": 0.7}, trabecular_hu=95.0
    )
    a = _a(measure_geometry(virtual_spine(spec)))
    assert a.measurement("dural_sac_area", "L4-L5").value == pytest.approx(68.0)
    assert a.measurement("dural_sac_area", "L3-L4").value > 100.0
    assert a.measurement("trabecular_hu").value == pytest.approx(95.0)
    assert a.measurement("trabecular_hu").level == "L1"
    before = _a(measure_geometry(virtual_spine())).measurement("foraminal_height", "L5-S1").value
    after = a.measurement("foraminal_height", "L5-S1").value
    # 70 % of a 10.5 mm disc lost closes the foramen by that height (7.35 mm) along the axis
    assert before - after == pytest.approx(0.7 * 10.5 * 165 / 170 * 0.95, abs=0.5)
    assert a.measurement("canal_ap_diameter", "L4").value > 12.0


@pytest.mark.parametrize(("cobb", "apex"), [(10.0, "L3"), (25.0, "L2"), (37.0, "L4"), (50.0, "L3")])
def test_scoliosis_cobb_end_vertebrae_and_apex(cobb: float, apex: str, tmp_path: Path) -> None:
    g = virtual_spine(VirtualPatientSpec(scoliosis_cobb_deg=cobb, scoliosis_apex=apex))
    upper, lower = scoliosis_end_vertebrae(apex)
    for ms in (
        measure_geometry(g),
        measure_landmarks(
            [read_xray_landmarks(write_xray_landmarks(ap_landmarks(g), tmp_path / "ap.csv"))]
        ),
    ):
        m = _a(ms).measurement("cobb_angle")
        assert m.value == pytest.approx(cobb, abs=0.1)
        assert m.level == f"{upper}-{lower}"
        assert m.detail["curve"] == "main"
        order = ["L1", "L2", "L3", "L4", "L5"]
        if order.index(apex) - order.index(upper) == 2:  # not clamped at L1: the spec's apex
            assert m.detail["apex"] == apex
        assert order.index(upper) < order.index(m.detail["apex"]) < order.index(lower)
    m = _a(measure_geometry(g)).measurement("cobb_angle")
    assert m.detail["convex"] == "left"  # the template's default convexity, patient frame


@pytest.mark.parametrize(("rotation", "translation"), [(3.0, 0.5), (6.0, 2.0), (4.0, 4.5)])
def test_instability_from_a_flexion_extension_pair(rotation: float, translation: float) -> None:
    spec = VirtualPatientSpec(slip_percent={"L4-L5": 15.0})
    flex = posed(spec, {"L4-L5": rotation}, {"L4-L5": translation / 2})
    ext = posed(spec, {"L4-L5": -rotation}, {"L4-L5": -translation / 2})
    films = [
        lateral_landmarks(virtual_spine(spec), 0.2),
        lateral_landmarks(flex, 0.2, role="flexion"),
        lateral_landmarks(ext, 0.2, facing="right", role="extension", magnification=1.1),
    ]
    a = _a(measure_landmarks(films))
    expected_angle = ext.disc("L4-L5").wedge_deg - flex.disc("L4-L5").wedge_deg
    assert abs(expected_angle) == pytest.approx(2 * rotation, abs=1e-6)
    assert a.measurement("angulation_change", "L4-L5").value == pytest.approx(
        expected_angle, abs=0.01
    )
    depth = virtual_spine(spec).vertebra("L5").superior.depth_mm
    pct = a.measurement("translation_percent", "L4-L5").value
    assert pct == pytest.approx(100 * translation / depth, abs=0.05)
    # the extension film is magnified 10 %: mm are off by at most that, % are not
    mm = a.measurement("translation_mm", "L4-L5").value
    assert mm == pytest.approx(translation, abs=0.1 * 2 * 15 / 100 * depth + 0.05)
    assert a.measurement("angulation_change", "L3-L4").value == pytest.approx(0.0, abs=1e-3)
    assert a.measurement("slip_percent", "L4-L5").value == pytest.approx(15.0, abs=0.1)


def test_a_flexion_film_without_its_extension_is_refused() -> None:
    g = virtual_spine()
    with pytest.raises(ImagingError, match="without its pair"):
        measure_landmarks([lateral_landmarks(g), lateral_landmarks(g, role="flexion")])
