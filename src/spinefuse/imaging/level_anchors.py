"""Anchors in view that name levels: the sacrum, the iliac crest line, the lowest ribs.

All three are read off the watershed of :mod:`spinefuse.imaging.vertebra_split`, whose "not
spine" region holds the ilia, ribs and femora:

- **sacrum**: the highest level joined to the bone of both ilia over a broad surface (the
  sacroiliac joints: at least :data:`SI_CONTACT_ML` of the level lies within
  :data:`CONTACT_MM` of iliac bone on each side; a lumbar transverse process touching a crest
  is a point contact, far less);
- **iliac crest line**: the tops of the two iliac wings (the largest "not spine" bone on each
  side that reaches the sacrum's height or below); the level the line crosses;
- **lowest rib-bearing vertebra**: the lowest level that a rib touches (a "not spine" bone
  within :data:`CONTACT_MM` of it reaching :data:`RIB_REACH_MM` to the side) with a level in
  view below it that no rib touches.

The probabilities with which each marks each level are in ``data/level_anchors.yaml``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from spinefuse.imaging.level_naming import NAMEABLE, AnchorHit, anchor_names
from spinefuse.imaging.spine_column import STEP_MM, Column
from spinefuse.imaging.vertebra_split import Levels, column_coordinates
from spinefuse.imaging.volume import Volume

F64 = NDArray[np.float64]

CONTACT_MM = 5.0
"""Gap across which two bones touch (mm): a joint space at the working voxel size."""
SI_CONTACT_ML = 1.5
"""Least volume of a level lying within :data:`CONTACT_MM` of iliac bone on each side for it
to be the sacrum (ml; the auricular surfaces are 12-20 cm² each)."""
ILIUM_MIN_ML = 60.0
"""Least volume of a "not spine" bone for it to be an iliac wing (ml; a rib is 10-40 ml)."""
PELVIS_BELOW_MM = 40.0
"""How far below the lowest level's middle iliac bone must reach (mm)."""
MERGED_RISE_MM = 10.0
"""Most the sacrum level's upper disc lies above the top of its sacroiliac joints (mm)."""
SIDE_MM = 10.0
"""Least distance from the midline for a contact to count as left or right (mm)."""
WING_MM = 40.0
"""Least distance from the midline of an iliac wing's top (mm)."""
RIB_CONTACT_MM3 = 30.0
"""Least volume of a level within :data:`CONTACT_MM` of a rib for the rib to join it (mm³)."""
RIB_REACH_MM = 60.0
"""Least lateral reach of a bone touching a vertebra for it to be a rib (mm from the body's
centre line; lumbar transverse processes end within 50 mm)."""


def find_anchors(grid: Volume, levels: Levels, col: Column) -> list[AnchorHit]:
    """The anchors in view (see the module docstring), as :class:`AnchorHit` records."""
    n = len(levels.bounds)
    if n == 0:
        return []
    spacing = grid.spacing
    other = levels.regions == levels.other
    if not other.any():
        return []
    comp, n_comp = ndimage.label(other)
    idx = np.argwhere(other)
    cid = comp[tuple(idx.T)]
    _, _, u, _ = column_coordinates(col, idx * spacing)
    voxel_ml = float(np.prod(spacing)) / 1000.0
    size_ml = np.bincount(cid, minlength=n_comp + 1) * voxel_ml
    reach = np.zeros(n_comp + 1)
    np.maximum.at(reach, cid, np.abs(u))
    z_low = np.full(n_comp + 1, np.inf)
    np.minimum.at(z_low, cid, idx[:, 2] * spacing[2])
    # the pelvis: large "not spine" bone reaching well below the lowest level's middle (the
    # ilia reach 10 cm or more below the sacrum's top; ribs end within a level or two)
    mid_of_lowest = float(col.points[int(np.mean(levels.bounds[0])), 2])
    pelvic = (size_ml >= ILIUM_MIN_ML) & (z_low <= mid_of_lowest - PELVIS_BELOW_MM)
    pelvic[0] = False
    # distance (mm) from every voxel to the nearest "not spine" bone, and its component
    dist, near_idx = ndimage.distance_transform_edt(~other, sampling=spacing, return_indices=True)
    near_comp = comp[tuple(near_idx)]
    hits: list[AnchorHit] = []
    sacrum = _sacrum(levels, col, spacing, dist, pelvic[near_comp])
    if sacrum is not None:
        k, pos, joint_top = sacrum
        # the sacroiliac joints reach up to about the L5-S1 disc (its tilted plane meets the alae);
        # a level whose upper disc lies well above them holds L5 as well (its disc was not found)
        above = levels.bounds[k, 1]
        rise = float(col.points[above, 2] - joint_top[2] * spacing[2])
        merged = above < len(col.points) - 1 and rise > MERGED_RISE_MM
        hits.append(
            AnchorHit(
                kind="sacrum",
                index=k,
                names=anchor_names("sacrum") if not merged else {"S1": 0.5, "L5": 0.5},
                position=_world(grid, pos),
                detail="joined to both ilia at the sacroiliac joints"
                + (
                    f"; its top lies {rise:.0f} mm above the joints: L5 and S1 may be one "
                    "level here (the L5-S1 disc not found)"
                    if merged
                    else ""
                ),
            )
        )
    on_pelvis = pelvic[cid]
    crest = _crest(idx[on_pelvis], u[on_pelvis], spacing, col, levels)
    if crest is not None:
        hits.append(crest_hit(grid, crest, levels, col))
    rib = _lowest_rib(levels, spacing, dist, near_comp, reach, pelvic)
    if rib is not None:
        k, pos = rib
        hits.append(
            AnchorHit(
                kind="lowest_rib",
                index=k,
                names=anchor_names("lowest_rib"),
                position=_world(grid, pos),
                detail="the lowest level a rib joins; the level below bears none",
            )
        )
    return hits


def _world(grid: Volume, ijk: F64) -> tuple[float, float, float]:
    w = grid.voxel_to_world(np.asarray(ijk, dtype=float))
    return (float(w[0]), float(w[1]), float(w[2]))


def _sacrum(
    levels: Levels, col: Column, spacing: F64, dist: F64, near_pelvis: NDArray[np.bool_]
) -> tuple[int, F64, F64] | None:
    """(index, centroid voxel, highest contact voxel) of the highest level joined broadly to
    the pelvis on both sides of the midline."""
    voxel_ml = float(np.prod(spacing)) / 1000.0
    best = None
    for k in range(len(levels.bounds)):  # a few levels
        mine = np.argwhere(levels.regions == k + 1)
        if len(mine) == 0:
            continue
        _, _, u, _ = column_coordinates(col, mine * spacing)
        touch = (dist[tuple(mine.T)] <= CONTACT_MM) & near_pelvis[tuple(mine.T)]
        sides = [(touch & (u < -SIDE_MM)).sum(), (touch & (u > SIDE_MM)).sum()]
        if min(sides) * voxel_ml >= SI_CONTACT_ML:
            # where the joints begin: the highest contact, for the merged-level check
            top = mine[touch][np.argmax(mine[touch][:, 2])]
            best = (k, mine.mean(axis=0), top)
    return best


def _crest(
    pelvis_idx: NDArray[np.int64], u: F64, spacing: F64, col: Column, levels: Levels
) -> float | None:
    """Height (mm, grid frame) of the line through the tops of both iliac wings: the highest
    pelvic bone on each side, :data:`WING_MM` or more from the midline."""
    if len(pelvis_idx) == 0:
        return None
    z = pelvis_idx[:, 2] * spacing[2]
    tops = []
    for side in (-1, 1):
        sel = side * u >= WING_MM
        if not sel.any():
            return None
        tops.append(float(np.percentile(z[sel], 99.5)))
    if abs(tops[0] - tops[1]) > 25.0:  # one wing cut by the scan, or tilted past reading
        return None
    height = float(np.mean(tops))
    if height > float(col.points[levels.bounds[-1, 1], 2]) or height < float(col.points[0, 2]):
        return None  # outside the levels in view
    return height


def crest_hit(grid: Volume, z: float, levels: Levels, col: Column) -> AnchorHit:
    """The crest line as an anchor on the level (or the disc between two levels) it crosses."""
    table = anchor_names("iliac_crest")
    k = int(np.argmin(np.abs(col.points[:, 2] - z)))
    spans = levels.bounds
    inside = np.flatnonzero((spans[:, 0] <= k) & (spans[:, 1] >= k))
    near_disc = 3.0 / STEP_MM
    if len(inside):
        i = int(inside[0])
        names = dict(table)
        a, b = spans[i]
        above = i + 1 < len(spans) and b - k <= near_disc
        below = i > 0 and k - a <= near_disc
        if above:  # on the disc between level i and the one above it
            names = {n: 0.5 * (table.get(n, 0.0) + table.get(_up(n), 0.0)) for n in NAMEABLE}
        elif below:
            i -= 1
            names = {n: 0.5 * (table.get(n, 0.0) + table.get(_up(n), 0.0)) for n in NAMEABLE}
        names = {n: p for n, p in names.items() if p > 0}
    else:
        i = int(np.argmin(np.abs(spans.mean(axis=1) - k)))
        names = dict(table)
    pos = np.array([col.points[k, 0], col.points[k, 1], z]) / grid.spacing
    return AnchorHit(
        kind="iliac_crest",
        index=i,
        names=names,
        position=_world(grid, pos),
        detail="the line through the tops of both iliac crests",
    )


def _up(name: str) -> str:
    """The vertebra above ``name`` ("" above C1)."""
    k = NAMEABLE.index(name)
    return NAMEABLE[k - 1] if k > 0 else ""


def _lowest_rib(
    levels: Levels,
    spacing: F64,
    dist: F64,
    near_comp: NDArray[np.int32],
    reach: F64,
    pelvic: NDArray[np.bool_],
) -> tuple[int, F64] | None:
    """(index, centroid voxel) of the lowest level a rib touches, with a rib-free level below."""
    n = len(levels.bounds)
    has_rib = np.zeros(n, dtype=bool)
    where: dict[int, F64] = {}
    for k in range(n):  # a few levels
        mine = np.argwhere(levels.regions == k + 1)
        if len(mine) == 0:
            continue
        c = near_comp[tuple(mine.T)]
        touch = (dist[tuple(mine.T)] <= CONTACT_MM) & (reach[c] >= RIB_REACH_MM) & ~pelvic[c]
        if touch.sum() * float(np.prod(spacing)) >= RIB_CONTACT_MM3:
            has_rib[k] = True
            where[k] = mine[touch].mean(axis=0)
    ribbed = np.flatnonzero(has_rib)
    if len(ribbed) == 0:
        return None
    k = int(ribbed[0])
    if k == 0:
        return None  # nothing in view below it, so it may not be the lowest
    return k, where[k]
