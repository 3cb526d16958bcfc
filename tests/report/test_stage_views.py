"""Views of the mechanics, healing and forecast records: the numbers come out unchanged."""

from __future__ import annotations

import pytest

from spinefuse.report.stage_views import (
    fusion_probability_points,
    recovery_milestones,
    risks,
    rom_rows,
    safety_factors,
    time_series,
)


def test_rom_from_directional_fields_intact_and_planned() -> None:
    mech = {
        "intact": {"L4-L5": {"flexion_deg": 8.0, "extension_deg": 4.0}},
        "instrumented": {"L4-L5": {"flexion_deg": 1.0, "extension_deg": 0.5}},
    }
    (row,) = rom_rows(mech)
    assert (row.segment, row.plane) == ("L4-L5", "flexion_extension")
    assert row.intact_deg == 12.0 and row.planned_deg == 1.5
    assert row.change_percent == pytest.approx(-87.5)


def test_rom_from_a_list_of_results_with_a_state_field() -> None:
    mech = {
        "results": [
            {
                "segment": "L3-L4",
                "state": "intact",
                "axial_rotation_left_deg": 2.0,
                "axial_rotation_right_deg": -2.5,
            },
            {"segment": "L3-L4", "state": "instrumented", "axial_rotation_rom_deg": 5.0},
            {"segment": "L2-L3", "state": "intact", "axial_rotation_rom_deg": 3.0},
        ]
    }
    rows = rom_rows(mech)
    assert [(r.segment, r.intact_deg, r.planned_deg) for r in rows] == [
        ("L2-L3", 3.0, None),
        ("L3-L4", 4.5, 5.0),
    ]


def test_safety_factors_are_labelled_by_their_implant() -> None:
    rec = {
        "implants": [
            {"implant": "rod", "side": "left", "safety_factor": 3.2},
            {"implant": "cage", "segment": "L4-L5", "subsidence_safety_factor": 1.1},
        ]
    }
    got = [(s.implant, s.value) for s in safety_factors(rec)]
    assert got == [("rod left", 3.2), ("cage L4-L5 subsidence", 1.1)]


def test_time_series_in_months_or_days() -> None:
    rec = {"L5-S1": {"days": [0, 30.4375, 60.875], "bone_fraction": [0.0, 0.2, 0.5], "note": "x"}}
    (s,) = time_series(rec)
    assert s.name == "bone_fraction" and s.label == "L5-S1"
    assert s.months == pytest.approx((0.0, 1.0, 2.0))
    assert s.values == (0.0, 0.2, 0.5)


def test_fusion_points_from_fields_or_mapping_never_from_a_series() -> None:
    rec = {
        "fusion_probability_6m": 0.3,
        "fusion_probability": {"12": 0.7, "24m": 0.9},
        "course": {"months": [0, 24], "fusion_probability": [0.0, 0.5]},
    }
    assert fusion_probability_points(rec) == {6.0: 0.3, 12.0: 0.7, 24.0: 0.9}


def test_risks_from_mapping_or_list_with_intervals() -> None:
    as_map = {
        "complications": {
            "infection": {"probability": 0.02, "interval": [0.01, 0.04], "average": 0.015},
            "transfusion": 0.08,
        }
    }
    got = risks(as_map)
    assert got[0].name == "infection" and (got[0].low, got[0].high) == (0.01, 0.04)
    assert got[0].average == 0.015 and got[1].probability == 0.08
    as_list = {"risks": [{"name": "dural_tear", "p": 0.06, "ci_low": 0.04, "ci_high": 0.08}]}
    (r,) = risks(as_list)
    assert (r.name, r.probability, r.low, r.high) == ("dural_tear", 0.06, 0.04, 0.08)
    assert risks({"complications": {"blood_loss_ml": 420.0}}) == []  # not a probability


def test_milestones_are_sorted_in_weeks() -> None:
    rec = {
        "recovery": [
            {"week": 6, "what": "desk work"},
            {"day": 1, "what": "walking"},
            {"month": 3, "what": "light lifting"},
        ]
    }
    got = [(round(m.week, 2), m.what) for m in recovery_milestones(rec)]
    assert got == [(0.14, "walking"), (6.0, "desk work"), (13.04, "light lifting")]


def test_first_number_prefers_the_record_own_field() -> None:
    from spinefuse.report.stage_views import first_number

    rec = {"implants": {"screws": [{"moment_nm": 0.52}]}, "moment_nm": 7.5, "preload_n": 0.0}
    assert first_number(rec, "moment_nm") == 7.5
    assert first_number(rec, "missing", "preload_n") == 0.0
    assert first_number(rec, "missing") is None


def test_trajectories_read_the_instrument_under_either_key() -> None:
    from spinefuse.report.stage_views import trajectories

    base = {
        "months": [0, 12],
        "median": [46.0, 25.0],
        "mcid": 12.8,
        "mcid_probability": [0.0, 0.78],
    }
    for key in ("instrument", "name"):
        (t,) = trajectories({"pro": [{key: "odi", **base}]})
        assert t.instrument == "odi" and t.at(12.0, t.mcid_probability) == 0.78
