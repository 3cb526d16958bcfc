"""Volume: a 3-D image with its voxel-to-world affine (RAS, mm)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from spinefuse.errors import ImagingError

Modality = Literal["CT", "MR", "SEG"]


@dataclass(frozen=True, eq=False)
class Volume:
    """A 3-D image. ``array[i, j, k]`` is the voxel whose centre lies at
    ``affine @ [i, j, k, 1]`` in the world frame (RAS, mm). CT values are Hounsfield units."""

    array: NDArray[np.generic]
    affine: NDArray[np.float64]
    modality: Modality = "CT"
    source: str = ""
    meta: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.array.ndim != 3:
            raise ImagingError(
                f"{self.source or 'volume'}: expected a 3-D array, got shape {self.array.shape}"
            )
        aff = np.asarray(self.affine, dtype=float)
        if (
            aff.shape != (4, 4)
            or not np.all(np.isfinite(aff))
            or abs(np.linalg.det(aff[:3, :3])) < 1e-9
        ):
            raise ImagingError(
                f"{self.source or 'volume'}: the affine must be an invertible 4×4 matrix"
            )
        object.__setattr__(self, "affine", aff)

    @property
    def shape(self) -> tuple[int, int, int]:
        s = self.array.shape
        return (int(s[0]), int(s[1]), int(s[2]))

    @property
    def spacing(self) -> NDArray[np.float64]:
        """Voxel size along each array axis (mm)."""
        return np.asarray(np.linalg.norm(self.affine[:3, :3], axis=0), dtype=float)

    def voxel_to_world(self, ijk: NDArray[np.floating]) -> NDArray[np.float64]:
        """Map voxel indices ``(..., 3)`` to world points ``(..., 3)`` in mm."""
        ijk = np.asarray(ijk, dtype=float)
        flat = ijk.reshape(-1, 3) @ self.affine[:3, :3].T + self.affine[:3, 3]
        return np.asarray(flat.reshape(ijk.shape), dtype=float)

    def world_to_voxel(self, xyz: NDArray[np.floating]) -> NDArray[np.float64]:
        """Map world points ``(..., 3)`` (mm) to fractional voxel indices ``(..., 3)``."""
        inv = np.linalg.inv(self.affine)
        xyz = np.asarray(xyz, dtype=float)
        flat = xyz.reshape(-1, 3) @ inv[:3, :3].T + inv[:3, 3]
        return np.asarray(flat.reshape(xyz.shape), dtype=float)

    def same_grid(self, other: Volume, tol_mm: float = 1e-3) -> bool:
        """True when ``other`` has the same shape and an affine equal within ``tol_mm``."""
        return self.shape == other.shape and bool(
            np.allclose(self.affine, other.affine, atol=tol_mm)
        )
