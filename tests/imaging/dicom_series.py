"""Synthetic DICOM series for reader tests: small uncompressed CT slices with chosen geometry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid


def write_series(
    folder: Path,
    values: NDArray[np.int16],
    *,
    spacing: tuple[float, float, float] = (0.8, 0.7, 2.0),
    origin: tuple[float, float, float] = (-100.0, -80.0, 30.0),
    row_dir: tuple[float, float, float] = (1.0, 0.0, 0.0),
    col_dir: tuple[float, float, float] = (0.0, 1.0, 0.0),
    positions: list[tuple[float, float, float]] | None = None,
    modality: str = "CT",
    series_uid: str | None = None,
    slope: float = 1.0,
    intercept: float = -1024.0,
    name_prefix: str = "s",
    tilt_deg: float = 0.0,
) -> list[Path]:
    """Write ``values`` (slices, rows, columns) as one file per slice in LPS geometry."""
    folder.mkdir(parents=True, exist_ok=True)
    n, rows, cols = values.shape
    row_v, col_v = np.asarray(row_dir), np.asarray(col_dir)
    normal = np.cross(row_v, col_v)
    uid = series_uid or generate_uid()
    study, frame = generate_uid(), generate_uid()
    paths = []
    for k in range(n):
        pos = (
            positions[k]
            if positions is not None
            else tuple(float(v) for v in np.asarray(origin) + normal * spacing[2] * k)
        )
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.PatientName = "Doe^Jane"
        ds.PatientID = "MRN-123456"
        ds.PatientBirthDate = "19610203"
        ds.InstitutionName = "General Hospital"
        ds.ReferringPhysicianName = "House^Gregory"
        ds.AccessionNumber = "ACC42"
        ds.StudyInstanceUID = study
        ds.SeriesInstanceUID = uid
        ds.FrameOfReferenceUID = frame
        ds.Modality = modality
        ds.SeriesDescription = f"{modality} test"
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [f"{v:.4f}" for v in pos]
        ds.ImageOrientationPatient = [*row_dir, *col_dir]
        ds.PixelSpacing = [spacing[1], spacing[0]]  # row spacing, column spacing
        ds.SliceThickness = spacing[2]
        ds.GantryDetectorTilt = tilt_deg
        ds.Rows, ds.Columns = rows, cols
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1
        ds.RescaleSlope = slope
        ds.RescaleIntercept = intercept
        ds.PixelData = np.ascontiguousarray(values[k].astype(np.int16)).tobytes()
        ds.add_new(0x00291010, "OB", b"private-header")
        path = folder / f"{name_prefix}{n - k:03d}.dcm"  # file names in reverse order on purpose
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths
