"""One vertebra's label as a field sampled at world points: inside or not, and its depth (the
distance to the nearest voxel outside the bone), for the pedicle and corridor searches."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from spinefuse.anatomy.frames import Vec
from spinefuse.imaging.volume import Volume


@dataclass(frozen=True)
class BoneField:
    """The voxels of one or more label IDs, cropped from the label map with a margin: the mask
    and its Euclidean distance transform (mm to the nearest voxel outside the bone)."""

    mask: NDArray[np.bool_]
    edt: Vec
    world_to_crop: Vec  # 4×4: world (mm) -> crop voxel indices
    spacing: Vec

    @classmethod
    def of(
        cls,
        labels: Volume,
        ids: Collection[int],
        margin: int = 3,
        within: tuple[slice, ...] | None = None,
    ) -> BoneField | None:
        """The field of the voxels whose label is one of ``ids``; None when there are none.
        ``within``: a box of the label map known to hold every such voxel (only it is
        searched; the field is the same)."""
        box = within or tuple(slice(0, n) for n in labels.shape)
        mask = np.isin(labels.array[box], list(ids))
        if not mask.any():
            return None
        start = [s.start or 0 for s in box]
        nz = np.nonzero(mask)
        lo = np.maximum([int(a.min()) + o - margin for a, o in zip(nz, start, strict=True)], 0)
        hi = np.minimum(
            [int(a.max()) + o + margin + 1 for a, o in zip(nz, start, strict=True)], labels.shape
        )
        crop = np.isin(labels.array[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]], list(ids))
        # padded by one voxel so bone at the image's edge ends there, not beyond it
        edt = ndimage.distance_transform_edt(np.pad(crop, 1), sampling=labels.spacing)
        shift = np.eye(4)
        shift[:3, 3] = -lo
        return cls(
            crop,
            np.asarray(edt[1:-1, 1:-1, 1:-1], dtype=float),
            shift @ np.linalg.inv(labels.affine),
            labels.spacing,
        )

    def _ijk(self, pts: Vec) -> Vec:
        # one (n, 3) @ (3, 3) product: a stacked (..., 3) product is a slow batched one
        flat = np.reshape(pts, (-1, 3)) @ self.world_to_crop[:3, :3].T + self.world_to_crop[:3, 3]
        return np.reshape(flat, np.shape(pts))

    def _linear(self, grid: NDArray[np.generic], pts: Vec) -> Vec:
        ijk = self._ijk(pts).reshape(-1, 3).T
        out = ndimage.map_coordinates(grid, ijk, order=1, mode="constant", cval=0.0)
        return np.asarray(out, dtype=float).reshape(pts.shape[:-1])

    def clearance(self, pts: Vec) -> Vec:
        """Depth in the bone (mm) at world points ``(..., 3)``, linearly interpolated; 0
        outside."""
        return self._linear(self.edt, pts)

    def covered(self, pts: Vec) -> NDArray[np.bool_]:
        """Whether each world point ``(..., 3)`` lies in the bone by the linearly interpolated
        mask (more than half a voxel of bone around it)."""
        return self._linear(self.mask.astype(np.float32), pts) > 0.5

    def inside(self, pts: Vec) -> NDArray[np.bool_]:
        """Whether the nearest voxel of each world point ``(..., 3)`` is bone."""
        ijk = np.rint(self._ijk(pts)).astype(np.int64)
        ok = np.all((ijk >= 0) & (ijk < np.asarray(self.mask.shape)), axis=-1)
        ijk = np.clip(ijk, 0, np.asarray(self.mask.shape) - 1)
        return np.asarray(ok & self.mask[ijk[..., 0], ijk[..., 1], ijk[..., 2]])
