"""Pedicles on a label map: the isthmus (the narrowest section beside the canal), the axis that
runs deepest in the bone through it, its width and height square to that axis, and where the
axis enters the bone and how far it runs to the anterior cortex. World frame, mm."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from spinefuse.anatomy.bone_field import BoneField
from spinefuse.anatomy.canal import CanalOutline
from spinefuse.anatomy.frames import Frame, Vec, half_extent, unit, v3
from spinefuse.anatomy.geometry import Pedicle
from spinefuse.anatomy.method import setting
from spinefuse.conventions import Side
from spinefuse.imaging.volume import Volume


def bone_run(values: Vec, step: float) -> tuple[float, float] | None:
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


def first_isthmus(
    posterior: Vec,
    side: Side,
    x_mid: float,
    canal: CanalOutline,
    z_range: tuple[float, float],
    cell: float,
    frame: Frame,
    affine: Vec,
) -> Pedicle | None:
    """A first estimate of the isthmus: the narrowest cross-section of the bone beside the canal,
    between the body's posterior wall and the arch (refined by ``deepest_axis`` and
    ``square_section``).

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
        span = bone_run(sec @ a, 1.5 * cell)
        if span is None:
            continue
        on = sec[(sec @ a >= span[0] - 1e-9) & (sec @ a <= span[1] + 1e-9)]
        hz_span = bone_run(on[:, 2], 1.5 * cell)
        if hz_span is None:
            continue
        w = span[1] - span[0] + 2 * half_extent(affine, frame.direction(a))
        h = hz_span[1] - hz_span[0] + 2 * half_extent(affine, frame.rot[:, 2])
        cuts.append((w, h, float(phi), 0.5 * (span[0] + span[1])))
    if not cuts:
        return None
    # voxel extents tie often: of the narrowest cuts take the middle one, not the first found
    narrowest = min(cut[0] for cut in cuts)
    tied = [cut for cut in cuts if cut[0] <= narrowest + 1e-6]
    best = tied[len(tied) // 2]
    width, height, phi, offset = best
    # a first axis: refined by deepest_axis
    axis = unit(np.array([np.sin(phi), np.cos(phi), tilt * np.cos(phi)]))
    height *= float(np.hypot(axis[0], axis[1]))  # the vertical cut is oblique by the tilt
    centre = centre + offset * np.array([np.cos(phi), -np.sin(phi), 0.0])
    # a pedicle borders the canal and converges toward the body's midline: a section far out
    # beside the canal or an axis turning away from the midline is a process, not a pedicle
    beside = abs(float(centre[0]) - x_mid) - 0.5 * canal.width_mm
    if beside > width or s * axis[0] > np.sin(np.radians(10.0)):
        return None
    if width > float(setting("pedicle_width_max_mm")):
        return None  # processes merged into the section: the isthmus is not resolved
    return Pedicle(
        side=side,
        isthmus_centre=v3(frame.world(centre)),
        axis=v3(unit(frame.direction(axis))),
        width_mm=width,
        height_mm=height,
    )


def square_section(ped: Pedicle, bone: BoneField, frame: Frame) -> Pedicle:
    """Width and height of the pedicle square to its (refined) axis: the bone's extent along
    the two perpendicular directions (horizontal, then the other) through the axis, at the
    narrowest of the sections within ``section_search_factor`` widths of the isthmus centre;
    the isthmus centre moves to that section's middle."""
    cfg = setting("pedicle_axis_search")
    axis, centre = np.asarray(ped.axis), np.asarray(ped.isthmus_centre)
    u = unit(np.cross(axis, frame.rot[:, 2]))
    w = np.cross(u, axis)
    reach = float(cfg["section_search_factor"]) * ped.width_mm
    t = np.arange(-reach, reach + 1e-9, float(cfg["sample_step_mm"]))
    s = np.arange(-30.0, 30.0 + 1e-9, 0.1)
    i0 = len(s) // 2

    def runs(origins: Vec, d: Vec) -> NDArray[np.float64]:
        """Extent (mm) and middle offset of the bone run through each origin along ``d``."""
        pts = origins[:, None, :] + s[None, :, None] * d
        inside = bone.covered(pts.reshape(-1, 3)).reshape(len(origins), len(s))
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
    update["isthmus_centre"] = v3(mid)
    return ped.model_copy(update=update)


def deepest_axis(ped: Pedicle, depth: Callable[[Vec], Vec], frame: Frame) -> Pedicle:
    """The pedicle's axis: of the straight lines through its isthmus centre, the one that runs
    deepest inside the bone (greatest mean distance from the cortex) over the pedicle's length
    either side of the isthmus (``pedicle_axis_search`` in ``data/vertebral_landmarks.yaml``).
    A single section fixes the direction only to second order (an oblique cut lengthens it by
    the cosine of the error); the depth along the line falls to first order (the sine)."""
    cfg = setting("pedicle_axis_search")
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
        return unit(dirs[int(np.argmax(score))])

    def move(centre: Vec, axis: Vec) -> Vec:
        u = unit(np.cross(axis, frame.rot[:, 2]))
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
    return ped.model_copy(update={"axis": v3(axis), "isthmus_centre": v3(centre)})


def with_chord(ped: Pedicle, labels: Volume, key: int, affine: Vec) -> Pedicle:
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
    return ped.model_copy(update={"entry_point": v3(entry), "chord_mm": chord})
