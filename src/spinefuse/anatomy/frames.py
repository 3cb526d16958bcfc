"""A vertebra's local frame and the small vector helpers every anatomy measurement uses.

Local coordinates ``(x, y, z)`` are right, anterior and cranial of the vertebra; the world frame
is RAS in mm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from spinefuse.records import Vec3

Vec = NDArray[np.float64]


def v3(a: Vec) -> Vec3:
    """A 3-vector as the records' tuple of floats."""
    return (float(a[0]), float(a[1]), float(a[2]))


def unit(a: Vec) -> Vec:
    """``a`` scaled to length 1 (a zero vector stays zero)."""
    n = float(np.linalg.norm(a))
    return a / n if n > 0 else a


@dataclass(frozen=True)
class Frame:
    """An orthonormal frame: ``origin`` (world mm) and ``rot`` (3, 3) whose columns are the local
    x (right), y (anterior) and z (cranial) axes in world coordinates."""

    origin: Vec
    rot: Vec

    def local(self, xyz: Vec) -> Vec:
        """World points ``(..., 3)`` in local coordinates."""
        flat = (np.reshape(xyz, (-1, 3)) - self.origin) @ self.rot
        return np.asarray(np.reshape(flat, np.shape(xyz)), dtype=float)

    def world(self, uvw: Vec) -> Vec:
        """Local points ``(..., 3)`` in world coordinates."""
        flat = np.reshape(uvw, (-1, 3)) @ self.rot.T + self.origin
        return np.asarray(np.reshape(flat, np.shape(uvw)), dtype=float)

    def direction(self, d: Vec) -> Vec:
        """A local direction in world coordinates."""
        return np.asarray(self.rot @ d, dtype=float)


def frame_from(origin: Vec, z: Vec, anterior: Vec) -> Frame:
    """The frame at ``origin`` with cranial axis ``z`` and ``anterior`` made square to it."""
    z = unit(z)
    y = unit(anterior - z * (anterior @ z))
    x = np.cross(y, z)
    return Frame(origin, np.column_stack([x, y, z]))


def half_extent(affine: Vec, direction: Vec) -> float:
    """Half the extent of one voxel of ``affine`` along a unit world direction (mm)."""
    return 0.5 * float(np.sum(np.abs(direction @ affine[:3, :3])))
