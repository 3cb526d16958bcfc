"""A CT on a coarser or finer grid of the same world region: the working grid of the built-in
segmentation, and resampled copies of a scan for tests."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from spinefuse.errors import ParameterError
from spinefuse.imaging.volume import Volume


def resample_to_spacing(
    volume: Volume, spacing_mm: float | NDArray[np.float64], order: int = 1
) -> Volume:
    """The image on a grid with voxel size ``spacing_mm`` (one value or three, along the array
    axes) covering the same region, its axes along the original ones.

    Intensities are interpolated (``order`` 1: linear; 0: nearest, for label maps); when a
    side grows, the image is first smoothed by a Gaussian of sigma = sqrt(r^2 - 1)/2 voxels (r
    the ratio), close to averaging over the larger voxel."""
    old = volume.spacing
    new = np.broadcast_to(np.asarray(spacing_mm, dtype=float), (3,)).copy()
    if not np.all((new > 0.05) & (new <= 20.0)):
        raise ParameterError(f"spacing_mm = {spacing_mm}: each voxel side must lie in 0.05-20 mm")
    ratio = new / old
    shape = np.maximum(1, np.floor((np.asarray(volume.shape) - 1) / ratio).astype(int) + 1)
    data = volume.array
    if order > 0:
        data = data.astype(np.float32, copy=False)
        sigma = np.where(ratio > 1.0, np.sqrt(np.maximum(ratio**2 - 1.0, 0.0)) / 2.0, 0.0)
        if np.any(sigma > 0):
            data = ndimage.gaussian_filter(data, sigma, mode="nearest")
    out = ndimage.affine_transform(
        data,
        np.diag(ratio),
        output_shape=tuple(int(n) for n in shape),
        order=order,
        mode="nearest",
    )
    affine = volume.affine.copy()
    affine[:3, :3] = volume.affine[:3, :3] * ratio[None, :]
    return replace(volume, array=out.astype(volume.array.dtype, copy=False), affine=affine)
