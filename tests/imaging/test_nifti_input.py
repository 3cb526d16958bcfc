"""NIfTI files that are not what they claim: each stops with an ImagingError naming the fix."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from spinefuse.errors import ImagingError
from spinefuse.imaging.nifti import read_nifti, write_nifti
from spinefuse.imaging.volume import Volume

from ..fuzz.corpus import ct_like
from ..fuzz.sandbox import run_cases

AFFINE = np.diag([0.8, 0.8, 2.0, 1.0])


def _save(tmp_path: Path, data: np.ndarray, name: str = "ct.nii.gz", **header: int) -> Path:
    img = nib.Nifti1Image(data, AFFINE)
    img.set_qform(AFFINE, code=1)
    for key, value in header.items():
        img.header[key] = value
    path = tmp_path / name
    nib.save(img, path)
    return path


def test_a_ct_like_image_reads(tmp_path: Path) -> None:
    vol = read_nifti(_save(tmp_path, ct_like()))
    assert vol.shape == (40, 40, 24)
    assert float(vol.array.min()) < -900 and float(vol.array.max()) > 500


def test_a_failed_gzip_crc_stops(tmp_path: Path) -> None:
    path = _save(tmp_path, ct_like())
    raw = bytearray(path.read_bytes())
    raw[-8] ^= 0xFF  # the CRC-32 of the gzip trailer
    path.write_bytes(bytes(raw))
    with pytest.raises(ImagingError, match="damaged or incomplete.*CRC check failed"):
        read_nifti(path)


def test_a_damaged_gzip_stream_stops(tmp_path: Path) -> None:
    path = _save(tmp_path, ct_like())
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x10  # one flipped bit inside the deflate stream
    path.write_bytes(bytes(raw))
    with pytest.raises(ImagingError, match="damaged"):
        read_nifti(path)


def test_a_truncated_file_stops(tmp_path: Path) -> None:
    path = _save(tmp_path, ct_like())
    path.write_bytes(path.read_bytes()[:-500])
    with pytest.raises(ImagingError, match="damaged|incomplete"):
        read_nifti(path)
    plain = _save(tmp_path, ct_like(), "ct.nii")
    plain.write_bytes(plain.read_bytes()[:-500])
    with pytest.raises(ImagingError, match="incomplete: .* bytes of voxels declared"):
        read_nifti(plain)


def _header_only(dims: tuple[int, ...], datatype: int = 16, bitpix: int = 32) -> bytes:
    hdr = nib.Nifti1Header()
    hdr.set_data_dtype(np.float32)
    hdr["dim"] = [len(dims), *dims, *([1] * (7 - len(dims)))]
    hdr["datatype"], hdr["bitpix"] = datatype, bitpix
    hdr["pixdim"] = [1, 1, 1, 1, 1, 1, 1, 1]
    hdr.set_sform(np.eye(4), code=1)
    hdr["vox_offset"] = 352
    return hdr.binaryblock + b"\x00" * 4


def test_a_header_bomb_is_refused_before_allocating(tmp_path: Path) -> None:
    path = tmp_path / "bomb.nii.gz"
    path.write_bytes(gzip.compress(_header_only((2048, 2048, 1024)), 9))
    assert path.stat().st_size < 200
    out = run_cases(
        [{"id": "bomb", "reader": "nifti", "path": str(path)}], memory_mb=1536, seconds=20
    )["bomb"]
    assert out["outcome"] == "error", out
    assert "declares 16.0 GiB of voxels" in out["message"]
    assert out["seconds"] < 5


def test_a_gzip_bomb_is_refused_without_inflating_it(tmp_path: Path) -> None:
    path = tmp_path / "zip-bomb.nii.gz"
    with gzip.open(path, "wb", compresslevel=9) as fh:
        fh.write(_header_only((16, 16, 16)))
        fh.write(np.zeros(16**3, np.float32).tobytes())
        zeros = bytes(64 * 1024 * 1024)
        for _ in range(4):  # 256 MiB of zeros after the voxels the header declares
            fh.write(zeros)
    assert path.stat().st_size < 1024 * 1024
    out = run_cases(
        [{"id": "zip", "reader": "nifti", "path": str(path)}], memory_mb=1536, seconds=30
    )["zip"]
    assert out["outcome"] == "error", out
    assert "more data than its header declares" in out["message"]


def test_a_label_map_given_as_the_ct(tmp_path: Path) -> None:
    labels = np.zeros((40, 40, 24), np.int16)
    labels[15:25, 15:25, 2:7], labels[15:25, 15:25, 8:14] = 22, 23
    labels[15:25, 15:25, 15:21] = 24
    with pytest.raises(ImagingError, match="looks like a label map.*values 0, 22, 23, 24"):
        read_nifti(_save(tmp_path, labels))
    assert read_nifti(_save(tmp_path, labels, "seg.nii.gz"), modality="SEG").shape == (40, 40, 24)


@pytest.mark.parametrize(
    ("transform", "message"),
    [
        (lambda a: a.astype(np.float32) * 1000, r"outside -3100…4000 HU"),
        (lambda a: np.full_like(a, -1000), "no tissue: .*all air"),
        (lambda a: (a.astype(np.float32) + 1000) / 1000 - 1, r"span only .* HU"),
        (lambda a: (a.astype(np.float32) + 1024).clip(0), r"without the rescale intercept"),
    ],
)
def test_values_that_are_not_hounsfield_units(
    tmp_path: Path, transform: object, message: str
) -> None:
    data = transform(ct_like())  # type: ignore[operator]
    with pytest.raises(ImagingError, match=message):
        read_nifti(_save(tmp_path, data))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values(tmp_path: Path, bad: float) -> None:
    data = ct_like().astype(np.float32)
    data[3, 4, 5] = bad
    with pytest.raises(ImagingError, match="1 voxel is not a finite number"):
        read_nifti(_save(tmp_path, data))
    with pytest.raises(ImagingError, match="not a finite number"):
        read_nifti(_save(tmp_path, data, "seg.nii.gz"), modality="SEG")


def test_rgb_and_vector_images(tmp_path: Path) -> None:
    rgb = np.zeros((8, 8, 8), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    with pytest.raises(ImagingError, match="RGB"):
        read_nifti(_save(tmp_path, rgb))
    vec = np.zeros((8, 8, 8, 1, 3), np.float32)
    with pytest.raises(ImagingError, match=r"shape \(8, 8, 8, 1, 3\).*vector"):
        read_nifti(_save(tmp_path, vec))


def test_no_sform_and_no_qform(tmp_path: Path) -> None:
    img = nib.Nifti1Image(ct_like(), None)
    assert img.header["sform_code"] == 0 and img.header["qform_code"] == 0
    nib.save(img, tmp_path / "bare.nii.gz")
    with pytest.raises(ImagingError, match="neither sform nor qform.*left and right"):
        read_nifti(tmp_path / "bare.nii.gz")
    vol = read_nifti(tmp_path / "bare.nii.gz", allow_unknown_orientation=True)
    assert vol.shape == (40, 40, 24)


@pytest.mark.parametrize(
    ("diag", "message"),
    [
        ((0.008, 0.008, 0.02), r"voxel size 0.008 × 0.008 × 0.02 mm.*0.1–10 mm"),
        ((8.0, 8.0, 20.0), r"voxel size 8 × 8 × 20 mm"),
    ],
)
def test_implausible_voxel_sizes(
    tmp_path: Path, diag: tuple[float, float, float], message: str
) -> None:
    img = nib.Nifti1Image(ct_like(), np.diag([*diag, 1.0]))
    nib.save(img, tmp_path / "v.nii.gz")
    with pytest.raises(ImagingError, match=message):
        read_nifti(tmp_path / "v.nii.gz")


def test_sheared_and_single_slice_grids(tmp_path: Path) -> None:
    aff = AFFINE.copy()
    aff[1, 2] = 2.0 * np.tan(np.radians(15))  # slices shifted along y: a tilted gantry
    nib.save(nib.Nifti1Image(ct_like(), aff), tmp_path / "shear.nii.gz")
    with pytest.raises(ImagingError, match=r"axes are not perpendicular \(15.0° off\)"):
        read_nifti(tmp_path / "shear.nii.gz")
    nib.save(nib.Nifti1Image(ct_like((64, 64, 1)), AFFINE), tmp_path / "one.nii.gz")
    with pytest.raises(ImagingError, match="1 voxel along axis 2"):
        read_nifti(tmp_path / "one.nii.gz")


def test_a_ct_given_as_the_label_map(tmp_path: Path) -> None:
    with pytest.raises(ImagingError, match="looks like an image, not a label map"):
        read_nifti(_save(tmp_path, ct_like()), modality="SEG")


def test_negative_and_huge_label_ids(tmp_path: Path) -> None:
    labels = np.zeros((20, 20, 10), np.int32)
    labels[5:10, 5:10, 2:5] = -3
    with pytest.raises(ImagingError, match="negative label IDs"):
        read_nifti(_save(tmp_path, labels), modality="SEG")
    big = np.zeros((20, 20, 10), np.float64)
    big[5:10, 5:10, 2:5] = 1e12
    with pytest.raises(ImagingError, match="label IDs above"):
        read_nifti(_save(tmp_path, big), modality="SEG")


def test_not_nifti_at_all(tmp_path: Path) -> None:
    (tmp_path / "notes.nii.gz").write_bytes(gzip.compress(b"hello " * 100))
    with pytest.raises(ImagingError, match="not a NIfTI-1 or NIfTI-2 header"):
        read_nifti(tmp_path / "notes.nii.gz")
    (tmp_path / "tiny.nii").write_bytes(struct.pack("<i", 348) + b"\0" * 200)
    with pytest.raises(ImagingError, match="incomplete"):
        read_nifti(tmp_path / "tiny.nii")


def test_the_writer_round_trip_still_holds(tmp_path: Path) -> None:
    vol = Volume(ct_like().astype(np.float32), AFFINE)
    back = read_nifti(write_nifti(vol, tmp_path / "w.nii.gz"))
    np.testing.assert_array_equal(back.array, vol.array)
