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
    """Distance from the canal's centre to the bodies' posterior wall, square to the
    column (mm)."""
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
    follow_mm: float = 60.0,
) -> Column | None:
    """The bodies' centre line: the canal's centre line moved forward by the body's offset
    from it (a robust running median of the slices where a body was seen, then smoothed),
    resampled every :data:`STEP_MM`, extended past the canal's upper end by ``extend_mm``
    along its end tangent and past its lower end by ``follow_mm`` along the bone of the
    bodies (:func:`_follow_bodies`: the canal fades in the sacrum before the bodies do, and
    the sacrum turns backwards from L5), clipped to the grid; None when no body was seen."""
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
    q = np.arange(-follow_mm, s[-1] + extend_mm + 1e-9, STEP_MM)
    cpts = np.stack([np.interp(q, s, cl[:, k]) for k in range(3)], axis=1)
    lo, hi = q < 0, q > s[-1]
    cpts[lo] = cl[0] + q[lo, None] * t_lo
    cpts[hi] = cl[-1] + (q[hi, None] - s[-1]) * t_hi
    off = np.stack([np.interp(q, s, offset[:, k]) for k in range(2)], axis=1)
    pts = cpts.copy()
    pts[:, :2] += off
    w = np.interp(q, s, wall_f)
    # below the canal's lowest slice the bodies are followed rather than the canal's end
    # tangent: the lumbosacral angle turns the sacrum backwards, and where the canal's trace
    # ends (within L5 or at the L5-S1 disc) its tangent says nothing of it
    first = int(np.flatnonzero(~lo)[0])
    followed = np.arange(len(q)) < first
    if first > 0:
        pts[:first], cpts[:first], w[:first] = _follow_bodies(
            pts, cpts, w, first, bone | filled, spacing
        )
    top = np.asarray(bone.shape, dtype=float) * spacing
    inside = np.all((pts >= 0) & (pts <= top - spacing), axis=1)
    inside &= np.all((cpts >= 0) & (cpts <= top - spacing), axis=1)
    pts, cpts, w, followed = pts[inside], cpts[inside], w[inside], followed[inside]
    if len(pts) < 3:
        return None
    tang = np.gradient(pts, axis=0)
    tang /= np.maximum(np.linalg.norm(tang, axis=1, keepdims=True), 1e-9)
    # the wall was found straight forward (axis 1) in the canal's slices: its distance
    # square to the column is that times the cosine of the column's tilt
    _, ant = _frame_of(tang)
    w = np.where(followed, w, w * np.abs(ant[:, 1]))
    zs_seen = z[seen]
    measured = (pts[:, 2] >= zs_seen.min()) & (pts[:, 2] <= zs_seen.max())
    return Column(points=pts, tangents=tang, canal=cpts, wall_mm=w, measured=measured)


TRACK_RADIUS_MM = 15.0
"""Radius of the plane square to the column in which the bone below the canal's end is
followed (mm; inside the S1 body's half width, short of the laminae behind the canal)."""
TRACK_PULL = 0.5
"""Share of the way to the bone's centroid the followed line moves at each step."""
TRACK_MIN_SHARE = 0.2
"""Least share of the plane that must be bone for the line to follow it (a disc space or the
soft tissue past the last body is crossed straight)."""
TRACK_TURN = 0.2
"""Weight of the last step in the followed line's new direction (the rest: the old one)."""
TRACK_MAX_SHIFT = 0.4
"""Most the followed line moves sideways per mm along it (mm/mm; about 22 degrees)."""
TRACK_MAX_TURN_DEG = 30.0
"""Most the followed line turns from the column's direction at the canal's end (deg; the
lumbosacral angle between L5's axis and the sacrum's is 15-35 degrees)."""


def _unit(v: F64) -> F64:
    return np.asarray(v / max(float(np.linalg.norm(v)), 1e-9), dtype=float)


def square_axes(d: F64) -> tuple[F64, F64]:
    """Lateral (toward axis 0) and anterior unit vectors square to unit ``d`` (pointing
    cranially), as :func:`frame` makes them."""
    lat = _unit(np.array([1.0, 0.0, 0.0]) - d[0] * d)
    return lat, np.cross(d, lat)


def _follow_bodies(
    pts: F64, cpts: F64, walls: F64, first: int, bone: Mask, spacing: F64
) -> tuple[F64, F64, F64]:
    """The column's ``first`` points below ``pts[first]`` (caudal of the canal's end) laid
    along the bone: each step of :data:`STEP_MM` goes on in the line's direction and moves
    :data:`TRACK_PULL` of the way to the centroid of the bone in the plane square to it
    (within :data:`TRACK_RADIUS_MM`), when that plane holds bone; the direction turns toward
    the step taken, by at most :data:`TRACK_MAX_TURN_DEG` in all. The canal beside each point
    is found behind it (:func:`_canal_behind`), or where it is not seen keeps its offset from
    the body in the line's own frame. Returns (body points, canal points, distance from the
    canal's centre to the body's posterior wall), caudal first."""
    n_end = min(15, len(pts) - first - 1)
    d = _unit(pts[first + n_end] - pts[first])  # cranial
    start_d = d
    lat0, ant0 = square_axes(d)
    rel = cpts[first] - pts[first]
    o_lat, o_ant, o_t = rel @ lat0, rel @ ant0, rel @ d
    r = np.arange(-TRACK_RADIUS_MM, TRACK_RADIUS_MM + 1e-9, 1.5)
    u, v = np.meshgrid(r, r, indexing="ij")
    keep = u**2 + v**2 <= TRACK_RADIUS_MM**2
    u, v = u[keep], v[keep]
    field = bone.astype(np.float32)
    body = np.empty((first, 3))
    canal = np.empty((first, 3))
    ants = np.empty((first, 3))
    p = pts[first].astype(float)
    for k in range(first - 1, -1, -1):  # one small plane per mm of column
        q = p - d * STEP_MM
        lat, ant = square_axes(d)
        plane = q[None, :] + u[:, None] * lat[None, :] + v[:, None] * ant[None, :]
        vals = ndimage.map_coordinates(field, (plane / spacing).T, order=1, mode="constant")
        if vals.mean() >= TRACK_MIN_SHARE:
            w = vals / vals.sum()
            shift = TRACK_PULL * np.array([w @ u, w @ v])
            shift *= min(1.0, TRACK_MAX_SHIFT * STEP_MM / max(float(np.hypot(*shift)), 1e-9))
            q = q + shift[0] * lat + shift[1] * ant
        turned = _unit((1.0 - TRACK_TURN) * d + TRACK_TURN * _unit(p - q))
        if float(turned @ start_d) >= np.cos(np.radians(TRACK_MAX_TURN_DEG)):
            d = turned
        p = q
        body[k] = p
        lat, ant = square_axes(d)
        ants[k] = ant
        canal[k] = p + o_lat * lat + o_ant * ant + o_t * d
    wall = np.full(first, float(walls[first]))
    depth, half = _canal_behind(body, ants, field, spacing)
    seen = np.isfinite(depth)
    if seen.sum() >= 3:
        at = np.arange(first)
        window = min(9, int(seen.sum()) | 1)
        dep = np.interp(
            at, at[seen], ndimage.median_filter(depth[seen], size=window, mode="nearest")
        )
        hal = np.interp(
            at, at[seen], ndimage.median_filter(half[seen], size=window, mode="nearest")
        )
        canal = body - dep[:, None] * ants
        wall = hal
    return body, canal, wall


CANAL_FROM_MM = 8.0
"""Least distance behind a body's centre of its posterior wall (mm; half the shallowest
body's depth less a margin for a centre line off the middle)."""
CANAL_AP_MM = (4.0, 25.0)
"""Least and most front-back width of the canal's lumen between the body and the arch (mm)."""


def _canal_behind(
    points: F64, ants: F64, bone: NDArray[np.float32], spacing: F64
) -> tuple[F64, F64]:
    """For body points (n, 3, mm) and their anterior unit vectors: how far behind each the
    canal's centre lies and half the canal's front-back width (mm), read along the ray
    backwards: the first gap of the bone at least :data:`CANAL_FROM_MM` behind the point that
    bone closes again (the lamina) after a width within :data:`CANAL_AP_MM`; NaN where no
    such gap is seen."""
    s = np.arange(0.0, 60.0, 0.75)
    ray = points[:, None, :] - s[None, :, None] * ants[:, None, :]
    vals = ndimage.map_coordinates(bone, (ray / spacing).reshape(-1, 3).T, order=1, mode="constant")
    solid = vals.reshape(len(points), len(s)) >= 0.5
    n = len(s)
    idx = np.arange(n)[None, :]
    after = idx >= int(np.ceil(CANAL_FROM_MM / 0.75))
    gap = ~solid & after & np.roll(solid, 1, axis=1)  # bone just before: the posterior wall
    start = np.where(gap.any(axis=1), gap.argmax(axis=1), n)
    closes = solid & (idx > start[:, None])
    stop = np.where(closes.any(axis=1), closes.argmax(axis=1), n)
    width = (stop - start) * 0.75
    ok = (start < n) & (stop < n) & (width >= CANAL_AP_MM[0]) & (width <= CANAL_AP_MM[1])
    centre = 0.5 * (start + stop) * 0.75
    return np.where(ok, centre, np.nan), np.where(ok, width / 2.0, np.nan)


def frame(col: Column) -> tuple[F64, F64]:
    """Unit lateral (toward the grid's axis 0) and anterior vectors square to the tangent at
    each point of the column, (n, 3) each."""
    return _frame_of(col.tangents)


def _frame_of(tangents: F64) -> tuple[F64, F64]:
    x = np.array([1.0, 0.0, 0.0])
    lat = x[None, :] - (tangents @ x)[:, None] * tangents
    lat /= np.linalg.norm(lat, axis=1, keepdims=True)
    ant = np.cross(tangents, lat)
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
    # imported here: scipy.signal brings scipy.stats, which a run with a label map never needs
    from scipy.signal import find_peaks

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


MAX_DISC_MM = 14.0
"""Thickest slab taken for a disc (mm; adult lumbar discs are 6-13 mm high)."""
MAX_TILT_DEG = 35.0
"""Largest angle between a disc's fitted normal and the column's tangent (deg)."""


SLAB_RADIUS_MM = 15.0
"""Radius of the cross-section over which a disc's plane is sought (mm; inside the smallest
lumbar body's half depth, 15-17 mm)."""
SLAB_HALF_MM = 16.0
"""Half the length along the column over which a disc's profile is read (mm)."""
SLAB_STEP_DEG = 4.0
"""Angular step of the disc normals tried (deg)."""
SLAB_SHIFT_MM = 6.0
"""Farthest the disc's mid-plane may lie from the first guess along the column (mm)."""


def _slab_profiles(
    rel: F64, vals: F64, normals: F64
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Mean value of the samples (``rel`` offsets from the first guess, mm; ``vals``) in
    1 mm slabs along each normal, within :data:`SLAB_RADIUS_MM` of the axis and
    :data:`SLAB_HALF_MM` of the first guess: (normals, bins) profiles, smoothed over a mm,
    and each bin's dip below the lower of its two shoulders (the brightest bin 3-12 mm to
    either side)."""
    nb = int(2 * SLAB_HALF_MM) + 1
    tn = rel @ normals.T
    radial2 = np.sum(rel**2, axis=1)[:, None] - tn**2
    inside = (radial2 <= SLAB_RADIUS_MM**2) & (np.abs(tn) <= SLAB_HALF_MM)
    bins = np.rint(tn + SLAB_HALF_MM).astype(np.int64) + nb * np.arange(len(normals))[None, :]
    flat = bins[inside]
    weights = np.broadcast_to(vals[:, None], tn.shape)[inside]
    total = np.bincount(flat, weights=weights, minlength=nb * len(normals))
    count = np.bincount(flat, minlength=nb * len(normals))
    prof = (total / np.maximum(count, 1)).reshape(len(normals), nb)
    prof = ndimage.gaussian_filter1d(prof, 1.0, axis=1, mode="nearest")
    offs = np.arange(3, 13)
    idx = np.arange(nb)[:, None]
    lo_i, hi_i = idx - offs[None, :], idx + offs[None, :]
    left = np.where(lo_i >= 0, prof[:, np.clip(lo_i, 0, nb - 1)], -np.inf).max(axis=2)
    right = np.where(hi_i < nb, prof[:, np.clip(hi_i, 0, nb - 1)], -np.inf).max(axis=2)
    dip = np.minimum(left, right) - prof
    dip[:, np.abs(np.arange(nb) - SLAB_HALF_MM) > SLAB_SHIFT_MM] = -np.inf
    return prof, dip


def _normals_about(n: F64, max_deg: float, step_deg: float) -> F64:
    """Unit normals within ``max_deg`` of unit ``n``, on a grid of ``step_deg`` tilts."""
    e1, e2 = square_axes(n)
    g = np.tan(np.radians(np.arange(-max_deg, max_deg + 1e-9, step_deg)))
    a, b = (x.ravel() for x in np.meshgrid(g, g, indexing="ij"))
    ok = a**2 + b**2 <= np.tan(np.radians(max_deg)) ** 2 + 1e-9
    out = n[None, :] + a[ok, None] * e1[None, :] + b[ok, None] * e2[None, :]
    return np.asarray(out / np.linalg.norm(out, axis=1, keepdims=True), dtype=float)


def orient_disc(
    disc: Disc,
    col: Column,
    hu: NDArray[np.float32],
    spacing: F64,
    max_tilt_deg: float = MAX_TILT_DEG,
) -> Disc:
    """The disc's mid-plane as the darkest slab through it: for each normal within
    ``max_tilt_deg`` of the column's tangent, the mean HU of the cross-section (radius
    :data:`SLAB_RADIUS_MM`) every mm along that normal; the normal whose profile dips deepest
    below its two shoulders (the endplates and the bodies beyond, 3-12 mm either side) is the
    disc's, the dip's bottom its centre (within :data:`SLAB_SHIFT_MM` of the first guess), and
    the width of the dip at half its depth its height. A plane tilted off the disc's mixes
    the endplates into every slab, so its dip is shallower. The HU are sampled on a grid of
    about a mm by linear interpolation, so the answer does not depend on the voxel size.
    Searched every :data:`SLAB_STEP_DEG` x 2, then every :data:`SLAB_STEP_DEG` / 2 about the
    best; the first guess stays where no dip is found."""
    n0 = _unit(disc.normal)
    e1, e2 = square_axes(n0)
    reach = SLAB_HALF_MM + SLAB_RADIUS_MM * np.tan(np.radians(max_tilt_deg + SLAB_STEP_DEG))
    r = np.arange(-SLAB_RADIUS_MM, SLAB_RADIUS_MM + 1e-9, 1.5)
    t = np.arange(-reach, reach + 1e-9, 1.0)
    u, v, w = np.meshgrid(r, r, t, indexing="ij")
    keep = u**2 + v**2 <= (SLAB_RADIUS_MM + 1.0) ** 2
    u, v, w = u[keep], v[keep], w[keep]
    rel = u[:, None] * e1 + v[:, None] * e2 + w[:, None] * n0
    vals = ndimage.map_coordinates(
        hu, ((disc.centre + rel) / spacing).T, order=1, mode="nearest"
    ).astype(float)
    coarse = _normals_about(n0, max_tilt_deg, 2.0 * SLAB_STEP_DEG)
    _, dip = _slab_profiles(rel, vals, coarse)
    k = int(np.argmax(dip.max(axis=1)))
    fine = _normals_about(coarse[k], 2.0 * SLAB_STEP_DEG, 0.5 * SLAB_STEP_DEG)
    fine = fine[fine @ n0 >= np.cos(np.radians(max_tilt_deg)) - 1e-9]
    if len(fine) == 0:
        fine = coarse[k : k + 1]
    prof, dip = _slab_profiles(rel, vals, fine)
    best, bin_ = np.unravel_index(int(np.argmax(dip)), dip.shape)
    k, j = int(best), int(bin_)
    depth = float(dip[k, j])
    if not np.isfinite(depth) or depth <= 0:
        return disc
    nrm, row = fine[k], prof[k]
    level = row[j] + 0.5 * depth
    below = row < level
    lo_j = j - int(np.argmin(below[j::-1])) if not below[j::-1].all() else 0
    hi_j = j + int(np.argmin(below[j:])) if not below[j:].all() else len(row)
    height = float(np.clip(hi_j - lo_j - 1, 2.0, MAX_DISC_MM))
    centre = disc.centre + (j - SLAB_HALF_MM) * nrm
    return Disc(
        index=int(np.argmin(np.linalg.norm(col.points - centre, axis=1))),
        centre=centre,
        normal=nrm,
        depth_hu=max(depth, 1.0),
        height_mm=height,
    )
