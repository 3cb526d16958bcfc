"""The MR study's series: chosen by their DICOM tags or named in the case, registered by their
geometry, the label map on one of their grids; the real total_mr example read through the case."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.uid import generate_uid

from spinefuse.case import ImagingSeries, ImagingStudy, case_from_dict
from spinefuse.errors import ImagingError, LabelMapError
from spinefuse.imaging.images import read_images
from spinefuse.imaging.mr_series import read_mr_study, volume_plane
from spinefuse.imaging.nifti import write_nifti
from spinefuse.imaging.volume import Volume
from tests.imaging.mr_dicom import AXIAL, CORONAL, write_mr_series

REAL = "mr/totalsegmentator_example"


def _study_folder(root: Path, frame: str) -> Path:
    write_mr_series(root / "s1", "t2_tse_sag", te_ms=100, tr_ms=3500, frame_uid=frame, value=300)
    write_mr_series(root / "s2", "t1_tse_sag", te_ms=10, tr_ms=550, frame_uid=frame, value=200)
    write_mr_series(
        root / "s3", "T2 TSE TRA L4-5", te_ms=110, tr_ms=4000, frame_uid=frame, plane=AXIAL
    )
    write_mr_series(root / "s4", "localizer", te_ms=5, tr_ms=9, frame_uid=frame, plane=CORONAL)
    write_mr_series(root / "s5", "sag series 5", te_ms=90, tr_ms=3000, frame_uid=frame)
    write_mr_series(root / "s6", "t2_cor", te_ms=100, tr_ms=3500, frame_uid=frame, plane=CORONAL)
    return root


def test_series_are_chosen_by_their_tags(tmp_path: Path) -> None:
    folder = _study_folder(tmp_path / "study", generate_uid())
    mr = read_mr_study(ImagingStudy(modality="MR", dicom_dir=folder))
    kinds = sorted((im.plane, im.weighting, im.description) for im in mr.images)
    assert kinds == [
        ("axial", "T2", "T2 TSE TRA L4-5"),
        ("sagittal", "T1", "t1_tse_sag"),
        ("sagittal", "T2", "sag series 5"),  # no weighting in its name: TE 90 / TR 3000 say T2
        ("sagittal", "T2", "t2_tse_sag"),
    ]
    assert any("localizer" in p and "localiser" in p for p in mr.passed_over)
    assert any("t2_cor" in p and "coronal" in p for p in mr.passed_over)
    t2 = mr.first("sagittal", "T2")
    assert t2 is not None and float(np.asarray(t2.volume.array).mean()) in (100.0, 300.0)
    assert mr.first("axial", "T1") is None


def test_description_and_echo_times_that_disagree_are_refused(tmp_path: Path) -> None:
    write_mr_series(tmp_path / "x" / "a", "T1 SAG", te_ms=100, tr_ms=4000, frame_uid="1.2.3")
    with pytest.raises(ImagingError, match="says T1 but TE 100 ms, TR 4000 ms .* say T2"):
        read_mr_study(ImagingStudy(modality="MR", dicom_dir=tmp_path / "x"))


def test_stir_by_its_inversion_time(tmp_path: Path) -> None:
    write_mr_series(
        tmp_path / "x" / "a",
        "sag 3",
        te_ms=60,
        tr_ms=4000,
        ti_ms=150,
        sequence="IR",
        frame_uid="1.2.3",
    )
    mr = read_mr_study(ImagingStudy(modality="MR", dicom_dir=tmp_path / "x"))
    assert [im.weighting for im in mr.images] == ["STIR"]


def test_series_of_two_frames_of_reference_are_not_registered(tmp_path: Path) -> None:
    write_mr_series(tmp_path / "x" / "a", "T2 SAG", te_ms=100, tr_ms=4000, frame_uid="1.2.3")
    write_mr_series(
        tmp_path / "x" / "b", "T2 TRA", te_ms=100, tr_ms=4000, frame_uid="1.2.4", plane=AXIAL
    )
    with pytest.raises(ImagingError, match="2 frames of reference"):
        read_mr_study(ImagingStudy(modality="MR", dicom_dir=tmp_path / "x"))


def _nifti(path: Path, spacing: tuple[float, float, float], value: float = 1.0) -> Path:
    arr = np.full((8, 9, 10), value, dtype=np.float32)
    return write_nifti(Volume(arr, np.diag([*spacing, 1.0]), "MR"), path)


def test_nifti_series_named_in_the_case_and_their_planes(tmp_path: Path) -> None:
    sag = _nifti(tmp_path / "sag_t2.nii.gz", (3.5, 0.7, 0.7))
    ax = _nifti(tmp_path / "ax_t2.nii.gz", (0.6, 0.6, 4.0))
    iso = _nifti(tmp_path / "iso_t1.nii.gz", (1.0, 1.0, 1.0))
    labels = np.zeros((8, 9, 10), np.int16)
    labels[2:6, 2:6, 1:4], labels[2:6, 2:6, 5:8] = 45, 44  # TotalSpineSeg L5 and L4
    label_path = write_nifti(
        Volume(labels, np.diag([3.5, 0.7, 0.7, 1.0]), "SEG"), tmp_path / "l.nii.gz"
    )
    study = ImagingStudy(
        modality="MR",
        series=[
            ImagingSeries(nifti=sag, weighting="T2"),
            ImagingSeries(nifti=ax, weighting="T2"),
            ImagingSeries(nifti=iso, weighting="T1"),
        ],
        label_map=label_path,
        label_convention="totalspineseg",
    )
    mr = read_mr_study(study)
    assert [im.plane for im in mr.images] == ["sagittal", "axial", "isotropic"]
    assert mr.labelled == 0 and mr.spine is not None and list(mr.spine.vertebrae) == ["L4", "L5"]
    assert mr.first("sagittal", "T1") is mr.images[2]  # an isotropic series serves every plane
    assert mr.images[1].extent_along(np.array([0.0, 0.0, 1.0])) == pytest.approx(4.0)
    off = write_nifti(Volume(labels, np.diag([2.0, 2.0, 2.0, 1.0]), "SEG"), tmp_path / "o.nii.gz")
    with pytest.raises(LabelMapError, match="is that of none of the study's series"):
        read_mr_study(study.model_copy(update={"label_map": off}))
    assert volume_plane(Volume(labels, np.diag([0.7, 4.0, 0.7, 1.0]), "SEG")) == "coronal"


def test_a_case_with_series_and_an_examination_validates() -> None:
    data = {
        "schema": "spinefuse/case@1",
        "id": "x",
        "patient": {"age_years": 50, "sex": "male", "height_cm": 180, "weight_kg": 80},
        "history": {},
        "examination": {"side": "left", "motor": {"left": {"L5": 4}}},
        "imaging": [
            {
                "modality": "MR",
                "series": [{"nifti": "a.nii.gz", "weighting": "T2"}, {"dicom_dir": "ax"}],
            }
        ],
    }
    case = case_from_dict(data, check_files=False, base_dir=Path("/data"))
    study = case.imaging[0]
    assert study.paths() == {
        "series.0.nifti": Path("/data/a.nii.gz"),
        "series.1.dicom_dir": Path("/data/ax"),
    }
    assert case.examination is not None and case.examination.motor["left"]["L5"] == 4


def test_the_real_total_mr_example_through_the_case(shared_data: Path) -> None:
    folder = shared_data / REAL
    data = {
        "schema": "spinefuse/case@1",
        "id": "real-mr",
        "patient": {"age_years": 50, "sex": "male", "height_cm": 180, "weight_kg": 80},
        "history": {},
        "imaging": [
            {
                "modality": "MR",
                "nifti": str(folder / "example_mr_sm.nii.gz"),
                "weighting": "T1",
                "label_map": str(folder / "example_seg_mr.nii.gz"),
                "label_convention": "totalseg_mr",
            }
        ],
        "segmentation": {"options": {"lowest_in_view": "L2"}},
    }
    images = read_images(case_from_dict(data))
    assert images.mr is not None and images.mr.spine is not None
    assert list(images.mr.spine.vertebrae) == ["L1", "L2"]
    assert images.modality == "MR" and images.labels is images.mr.spine.labels
    assert images.mr.images[0].plane == "isotropic" and images.mr.images[0].weighting == "T1"
    unnamed = {**data, "segmentation": {}}
    with pytest.raises(LabelMapError, match="lowest_in_view"):
        read_images(case_from_dict(unnamed))
