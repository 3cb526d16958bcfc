"""Writing volumes: NIfTI (nibabel) and DICOM CT series (pydicom), each written atomically.

A DICOM series is written slice by slice along the volume's third axis into a temporary folder
that is renamed into place when complete, so a reader never sees half a series. Geometry tags
are in DICOM's LPS frame: ImagePositionPatient is the centre of each slice's first voxel,
ImageOrientationPatient the directions of increasing column and row.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from spinefuse.errors import ImagingError
from spinefuse.imaging.volume import Volume
from spinefuse.records import apply_umask

RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])


def write_nifti(volume: Volume, path: str | Path) -> Path:
    """Write a volume as NIfTI-1 (``.nii`` or ``.nii.gz``) with its affine as sform and qform."""
    path = Path(path)
    if not path.name.endswith((".nii", ".nii.gz")):
        raise ImagingError(f"{path}: a NIfTI file name must end in .nii or .nii.gz")
    path.parent.mkdir(parents=True, exist_ok=True)
    img = nib.Nifti1Image(volume.array, volume.affine)
    img.header.set_xyzt_units("mm")
    img.set_sform(volume.affine, code=1)
    img.set_qform(volume.affine, code=1)
    suffix = ".nii.gz" if path.name.endswith(".gz") else ".nii"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        nib.save(img, tmp)
        apply_umask(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


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
    iop = [*(RAS_TO_LPS @ (col_dir / sx)), *(RAS_TO_LPS @ (row_dir / sy))]
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
            position = RAS_TO_LPS @ (a[:3, :3] @ np.array([0.0, 0.0, k]) + a[:3, 3])
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
