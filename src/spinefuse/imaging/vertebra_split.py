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
from scipy.spatial import cKDTree
from skimage.segmentation import watershed

from spinefuse.imaging.spine_column import STEP_MM, Column, Disc, frame

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
"""Radius of a body's seed about the centre line (mm), well inside the smallest body."""
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
CORE_MARGIN_MM = 3.0
"""Gap kept between a body's seed and the disc planes (mm)."""


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


def remove_disc_tissue(
    discs: list[Disc], bone: Mask, hu: NDArray[np.float32], spacing: F64, below_hu: float
) -> Mask:
    """``bone`` without the discs: in each disc's slab (its fitted height), within
    :data:`DISC_CLEAR_MM` of its axis, voxels darker than ``below_hu`` are disc, not bone (the
    cortex's hole filling and partial volume with the endplates pull some in)."""
    out = bone.copy()
    for d in discs:  # a few discs, each vectorised over its box
        half = DISC_CLEAR_MM + 5.0
        lo = np.maximum(np.floor((d.centre - half) / spacing).astype(int), 0)
        hi = np.minimum(np.ceil((d.centre + half) / spacing).astype(int) + 1, bone.shape)
        box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
        axes = [np.arange(a, b) * spacing[k] for k, (a, b) in enumerate(zip(lo, hi, strict=True))]
        grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
        t = (grid - d.centre) @ d.normal
        radial = np.linalg.norm(grid - d.centre - t[..., None] * d.normal, axis=-1)
        slab = (np.abs(t) <= d.height_mm / 2.0) & (radial <= DISC_CLEAR_MM)
        out[box] &= ~(slab & (hu[box] < below_hu))
    return out


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
    near = dist <= REACH_MM
    seeds = np.zeros(bone.shape, dtype=np.int32)
    core = np.hypot(u, v) <= CORE_RADIUS_MM
    lat, ant = frame(col)
    wall_pts = col.canal + col.wall_mm[:, None] * np.array([0.0, 1.0, 0.0])
    wall_v = np.einsum("ij,ij->i", wall_pts - col.points, ant)
    canal_v = np.einsum("ij,ij->i", col.canal - col.points, ant)
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
    # signed distances to the disc planes that bound each level
    by_index = {d.index: d for d in kept}
    for k, (a, b) in enumerate(bounds):  # a few levels, each vectorised
        below = by_index.get(int(a))
        above = by_index.get(int(b))
        d_lo = (
            below.signed(pts) - below.height_mm / 2 if below is not None else np.full(len(pts), 1e3)
        )
        d_hi = (
            -above.signed(pts) - above.height_mm / 2
            if above is not None
            else np.full(len(pts), 1e3)
        )
        between = (d_lo >= CORE_MARGIN_MM) & (d_hi >= CORE_MARGIN_MM)
        sel = near & core & between
        # the pedicles and the lamina's root join the upper half of the body
        if below is not None and above is not None:
            frac = d_lo / np.maximum(d_lo + d_hi, 1e-6)
            upper = (frac >= 0.45) & (frac <= 0.9)
        else:
            upper = between
        sel |= near & (pedicle | lamina) & upper & (d_lo >= 0) & (d_hi >= 0)
        # the superior articular processes rise beside the disc above, lateral to the
        # inferior ones of the level above (not for the sacrum: its facets face a tilted disc)
        if above is not None and below is not None:
            sel |= near & articular & (d_hi >= -4.0) & (d_hi <= 6.0)
        # it hangs down from the lamina: from the lower fifth of its body to half a body below
        if below is not None and above is not None:
            lower = (frac >= -0.5) & (frac <= 0.2)
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
    in_body = (lab >= 1) & (lab <= n) & (v >= wall_v[idx])
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
