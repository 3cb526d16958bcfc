"""Vertebral endplates from a label map: the body's top and bottom surfaces as columns of the
vertebra's local frame, moved to sub-voxel edges on the CT, and the planes fitted to them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from spinefuse.anatomy.frames import Frame, Vec, unit
from spinefuse.imaging.volume import Volume

MIN_BODY_COLUMNS = 6
"""Fewest surface columns an endplate plane is fitted to; below that the pose is approximate."""


@dataclass
class BodySurfaces:
    """Top and bottom surfaces of the body as columns on a (x, y) grid in the local frame."""

    xy: Vec  # (m, 2) column centres
    top: Vec  # (m,) top surface z (voxel centre + half extent)
    bottom: Vec  # (m,)


def body_surfaces(body: Vec, cell: float, hz: float) -> BodySurfaces:
    """The body's top and bottom surfaces: per column of ``cell`` mm of the local (x, y) grid,
    the highest and lowest voxel (their outer faces, ``hz`` being half a voxel along z)."""
    ij = np.floor(body[:, :2] / cell).astype(np.int64)
    ij -= ij.min(axis=0)
    flat = ij[:, 0] * (int(ij[:, 1].max()) + 1) + ij[:, 1]  # one integer key per column
    _, first, inverse = np.unique(flat, return_index=True, return_inverse=True)
    keys = ij[first] + np.floor(body[:, :2] / cell).astype(np.int64).min(axis=0)
    top = np.full(len(keys), -np.inf)
    bottom = np.full(len(keys), np.inf)
    np.maximum.at(top, inverse, body[:, 2])
    np.minimum.at(bottom, inverse, body[:, 2])
    xy = np.asarray((keys + 0.5) * cell, dtype=float)
    return BodySurfaces(xy, top + hz, bottom - hz)


def refine_surfaces(surf: BodySurfaces, ct: Volume, frame: Frame, cell: float) -> BodySurfaces:
    """Endplate surfaces to a fraction of a voxel from the CT: along each column, the point
    where the intensity falls halfway from the endplate's cortical peak to the disc beyond it.

    The label map only says which voxels are bone, so its surface moves in whole voxels; the
    CT's partial-volume values place it between them. Where the profile has no clear edge
    (bone brighter than the disc by less than 100 HU) the label's surface is kept."""
    steps = np.arange(-2.5, 2.5001, 0.1) * cell  # offsets along local z around the label surface
    out = []
    for z0, sign in ((surf.top, 1.0), (surf.bottom, -1.0)):
        local = np.empty((len(z0), len(steps), 3))
        local[..., 0] = surf.xy[:, 0, None]
        local[..., 1] = surf.xy[:, 1, None]
        local[..., 2] = z0[:, None] + sign * steps[None, :]
        ijk = ct.world_to_voxel(frame.world(local.reshape(-1, 3)))
        prof = ndimage.map_coordinates(ct.array, ijk.T, order=1, mode="nearest").reshape(
            len(z0), len(steps)
        )
        inner = steps <= 0.0
        peak = prof[:, inner].max(axis=1)
        outside = prof[:, -5:].mean(axis=1)
        half = 0.5 * (peak + outside)
        # last sample, going outward from the peak, still above half
        above = prof >= half[:, None]
        peak_at = np.argmax(np.where(inner[None, :], prof, -np.inf), axis=1)
        after = np.arange(len(steps))[None, :] >= peak_at[:, None]
        below = after & ~above
        first_below = np.where(below.any(axis=1), np.argmax(below, axis=1), len(steps) - 1)
        k = np.clip(first_below, 1, len(steps) - 1)
        rows = np.arange(len(z0))
        p0, p1 = prof[rows, k - 1], prof[rows, k]
        frac = np.clip((p0 - half) / np.maximum(p0 - p1, 1e-6), 0.0, 1.0)
        edge = steps[k - 1] + frac * (steps[k] - steps[k - 1])
        ok = (peak - outside > 100.0) & below.any(axis=1)
        out.append(np.where(ok, z0 + sign * edge, z0))
    return BodySurfaces(surf.xy, out[0], out[1])


def fit_plane(xy: Vec, z: Vec, tol: float) -> tuple[Vec, float] | None:
    """Least-squares plane ``z = a x + b y + c`` with one pass of outlier rejection; returns
    the unit normal (pointing to +z) and the residual spread, or None with too few points."""
    keep = np.ones(len(z), dtype=bool)
    coef = np.zeros(3)
    for _ in range(2):
        if keep.sum() < MIN_BODY_COLUMNS:
            return None
        a = np.column_stack([xy[keep], np.ones(int(keep.sum()))])
        coef = np.asarray(np.linalg.lstsq(a, z[keep], rcond=None)[0], dtype=float)
        res = z - (xy @ coef[:2] + coef[2])
        keep = np.abs(res) <= max(tol, 2.0 * float(np.std(res[keep])))
    return unit(np.array([-coef[0], -coef[1], 1.0])), float(np.std(res[keep]))
