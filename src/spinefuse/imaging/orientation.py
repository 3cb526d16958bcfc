"""Voxel-axis orientation: bring any volume to the closest RAS axis order without resampling.

Reordering and flipping array axes (and adjusting the affine to match) changes no voxel value and
no world position; it only makes array axis 0 run roughly Right, 1 Anterior and 2 Superior, so
that two images of one grid compare equal whatever order their files stored them in.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from spinefuse.imaging.volume import Volume

_CODES = (("L", "R"), ("P", "A"), ("I", "S"))


def axis_codes(affine: NDArray[np.float64]) -> tuple[str, str, str]:
    """The world direction each array axis runs toward, e.g. ``("P", "I", "R")`` (nibabel's
    ``aff2axcodes``): for each axis, the letter of the dominant world component's sign."""
    perm, sign = _closest_axes(affine)
    codes = ["", "", ""]
    for axis in range(3):
        world = int(perm[axis])
        codes[axis] = _CODES[world][1 if sign[axis] > 0 else 0]
    return (codes[0], codes[1], codes[2])


def _closest_axes(affine: NDArray[np.float64]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """For each array axis, the world axis it is closest to and the sign along it.

    Assigned greedily by the largest cosine so that even oblique grids give a permutation."""
    rot = np.asarray(affine, dtype=float)[:3, :3]
    cos = np.abs(rot / np.linalg.norm(rot, axis=0))  # [world, array]
    perm = np.full(3, -1, dtype=np.int64)
    taken_world: set[int] = set()
    for flat in np.argsort(-cos, axis=None):
        world, arr = divmod(int(flat), 3)
        if perm[arr] < 0 and world not in taken_world:
            perm[arr] = world
            taken_world.add(world)
    sign = np.sign(rot[perm, np.arange(3)])
    return perm, sign


def to_ras(volume: Volume) -> Volume:
    """The same image with its array axes reordered and flipped to run closest to R, A, S.

    Voxel values and world positions are unchanged (``same_grid`` holds between two images of
    one grid whatever their stored orientation); an oblique grid stays oblique in its affine."""
    perm, sign = _closest_axes(volume.affine)
    order = np.argsort(perm)  # new axis w (world w) comes from array axis order[w]
    array = np.transpose(volume.array, order)
    affine = volume.affine.copy()
    affine[:, :3] = volume.affine[:, order]
    shape = array.shape
    for new_axis in range(3):
        if sign[order[new_axis]] < 0:
            array = np.flip(array, axis=new_axis)
            # index i' = n-1-i: the origin moves to the old last voxel, the column changes sign
            affine[:3, 3] = affine[:3, 3] + affine[:3, new_axis] * (shape[new_axis] - 1)
            affine[:3, new_axis] = -affine[:3, new_axis]
    return replace(volume, array=np.ascontiguousarray(array), affine=affine)


def reorient(volume: Volume, permutation: tuple[int, int, int], flips: tuple[bool, ...]) -> Volume:
    """The same image stored with array axes permuted (new axis k is old axis
    ``permutation[k]``) and then flipped where ``flips[k]``; world geometry is unchanged."""
    array = np.transpose(volume.array, permutation)
    affine = volume.affine.copy()
    affine[:, :3] = volume.affine[:, list(permutation)]
    for axis, flip in enumerate(flips):
        if flip:
            array = np.flip(array, axis=axis)
            affine[:3, 3] = affine[:3, 3] + affine[:3, axis] * (array.shape[axis] - 1)
            affine[:3, axis] = -affine[:3, axis]
    return replace(volume, array=np.ascontiguousarray(array), affine=affine)
