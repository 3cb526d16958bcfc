"""Run folders are read stage by stage; absent stages are noted, broken ones named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spinefuse.report import ReportInputError, load_stage_records, write_reports

from .report_fixtures import STAGES, build_run_dir


def test_full_run_reads_every_record(full_run: Path) -> None:
    rec = load_stage_records(full_run)
    assert rec.missing == ()
    assert rec.case is not None and rec.case.id == "sample-62F-L4L5-DS"
    assert rec.geometry is not None and rec.geometry.levels[-1] == "S1"
    assert rec.plan is not None and "L4-L5" in rec.plan.fuse_segments
    # two pedicle screws per instrumented vertebra
    assert len(rec.plan.screws) == 2 * (len(rec.plan.fuse_segments) + 1)
    assert rec.healing is not None and rec.healing["fused_segments"] == rec.plan.fuse_segments


def test_partial_run_lists_what_is_missing(tmp_path: Path) -> None:
    run = build_run_dir(tmp_path, STAGES[:3])
    rec = load_stage_records(run)
    assert rec.missing == ("plan.json", "mechanics.json", "healing.json", "forecast.json")
    assert rec.plan is None and rec.forecast is None and rec.assessment is not None


def test_missing_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(ReportInputError, match="nowhere: no such run folder"):
        load_stage_records(tmp_path / "nowhere")


def test_truncated_json_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "healing.json").write_text('{"fusion_probability_24m": 0.9,\n')
    with pytest.raises(ReportInputError, match=r"healing.json: not valid JSON \(line 2"):
        load_stage_records(tmp_path)


def test_invalid_contract_record_names_the_field(tmp_path: Path) -> None:
    run = build_run_dir(tmp_path, ("plan",))
    data = json.loads((run / "plan.json").read_text())
    data["technique"] = "XLIF-9000"
    (run / "plan.json").write_text(json.dumps(data))
    with pytest.raises(ReportInputError, match="technique = 'XLIF-9000'"):
        load_stage_records(run)


def test_a_stage_record_that_is_not_an_object_is_refused(tmp_path: Path) -> None:
    (tmp_path / "forecast.json").write_text("[0.1, 0.2]")
    with pytest.raises(ReportInputError, match="forecast.json: expected a JSON object"):
        load_stage_records(tmp_path)


def test_failed_render_leaves_no_partial_files(tmp_path: Path) -> None:
    (tmp_path / "mechanics.json").write_text("{")
    with pytest.raises(ReportInputError):
        write_reports(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mechanics.json"]
