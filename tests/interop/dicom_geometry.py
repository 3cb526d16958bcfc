"""An independent reading of DICOM pixel geometry for the tests: where each pixel of an instance
lies in RAS, computed from its own Image Position/Orientation (Patient) and Pixel Spacing."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset

from spinefuse.imaging.volume import Volume


def pixel_centres_ras(ds: Dataset) -> NDArray[np.float64]:
    """``(rows, columns, 3)``: the RAS position (mm) of every pixel centre of ``ds``."""
    ipp = np.asarray([float(v) for v in ds.ImagePositionPatient])
    iop = np.asarray([float(v) for v in ds.ImageOrientationPatient])
    d_row, d_col = (float(v) for v in ds.PixelSpacing)
    r, c = np.mgrid[0 : int(ds.Rows), 0 : int(ds.Columns)]
    lps = ipp + c[..., None] * d_col * iop[:3] + r[..., None] * d_row * iop[3:]
    return np.asarray(lps * np.array([-1.0, -1.0, 1.0]))


def labels_on_instance(labels: Volume, ds: Dataset) -> NDArray[np.int64]:
    """``(rows, columns)``: the label map's ID at each pixel centre of ``ds`` (nearest voxel,
    0 outside the map)."""
    ijk = np.rint(labels.world_to_voxel(pixel_centres_ras(ds))).astype(np.int64)
    inside = np.all((ijk >= 0) & (ijk < np.asarray(labels.shape)), axis=-1)
    ijk = np.where(inside[..., None], ijk, 0)
    ids = np.asarray(labels.array)[ijk[..., 0], ijk[..., 1], ijk[..., 2]]
    return np.where(inside, ids, 0).astype(np.int64)


def expected_segments(
    labels: Volume, instances: list[Dataset], number_of_id: Mapping[int, int]
) -> NDArray[np.int64]:
    """``(instances, rows, columns)`` segment numbers the SEG must hold for ``instances``."""
    lut = np.zeros(max(int(np.max(labels.array)), max(number_of_id)) + 1, dtype=np.int64)
    for label_id, number in number_of_id.items():
        lut[label_id] = number
    return np.stack([lut[labels_on_instance(labels, ds)] for ds in instances])
