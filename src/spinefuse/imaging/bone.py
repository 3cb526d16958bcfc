"""Bone and metal in a CT by Hounsfield units, allowing for the partial volume of the voxel.

A 1 mm cortex seen by a 3 mm voxel reads a third of its own HU, so a fixed bone threshold that
suits 1 mm scans misses most of the cortical shell at 3 mm. The thresholds here follow the
voxel size (:func:`bone_thresholds`): the cortex is found by hysteresis (voxels above a high,
voxel-size dependent threshold, grown over voxels above a low one), and the trabecular interior,
whose HU may be close to soft tissue in osteoporotic or fatty marrow, is taken where the cortex
encloses it in sagittal and coronal planes (:func:`enclosed`) or where it is brighter than
soft tissue. Noisy scans are smoothed first, just enough to bring the noise near 20 HU.
Metal (screws, cages, hip prostheses) reads above ``metal_hu`` and is kept out of the bone with a
margin for its blooming.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from skimage.filters import apply_hysteresis_threshold

F32 = NDArray[np.float32]
Mask = NDArray[np.bool_]

SOFT_TISSUE_HU = 50.0
"""Muscle and disc (HU), the background the cortex is seen against."""
CORTEX_HU = 1000.0
"""Compact cortical bone of an adult vertebra (HU)."""
CORTEX_MM = 1.2
"""Thickness of the vertebral body's cortical shell (mm; 0.4-1.5 mm, thicker at the arches)."""
NOISE_TARGET_HU = 20.0
"""Noise (HU, local standard deviation in soft tissue) the smoothing aims for."""


@dataclass(frozen=True)
class BoneThresholds:
    """HU thresholds for one voxel size: ``cortex_hu`` seeds the cortex, which grows over
    voxels above ``grow_hu``; ``trabecular_hu`` is the least HU of marrow taken without an
    enclosing cortex; ``metal_hu`` the least HU of metal; ``edge_hu`` the HU at the bone's
    outer surface (halfway between soft tissue and the cortex seed)."""

    cortex_hu: float
    grow_hu: float
    trabecular_hu: float
    metal_hu: float
    edge_hu: float


def effective_voxel_mm(spacing: NDArray[np.float64]) -> float:
    """Voxel size (mm) that sets the partial volume: the geometric mean of the three sides."""
    return float(np.prod(np.asarray(spacing, dtype=float)) ** (1.0 / 3.0))


EDGE_STEP_HU = 1000.0
"""HU step from air to soft tissue at the skin."""
EDGE_TO_RESOLUTION = 0.7
"""Resolution per mm of skin-edge width (the 90th percentile gradient across the skin of a
sharp 3 mm scan gives a 4.4 mm wide edge)."""


def resolution_mm(hu: F32, spacing: NDArray[np.float64]) -> float:
    """The image's own resolution (mm): its voxel size, or more when the image is blurrier
    than its grid (a scan resampled to finer voxels keeps the blur it had), read off the
    skin's edge: :data:`EDGE_TO_RESOLUTION` x the air-to-tissue step over the 90th percentile
    gradient (HU/mm) of voxels between -700 and -300 HU. Without a skin edge in view (a crop
    inside the body), the voxel size."""
    voxel = effective_voxel_mm(spacing)
    edge = (hu > -700.0) & (hu < -300.0)
    if edge.sum() < 500:
        return voxel
    grads = np.gradient(hu, *[float(s) for s in spacing])
    mag = np.sqrt(np.sum(np.stack([np.asarray(g)[edge] ** 2 for g in grads]), axis=0))
    width = EDGE_STEP_HU / max(float(np.percentile(mag, 90)), 1e-6)
    return max(voxel, EDGE_TO_RESOLUTION * width)


def bone_thresholds(
    spacing: NDArray[np.float64], metal_hu: float = 2500.0, resolution: float | None = None
) -> BoneThresholds:
    """Thresholds for the voxel size: the cortex seed halfway between soft tissue and what a
    cortex of :data:`CORTEX_MM` reads in one voxel (about 550 HU at 1 mm, 240 HU at 3 mm); the
    growth threshold above disc (80-110 HU) and below trabecular bone of a normal adult
    (150-250 HU). ``resolution`` (mm, :func:`resolution_mm`) replaces the voxel size when
    larger."""
    v = max(effective_voxel_mm(spacing), resolution or 0.0)
    seen = SOFT_TISSUE_HU + (CORTEX_HU - SOFT_TISSUE_HU) * min(1.0, CORTEX_MM / v)
    cortex = SOFT_TISSUE_HU + 0.5 * (seen - SOFT_TISSUE_HU)
    cortex = max(cortex, 200.0)
    return BoneThresholds(
        cortex_hu=cortex,
        grow_hu=130.0,
        trabecular_hu=140.0,
        metal_hu=metal_hu,
        edge_hu=max(130.0, 0.5 * (SOFT_TISSUE_HU + cortex)),
    )


LOW_MARROW_HU = 100.0
"""Least HU of the marrow of a low-density (osteopenic) body as a 3 mm voxel reads it
(90-150 HU), above most muscle and fat in front of the spine (-100-60 HU)."""


def body_extent(hu: F32, thresholds: BoneThresholds) -> Mask:
    """Bone with the low-density marrow joined to it (above :data:`LOW_MARROW_HU` and
    connected to a cortex seed): how deep a body reaches in front of the canal, where a
    broken cortical ring encloses too little of it; too generous for the bone itself (the
    discs read 80-110 HU)."""
    return np.asarray(
        apply_hysteresis_threshold(
            hu, min(LOW_MARROW_HU, thresholds.grow_hu), thresholds.cortex_hu
        ),
        dtype=bool,
    )


def noise_hu(hu: F32) -> float:
    """Image noise (HU): the median local standard deviation (3-voxel windows) over voxels of
    soft-tissue density."""
    mean = ndimage.uniform_filter(hu, 3)
    sq = ndimage.uniform_filter(hu * hu, 3)
    sd = np.sqrt(np.maximum(sq - mean * mean, 0.0))
    soft = (mean > -20.0) & (mean < 90.0)
    return float(np.median(sd[soft])) if soft.any() else 0.0


def denoise(hu: F32) -> tuple[F32, float]:
    """The CT smoothed just enough (Gaussian, sigma in voxels) to bring its noise near
    :data:`NOISE_TARGET_HU`, and that sigma (0 when no smoothing was needed). White noise
    falls by about (2 sqrt(pi) sigma)^1.5 under a 3-D Gaussian of sigma voxels."""
    noise = noise_hu(hu)
    sigma = (noise / NOISE_TARGET_HU) ** (2.0 / 3.0) / (2.0 * np.sqrt(np.pi))
    if sigma < 0.3:
        return hu, 0.0
    return np.asarray(ndimage.gaussian_filter(hu, sigma), dtype=np.float32), float(sigma)


def metal_mask(hu: F32, spacing: NDArray[np.float64], metal_hu: float, margin_mm: float) -> Mask:
    """Metal voxels (above ``metal_hu``) grown by ``margin_mm`` to cover their blooming."""
    metal = hu > metal_hu
    if not metal.any() or margin_mm <= 0:
        return np.asarray(metal)
    reach = np.asarray(ndimage.distance_transform_edt(~metal, sampling=spacing))
    return np.asarray(reach <= margin_mm)


def cortex_mask(hu: F32, thresholds: BoneThresholds) -> Mask:
    """Cortical (and bright trabecular) bone: above ``grow_hu`` and connected to a voxel above
    ``cortex_hu``."""
    return np.asarray(
        apply_hysteresis_threshold(hu, thresholds.grow_hu, thresholds.cortex_hu), dtype=bool
    )


def _plane_structure(axis: int) -> NDArray[np.bool_]:
    st = np.zeros((3, 3, 3), dtype=bool)
    sl: list[slice | int] = [slice(None)] * 3
    sl[axis] = 1
    st[tuple(sl)] = ndimage.generate_binary_structure(2, 1)
    return st


def fill_in_planes(mask: Mask, axis: int) -> Mask:
    """``mask`` with the holes of every plane normal to array ``axis`` filled."""
    return np.asarray(ndimage.binary_fill_holes(mask, structure=_plane_structure(axis)))


def enclosed(
    cortex: Mask, lumen: Mask | None = None, spacing: NDArray[np.float64] | None = None
) -> Mask:
    """The cortex with what it encloses: holes of sagittal (axis 0 normal) and coronal (axis 1
    normal) planes and of the volume. Plain axial holes are left out: the arches enclose the
    spinal canal in axial planes, and the ring apophyses enclose the disc; neither is bone.

    With the canal's ``lumen`` known, the lumen serves as a wall while filling, a body cut by
    the first or last slice is closed there by a lid (that slice's bone closed over small
    gaps and filled, less the lumen), and deep axial holes are marrow too
    (:func:`axial_marrow`); the disc tissue this takes in between the ring apophyses is
    cleared once the discs are known."""
    if lumen is None or spacing is None:
        filled = fill_in_planes(cortex, 0) | fill_in_planes(cortex, 1)
        return np.asarray(ndimage.binary_fill_holes(filled))
    # the lumen is a wall while filling: a body whose posterior cortex is open (the
    # basivertebral foramen, partial volume) still encloses its marrow against the canal
    wall = cortex | lumen
    st = ndimage.generate_binary_structure(2, 1)
    # the lid: the face slice's bone closed over gaps of a few voxels (a noisy or thin cortex)
    # and filled
    lids = [
        np.asarray(
            ndimage.binary_fill_holes(
                ndimage.binary_closing(wall[:, :, k], structure=st, iterations=2), structure=st
            )
        )
        & ~lumen[:, :, k]
        for k in (0, -1)
    ]
    padded = np.concatenate([lids[0][:, :, None], wall, lids[1][:, :, None]], axis=2)
    filled = fill_in_planes(padded, 0) | fill_in_planes(padded, 1)
    filled = np.asarray(ndimage.binary_fill_holes(filled))[:, :, 1:-1]
    return (filled | axial_marrow(wall, spacing)) & ~lumen


AXIAL_HOLE_MM = 4.0
"""Least inscribed radius of an axial hole of the bone taken as marrow (mm): a body's interior
is 15-25 mm across; the slivers between the canal's lumen and its bony wall are a voxel thick."""


def axial_marrow(wall: Mask, spacing: NDArray[np.float64]) -> Mask:
    """Holes of the axial slices of ``wall`` (bone and the canal's lumen, closed over gaps of
    up to two voxels) at least :data:`AXIAL_HOLE_MM` deep: the marrow inside a body's
    cortical ring, even where the ring is open toward the canal (the basivertebral foramen)
    or the sagittal outline is broken."""
    st = _plane_structure(2)
    # a thin noisy cortex leaves gaps of a voxel or two in the ring: close them first
    closed = np.asarray(
        ndimage.binary_closing(wall, structure=st, iterations=2, border_value=0), dtype=bool
    )
    holes = np.asarray(ndimage.binary_fill_holes(closed, structure=st), dtype=bool) & ~closed
    if not holes.any():
        return np.zeros(wall.shape, dtype=bool)
    depth = ndimage.distance_transform_edt(
        holes, sampling=(float(spacing[0]), float(spacing[1]), 1e4)
    )
    lab, n = ndimage.label(holes, structure=st)
    deepest = np.zeros(n + 1)
    np.maximum.at(deepest, lab[holes], depth[holes])
    keep = deepest >= AXIAL_HOLE_MM
    keep[0] = False
    return np.asarray(keep[lab], dtype=bool)


def bone_mask(
    hu: F32,
    thresholds: BoneThresholds,
    spacing: NDArray[np.float64],
    lumen: Mask | None = None,
    metal: Mask | None = None,
) -> Mask:
    """Bone: the cortex with what it encloses (:func:`enclosed`), and marrow brighter than
    ``trabecular_hu`` connected to the cortex; never the canal's ``lumen`` or ``metal``."""
    cortex = cortex_mask(hu, thresholds)
    marrow = np.asarray(
        apply_hysteresis_threshold(hu, thresholds.trabecular_hu, thresholds.cortex_hu), dtype=bool
    )
    bone = enclosed(cortex, lumen, spacing) | marrow
    if lumen is not None:
        bone &= ~lumen
    if metal is not None:
        bone &= ~metal
    return np.asarray(bone)


STAR_RAYS = 72
"""Rays cast from a body's centre in each axial slice (every 5 degrees)."""
STAR_REACH_MM = 32.0
"""Farthest a ray looks for the body's cortex (mm; the widest lumbar body is 55 mm across)."""
STAR_MIN_HITS = 0.6
"""Least share of rays that must meet the cortex for a slice to show a body's ring."""


def star_fill(wall: Mask, centres: NDArray[np.float64], spacing: NDArray[np.float64]) -> Mask:
    """The cross-sections of the vertebral bodies, filled from their centres.

    ``centres`` (n, 3) are body centres in voxel coordinates, one per slice they lie in (axis
    2). In each such slice, rays cast from the centre stop at the first ``wall`` voxel (cortex
    or the canal's lumen); rays that escape through a gap of the ring take the radius of their
    neighbours (circular interpolation, then a median over five rays), so the body's outline
    is closed however thin or noisy its cortex. Slices where fewer than
    :data:`STAR_MIN_HITS` of the rays meet the wall (a disc, no body) get nothing."""
    out = np.zeros(wall.shape, dtype=bool)
    if len(centres) == 0:
        return out
    sx, sy = float(spacing[0]), float(spacing[1])
    step = 0.5 * min(sx, sy)
    radii = np.arange(step, STAR_REACH_MM + 1e-9, step)
    theta = np.linspace(0.0, 2.0 * np.pi, STAR_RAYS, endpoint=False)
    ux, uy = np.cos(theta), np.sin(theta)
    zc = np.rint(centres[:, 2]).astype(int)
    ok = (zc >= 0) & (zc < wall.shape[2])
    centres, zc = centres[ok], zc[ok]
    # sample points (slice, ray, radius) in voxel coordinates
    px = centres[:, 0, None, None] + ux[None, :, None] * radii[None, None, :] / sx
    py = centres[:, 1, None, None] + uy[None, :, None] * radii[None, None, :] / sy
    pz = np.broadcast_to(zc[:, None, None], px.shape)
    inside = (px >= 0) & (px <= wall.shape[0] - 1) & (py >= 0) & (py <= wall.shape[1] - 1)
    ii = np.rint(np.clip(px, 0, wall.shape[0] - 1)).astype(int)
    jj = np.rint(np.clip(py, 0, wall.shape[1] - 1)).astype(int)
    hit = wall[ii, jj, pz] & inside
    first = np.where(hit.any(axis=2), hit.argmax(axis=2), -1)
    r = np.where(first >= 0, radii[np.clip(first, 0, None)], np.nan)
    share = np.isfinite(r).mean(axis=1)
    rows = np.flatnonzero(share >= STAR_MIN_HITS)
    if len(rows) == 0:
        return out
    r = r[rows]
    # close the gaps: circular interpolation over the rays, then a median of five
    k = np.arange(STAR_RAYS)
    filled = np.empty_like(r)
    for row in range(len(r)):  # a few hundred slices at most, each a 72-element step
        good = np.isfinite(r[row])
        filled[row] = np.interp(k, k[good], r[row, good], period=STAR_RAYS)
    filled = ndimage.median_filter(filled, size=(1, 5), mode="wrap")
    # rasterise: each voxel of the slice within reach takes the radius at its angle
    nx, ny = wall.shape[:2]
    reach_x, reach_y = int(np.ceil(STAR_REACH_MM / sx)), int(np.ceil(STAR_REACH_MM / sy))
    for prof, c, z in zip(filled, centres[rows], zc[rows], strict=True):  # one 2-D step a slice
        x0, x1 = max(0, int(c[0]) - reach_x), min(nx, int(c[0]) + reach_x + 1)
        y0, y1 = max(0, int(c[1]) - reach_y), min(ny, int(c[1]) + reach_y + 1)
        gx, gy = np.meshgrid(np.arange(x0, x1), np.arange(y0, y1), indexing="ij")
        dx, dy = (gx - c[0]) * sx, (gy - c[1]) * sy
        ang = np.mod(np.arctan2(dy, dx), 2.0 * np.pi) / (2.0 * np.pi) * STAR_RAYS
        lim = np.interp(ang, np.arange(STAR_RAYS + 1), np.append(prof, prof[0]))
        out[x0:x1, y0:y1, z] |= np.hypot(dx, dy) <= lim
    return out & ~wall


EDGE_WINDOW_MM = 4.0
"""Width of the neighbourhood whose brightest voxel sets a surface voxel's half-maximum (mm)."""


def surface_fraction(spacing: NDArray[np.float64], resolution: float | None = None) -> float:
    """Where between soft tissue (0) and the local maximum (1) the bone's surface lies: one
    half for voxels up to 1.5 mm, falling to a fifth at 3 mm, where a surface voxel holding a
    third of bone still counts as bone."""
    v = max(effective_voxel_mm(spacing), resolution or 0.0)
    return float(np.clip(0.5 - 0.2 * (v - 1.5), 0.2, 0.5))


def half_max_surface(
    bone: Mask,
    hu: F32,
    spacing: NDArray[np.float64],
    resolution: float | None = None,
    passes: int = 1,
) -> Mask:
    """``bone`` with the voxels of its outer surface darker than the local edge level
    (:func:`surface_fraction` of the way from soft tissue to the brightest voxel within
    :data:`EDGE_WINDOW_MM`) taken off, ``passes`` voxels deep: the hysteresis grows the cortex
    past the half-maximum, where a segmentation puts the bone's surface, by about a voxel."""
    size = np.maximum(3, 2 * np.rint(EDGE_WINDOW_MM / 2 / np.asarray(spacing)).astype(int) + 1)
    local = ndimage.maximum_filter(hu, size=tuple(int(k) for k in size))
    edge = SOFT_TISSUE_HU + surface_fraction(spacing, resolution) * (local - SOFT_TISSUE_HU)
    out = bone.copy()
    st = ndimage.generate_binary_structure(3, 1)
    for _ in range(passes):
        surface = out & ~ndimage.binary_erosion(out, structure=st, border_value=1)
        out &= ~(surface & (hu < edge))
    return out
