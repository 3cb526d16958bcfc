"""Synthetic MR DICOM series for the series-choice tests: the reader tests' slices, with MR tags."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom import dcmread
from pydicom.uid import MRImageStorage

from tests.imaging.dicom_series import write_series

SAGITTAL = {"row_dir": (0.0, 1.0, 0.0), "col_dir": (0.0, 0.0, -1.0)}  # slices along x
AXIAL = {"row_dir": (1.0, 0.0, 0.0), "col_dir": (0.0, 1.0, 0.0)}  # slices along z
CORONAL = {"row_dir": (1.0, 0.0, 0.0), "col_dir": (0.0, 0.0, -1.0)}


def write_mr_series(
    folder: Path,
    description: str,
    *,
    te_ms: float | None,
    tr_ms: float | None,
    frame_uid: str,
    plane: dict[str, tuple[float, float, float]] = SAGITTAL,
    sequence: str = "SE",
    ti_ms: float | None = None,
    slices: int = 4,
    value: int = 100,
) -> Path:
    """Four 6 x 5 MR slices with the given description, echo/repetition times and plane."""
    values = np.full((slices, 5, 6), value, dtype=np.int16)
    paths = write_series(
        folder, values, spacing=(0.8, 0.8, 3.0), modality="MR", intercept=0.0, **plane
    )
    for path in paths:
        ds = dcmread(path)
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = MRImageStorage
        ds.SeriesDescription = description
        ds.ScanningSequence = sequence
        ds.FrameOfReferenceUID = frame_uid
        for key, v in (("EchoTime", te_ms), ("RepetitionTime", tr_ms), ("InversionTime", ti_ms)):
            if v is not None:
                setattr(ds, key, v)
        del ds.RescaleSlope, ds.RescaleIntercept
        ds.save_as(path, enforce_file_format=True)
    return folder
