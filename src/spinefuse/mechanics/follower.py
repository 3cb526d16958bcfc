"""The optimised follower-load path: a compressive preload that runs, at every segment, through
the point where it turns the segment least — its centre of rotation under compression.

In vitro the cable of a follower load runs through guides on every vertebra whose positions
are adjusted until the full preload changes the specimen's posture least (Patwardhan et al.
1999, 2003: the lumbar spine carries physiologic compression without buckling only while the
path stays near the segments' centres of rotation). Here the guides are found the same way for
each spine: the preload is applied through guides at the disc centres, the sagittal and
coronal rotation it causes at each segment is measured, and each segment's guide is moved until
it vanishes (a first step from the tangent stiffness, then a bracketing secant search per
segment and plane: the neutral zone makes the response strongly nonlinear). The path belongs to the
specimen: it is found on the intact spine and kept for its operated states, as the guides stay
on the vertebrae.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from spinefuse.mechanics.model import SpineModel
from spinefuse.mechanics.rotations import skew
from spinefuse.mechanics.solver import (
    Loads,
    Solution,
    _fixed,
    follower_wrench,
    prepared_arrays,
    segment_wrench,
    solve,
)

Arr = NDArray[np.float64]

TOLERANCE_DEG = 0.005
MAX_EVALUATIONS = 9
MAX_OFFSET_MM = 25.0


def _turn(model: SpineModel, force: Arr, offset: Arr) -> tuple[Arr, Solution]:
    """Sagittal and coronal rotation (n, S, 2) rad the preload causes with guides ``offset``."""
    n = model.batch
    sol = solve(model, Loads(np.zeros((n, 3)), force, np.arange(n), offset), steps=np.zeros(0))
    rot = sol.rotation[sol.preload_index] - sol.rotation[0]
    return np.stack([rot[..., 0], rot[..., 1]], axis=-1), sol


def _sensitivity(model: SpineModel, force: Arr, offset: Arr, sol: Solution) -> Arr:
    """d(rotation about x, y)/d(offset y, x) (n, S, 2) from the tangent at the preloaded state."""
    n, ns = model.batch, len(model.segments)
    a, cols = prepared_arrays(model, np.arange(n))
    f_rows = np.tile(force, ns)
    rot = np.swapaxes(sol.state_rotation, 0, 1).reshape(-1, 3, 3)
    t = np.swapaxes(sol.preload_translation, 0, 1).reshape(-1, 3)
    off_rows = np.swapaxes(offset, 0, 1).reshape(-1, 2)
    _, jac, _ = segment_wrench(a, rot, t, cols=cols, fixed=_fixed(a, cols))
    _, jfol = follower_wrench(a, rot, t, f_rows, off_rows)
    h = a.disc_height
    ra = np.einsum("nij,nj->ni", rot, np.column_stack([off_rows, 0.5 * h]))
    d = ra + t - np.column_stack([off_rows, -0.5 * h])
    length = np.linalg.norm(d, axis=1)
    e = d / length[:, None]
    f = -f_rows[:, None] * e
    proj = (np.eye(3) - e[:, :, None] * e[:, None, :]) / length[:, None, None]
    df = -f_rows[:, None, None] * (proj @ (rot[:, :, :2] - np.eye(3)[None, :, :2]))
    dres = np.concatenate([-skew(f) @ rot[:, :, :2] + skew(ra) @ df, df], axis=1)
    dx = -np.linalg.solve(jac + jfol, dres)  # state change per mm of (x, y) offset
    sens = np.stack([dx[:, 0, 1], dx[:, 1, 0]], axis=-1)  # θx per y-mm, θy per x-mm
    return np.swapaxes(sens.reshape(ns, n, 2), 0, 1)


def optimal_follower_offsets(model: SpineModel, follower_n: Arr) -> Arr:
    """Guide offsets (n, S, 2), mm in each disc frame (x right, y anterior), of the optimised
    follower path of each spine of ``model`` under its preload ``follower_n`` (n,) N."""
    n, ns = model.batch, len(model.segments)
    force = np.broadcast_to(np.asarray(follower_n, dtype=float), (n,)).copy()
    offset = np.zeros((n, ns, 2))
    if not np.any(force > 0):
        return offset
    tol = np.radians(TOLERANCE_DEG)
    # unknown p = (offset y for θx, offset x for θy); f(p) = (θx, θy)
    p0 = np.zeros((n, ns, 2))
    f0, sol = _turn(model, force, offset)
    sens = _sensitivity(model, force, offset, sol)
    safe = np.where(np.abs(sens) > 1e-6, sens, -1e-3)
    p1 = np.clip(p0 - f0 / safe, -5.0, 5.0)
    lo, f_lo = p0, f0
    hi, f_hi = p1, _turn(model, force, p1[..., ::-1])[0]
    for _ in range(MAX_EVALUATIONS - 2):
        done = (np.abs(f_hi) < tol) | (force[:, None, None] <= 0)
        if done.all():
            break
        bracket = np.sign(f_lo) != np.sign(f_hi)
        denom = np.where(np.abs(f_hi - f_lo) > 1e-15, f_hi - f_lo, 1e-15)
        secant = hi - f_hi * (hi - lo) / denom
        # outside a bracket: extrapolate (at most doubling the step); inside: regula falsi
        step = secant - hi
        step = np.where(
            bracket, step, np.clip(step, -2.0 * np.abs(hi - lo) - 0.5, 2.0 * np.abs(hi - lo) + 0.5)
        )
        new = np.clip(np.where(done, hi, hi + step), -MAX_OFFSET_MM, MAX_OFFSET_MM)
        f_new = _turn(model, force, new[..., ::-1])[0]
        keep_lo = np.sign(f_new) != np.sign(f_hi)
        # Illinois: halve the retained end's value when the same end is kept twice
        f_lo_next = np.where(keep_lo, f_hi, np.where(bracket, 0.5 * f_lo, f_hi))
        lo_next = np.where(keep_lo | ~bracket, hi, lo)
        lo, f_lo = np.where(done, lo, lo_next), np.where(done, f_lo, f_lo_next)
        hi, f_hi = np.where(done, hi, new), np.where(done, f_hi, f_new)
    return np.asarray(hi[..., ::-1])
