"""The built-in sample patient: a valid case whose files agree with each other."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from spinefuse.anatomy.geometry import SpineGeometry
from spinefuse.case import load_case
from spinefuse.imaging.xray_landmarks import read_xray_landmarks
from spinefuse.sample import SAMPLE_ID, write_sample_case


@pytest.fixture(scope="module")
def case_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sample_case(tmp_path_factory.mktemp("sample") / "case")


def test_sample_case_is_valid_and_complete(case_path: Path) -> None:
    case = load_case(case_path)
    assert case.id == SAMPLE_ID
    assert case.patient.age_years == 62 and case.patient.sex == "female"
    assert case.history.conservative_care_months == 9
    roles = sorted((s.modality, s.role) for s in case.imaging)
    assert roles == [
        ("CT", "preop"),
        ("MR", "preop"),
        ("XR", "extension"),
        ("XR", "flexion"),
        ("XR", "preop"),
        ("XR", "preop"),
    ]
    ct = case.study("CT")
    assert ct is not None and ct.nifti is not None and ct.label_map is not None
    img, lab = nib.load(ct.nifti), nib.load(ct.label_map)
    assert img.shape == lab.shape and np.allclose(img.affine, lab.affine)
    assert np.allclose(np.linalg.norm(img.affine[:3, :3], axis=0), [0.8, 0.8, 1.0])
    assert len(list((case_path.parent / "ct_dicom").glob("*.dcm"))) == img.shape[2]
    mr = case.study("MR")
    assert mr is not None and mr.label_map is not None and mr.label_convention == "totalspineseg"
    kinds = sorted((s.plane, s.weighting) for s in mr.series)
    assert kinds == [("axial", "T2")] * 5 + [("sagittal", "T1"), ("sagittal", "T2")]
    sag = nib.load(mr.series[0].nifti)  # the label map lies on the sagittal grid
    assert sag.shape == nib.load(mr.label_map).shape
    assert case.examination is not None and case.examination.motor["left"]["L5"] == 4


def test_dynamic_films_show_the_instability(case_path: Path) -> None:
    flex = read_xray_landmarks(case_path.parent / "xray_flexion.csv")
    ext = read_xray_landmarks(case_path.parent / "xray_extension.csv")
    assert (flex.role, ext.role) == ("flexion", "extension")

    def angle(lm: object) -> float:  # L4-L5 segmental angle from the endplate lines
        from spinefuse.imaging.xray_landmarks import XrayLandmarks

        assert isinstance(lm, XrayLandmarks)
        a = lm.point("L4", "inferior_anterior") - lm.point("L4", "inferior_posterior")
        b = lm.point("L5", "superior_anterior") - lm.point("L5", "superior_posterior")
        cross = b[0] * a[1] - b[1] * a[0]
        return float(np.degrees(np.arctan2(cross, a @ b)))

    assert abs(angle(flex) - angle(ext)) == pytest.approx(12.0, abs=0.01)


def test_ground_truth_has_grade_one_slip(case_path: Path) -> None:
    g = SpineGeometry.load(case_path.parent / "ground_truth_geometry.json")
    assert g.parameters["slip_percent_L4-L5"] == pytest.approx(18.0)
    canal = g.disc("L4-L5").canal
    assert canal is not None and canal.area_mm2 == pytest.approx(68.0)


def test_rewriting_replaces_the_sample(case_path: Path) -> None:
    stray = case_path.parent / "stray.txt"
    stray.write_text("old")
    again = write_sample_case(case_path.parent)
    assert again == case_path and not stray.exists()
    assert not [p for p in case_path.parent.parent.iterdir() if p.name.startswith(".")]
