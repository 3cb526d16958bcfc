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
from spinefuse.mechanics.reference import reference_geometry
from spinefuse.mechanics.simulation import rod_loads

from .conftest import PlanFactory

MOTION_KEYS = [f"{d.value}_deg" for d in DIRECTIONS]
NZ_KEYS = [f"{d.value}_nz_deg" for d in DIRECTIONS]


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
    assert set(seg["disc_pressure_mpa"]) == {d.value for d in DIRECTIONS}
    rods = data["implants"]["rods"]
    assert {r["side"] for r in rods} == {"left", "right"}
    for r in rods:
        assert r["stress_mpa"] > 0 and r["safety_factor"] > 1.0
    record = MechanicsResult.model_validate(data)  # the record round-trips
    assert json.loads(record.to_json()) == data


def test_instrumentation_cuts_the_fused_segment_motion_and_keeps_the_neighbours() -> None:
    r = simulate(reference_geometry(), constructs=("screws-rods:L4-L5",))
    assert r.intact is not None
    op, intact = r.segments["L4-L5"], r.intact["L4-L5"]
    for key in MOTION_KEYS:
        assert getattr(op, key) < 0.5 * getattr(intact, key)
    # under pure moments the other levels carry the same moment and barely change
    for seg in ("L1-L2", "L2-L3", "L3-L4", "L5-S1"):
        for key in MOTION_KEYS:
            assert getattr(r.segments[seg], key) == pytest.approx(
                getattr(r.intact[seg], key), rel=0.05, abs=0.05
            )


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
            assert getattr(hyb.segments[seg], key) > getattr(pure.segments[seg], key) * 1.05
    assert hyb.segments["L3-L4"].moment_nm["flexion"] > 7.5


def test_follower_load_stiffens_the_spine_and_raises_disc_pressure() -> None:
    g = reference_geometry()
    pure = simulate(g)
    comb = simulate(g, protocol="combined", preload_n=500.0)
    for seg in pure.segments:
        assert comb.segments[seg].flexion_deg < pure.segments[seg].flexion_deg
        assert (
            comb.segments[seg].disc_pressure_mpa["flexion"]
            > pure.segments[seg].disc_pressure_mpa["flexion"]
        )
    # Standing is always reported: ~0.5 MPa at L4-L5 (Wilke 1999)
    assert comb.standing["L4-L5"].disc_pressure_mpa == pytest.approx(0.5, abs=0.02)


def test_a_plan_with_a_cage_reports_cage_pressure(plan_factory: PlanFactory) -> None:
    g = reference_geometry()
    r = simulate(g, plan_factory(g, ["L4-L5"]), protocol="combined", preload_n=400.0)
    assert r.constructs[0].startswith("plan:TLIF")
    assert len(r.implants.cages) == 1
    cage = r.implants.cages[0]
    # 400 N over an 11 x 30 mm footprint: a fraction of a megapascal up to a few MPa
    assert 0.05 < cage.pressure_mpa < 5.0
    assert len(r.implants.screws) == 4


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
        ({"constructs": ("cage:L4-L5:xlif",)}, "cage technique 'xlif'"),
        ({"constructs": ("fused:L4-L9",)}, "fused:L4-L9"),
        ({"constructs": ("staples:L4-L5",)}, "unknown kind 'staples'"),
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
    # a measured spine lands in the in-vitro range at 7.5 N·m (Heuer 2007, +/- 2 deg)
    assert 3.0 < intact["flexion_deg"] < 9.0
    assert 2.0 < intact["lateral_bending_left_deg"] < 8.0
    assert data["segments"]["L4-L5"]["flexion_deg"] < 0.3 * intact["flexion_deg"]


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
