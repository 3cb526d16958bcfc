"""DICOM series in and out: a folder of single-frame CT or MR slices <-> a :class:`Volume` (RAS).

Slices are sorted by their position along the slice normal (not by file name or instance
number), the rescale slope and intercept turn stored values into Hounsfield units, and the
affine comes from the geometry tags (Image Position/Orientation (Patient), Pixel Spacing)
converted from DICOM's LPS to RAS. Anything that would make the volume wrong stops with an
:class:`~spinefuse.errors.ImagingError` naming the folder, the tag and what to do: several series
in one folder, missing slices or uneven spacing, gantry tilt, an unsupported modality, a
compressed transfer syntax without an installed decoder.

A series is written (:func:`write_dicom_series`) slice by slice into a temporary folder that is
renamed into place when complete, so a reader never sees half a series.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import shutil
import struct
import tempfile
import zlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    CTImageStorage,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    generate_uid,
)

from spinefuse.errors import ImagingError
from spinefuse.imaging.deidentify import deidentify, quiet_header_values
from spinefuse.imaging.orientation import to_ras
from spinefuse.imaging.volume import MAX_IMAGE_BYTES, Volume, check_ct_values, check_grid
from spinefuse.records import apply_umask

SUPPORTED_MODALITIES = ("CT", "MR")
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
SPACING_TOLERANCE = 0.02
"""Largest relative deviation of one slice gap from the median gap before the series is refused."""
TILT_TOLERANCE_DEG = 0.05
MAX_SLICE_BYTES = 256 * 1024**2
"""Largest single file (after inflating a deflated transfer syntax) read as one slice."""
IMAGE_SOP_CLASSES = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.2",  # CT Image Storage
        "1.2.840.10008.5.1.4.1.1.2.1",  # Enhanced CT Image Storage
        "1.2.840.10008.5.1.4.1.1.4",  # MR Image Storage
        "1.2.840.10008.5.1.4.1.1.4.1",  # Enhanced MR Image Storage
    }
)
TAG_NAMES = {
    "ImagePositionPatient": "Image Position (Patient) (0020,0032)",
    "ImageOrientationPatient": "Image Orientation (Patient) (0020,0037)",
    "PixelSpacing": "Pixel Spacing (0028,0030)",
    "RescaleSlope": "Rescale Slope (0028,1053)",
    "RescaleIntercept": "Rescale Intercept (0028,1052)",
    "Rows": "Rows (0028,0010)",
    "Columns": "Columns (0028,0011)",
    "SamplesPerPixel": "Samples per Pixel (0028,0002)",
    "GantryDetectorTilt": "Gantry/Detector Tilt (0018,1120)",
}


@dataclass(frozen=True)
class _Slice:
    path: Path
    ds: Dataset
    position: NDArray[np.float64]  # LPS mm


def _rounded(value: object) -> str:
    try:
        return str(tuple(round(float(v), 4) for v in value or []))  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        return str(value)  # a malformed value: the geometry checks name it


def _series_key(ds: Dataset) -> tuple[str, ...]:
    """What tells series apart: the UID, and where it is blank, the geometry and acquisition."""
    return (
        str(ds.get("SeriesInstanceUID", "") or ""),
        str(ds.get("Modality", "") or ""),
        str(ds.get("FrameOfReferenceUID", "") or ""),
        str(ds.get("SeriesNumber", "") or ""),
        str(ds.get("Rows", "")),
        str(ds.get("Columns", "")),
        _rounded(ds.get("ImageOrientationPatient")),
        _rounded(ds.get("PixelSpacing")),
    )


def _reason(err: BaseException) -> str:
    """An exception's message without the quoted values it may carry (header contents)."""
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", str(err))
    return (text[:200] + "…") if len(text) > 200 else text


def _numbers(ds: Dataset, keyword: str, n: int, where: Path | str) -> list[float]:
    """The ``n`` finite numbers of a multi-valued tag, or an ImagingError naming the tag."""
    name = TAG_NAMES.get(keyword, keyword)
    value = ds.get(keyword)
    if value is None or value == "":
        raise ImagingError(f"{where}: {name} missing; re-export the series with its geometry")
    try:
        values = [float(v) for v in (value if isinstance(value, list | tuple) else list(value))]
    except (TypeError, ValueError):
        values = []
    if len(values) != n or not all(np.isfinite(values)):
        raise ImagingError(
            f"{where}: {name} is not {n} finite numbers; the file is damaged: re-export the series"
        )
    return values


def _number(ds: Dataset, keyword: str, default: float, where: Path | str) -> float:
    """A single-valued numeric tag (``default`` when absent or empty)."""
    value = ds.get(keyword)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not np.isfinite(number):
        raise ImagingError(
            f"{where}: {TAG_NAMES.get(keyword, keyword)} is not a finite number; the file is "
            "damaged: re-export the series"
        )
    return number


def read_dicom_series(
    folder: str | Path, series_uid: str | None = None, anonymise: bool = True
) -> Volume:
    """Read one DICOM series from ``folder`` as a Volume in RAS axis order (CT in HU, float32).

    ``series_uid`` picks one series when the folder holds several. With ``anonymise`` the
    headers are de-identified (basic profile) before anything is kept in ``Volume.meta``."""
    folder = Path(folder)
    if folder.is_symlink() and not folder.exists():
        try:
            folder.resolve(strict=True)
        except (RuntimeError, OSError) as err:
            if "loop" in str(err).lower() or getattr(err, "errno", None) == 40:
                raise ImagingError(
                    f"{folder}: a symbolic link loop; give the real DICOM folder"
                ) from None
    if not folder.is_dir():
        raise ImagingError(f"{folder}: no such DICOM folder")
    with quiet_header_values():
        try:
            return _read_series(folder, series_uid, anonymise)
        except MemoryError:
            raise ImagingError(
                f"{folder}: not enough memory to read this series; free memory, or crop or "
                "downsample the series"
            ) from None


def _read_series(folder: Path, series_uid: str | None, anonymise: bool) -> Volume:
    slices = _load_headers(folder)
    groups: dict[tuple[str, ...], list[_Slice]] = defaultdict(list)
    for s in slices:
        groups[_series_key(s.ds)].append(s)
    if series_uid is not None:
        groups = {k: v for k, v in groups.items() if k[0] == series_uid}
        if not groups:
            raise ImagingError(
                f"{folder}: no series with the SeriesInstanceUID given (series_uid); check it "
                "against the folder's files"
            )
    if len(groups) > 1:
        # file names and counts only: UIDs and descriptions are identifiers (PS3.15 E.1-1)
        described = "; ".join(
            f"{k[1] or 'unknown modality'}, {len(v)} files, first {v[0].path.name}"
            for k, v in sorted(groups.items(), key=lambda kv: kv[1][0].path.name)
        )
        raise ImagingError(
            f"{folder}: holds {len(groups)} series ({described}); put each series in its own "
            "folder or pass series_uid"
        )
    series = next(iter(groups.values()))
    first = series[0].ds
    modality = str(first.get("Modality", ""))
    if modality not in SUPPORTED_MODALITIES:
        raise ImagingError(
            f"{folder}: Modality (0008,0060) = {modality!r}; spinefuse reads CT or MR series only"
        )
    if int(first.get("NumberOfFrames", 1) or 1) > 1:
        raise ImagingError(
            f"{folder}: multi-frame (enhanced) DICOM is not supported; export single-frame slices"
        )
    if len(series) < 2:
        raise ImagingError(f"{folder}: a volume needs at least 2 slices, found {len(series)}")
    affine_lps, order = _geometry(folder, series)
    series = [series[i] for i in order]
    check_grid(affine_lps, (*_slice_shape(series[0]), len(series)), str(folder))
    array = _pixels(folder, series, modality)
    if modality == "CT":
        check_ct_values(array, str(folder))
    meta = _meta(first, anonymise)
    volume = Volume(
        array=array,
        affine=LPS_TO_RAS @ affine_lps,
        modality="CT" if modality == "CT" else "MR",
        source=str(folder),
        meta=meta,
    )
    return to_ras(volume)


def _slice_shape(s: _Slice) -> tuple[int, int]:
    """(columns, rows) of a slice, checked to be a grey-value image of sane size."""
    ds = s.ds
    for keyword in ("Rows", "Columns"):
        if not isinstance(ds.get(keyword), int) or ds.get(keyword) < 1:
            raise ImagingError(f"{s.path}: {TAG_NAMES[keyword]} missing or not a positive number")
    samples = ds.get("SamplesPerPixel", 1)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2") or "MONOCHROME2")
    if samples != 1 or not photometric.startswith("MONOCHROME"):
        raise ImagingError(
            f"{s.path}: an RGB or colour image (Samples per Pixel {samples}, {photometric}), "
            "not a grey-value CT/MR slice (a screenshot or secondary capture?); remove it"
        )
    bits = int(ds.get("BitsAllocated", 16) or 16)
    if ds.Rows * ds.Columns * bits // 8 > MAX_SLICE_BYTES:
        raise ImagingError(
            f"{s.path}: Rows × Columns = {ds.Rows} × {ds.Columns} is larger than any CT/MR "
            "slice; the header is damaged"
        )
    return int(ds.Columns), int(ds.Rows)


def _load_headers(folder: Path) -> list[_Slice]:
    slices = []
    for path in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
        if path.name.upper() == "DICOMDIR":
            continue
        ds = _read_file(path)
        if ds is None:
            continue  # not DICOM (a README, a thumbnail): ignore
        if "PixelData" not in ds:
            sop_class = _sop_class(ds)
            if not sop_class or sop_class in IMAGE_SOP_CLASSES:
                raise ImagingError(
                    f"{path}: a DICOM file without pixel data and without a non-image SOP Class "
                    "(a damaged slice?); re-export the series"
                )
            continue  # presentation states, structured reports
        if (
            ds.get("ImagePositionPatient") is None
            and ds.get("Modality") not in SUPPORTED_MODALITIES
        ):
            continue  # a screenshot or dose report of another modality (OT, SC)
        position = _numbers(ds, "ImagePositionPatient", 3, path)
        slices.append(_Slice(path, ds, np.asarray(position)))
    if not slices:
        raise ImagingError(f"{folder}: no DICOM image files found")
    return slices


def _sop_class(ds: Dataset) -> str:
    meta = getattr(ds, "file_meta", None)
    value = (meta.get("MediaStorageSOPClassUID", "") if meta is not None else "") or ds.get(
        "SOPClassUID", ""
    )
    return str(value or "")


def _parse_all(ds: Dataset) -> None:
    """Convert every element of ``ds`` (file meta and nested sequences included)."""
    stack = [ds, getattr(ds, "file_meta", Dataset())]
    while stack:
        for elem in stack.pop():
            if elem.VR == "SQ":
                stack.extend(elem.value)


def _read_file(path: Path) -> Dataset | None:
    """The dataset of a DICOM file (Part 10: 128-byte preamble and 'DICM'), or None for a file
    that is not DICOM. The file is read into memory first (at most MAX_SLICE_BYTES), so that a
    damaged length field cannot make pydicom allocate gigabytes."""
    try:
        with path.open("rb") as fh:
            head = fh.read(132)
    except OSError as err:
        raise ImagingError(f"{path}: cannot be read ({err.strerror or err})") from None
    if head[128:132] != b"DICM":
        return None
    size = path.stat().st_size
    if size > MAX_SLICE_BYTES:
        raise ImagingError(
            f"{path}: {size / 1024**2:.0f} MiB, larger than any CT/MR slice (over "
            f"{MAX_SLICE_BYTES // 1024**2} MiB); a multi-frame or damaged file: remove it"
        )
    _check_inflated_size(path)
    try:
        ds = dcmread(io.BytesIO(path.read_bytes()))
        _parse_all(ds)  # pydicom converts values lazily: meet their damage here, not later
        return ds
    except Exception as err:  # pydicom raises many types on damaged files
        raise ImagingError(
            f"{path}: corrupt DICOM file ({_reason(err)}); re-export the series"
        ) from None


def _check_inflated_size(path: Path) -> None:
    """Refuse a deflated DICOM file whose dataset inflates beyond MAX_SLICE_BYTES (a bomb),
    before pydicom inflates it in memory."""
    try:
        with path.open("rb") as fh:
            head = fh.read(144)
            if len(head) < 144 or head[128:132] != b"DICM" or head[132:134] != b"\x02\x00":
                return
            (group_length,) = struct.unpack("<I", head[140:144])
            meta = fh.read(min(group_length, 1 << 16))
            if DeflatedExplicitVRLittleEndian.encode() not in meta:
                return
            inflater = zlib.decompressobj(-zlib.MAX_WBITS)
            total = 0
            while chunk := fh.read(1 << 20):
                data = inflater.decompress(chunk, MAX_SLICE_BYTES)
                total += len(data)
                while inflater.unconsumed_tail and total <= MAX_SLICE_BYTES:
                    total += len(inflater.decompress(inflater.unconsumed_tail, MAX_SLICE_BYTES))
                if total > MAX_SLICE_BYTES:
                    raise ImagingError(
                        f"{path}: the deflated dataset inflates to more than "
                        f"{MAX_SLICE_BYTES // 1024**2} MiB, larger than any slice (a damaged file "
                        "or a decompression bomb); re-export the series"
                    )
    except (OSError, zlib.error, struct.error):
        return  # pydicom names the damage when it reads the file


def _geometry(folder: Path, series: list[_Slice]) -> tuple[NDArray[np.float64], list[int]]:
    """The LPS affine of the sorted series and the sort order; refuses tilt and gaps."""
    first = series[0].ds
    iop = _numbers(first, "ImageOrientationPatient", 6, series[0].path)
    row = np.asarray(iop[:3])  # direction of increasing column index
    col = np.asarray(iop[3:])  # direction of increasing row index
    if (
        abs(np.linalg.norm(row) - 1) > 1e-2
        or abs(np.linalg.norm(col) - 1) > 1e-2
        or abs(float(row @ col)) > 1e-2
    ):
        raise ImagingError(
            f"{series[0].path}: Image Orientation (Patient) (0020,0037) = "
            f"{np.round(iop, 4).tolist()}: the row and column directions must be perpendicular "
            "unit vectors; the header is damaged"
        )
    normal = np.cross(row, col)
    for s in series[1:]:
        other = np.asarray(_numbers(s.ds, "ImageOrientationPatient", 6, s.path))
        if not np.allclose(other, [*row, *col], atol=1e-4):
            raise ImagingError(
                f"{folder}: Image Orientation (Patient) differs between slices ({s.path.name}); "
                "the folder mixes acquisitions: split it"
            )
    positions = np.stack([s.position for s in series])
    along = positions @ normal
    order = [int(i) for i in np.argsort(along)]
    along = along[order]
    positions = positions[order]
    steps = np.diff(along)
    if np.any(steps < 1e-3):
        k = int(np.argmin(steps))
        raise ImagingError(
            f"{folder}: two slices share position {along[k]:.3f} mm along the slice normal "
            f"({series[order[k]].path.name}, {series[order[k + 1]].path.name}); remove the "
            "duplicate or split the series"
        )
    gap = float(np.median(steps))
    bad = np.abs(steps - gap) > SPACING_TOLERANCE * gap
    if np.any(bad):
        k = int(np.flatnonzero(bad)[0])
        missing = int(round(steps[k] / gap)) - 1
        what = f"about {missing} missing slice(s)" if missing >= 1 else "uneven slice spacing"
        raise ImagingError(
            f"{folder}: {what}: slices at {along[k]:.2f} and {along[k + 1]:.2f} mm along the "
            f"normal are {steps[k]:.2f} mm apart, the others {gap:.2f} mm; re-export the complete "
            "series with even spacing"
        )
    offsets = positions - positions[0]
    drift = offsets - np.outer(offsets @ normal, normal)
    tilt = np.degrees(np.arctan2(np.linalg.norm(drift[-1]), abs(offsets[-1] @ normal)))
    tag_tilt = _number(first, "GantryDetectorTilt", 0.0, series[0].path)
    if tilt > TILT_TOLERANCE_DEG or abs(tag_tilt) > TILT_TOLERANCE_DEG:
        raise ImagingError(
            f"{folder}: gantry tilt of {max(tilt, abs(tag_tilt)):.2f}° (Gantry/Detector Tilt "
            "(0018,1120) or slice positions); the slices are sheared: resample the series to "
            "an untilted grid first"
        )
    d_row, d_col = _numbers(first, "PixelSpacing", 2, series[0].path)  # between rows, columns
    if not (d_row > 0 and d_col > 0):
        raise ImagingError(
            f"{series[0].path}: Pixel Spacing (0028,0030) = [{d_row}, {d_col}]: must be two "
            "positive distances in mm; the header is damaged"
        )
    affine = np.eye(4)
    affine[:3, 0] = row * d_col
    affine[:3, 1] = col * d_row
    affine[:3, 2] = normal * gap
    affine[:3, 3] = positions[0]
    return affine, order


def _pixels(folder: Path, series: list[_Slice], modality: str) -> NDArray[np.float32]:
    ts = series[0].ds.file_meta.get("TransferSyntaxUID", None)
    if ts is not None and ts.is_compressed and not decoder_available(str(ts)):
        raise ImagingError(
            f"{folder}: pixel data is compressed as {ts.name} ({ts}) and no installed decoder "
            "reads it; install pylibjpeg with its plugins or python-gdcm "
            "(pip install pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg)"
        )
    planes = []
    cols, rows = _slice_shape(series[0])
    shape = (rows, cols)
    if len(series) * rows * cols * 4 > MAX_IMAGE_BYTES:
        raise ImagingError(
            f"{folder}: {len(series)} slices of {rows} × {cols} need "
            f"{len(series) * rows * cols * 4 / 1024**3:.1f} GiB, over the limit of "
            f"{MAX_IMAGE_BYTES / 1024**3:.0f} GiB; crop or downsample the series first"
        )
    for s in series:
        _slice_shape(s)
        try:
            px = s.ds.pixel_array
        except Exception as err:
            raise ImagingError(
                f"{s.path}: pixel data cannot be decoded ({_reason(err)}); re-export the series "
                "uncompressed or install a decoder for its transfer syntax"
            ) from None
        if px.shape != shape:
            raise ImagingError(f"{s.path}: slice is {px.shape}, the series {shape}; split it")
        slope = _number(s.ds, "RescaleSlope", 1.0, s.path)
        intercept = _number(s.ds, "RescaleIntercept", 0.0, s.path)
        if slope <= 0:
            raise ImagingError(
                f"{s.path}: Rescale Slope (0028,1053) = {slope:g}: must be positive (a slope of 0 "
                "would flatten every voxel to the intercept); re-export the series"
            )
        planes.append((px.astype(np.float32) * slope + intercept).T)  # (columns, rows)
    return np.stack(planes, axis=2)


def decoder_available(transfer_syntax: str) -> bool:
    """Whether pydicom has a working decoder for this transfer syntax on this machine."""
    try:
        from pydicom.pixels import get_decoder

        return bool(get_decoder(transfer_syntax).is_available)
    except (ImportError, NotImplementedError, ValueError):
        return False


def _meta(ds: Dataset, anonymise: bool) -> dict[str, str]:
    ds = ds.copy()
    if anonymise:
        deidentify(ds)
    keys = (
        *("Modality", "Manufacturer", "SeriesDescription", "KVP", "ConvolutionKernel"),
        *("PatientSex", "PatientAge", "PatientIdentityRemoved", "SeriesInstanceUID"),
    )
    return {k: str(ds.get(k)) for k in keys if ds.get(k) not in (None, "")}


# --- writing ----------------------------------------------------------------------------------
def write_dicom_series(
    volume: Volume,
    folder: str | Path,
    patient_id: str = "SPINEFUSE-SAMPLE",
    patient_name: str = "Sample^Patient",
    series_description: str = "spinefuse synthetic CT",
    uid_seed: str | None = None,
) -> Path:
    """Write a CT volume (HU) as a DICOM series, one file per slice along the third axis.

    The folder must not exist yet (or be empty). Pixel data are unsigned 16-bit with
    RescaleIntercept −1024 and RescaleSlope 1. ``uid_seed`` makes the UIDs reproducible."""
    folder = Path(folder)
    if volume.modality != "CT":
        raise ImagingError(f"{folder}: only CT volumes are written as DICOM, got {volume.modality}")
    if folder.exists() and any(folder.iterdir()):
        raise ImagingError(f"{folder}: folder exists and is not empty; choose a new folder")
    a = volume.affine
    col_dir, row_dir = a[:3, 0], a[:3, 1]  # array axis 0 runs along a row, axis 1 down a column
    sx, sy, sz = volume.spacing
    normal = np.cross(col_dir / sx, row_dir / sy)
    if not np.allclose(a[:3, 2] / sz, normal, atol=1e-6):
        raise ImagingError(
            f"{folder}: the volume's third axis is not perpendicular to its slices (gantry tilt "
            "or a left-handed grid); resample it before writing DICOM"
        )
    seed = uid_seed or patient_id
    study_uid = generate_uid(entropy_srcs=[seed, "study"])
    series_uid = generate_uid(entropy_srcs=[seed, "series"])
    frame_uid = generate_uid(entropy_srcs=[seed, "frame"])
    today = dt.date(2026, 1, 1).strftime("%Y%m%d")
    raw = np.clip(np.asarray(volume.array, dtype=np.int32) + 1024, 0, 65535).astype(np.uint16)
    iop = [*(LPS_TO_RAS[:3, :3] @ (col_dir / sx)), *(LPS_TO_RAS[:3, :3] @ (row_dir / sy))]
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        for k in range(volume.shape[2]):
            sop_uid = generate_uid(entropy_srcs=[seed, "slice", str(k)])
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID = CTImageStorage
            meta.MediaStorageSOPInstanceUID = sop_uid
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds = Dataset()
            ds.file_meta = meta
            ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, sop_uid
            ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
            ds.FrameOfReferenceUID = frame_uid
            ds.Modality, ds.PatientID, ds.PatientName = "CT", patient_id, patient_name
            ds.StudyDate = ds.SeriesDate = ds.ContentDate = today
            ds.SeriesDescription, ds.SeriesNumber, ds.InstanceNumber = series_description, 1, k + 1
            ds.ImageType = ["DERIVED", "SECONDARY", "AXIAL"]
            position = LPS_TO_RAS[:3, :3] @ (a[:3, :3] @ np.array([0.0, 0.0, k]) + a[:3, 3])
            ds.ImagePositionPatient = [f"{v:.6f}" for v in position]
            ds.ImageOrientationPatient = [f"{v:.8f}" for v in iop]
            ds.PixelSpacing = [f"{sy:.6f}", f"{sx:.6f}"]  # row spacing, column spacing
            ds.SliceThickness = f"{sz:.6f}"
            ds.SpacingBetweenSlices = f"{sz:.6f}"
            ds.Rows, ds.Columns = volume.shape[1], volume.shape[0]
            ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
            ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
            ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = "-1024", "1", "HU"
            ds.PixelData = np.ascontiguousarray(raw[:, :, k].T).tobytes()
            ds.save_as(tmp / f"slice_{k + 1:04d}.dcm", enforce_file_format=True)
        if folder.exists():
            folder.rmdir()
        apply_umask(tmp)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder
