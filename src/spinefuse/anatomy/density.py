"""Bone density of a vertebral body on CT: the mean HU of its trabecular core."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from spinefuse.anatomy.bones import LabelledBone
from spinefuse.anatomy.frames import Vec
from spinefuse.anatomy.method import setting


def trabecular_hu(
    bone: LabelledBone,
    is_body: NDArray[np.bool_],
    body: Vec,
    z_range: tuple[float, float],
    affine: Vec,
) -> float | None:
    """Mean HU of the body voxels at least the margin inside its surface and within the central
    fraction of its height (``data/vertebral_landmarks.yaml``)."""
    margin = float(setting("trabecular_margin_mm"))
    frac = float(setting("trabecular_height_fraction"))
    inv = np.linalg.inv(affine)
    ijk = np.rint(bone.xyz[is_body] @ inv[:3, :3].T + inv[:3, 3]).astype(np.int64)
    lo = ijk.min(axis=0) - 1
    ijk -= lo
    grid = np.zeros(tuple(ijk.max(axis=0) + 2), dtype=bool)
    grid[ijk[:, 0], ijk[:, 1], ijk[:, 2]] = True
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    depth = ndimage.distance_transform_edt(grid, sampling=spacing)[ijk[:, 0], ijk[:, 1], ijk[:, 2]]
    z_mid, half = 0.5 * (z_range[0] + z_range[1]), 0.5 * frac * (z_range[1] - z_range[0])
    central = np.abs(body[:, 2] - z_mid) <= half
    hu = bone.hu[is_body]
    for m in (margin, 0.5 * margin):
        inner = central & (depth >= m + 0.5 * float(spacing.min()))
        if inner.sum() >= 5:
            return float(hu[inner].mean())
    return None
