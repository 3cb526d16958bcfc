"""NIfTI and DICOM export: geometry survives the round trip; nothing half-written is left."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

from spinefuse.anatomy.phantom import render_ct
from spinefuse.anatomy.template import VirtualPatientSpec, virtual_spine
from spinefuse.errors import ImagingError
from spinefuse.imaging.dicom import write_dicom_series
from spinefuse.imaging.nifti import write_nifti
from spinefuse.imaging.volume import Volume


def _dicom_affine_and_volume(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """An independent reading of the series (RAS affine, HU array indexed [col, row, slice])."""
    slices = [pydicom.dcmread(p) for p in sorted(folder.glob("*.dcm"))]
    iop = np.array(slices[0].ImageOrientationPatient, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    slices.sort(key=lambda d: float(np.dot(normal, np.array(d.ImagePositionPatient, float))))
    row_sp, col_sp = (float(v) for v in slices[0].PixelSpacing)
    p0 = np.array(slices[0].ImagePositionPatient, float)
    p1 = np.array(slices[1].ImagePositionPatient, float)
    lps = np.eye(4)
    lps[:3, 0], lps[:3, 1], lps[:3, 2], lps[:3, 3] = iop[:3] * col_sp, iop[3:] * row_sp, p1 - p0, p0
    ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps
    hu = np.stack(
        [d.pixel_array.T * float(d.RescaleSlope) + float(d.RescaleIntercept) for d in slices],
        axis=-1,
    )
    return ras, hu


@pytest.fixture(scope="module")
def ct() -> Volume:
    return render_ct(virtual_spine(VirtualPatientSpec()), (1.6, 1.4, 2.0), seed=0)[0]


def test_dicom_series_has_the_nifti_affine(ct: Volume, tmp_path: Path) -> None:
    nii = write_nifti(ct, tmp_path / "ct.nii.gz")
    folder = write_dicom_series(ct, tmp_path / "dicom")
    affine, hu = _dicom_affine_and_volume(folder)
    img = nib.load(nii)
    assert np.allclose(affine, img.affine, atol=1e-3)
    assert np.array_equal(hu, np.asarray(img.dataobj))
    assert len(list(folder.glob("*.dcm"))) == ct.shape[2]


def test_flipped_volume_round_trips(ct: Volume, tmp_path: Path) -> None:
    # a grid whose first two axes run right-to-left and anterior-to-posterior (as DICOM LPS)
    flip = np.diag([-1.0, -1.0, 1.0, 1.0])
    flip[:3, 3] = ct.affine[:3, :3] @ (np.array(ct.shape) - 1) * [1, 1, 0] + ct.affine[:3, 3] * [
        1,
        1,
        0,
    ]
    aff = ct.affine.copy()
    aff[:3, :2] = -ct.affine[:3, :2]
    aff[:2, 3] = ct.affine[:2, 3] + np.diag(ct.affine)[:2] * (np.array(ct.shape[:2]) - 1)
    lps = Volume(ct.array[::-1, ::-1, :].copy(), aff, "CT")
    folder = write_dicom_series(lps, tmp_path / "lps")
    affine, hu = _dicom_affine_and_volume(folder)
    assert np.allclose(affine, aff, atol=1e-3)
    assert np.array_equal(hu, lps.array)


def test_refusals_leave_nothing_behind(ct: Volume, tmp_path: Path) -> None:
    with pytest.raises(ImagingError, match=r"\.nii or \.nii\.gz"):
        write_nifti(ct, tmp_path / "ct.img")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x").write_text("x")
    with pytest.raises(ImagingError, match="not empty"):
        write_dicom_series(ct, busy)
    seg = Volume(np.zeros((2, 2, 2), np.uint8), np.eye(4), "SEG")
    with pytest.raises(ImagingError, match="only CT"):
        write_dicom_series(seg, tmp_path / "seg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy"]
