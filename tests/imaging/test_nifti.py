from __future__ import annotations

import itertools
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from spinefuse.errors import ImagingError
from spinefuse.imaging.nifti import read_nifti, write_nifti
from spinefuse.imaging.orientation import axis_codes, reorient
from spinefuse.imaging.volume import Volume


def _volume() -> Volume:
    arr = np.random.default_rng(0).integers(-1000, 2000, size=(4, 5, 6)).astype(np.float32)
    aff = np.diag([0.8, 0.9, 2.5, 1.0])
    aff[:3, 3] = (-10.0, 20.0, 30.0)
    return Volume(array=arr, affine=aff)


@pytest.mark.parametrize(
    ("perm", "flips"),
    [(p, f) for p in itertools.permutations(range(3)) for f in [(True, False, True)]]
    + [((0, 1, 2), f) for f in itertools.product([False, True], repeat=3)],
)
def test_any_stored_orientation_reads_back_to_ras(
    tmp_path: Path, perm: tuple[int, int, int], flips: tuple[bool, bool, bool]
) -> None:
    ras = _volume()
    stored = reorient(ras, perm, flips)
    # the same world point holds the same value whatever the storage order
    ijk = np.array([1.0, 2.0, 3.0])
    world = ras.voxel_to_world(ijk)
    back_ijk = np.rint(stored.world_to_voxel(world)).astype(int)
    assert stored.array[tuple(back_ijk)] == ras.array[1, 2, 3]
    vol = read_nifti(write_nifti(stored, tmp_path / "x.nii.gz"))
    assert axis_codes(vol.affine) == ("R", "A", "S")
    np.testing.assert_allclose(vol.affine, ras.affine, atol=1e-5)
    np.testing.assert_array_equal(vol.array, ras.array)


def test_real_pir_file_becomes_ras(shared_data: Path) -> None:
    path = shared_data / "ct/tptbox_l2_l4/sub-ct_label-22_ct.nii.gz"
    raw = nib.load(str(path))
    assert nib.aff2axcodes(raw.affine) == ("P", "I", "R")
    vol = read_nifti(path)
    assert axis_codes(vol.affine) == ("R", "A", "S")
    assert vol.shape == (73, 73, 47)
    # voxel (0,0,0) of the stored file is the same world point as its RAS-ordered twin
    src = np.asarray(raw.dataobj)
    corner = raw.affine @ np.array([0, 0, 0, 1.0])
    ijk = np.rint(vol.world_to_voxel(corner[:3])).astype(int)
    assert vol.array[tuple(ijk)] == src[0, 0, 0]


def test_label_map_keeps_integer_ids(shared_data: Path) -> None:
    seg = read_nifti(shared_data / "ct/verse_sample/sub-verse004_seg-vert_msk.nii.gz", "SEG")
    assert seg.array.dtype == np.int32
    assert set(np.unique(seg.array)) == {0, *range(16, 25)}


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ImagingError, match="no such NIfTI file"):
        read_nifti(tmp_path / "absent.nii.gz")
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(ImagingError, match="not a readable NIfTI"):
        read_nifti(bad)
    four = tmp_path / "four.nii"
    nib.save(nib.Nifti1Image(np.zeros((2, 2, 2, 3), np.float32), np.eye(4)), four)
    with pytest.raises(ImagingError, match=r"shape \(2, 2, 2, 3\)"):
        read_nifti(four)
    frac = tmp_path / "frac.nii"
    nib.save(nib.Nifti1Image(np.full((2, 2, 2), 0.5, np.float32), np.eye(4)), frac)
    with pytest.raises(ImagingError, match="non-integer"):
        read_nifti(frac, modality="SEG")
