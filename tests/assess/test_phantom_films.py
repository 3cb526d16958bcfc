"""Radiograph landmark files rendered by the imaging phantom (the same files the sample case
ships) measured back to the virtual patient's ground truth."""

from __future__ import annotations

from pathlib import Path

import pytest

from spinefuse.anatomy.phantom import render_xray_landmarks
from spinefuse.anatomy.template import VirtualPatientSpec, posed, virtual_spine
from spinefuse.assess import assess_landmarks
from spinefuse.imaging.xray_landmarks import View, write_xray_landmarks


def _write(tmp: Path, spec: VirtualPatientSpec, name: str, view: View = "lateral") -> Path:
    film = render_xray_landmarks(virtual_spine(spec), view)
    return write_xray_landmarks(film, tmp / f"{name}.csv")


@pytest.mark.parametrize("slip", [5.0, 15.0, 30.0, 45.0, 60.0])
def test_slip_from_phantom_film(tmp_path: Path, slip: float) -> None:
    a = assess_landmarks(
        [_write(tmp_path, VirtualPatientSpec(slip_percent={"L3-L4": slip}), "lat")]
    )
    assert a.measurement("slip_percent", "L3-L4").value == pytest.approx(slip, abs=0.1)
    (f,) = [f for f in a.findings if f.diagnosis.endswith("spondylolisthesis")]
    assert f.level == "L3-L4"
    assert f.grade == ("I" if slip <= 25 else "II" if slip <= 50 else "III")


@pytest.mark.parametrize(("cobb", "convex"), [(12.0, "left"), (28.0, "right"), (45.0, "left")])
def test_cobb_and_convexity_from_phantom_ap_film(tmp_path: Path, cobb: float, convex: str) -> None:
    spec = VirtualPatientSpec(scoliosis_cobb_deg=cobb, scoliosis_convex=convex)
    a = assess_landmarks([_write(tmp_path, spec, "ap", "ap")])
    m = a.measurement("cobb_angle")
    assert m.value == pytest.approx(cobb, abs=0.1)
    assert (m.level, m.detail["apex"], m.detail["convex"]) == ("L1-L5", "L3", convex)
    assert ("scoliosis", "L1-L5") in {(f.diagnosis, f.level) for f in a.findings}


def test_instability_from_phantom_flexion_extension(tmp_path: Path) -> None:
    spec = VirtualPatientSpec(slip_percent={"L5-S1": 10.0})
    paths = [_write(tmp_path, spec, "lat")]
    for role, sign in (("flexion", 1.0), ("extension", -1.0)):
        film = render_xray_landmarks(
            posed(spec, {"L5-S1": 6.0 * sign}, {"L5-S1": 2.0 * sign}), "lateral", role=role
        )
        paths.append(write_xray_landmarks(film, tmp_path / f"{role}.csv"))
    a = assess_landmarks(paths)
    assert a.measurement("translation_mm", "L5-S1").value == pytest.approx(4.0, abs=0.01)
    assert a.measurement("angulation_change", "L5-S1").value == pytest.approx(12.0, abs=0.01)
    (f,) = [f for f in a.findings if f.diagnosis == "instability"]
    assert (f.level, f.grade) == ("L5-S1", "translational and angular")
