"""The mechanics stage's record and CLI JSON: intact vs operated spines, protocols, implants."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from spinefuse.cli import app
from spinefuse.conventions import DIRECTIONS
from spinefuse.errors import ParameterError
from spinefuse.mechanics import MechanicsResult, simulate
from spinefuse.mechanics.parameters import parameters
from spinefuse.mechanics.reference import reference_geometry
from spinefuse.mechanics.simulation import SpineMemo, rod_loads

from .conftest import PlanFactory

MOTION_KEYS = [f"{d.value}_deg" for d in DIRECTIONS]
NZ_KEYS = [f"{d.value}_nz_deg" for d in DIRECTIONS]
DIRS = {d.value for d in DIRECTIONS}


def _cli(*args: str) -> dict:  # type: ignore[type-arg]
    out = CliRunner().invoke(app, ["mechanics", *args])
    assert out.exit_code == 0, out.output
    data: dict = json.loads(out.stdout)  # type: ignore[type-arg]
    return data


def test_cli_json_has_the_contract_keys() -> None:
    data = _cli(
        "--reference",
        "--protocol",
        "pure-moment",
        "--moment-nm",
        "7.5",
        "--construct",
        "laminectomy:L4-L5",
        "--construct",
        "screws-rods:L4-L5",
    )
    assert set(data["segments"]) == {"L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1"}
    seg = data["segments"]["L4-L5"]
    for key in MOTION_KEYS + NZ_KEYS:
        assert isinstance(seg[key], float)
    assert set(seg["disc_pressure_mpa"]) == DIRS
    assert set(seg["facet_force_n"]) == DIRS
    rods = data["implants"]["rods"]
    assert {r["side"] for r in rods} == {"left", "right"}
    for r in rods:
        assert r["stress_mpa"] > 0 and r["safety_factor"] > 1.0
        # per direction: bending moment and axial force of each rod
        assert set(r["by_direction"]) == DIRS
        assert all(v["bending_moment_nm"] > 0 for v in r["by_direction"].values())
    screws = data["implants"]["screws"]
    assert {(s["vertebra"], s["side"]) for s in screws} == {
        ("L4", "left"),
        ("L4", "right"),
        ("L5", "left"),
        ("L5", "right"),
    }
    for s in screws:
        assert set(s["by_direction"]) == DIRS
    assert data["specimen"] == ["L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1"]
    record = MechanicsResult.model_validate(data)  # the record round-trips
    assert json.loads(record.to_json()) == data


def test_instrumentation_cuts_the_fused_segment_motion_and_keeps_the_neighbours() -> None:
    r = simulate(reference_geometry(), constructs=("screws-rods:L4-L5",))
    assert r.intact is not None
    op, intact = r.segments["L4-L5"], r.intact["L4-L5"]
    ratio = {k: getattr(op, k) / getattr(intact, k) for k in MOTION_KEYS}
    # far less motion, and axial rotation kept most (cadaver studies: e.g. Pimenta 2012)
    assert all(v < 0.75 for v in ratio.values())
    assert ratio["axial_rotation_left_deg"] > 2.0 * ratio["flexion_deg"]
    # under pure moments the other levels carry the same moment and barely change
    for seg in ("L1-L2", "L2-L3", "L3-L4", "L5-S1"):
        for key in MOTION_KEYS:
            assert getattr(r.segments[seg], key) == pytest.approx(
                getattr(r.intact[seg], key), rel=0.05, abs=0.05
            )


def test_unilateral_screws_are_one_rod_and_less_stiff_than_bilateral() -> None:
    g = reference_geometry()
    uni = simulate(g, constructs=("screws-rods:L4-L5:unilateral-left",))
    bi = simulate(g, constructs=("screws-rods:L4-L5:bilateral",))
    assert [r.side for r in uni.implants.rods] == ["left"]
    assert {r.side for r in bi.implants.rods} == {"left", "right"}
    for key in MOTION_KEYS:
        assert getattr(uni.segments["L4-L5"], key) > getattr(bi.segments["L4-L5"], key)
    # an asymmetric construct bends asymmetrically
    seg = uni.segments["L4-L5"]
    assert seg.lateral_bending_left_deg != pytest.approx(seg.lateral_bending_right_deg, rel=0.02)


def test_rod_material_and_diameter_options_reach_the_rods() -> None:
    g = reference_geometry()
    peek = simulate(g, constructs=("screws-rods:L4-L5",), rod_material="peek", rod_diameter_mm=6.0)
    cocr = simulate(g, constructs=("screws-rods:L4-L5:bilateral:cocr:5.5",))
    assert {(r.material, r.diameter_mm) for r in peek.implants.rods} == {("peek", 6.0)}
    assert {(r.material, r.diameter_mm) for r in cocr.implants.rods} == {("cobalt_chrome", 5.5)}
    assert peek.segments["L4-L5"].flexion_deg > cocr.segments["L4-L5"].flexion_deg


def test_hybrid_protocol_matches_the_intact_total_and_loads_the_neighbours() -> None:
    g = reference_geometry()
    pure = simulate(g, constructs=("screws-rods:L4-L5",))
    hyb = simulate(g, protocol="hybrid", constructs=("screws-rods:L4-L5",))
    assert hyb.intact is not None
    for key in ("flexion_deg", "extension_deg"):
        total_int = sum(getattr(m, key) for m in hyb.intact.values())
        total_op = sum(getattr(m, key) for m in hyb.segments.values())
        assert total_op == pytest.approx(total_int, rel=0.01)
        # the lost L4-L5 motion moves to the adjacent levels
        for seg in ("L3-L4", "L5-S1"):
            assert getattr(hyb.segments[seg], key) > getattr(pure.segments[seg], key) * 1.02
    assert hyb.segments["L3-L4"].moment_nm["flexion"] > 7.5


def test_displacement_protocol_moves_every_spine_the_prescribed_rotation() -> None:
    r = simulate(
        reference_geometry(), protocol="displacement", rotation_deg=8.0, constructs=("fused:L4-L5",)
    )
    assert r.intact is not None and r.rotation_deg == 8.0
    for motion in (r.segments, r.intact):
        for key in MOTION_KEYS:
            assert sum(getattr(m, key) for m in motion.values()) == pytest.approx(8.0, rel=0.01)
    # the fused spine needs a larger moment for the same motion
    assert r.segments["L4-L5"].moment_nm["flexion"] > r.intact["L4-L5"].moment_nm["flexion"]


def test_a_follower_load_keeps_the_posture_stiffens_the_neutral_zone_and_raises_pressure() -> None:
    g = reference_geometry()
    pure = simulate(g)
    comb = simulate(g, protocol="combined", preload_n=1200.0)
    for seg, m in comb.segments.items():
        # the optimised path turns no segment; rotations are from the preloaded posture
        assert abs(m.rest_rotation_deg["flexion"]) < 0.02, seg
        assert m.disc_pressure_mpa["flexion"] > pure.segments[seg].disc_pressure_mpa["flexion"]
        assert m.rest_disc_pressure_mpa is not None and m.rest_disc_pressure_mpa > 0.8
        # ROM falls modestly (Patwardhan 2003: -25 % in flexion-extension at 1200 N)
        for key in ("extension_deg", "axial_rotation_left_deg", "lateral_bending_left_deg"):
            assert 0.4 < getattr(m, key) / getattr(pure.segments[seg], key) < 1.0
    assert len(comb.follower_path_mm) == 5
    assert all(abs(x) < 10 and abs(y) < 10 for x, y in comb.follower_path_mm.values())


def test_the_follower_protocol_alone_reports_the_preloaded_posture() -> None:
    r = simulate(reference_geometry(), protocol="follower", preload_n=500.0)
    for m in r.segments.values():
        assert abs(m.rest_rotation_deg["flexion"]) < 0.02
        assert m.rest_disc_pressure_mpa is not None and 0.3 < m.rest_disc_pressure_mpa < 0.9


def test_disc_pressure_has_its_osmotic_baseline() -> None:
    g = reference_geometry()
    p0 = 0.1  # Wilke 1999: lying prone
    pure = simulate(g, constructs=("screws-rods:L4-L5",))
    seg = pure.segments["L4-L5"]
    for d in ("axial_rotation_left", "axial_rotation_right"):
        assert seg.disc_pressure_mpa[d] >= p0 - 1e-9  # no longer zero in pure axial rotation
    assert seg.disc_pressure_mpa["extension"] >= p0 - 1e-9  # nor in extension with rods
    assert pure.segments["L3-L4"].rest_disc_pressure_mpa == pytest.approx(p0, abs=1e-3)
    # without a nucleus there is no nucleus pressure to report
    cut = simulate(g, constructs=("discectomy:L4-L5",))
    assert cut.segments["L4-L5"].disc_pressure_mpa["flexion"] is None
    assert cut.segments["L4-L5"].rest_disc_pressure_mpa is None
    assert cut.standing["L4-L5"].disc_pressure_mpa is None
    assert MechanicsResult.from_json(cut.to_json()) == cut  # and the record still round-trips


def test_a_load_rotation_curve_in_one_call() -> None:
    r = simulate(reference_geometry(), moments_nm=[1, 2.5, 5, 7.5, 10], constructs=("fused:L4-L5",))
    assert [c.moment_nm for c in r.curve] == [1.0, 2.5, 5.0, 7.5, 10.0]
    assert r.moment_nm == 10.0
    flex = [c.segments["L3-L4"]["flexion"] for c in r.curve]
    assert all(b > a for a, b in zip(flex[:-1], flex[1:], strict=True))  # monotone
    assert flex[-1] == pytest.approx(r.segments["L3-L4"].flexion_deg, abs=1e-6)
    assert r.curve[0].intact is not None
    # stiffening curve: the last 2.5 N·m move the segment less than the first
    assert flex[-1] - flex[-2] < flex[1] - flex[0] + 1e-9 or flex[-1] - flex[-2] < flex[1]


@pytest.mark.parametrize("span", ["L4-L5", "L3-S1", "L1-L5"])
def test_a_shorter_specimen_is_modelled_with_its_lowest_vertebra_fixed(span: str) -> None:
    r = simulate(reference_geometry(), span=span, constructs=("screws-rods:L4-L5",))
    want = {
        "L4-L5": ["L4-L5"],
        "L3-S1": ["L3-L4", "L4-L5", "L5-S1"],
        "L1-L5": ["L1-L2", "L2-L3", "L3-L4", "L4-L5"],
    }[span]
    assert r.specimen == want and list(r.segments) == want


@pytest.mark.parametrize(
    ("posture", "lo", "hi"),
    [("prone", 0.09, 0.11), ("standing", 0.45, 0.55), ("sitting", 0.4, 0.6), ("lifting", 0.9, 2.3)],
)
def test_postures_are_in_vivo_load_cases(posture: str, lo: float, hi: float) -> None:
    r = simulate(reference_geometry(), posture=posture, constructs=("screws-rods:L4-L5",))
    assert r.posture is not None and r.posture.name == posture
    assert r.posture.intact is not None
    p = r.posture.intact["L4-L5"].disc_pressure_mpa  # Wilke 1999 pressures 0.1 ... 2.3 MPa
    assert p is not None and lo <= p <= hi
    assert len(r.posture.implants.rods) == 2
    assert set(r.posture.implants.rods[0].by_direction) == {posture}


def test_a_plan_with_a_cage_reports_cage_pressure(plan_factory: PlanFactory) -> None:
    g = reference_geometry()
    r = simulate(g, plan_factory(g, ["L4-L5"]), protocol="combined", preload_n=400.0)
    assert r.constructs[0].startswith("plan:TLIF")
    assert len(r.implants.cages) == 1
    cage = r.implants.cages[0]
    # 400 N over an 11 x 30 mm footprint: a fraction of a megapascal up to a few MPa
    assert 0.05 < cage.pressure_mpa < 5.0
    assert set(cage.by_direction) == DIRS
    assert len(r.implants.screws) == 4


def test_the_memo_reuses_the_intact_spine_and_changes_no_number(
    plan_factory: PlanFactory,
) -> None:
    """A plan editor's second plan on the same spine: the intact response and follower paths
    come from the memo, and every number is the one a fresh simulation gives."""
    g = reference_geometry()
    memo = SpineMemo(g)
    one, two = plan_factory(g, ["L4-L5"]), plan_factory(g, ["L4-L5", "L5-S1"], "PLF")
    first = simulate(g, one, protocol="hybrid", memo=memo)
    found = dict(memo._found)
    assert {k[0] for k in found} == {"intact", "follower path"}
    second = simulate(g, two, protocol="hybrid", memo=memo)
    assert all(memo._found[k] is v for k, v in found.items())  # reused, not found again
    assert first == simulate(g, one, protocol="hybrid")
    assert second == simulate(g, two, protocol="hybrid")
    assert second.intact == first.intact
    assert second.segments["L5-S1"].flexion_deg < 0.5 * first.segments["L5-S1"].flexion_deg
    with pytest.raises(ParameterError, match="another geometry"):
        simulate(g.model_copy(), one, protocol="hybrid", memo=memo)


def test_a_cage_sits_in_compression_from_its_distraction() -> None:
    g = reference_geometry()
    short = simulate(g, constructs=("cage:L4-L5:alif:11",))  # the space is ~13.6 mm
    snug = simulate(g, constructs=("cage:L4-L5:alif",))  # default: 2 mm taller than the space
    tall = simulate(g, constructs=("cage:L4-L5:alif:16",))
    # a cage shorter than the space is seated on both endplates, not left floating: no
    # distraction pre-load (only the contact's smoothing width, a few newtons) but it carries
    # the compression from the first newton, and the record says the cage is short
    seated = short.implants.cages[0]
    assert seated.distraction_mm == 0.0
    assert 0.0 < seated.rest_force_n < 0.1 * snug.implants.cages[0].rest_force_n
    assert min(c.force_n for c in seated.by_direction.values()) > 20.0
    assert any(
        "cage at L4-L5" in n and "shorter than the imaged disc space" in n for n in short.notes
    )
    assert not any("shorter than the imaged disc space" in n for n in snug.notes)
    assert 50.0 < snug.implants.cages[0].rest_force_n < tall.implants.cages[0].rest_force_n
    alif = parameters()["cage"]["footprints"]["alif"]["distraction_mm"]["value"]
    assert snug.implants.cages[0].distraction_mm == pytest.approx(alif)
    for key in MOTION_KEYS:
        assert getattr(tall.segments["L4-L5"], key) < getattr(short.segments["L4-L5"], key)


def test_goodman_safety_factor_of_a_known_rod_load() -> None:
    # 5.5 mm Ti rod, 5 N m bending: σ = M c / I = 5000·2.75/44.92 = 306 MPa
    d = 5.5
    area, inertia = np.pi * d**2 / 4, np.pi * d**4 / 64
    out = rod_loads(
        np.array([5000.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
        np.array([0.0, 0.0, 1.0]),
        np.array(40.0),
        np.array([area, inertia, d / 2]),
        np.array([860.0, 500.0, 1.8]),
    )
    assert float(out["stress"]) == pytest.approx(5000 * 2.75 / inertia, rel=1e-6)
    sigma = 5000 * 2.75 / inertia
    assert float(out["safety"]) == pytest.approx(1 / (sigma / 2 * (1.8 / 500 + 1 / 860)))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"protocol": "twist"}, "protocol 'twist' is unknown"),
        ({"moment_nm": -1.0}, "moment_nm = -1.0"),
        ({"preload_n": 300.0}, "use --protocol combined"),
        ({"constructs": ("cage:L4-L5:xlif",)}, "field 'xlif' is not understood"),
        ({"constructs": ("fused:L4-L9",)}, "fused:L4-L9"),
        ({"constructs": ("staples:L4-L5",)}, "unknown kind 'staples'"),
        ({"constructs": ("screws-rods:L4-L5:unilateral",)}, "field 'unilateral'"),
        ({"protocol": "displacement"}, "needs the prescribed total rotation"),
        ({"rotation_deg": 5.0}, "use --protocol displacement"),
        ({"span": "L4-L9"}, "span 'L4-L9'"),
        ({"span": "L1-L3", "constructs": ("fused:L4-L5",)}, "outside the specimen"),
        ({"posture": "jogging"}, "posture 'jogging' is unknown"),
        ({"moments_nm": [0.0, 5.0]}, "moments_nm"),
        ({"rod_material": "wood"}, "rod material 'wood'"),
    ],
)
def test_bad_requests_name_the_value_and_the_fix(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        simulate(reference_geometry(), **kwargs)  # type: ignore[arg-type]


def test_a_case_path_and_reference_together_are_refused(tmp_path: Path) -> None:
    out = CliRunner().invoke(app, ["mechanics", str(tmp_path / "case.yaml"), "--reference"])
    assert out.exit_code == 2 and "either a CASE file or --reference" in out.output


def test_mechanics_of_the_sample_case_from_its_ct(sample_case_path: Path) -> None:
    data = _cli(str(sample_case_path), "--intact", "--construct", "screws-rods:L4-L5")
    assert data["geometry_source"] == "ct"
    intact = data["intact"]["L4-L5"]
    # a measured spine lands near the in-vitro range at 7.5 N·m (Yamamoto 1989 x 0.9, +/- 2 deg)
    assert 3.0 < intact["flexion_deg"] < 10.0
    assert 2.0 < intact["lateral_bending_left_deg"] < 8.0
    assert data["segments"]["L4-L5"]["flexion_deg"] < 0.4 * intact["flexion_deg"]


def test_the_case_command_simulates_the_planned_construct(
    sample_case_path: Path, sample_run_dir: Path
) -> None:
    # without options it prints the pipeline's own record: the planned TLIF construct under the
    # hybrid protocol; with --protocol it simulates that construct under the protocol asked for
    recorded = json.loads((sample_run_dir / "mechanics.json").read_text())
    assert _cli(str(sample_case_path)) == recorded
    assert recorded["protocol"] == "hybrid" and recorded["constructs"][0].startswith("plan:")
    pure = _cli(str(sample_case_path), "--protocol", "pure-moment")
    assert pure["constructs"] == recorded["constructs"] and pure["protocol"] == "pure-moment"
    assert pure["segments"]["L4-L5"]["flexion_deg"] < 0.5 * pure["intact"]["L4-L5"]["flexion_deg"]
