"""Batched quasi-static Newton solver of the spine model.

Every element joins the two vertebrae of one motion segment, so the chain is solved from the
fixed sacrum upward: at each load step, each segment's 6 equilibrium equations (moments about
the moving disc centre and forces on the upper vertebra, in the disc frame) are solved by Newton
with an analytic Jacobian for all N cases (spines × load cases) at once, with the lower
vertebra placed where the segments below put it. The unknowns of a segment are the upper
vertebra's rotation R and disc-centre displacement t in the disc frame; an increment
(δθ, δt) rotates it by exp(δθ) about the current disc centre and then translates it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from spinefuse.errors import ConvergenceError
from spinefuse.mechanics.elements import (
    blankevoort,
    disc_moment_law,
    preload_factor,
    smooth_ramp,
)
from spinefuse.mechanics.model import SegmentArrays, SpineModel
from spinefuse.mechanics.parameters import parameters
from spinefuse.mechanics.rotations import exp_so3, left_jacobian_inv, log_so3, skew

Arr = NDArray[np.float64]

MOMENT_TOL_NMM = 0.5
FORCE_TOL_N = 0.01
MAX_ITER = 40
MAX_ROT_STEP = 0.05  # rad per Newton iteration
MAX_DISP_STEP = 0.5  # mm per Newton iteration


@dataclass(frozen=True)
class Loads:
    """Loads of N cases: a pure moment (N·mm) fixed in the world frame, applied to the top
    vertebra, and a follower compression (N) through every disc centre along the spine's
    deformed axis. Both are scaled together by the load steps."""

    moment_world: Arr  # (N, 3)
    follower_n: Arr  # (N,)
    spine: NDArray[np.int64]  # (N,) index of the spine in the model batch


@dataclass(frozen=True)
class Solution:
    """Converged state of N cases (segments ordered as in the model, head to pelvis).

    ``rotation`` is the upper vertebra's rotation vector in the disc frame (rad), per load step,
    the first step being the unloaded rest posture (fraction 0); the other fields are at the
    final step."""

    steps: Arr  # (J,) load fractions
    rotation: Arr  # (J, N, S, 3)
    translation: Arr  # (N, S, 3) mm
    rest_translation: Arr  # (N, S, 3) mm, in the unloaded rest posture
    disc_force_n: Arr  # (N, S) compressive disc force
    facet_force_n: Arr  # (N, S, 2) left, right
    cage_force_n: Arr  # (N, S)
    bushing_wrench: Arr  # (N, S, K, 6) on the upper vertebra: moment N·mm, force N (disc axes)
    iterations: int


def _gather(arr: SegmentArrays, idx: NDArray[np.int64]) -> SegmentArrays:
    vals: dict[str, Any] = {}
    for f in fields(arr):
        v = getattr(arr, f.name)
        vals[f.name] = v[idx] if isinstance(v, np.ndarray) else v
    return SegmentArrays(**vals)


def _cross(a: Arr, b: Arr) -> Arr:
    """Cross product along the last axis (faster than np.cross for small last axes)."""
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    return np.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)


def segment_wrench(
    a: SegmentArrays, rot: Arr, t: Arr, jacobian: bool = True
) -> tuple[Arr, Arr, dict[str, Arr]]:
    """Internal wrench on the upper vertebra (N, 6) = (moment about the disc centre, force),
    its Jacobian (N, 6, 6) w.r.t. (δθ, δt), and element outputs."""
    p = parameters()["disc"]
    n = rot.shape[0]
    w = a.prestress.copy()
    jac = np.zeros((n, 6, 6))
    eye = np.eye(3)
    # --- disc -------------------------------------------------------------------------------
    theta = log_so3(rot)
    m, dm = disc_moment_law(
        theta,
        a.disc_k_lin,
        a.disc_theta_t,
        float(p["neutral_stiffness_ratio"]["value"]),
        float(p["transition_width_ratio"]["value"]),
    )
    k_ax = float(p["axial_stiffness_n_per_mm"]["value"]) * a.disc_axial_scale
    k_sh = float(p["shear_stiffness_n_per_mm"]["value"])
    fc, dfc = smooth_ramp(-k_ax * t[:, 2], 1.0)
    ps = p["preload_stiffening"]
    s, ds = preload_factor(fc, float(ps["a"]), float(ps["f0_n"]), float(ps["b"]))
    rs = a.disc_rot_scale * s
    w[:, :3] -= rs[:, None] * m
    w[:, 3] -= k_sh * t[:, 0]
    w[:, 4] -= k_sh * t[:, 1]
    w[:, 5] -= k_ax * t[:, 2]
    if jacobian:
        jac[:, :3, :3] -= (rs[:, None] * dm)[:, :, None] * left_jacobian_inv(theta)
        jac[:, :3, 5] -= (a.disc_rot_scale * ds * dfc * (-k_ax))[:, None] * m
        jac[:, 3, 3] -= k_sh
        jac[:, 4, 4] -= k_sh
        jac[:, 5, 5] -= k_ax
    # --- point elements: ligaments (lines) and contacts ---------------------------------------
    # Each has a force f at a point r (from the disc centre) on the upper vertebra and a point
    # stiffness df/dr = -(β·I + c·e·eᵀ); the sums below are its wrench and exact tangent.
    r_l = rot @ np.swapaxes(a.lig_a, 1, 2)
    r_l = np.swapaxes(r_l, 1, 2)
    d = r_l + t[:, None, :] - a.lig_b
    length = np.linalg.norm(d, axis=-1)
    e_l = d / length[..., None]
    f_l, df_l = blankevoort(length / a.lig_l0 - 1.0, a.lig_k, a.lig_et)
    r_c = np.swapaxes(rot @ np.swapaxes(a.con_p, 1, 2), 1, 2)
    gap = ((r_c + t[:, None, :] - a.con_c) * a.con_n).sum(-1)
    v_c, dv_c = smooth_ramp(-gap, a.con_w)
    f_c = a.con_k * v_c
    r = np.concatenate([r_l, r_c], axis=1)
    e = np.concatenate([e_l, a.con_n], axis=1)
    fmag = np.concatenate([-f_l, f_c], axis=1)  # force along e
    force = fmag[..., None] * e
    w[:, :3] += _cross(r, force).sum(axis=1)
    w[:, 3:] += force.sum(axis=1)
    if jacobian:
        beta = np.concatenate([f_l / length, np.zeros_like(f_c)], axis=1)
        c = np.concatenate([df_l / a.lig_l0 - f_l / length, a.con_k * dv_c], axis=1)
        u = _cross(r, e)
        sb = beta.sum(1)
        br = (beta[..., None] * r).sum(1)
        ce = c[..., None] * e
        et = np.swapaxes(ce, 1, 2)
        jac[:, 3:, 3:] -= sb[:, None, None] * eye + et @ e
        jac[:, :3, 3:] -= skew(br) + np.swapaxes(c[..., None] * u, 1, 2) @ e
        jac[:, 3:, :3] += skew(br) - et @ u
        rr = np.swapaxes(beta[..., None] * r, 1, 2) @ r
        brr = (beta * (r * r).sum(-1)).sum(1)
        jac[:, :3, :3] += rr - brr[:, None, None] * eye - np.swapaxes(c[..., None] * u, 1, 2) @ u
        jac[:, :3, :3] += (
            np.swapaxes(r, 1, 2) @ force - (force * r).sum((1, 2))[:, None, None] * eye
        )
    # --- bushings: rods on screws, fusion masses (linear, 6x6 at a point) ---------------------
    if not a.bsh_k.any():
        return w, jac, _outputs(fc, f_c, np.zeros((n, a.bsh_k.shape[1], 6)))
    r_b = np.einsum("nij,nkj->nki", rot, a.bsh_p)
    u_b = r_b + t[:, None, :] - a.bsh_p
    q = np.concatenate([np.repeat(theta[:, None, :], r_b.shape[1], 1), u_b], axis=-1)
    wp = -np.einsum("nkij,nkj->nki", a.bsh_k, q)
    w[:, :3] += wp[..., :3].sum(1) + _cross(r_b, wp[..., 3:]).sum(1)
    w[:, 3:] += wp[..., 3:].sum(1)
    if jacobian:
        nk = r_b.shape[1]
        dq = np.zeros((n, nk, 6, 6))
        dq[:, :, :3, :3] = left_jacobian_inv(theta)[:, None]
        rbx = skew(r_b)
        dq[:, :, 3:, :3] = -rbx
        dq[:, :, 3:, 3:] = eye
        dwp = -np.einsum("nkij,nkjm->nkim", a.bsh_k, dq)
        jac[:, :3, :] += dwp[:, :, :3, :].sum(1) + np.einsum(
            "nkij,nkjm->nim", rbx, dwp[:, :, 3:, :]
        )
        jac[:, 3:, :] += dwp[:, :, 3:, :].sum(1)
        jac[:, :3, :3] += np.einsum("nkij,nkjm->nim", skew(wp[..., 3:]), rbx)
    return w, jac, _outputs(fc, f_c, wp)


def _outputs(disc_force: Arr, contact: Arr, bushing: Arr) -> dict[str, Arr]:
    return {
        "disc_force": disc_force,
        "facet_left": contact[:, :5].sum(1),
        "facet_right": contact[:, 5:10].sum(1),
        "cage": contact[:, 10:].sum(1),
        "bushing": bushing,
    }


def _external(a: SegmentArrays, rot_frame: Arr, rot: Arr, loads: Loads, lam: float) -> Arr:
    """Transmitted external wrench on the upper vertebra in the disc frame (N, 6)."""
    m = lam * np.einsum("nji,nj->ni", rot_frame, loads.moment_world)
    z = np.zeros_like(m)
    z[:, 2] = 1.0
    axis = z + rot[:, :, 2]
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    f = -(lam * loads.follower_n)[:, None] * axis
    return np.concatenate([m, f], axis=1)


def _stack(arrays: list[SegmentArrays]) -> SegmentArrays:
    vals: dict[str, Any] = {}
    for f in fields(arrays[0]):
        v = getattr(arrays[0], f.name)
        if isinstance(v, np.ndarray):
            vals[f.name] = np.concatenate([getattr(a, f.name) for a in arrays], axis=0)
        else:
            vals[f.name] = v
    return SegmentArrays(**vals)


def solve(model: SpineModel, loads: Loads, steps: Arr | None = None) -> Solution:
    """Equilibrium of every case at every load step (fractions of the loads).

    All segments of all cases are solved together (rows segment-major: row = s·N + case); a
    segment sees the loads turned into its frame by the segments below it at the previous
    iterate, a lag that vanishes at convergence. Raises :class:`ConvergenceError` naming the
    spine, the case, the segment and the step that did not converge."""
    if steps is None:
        steps = np.asarray(value_list("loads", "load_steps"), dtype=float)
    # the unloaded rest posture first: motion is measured from it, as in vitro
    steps = np.concatenate([[0.0], np.asarray(steps, dtype=float)[np.asarray(steps) > 0]])
    n = loads.moment_world.shape[0]
    segs = model.segments
    ns = len(segs)
    a = _stack([_gather(x, loads.spine) for x in model.arrays])
    if not a.con_k[:, 10:].any():  # no cage in the batch: drop its contact columns
        a = replace(
            a,
            con_p=a.con_p[:, :10],
            con_c=a.con_c[:, :10],
            con_n=a.con_n[:, :10],
            con_k=a.con_k[:, :10],
            con_w=a.con_w[:, :10],
        )
    stacked = Loads(
        moment_world=np.tile(loads.moment_world, (ns, 1)),
        follower_n=np.tile(loads.follower_n, ns),
        spine=np.tile(loads.spine, ns),
    )
    r0 = a.frame[:, :3, :3].reshape(ns, n, 3, 3)
    rot = np.repeat(np.eye(3)[None], ns * n, 0)
    t = np.zeros((ns * n, 3))
    rot_hist = np.zeros((len(steps), n, ns, 3))
    rest_t = np.zeros((n, ns, 3))
    total_iter = 0
    out: dict[str, Arr] = {}
    prev: tuple[Arr, Arr] | None = None  # converged state of the step before the last
    for j, lam in enumerate(steps):
        last = (rot, t)
        if prev is not None:
            # predictor: extrapolate the last load step's change to this one
            s = (lam - steps[j - 1]) / (steps[j - 1] - steps[j - 2])
            d_rot = log_so3(rot @ np.swapaxes(prev[0], 1, 2))
            rot, t = exp_so3(s * d_rot) @ rot, t + s * (t - prev[1])
        for _ in range(MAX_ITER):
            # frames of the segments in the world, from the fixed sacrum upward
            rs = rot.reshape(ns, n, 3, 3)
            rd = np.empty_like(r0)
            rg = np.repeat(np.eye(3)[None], n, 0)
            for k in range(ns - 1, -1, -1):
                rd[k] = rg @ r0[k]
                rg = rd[k] @ rs[k] @ np.swapaxes(r0[k], 1, 2)
            w, jac, out = segment_wrench(a, rot, t)
            res = w + _external(a, rd.reshape(-1, 3, 3), rot, stacked, float(lam))
            ok = (np.abs(res[:, :3]).max(1) < MOMENT_TOL_NMM) & (
                np.abs(res[:, 3:]).max(1) < FORCE_TOL_N
            )
            if ok.all():
                break
            total_iter += 1
            dx = np.linalg.solve(jac, -res[..., None])[..., 0]
            dth, dt = np.asarray(dx[:, :3], dtype=float), dx[:, 3:]
            sr = np.minimum(1.0, MAX_ROT_STEP / np.maximum(np.linalg.norm(dth, axis=1), 1e-30))
            st = np.minimum(1.0, MAX_DISP_STEP / np.maximum(np.linalg.norm(dt, axis=1), 1e-30))
            sc = np.minimum(sr, st)
            rot = exp_so3(dth * sc[:, None]) @ rot
            t = t + dt * sc[:, None]
        else:
            bad = int(np.flatnonzero(~ok)[0])
            seg, case = divmod(bad, n)
            raise ConvergenceError(
                f"mechanics: segment {segs[seg]} did not converge for case {case} "
                f"(spine {int(loads.spine[case])}) at load step {j + 1}/{len(steps)} "
                f"(fraction {lam:.3f}); residual {np.abs(res[bad]).max():.3g}. "
                "Check the geometry of that spine or lower the load"
            )
        if j >= 1:
            prev = last
        rot_hist[j] = np.swapaxes(log_so3(rot).reshape(ns, n, 3), 0, 1)
        if j == 0:
            rest_t = np.swapaxes(t.reshape(ns, n, 3), 0, 1).copy()

    def per_case(x: Arr) -> Arr:
        return np.swapaxes(x.reshape(ns, n, *x.shape[1:]), 0, 1)

    return Solution(
        steps=np.asarray(steps),
        rotation=rot_hist,
        translation=per_case(t),
        rest_translation=rest_t,
        disc_force_n=per_case(out["disc_force"]),
        facet_force_n=per_case(np.stack([out["facet_left"], out["facet_right"]], 1)),
        cage_force_n=per_case(out["cage"]),
        bushing_wrench=per_case(out["bushing"]),
        iterations=total_iter,
    )


def value_list(*path: str) -> list[float]:
    """A list-valued constant of the data file."""
    node = parameters()
    for key in path:
        node = node[key]
    return [float(x) for x in node["value"]]


__all__ = ["Loads", "Solution", "segment_wrench", "solve"]
