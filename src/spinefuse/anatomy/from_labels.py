"""Landmarks from a vertebra label map and its CT: the patient's SpineGeometry.

Each vertebra is measured in its own frame, found in two passes: the spine's centre curve
(centroids of consecutive levels) gives the first cranial axis and the patient's anterior the
first sagittal one; the canal (the hole of the vertebra projected along that axis) splits body
from posterior elements; the endplate planes fitted to the body's top and bottom surfaces and
the canal-to-body direction then give the final frame and every measurement is taken again.

Everything works on arrays of voxel coordinates (no Python loop over voxels): surfaces come from
per-column maxima and minima (``np.maximum.at``), cross-sections from boolean masks. A vertebra
touching the edge of the field of view is flagged ``partial``: it gets an approximate pose but no
heights, density or disc, so no one mistakes a fragment for a whole bone.

Frames and units: world RAS in mm; local coordinates ``(x, y, z)`` are right, anterior and
cranial of the vertebra; HU for CT values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from nibabel.orientations import apply_orientation, inv_ornt_aff, io_orientation
from numpy.typing import NDArray
from scipy import ndimage

from spinefuse.anatomy.geometry import (
    Canal,
    Disc,
    Endplate,
    Pedicle,
    SpineGeometry,
    Vertebra,
    disc_between,
)
from spinefuse.case import Case, ImagingStudy, load_case
from spinefuse.conventions import Side
from spinefuse.errors import CaseError, GeometryError, LabelMapError
from spinefuse.imaging.labels import Convention, on_grid, vertebra_ids
from spinefuse.imaging.volume import Volume
from spinefuse.records import Vec3

Vec = NDArray[np.float64]
MIN_BODY_COLUMNS = 6
SLAB = 0.2
PASSES = 8
"""Fewest surface columns an endplate plane is fitted to; below that the pose is approximate."""


@cache
def method() -> dict[str, Any]:
    """Measurement settings with their sources (``data/vertebral_landmarks.yaml``)."""
    text = resources.files("spinefuse.data").joinpath("vertebral_landmarks.yaml").read_text()
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def _v3(a: Vec) -> Vec3:
    return (float(a[0]), float(a[1]), float(a[2]))


def _unit(a: Vec) -> Vec:
    n = float(np.linalg.norm(a))
    return a / n if n > 0 else a


@dataclass(frozen=True)
class _Bone:
    """One labelled vertebra: its voxels in world coordinates and their CT values."""

    name: str
    xyz: Vec  # (n, 3) world mm
    hu: NDArray[np.float32]  # (n,)
    on_edge: NDArray[np.bool_]  # (n,) voxel on the border of the field of view


@dataclass(frozen=True)
class _Frame:
    origin: Vec
    rot: Vec  # (3, 3): columns x (right), y (anterior), z (cranial) in world

    def local(self, xyz: Vec) -> Vec:
        return np.asarray((xyz - self.origin) @ self.rot, dtype=float)

    def world(self, uvw: Vec) -> Vec:
        return np.asarray(uvw @ self.rot.T + self.origin, dtype=float)

    def direction(self, d: Vec) -> Vec:
        return np.asarray(self.rot @ d, dtype=float)


def _frame(origin: Vec, z: Vec, anterior: Vec) -> _Frame:
    z = _unit(z)
    y = _unit(anterior - z * (anterior @ z))
    x = np.cross(y, z)
    return _Frame(origin, np.column_stack([x, y, z]))


# --- the label map to bones ---------------------------------------------------------------------
def _bones(ct: Volume, labels: Volume, ids: dict[str, int]) -> list[_Bone]:
    arr = labels.array
    boxes = ndimage.find_objects(arr.astype(np.int64), max_label=max(ids.values()))
    bones = []
    for name, key in ids.items():
        box = boxes[key - 1]
        if box is None:
            continue
        crop = arr[box] == key
        ijk = np.argwhere(crop) + np.array([s.start for s in box])
        on_edge = np.any((ijk == 0) | (ijk == np.array(arr.shape) - 1), axis=1)
        hu = ct.array[box][crop].astype(np.float32)
        bones.append(_Bone(name, labels.voxel_to_world(ijk), hu, on_edge))
    return bones


def _half_extent(affine: Vec, direction: Vec) -> float:
    """Half the extent of one voxel along a unit world direction (mm)."""
    return 0.5 * float(np.sum(np.abs(direction @ affine[:3, :3])))


# --- per vertebra ----------------------------------------------------------------------------
@dataclass
class _Canal2D:
    centre: Vec  # local (x, y)
    ap_mm: float
    width_mm: float
    area_mm2: float
    y_anterior: float  # anterior edge (the posterior wall of the body), local y
    y_posterior: float


def _canal(loc: Vec, cell: float, closings: tuple[int, ...] = (0, 1, 2)) -> _Canal2D | None:
    """The canal as the largest hole in the vertebra projected along its cranial axis; a hole
    smaller than the least canal section (``data/vertebral_landmarks.yaml``) is a notch in
    the bone, and the ring is closed morphologically to look for the canal again."""
    least = float(method()["canal_min_area_mm2"]["value"])
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
    return _Canal2D(
        centre=centre,
        ap_mm=float(ys.max() - ys.min() + cell),
        width_mm=float(xs.max() - xs.min() + cell),
        area_mm2=float(len(pix) * cell * cell),
        y_anterior=float(ys.max() + 0.5 * cell),
        y_posterior=float(ys.min() - 0.5 * cell),
    )


def _body_run(body: Vec, x_mid: float, cell: float) -> tuple[float, float] | None:
    """Left and right ends (local x, voxel centres) of the contiguous bone through the body's
    centre along its mid-depth row and mid-height slab."""
    z_mid = 0.5 * (body[:, 2].min() + body[:, 2].max())
    y_mid = 0.5 * (body[:, 1].min() + body[:, 1].max())
    span = 0.5 * (body[:, 2].max() - body[:, 2].min())
    row = body[(np.abs(body[:, 1] - y_mid) <= cell) & (np.abs(body[:, 2] - z_mid) <= 0.5 * span)]
    if len(row) < 3:
        return None
    ix = np.unique(np.floor((row[:, 0] - x_mid) / cell).astype(np.int64))
    if 0 not in ix and -1 not in ix:
        return None
    start = 0 if 0 in ix else -1
    lo = hi = start
    present = set(ix.tolist())
    while lo - 1 in present:
        lo -= 1
    while hi + 1 in present:
        hi += 1
    return x_mid + (lo + 0.5) * cell, x_mid + (hi + 0.5) * cell


def _canal_section(
    loc: Vec, cell: float, outline: _Canal2D, z_range: tuple[float, float]
) -> _Canal2D | None:
    """The canal's cross-section: of five axial slabs across the body's height, the median (by
    area) of the sections where the ring of bone closes around the projected canal, or None
    when no slab closes it."""
    thick = max(2.0 * cell, 4.0)
    found = []
    for z0 in np.linspace(z_range[0] + thick, z_range[1] - thick, 5):  # five slabs, not voxels
        slab = loc[np.abs(loc[:, 2] - z0) <= 0.5 * thick]
        if len(slab) < 20:
            continue
        sec = _canal(slab, cell, closings=(0,))
        if (
            sec is not None
            and np.linalg.norm(sec.centre - outline.centre) <= 0.5 * outline.ap_mm
            and sec.ap_mm <= 1.5 * outline.ap_mm + cell  # a hole of the canal, not beside it
        ):
            found.append(sec)
    if not found:
        return None
    return sorted(found, key=lambda c: c.area_mm2)[len(found) // 2]


def _run(values: Vec, step: float) -> tuple[float, float] | None:
    """The contiguous stretch of ``values`` (binned by ``step``) around 0: its ends, or None
    when nothing lies at 0."""
    if len(values) == 0:
        return None
    bins = np.floor(values / step).astype(np.int64)
    present = set(np.unique(bins).tolist())
    if 0 not in present and -1 not in present:
        return None
    lo = hi = 0 if 0 in present else -1
    while lo - 1 in present:  # walks over bins, not voxels
        lo -= 1
    while hi + 1 in present:
        hi += 1
    inside = (bins >= lo) & (bins <= hi)
    return float(values[inside].min()), float(values[inside].max())


@dataclass
class _Surfaces:
    """Top and bottom surfaces of the body as columns on a (x, y) grid in the local frame."""

    xy: Vec  # (m, 2) column centres
    top: Vec  # (m,) top surface z (voxel centre + half extent)
    bottom: Vec  # (m,)


def _surfaces(body: Vec, cell: float, hz: float) -> _Surfaces:
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
    return _Surfaces(xy, top + hz, bottom - hz)


def _refine(surf: _Surfaces, ct: Volume, frame: _Frame, cell: float) -> _Surfaces:
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
    return _Surfaces(surf.xy, out[0], out[1])


def _fit_plane(xy: Vec, z: Vec, tol: float) -> tuple[Vec, float] | None:
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
    return _unit(np.array([-coef[0], -coef[1], 1.0])), float(np.std(res[keep]))


@dataclass
class _Measured:
    frame: _Frame
    vertebra: Vertebra
    n_top: Vec  # world normals, for the next pass
    n_bottom: Vec | None
    canal_centre: Vec | None  # world
    body_centroid: Vec
    fitted: bool  # both endplate planes (the superior alone for S1) came from a plane fit
    is_body: NDArray[np.bool_]  # (n,) which of the bone's voxels belong to its body


def _measure(
    bone: _Bone,
    frame: _Frame,
    affine: Vec,
    cell: float,
    labels: Volume,
    key: int,
    sacral: bool,
    ct: Volume | None = None,
    full: bool = True,
) -> _Measured:
    """One vertebra in ``frame``. ``ct`` is sampled for sub-voxel endplates and densities
    (None for MR: label geometry only); ``full=False`` skips what the frame search does not
    need (refinement, pedicles, density)."""
    loc = frame.local(bone.xyz)
    hx, hy, hz = (_half_extent(affine, frame.rot[:, k]) for k in range(3))
    canal2d = _canal(loc, cell)
    if canal2d is not None:
        x_mid = float(canal2d.centre[0])
        y_wall = canal2d.y_anterior
        is_body = loc[:, 1] > y_wall
        if is_body.sum() < 8:
            is_body = np.ones(len(loc), dtype=bool)
    else:
        is_body = np.ones(len(loc), dtype=bool)
        x_mid = float(np.median(loc[:, 0]))
        y_wall = float(loc[:, 1].min())
    # lateral bound of the body: the run of bone through the body's middle (mid-depth row,
    # mid-height slab), so transverse processes and sacral alae stay out of the body
    lateral = _body_run(loc[is_body], x_mid, cell)
    if lateral is not None:
        is_body &= (loc[:, 0] >= lateral[0] - cell) & (loc[:, 0] <= lateral[1] + cell)
    body = loc[is_body]
    partial = bool(bone.on_edge[is_body].any())
    arch_cut = bool(bone.on_edge[~is_body].any())
    body_centroid = frame.world(body.mean(axis=0))
    surf = _surfaces(body, cell, hz)
    if ct is not None and full:
        surf = _refine(surf, ct, frame, cell)
    pos = method()["height_positions"]["value"]

    # central footprint for the plane fits: away from the rim
    x_lo, x_hi = np.percentile(body[:, 0], [5, 95])
    y_lo, y_hi = float(body[:, 1].min()), float(body[:, 1].max())
    half_w = 0.5 * (x_hi - x_lo)
    central = (
        (np.abs(surf.xy[:, 0] - x_mid) <= 0.6 * half_w)
        & ((surf.xy[:, 1] - y_lo) / max(y_hi - y_lo, cell) > 0.15)
        & ((surf.xy[:, 1] - y_lo) / max(y_hi - y_lo, cell) < 0.85)
    )
    fit_top = _fit_plane(surf.xy[central], surf.top[central], cell)
    fit_bottom = None if sacral else _fit_plane(surf.xy[central], surf.bottom[central], cell)
    n_top_local = fit_top[0] if fit_top else np.array([0.0, 0.0, 1.0])
    n_bot_local = -fit_bottom[0] if fit_bottom else None if sacral else np.array([0.0, 0.0, -1.0])

    z_lo, z_hi = float(body[:, 2].min() - hz), float(body[:, 2].max() + hz)
    mid_height = np.abs(body[:, 2] - 0.5 * (z_lo + z_hi)) <= 0.25 * (z_hi - z_lo) + hz
    if lateral is not None:
        width = float(lateral[1] - lateral[0] + 2 * hx)
    else:
        bx = body[mid_height, 0] if mid_height.sum() > 2 else body[:, 0]
        width = float(bx.max() - bx.min() + 2 * hx)

    # mid-sagittal profile of the surfaces: a slab over the central part of the width
    slab = np.abs(surf.xy[:, 0] - x_mid) <= max(1.5 * cell, SLAB * width)
    if slab.sum() < 2:
        slab = np.ones(len(surf.xy), dtype=bool)
    sy = surf.xy[slab, 1]
    y_back, y_front = float(sy.min() - 0.5 * cell), float(sy.max() + 0.5 * cell)
    depth = max(y_front - y_back, cell)

    def at(y: float, values: Vec) -> float:
        near = np.abs(sy - y) <= 0.75 * cell
        if not near.any():
            near = np.abs(sy - y) == np.abs(sy - y).min()
        return float(np.median(values[slab][near]))

    # measured at 15/50/85 % of the depth (clear of the rounded rims), then carried to the
    # anterior and posterior edges along the fitted endplate planes: corners and heights are
    # those of the edges, as on a lateral radiograph
    y_p, y_m, y_a = (y_back + f * depth for f in pos)
    slope_top = -n_top_local[1] / n_top_local[2]
    slope_bot = 0.0 if fit_bottom is None else -fit_bottom[0][1] / fit_bottom[0][2]
    tops = [at(y_p, surf.top) + slope_top * (y_back - y_p), at(y_m, surf.top)]
    tops.append(at(y_a, surf.top) + slope_top * (y_front - y_a))
    bottoms = [at(y_p, surf.bottom) + slope_bot * (y_back - y_p), at(y_m, surf.bottom)]
    bottoms.append(at(y_a, surf.bottom) + slope_bot * (y_front - y_a))
    heights = [t - b for t, b in zip(tops, bottoms, strict=True)]

    def endplate(which: str, normal_local: Vec, zs: list[float], surface: Vec) -> Endplate:
        sign = 1.0 if which == "top" else -1.0
        near_plate = sign * (surface - (zs[1])) > -0.25 * max(heights[1], 2 * cell)
        cols = surf.xy[near_plate] if near_plate.sum() > 2 else surf.xy
        lx, rx = float(cols[:, 0].min() - 0.5 * cell), float(cols[:, 0].max() + 0.5 * cell)
        ep_depth = (
            float(
                np.ptp(cols[np.abs(cols[:, 0] - x_mid) <= max(1.5 * cell, 3.0), 1])
                if (np.abs(cols[:, 0] - x_mid) <= max(1.5 * cell, 3.0)).sum() > 1
                else depth - cell
            )
            + cell
        )
        pts = frame.world(
            np.array(
                [
                    [x_mid, y_m, zs[1]],
                    [x_mid, y_front, zs[2]],
                    [x_mid, y_back, zs[0]],
                    [lx, y_m, zs[1]],
                    [rx, y_m, zs[1]],
                ]
            )
        )
        plate_voxels = sign * (body[:, 2] - zs[1]) > -3.0 - hz
        hu = None
        if ct is not None and plate_voxels.any():
            hu = float(bone.hu[is_body][plate_voxels].mean())
        return Endplate(
            centre=_v3(pts[0]),
            normal=_v3(frame.direction(normal_local)),
            anterior=_v3(pts[1]),
            posterior=_v3(pts[2]),
            left=_v3(pts[3]),
            right=_v3(pts[4]),
            width_mm=max(rx - lx, cell),
            depth_mm=max(ep_depth, cell),
            hu=hu,
        )

    superior = endplate("top", n_top_local, tops, surf.top)
    inferior = (
        None
        if sacral or n_bot_local is None
        else endplate("bottom", n_bot_local, bottoms, surf.bottom)
    )
    whole = not partial
    canal = None
    pedicles: dict[Side, Pedicle] = {}
    spinous = None
    lamina = None
    transverse: dict[Side, Vec3] = {}
    if canal2d is not None:
        z_c = 0.5 * (tops[1] + bottoms[1])
        # the canal's size is that of its cross-section; the projection through the whole
        # vertebra that found the posterior wall is the outline common to all levels, smaller
        # than any section
        level = _canal_section(loc, cell, canal2d, (bottoms[1], tops[1])) or canal2d
        canal = Canal(
            centre=_v3(frame.world(np.array([level.centre[0], level.centre[1], z_c]))),
            ap_diameter_mm=level.ap_mm,
            width_mm=level.width_mm,
            area_mm2=level.area_mm2,
        )
        posterior = loc[~is_body]
        midline = np.abs(posterior[:, 0] - x_mid) <= max(cell, 4.0)
        behind = midline & (posterior[:, 1] < canal2d.y_posterior)
        if behind.any() and not arch_cut:
            tip = posterior[behind][np.argmin(posterior[behind, 1])]
            spinous = _v3(frame.world(tip))
            arch = behind & (posterior[:, 1] > canal2d.y_posterior - 10.0)
            lamina = _v3(frame.world(posterior[arch].mean(axis=0))) if arch.any() else None
        if not sacral and full:
            field: _BoneField | None = None
            for side in ("left", "right"):
                s = -1.0 if side == "left" else 1.0
                beside = s * (posterior[:, 0] - x_mid) > 0.5 * canal2d.width_mm
                if beside.any() and not arch_cut:
                    far = posterior[beside][np.argmax(s * posterior[beside, 0])]
                    transverse[side] = _v3(frame.world(far))
                # pedicles join the upper part of the body; the inferior articular processes
                # hang below it
                band = (bottoms[1] + 0.3 * (tops[1] - bottoms[1]), tops[1])
                ped = _pedicle(posterior, side, x_mid, canal2d, band, cell, frame, affine)
                if ped is not None:
                    field = field or _BoneField.of(labels, key)
                    ped = _section(_deepest_axis(ped, field.depth, frame), field, frame)
                    if ped.width_mm > float(method()["pedicle_width_max_mm"]["value"]):
                        continue  # processes merged into the section: not resolved
                    ped = _with_chord(ped, labels, key, affine)
                    pedicles[side] = ped

    trab = None
    if whole and full and ct is not None:
        trab = _trabecular_hu(bone, is_body, body, (z_lo, z_hi), labels.affine)
    vert = Vertebra(
        name=bone.name,
        centroid=_v3(body_centroid),
        superior=superior,
        inferior=inferior,
        anterior_height_mm=heights[2] if whole and not sacral and heights[2] > 0 else None,
        middle_height_mm=heights[1] if whole and not sacral and heights[1] > 0 else None,
        posterior_height_mm=heights[0] if whole and not sacral and heights[0] > 0 else None,
        body_width_mm=max(width, cell),
        body_depth_mm=depth,
        pedicles=pedicles,
        canal=canal,
        spinous_tip=spinous,
        lamina_centre=lamina,
        transverse_tips=transverse,
        trabecular_hu=trab,
        partial=partial,
    )
    return _Measured(
        frame=frame,
        vertebra=vert,
        is_body=is_body,
        n_top=frame.direction(n_top_local),
        n_bottom=None if n_bot_local is None else frame.direction(n_bot_local),
        canal_centre=None
        if canal2d is None
        else frame.world(np.array([canal2d.centre[0], canal2d.centre[1], 0.5 * (z_lo + z_hi)])),
        body_centroid=body_centroid,
        fitted=fit_top is not None and (sacral or fit_bottom is not None) and not partial,
    )


def _trabecular_hu(
    bone: _Bone, is_body: NDArray[np.bool_], body: Vec, z_range: tuple[float, float], affine: Vec
) -> float | None:
    """Mean HU of the body voxels at least the margin inside its surface and within the central
    fraction of its height (``data/vertebral_landmarks.yaml``)."""
    margin = float(method()["trabecular_margin_mm"]["value"])
    frac = float(method()["trabecular_height_fraction"]["value"])
    inv = np.linalg.inv(affine)
    ijk = np.rint(bone.xyz[is_body] @ inv[:3, :3].T + inv[:3, 3]).astype(np.int64)
    lo = ijk.min(axis=0) - 1
    ijk -= lo
    grid = np.zeros(tuple(ijk.max(axis=0) + 2), dtype=bool)
    grid[ijk[:, 0], ijk[:, 1], ijk[:, 2]] = True
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    depth = ndimage.distance_transform_edt(grid, sampling=spacing)[ijk[:, 0], ijk[:, 1], ijk[:, 2]]
    z_mid, half = 0.5 * (z_range[0] + z_range[1]), 0.5 * frac * (z_range[1] - z_range[0])
    central = np.abs(body[:, 2] - z_mid) <= half
    hu = bone.hu[is_body]
    for m in (margin, 0.5 * margin):
        inner = central & (depth >= m + 0.5 * float(spacing.min()))
        if inner.sum() >= 5:
            return float(hu[inner].mean())
    return None


def _pedicle(
    posterior: Vec,
    side: Side,
    x_mid: float,
    canal: _Canal2D,
    z_range: tuple[float, float],
    cell: float,
    frame: _Frame,
    affine: Vec,
) -> Pedicle | None:
    """A first estimate of the isthmus: the narrowest cross-section of the bone beside the canal,
    between the body's posterior wall and the arch (refined by ``_deepest_axis`` and
    ``_section``).

    In each coronal slice (along local y) only the bone connected to the canal's lateral wall
    counts, so the transverse and articular processes beside the pedicle do not widen it."""
    s = -1.0 if side == "left" else 1.0
    y_hi = canal.y_anterior + cell
    # behind the body wall by half the canal's depth, at least 10 mm (the pedicle's length)
    y_lo = canal.y_anterior - max(0.5 * (canal.y_anterior - canal.y_posterior), 10.0)
    pick = (
        (s * (posterior[:, 0] - x_mid) > 0.25 * canal.width_mm)
        & (posterior[:, 1] >= y_lo)
        & (posterior[:, 1] <= y_hi)
        & (posterior[:, 2] >= z_range[0] - cell)
        & (posterior[:, 2] <= z_range[1] + cell)
    )
    pts = posterior[pick]
    if len(pts) < 4:
        return None
    # raster (slice along y, x, z) and 2-D components within each slice
    idx = np.floor((pts - [0.0, y_lo, 0.0]) / cell).astype(np.int64)
    idx[:, 0] = np.floor((pts[:, 0] - pts[:, 0].min()) / cell).astype(np.int64)
    idx[:, 2] = np.floor((pts[:, 2] - pts[:, 2].min()) / cell).astype(np.int64)
    grid = np.zeros(tuple(idx.max(axis=0)[[1, 0, 2]] + 1), dtype=bool)
    grid[idx[:, 1], idx[:, 0], idx[:, 2]] = True
    within_slice = np.zeros((3, 3, 3), dtype=bool)
    within_slice[1] = ndimage.generate_binary_structure(2, 2)
    comp, n_comp = ndimage.label(grid, structure=within_slice)
    label_of = comp[idx[:, 1], idx[:, 0], idx[:, 2]]
    wall = np.array([x_mid + s * 0.5 * canal.width_mm, 0.5 * (z_range[0] + z_range[1])])
    dist = np.hypot(pts[:, 0] - wall[0], pts[:, 2] - wall[1])
    labels_idx = np.arange(1, n_comp + 1)
    comp_dist = np.asarray(ndimage.minimum(dist, label_of, labels_idx))
    comp_slice = np.asarray(ndimage.minimum(idx[:, 1], label_of, labels_idx)).astype(np.int64)
    n_slices = grid.shape[0]
    nearest = np.full(n_slices, -1, dtype=np.int64)
    best_d = np.full(n_slices, np.inf)
    for lab_id, sl, d in zip(labels_idx, comp_slice, comp_dist, strict=True):  # components
        if d < best_d[sl]:
            nearest[sl], best_d[sl] = lab_id, d
    chosen = np.isin(label_of, nearest[nearest > 0]) & (best_d[idx[:, 1]] <= 0.5 * canal.width_mm)
    if chosen.sum() < 4:
        return None
    pts, sl_of = pts[chosen], idx[chosen, 1]
    count = np.bincount(sl_of, minlength=n_slices)
    x_min = np.full(n_slices, np.inf)
    x_max = np.full(n_slices, -np.inf)
    np.minimum.at(x_min, sl_of, pts[:, 0])
    np.maximum.at(x_max, sl_of, pts[:, 0])
    centres = (
        np.column_stack(
            [np.bincount(sl_of, weights=pts[:, k], minlength=n_slices) for k in range(3)]
        )
        / np.maximum(count, 1)[:, None]
    )
    valid = count >= max(2.0, 0.35 * float(count.max()))  # slivers of a process do not count
    if not valid.any():
        return None
    widths = np.where(valid, x_max - x_min, np.inf)
    # the isthmus: the middle of the narrowest stretch (a pedicle of even width is a plateau).
    # Slices run posterior (index 0) to anterior; behind the isthmus the bone must widen into
    # the arch within the slices seen, else the waist is not resolved (too few slices)
    run = np.flatnonzero(valid)
    narrow = np.flatnonzero(widths <= widths.min() + 0.5 * cell)
    k0 = int(narrow[len(narrow) // 2])
    if len(run) < 3 or narrow[0] <= run[0]:
        return None
    # the pedicle proper: slices not much wider than the isthmus (wider ones have the
    # transverse or articular processes merged in); the axis is the line through their centres
    proper = valid & (widths <= widths[k0] + cell)
    c = centres[proper]
    tilt = 0.0  # sagittal slope of the pedicle (z per mm along y) from the slice centres
    if len(c) >= 2:
        _, _, vt = np.linalg.svd(c - c.mean(axis=0))
        if abs(vt[0][1]) >= 0.5:
            tilt = float(vt[0][2] / vt[0][1])
    centre = centres[k0]
    # the isthmus section: of planes through its centre turned about the vertical, the one
    # that cuts the pedicle narrowest is square to it (an oblique cut only lengthens the
    # section); that gives the transverse angle of the axis and the true width
    phis = np.radians(np.arange(-40.0, 40.1, 2.0))
    rel = pts - centre
    cuts: list[tuple[float, float, float, float]] = []  # width, height, phi, centre offset
    for phi in phis:  # a few dozen planes, each a vector operation over the points
        d = np.array([np.sin(phi), np.cos(phi), 0.0])
        a = np.array([np.cos(phi), -np.sin(phi), 0.0])
        sec = rel[np.abs(rel @ d) <= 0.75 * cell]
        span = _run(sec @ a, 1.5 * cell)
        if span is None:
            continue
        on = sec[(sec @ a >= span[0] - 1e-9) & (sec @ a <= span[1] + 1e-9)]
        hz_span = _run(on[:, 2], 1.5 * cell)
        if hz_span is None:
            continue
        w = span[1] - span[0] + 2 * _half_extent(affine, frame.direction(a))
        h = hz_span[1] - hz_span[0] + 2 * _half_extent(affine, frame.rot[:, 2])
        cuts.append((w, h, float(phi), 0.5 * (span[0] + span[1])))
    if not cuts:
        return None
    # voxel extents tie often: of the narrowest cuts take the middle one, not the first found
    narrowest = min(cut[0] for cut in cuts)
    tied = [cut for cut in cuts if cut[0] <= narrowest + 1e-6]
    best = tied[len(tied) // 2]
    width, height, phi, offset = best
    # a first axis: refined by _deepest_axis
    axis = _unit(np.array([np.sin(phi), np.cos(phi), tilt * np.cos(phi)]))
    height *= float(np.hypot(axis[0], axis[1]))  # the vertical cut is oblique by the tilt
    centre = centre + offset * np.array([np.cos(phi), -np.sin(phi), 0.0])
    # a pedicle borders the canal and converges toward the body's midline: a section far out
    # beside the canal or an axis turning away from the midline is a process, not a pedicle
    beside = abs(float(centre[0]) - x_mid) - 0.5 * canal.width_mm
    if beside > width or s * axis[0] > np.sin(np.radians(10.0)):
        return None
    if width > float(method()["pedicle_width_max_mm"]["value"]):
        return None  # processes merged into the section: the isthmus is not resolved
    return Pedicle(
        side=side,
        isthmus_centre=_v3(frame.world(centre)),
        axis=_v3(_unit(frame.direction(axis))),
        width_mm=width,
        height_mm=height,
    )


@dataclass(frozen=True)
class _BoneField:
    """One labelled bone cropped from the label map, sampled at world points ``(n, 3)`` with
    linear interpolation: its mask (fraction inside) and its depth (mm to the nearest voxel
    outside it)."""

    mask: NDArray[np.float32]
    edt: Vec
    lo: NDArray[np.int64]
    labels: Volume

    @classmethod
    def of(cls, labels: Volume, key: int) -> _BoneField:
        mask = np.asarray(labels.array) == key
        where = np.argwhere(mask)
        lo = np.maximum(where.min(axis=0) - 2, 0)
        hi = np.minimum(where.max(axis=0) + 3, np.array(labels.shape))
        crop = mask[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
        edt = ndimage.distance_transform_edt(np.pad(crop, 1), sampling=labels.spacing)
        return cls(crop.astype(np.float32), np.asarray(edt[1:-1, 1:-1, 1:-1]), lo, labels)

    def _sample(self, grid: NDArray[np.generic], xyz: Vec) -> Vec:
        ijk = self.labels.world_to_voxel(xyz) - self.lo
        vals = ndimage.map_coordinates(grid, ijk.T, order=1, mode="constant", cval=0.0)
        return np.asarray(vals, dtype=float)

    def depth(self, xyz: Vec) -> Vec:
        return self._sample(self.edt, xyz)

    def inside(self, xyz: Vec) -> NDArray[np.bool_]:
        return self._sample(self.mask, xyz) > 0.5


def _section(ped: Pedicle, bone: _BoneField, frame: _Frame) -> Pedicle:
    """Width and height of the pedicle square to its (refined) axis: the bone's extent along
    the two perpendicular directions (horizontal, then the other) through the axis, at the
    narrowest of the sections within ``section_search_factor`` widths of the isthmus centre;
    the isthmus centre moves to that section's middle."""
    cfg = method()["pedicle_axis_search"]["value"]
    axis, centre = np.asarray(ped.axis), np.asarray(ped.isthmus_centre)
    u = _unit(np.cross(axis, frame.rot[:, 2]))
    w = np.cross(u, axis)
    reach = float(cfg["section_search_factor"]) * ped.width_mm
    t = np.arange(-reach, reach + 1e-9, float(cfg["sample_step_mm"]))
    s = np.arange(-30.0, 30.0 + 1e-9, 0.1)
    i0 = len(s) // 2

    def runs(origins: Vec, d: Vec) -> NDArray[np.float64]:
        """Extent (mm) and middle offset of the bone run through each origin along ``d``."""
        pts = origins[:, None, :] + s[None, :, None] * d
        inside = bone.inside(pts.reshape(-1, 3)).reshape(len(origins), len(s))
        # the run containing the origin: first outside sample each way from the middle
        back = inside[:, i0::-1]
        front = inside[:, i0:]
        nb = np.where(back.all(axis=1), len(back[0]), np.argmin(back, axis=1))
        nf = np.where(front.all(axis=1), len(front[0]), np.argmin(front, axis=1))
        ok = inside[:, i0] & ~back.all(axis=1) & ~front.all(axis=1)
        lo, hi = s[i0 - nb + 1], s[np.minimum(i0 + nf - 1, len(s) - 1)]
        extent = np.where(ok, hi - lo + 0.1, np.inf)
        return np.column_stack([extent, 0.5 * (lo + hi)])

    across = runs(centre + t[:, None] * axis, u)
    k = int(np.argmin(across[:, 0]))
    if not np.isfinite(across[k, 0]):
        return ped
    mid = centre + t[k] * axis + across[k, 1] * u
    up = runs(mid[None, :], w)[0]
    update: dict[str, Any] = {"width_mm": float(across[k, 0])}
    if np.isfinite(up[0]):
        update["height_mm"] = float(up[0])
        mid = mid + up[1] * w
    update["isthmus_centre"] = _v3(mid)
    return ped.model_copy(update=update)


def _deepest_axis(ped: Pedicle, depth: Callable[[Vec], Vec], frame: _Frame) -> Pedicle:
    """The pedicle's axis: of the straight lines through its isthmus centre, the one that runs
    deepest inside the bone (greatest mean distance from the cortex) over the pedicle's length
    either side of the isthmus (``pedicle_axis_search`` in ``data/vertebral_landmarks.yaml``).
    A single section fixes the direction only to second order (an oblique cut lengthens it by
    the cosine of the error); the depth along the line falls to first order (the sine)."""
    cfg = method()["pedicle_axis_search"]["value"]
    half = float(cfg["half_length_factor"]) * ped.width_mm
    t = np.arange(-half, half + 1e-9, float(cfg["sample_step_mm"]))
    step = np.radians(float(cfg["angle_step_deg"]))
    span = np.radians(float(cfg["angle_span_deg"]))
    shift = float(cfg["centre_shift_mm"])

    def lines(centres: Vec, dirs: Vec) -> Vec:
        """Mean depth along each line (centre i, direction i)."""
        pts = centres[:, None, :] + t[None, :, None] * dirs[:, None, :]
        per_point = depth(pts.reshape(-1, 3)).reshape(len(dirs), len(t))
        return np.asarray(per_point.mean(axis=1), dtype=float)

    def turn(centre: Vec, axis: Vec, half_span: float) -> Vec:
        local = frame.rot.T @ axis
        phi0 = float(np.arctan2(local[0], local[1]))
        theta0 = float(np.arcsin(np.clip(local[2], -1.0, 1.0)))
        grid = np.arange(-half_span, half_span + 1e-9, step)
        phi, theta = np.meshgrid(phi0 + grid, theta0 + grid, indexing="ij")
        dirs = (
            np.stack(
                [np.sin(phi) * np.cos(theta), np.cos(phi) * np.cos(theta), np.sin(theta)], axis=-1
            ).reshape(-1, 3)
            @ frame.rot.T
        )
        score = lines(np.broadcast_to(centre, dirs.shape), dirs)
        return _unit(dirs[int(np.argmax(score))])

    def move(centre: Vec, axis: Vec) -> Vec:
        u = _unit(np.cross(axis, frame.rot[:, 2]))
        w = np.cross(u, axis)
        grid = np.arange(-shift, shift + 1e-9, 0.5)
        a, b = np.meshgrid(grid, grid, indexing="ij")
        centres = centre + a.reshape(-1, 1) * u + b.reshape(-1, 1) * w
        score = lines(centres, np.broadcast_to(axis, centres.shape))
        return np.asarray(centres[int(np.argmax(score))], dtype=float)

    centre = np.asarray(ped.isthmus_centre, dtype=float)
    axis = turn(centre, np.asarray(ped.axis, dtype=float), span)
    if shift > 0:
        centre = move(centre, axis)
        axis = turn(centre, axis, min(span, np.radians(6.0)))
    return ped.model_copy(update={"axis": _v3(axis), "isthmus_centre": _v3(centre)})


def _with_chord(ped: Pedicle, labels: Volume, key: int, affine: Vec) -> Pedicle:
    """Add the entry point (where the axis leaves the bone posteriorly) and the chord to the
    anterior cortex, by sampling the label map along the axis every 0.5 mm."""
    c, a = np.asarray(ped.isthmus_centre), np.asarray(ped.axis)
    t = np.arange(-60.0, 80.0, 0.5)
    ijk = np.rint(labels.world_to_voxel(c + t[:, None] * a)).astype(np.int64)
    inside = np.all((ijk >= 0) & (ijk < np.array(labels.shape)), axis=1)
    hit = np.zeros(len(t), dtype=bool)
    hit[inside] = labels.array[ijk[inside, 0], ijk[inside, 1], ijk[inside, 2]] == key
    i0 = int(np.argmin(np.abs(t)))
    if not hit[i0]:
        return ped
    back, front = i0, i0
    while back > 0 and hit[back - 1]:
        back -= 1
    while front < len(t) - 1 and hit[front + 1]:
        front += 1
    if back == 0 or front == len(t) - 1:
        return ped  # the bone runs off the sampled line or the image: no trustworthy chord
    entry = c + t[back] * a
    chord = float(t[front] - t[back])
    return ped.model_copy(update={"entry_point": _v3(entry), "chord_mm": chord})


# --- the spine ---------------------------------------------------------------------------------
def geometry_from_labels(
    ct: Volume,
    labels: Volume,
    convention: Convention = "totalseg",
    *,
    resample: bool = False,
    source_detail: str = "",
    bodies: Volume | None = None,
    heights: Literal["edges", "report"] = "edges",
) -> SpineGeometry:
    """Measure every labelled vertebra and the discs between whole neighbours.

    ``ct`` is in HU (an MR gives geometry but meaningless densities), ``labels`` a label map on
    the same grid (resampled by nearest neighbour when ``resample``) with IDs of ``convention``
    ("totalseg", "verse" or a mapping ID -> vertebra). Returns a SpineGeometry head to pelvis;
    vertebrae cut by the field of view are flagged partial.

    Body ``heights`` are by default the anterior, middle and posterior heights of the fitted
    endplates at the body's edges (as on a lateral radiograph); "report" measures them as
    TotalSegmentator's spine report does (``report_heights``) on the bodies this function
    separates from the arches. ``bodies``, TotalSegmentator's ``vertebrae_body`` map (label 1 =
    vertebral bodies), implies "report" and is used instead of that separation."""
    labels = on_grid(labels, ct, resample)
    ids = vertebra_ids(labels, convention)
    ct = replace(ct, array=ct.array.astype(np.float32, copy=False))  # one conversion for sampling
    # MR intensities are no densities and its edges no half-maximum crossings: geometry only
    sampled = ct if ct.modality == "CT" else None
    bones = _bones(ct, labels, ids)
    if not bones:
        raise LabelMapError(f"{labels.source or 'label map'}: no vertebra voxels")
    affine = labels.affine
    cell = float(labels.spacing.max())  # raster cell: no gaps between voxel centres
    coms = np.array([b.xyz.mean(axis=0) for b in bones])
    anterior = _unit(np.array([0.0, 1.0, 0.0]))
    measured: dict[str, Vertebra] = {}
    own_bodies = np.zeros(labels.shape, dtype=np.uint8) if heights == "report" else None
    for i, bone in enumerate(bones):
        if len(bones) > 1:
            up = coms[max(i - 1, 0)] - coms[min(i + 1, len(bones) - 1)]
        else:
            up = np.array([0.0, 0.0, 1.0])
        sacral = bone.name == "S1"
        frame = _frame(coms[i], up, anterior)
        key = ids[bone.name]
        m = _measure(bone, frame, affine, cell, labels, key, sacral, sampled, full=False)
        # then in the vertebra's own frame until its axis settles (a sacrum tilted far from the
        # curve's direction takes a few passes), and a last full measurement in that frame
        for k in range(PASSES):
            z = m.n_top if m.n_bottom is None else _unit(m.n_top - m.n_bottom)
            if not m.fitted and z @ frame.rot[:, 2] < 0.7:  # a fragment: keep the curve's axis
                z = frame.rot[:, 2]
            ant = m.body_centroid - m.canal_centre if m.canal_centre is not None else anterior
            if ant @ anterior < 0.5 * np.linalg.norm(ant):
                ant = anterior
            settled = float(z @ m.frame.rot[:, 2]) > np.cos(np.radians(0.2))
            last = settled or k == PASSES - 1
            m = _measure(
                bone,
                _frame(m.body_centroid, z, ant),
                affine,
                cell,
                labels,
                key,
                sacral,
                sampled,
                full=last,
            )
            if last:
                break
        measured[bone.name] = m.vertebra
        if own_bodies is not None:
            ijk = np.rint(labels.world_to_voxel(bone.xyz[m.is_body])).astype(np.int64)
            own_bodies[ijk[:, 0], ijk[:, 1], ijk[:, 2]] = 1
    if bodies is None and own_bodies is not None:
        bodies = replace(labels, array=own_bodies, source="bodies separated from the arches")
    if bodies is not None:
        order = [b.name for b in bones]
        reported = report_heights(labels, ids, on_grid(bodies, ct, resample), order)
        for name, (h_post, h_mid, h_ant) in reported.items():
            v = measured[name]
            if not v.partial and v.middle_height_mm is not None:
                measured[name] = v.model_copy(
                    update={
                        "posterior_height_mm": h_post,
                        "middle_height_mm": h_mid,
                        "anterior_height_mm": h_ant,
                    }
                )
    discs: dict[str, Disc] = {}
    names = list(measured)
    for upper, lower in zip(names, names[1:], strict=False):
        a, b = measured[upper], measured[lower]
        if a.partial or b.partial or a.inferior is None:
            continue
        try:
            d = disc_between(a, b)
        except GeometryError:
            continue
        discs[d.name] = d
    return SpineGeometry(
        vertebrae=measured,
        discs=discs,
        c7_centroid=measured["C7"].centroid if "C7" in measured else None,
        source="mr" if ct.modality == "MR" else "ct",
        source_detail=source_detail or f"{labels.source or 'label map'} ({_conv(convention)})",
    )


def _canonical(vol: Volume) -> tuple[NDArray[np.generic], Vec]:
    """The array reoriented to the closest RAS axes and its voxel size along them (mm)."""
    ornt = io_orientation(vol.affine)
    array = apply_orientation(np.asarray(vol.array), ornt)
    affine = vol.affine @ inv_ornt_aff(ornt, vol.shape)
    return array, np.linalg.norm(affine[:3, :3], axis=0)


def _ray_ends(mask: Vec, centre: Vec, direction: Vec, step: float) -> tuple[Vec, Vec] | None:
    """Last points inside ``mask`` (2-D, bilinear value > 0.5) on the ray from ``centre`` both
    ways along ``direction`` (voxel units, steps of ``step`` voxels); None if either way starts
    outside or never leaves the grid."""
    d = direction / np.linalg.norm(direction)
    t = np.arange(step, 1.5 * max(mask.shape), step)
    ends = []
    for sign in (-1.0, 1.0):
        pts = centre[:, None] + sign * d[:, None] * t[None, :]
        inside = (pts >= 0).all(axis=0) & (pts[0] < mask.shape[0]) & (pts[1] < mask.shape[1])
        inside &= ndimage.map_coordinates(mask, pts, order=1, mode="constant", cval=0.0) > 0.5
        k = int(np.argmin(inside))
        if inside[k]:
            return None  # never leaves the mask inside the grid
        if k == 0:  # out at the first step: the start itself is the end if it is inside
            v = ndimage.map_coordinates(mask, centre[:, None], order=1, mode="constant")
            if not v[0] > 0.5:
                return None
            ends.append(centre.astype(float))
            continue
        ends.append(pts[:, k - 1])
    return ends[0], ends[1]


def report_heights(
    labels: Volume, ids: dict[str, int], bodies: Volume, order: list[str] | None = None
) -> dict[str, tuple[float, float, float]]:
    """Posterior, middle and anterior body heights (mm) measured as TotalSegmentator's spine
    report does (``report_heights`` in ``data/vertebral_landmarks.yaml``), from the vertebra
    label map and its ``vertebrae_body`` map (label 1 = vertebral bodies) on the same grid.

    ``order`` lists the levels head to pelvis (default: ``ids`` order). Levels touching the
    border of the image, S1 and levels with no valid slice are left out (neighbours still
    give the height axis)."""
    if bodies.shape != labels.shape or not np.allclose(bodies.affine, labels.affine, atol=1e-3):
        raise LabelMapError(
            f"{bodies.source or 'vertebrae_body map'}: grid {bodies.shape} differs from the label "
            f"map's {labels.shape}; resample it onto the label map first"
        )
    cfg = method()["report_heights"]["value"]
    pos = [float(p) for p in method()["height_positions"]["value"]]
    lab, sp = _canonical(labels)
    body_mask = _canonical(bodies)[0] == 1
    names = [n for n in (order or list(ids)) if n in ids]
    half = np.maximum(1, np.round(float(cfg["erosion_mm"]) / sp).astype(int))
    cube = np.ones(tuple(2 * half + 1), dtype=bool)
    masks: dict[str, NDArray[np.bool_]] = {}
    cents: list[Vec] = []
    for name in names:
        vert = lab == ids[name]
        m = vert & body_mask
        if not m.any():
            m = vert
        eroded = ndimage.binary_erosion(m, structure=cube, border_value=1)
        cents.append(np.argwhere(eroded if eroded.any() else m).mean(axis=0))
        masks[name] = m
    out: dict[str, tuple[float, float, float]] = {}
    step = float(cfg["ray_step_voxels"])
    for i, name in enumerate(names):
        m = masks[name]
        on_border = any(np.take(m, j, axis=a).any() for a in range(3) for j in (0, -1))
        if name == "S1" or on_border or not m.any():
            continue
        up = cents[min(i + 1, len(names) - 1)] - cents[max(i - 1, 0)]
        if not np.any(up):
            up = np.array([0.0, 0.0, 1.0])
        up = up / np.linalg.norm(up)
        h2 = up[1:]
        # perpendicular to the height axis in the sagittal plane, in physical then voxel units
        ap = np.array([-h2[1] * sp[2] / sp[1], h2[0] * sp[1] / sp[2]])
        eroded = ndimage.binary_erosion(m, structure=cube, border_value=1)
        xs = np.flatnonzero(eroded.any(axis=(1, 2)))
        best: tuple[float, list[float]] | None = None
        if xs.size:
            margin = round(float(cfg["scan_margin"]) * (xs[-1] - xs[0] + 1))
            slices = range(
                int(xs[0]) + margin,
                int(xs[-1]) - margin + 1,
                max(1, round(float(cfg["scan_step_mm"]) / sp[0])),
            )
            for x in slices:
                sl = m[x].astype(float)
                chord = _ray_ends(sl, cents[i][1:], ap, step)
                if chord is None:
                    continue
                hs = []
                for f in pos:
                    ends = _ray_ends(sl, chord[0] + f * (chord[1] - chord[0]), h2, step)
                    hs.append(
                        0.0 if ends is None else float(np.linalg.norm((ends[1] - ends[0]) * sp[1:]))
                    )
                if min(hs) > 0 and (best is None or max(hs) - min(hs) > best[0]):
                    best = (max(hs) - min(hs), hs)
        if best is not None:
            out[name] = (best[1][0], best[1][1], best[1][2])
    return out


def _conv(convention: Convention) -> str:
    return convention if isinstance(convention, str) else "custom IDs"


# --- from a case --------------------------------------------------------------------------------
def _study_volume(study: ImagingStudy) -> Volume:
    from spinefuse.imaging.dicom import read_dicom_series
    from spinefuse.imaging.nifti import read_nifti

    if study.dicom_dir is not None:
        return read_dicom_series(study.dicom_dir)
    assert study.nifti is not None  # the case validator requires one of the two
    return read_nifti(study.nifti, modality="MR" if study.modality == "MR" else "CT")


def geometry_from_case(case: Case) -> SpineGeometry | None:
    """The SpineGeometry of the case's pre-operative CT (else MR), or None without one.

    The study's label map is used when given (its convention from the study); without one the
    built-in CT segmentation labels the spine. On a CT the dural sac at each disc level is
    measured too (:mod:`spinefuse.anatomy.dural_sac`)."""
    study = case.study("CT") or case.study("MR")
    if study is None:
        return None
    image = _study_volume(study)
    if study.label_map is not None:
        from spinefuse.imaging.labels import read_label_map

        labels = read_label_map(study.label_map, reference=image)
        convention: Convention = (
            dict(study.label_mapping or {})
            if study.label_convention == "custom"
            else study.label_convention
        )
    else:
        from spinefuse.imaging.segmentation import default_backend

        labels = default_backend().segment(image).labels
        convention = "totalseg"
    geometry = geometry_from_labels(image, labels, convention)
    if image.modality != "CT":
        return geometry
    from spinefuse.anatomy.dural_sac import with_dural_sacs

    return with_dural_sacs(image, geometry)


def anatomy_json(case_path: str | Path) -> str:
    """``spinefuse anatomy CASE --json``: the case's SpineGeometry as JSON text."""
    case = load_case(case_path)
    geometry = geometry_from_case(case)
    if geometry is None:
        raise CaseError(
            f"{case_path}: imaging lists no CT or MR study; add one (nifti or dicom_dir, with "
            "its label_map if you have one) to measure the anatomy"
        )
    return geometry.to_json()
