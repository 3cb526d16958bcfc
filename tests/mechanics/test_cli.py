"""The `spinefuse mechanics` command: every option in --help and the README, every README example
runs, and each construct, span, posture and implant output the README lists gives the number it
must."""

from __future__ import annotations

import json
import re
import shlex
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from spinefuse.cli import app
from spinefuse.mechanics.parameters import parameters
from spinefuse.mechanics.reference import reference_geometry

README = Path(__file__).resolve().parents[2] / "README.md"
OPTIONS = (
    "--reference", "--protocol", "--moment-nm", "--moments-nm", "--preload-n", "--rotation-deg",
    "--construct", "--rod-material", "--rod-diameter-mm", "--span", "--posture", "--json",
)  # fmt: skip


def _readme_commands() -> list[str]:
    text = README.read_text()
    section = text.split("### Spine mechanics for biomechanics users", 1)[1].split("\n### ", 1)[0]
    block = section.split("```sh", 1)[1].split("```", 1)[0]
    return [line.strip() for line in block.strip().splitlines() if line.strip()]


def _run(args: list[str]) -> dict[str, object]:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


def test_every_option_is_in_the_help_and_the_readme() -> None:
    result = CliRunner().invoke(app, ["mechanics", "--help"], env={"COLUMNS": "220"})
    assert result.exit_code == 0
    readme = "\n".join(_readme_commands()) + README.read_text()
    for opt in OPTIONS:
        assert opt in result.output, opt
        assert opt in readme, opt
    for word in ("unilateral-left", "disc-replacement", "cage-plate", "hemilaminectomy",
                 "standing", "lifting", "displacement", "L3-S1"):  # fmt: skip
        assert word in result.output, word


@pytest.mark.parametrize("command", _readme_commands())
def test_every_readme_example_runs(command: str) -> None:
    args = shlex.split(command)
    assert args[:2] == ["spinefuse", "mechanics"]
    data = _run(args[1:])
    segments = data["segments"]
    assert isinstance(segments, dict) and segments
    constructs = [a for a, b in zip(args[1:], args[2:], strict=False) if a == "--construct"]
    if "--construct" in args:
        assert data["intact"] is not None
    if "--moments-nm" in args:
        assert [c["moment_nm"] for c in data["curve"]] == [1.0, 2.5, 5.0, 7.5, 10.0]  # type: ignore[index, union-attr]
    if "--span" in args:
        assert data["specimen"] == ["L3-L4", "L4-L5", "L5-S1"]
    if "--posture" in args:
        assert data["posture"]["name"] == "lifting"  # type: ignore[index]
    if "screws-rods" in command:
        rods = data["implants"]["rods"]  # type: ignore[index]
        assert rods and all(set(r["by_direction"]) >= {"flexion", "extension"} for r in rods)
        if "unilateral-left" in command:
            assert [r["side"] for r in rods] == ["left"]
        if "peek" in command:
            assert {r["material"] for r in rods} == {"peek"}
    if "cage" in command:
        assert data["implants"]["cages"]  # type: ignore[index]
    del constructs


def test_a_construct_field_that_is_not_understood_stops_with_a_short_message() -> None:
    result = CliRunner().invoke(
        app, ["mechanics", "--reference", "--construct", "screws-rods:L4-L5:unilateral"]
    )
    assert result.exit_code == 2
    assert "field 'unilateral' is not understood" in re.sub(r"\s+", " ", result.output)
    assert "Traceback" not in result.output


def test_moments_must_be_numbers() -> None:
    result = CliRunner().invoke(app, ["mechanics", "--reference", "--moments-nm", "1,two"])
    assert result.exit_code == 2 and "comma-separated moments" in result.output


# --- each option through the command line, with a number it must give ---


@cache
def _mech(*args: str) -> dict[str, Any]:
    return _run(["mechanics", "--reference", *args])


def _l45(data: dict[str, Any], which: str = "segments") -> dict[str, Any]:
    seg: dict[str, Any] = data[which]["L4-L5"]
    return seg


def test_unilateral_right_screws_are_the_mirror_of_unilateral_left() -> None:
    left = _mech("--construct", "screws-rods:L4-L5:unilateral-left")
    right = _mech("--construct", "screws-rods:L4-L5:unilateral-right")
    assert [r["side"] for r in right["implants"]["rods"]] == ["right"]
    assert {(s["vertebra"], s["side"]) for s in right["implants"]["screws"]} == {
        ("L4", "right"),
        ("L5", "right"),
    }
    # the reference spine is nearly symmetric: bending toward the rod mirrors within 3 %
    lseg, rseg = _l45(left), _l45(right)
    for a, b in (("left", "right"), ("right", "left")):
        for motion in ("lateral_bending", "axial_rotation"):
            assert lseg[f"{motion}_{a}_deg"] == pytest.approx(rseg[f"{motion}_{b}_deg"], rel=0.03)


def test_every_rod_material_reaches_the_rods_and_a_stiffer_rod_holds_more() -> None:
    # moduli titanium 110, steel ~190-200, CoCr ~210-240, PEEK ~3.6 GPa (data file)
    flexion = {}
    for material, name in (
        ("peek", "peek"),
        ("titanium", "titanium"),
        ("steel", "stainless_steel"),
        ("cocr", "cobalt_chrome"),
    ):
        data = _mech("--construct", "screws-rods:L4-L5", "--rod-material", material)
        assert {(r["material"], r["diameter_mm"]) for r in data["implants"]["rods"]} == {
            (name, 5.5)
        }
        flexion[material] = _l45(data)["flexion_deg"]
    assert flexion["peek"] > flexion["titanium"] > flexion["steel"] >= flexion["cocr"]
    thick = _mech("--construct", "screws-rods:L4-L5", "--rod-diameter-mm", "6.35")
    assert _l45(thick)["flexion_deg"] < flexion["titanium"]


@pytest.mark.parametrize(
    ("spec", "technique"),
    [
        ("cage:L4-L5:alif", "alif"),
        ("cage:L4-L5:llif", "llif"),
        ("cage:L4-L5:tlif", "tlif"),
        ("cage:L4-L5:plif", "plif"),
        ("cage-plate:L4-L5:alif", "alif"),
    ],
)
def test_each_cage_reports_its_force_and_endplate_pressure_per_direction(
    spec: str, technique: str
) -> None:
    # the pressure is the force over the technique's footprint (PLIF: two cages; a lateral
    # cage spans the endplate from side to side)
    fp = parameters()["cage"]["footprints"][technique]
    width = (
        reference_geometry().vertebra("L5").superior.width_mm
        if fp.get("spans_endplate")
        else fp["width_mm"]
    )
    area_mm2 = width * fp["depth_mm"] * fp.get("count", 1)
    data = _mech("--construct", spec)
    (cage,) = data["implants"]["cages"]
    default = fp["distraction_mm"]["value"] if "distraction_mm" in fp else 1.0
    assert cage["segment"] == "L4-L5" and cage["distraction_mm"] == default
    assert cage["rest_force_n"] > 50.0  # the default distraction pre-loads it
    for d, v in cage["by_direction"].items():
        assert v["force_n"] > 0.0, d
        assert v["force_n"] / v["pressure_mpa"] == pytest.approx(area_mm2, rel=1e-3), d
    # a cage (with its approach), pre-loaded by its distraction, holds the segment in flexion
    assert _l45(data)["flexion_deg"] < 0.85 * _l45(data, "intact")["flexion_deg"]


def test_a_cage_height_and_material_are_taken() -> None:
    data = _mech("--construct", "cage:L4-L5:plif:titanium:13")
    (cage,) = data["implants"]["cages"]
    # the reference L4-L5 space is ~13 mm: a 13 mm cage barely distracts it
    assert 0.0 <= cage["distraction_mm"] < 0.5
    default = _mech("--construct", "cage:L4-L5:plif")["implants"]["cages"][0]
    assert cage["rest_force_n"] < 0.2 * default["rest_force_n"]
    # a titanium cage is stiffer in series with the endplate bone than a PEEK one: it carries
    # a little more and lets the segment move a little less (the bone under it dominates)
    peek = _mech("--construct", "cage:L4-L5:plif:peek")
    titanium = _mech("--construct", "cage:L4-L5:plif:titanium")
    f_peek = peek["implants"]["cages"][0]["by_direction"]["flexion"]["force_n"]
    f_ti = titanium["implants"]["cages"][0]["by_direction"]["flexion"]["force_n"]
    assert f_peek < f_ti < 1.05 * f_peek
    assert _l45(titanium)["flexion_deg"] < _l45(peek)["flexion_deg"]


@pytest.mark.parametrize(
    ("spec", "bounds"),
    [
        # removing all six ligaments loosens flexion most (the posterior tension band)
        ("ligaments:L4-L5:ssl,isl,lf,pll,all,cl", {"flexion_deg": (1.1, 2.0)}),
        # a unilateral laminotomy barely changes motion (Costa et al. 2018: median +8 %)
        ("hemilaminectomy:L4-L5:left", {"flexion_deg": (1.0, 1.2)}),
        ("facetectomy:L4-L5:left:50", {"extension_deg": (1.0, 1.3)}),
        # nucleotomy increases every motion (Goel et al. 1986); clearing the disc far more
        ("discectomy:L4-L5:nucleus", {"axial_rotation_left_deg": (1.0, 2.0)}),
        ("discectomy:L4-L5:total", {"axial_rotation_left_deg": (2.0, 6.0)}),
    ],
)
def test_each_decompression_loosens_its_segment(
    spec: str, bounds: dict[str, tuple[float, float]]
) -> None:
    data = _mech("--construct", spec)
    op, intact = _l45(data), _l45(data, "intact")
    for key in ("flexion_deg", "extension_deg", "lateral_bending_left_deg"):
        assert op[key] >= intact[key] * 0.999, key  # removal never stiffens
    for key, (lo, hi) in bounds.items():
        assert lo <= op[key] / intact[key] <= hi, (key, op[key] / intact[key])
    if spec.startswith("discectomy"):
        assert op["disc_pressure_mpa"]["flexion"] is None  # no nucleus, no nucleus pressure


def test_a_half_facetectomy_takes_half_the_joint() -> None:
    half = _l45(_mech("--construct", "facetectomy:L4-L5:left:50"))
    full = _l45(_mech("--construct", "facetectomy:L4-L5:left:100"))
    intact = _l45(_mech())
    # extension: the left joint carries less than intact with half of it left, none without it
    assert full["facet_force_n"]["extension"]["left"] == 0.0
    assert (
        0.0
        < half["facet_force_n"]["extension"]["left"]
        < intact["facet_force_n"]["extension"]["left"]
    )


def test_a_partial_fusion_through_the_cli_sits_between_none_and_full() -> None:
    full = _l45(_mech("--construct", "fused:L4-L5"))
    part = _l45(_mech("--construct", "fused:L4-L5:0.4"))
    intact = _l45(_mech())
    for key in ("flexion_deg", "lateral_bending_left_deg", "axial_rotation_left_deg"):
        assert full[key] < part[key] < intact[key], key


@pytest.mark.parametrize(
    ("span", "specimen"),
    [
        ("L1-S1", ["L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1"]),
        ("L1-L5", ["L1-L2", "L2-L3", "L3-L4", "L4-L5"]),
        ("L3-S1", ["L3-L4", "L4-L5", "L5-S1"]),
        ("L4-L5", ["L4-L5"]),
    ],
)
def test_every_span_is_a_specimen_whose_segments_keep_their_motion(
    span: str, specimen: list[str]
) -> None:
    data = _mech("--span", span)
    assert data["specimen"] == specimen and list(data["segments"]) == specimen
    # pure moments: each segment carries the same moment whatever the span (within 2 %)
    whole = _mech()["segments"]
    for seg in specimen:
        assert data["segments"][seg]["flexion_deg"] == pytest.approx(
            whole[seg]["flexion_deg"], rel=0.02
        )


def test_every_posture_is_an_in_vivo_load_case() -> None:
    p = {}
    for posture in ("prone", "standing", "sitting", "lifting"):
        data = _mech("--posture", posture)
        assert data["posture"]["name"] == posture
        p[posture] = data["posture"]["segments"]["L4-L5"]["disc_pressure_mpa"]
    # Wilke et al. 1999, L4-L5: prone 0.1 and standing 0.5 (calibrated), sitting 0.46 (+/-25 %)
    assert p["prone"] == pytest.approx(0.1, abs=0.01)
    assert p["standing"] == pytest.approx(0.5, abs=0.02)
    assert p["sitting"] == pytest.approx(0.46, rel=0.25)
    assert p["lifting"] > 1.5 * p["standing"]  # 20 kg held close: Wilke 1.1 MPa, 2.2x standing


def test_screw_and_rod_forces_per_direction_are_consistent() -> None:
    data = _mech("--construct", "screws-rods:L4-L5")
    for s in data["implants"]["screws"]:
        for d, v in s["by_direction"].items():
            # the force splits into pull-out (along the screw) and shear (square to it)
            assert np.hypot(v["pullout_force_n"], v["shear_force_n"]) == pytest.approx(
                v["force_n"], rel=1e-3, abs=1e-3
            ), (s["vertebra"], s["side"], d)
        assert s["force_n"] == max(v["force_n"] for v in s["by_direction"].values())
    for r in data["implants"]["rods"]:
        worst = max(r["by_direction"].values(), key=lambda v: v["stress_mpa"])
        assert r["stress_mpa"] == pytest.approx(worst["stress_mpa"], rel=1e-6)
        # flexion stretches the posterior rods, extension compresses them (Sjovold et al. 2012)
        assert r["by_direction"]["flexion"]["axial_force_n"] > 0.0
        assert r["by_direction"]["extension"]["axial_force_n"] < 0.0
