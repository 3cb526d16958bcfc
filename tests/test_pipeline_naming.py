"""The gate's naming check runs beside the stages after imaging: the run's records, errors and
run folder are those of making the check first, when it finds nothing new and when it fails
the map (the stages then run again on the complete gate)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import spinefuse.forked as forked
from spinefuse.case import Case, case_from_dict, load_case
from spinefuse.errors import LabelMapError
from spinefuse.forked import Forked, can_fork
from spinefuse.imaging.images import Images, read_images
from spinefuse.imaging.label_gate import GateCheck, NamingChecks, gate_label_map, with_naming
from spinefuse.imaging.labels import read_label_map
from spinefuse.imaging.nifti import read_nifti, write_nifti
from spinefuse.pipeline import CaseResult, Skip, _run_stages, run
from spinefuse.stages import Stage

TS = "ct/totalsegmentator_example"
needs_fork = pytest.mark.skipif(not can_fork(), reason="the platform does not fork")


def _shifted_case(shared_data: Path, folder: Path) -> Case:
    """The TotalSegmentator example with every level named one too high (T11…S1 as T10…L5):
    sizes and order look right, only the anatomy in the CT shows the shift."""
    ct_path = shared_data / TS / "example_ct.nii.gz"
    labels = read_label_map(shared_data / TS / "totalseg.nii.gz", reference=read_nifti(ct_path))
    arr = labels.array.copy()
    for old in range(26, 34):
        arr[labels.array == old] = old + 1
    shifted = write_nifti(replace(labels, array=arr), folder / "shifted.nii.gz")
    data = {
        "schema": "spinefuse/case@1",
        "id": "shifted-map",
        "patient": {"age_years": 55, "sex": "male", "height_cm": 178, "weight_kg": 80},
        "history": {"back_pain_nrs": 6, "leg_pain": False},
        "imaging": [{"modality": "CT", "nifti": str(ct_path), "label_map": str(shifted)}],
    }
    return case_from_dict(data, "test case")


def _folder(path: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(path.iterdir()) if p.suffix == ".json"}


@needs_fork
def test_a_map_the_naming_check_fails_gives_the_run_of_the_check_made_first(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The anatomy is first measured on the gate without the naming check; the complete gate
    fails the shifted map, so the anatomy runs again and is skipped as it is when the check is
    made before it, with the same run folder."""
    case = _shifted_case(shared_data, tmp_path)
    deferred = run(case, "assessment", out_dir=tmp_path / "deferred", progress=False)
    monkeypatch.setattr(forked, "can_fork", lambda: False)  # the check made in the imaging stage
    in_place = run(case, "assessment", out_dir=tmp_path / "in_place", progress=False)
    assert deferred.images is not None and in_place.images is not None
    assert deferred.images.naming is None
    assert deferred.images.gate == in_place.images.gate
    assert deferred.images.gate is not None and deferred.images.gate.status == "fail"
    assert any("named 1 level(s) too high" in m for m in deferred.images.gate.messages)
    assert deferred.skipped == in_place.skipped and deferred.ran == in_place.ran
    assert deferred.skipped["anatomy"].code == "gate_failed" and deferred.geometry is None
    assert _folder(tmp_path / "deferred") == _folder(tmp_path / "in_place")


@needs_fork
def test_the_sample_patients_images_are_the_same_with_the_check_deferred(
    sample_case_path: Path,
) -> None:
    case = load_case(sample_case_path)
    deferred = read_images(case, defer_naming=True)
    assert deferred.naming is not None  # the sample's CT has a label map file: checked
    settled = deferred.settled()
    assert settled.naming is None and settled.settled() is settled
    assert settled.gate == read_images(case).gate


# --- the pipeline's handling, on made-up stages -------------------------------------------------
@pytest.fixture(scope="module")
def unchecked(sample_case_path: Path) -> Images:
    """The sample's images with the gate made without the naming check."""
    images = read_images(load_case(sample_case_path), defer_naming=True)
    if images.naming is not None:
        images.naming.cancel()
    assert images.labels is not None and images.convention is not None
    gate = gate_label_map(images.labels, images.convention, check_naming=False)
    return replace(images, gate=gate, naming=None)


def _images(unchecked: Images, found: NamingChecks | None) -> Images:
    """The images with a naming check pending that finds ``found`` (None: nothing)."""
    assert unchecked.gate is not None
    names = tuple(lv.name for lv in unchecked.gate.levels)
    nothing = NamingChecks(names=names, levels=tuple(() for _ in names), map=())
    return replace(unchecked, naming=Forked(lambda: found or nothing))


def _shift_found(images: Images) -> NamingChecks:
    assert images.gate is not None
    names = tuple(lv.name for lv in images.gate.levels)
    check = GateCheck(check="naming", status="fail", value=1.0, reason="shifted")
    return NamingChecks(names=names, levels=tuple(() for _ in names), map=(check,))


def _stages(images: Images, calls: list[tuple[str, tuple[str, ...]]], fail: bool) -> list[Stage]:
    def imaging(r: CaseResult) -> Images:
        return images

    def anatomy(r: CaseResult) -> Any:
        assert r.images is not None and r.images.gate is not None
        calls.append(("anatomy", r.images.gate.messages))
        if r.images.gate.status == "fail":
            return Skip("gate_failed", "failed")
        return "geometry"

    def assessment(r: CaseResult) -> Any:
        calls.append(("assessment", ()))
        if fail and r.geometry is not None:
            raise ValueError("assessment failed on the geometry")
        return "assessment"

    return [
        Stage("imaging", "images", "imaging", imaging),
        Stage("anatomy", "geometry", "anatomy", anatomy),
        Stage("assessment", "assessment", "assessment", assessment),
    ]


def _run(stages: list[Stage], case_path: Path) -> CaseResult:
    result = CaseResult(case=load_case(case_path))
    _run_stages(result, stages, None, {}, lambda _describe: None)
    return result


def test_stages_run_once_when_the_naming_check_finds_nothing(
    sample_case_path: Path, unchecked: Images
) -> None:
    calls: list[tuple[str, tuple[str, ...]]] = []
    result = _run(_stages(_images(unchecked, None), calls, False), sample_case_path)
    assert [c for c, _ in calls] == ["anatomy", "assessment"]
    assert result.record("anatomy") == "geometry"
    assert result.ran == ["imaging", "anatomy", "assessment"]
    assert result.images is not None and result.images.naming is None


def test_stages_run_again_when_the_naming_check_fails_the_map(
    sample_case_path: Path, unchecked: Images
) -> None:
    calls: list[tuple[str, tuple[str, ...]]] = []
    pending = _images(unchecked, None)
    images = replace(pending, naming=Forked(lambda: _shift_found(pending)))
    result = _run(_stages(images, calls, False), sample_case_path)
    assert [c for c, _ in calls] == ["anatomy", "assessment", "anatomy", "assessment"]
    assert any("FAIL map naming: shifted" in m for m in calls[2][1])
    assert result.geometry is None and result.skipped["anatomy"].code == "gate_failed"
    assert result.ran == ["imaging", "assessment"]


def test_a_stage_error_on_the_incomplete_gate_is_undone_or_raised(
    sample_case_path: Path, unchecked: Images
) -> None:
    """An error of a stage run on the incomplete gate stands when the complete gate changes
    nothing, and is undone (the stages run again) when it fails the map."""
    calls: list[tuple[str, tuple[str, ...]]] = []
    with pytest.raises(ValueError, match="assessment failed"):
        _run(_stages(_images(unchecked, None), calls, True), sample_case_path)
    calls.clear()
    pending = _images(unchecked, None)
    images = replace(pending, naming=Forked(lambda: _shift_found(pending)))
    result = _run(_stages(images, calls, True), sample_case_path)
    assert [c for c, _ in calls] == ["anatomy", "assessment", "anatomy", "assessment"]
    assert result.record("assessment") == "assessment" and result.geometry is None


def test_a_lost_child_is_made_up_for_here() -> None:
    """The call is made in this process when the child's answer cannot come back."""
    out = Forked(lambda: lambda: None)  # a function cannot be pickled back
    assert callable(out.result())
    err = Forked(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        err.result()


def test_with_naming_refuses_checks_of_other_levels(unchecked: Images) -> None:
    assert unchecked.gate is not None
    other = NamingChecks(names=("L1",), levels=((),), map=())
    with pytest.raises(LabelMapError, match="naming check was made on levels L1"):
        with_naming(unchecked.gate, other)
