"""Volume: a 3-D image with its voxel-to-world affine (RAS, mm)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from spinefuse.datafiles import load_yaml
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


# --- plausibility of what a reader found (limits in data/input_plausibility.yaml) ------------
MAX_IMAGE_BYTES = 4 * 1024**3
"""Largest voxel data a reader accepts (4 GiB: a 1024 × 1024 × 1024 float32 volume); NIfTI
headers and DICOM series are checked against it before anything is allocated."""
MIN_VOXELS_TO_JUDGE = 4096
"""Images with fewer voxels (under 16³) are too small for the HU statistics below."""


def _limits() -> dict[str, Any]:
    return load_yaml("input_plausibility.yaml")  # type: ignore[no-any-return]


def check_grid(affine: NDArray[np.float64], shape: tuple[int, ...], source: str) -> None:
    """Refuse a voxel grid no scan has: a voxel size outside 0.1–10 mm, axes that are not
    perpendicular (a sheared, gantry-tilted grid), fewer than 2 voxels along an axis, or a
    field of view longer than a body."""
    lim = _limits()
    spacing = np.linalg.norm(np.asarray(affine, dtype=float)[:3, :3], axis=0)
    lo, hi = lim["voxel_size_mm"]["min"], lim["voxel_size_mm"]["max"]
    if not np.all((spacing >= lo) & (spacing <= hi)):
        shown = " × ".join(f"{v:.3g}" for v in spacing)
        raise ImagingError(
            f"{source}: voxel size {shown} mm is outside {lo:g}–{hi:g} mm; the header's spacing "
            "is wrong (a unit or scaling error?): fix pixdim/the affine of the file"
        )
    axes = np.asarray(affine, dtype=float)[:3, :3] / spacing
    cosines = np.abs(axes.T @ axes - np.eye(3))
    off = float(np.degrees(np.arcsin(min(1.0, float(cosines.max())))))
    if off > lim["axis_shear_deg"]["max"]:
        raise ImagingError(
            f"{source}: the voxel axes are not perpendicular ({off:.1f}° off): a sheared grid "
            "from a tilted gantry; resample the image to a rectilinear grid first"
        )
    for axis, n in enumerate(shape[:3]):
        if n < 2:
            raise ImagingError(
                f"{source}: {n} voxel along axis {axis}: a single slice, not a volume; give the "
                "whole series"
            )
    fov = spacing * np.asarray(shape[:3], dtype=float)
    if fov.max() > lim["field_of_view_mm"]["max"]:
        raise ImagingError(
            f"{source}: the image is {fov.max():.0f} mm long along axis {int(fov.argmax())} "
            f"(over {lim['field_of_view_mm']['max']:g} mm, longer than a body); the voxel "
            "size in the header is wrong"
        )


def _sample(array: NDArray[np.generic], n: int) -> NDArray[np.float64]:
    flat = array.ravel(order="K")
    step = max(1, flat.size // n)
    return np.asarray(flat[::step], dtype=np.float64)


def check_finite(array: NDArray[np.generic], source: str) -> None:
    """Refuse NaN or infinite voxels (a broken export)."""
    if not np.issubdtype(array.dtype, np.floating):
        return
    bad = int(array.size - np.count_nonzero(np.isfinite(array)))
    if bad:
        raise ImagingError(
            f"{source}: {bad} voxel{' is' if bad == 1 else 's are'} not a finite number (NaN or "
            "infinite); re-export the image"
        )


def check_ct_values(array: NDArray[np.generic], source: str) -> None:
    """Refuse a "CT" whose values are not Hounsfield units: a label map, values scaled (×1000,
    ÷1000) or without the rescale intercept, an image of air only. Judged on a sample of the
    voxels; images under :data:`MIN_VOXELS_TO_JUDGE` voxels are only checked for finiteness."""
    check_finite(array, source)
    if array.size < MIN_VOXELS_TO_JUDGE:
        return
    c = _limits()["ct_hu_check"]
    s = _sample(array, int(c["sample_voxels"]))
    p05, p1, p50, p99, p995 = np.percentile(s, [0.5, 1, 50, 99, 99.5])
    integer = bool(np.all(s == np.rint(s)))
    if integer and s.min() == 0 and np.mean(s == 0) >= 0.3 and s.max() <= 1000:
        values = np.unique(s)
        if values.size <= c["label_max_values"]:
            shown = ", ".join(f"{v:g}" for v in values[:8]) + (", …" if values.size > 8 else "")
            raise ImagingError(
                f"{source}: looks like a label map, not a CT (only {values.size} integer values "
                f"{shown}; {np.mean(s == 0):.0%} zeros): give the CT image here and the label "
                "map as label_map"
            )
    outside = float(np.mean((s < c["outside_low"]) | (s > c["outside_high"])))
    if outside > c["outside_fraction"]:
        raise ImagingError(
            f"{source}: {outside:.0%} of the voxels lie outside {c['outside_low']:g}…"
            f"{c['outside_high']:g} HU (values {p05:.4g} to {p995:.4g}): not Hounsfield units "
            "(scaled ×1000, or raw values?); convert the image to HU"
        )
    tissue = float(np.mean(s > c["air_limit"]))
    if tissue < c["tissue_fraction"]:
        raise ImagingError(
            f"{source}: no tissue: {1 - tissue:.1%} of the voxels are at or below "
            f"{c['air_limit']:g} HU (all air, or an empty image); give the patient's CT"
        )
    if p99 - p1 < c["min_span"]:
        raise ImagingError(
            f"{source}: the values span only {p99 - p1:.3g} HU (1st–99th percentile {p1:.4g} to "
            f"{p99:.4g}); a CT in HU spans air, soft tissue and bone: is it in HU/1000, a "
            "probability map or a constant image?"
        )
    if p05 >= 0 and p50 >= c["raw_median"]:
        raise ImagingError(
            f"{source}: no value below 0 HU and a median of {p50:.0f}: stored values without the "
            "rescale intercept (air should be about -1000 HU); apply RescaleSlope/Intercept "
            "(or scl_slope/scl_inter) when converting"
        )


def check_label_values(array: NDArray[np.generic], source: str) -> None:
    """Refuse a label map that is an image (many distinct values and hardly any background 0)
    or holds negative IDs or IDs that an int32 cannot keep."""
    check_finite(array, source)
    if array.size == 0:
        return
    s = _sample(array, int(_limits()["ct_hu_check"]["sample_voxels"]))
    distinct = int(np.unique(s).size)
    background = float(np.mean(s == 0))
    if distinct > 1000 or (distinct > 50 and background < 0.05):
        raise ImagingError(
            f"{source}: looks like an image, not a label map ({distinct} distinct values, "
            f"{background:.0%} background 0); give the label map here and the CT as nifti"
        )
    lo, hi = float(np.min(array)), float(np.max(array))
    if lo < 0:
        raise ImagingError(f"{source}: negative label IDs (down to {lo:g}); IDs are 0 or more")
    top = np.iinfo(np.int32).max
    if hi > top:
        raise ImagingError(f"{source}: label IDs above {top} (up to {hi:.4g}); not a label map")
