"""NIfTI images in and out: any stored orientation becomes a :class:`Volume` in RAS axis order."""

from __future__ import annotations

import gzip
import io
import struct
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel.filebasedimages import ImageFileError
from nibabel.spatialimages import HeaderDataError

from spinefuse.datafiles import quoted_text
from spinefuse.errors import ImagingError
from spinefuse.imaging.orientation import to_ras
from spinefuse.imaging.volume import (
    MAX_IMAGE_BYTES,
    Modality,
    Volume,
    check_ct_values,
    check_finite,
    check_grid,
    check_label_values,
)
from spinefuse.records import write_atomic

MAX_HEADER_BYTES = 16 * 1024**2
"""Largest header with its extensions (``vox_offset``)."""
TRAILING_SLACK_BYTES = 1024**2
"""Bytes a gzip stream may hold beyond the declared voxels before it is taken for a bomb."""


def read_nifti(
    path: str | Path, modality: Modality = "CT", allow_unknown_orientation: bool = False
) -> Volume:
    """Read a NIfTI-1/2 image (``.nii`` or ``.nii.gz``) as a Volume in RAS axis order.

    The affine is nibabel's best one (sform, else qform). CT intensities come out as float32
    Hounsfield units after the header's scaling; label maps (``modality="SEG"``) keep their
    integer IDs. A 4-D file is accepted only when it holds a single volume.

    The file is checked before and after reading: the declared size against
    :data:`MAX_IMAGE_BYTES` (before allocating), the whole gzip stream with its CRC and length,
    a header with neither sform nor qform (left and right unknown: refused unless
    ``allow_unknown_orientation``), the voxel grid (:func:`~spinefuse.imaging.volume.check_grid`)
    and the values (:func:`~spinefuse.imaging.volume.check_ct_values` for CT, label checks for
    SEG)."""
    path = Path(path)
    if path.is_dir():
        raise ImagingError(f"{path}: is a folder; give a .nii or .nii.gz file (or use dicom_dir)")
    if not path.is_file():
        raise ImagingError(f"{path}: no such NIfTI file")
    try:
        return _read(path, modality, allow_unknown_orientation)
    except MemoryError:
        raise ImagingError(
            f"{path}: not enough memory to read this image ({path.stat().st_size / 2**20:.0f} MiB "
            "on disk); free memory, or crop or downsample the image"
        ) from None


def _read(path: Path, modality: Modality, allow_unknown_orientation: bool) -> Volume:
    raw = _verified_bytes(path)
    try:
        klass = nib.Nifti2Image if _header_kind(raw[:4])[0] == 2 else nib.Nifti1Image
        img = klass.from_bytes(raw)
        data = np.asanyarray(img.dataobj)
    except (
        ImageFileError,
        HeaderDataError,
        OSError,
        EOFError,
        zlib.error,
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        OverflowError,
        struct.error,
    ) as err:
        raise ImagingError(
            f"{path}: not a readable NIfTI image ({quoted_text(str(err))}); check that the file "
            "is complete and is .nii or .nii.gz"
        ) from None
    del raw
    header = img.header
    if int(header["sform_code"]) == 0 and int(header["qform_code"]) == 0:
        if not allow_unknown_orientation:
            raise ImagingError(
                f"{path}: neither sform nor qform is set (both codes 0), so left and right are "
                "unknown and could be swapped; re-export the image with its orientation (e.g. "
                "dcm2niix), or confirm the orientation in the case file"
            )
    if data.dtype.fields is not None or np.iscomplexobj(data):
        raise ImagingError(
            f"{path}: an RGB, vector or complex image (data type {data.dtype}); give the grey-"
            "value scan"
        )
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise ImagingError(
            f"{path}: image has shape {data.shape}; spinefuse reads one 3-D grey-value volume "
            "per file (split 4-D series first; a 5-D file is a vector or RGB image)"
        )
    affine = np.asarray(img.affine, dtype=float)
    if not np.all(np.isfinite(affine)) or abs(np.linalg.det(affine[:3, :3])) < 1e-9:
        raise ImagingError(
            f"{path}: header affine (sform/qform) is missing or singular; fix the header"
        )
    check_grid(affine, data.shape, str(path))
    if modality == "SEG":
        check_label_values(data, str(path))
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
        if modality == "CT":
            check_ct_values(array, str(path))
        else:
            check_finite(array, str(path))
    volume = Volume(array=array, affine=affine, modality=modality, source=str(path))
    return to_ras(volume)


def _header_kind(head: bytes) -> tuple[int, bool]:
    """(1 or 2, whether the single-file magic is there) of a NIfTI header, or (0, False)."""
    for order in ("<", ">"):
        if len(head) >= 4:
            size = struct.unpack(f"{order}i", head[:4])[0]
            if size == 348:
                return 1, head[344:348] == b"n+1\x00"
            if size == 540:
                return 2, head[4:8] == b"n+2\x00"
    return 0, False


def _declared_bytes(path: Path, head: bytes) -> int:
    """Header, extensions and voxels that the header says the file holds (bytes)."""
    kind, magic = _header_kind(head)
    if kind == 0:
        raise ImagingError(
            f"{path}: not a NIfTI-1 or NIfTI-2 header (sizeof_hdr is neither 348 nor 540); "
            "check that the file is a .nii or .nii.gz image"
        )
    size = 348 if kind == 1 else 540
    if len(head) < size:
        raise ImagingError(f"{path}: incomplete: the file ends inside the {size}-byte header")
    if not magic:
        raise ImagingError(
            f"{path}: the header of a .hdr/.img pair (or a damaged magic string); convert it "
            "to a single .nii.gz"
        )
    try:
        klass = nib.Nifti1Header if kind == 1 else nib.Nifti2Header
        header = klass.from_fileobj(io.BytesIO(head[:size]), check=False)
        dims = header["dim"]
        ndim = int(dims[0])
        if not 1 <= ndim <= 7:
            raise ValueError(f"dim[0] = {ndim}")
        shape = [int(d) for d in dims[1 : ndim + 1]]
        if any(d < 0 for d in shape):
            raise ValueError(f"dimensions {shape}")
        itemsize = header.get_data_dtype().itemsize
        if itemsize < 1:
            raise ValueError(f"data type code {int(header['datatype'])} holds no voxel values")
        offset = int(header["vox_offset"])
    except (
        ValueError,
        TypeError,
        KeyError,
        OverflowError,
        HeaderDataError,
    ) as err:
        raise ImagingError(
            f"{path}: the NIfTI header is damaged ({quoted_text(str(err))}); re-export the image"
        ) from None
    voxels = int(np.prod(shape, dtype=object))
    if voxels == 0:
        raise ImagingError(f"{path}: the header declares no voxels (dimensions {shape})")
    nbytes = voxels * itemsize
    if nbytes > MAX_IMAGE_BYTES:
        raise ImagingError(
            f"{path}: the header declares {nbytes / 1024**3:.1f} GiB of voxels (dimensions "
            f"{shape}), over the limit of {MAX_IMAGE_BYTES / 1024**3:.0f} GiB: a damaged header, "
            "or crop/downsample the image first"
        )
    if not size <= offset <= MAX_HEADER_BYTES:
        raise ImagingError(
            f"{path}: the header puts the voxels at byte {offset} (vox_offset); a damaged header"
        )
    return int(offset + nbytes)


def _verified_bytes(path: Path) -> bytes:
    """The file's (decompressed) bytes, read no further than the header declares: a gzip stream
    is inflated to its end so that its CRC-32 and length are checked, and refused when it holds
    more than the declared data (a decompression bomb)."""
    with path.open("rb") as fh:
        gzipped = fh.read(2) == b"\x1f\x8b"
    try:
        if not gzipped:
            with path.open("rb") as fh:
                head = fh.read(540)
                expected = _declared_bytes(path, head)
                size = path.stat().st_size
                if size < expected:
                    raise ImagingError(
                        f"{path}: incomplete: {size} bytes, but {expected} bytes of voxels "
                        "declared (header and data); copy the whole file again"
                    )
                return head[:expected] + fh.read(max(0, expected - len(head)))
        with gzip.open(path, "rb") as gz:
            head = gz.read(540)
        expected = _declared_bytes(path, head)
        with gzip.open(path, "rb") as gz:
            data = gz.read(expected)
            if len(data) < expected:
                raise ImagingError(
                    f"{path}: incomplete: the gzip stream ends after {len(data)} of {expected} "
                    "bytes declared; copy the whole file again"
                )
            extra = 0
            while chunk := gz.read(256 * 1024):  # reading to the end checks CRC and length
                extra += len(chunk)
                if extra > TRAILING_SLACK_BYTES:
                    raise ImagingError(
                        f"{path}: the gzip stream holds more data than its header declares "
                        f"({expected} bytes): a damaged file or a decompression bomb"
                    )
        return data
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        raise ImagingError(
            f"{path}: not a readable NIfTI image: the gzip stream is damaged or incomplete "
            f"({quoted_text(str(err))}), so the voxels cannot be trusted; copy or export the "
            "file again"
        ) from None
    except OSError as err:
        raise ImagingError(f"{path}: cannot be read ({err.strerror or err})") from None


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
