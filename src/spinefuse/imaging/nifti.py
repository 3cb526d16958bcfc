"""NIfTI images in and out: any stored orientation becomes a :class:`Volume` in RAS axis order."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel.filebasedimages import ImageFileError

from spinefuse.errors import ImagingError
from spinefuse.imaging.orientation import to_ras
from spinefuse.imaging.volume import Modality, Volume
from spinefuse.records import write_atomic


def read_nifti(path: str | Path, modality: Modality = "CT") -> Volume:
    """Read a NIfTI-1/2 image (``.nii`` or ``.nii.gz``) as a Volume in RAS axis order.

    The affine is nibabel's best one (sform, else qform). CT intensities come out as float32
    Hounsfield units after the header's scaling; label maps (``modality="SEG"``) keep their
    integer IDs. A 4-D file is accepted only when it holds a single volume."""
    path = Path(path)
    if not path.is_file():
        raise ImagingError(f"{path}: no such NIfTI file")
    try:
        img = nib.load(str(path))
        data = np.asanyarray(img.dataobj)
    except (ImageFileError, OSError, EOFError, zlib.error, ValueError) as err:
        raise ImagingError(
            f"{path}: not a readable NIfTI image ({err}); check that the file is complete and "
            "is .nii or .nii.gz"
        ) from None
    if not isinstance(img, nib.Nifti1Image | nib.Nifti2Image):
        raise ImagingError(f"{path}: a {type(img).__name__}, not NIfTI; convert it to .nii.gz")
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise ImagingError(
            f"{path}: image has shape {data.shape}; spinefuse reads one 3-D volume per file "
            "(split 4-D series first)"
        )
    affine = np.asarray(img.affine, dtype=float)
    if not np.all(np.isfinite(affine)) or abs(np.linalg.det(affine[:3, :3])) < 1e-9:
        raise ImagingError(
            f"{path}: header affine (sform/qform) is missing or singular; fix the header"
        )
    if modality == "SEG":
        if np.issubdtype(data.dtype, np.floating):
            rounded = np.rint(data)
            if not np.array_equal(rounded, data):
                raise ImagingError(
                    f"{path}: label map holds non-integer values; give the label file, not an image"
                )
            data = rounded
        array = data.astype(np.int32, copy=False)
    else:
        array = data.astype(np.float32, copy=False)
    volume = Volume(array=array, affine=affine, modality=modality, source=str(path))
    return to_ras(volume)


def write_nifti(volume: Volume, path: str | Path) -> Path:
    """Write a Volume as NIfTI-1 (``.nii``, or gzip for ``.nii.gz``) atomically. Integer images
    (CT in HU, label maps) keep their integer type; others are written as float32. The affine
    goes to both sform and qform (code 1, scanner)."""
    path = Path(path)
    if not path.name.endswith((".nii", ".nii.gz")):
        raise ImagingError(f"{path}: a NIfTI file name must end in .nii or .nii.gz")
    arr = volume.array
    if volume.modality == "SEG":
        arr = arr.astype(np.int16 if np.max(np.abs(arr), initial=0) < 32768 else np.int32)
    elif not np.issubdtype(arr.dtype, np.integer):
        arr = arr.astype(np.float32)
    img = nib.Nifti1Image(arr, volume.affine)
    img.header.set_xyzt_units("mm")
    img.set_sform(volume.affine, code=1)
    img.set_qform(volume.affine, code=1)
    raw = img.to_bytes()
    if path.name.endswith(".gz"):
        raw = gzip.compress(raw, compresslevel=1)
    return write_atomic(path, raw)
