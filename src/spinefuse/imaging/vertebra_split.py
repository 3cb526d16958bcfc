"""Vertebrae separated at the discs, and bodies from their arches.

Every bone voxel near the column gets column coordinates: its nearest point of the bodies'
centre line (arclength ``s``) and its offsets square to it (lateral ``u``, anterior ``v``).
The core of each body (bone near the centre line, between two discs with a margin) seeds that
vertebra; bone far to the side (ribs past their necks, the ilia, the femora) or in front of the
bodies seeds "not spine". A watershed on the inverted intensity then grows each seed over the
bone: boundaries settle on the darkest lines between two seeds, the facet joints, the
costovertebral and sacroiliac joints, so each arch goes to the body its pedicles join. The body
of a vertebra is its part in front of the canal's anterior wall.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from scipy.spatial import cKDTree
from skimage.segmentation import watershed

from spinefuse.imaging.spine_column import STEP_MM, Column, Disc, frame, square_axes

F64 = NDArray[np.float64]
Mask = NDArray[np.bool_]

REACH_MM = 90.0
"""Farthest a vertebra's bone lies from its body's centre line (mm; transverse process tips
and spinous processes reach 45-70 mm)."""
LATERAL_LIMIT_MM = 58.0
"""Bone farther to the side of the centre line is not spine (mm): lumbar transverse processes
span 70-100 mm tip to tip; ribs and ilia reach beyond."""
ANTERIOR_LIMIT_MM = 32.0
"""Bone farther in front of the centre line is not spine (mm): a body is 30-40 mm deep, so its
front wall lies 15-20 mm in front of the centre; anterior osteophytes add a few mm."""
CORE_RADIUS_MM = 11.0
"""Front-back half-axis of a body's seed about the centre line (mm), well inside the
shallowest body (T9, 28 mm deep)."""
CORE_LATERAL_MM = 16.0
"""Lateral half-axis of a body's seed (mm; T9 is 33 mm wide, L5 50 mm): a seed across most
of the body keeps the level above or below from flooding its sides through the disc's rim."""
PEDICLE_DEPTH_MM = 10.0
"""Depth of the pedicle seeds behind the body's posterior wall (mm; pedicles are 10-20 mm long
from the wall to the base of the lamina)."""
LUMEN_HALF_MM = 7.0
"""Half the canal's front-back diameter (mm; 14-18 mm in the lumbar spine)."""
LAMINA_MM = 10.0
"""Depth of the lamina seeds behind the canal (mm)."""
DISC_CLEAR_MM = 24.0
"""Radius about a disc's axis within which its tissue is cleared from the bone (mm)."""
MIN_LEVEL_ML = 1.0
"""Least bone volume of a level (ml); less is a sliver of a vertebra at the scan's edge."""
SPINOUS_FROM_MM = 12.0
"""Least depth behind the canal's posterior wall of a spinous process seed (mm; deeper than
the laminae of the level below)."""
SPINOUS_SPAN = (-0.2, 0.3)
"""Where along its level a spinous process is seeded, as a share of the body's height from
its lower disc (negative: below it): from the lower third of the body to a fifth of a body
below. Deeper, the seed reaches the upper border of the next spinous process down, which in
the lumbar spine rises to the middle of its own body."""
CORE_MARGIN_MM = 3.0
"""Gap kept between a body's seed and the disc planes (mm)."""
BODY_SEED_LATERAL_MM = 24.0
"""Half-width of the body seed in front of the posterior wall (mm; lumbar bodies are 40-50
mm wide; the transverse processes spring from behind the wall)."""


@dataclass(frozen=True)
class Levels:
    """The vertebrae found, caudal to cranial: ``regions`` labels the grid's bone with 1…n (0
    elsewhere, n + 1 for bone that is not spine); ``bounds`` gives each level's span along the
    centre line (first and last column index), ``bodies`` marks the body part of each level."""

    regions: NDArray[np.int32]
    bodies: Mask
    bounds: NDArray[np.int64]
    other: int


def column_coordinates(col: Column, points_mm: F64) -> tuple[NDArray[np.int64], F64, F64, F64]:
    """For points (n, 3, mm): index of the nearest centre-line point, their distance to it
    (mm), and their lateral and anterior offsets from it (mm)."""
    tree = cKDTree(col.points)
    dist, idx = tree.query(points_mm, k=1)
    lat, ant = frame(col)
    rel = points_mm - col.points[idx]
    u = np.einsum("ij,ij->i", rel, lat[idx])
    v = np.einsum("ij,ij->i", rel, ant[idx])
    return np.asarray(idx, dtype=np.int64), np.asarray(dist, dtype=float), u, v


def _canal_coordinates(
    col: Column, points_mm: F64, lat: F64, ant: F64
) -> tuple[NDArray[np.int64], F64, F64]:
    """For points (n, 3, mm): index of the nearest point of the canal's centre line, and
    their lateral and anterior offsets from it (mm, in the column's frame there)."""
    _, idx = cKDTree(col.canal).query(points_mm, k=1)
    idx = np.asarray(idx, dtype=np.int64)
    rel = points_mm - col.canal[idx]
    return idx, np.einsum("ij,ij->i", rel, lat[idx]), np.einsum("ij,ij->i", rel, ant[idx])


def level_bounds(
    col: Column, discs: list[Disc], min_mm: float = 8.0, min_end_mm: float = 2.0
) -> NDArray[np.int64]:
    """Spans (first, last column index) between consecutive discs, and from the column's ends
    to the first and last disc; (n, 2), caudal first. Spans shorter than ``min_mm`` between two
    discs, or ``min_end_mm`` at an end (a sliver of a body the scan cuts), are dropped."""
    last = len(col.points) - 1
    cuts = [0, *[d.index for d in discs], last]
    spans = []
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        least = min_end_mm if a == 0 or b == last else min_mm
        if (b - a) * STEP_MM >= least:
            spans.append((a, b))
    return np.asarray(spans, dtype=np.int64).reshape(-1, 2)


ENDPLATE_REACH_MM = 10.0
"""Farthest from a disc's mid-plane its endplates are sought (mm; half the thickest adult
disc, 13-14 mm at the centre of a biconvex L4-L5 disc, and a margin)."""


ENDPLATE_HU = 130.0
"""Least HU of an endplate's brightest point along a line across the disc (bone, above the
disc's 60-110 HU, as a 3 mm voxel still reads a 1 mm endplate)."""
ENDPLATE_CONTRAST_HU = 50.0
"""Least rise from the disc to its endplate along a line across it (HU)."""


def _endplates(d: Disc, hu: NDArray[np.float32], spacing: F64) -> tuple[F64, F64, F64, F64]:
    """The two endplates across a disc, column by column: on a grid of lines parallel to the
    disc's normal (every mm, within :data:`DISC_CLEAR_MM` of its axis), from the darkest
    point within 3 mm of the mid-plane out to where the HU (smoothed over a mm along the
    line) first rise half the way to the brightest point on that side (an endplate: at
    least :data:`ENDPLATE_HU` and :data:`ENDPLATE_CONTRAST_HU` above the disc), within
    :data:`ENDPLATE_REACH_MM`: the surface at half maximum, whatever the voxel size.
    Returns the grid's in-plane axes (mm), and the lower and upper endplate offsets (mm along
    the normal, (n, n) each; NaN where the line meets no bone on that side: past the
    bodies' rims)."""
    e1, e2 = square_axes(d.normal)
    r = np.arange(-DISC_CLEAR_MM, DISC_CLEAR_MM + 1e-9, 1.0)
    t = np.arange(-ENDPLATE_REACH_MM, ENDPLATE_REACH_MM + 1e-9, 0.5)
    uu, vv, tt = np.meshgrid(r, r, t, indexing="ij")
    pts = d.centre + uu[..., None] * e1 + vv[..., None] * e2 + tt[..., None] * d.normal
    vals = ndimage.map_coordinates(
        hu, (pts / spacing).reshape(-1, 3).T, order=1, mode="nearest"
    ).reshape(tt.shape)
    vals = ndimage.gaussian_filter1d(vals, 2.0, axis=2, mode="nearest")  # 1 mm
    near = np.abs(t) <= 3.0
    start = np.argmin(np.where(near[None, None, :], vals, np.inf), axis=2)
    floor = np.take_along_axis(vals, start[..., None], axis=2)
    k = np.arange(len(t))[None, None, :]
    sides = []
    for side in (k > start[..., None], k < start[..., None]):
        peak = np.where(side, vals, -np.inf).max(axis=2, keepdims=True)
        # an endplate: bone-bright, well above the disc; its surface at half the way up
        plate = (peak >= ENDPLATE_HU) & (peak - floor >= ENDPLATE_CONTRAST_HU)
        rising = side & (vals >= 0.5 * (floor + peak)) & plate
        sides.append(rising)
    up, down = sides
    hi_k = np.where(up.any(axis=2), up.argmax(axis=2), -1)
    lo_k = np.where(down.any(axis=2), len(t) - 1 - np.flip(down, axis=2).argmax(axis=2), -1)
    hi = np.where(hi_k >= 0, t[np.clip(hi_k, 0, None)] - 0.25, np.nan)
    lo = np.where(lo_k >= 0, t[np.clip(lo_k, 0, None)] + 0.25, np.nan)
    return r, r, lo, hi


def remove_disc_tissue(
    discs: list[Disc], bone: Mask, hu: NDArray[np.float32], spacing: F64, below_hu: float
) -> Mask:
    """``bone`` without the discs: voxels darker than ``below_hu`` between a disc's two
    endplates (found line by line across the disc, :func:`_endplates`, so a biconvex disc
    between concave endplates is cleared to its full height at the middle), within
    :data:`DISC_CLEAR_MM` of its axis; where a line meets no endplate (past the bodies'
    rims), within the disc's fitted slab. The cortex's hole filling and partial volume with
    the endplates pull disc tissue into the bone."""
    out = bone.copy()
    for d in discs:  # a few discs, each vectorised over its box
        ru, rv, lo_t, hi_t = _endplates(d, hu, spacing)
        half = DISC_CLEAR_MM + ENDPLATE_REACH_MM
        lo = np.maximum(np.floor((d.centre - half) / spacing).astype(int), 0)
        hi = np.minimum(np.ceil((d.centre + half) / spacing).astype(int) + 1, bone.shape)
        box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
        axes = [np.arange(a, b) * spacing[k] for k, (a, b) in enumerate(zip(lo, hi, strict=True))]
        grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1) - d.centre
        e1, e2 = square_axes(d.normal)
        t = grid @ d.normal
        u, v = grid @ e1, grid @ e2
        radial = np.hypot(u, v)
        iu = np.clip(np.rint(u - ru[0]).astype(int), 0, len(ru) - 1)
        iv = np.clip(np.rint(v - rv[0]).astype(int), 0, len(rv) - 1)
        a, b = lo_t[iu, iv], hi_t[iu, iv]
        bounded = np.isfinite(a) & np.isfinite(b)
        between = np.where(bounded, (t > a) & (t < b), np.abs(t) <= d.height_mm / 2.0)
        disc = between & (radial <= DISC_CLEAR_MM)
        out[box] &= ~(disc & (hu[box] < below_hu))
    return out


WALL_RAY_MM = 30.0
"""Farthest in front of the canal's centre its body's posterior wall is sought (mm; the
canal's half depth, 7-10 mm, and a margin for a centre line off the middle)."""
WALL_MIN_MM = 4.0
"""Least distance from the canal's centre to the posterior wall (mm; a narrowed canal)."""


def posterior_wall(col: Column, ant: F64, bone: Mask, spacing: F64) -> F64:
    """Distance from the canal's centre to its body's posterior wall at each column point
    (mm): the first bone (half a voxel's share or more, read by linear interpolation) on the
    ray forward from the canal's centre, between :data:`WALL_MIN_MM` and :data:`WALL_RAY_MM`,
    a running median over 9 mm along the column; the column's own estimate (from the cortex
    alone, which a broken posterior cortex lets run deep into the body) where no ray meets
    bone."""
    step = 0.5
    s = np.arange(0.0, WALL_RAY_MM + 1e-9, step)
    ray = col.canal[:, None, :] + s[None, :, None] * ant[:, None, :]
    vals = ndimage.map_coordinates(
        bone.astype(np.float32), (ray / spacing).reshape(-1, 3).T, order=1, mode="constant"
    ).reshape(len(col.points), len(s))
    solid = (vals >= 0.5) & (s[None, :] >= WALL_MIN_MM)
    found = solid.any(axis=1)
    wall = np.where(found, s[np.argmax(solid, axis=1)], np.nan)
    if found.sum() < 3:
        return np.asarray(col.wall_mm, dtype=float)
    k = np.arange(len(wall))
    filled = np.interp(k, k[found], wall[found])
    smooth = ndimage.median_filter(filled, size=int(round(9.0 / STEP_MM)) | 1, mode="nearest")
    return np.asarray(np.where(found, smooth, col.wall_mm), dtype=float)


def split_levels(
    col: Column,
    discs: list[Disc],
    bone: Mask,
    hu: NDArray[np.float32],
    spacing: F64,
) -> Levels:
    """Label the bone near the column by vertebra (see the module docstring)."""
    bounds = level_bounds(col, discs)
    kept = [d for d in discs if any(d.index in (a, b) for a, b in bounds)]
    n = len(bounds)
    other = n + 1
    ijk = np.argwhere(bone)
    pts = ijk * spacing
    idx, dist, u, v = column_coordinates(col, pts)
    lat, ant = frame(col)
    wall_pts = col.canal + col.wall_mm[:, None] * ant
    wall_v = np.einsum("ij,ij->i", wall_pts - col.points, ant)
    canal_v = np.einsum("ij,ij->i", col.canal - col.points, ant)
    canal_u = np.einsum("ij,ij->i", col.canal - col.points, lat)
    # bone behind the bodies takes its place along the column from the canal it surrounds:
    # where the column bends (the sacrum), the nearest body point of an arch may lie levels
    # away from the canal point beside it
    ic, uc, vc = _canal_coordinates(col, pts, lat, ant)
    arch = vc < col.wall_mm[ic]
    idx = np.where(arch, ic, idx)
    u = np.where(arch, uc + canal_u[ic], u)
    v = np.where(arch, vc + canal_v[ic], v)
    near = dist <= REACH_MM
    seeds = np.zeros(bone.shape, dtype=np.int32)
    core = (u / CORE_LATERAL_MM) ** 2 + (v / CORE_RADIUS_MM) ** 2 <= 1.0
    # the whole body in front of its posterior wall, between its discs: its anterior cortex
    # is the brightest path past a disc's rim, so a watershed from a core alone lets the
    # level above or below flood it
    body_wall = col.canal + posterior_wall(col, ant, bone, spacing)[:, None] * ant
    body_v = np.einsum("ij,ij->i", body_wall - col.points, ant)
    body_seed = (v >= body_v[idx]) & (v <= ANTERIOR_LIMIT_MM) & (np.abs(u) <= BODY_SEED_LATERAL_MM)
    behind = v - wall_v[idx]
    # the pedicles: just behind the body's posterior wall, either side of the canal
    pedicle = (behind <= 0.0) & (behind >= -PEDICLE_DEPTH_MM) & (np.abs(u) >= 5.0)
    pedicle &= np.abs(u) <= 25.0
    # the root of the lamina: just behind the canal, near the midline
    behind_canal = v - canal_v[idx]
    lamina = (behind_canal <= -LUMEN_HALF_MM) & (behind_canal >= -LUMEN_HALF_MM - LAMINA_MM)
    lamina &= np.abs(u) <= 12.0
    # the superior articular processes: lateral, just behind the pedicles
    articular = (np.abs(u) >= 15.0) & (np.abs(u) <= 30.0) & (behind <= -3.0) & (behind >= -15.0)
    # the spinous process: well behind the canal, on the midline
    spinous = (behind_canal <= -LUMEN_HALF_MM - SPINOUS_FROM_MM) & (np.abs(u) <= 6.0)
    # signed distances to the disc planes that bound each level; behind the bodies'
    # posterior wall a disc's plane is carried on square to the column from where it meets
    # the wall (a tilted disc's plane, L5-S1's above all, would rise through the arches of
    # the level above it)
    wall_at = wall_pts[idx]
    along = np.einsum("ij,ij->i", pts - wall_at, col.tangents[idx])
    at = np.where((behind < 0.0)[:, None], wall_at + along[:, None] * col.tangents[idx], pts)
    by_index = {d.index: d for d in kept}
    for k, (a, b) in enumerate(bounds):  # a few levels, each vectorised
        below = by_index.get(int(a))
        above = by_index.get(int(b))
        d_lo = (
            below.signed(at) - below.height_mm / 2 if below is not None else np.full(len(pts), 1e3)
        )
        d_hi = (
            -above.signed(at) - above.height_mm / 2 if above is not None else np.full(len(pts), 1e3)
        )
        between = (d_lo >= CORE_MARGIN_MM) & (d_hi >= CORE_MARGIN_MM)
        sel = near & core & between
        # the whole body up to the discs' slabs: their tissue is cleared, so the bone left
        # there (the endplates, the ring apophyses) is this body's
        sel |= near & body_seed & (d_lo >= 0.0) & (d_hi >= 0.0)
        # the pedicles and the lamina's root join the upper half of the body
        if below is not None and above is not None:
            frac = d_lo / np.maximum(d_lo + d_hi, 1e-6)
            upper = (frac >= 0.45) & (frac <= 0.9)
        else:
            upper = between
        sel |= near & (pedicle | lamina) & upper & (d_lo >= 0) & (d_hi >= 0)
        # the superior articular processes rise beside the disc above, lateral to the
        # inferior ones of the level above
        if above is not None:
            sel |= near & articular & (d_hi >= -4.0) & (d_hi <= 6.0)
        # it hangs down from the lamina, its root beside the lower part of its body
        if below is not None and above is not None:
            lower = (frac >= SPINOUS_SPAN[0]) & (frac <= SPINOUS_SPAN[1])
            sel |= near & spinous & lower
        seeds[tuple(ijk[sel].T)] = k + 1
    away = near & ((np.abs(u) > LATERAL_LIMIT_MM) | (v > ANTERIOR_LIMIT_MM))
    # past the column's ends (the pelvis below the sacrum, ribs above) the bone is not spine
    ends = (idx == 0) | (idx == len(col.points) - 1)
    away |= ends & (dist > CORE_RADIUS_MM * 2) & (np.abs(u) > CORE_RADIUS_MM * 2)
    away |= ~near
    seeds[tuple(ijk[away].T)] = other
    regions = watershed(-hu, markers=seeds, mask=bone).astype(np.int32)
    # a span that kept too little bone (a sliver at the scan's edge) is no level
    voxel_ml = float(np.prod(spacing)) / 1000.0
    counts = np.bincount(regions.ravel(), minlength=other + 1)[1 : n + 1] * voxel_ml
    keep = np.flatnonzero(counts >= MIN_LEVEL_ML)
    if len(keep) < n:
        lut = np.zeros(other + 1, dtype=np.int32)
        lut[keep + 1] = np.arange(1, len(keep) + 1)
        lut[other] = len(keep) + 1
        regions = lut[regions]
        bounds = bounds[keep]
        n = len(keep)
        other = n + 1
    # the body: the part in front of the canal's anterior wall
    lab = regions[tuple(ijk.T)]
    in_body = (lab >= 1) & (lab <= n) & (v >= body_v[idx])
    bodies = np.zeros(bone.shape, dtype=bool)
    bodies[tuple(ijk[in_body].T)] = True
    return Levels(regions=regions, bodies=bodies, bounds=bounds, other=other)


def merge_lowest(levels: Levels, top: int) -> Levels:
    """The levels with the lowest ``top`` + 1 (indices 0…``top``) merged into one: the
    sacrum's segments below S1, which a remnant S1-S2 disc splits."""
    n = len(levels.bounds)
    lut = np.arange(levels.other + 1, dtype=np.int32)
    lut[1 : top + 2] = 1
    lut[top + 2 : n + 1] = np.arange(2, n - top + 1)
    lut[levels.other] = n - top + 1
    bounds = np.concatenate(
        [[[levels.bounds[0, 0], levels.bounds[top, 1]]], levels.bounds[top + 1 :]]
    )
    return Levels(
        regions=lut[levels.regions],
        bodies=levels.bodies,
        bounds=np.asarray(bounds, dtype=np.int64),
        other=n - top + 1,
    )
