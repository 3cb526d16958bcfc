"""The spinal canal traced slice by slice: the spine's axis.

In every axial slice the canal is a tube of CSF and epidural fat (darker than ~90 HU) with the
vertebral body in front of it (bone within 20 mm, at least 15 mm deep), the laminae or
spinous processes behind it and the pedicles or facets on both sides. Each voxel gets a cost
from how many of these hold; the canal is the cheapest path through the slices that moves at
most ``max_slope`` (mm per mm) from one slice to the next, found by dynamic programming over the
slices (one vectorised step per slice). At the disc levels, where the body is not bone, the
path is carried by its neighbours. The centre of the canal in each slice is then the centroid of
the dark region around the path, smoothed along the axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

F64 = NDArray[np.float64]
Mask = NDArray[np.bool_]

CANAL_DARK_HU = 90.0
"""Upper HU of the canal's contents (CSF 0-20 HU, fat -100 HU, raised by partial volume)."""
BODY_GAP_MM = 20.0
"""Farthest the vertebral body's posterior wall lies in front of a point of the canal (mm)."""
BODY_DEPTH_MM = 15.0
"""Least depth of bone in front of the canal for it to be a vertebral body (mm; lumbar and
lower thoracic bodies are 25-40 mm deep, a long bone's cortex 3-8 mm)."""
ARCH_GAP_MM = 30.0
"""Farthest the laminae or spinous process lie behind a point of the canal (mm)."""
JOIN_GAP_MM = 30.0
"""Longest stretch of slices without the canal across which two traced stretches join (mm)."""
JOIN_STEP_MM = 15.0
"""Largest in-plane jump across such a gap for the two stretches to be one canal (mm)."""
MIDLINE_MM = 60.0
"""Farthest the canal lies to either side of the patient's middle (mm; the body's centroid
over the whole scan; a severe scoliotic curve moves its apex 40-60 mm off the midline)."""
NECK_MM = 2.5
"""Radius of the in-plane opening that separates the lumen from dark pockets joined to it
through narrow gaps (mm)."""
PEDICLE_GAP_MM = 20.0
"""Farthest the pedicles or facets lie to either side of a point of the canal (mm)."""


@dataclass(frozen=True)
class CanalTrace:
    """The canal in the slices it was found in (array axis 2 of an RAS-ordered grid).

    ``slices``: slice indices, caudal to cranial; ``centre``: (n, 2) in-plane voxel
    coordinates (axis 0, axis 1) of the canal's centre; ``support``: fraction of the canal's
    walls found in each slice (0..1; 1 where body, arch and pedicles are all there)."""

    slices: NDArray[np.int64]
    centre: F64
    support: F64

    def centre_at(self, z: NDArray[np.floating]) -> F64:
        """Canal centre (in-plane voxel coordinates) at fractional slice positions ``z``,
        interpolated and held constant past the ends."""
        zq = np.asarray(z, dtype=float)
        return np.stack([np.interp(zq, self.slices, self.centre[:, k]) for k in range(2)], axis=-1)


def _steps(mask: Mask, axis: int, forward: bool) -> NDArray[np.int64]:
    """Voxel steps from each voxel to the nearest ``mask`` voxel along ``axis`` in the given
    direction (0 on the mask; a large number when there is none)."""
    n = mask.shape[axis]
    shape = [1, 1, 1]
    shape[axis] = n
    idx = np.arange(n).reshape(shape)
    far = 10 * n
    if forward:
        pos = np.where(mask, idx, idx + far)
        nxt = np.flip(np.minimum.accumulate(np.flip(pos, axis), axis=axis), axis)
        return np.asarray(nxt - idx)
    pos = np.where(mask, idx, idx - far)
    prv = np.maximum.accumulate(pos, axis=axis)
    return np.asarray(idx - prv)


def _run_beyond(
    filled: Mask, steps: NDArray[np.int64], axis: int, forward: bool
) -> NDArray[np.int64]:
    """Length (voxels) of the run of ``filled`` that starts ``steps`` voxels away along
    ``axis`` in the given direction."""
    n = filled.shape[axis]
    run = _steps(~filled, axis, forward)  # voxels to the end of the run starting here
    shape = [1, 1, 1]
    shape[axis] = n
    idx = np.arange(n).reshape(shape)
    at = np.clip(idx + steps if forward else idx - steps, 0, n - 1)
    return np.asarray(np.take_along_axis(run, at, axis=axis))


def canal_cost(
    hu: NDArray[np.float32], bone: Mask, filled: Mask, spacing: F64, body: Mask
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Per-voxel cost of lying in the canal (0 best, 1 worst) and the support (fraction of the
    canal's walls found around the voxel). The world's anterior is array axis 1 upward, the
    right axis 0 upward (RAS order)."""
    sx, sy = float(spacing[0]), float(spacing[1])
    ant = _steps(bone, 1, True) * sy
    post = _steps(bone, 1, False) * sy
    right = _steps(bone, 0, True) * sx
    left = _steps(bone, 0, False) * sx
    depth = _run_beyond(filled, _steps(bone, 1, True), 1, True) * sy
    dark = (hu < CANAL_DARK_HU) & (hu > -250.0) & body & ~bone
    has_body = (ant <= BODY_GAP_MM) & (depth >= BODY_DEPTH_MM)
    has_arch = post <= ARCH_GAP_MM
    has_pedicles = (right <= PEDICLE_GAP_MM) & (left <= PEDICLE_GAP_MM)
    support = (0.45 * has_body + 0.25 * has_arch + 0.30 * has_pedicles).astype(np.float32)
    support *= dark
    # the body carries the most weight: 0.45 alone, so support >= 0.45 means a body in front
    # prefer the middle of the tube: distance to the nearest wall, in-plane, up to 6 mm
    wall = np.minimum(np.minimum(ant, post), np.minimum(left, right))
    centred = np.clip(wall / 6.0, 0.0, 1.0)
    cost = 1.0 - support * (0.8 + 0.2 * centred)
    return cost.astype(np.float32), support


def trace_canal(
    cost: NDArray[np.float32],
    support: NDArray[np.float32],
    spacing: F64,
    max_slope: tuple[float, float] = (0.6, 2.0),
    off_cost: float = 0.75,
    enter_cost: float = 2.0,
    midline: float | None = None,
) -> CanalTrace | None:
    """The canal as the cheapest slice-to-slice path through ``cost`` (array axis 2 is the
    slice axis), or None when there is none.

    The path may leave the image's tubes at ``off_cost`` per slice and re-enter anywhere at
    ``enter_cost``, so it covers only the slices where a canal is seen; between two slices it
    moves at most ``max_slope`` (mm per mm, left-right and front-back: a scoliotic curve tilts
    less than the sacrum's canal). Of the stretches it covers, the one with the most support
    (half as much again when it reaches the scan's top slice) is the canal; with the
    patient's ``midline`` (voxel index along axis 0) a stretch more than :data:`MIDLINE_MM`
    to its side is not (a hip joint, the pelvis)."""
    nx, ny, nz = cost.shape
    kx = max(1, int(np.ceil(max_slope[0] * spacing[2] / spacing[0])))
    ky = max(1, int(np.ceil(max_slope[1] * spacing[2] / spacing[1])))
    on = cost[:, :, 0].astype(np.float64) + enter_cost
    off = off_cost
    back = np.zeros((nz, nx, ny, 2), dtype=np.int16)
    from_off = np.zeros((nz, nx, ny), dtype=bool)
    off_from_on = np.zeros(nz, dtype=bool)
    off_arg = np.zeros((nz, 2), dtype=np.int64)
    for z in range(1, nz):  # one vectorised step per slice
        padded = np.pad(on, ((kx, kx), (ky, ky)), constant_values=np.inf)
        best = np.full((nx, ny), np.inf)
        arg = np.zeros((nx, ny, 2), dtype=np.int16)
        for dx in range(-kx, kx + 1):
            for dy in range(-ky, ky + 1):
                cand = padded[kx + dx : kx + dx + nx, ky + dy : ky + dy + ny]
                # a small cost per step keeps the path still in a flat-bottomed tube
                cand = cand + 0.01 * np.hypot(dx * spacing[0], dy * spacing[1]) / spacing[2]
                better = cand < best
                best = np.where(better, cand, best)
                arg[better] = (dx, dy)
        enter = off + enter_cost
        from_off[z] = enter < best
        back[z] = arg
        k = int(np.argmin(on))
        off_from_on[z] = float(on.flat[k]) < off
        off_arg[z] = np.unravel_index(k, on.shape)
        new_off = off_cost + min(off, float(on.flat[k]))
        on = np.minimum(best, enter) + cost[:, :, z]
        off = new_off
    # back-track: state per slice, (-1, -1) when off
    path = np.full((nz, 2), -1, dtype=np.int64)
    k = int(np.argmin(on))
    state_on = float(on.flat[k]) <= off
    cur = np.array(np.unravel_index(k, on.shape)) if state_on else None
    for z in range(nz - 1, -1, -1):
        if cur is not None:
            path[z] = cur
            if z == 0:
                break
            if from_off[z, cur[0], cur[1]]:
                cur = None
            else:
                cur = cur + back[z, cur[0], cur[1]]
        elif z > 0 and off_from_on[z]:
            cur = off_arg[z].copy()
    covered = path[:, 0] >= 0
    if not covered.any():
        return None
    runs, n = ndimage.label(covered)
    zz = np.arange(nz)
    sup = np.zeros(nz)
    sup[covered] = support[path[covered, 0], path[covered, 1], zz[covered]]
    # stretches that follow on from each other (a short gap, the same place) are one canal
    # crossing a few slices where it was not seen (metal, a stenosis)
    centre = path.astype(float)
    spans = ndimage.find_objects(runs)
    chain = np.arange(1, n + 1)
    gap_max = JOIN_GAP_MM / float(spacing[2])
    for r in range(1, n):
        a, b = spans[r - 1][0], spans[r][0]
        gap = b.start - a.stop
        jump = np.hypot(*((path[b.start] - path[a.stop - 1]) * spacing[:2]))
        if gap <= gap_max and jump <= JOIN_STEP_MM:
            chain[r] = chain[r - 1]
            fill = np.arange(a.stop, b.start)
            t = (fill - (a.stop - 1)) / max(b.start - (a.stop - 1), 1)
            centre[fill] = (1 - t)[:, None] * path[a.stop - 1] + t[:, None] * path[b.start]
    joined = np.zeros(nz, dtype=np.int64)
    for r in range(1, n + 1):
        sl = spans[r - 1][0]
        joined[sl] = chain[r - 1]
        if r < n and chain[r] == chain[r - 1]:
            joined[sl.stop : spans[r][0].start] = chain[r - 1]
    ids = np.unique(joined[joined > 0])
    totals = np.array([sup[joined == c].sum() for c in ids])
    # the canal runs on up to the head: a stretch that reaches the scan's top slice is the
    # canal rather than a tube-like space lower down (the pelvis, a hip joint)
    tops = np.array([zz[joined == c].max() for c in ids])
    totals = totals * np.where(tops >= nz - 3, 1.5, 1.0)
    if midline is not None:
        side = np.array([np.median(centre[joined == c, 0]) for c in ids])
        totals = np.where(np.abs(side - midline) * spacing[0] <= MIDLINE_MM, totals, -1.0)
        if totals.max() < 0:
            return None
    best = ids[int(np.argmax(totals))]
    zs = zz[joined == best]
    return CanalTrace(slices=zs, centre=centre[zs], support=sup[zs])


def lumen(trace: CanalTrace, dark: Mask, spacing: F64, radius_mm: float = 14.0) -> Mask:
    """The canal's lumen: in each traced slice, the dark region joined to the path's point,
    within ``radius_mm`` of it, after an in-plane opening of :data:`NECK_MM` that cuts the
    narrow openings of the canal's wall (the basivertebral foramen into a body whose fatty
    marrow is as dark as CSF, the foramina)."""
    nx, ny, _ = dark.shape
    zs = trace.slices
    sub = dark[:, :, zs]
    r = np.maximum(1, np.rint(NECK_MM / np.asarray(spacing[:2], dtype=float))).astype(int)
    gx, gy = np.meshgrid(np.arange(-r[0], r[0] + 1), np.arange(-r[1], r[1] + 1), indexing="ij")
    disk = ((gx * spacing[0]) ** 2 + (gy * spacing[1]) ** 2) <= max(NECK_MM, spacing[0]) ** 2
    sub = ndimage.binary_opening(sub, structure=disk[:, :, None])
    labelled, _ = ndimage.label(sub, structure=_in_plane())
    ii = np.clip(np.rint(trace.centre[:, 0]).astype(int), 0, nx - 1)
    jj = np.clip(np.rint(trace.centre[:, 1]).astype(int), 0, ny - 1)
    ids = labelled[ii, jj, np.arange(len(zs))]
    gx = np.arange(nx)[:, None, None]
    gy = np.arange(ny)[None, :, None]
    near = ((gx - trace.centre[None, None, :, 0]) * spacing[0]) ** 2 + (
        (gy - trace.centre[None, None, :, 1]) * spacing[1]
    ) ** 2 <= radius_mm**2
    own = (labelled == ids[None, None, :]) & (ids[None, None, :] > 0) & near
    out = np.zeros(dark.shape, dtype=bool)
    out[:, :, zs] = own
    return out


def refine_centres(
    trace: CanalTrace, dark: Mask, spacing: F64, smooth_mm: float = 6.0
) -> CanalTrace:
    """Each slice's centre moved to the centroid of the canal's lumen (:func:`lumen`) there,
    then smoothed along the axis (Gaussian, ``smooth_mm``)."""
    own = lumen(trace, dark, spacing)[:, :, trace.slices]
    count = own.sum(axis=(0, 1))
    gx = np.arange(own.shape[0])[:, None, None]
    gy = np.arange(own.shape[1])[None, :, None]
    cx = (own * gx).sum(axis=(0, 1)) / np.maximum(count, 1)
    cy = (own * gy).sum(axis=(0, 1)) / np.maximum(count, 1)
    centre = trace.centre.copy()
    ok = count > 0
    centre[ok, 0], centre[ok, 1] = cx[ok], cy[ok]
    sigma = smooth_mm / float(spacing[2])
    centre = ndimage.gaussian_filter1d(centre, sigma, axis=0, mode="nearest")
    return CanalTrace(slices=trace.slices, centre=centre, support=trace.support)


def _in_plane() -> NDArray[np.bool_]:
    st = np.zeros((3, 3, 3), dtype=bool)
    st[:, :, 1] = ndimage.generate_binary_structure(2, 1)
    return st
