from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom import dcmread

from spinefuse.imaging.deidentify import deidentify, deidentify_series, replacement_uid
from spinefuse.imaging.dicom import read_dicom_series

from .dicom_series import write_series


def test_basic_profile_blanks_identifiers_and_keeps_geometry(tmp_path: Path) -> None:
    src = tmp_path / "src"
    paths = write_series(src, np.zeros((3, 4, 5), np.int16))
    before = dcmread(paths[0])
    ds = deidentify(dcmread(paths[0]))
    assert str(ds.PatientName) == "ANONYMOUS" and ds.PatientID == "ANONYMOUS"
    assert ds.PatientBirthDate == "" and ds.ReferringPhysicianName == ""
    for gone in ("InstitutionName", "AccessionNumber"):
        assert not ds.get(gone)
    assert (0x0029, 0x1010) not in ds  # private tags removed
    assert ds.PatientIdentityRemoved == "YES"
    assert ds.SeriesInstanceUID == replacement_uid(before.SeriesInstanceUID)
    assert ds.SeriesInstanceUID != before.SeriesInstanceUID and len(ds.SeriesInstanceUID) <= 64
    for kept in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing"):
        assert list(ds.get(kept)) == list(before.get(kept))
    assert ds.RescaleIntercept == before.RescaleIntercept


def test_deidentified_copy_reads_to_the_same_volume(tmp_path: Path) -> None:
    vals = np.random.default_rng(1).integers(0, 3000, size=(4, 6, 5)).astype(np.int16)
    write_series(tmp_path / "src", vals)
    out = deidentify_series(tmp_path / "src", tmp_path / "anon")
    original = read_dicom_series(tmp_path / "src", anonymise=False)
    copy = read_dicom_series(out, anonymise=False)
    assert copy.same_grid(original)
    np.testing.assert_array_equal(copy.array, original.array)
    for path in out.iterdir():
        text = path.read_bytes()
        assert b"Doe^Jane" not in text and b"MRN-123456" not in text and b"19610203" not in text
