"""The spinal canal of a vertebra: the hole its bone encloses, projected along the vertebra's
cranial axis (the outline, which splits the body from the posterior elements) or cut in axial
slabs (the section, whose size is the canal's). Local coordinates, mm."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from spinefuse.anatomy.frames import Vec
from spinefuse.anatomy.method import setting


@dataclass
class CanalOutline:
    """The canal in a vertebra's axial projection or section, in local (x, y) mm."""

    centre: Vec  # local (x, y)
    ap_mm: float
    width_mm: float
    area_mm2: float
    y_anterior: float  # anterior edge (the posterior wall of the body), local y
    y_posterior: float


def canal_outline(
    loc: Vec, cell: float, closings: tuple[int, ...] = (0, 1, 2)
) -> CanalOutline | None:
    """The canal as the largest hole in the vertebra projected along its cranial axis; a hole
    smaller than the least canal section (``data/vertebral_landmarks.yaml``) is a notch in
    the bone, and the ring is closed morphologically to look for the canal again."""
    least = float(setting("canal_min_area_mm2"))
    ij = np.floor(loc[:, :2] / cell).astype(np.int64)
    lo = ij.min(axis=0) - 2
    ij -= lo
    occ = np.zeros(tuple(ij.max(axis=0) + 3), dtype=bool)
    occ[ij[:, 0], ij[:, 1]] = True
    for closing in closings:
        solid = ndimage.binary_closing(occ, iterations=closing) if closing else occ
        holes = ndimage.binary_fill_holes(solid) & ~solid
        lab, n = ndimage.label(holes)
        if n:
            sizes = np.bincount(lab.ravel())[1:]
            hole = lab == (int(np.argmax(sizes)) + 1)
            if sizes.max() * cell * cell >= least:
                break
    else:
        return None
    pix = np.argwhere(hole)
    xy = (pix + lo + 0.5) * cell
    centre = xy.mean(axis=0)
    mid = np.abs(xy[:, 0] - centre[0]) <= cell
    ys = xy[mid, 1] if mid.any() else xy[:, 1]
    row = np.abs(xy[:, 1] - centre[1]) <= cell
    xs = xy[row, 0] if row.any() else xy[:, 0]
    return CanalOutline(
        centre=centre,
        ap_mm=float(ys.max() - ys.min() + cell),
        width_mm=float(xs.max() - xs.min() + cell),
        area_mm2=float(len(pix) * cell * cell),
        y_anterior=float(ys.max() + 0.5 * cell),
        y_posterior=float(ys.min() - 0.5 * cell),
    )


def canal_section(
    loc: Vec, cell: float, outline: CanalOutline, z_range: tuple[float, float]
) -> CanalOutline | None:
    """The canal's cross-section: of five axial slabs across the body's height, the median (by
    area) of the sections where the ring of bone closes around the projected canal, or None
    when no slab closes it."""
    thick = max(2.0 * cell, 4.0)
    found = []
    for z0 in np.linspace(z_range[0] + thick, z_range[1] - thick, 5):  # five slabs, not voxels
        slab = loc[np.abs(loc[:, 2] - z0) <= 0.5 * thick]
        if len(slab) < 20:
            continue
        sec = canal_outline(slab, cell, closings=(0,))
        if (
            sec is not None
            and np.linalg.norm(sec.centre - outline.centre) <= 0.5 * outline.ap_mm
            and sec.ap_mm <= 1.5 * outline.ap_mm + cell  # a hole of the canal, not beside it
        ):
            found.append(sec)
    if not found:
        return None
    return sorted(found, key=lambda c: c.area_mm2)[len(found) // 2]
