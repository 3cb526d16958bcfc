"""One pipeline: every command prints the record `spinefuse run` writes, each image is read once,
and the sample patient's non-union risk is one number everywhere."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spinefuse.case import Case, Segmentation, load_case, save_case
from spinefuse.cli import app
from spinefuse.pipeline import run
from spinefuse.run_folder import read_manifest

STAGE_FILES = (
    "case.json",
    "anatomy.json",
    "assessment.json",
    "plan.json",
    "mechanics.json",
    "healing.json",
    "forecast.json",
)
COMMANDS = (  # (command line after the case file, the record it prints)
    (["anatomy"], "anatomy"),
    (["assess", "--json"], "assessment"),
    (["plan"], "plan"),
    (["mechanics"], "mechanics"),
    (["heal"], "healing"),
    (["forecast"], "forecast"),
)


def _load(folder: Path, name: str) -> dict:  # type: ignore[type-arg]
    data: dict = json.loads((folder / name).read_text())  # type: ignore[type-arg]
    return data


def test_every_stage_writes_its_record_and_the_reports(sample_run_dir: Path) -> None:
    for name in (*STAGE_FILES, "report.html", "report.pdf", "patient.html", "patient.pdf"):
        assert (sample_run_dir / name).stat().st_size > 500, name
    index = (sample_run_dir / "index.html").read_text()
    assert all(name in index for name in STAGE_FILES) and "did not finish" not in index
    stls = sorted(p.name for p in (sample_run_dir / "implants").glob("*.stl"))
    assert len([s for s in stls if s.startswith("screw_")]) == 4
    assert "cage_L4-L5.stl" in stls and len([s for s in stls if s.startswith("rod_")]) == 2
    manifest = read_manifest(sample_run_dir)
    assert manifest.finished and manifest.case_id == "sample-62F-L4L5-DS"
    assert [s.status for s in manifest.stages] == ["done"] * 8
    assert "implants/screw_L4_left.stl" in manifest.written


def test_the_sample_patient_is_assessed_and_planned_as_a_surgeon_would(
    sample_run_dir: Path,
) -> None:
    a = _load(sample_run_dir, "assessment.json")
    assert a["fuse_segments"] == ["L4-L5"]
    found = {(f["diagnosis"], f["level"]) for f in a["findings"]}
    assert ("degenerative_spondylolisthesis", "L4-L5") in found
    assert ("instability", "L4-L5") in found
    assert "L4-L5" in a["decompress_segments"]
    plan = _load(sample_run_dir, "plan.json")
    assert plan["fuse_segments"] == ["L4-L5"] and plan["technique"] in ("TLIF", "PLIF", "PLF")
    screws = {(s["vertebra"], s["side"]) for s in plan["screws"]}
    assert screws == {("L4", "left"), ("L4", "right"), ("L5", "left"), ("L5", "right")}
    assert not any(s["breach"] for s in plan["screws"])
    assert len(plan["rods"]) == 2


def test_mechanics_healing_and_forecast_follow_the_plan(sample_run_dir: Path) -> None:
    mech = _load(sample_run_dir, "mechanics.json")
    assert mech["protocol"] == "hybrid"
    fused = mech["segments"]["L4-L5"]["flexion_deg"]
    intact = mech["intact"]["L4-L5"]["flexion_deg"]
    assert fused < 0.5 * intact  # screws and rods stop most of the motion
    for adjacent in ("L3-L4", "L5-S1"):  # which moves to the segments next to the fusion
        assert mech["segments"][adjacent]["flexion_deg"] > mech["intact"][adjacent]["flexion_deg"]
    heal = _load(sample_run_dir, "healing.json")
    p = {int(k): v for k, v in heal["fusion_probability"].items()}
    assert 0.0 <= p[6] <= p[12] <= p[24] <= 1.0 and p[24] > 0.7
    fc = _load(sample_run_dir, "forecast.json")
    assert fc["fusion_planned"] is True


def test_the_non_union_risk_is_one_number_in_every_record_and_report(
    sample_run_dir: Path,
) -> None:
    nonunion = _load(sample_run_dir, "healing.json")["nonunion_probability"]
    fc = _load(sample_run_dir, "forecast.json")
    assert fc["nonunion_source"] == "healing"
    assert next(r for r in fc["risks"] if r["outcome"] == "nonunion")["probability"] == nonunion
    assert fc["summary"]["nonunion"] == pytest.approx(nonunion, abs=5e-6)
    html = re.sub(r"\s+", " ", (sample_run_dir / "report.html").read_text())
    assert f"non-union probability</th><td>{100 * nonunion:.0f} %" in html


@pytest.fixture(scope="module")
def xray_case(tmp_path_factory: pytest.TempPathFactory, sample_case_path: Path) -> Path:
    """The sample patient with her radiographs only and the surgeon's chosen segment."""
    case = load_case(sample_case_path)
    films = case.model_copy(
        update={
            "id": "sample-films-only",
            "imaging": [s for s in case.imaging if s.modality == "XR"],
            "preferences": case.preferences.model_copy(update={"fuse_segments": ["L4-L5"]}),
        }
    )
    return save_case(films, tmp_path_factory.mktemp("films") / "case.yaml")


@pytest.fixture(scope="module")
def xray_run(xray_case: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("films-run") / "run"
    result = CliRunner().invoke(app, ["run", str(xray_case), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    return out


def _commands_print_the_run(case_file: Path, run_dir: Path) -> list[str]:
    """Each single-stage command's output against the record the run wrote (or the reason the
    run gives for the stage having nothing to do); returns the stages compared."""
    manifest = read_manifest(run_dir)
    compared = []
    for args, stage in COMMANDS:
        out = CliRunner().invoke(app, [args[0], str(case_file), *args[1:]])
        status = manifest.status(stage)
        assert status is not None, stage
        if status.status == "done":
            assert out.exit_code == 0, (stage, out.output)
            assert out.stdout == (run_dir / f"{stage}.json").read_text() + "\n", stage
        else:
            assert out.exit_code == 3, (stage, out.output)
            assert status.reason in out.stderr.replace("\n", " "), stage
        compared.append(stage)
    return compared


def test_every_command_prints_the_record_run_writes_for_the_sample_patient(
    sample_case_path: Path, sample_run_dir: Path
) -> None:
    assert _commands_print_the_run(sample_case_path, sample_run_dir) == [s for _, s in COMMANDS]


def test_every_command_prints_the_record_run_writes_for_an_xray_only_case(
    xray_case: Path, xray_run: Path
) -> None:
    _commands_print_the_run(xray_case, xray_run)
    manifest = read_manifest(xray_run)
    assert manifest.status("anatomy").status == "skipped"  # type: ignore[union-attr]
    assert manifest.status("mechanics").status == "skipped"  # type: ignore[union-attr]
    plan = _load(xray_run, "plan.json")
    assert plan["fuse_segments"] == ["L4-L5"] and plan["screws"] == []
    assert any("no implant is sized" in w for w in plan["warnings"])
    heal = _load(xray_run, "healing.json")
    fc = _load(xray_run, "forecast.json")
    assert fc["fusion_planned"] and fc["nonunion_source"] == "healing"
    nonunion = next(r for r in fc["risks"] if r["outcome"] == "nonunion")["probability"]
    assert nonunion == heal["nonunion_probability"]


def test_the_report_command_rewrites_the_same_reports(
    sample_run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    copy = tmp_path / "run"
    shutil.copytree(sample_run_dir, copy)
    first = CliRunner().invoke(app, ["report", str(copy), "--no-pdf"])
    assert first.exit_code == 0, first.output
    html = (copy / "report.html").read_text()
    assert "Made by spinefuse" in html and "on 2026-01-01 00:00 UTC" in html
    original = (sample_run_dir / "report.html").read_text()
    # everything but the time it was made is what the run itself wrote
    strip = re.compile(r"on \d{4}-\d\d-\d\d \d\d:\d\d UTC")
    assert strip.sub("", html) == strip.sub("", original)


def test_each_image_file_is_read_once_per_run(
    sample_case_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import spinefuse.imaging.dicom as dicom
    import spinefuse.imaging.nifti as nifti
    import spinefuse.imaging.xray_landmarks as films

    reads: Counter[str] = Counter()

    def counted(module: object, name: str) -> None:
        real = getattr(module, name)

        def wrapper(path: object, *args: object, **kwargs: object) -> object:
            reads[str(Path(str(path)).resolve())] += 1
            return real(path, *args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)

    counted(nifti, "read_nifti")
    counted(dicom, "read_dicom_series")
    counted(films, "read_xray_landmarks")
    import spinefuse.imaging.labels as labels

    monkeypatch.setattr(labels, "read_nifti", nifti.read_nifti)
    case = load_case(sample_case_path)
    run(case, "forecast", progress=False)
    expected = {str(p.resolve()) for s in case.imaging for p in s.paths().values()}
    assert set(reads) == expected and set(reads.values()) == {1}, reads


def test_the_built_in_segmentation_reaches_the_plan(sample_case_path: Path) -> None:
    case = load_case(sample_case_path)
    ct = case.imaging[0].model_copy(update={"label_map": None})
    unlabelled: Case = case.model_copy(update={"imaging": [ct, *case.imaging[1:]]})
    # the phantom shows no iliac crest or rib to name its levels: unnamed, nothing is planned
    guessed = run(unlabelled, "plan", progress=False)
    assert guessed.images is not None and guessed.images.unnamed
    assert guessed.plan is None and guessed.skipped["plan"].code == "levels_unnamed"
    assert guessed.geometry is not None and guessed.geometry.needs_confirmation
    # named by the case (its lowest vertebra in view), the segmentation's labels are planned on
    named = unlabelled.model_copy(
        update={
            "segmentation": Segmentation.model_validate(
                {"backend": "builtin", "options": {"lowest_in_view": "S1"}}
            )
        }
    )
    result = run(Case.model_validate(named.model_dump(by_alias=True)), "plan", progress=False)
    assert result.images is not None and result.images.label_source == "builtin"
    assert result.plan is not None and result.plan.screws
    assert all(s.bone_fraction is not None for s in result.plan.screws)  # graded on its labels
    assert any("fitted on the label map" in r for r in result.plan.reasons)


def test_a_bad_case_file_stops_with_a_short_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "case.yaml"
    bad.write_text("schema: spinefuse/case@1\nid: x\npatient: {age_years: 12, sex: female}\n")
    result = CliRunner().invoke(app, ["run", str(bad), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "age_years" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()
