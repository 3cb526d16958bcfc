"""A run folder belongs to one case: its manifest, the refusals that keep patients apart, and
reading a run back."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spinefuse.case import Case, load_case, save_case
from spinefuse.cli import app
from spinefuse.errors import OutputFolderError
from spinefuse.pipeline import run
from spinefuse.run_folder import RunFolderError, load_run, read_manifest


@pytest.fixture
def films(tmp_path: Path, sample_case_path: Path) -> Case:
    """The sample patient's films only (fast to run), copied into a folder of the test's."""
    case = load_case(sample_case_path)
    folder = tmp_path / "case"
    folder.mkdir()
    studies = []
    for s in case.imaging:
        if s.modality == "XR" and s.landmarks is not None:
            studies.append(
                s.model_copy(update={"landmarks": Path(shutil.copy(s.landmarks, folder))})
            )
    return case.model_copy(update={"imaging": studies})


def test_the_manifest_records_the_case_its_inputs_and_each_stage(
    films: Case, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    run(films, "assessment", out_dir=out, progress=False)
    m = read_manifest(out)
    assert m.case_id == films.id and m.finished and m.seed == 0
    assert set(m.inputs) == {str(s.landmarks) for s in films.imaging}
    assert all(len(h) == 64 for h in m.inputs.values())
    assert [(s.name, s.status) for s in m.stages] == [
        ("imaging", "done"),
        ("anatomy", "skipped"),
        ("assessment", "done"),
    ]
    assert m.status("anatomy").code == "no_volume"  # type: ignore[union-attr]
    assert "no CT or MR study" in (out / "index.html").read_text()


def test_case_json_reads_back_and_runs_again(films: Case, tmp_path: Path) -> None:
    out = tmp_path / "run"
    run(films, "assessment", out_dir=out, progress=False)
    written = json.loads((out / "case.json").read_text())
    assert written["schema"] == "spinefuse/case@1" and "schema_" not in written
    assert load_case(out / "case.json") == films
    again = CliRunner().invoke(app, ["assess", str(out / "case.json"), "--json"])
    assert again.exit_code == 0, again.output
    assert again.stdout == (out / "assessment.json").read_text() + "\n"


def test_a_run_never_writes_over_its_inputs(films: Case, tmp_path: Path) -> None:
    folder = films.imaging[0].landmarks.parent  # type: ignore[union-attr]
    case_file = save_case(films, folder / "case.json")
    before = case_file.read_bytes()
    out = CliRunner().invoke(app, ["run", str(case_file), "--out", str(folder), "--quiet"])
    assert out.exit_code == 2 and "would write over its input" in out.output
    assert case_file.read_bytes() == before


def test_another_patients_folder_is_refused(films: Case, tmp_path: Path) -> None:
    out = tmp_path / "run"
    run(films, "assessment", out_dir=out, progress=False)
    other = films.model_copy(update={"id": "patient-B"})
    with pytest.raises(RunFolderError, match="holds the run of case 'sample-62F-L4L5-DS'"):
        run(other, "assessment", out_dir=out, progress=False)
    assert read_manifest(out).case_id == films.id  # A's run is untouched


def test_a_rerun_removes_the_earlier_runs_records(films: Case, tmp_path: Path) -> None:
    out = tmp_path / "run"
    run(films, "assessment", out_dir=out, progress=False)
    assert (out / "assessment.json").exists()
    run(films, "imaging", out_dir=out, progress=False)
    assert not (out / "assessment.json").exists()
    assert [s.name for s in read_manifest(out).stages] == ["imaging"]


def test_stage_records_without_a_manifest_are_refused(films: Case, tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "forecast.json").write_text("{}")
    with pytest.raises(RunFolderError, match="without a manifest.json"):
        run(films, "assessment", out_dir=out, progress=False)


def test_an_output_path_that_is_a_file_is_a_clear_error(films: Case, tmp_path: Path) -> None:
    file = tmp_path / "out"
    file.write_text("x")
    with pytest.raises(OutputFolderError, match="is a file, not a folder"):
        run(films, "assessment", out_dir=file, progress=False)


def test_an_interrupted_run_says_so(
    films: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import spinefuse.assess

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(spinefuse.assess, "assess_case", broken)
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        run(films, "assessment", out_dir=out, progress=False)
    m = read_manifest(out)
    assert not m.finished and m.status("assessment").status == "pending"  # type: ignore[union-attr]
    assert "This run did not finish" in (out / "index.html").read_text()
    assert not load_run(out).finished


def test_reading_a_run_back_refuses_changed_inputs(films: Case, tmp_path: Path) -> None:
    out = tmp_path / "run"
    run(films, "assessment", out_dir=out, progress=False)
    result = load_run(out)
    assert result.assessment is not None and result.images is not None
    assert len(result.images.xrays) == len(films.imaging)
    film = films.imaging[0].landmarks
    assert film is not None
    film.write_text(film.read_text().replace("0.", "1.", 1))
    with pytest.raises(RunFolderError, match="input files changed"):
        load_run(out)
    report = CliRunner().invoke(app, ["report", str(out)])
    assert report.exit_code == 2 and "run the case again" in report.output


def test_a_killed_run_leaves_no_process_and_a_rerun_equals_an_uninterrupted_one(
    films: Case, tmp_path: Path
) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    import psutil

    case = films.model_copy(
        update={"preferences": films.preferences.model_copy(update={"fuse_segments": ["L4-L5"]})}
    )
    case_file = save_case(case, tmp_path / "case.yaml")
    spinefuse = str(Path(sys.executable).parent / "spinefuse")
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [spinefuse, "run", str(case_file), "--out", str(killed), "--quiet"],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # kill it while it writes the reports (two processes)
        try:
            m = read_manifest(killed)
        except (RunFolderError, OSError, ValueError):
            m = None
        if m is not None and m.status("forecast").status == "done":  # type: ignore[union-attr]
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    time.sleep(1.0)
    # no process of the run still runs; one that had ended before the kill (work drawn ahead)
    # may stay a zombie where the machine's first process does not reap orphans
    left = [
        p
        for p in psutil.process_iter(["pid", "status"])
        if _session(p) == proc.pid and p.info["status"] != psutil.STATUS_ZOMBIE
    ]
    assert left == [], left
    assert not read_manifest(killed).finished
    assert "This run did not finish" in (killed / "index.html").read_text()
    # run again into the same folder, and once into a fresh one: the same records
    for out in (killed, tmp_path / "whole"):
        done = CliRunner().invoke(app, ["run", str(case_file), "--out", str(out), "--quiet"])
        assert done.exit_code == 0, done.output
    assert read_manifest(killed).finished
    for name in ("assessment", "plan", "healing", "forecast"):
        again = (killed / f"{name}.json").read_text()
        assert again == (tmp_path / "whole" / f"{name}.json").read_text(), name


def _session(p: object) -> int | None:
    import os

    try:
        return os.getsid(p.pid)  # type: ignore[attr-defined]
    except OSError:
        return None
