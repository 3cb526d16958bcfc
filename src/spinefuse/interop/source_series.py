"""The source DICOM series of a result: its instances in slice order and its voxel grid.

Results sent back to a PACS (SEG, SR) reference the series they were measured on. This module
reads that series' headers and gives the grid its pixels lie on, as an affine from (column, row,
slice) indices to RAS millimetres: DICOM's LPS patient frame is converted here, at the boundary,
and nowhere else.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from spinefuse.errors import ImagingError
from spinefuse.imaging.volume import Volume

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
TYPE2_KEYWORDS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyID",
    "AccessionNumber",
)
"""Patient and General Study attributes that must be present, if empty (PS3.3 C.7.1.1, C.7.2.1);
de-identified or synthetic series often lack them, and derived objects copy them."""


def read_source_series(folder: str | Path) -> list[Dataset]:
    """The image instances of the one series in ``folder``, sorted along the slice normal
    (headers only). Refuses a folder without images or with several series."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ImagingError(f"{folder}: no such DICOM folder")
    images: list[Dataset] = []
    for path in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
        try:
            ds = dcmread(path, stop_before_pixels=True)
        except InvalidDicomError:
            continue
        if "ImagePositionPatient" in ds and "ImageOrientationPatient" in ds:
            for keyword in TYPE2_KEYWORDS:
                if keyword not in ds:
                    setattr(ds, keyword, "")
            images.append(ds)
    if not images:
        raise ImagingError(f"{folder}: no DICOM image with a position and orientation")
    series = {str(ds.SeriesInstanceUID) for ds in images}
    if len(series) > 1:
        raise ImagingError(
            f"{folder}: holds {len(series)} series ({sorted(series)}); give the folder of the one "
            "series the label map was made on"
        )
    normal = _normal(images[0])
    images.sort(key=lambda ds: float(np.asarray(ds.ImagePositionPatient, float) @ normal))
    return images


def _normal(ds: Dataset) -> NDArray[np.float64]:
    iop = np.asarray([float(v) for v in ds.ImageOrientationPatient])
    return np.asarray(np.cross(iop[:3], iop[3:]), dtype=float)


def series_grid(images: list[Dataset]) -> Volume:
    """An empty Volume on the series' grid: ``array[c, r, k]`` is column ``c``, row ``r`` of the
    ``k``-th instance in ``images`` (as :func:`read_source_series` sorts them), its affine in RAS.

    Refuses uneven slice spacing (the grid would not be an affine one)."""
    first = images[0]
    iop = np.asarray([float(v) for v in first.ImageOrientationPatient])
    row_dir, col_dir = iop[:3], iop[3:]  # along a row (column index grows), down a column
    d_row, d_col = (float(v) for v in first.PixelSpacing)
    positions = np.asarray([[float(v) for v in ds.ImagePositionPatient] for ds in images])
    if len(images) > 1:
        steps = np.diff(positions, axis=0)
        step = steps.mean(axis=0)
        if not np.allclose(steps, step, atol=0.02 * max(float(np.linalg.norm(step)), 1e-6)):
            raise ImagingError(
                f"series {first.SeriesInstanceUID}: uneven slice positions; a segmentation "
                "needs an evenly spaced series"
            )
    else:
        step = _normal(first) * float(first.get("SliceThickness", 1.0) or 1.0)
    lps = np.eye(4)
    lps[:3, 0] = row_dir * d_col
    lps[:3, 1] = col_dir * d_row
    lps[:3, 2] = step
    lps[:3, 3] = positions[0]
    shape = (int(first.Columns), int(first.Rows), len(images))
    return Volume(
        array=np.zeros(shape, dtype=np.uint8),
        affine=LPS_TO_RAS @ lps,
        modality="SEG",
        source=str(first.SeriesInstanceUID),
    )


def frames_of(volume: Volume) -> NDArray[np.generic]:
    """A Volume on :func:`series_grid`'s grid as DICOM frames ``(slice, row, column)``."""
    return np.ascontiguousarray(np.transpose(volume.array, (2, 1, 0)))
