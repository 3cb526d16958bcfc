from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.encaps import encapsulate

from spinefuse.errors import ImagingError
from spinefuse.imaging import dicom
from spinefuse.imaging.dicom import read_dicom_series
from spinefuse.imaging.nifti import read_nifti

from .dicom_series import write_series


def _values(n: int = 5, rows: int = 6, cols: int = 7) -> np.ndarray:
    return np.arange(n * rows * cols, dtype=np.int16).reshape(n, rows, cols)


def test_totalsegmentator_dicom_matches_its_nifti_label_map(shared_data: Path) -> None:
    folder = shared_data / "ct/totalsegmentator_example"
    ct = read_dicom_series(folder / "dicom")
    seg = read_nifti(folder / "example_seg_dicom.nii.gz", modality="SEG")
    assert ct.shape == seg.shape == (512, 512, 20)
    np.testing.assert_allclose(ct.spacing, [0.9765625, 0.9765625, 2.0], atol=1e-6)
    assert np.abs(ct.affine - seg.affine).max() < 1e-3
    # the pixels sit where the labels say: vertebrae (T12, T11) are bone, not soft tissue
    bone = np.isin(seg.array, [32, 33])
    assert float(np.median(ct.array[bone])) > 150.0
    assert float(np.median(ct.array[seg.array == 0])) < 0.0
    assert ct.meta["PatientIdentityRemoved"] == "YES"


def test_sorting_rescale_and_lps_to_ras(tmp_path: Path) -> None:
    vals = _values()
    write_series(tmp_path, vals, slope=2.0, intercept=-1000.0)
    vol = read_dicom_series(tmp_path)
    # LPS origin (-100, -80, 30) is RAS (100, 80, 30); columns run to +x LPS = Left
    np.testing.assert_allclose(vol.spacing, [0.8, 0.7, 2.0])
    assert vol.array.dtype == np.float32
    # reordered to RAS: axis 0 runs Right (was column index reversed), axis 1 Anterior
    np.testing.assert_allclose(np.diag(vol.affine)[:3], [0.8, 0.7, 2.0])
    i, j, k = 6, 5, 0  # last column, last row of the first slice
    world = vol.voxel_to_world(np.array([0.0, 0.0, 0.0]))
    np.testing.assert_allclose(world, [100.0 - 0.8 * i, 80.0 - 0.7 * j, 30.0])
    assert vol.array[0, 0, 0] == pytest.approx(2.0 * vals[k, j, i] - 1000.0)
    assert vol.array[6, 5, 4] == pytest.approx(2.0 * vals[4, 0, 0] - 1000.0)


def test_sagittal_series_reads_to_ras(tmp_path: Path) -> None:
    write_series(tmp_path, _values(), row_dir=(0, 1, 0), col_dir=(0, 0, -1))
    vol = read_dicom_series(tmp_path)
    assert vol.shape == (5, 7, 6)  # slices now run along x (R), columns along y, rows along z
    assert np.all(np.diag(vol.affine)[:3] > 0)


def test_two_series_in_one_folder_are_refused(tmp_path: Path) -> None:
    write_series(tmp_path, _values(), name_prefix="a")
    write_series(tmp_path, _values(), name_prefix="b")
    with pytest.raises(ImagingError, match="holds 2 series"):
        read_dicom_series(tmp_path)


def test_missing_slice_is_refused(tmp_path: Path) -> None:
    paths = write_series(tmp_path, _values(6))
    paths[3].unlink()
    with pytest.raises(ImagingError, match="about 1 missing slice"):
        read_dicom_series(tmp_path)


def test_uneven_spacing_is_refused(tmp_path: Path) -> None:
    pos = [(-100.0, -80.0, z) for z in (0.0, 2.0, 4.0, 5.0, 7.0)]
    write_series(tmp_path, _values(), positions=pos)
    with pytest.raises(ImagingError, match="uneven slice spacing"):
        read_dicom_series(tmp_path)


def test_gantry_tilt_is_refused(tmp_path: Path) -> None:
    shear = np.tan(np.radians(15.0)) * 2.0
    pos = [(-100.0, -80.0 + shear * k, 2.0 * k) for k in range(5)]
    write_series(tmp_path, _values(), positions=pos, tilt_deg=15.0)
    with pytest.raises(ImagingError, match=r"gantry tilt of 15\.00°"):
        read_dicom_series(tmp_path)


def test_unsupported_modality_is_refused(tmp_path: Path) -> None:
    write_series(tmp_path, _values(), modality="US")
    with pytest.raises(ImagingError, match="Modality .* 'US'"):
        read_dicom_series(tmp_path)


def test_compressed_syntax_without_decoder_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = write_series(tmp_path, _values())
    for p in paths:  # relabel as JPEG-LS lossless; the decoder check comes before decoding
        ds = dcmread(p)
        ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.80"
        ds.PixelData = encapsulate([b"\xff\xd8not-really-jpeg-ls\xff\xd9"])
        ds.save_as(p)
    monkeypatch.setattr(dicom, "decoder_available", lambda ts: False)
    with pytest.raises(ImagingError, match="JPEG-LS Lossless .* no installed decoder"):
        read_dicom_series(tmp_path)


def test_corrupt_and_empty_folders(tmp_path: Path) -> None:
    with pytest.raises(ImagingError, match="no such DICOM folder"):
        read_dicom_series(tmp_path / "absent")
    (tmp_path / "notes.txt").write_text("not dicom")
    with pytest.raises(ImagingError, match="no DICOM image files"):
        read_dicom_series(tmp_path)
