"""The whole pipeline on the sample patient, through the CLI as ``make demo`` runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spinefuse.cli import app

STAGE_FILES = (
    "case.json",
    "anatomy.json",
    "assessment.json",
    "plan.json",
    "mechanics.json",
    "healing.json",
    "forecast.json",
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    result = CliRunner().invoke(app, ["demo", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    return out


def _load(demo: Path, name: str) -> dict:  # type: ignore[type-arg]
    data: dict = json.loads((demo / "results" / name).read_text())  # type: ignore[type-arg]
    return data


def test_every_stage_writes_its_record_and_the_reports(demo: Path) -> None:
    results = demo / "results"
    for name in (*STAGE_FILES, "report.html", "report.pdf", "patient.html", "patient.pdf"):
        assert (results / name).stat().st_size > 500, name
    index = (results / "index.html").read_text()
    assert all(name in index for name in STAGE_FILES)
    stls = sorted(p.name for p in (results / "implants").glob("*.stl"))
    assert len([s for s in stls if s.startswith("screw_")]) == 4
    assert "cage_L4-L5.stl" in stls and len([s for s in stls if s.startswith("rod_")]) == 2


def test_the_sample_patient_is_assessed_and_planned_as_a_surgeon_would(demo: Path) -> None:
    a = _load(demo, "assessment.json")
    assert a["fuse_segments"] == ["L4-L5"]
    found = {(f["diagnosis"], f["level"]) for f in a["findings"]}
    assert ("degenerative_spondylolisthesis", "L4-L5") in found
    assert ("instability", "L4-L5") in found
    assert "L4-L5" in a["decompress_segments"]
    plan = _load(demo, "plan.json")
    assert plan["fuse_segments"] == ["L4-L5"] and plan["technique"] in ("TLIF", "PLIF", "PLF")
    screws = {(s["vertebra"], s["side"]) for s in plan["screws"]}
    assert screws == {("L4", "left"), ("L4", "right"), ("L5", "left"), ("L5", "right")}
    assert not any(s["breach"] for s in plan["screws"])
    assert len(plan["rods"]) == 2


def test_mechanics_healing_and_forecast_follow_the_plan(demo: Path) -> None:
    mech = _load(demo, "mechanics.json")
    assert mech["protocol"] == "hybrid"
    fused = mech["segments"]["L4-L5"]["flexion_deg"]
    intact = mech["intact"]["L4-L5"]["flexion_deg"]
    assert fused < 0.5 * intact  # screws and rods stop most of the motion
    for adjacent in ("L3-L4", "L5-S1"):  # which moves to the segments next to the fusion
        assert mech["segments"][adjacent]["flexion_deg"] > mech["intact"][adjacent]["flexion_deg"]
    heal = _load(demo, "healing.json")
    p = {int(k): v for k, v in heal["fusion_probability"].items()}
    assert 0.0 <= p[6] <= p[12] <= p[24] <= 1.0 and p[24] > 0.7
    fc = _load(demo, "forecast.json")
    assert fc["fusion_planned"] is True


def test_a_bad_case_file_stops_with_a_short_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "case.yaml"
    bad.write_text("schema: spinefuse/case@1\nid: x\npatient: {age_years: 12, sex: female}\n")
    result = CliRunner().invoke(app, ["run", str(bad), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "age_years" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()
