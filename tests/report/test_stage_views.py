"""Views of the mechanics, healing and forecast records: every number comes out unchanged."""

from __future__ import annotations

import pytest

from spinefuse.pipeline import CaseResult
from spinefuse.report.stage_views import (
    fusion_probability_points,
    healing_curves,
    plane_rom_deg,
    quantities,
    recovery_milestones,
    risks,
    rom_rows,
    safety_factors,
    stay_days,
    trajectories,
)


def test_rom_rows_pair_the_intact_and_the_planned_spine(full_run: CaseResult) -> None:
    mech = full_run.mechanics
    assert mech is not None and mech.intact is not None and mech.constructs
    rows = rom_rows(mech)
    assert [r.segment for r in rows[::3]] == list(mech.segments)  # head to pelvis, 3 planes each
    for r in rows:
        assert r.intact_deg == plane_rom_deg(mech.intact[r.segment], r.plane)
        assert r.planned_deg == plane_rom_deg(mech.segments[r.segment], r.plane)
    fe = next(r for r in rows if r.segment == "L4-L5" and r.plane == "flexion_extension")
    seg = mech.segments["L4-L5"]
    assert fe.planned_deg == seg.flexion_deg + seg.extension_deg
    assert fe.change_percent == pytest.approx(100 * (fe.planned_deg / fe.intact_deg - 1))
    intact_only = mech.model_copy(update={"constructs": [], "intact": None})
    assert all(r.planned_deg is None for r in rom_rows(intact_only)) and rom_rows(None) == []


def test_safety_factors_name_each_rod_and_load_case(full_run: CaseResult) -> None:
    mech = full_run.mechanics
    assert mech is not None
    got = safety_factors(mech)
    assert [(s.implant, s.value) for s in got] == [
        (f"rod {r.side} {r.segment} {r.load_case}", r.safety_factor) for r in mech.implants.rods
    ]


def test_healing_curves_and_fusion_points(full_run: CaseResult) -> None:
    heal = full_run.healing
    assert heal is not None
    assert fusion_probability_points(heal) == {
        float(m): p for m, p in heal.fusion_probability.items()
    }
    curves = healing_curves(heal)
    seg = heal.segments[0]
    names = [c.name for c in curves]
    assert names == [f"bone fraction, {r.region} graft" for r in seg.regions] + [
        "fusion probability",
        "subsidence_mm",
    ]
    assert curves[-2].values == tuple(seg.fusion_probability)
    assert all(len(c.values) == len(seg.months) for c in curves)


def test_forecast_views_carry_the_records_numbers(full_run: CaseResult) -> None:
    fc = full_run.forecast
    assert fc is not None and fc.pathway is not None
    assert [(r.key, r.probability, r.low, r.high) for r in risks(fc)] == [
        (r.outcome, r.probability, r.low, r.high) for r in fc.risks
    ]
    assert [(q.name, q.median) for q in quantities(fc)] == [
        (q.name, q.median) for q in fc.perioperative
    ]
    stay = next(q for q in fc.perioperative if q.name == "length_of_stay_days")
    assert stay_days(fc) == stay.median
    odi = next(t for t in trajectories(fc) if t.instrument == "odi")
    assert (
        odi.at(12.0, odi.mcid_probability)
        == fc.pro[0].mcid_probability[fc.pro[0].months.index(12.0)]
    )
    steps = recovery_milestones(fc)
    assert [m.week for m in steps] == sorted(m.week for m in steps)
    kinds = {m.kind for m in steps}
    assert {"mobilise", "phase", "restriction", "work", "visit"} <= kinds
    assert len([m for m in steps if m.kind == "visit"]) == len(fc.pathway.follow_up)
    assert risks(None) == [] and recovery_milestones(None) == [] and stay_days(None) is None
