"""The column of vertebral bodies in front of the canal, and the discs along it.

The bodies' centre line runs in front of the canal (:mod:`spinefuse.imaging.canal`): in each
slice the first bone in front of the canal is the body's posterior wall, and the run of bone
from there its depth. Along that centre line, sampled in planes square to it, the bodies read as
bone and the discs as a run of soft tissue between two endplates: the discs are the minima of
that intensity profile (:func:`find_discs`). All lengths are in mm; points are in the
grid's scaled voxel frame (voxel index × spacing), axis 2 running superior.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from scipy.signal import find_peaks

from spinefuse.imaging.canal import BODY_DEPTH_MM, CanalTrace

F64 = NDArray[np.float64]
Mask = NDArray[np.bool_]

BODY_HALF_WIDTH_MM = 30.0
"""Half the widest lumbar body (mm): the search width for a body's cross-section."""
SHALLOWEST_BODY_MM = 26.0
"""Front-back depth of the shallowest adult body in the thoracolumbar range (mm; T10 about 27,
L5 about 35)."""
DEEPEST_BODY_MM = 45.0
"""Front-back depth beyond which a run of bone in front of the canal is more than a body
(mm; an anterior osteophyte or the aorta's calcified wall joined to it)."""
STEP_MM = 1.0
"""Sampling step along the centre line (mm)."""
MIN_LEVEL_MM = 16.0
"""Least distance between two discs (mm): the shortest body (T10, about 20 mm) plus a thin disc."""


@dataclass(frozen=True)
class Column:
    """The bodies' centre line: ``points`` (n, 3, mm) every :data:`STEP_MM` along it, caudal to
    cranial, unit ``tangents`` (n, 3), the canal's centre beside each point
    (``canal``, (n, 3)), and the distance from the canal centre to the body's posterior wall
    (``wall_mm``, n)."""

    points: F64
    tangents: F64
    canal: F64
    wall_mm: F64
    measured: NDArray[np.bool_]
    """Points whose body centre was seen (False where interpolated or extrapolated)."""


@dataclass(frozen=True)
class Disc:
    """A disc space along the column: index into the column's points, centre and unit normal
    (the column's tangent there, pointing cranially), both in mm."""

    index: int
    centre: F64
    normal: F64
    depth_hu: float
    """How much darker the disc reads than the bodies on either side (HU)."""
    height_mm: float = 8.0
    """Thickness of the disc's dark slab (mm)."""

    def signed(self, points: F64) -> F64:
        """Signed distance (mm) of points (n, 3) from the disc's mid-plane, + cranially."""
        return np.asarray((points - self.centre) @ self.normal, dtype=float)


def _steps_forward(mask: Mask, start: NDArray[np.int64]) -> NDArray[np.int64]:
    """For each row of ``mask`` (2-D: rows × positions), steps from ``start`` to its first
    True at or after it (a large number when none)."""
    n = mask.shape[1]
    idx = np.arange(n)[None, :]
    pos = np.where(mask & (idx >= start[:, None]), idx, 10 * n)
    return np.asarray(pos.min(axis=1) - start)


def body_line(
    trace: CanalTrace, bone: Mask, filled: Mask, spacing: F64
) -> tuple[F64, F64, F64, NDArray[np.bool_]]:
    """Per canal slice: the body centre (n, 3, mm), the canal centre (n, 3, mm), the distance
    from canal centre to the body's posterior wall (mm) and whether a body was seen."""
    sx, sy, sz = (float(s) for s in spacing)
    zs = trace.slices
    ci = np.clip(np.rint(trace.centre[:, 0]).astype(int), 0, bone.shape[0] - 1)
    cj = np.clip(np.rint(trace.centre[:, 1]).astype(int), 0, bone.shape[1] - 1)
    # the column through the canal centre, front-back, for every slice at once
    rows_bone = bone[ci, :, zs]
    rows_fill = filled[ci, :, zs] | rows_bone
    j0 = cj + _steps_forward(rows_bone, cj)
    run = _steps_forward(~rows_fill, np.minimum(j0, bone.shape[1] - 1))
    depth = run * sy
    seen = (j0 < bone.shape[1]) & (depth >= BODY_DEPTH_MM)
    # a body whose marrow the bone mask missed reads shallow: its centre lies at least half
    # the shallowest adult body's depth in front of its posterior wall
    body_y = j0 * sy + np.clip(depth, SHALLOWEST_BODY_MM, DEEPEST_BODY_MM) / 2.0
    wall = (j0 - trace.centre[:, 1]) * sy
    # the body's left-right centre: centroid of its cross-section (filled bone between its
    # posterior and anterior walls, within a body's half width of the canal)
    body_x = trace.centre[:, 0] * sx
    gx = np.arange(bone.shape[0]) * sx
    gy = np.arange(bone.shape[1])
    for k in np.flatnonzero(seen):  # one small 2-D step per slice
        sl = rows = filled[:, :, zs[k]] | bone[:, :, zs[k]]
        band = (gy >= j0[k]) & (gy < j0[k] + run[k])
        near = np.abs(gx - trace.centre[k, 0] * sx) <= BODY_HALF_WIDTH_MM
        rows = sl[np.ix_(near, band)]
        if rows.any():
            body_x[k] = float((rows.sum(axis=1) * gx[near]).sum() / rows.sum())
    body = np.stack([body_x, body_y, zs * sz], axis=1)
    canal = np.stack([trace.centre[:, 0] * sx, trace.centre[:, 1] * sy, zs * sz], axis=1)
    return body, canal, wall, seen


def column(
    trace: CanalTrace,
    bone: Mask,
    filled: Mask,
    spacing: F64,
    extend_mm: float = 40.0,
    smooth_mm: float = 10.0,
) -> Column | None:
    """The bodies' centre line: the canal's centre line moved forward by the body's offset
    from it (a robust running median of the slices where a body was seen, then smoothed),
    resampled every :data:`STEP_MM` and extended past the canal's ends by ``extend_mm`` along
    the canal's end tangents (the canal fades in the sacrum before the bodies do), clipped to
    the grid; None when no body was seen."""
    body, canal, wall, seen = body_line(trace, bone, filled, spacing)
    if seen.sum() < 2:
        return None
    z = canal[:, 2]
    window = max(3, int(round(30.0 / float(spacing[2]))) | 1)
    offset = np.empty((len(z), 2))
    for k in range(2):
        med = ndimage.median_filter(body[seen, k] - canal[seen, k], size=window, mode="nearest")
        offset[:, k] = np.interp(z, z[seen], med)
    wall_f = np.interp(z, z[seen], ndimage.median_filter(wall[seen], size=window, mode="nearest"))
    sigma = smooth_mm / float(spacing[2])
    offset = ndimage.gaussian_filter1d(offset, sigma, axis=0, mode="nearest")
    wall_f = ndimage.gaussian_filter1d(wall_f, sigma, mode="nearest")
    cl = canal.copy()
    cl[:, :2] = ndimage.gaussian_filter1d(canal[:, :2], sigma / 2, axis=0, mode="nearest")
    # resample the canal by arclength, extended along its end tangents
    seg = np.linalg.norm(np.diff(cl, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    n_end = max(2, int(round(15.0 / float(spacing[2]))))
    t_lo = cl[min(n_end, len(cl) - 1)] - cl[0]
    t_hi = cl[-1] - cl[max(0, len(cl) - 1 - n_end)]
    t_lo /= max(float(np.linalg.norm(t_lo)), 1e-9)
    t_hi /= max(float(np.linalg.norm(t_hi)), 1e-9)
    q = np.arange(-extend_mm, s[-1] + extend_mm + 1e-9, STEP_MM)
    cpts = np.stack([np.interp(q, s, cl[:, k]) for k in range(3)], axis=1)
    lo, hi = q < 0, q > s[-1]
    cpts[lo] = cl[0] + q[lo, None] * t_lo
    cpts[hi] = cl[-1] + (q[hi, None] - s[-1]) * t_hi
    off = np.stack([np.interp(q, s, offset[:, k]) for k in range(2)], axis=1)
    pts = cpts.copy()
    pts[:, :2] += off
    w = np.interp(q, s, wall_f)
    top = np.asarray(bone.shape, dtype=float) * spacing
    inside = np.all((pts >= 0) & (pts <= top - spacing), axis=1)
    inside &= np.all((cpts >= 0) & (cpts <= top - spacing), axis=1)
    pts, cpts, w = pts[inside], cpts[inside], w[inside]
    if len(pts) < 3:
        return None
    tang = np.gradient(pts, axis=0)
    tang /= np.maximum(np.linalg.norm(tang, axis=1, keepdims=True), 1e-9)
    zs_seen = z[seen]
    measured = (pts[:, 2] >= zs_seen.min()) & (pts[:, 2] <= zs_seen.max())
    return Column(points=pts, tangents=tang, canal=cpts, wall_mm=w, measured=measured)


def frame(col: Column) -> tuple[F64, F64]:
    """Unit lateral (toward the grid's axis 0) and anterior vectors square to the tangent at
    each point of the column, (n, 3) each."""
    x = np.array([1.0, 0.0, 0.0])
    lat = x[None, :] - (col.tangents @ x)[:, None] * col.tangents
    lat /= np.linalg.norm(lat, axis=1, keepdims=True)
    ant = np.cross(col.tangents, lat)
    return lat, ant


def profile(col: Column, hu: NDArray[np.float32], spacing: F64, radius_mm: float = 9.0) -> F64:
    """Median HU over a disc of ``radius_mm`` square to the column at each of its points."""
    lat, ant = frame(col)
    r = np.arange(-radius_mm, radius_mm + 1e-9, 1.5)
    u, v = np.meshgrid(r, r, indexing="ij")
    keep = u**2 + v**2 <= radius_mm**2
    u, v = u[keep], v[keep]
    pts = (
        col.points[:, None, :]
        + u[None, :, None] * lat[:, None, :]
        + v[None, :, None] * ant[:, None, :]
    )
    idx = (pts / spacing).reshape(-1, 3).T
    vals = ndimage.map_coordinates(hu, idx, order=1, mode="nearest").reshape(pts.shape[:2])
    return np.asarray(np.median(vals, axis=1), dtype=float)


def disc_dip(prof: F64, near_mm: float = 2.0, far_mm: float = 10.0) -> F64:
    """How much lower each point of a profile is than the lower of its two shoulders, each the
    highest point ``near_mm``-``far_mm`` away on either side. On the HU profile it is large
    between two endplates (a disc) and small inside a body whose middle is darker (the
    basivertebral veins, fatty marrow); on the bone-fraction profile it is large where the
    bone is broken between two bodies."""
    smooth = ndimage.gaussian_filter1d(prof, 1.0 / STEP_MM, mode="nearest")
    n = len(smooth)
    lo, hi = int(round(near_mm / STEP_MM)), int(round(far_mm / STEP_MM))
    idx = np.arange(n)
    sides = []
    for sign in (-1, 1):
        offs = idx[:, None] + sign * np.arange(lo, hi + 1)[None, :]
        ok = (offs >= 0) & (offs < n)
        vals = np.where(ok, smooth[np.clip(offs, 0, n - 1)], -np.inf)
        sides.append(vals.max(axis=1))
    shoulder = np.minimum(sides[0], sides[1])
    dip = np.where(np.isfinite(shoulder), shoulder - smooth, 0.0)
    return np.asarray(dip, dtype=float)


def find_discs(
    col: Column,
    prof: F64,
    bone_fraction: F64,
    min_dip_hu: float = 30.0,
    strong_dip_hu: float = 60.0,
) -> list[Disc]:
    """Disc spaces along the column.

    A break of the bone mask between two bodies (``bone_fraction`` below one half, at least
    0.4 below both shoulders) is a disc, and so is a point darker than both shoulders of the
    HU profile (:func:`disc_dip`) by ``min_dip_hu`` where the bone is broken; candidates are
    at least :data:`MIN_LEVEL_MM` apart. One where the bone runs through (a bright
    annulus, osteophytes, a thick slice) is a disc only when its dip reaches
    ``strong_dip_hu`` and it lies at least 0.7 of the usual level height (median spacing of the
    discs) from the others, as a real disc does (a dark vein in the middle of a body lies half
    a level from both). A level twice the usual height has lost a disc (bridged or
    collapsed): it is split at its deepest dip."""
    dip = disc_dip(prof)
    gap = disc_dip(bone_fraction, far_mm=16.0)
    step = int(round(MIN_LEVEL_MM / STEP_MM))
    peaks, props = find_peaks(dip, height=min_dip_hu, distance=step)
    heights = props["peak_heights"]
    # breaks of the bone between two bodies (the disc's tissue is not bone)
    breaks, _ = find_peaks(gap, height=0.4, distance=step)
    breaks = breaks[bone_fraction[breaks] < 0.5]
    chosen = sorted(set(breaks.tolist()))
    for k in peaks[bone_fraction[peaks] < 0.5]:
        if not chosen or np.abs(np.asarray(chosen) - k).min() > step / 2:
            chosen.append(int(k))
    chosen.sort()
    broken = bone_fraction[peaks] < 0.5
    if len(chosen) >= 2:
        usual = float(np.median(np.diff(chosen)))
        for k, h in zip(peaks[~broken], heights[~broken], strict=True):
            if h >= strong_dip_hu and np.abs(np.asarray(chosen) - k).min() >= 0.7 * usual:
                chosen.append(int(k))
        chosen.sort()
        # two discs closer than 0.6 of a level: the weaker is a break inside a body
        strength = dip / max(float(np.max(dip[chosen])), 1.0) + gap
        while len(chosen) > 2:
            diffs = np.diff(chosen)
            k = int(np.argmin(diffs))
            if diffs[k] >= 0.6 * usual:
                break
            a, b = chosen[k], chosen[k + 1]
            chosen.remove(a if strength[a] < strength[b] else b)
        # split levels that are twice the usual height at their deepest dip
        for a, b in zip(list(chosen[:-1]), list(chosen[1:]), strict=True):
            if b - a >= 1.6 * usual:
                inner = np.arange(a + step, b - step + 1)
                if len(inner):
                    chosen.append(int(inner[np.argmax(dip[inner])]))
        chosen.sort()
    else:
        for k, h in zip(peaks[~broken], heights[~broken], strict=True):
            if h >= strong_dip_hu and (not chosen or np.abs(np.asarray(chosen) - k).min() >= step):
                chosen.append(int(k))
        chosen.sort()
    return [
        Disc(
            index=int(k),
            centre=col.points[k],
            normal=col.tangents[k],
            depth_hu=float(max(dip[k], 1.0)),
        )
        for k in chosen
    ]


DISC_RADIUS_MM = 12.0
"""Radius about the column within which a disc's voxels are gathered (mm; inside the
smallest body's outline)."""
MAX_DISC_MM = 14.0
"""Thickest slab taken for a disc (mm; adult lumbar discs are 6-13 mm high)."""
MAX_TILT_DEG = 35.0
"""Largest angle between a disc's fitted normal and the column's tangent (deg)."""


def fit_disc(disc: Disc, col: Column, bone: Mask, lumen: Mask, spacing: F64) -> Disc:
    """The disc's mid-plane fitted to its voxels: those that are not bone within
    :data:`DISC_RADIUS_MM` of the column's line and 12 mm of the first guess, in the connected
    piece nearest it. Its normal is their direction of least spread (a disc is a thin slab),
    its centre their centroid, its height sqrt(12 x that variance). Where the bone runs through
    the disc (a bridged or filled disc) or the piece is no slab (thicker than
    :data:`MAX_DISC_MM`, or tilted past :data:`MAX_TILT_DEG`, or off the first guess by more
    than a third of the gathering depth), the first guess stays, square to the column. The
    canal's ``lumen`` is never disc."""
    centre, normal = disc.centre, disc.normal
    half = 24.0
    lo = np.maximum(np.floor((centre - half) / spacing).astype(int), 0)
    hi = np.minimum(np.ceil((centre + half) / spacing).astype(int) + 1, bone.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    axes = [np.arange(a, b) * spacing[k] for k, (a, b) in enumerate(zip(lo, hi, strict=True))]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
    rel = grid - centre
    t = rel @ normal
    radial = np.linalg.norm(rel - t[..., None] * normal, axis=-1)
    soft = ~bone[box] & ~lumen[box] & (np.abs(t) <= 12.0) & (radial <= DISC_RADIUS_MM)
    labelled, n = ndimage.label(soft)
    if n == 0:
        return disc
    pts_all = grid[labelled > 0]
    lab_all = labelled[labelled > 0]
    nearest = lab_all[int(np.argmin(np.linalg.norm(pts_all - centre, axis=1)))]
    pts = pts_all[lab_all == nearest]
    if len(pts) * float(np.prod(spacing)) < 150.0:  # under 0.15 ml: no disc space to fit
        return disc
    mean = pts.mean(axis=0)
    vals, vecs = np.linalg.eigh(np.cov((pts - mean).T))
    height = float(np.sqrt(12.0 * max(vals[0], 0.0)))
    nrm = vecs[:, 0] if vecs[:, 0] @ normal >= 0 else -vecs[:, 0]
    tilt = np.degrees(np.arccos(np.clip(nrm @ normal, -1.0, 1.0)))
    if height > MAX_DISC_MM or tilt > MAX_TILT_DEG or abs((mean - centre) @ normal) > 4.0:
        return disc
    k = int(np.argmin(np.linalg.norm(col.points - mean, axis=1)))
    return Disc(
        index=k, centre=mean, normal=nrm, depth_hu=disc.depth_hu, height_mm=max(height, 2.0)
    )
