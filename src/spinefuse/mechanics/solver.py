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

from dataclasses import dataclass, fields
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
from spinefuse.mechanics.parameters import parameters, value
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
    return np.asarray(np.cross(a, b))


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
    r_l = np.einsum("nij,nlj->nli", rot, a.lig_a)
    d = r_l + t[:, None, :] - a.lig_b
    length = np.linalg.norm(d, axis=-1)
    e = d / length[..., None]
    f_l, df_l = blankevoort(length / a.lig_l0 - 1.0, a.lig_k, a.lig_et)
    force_l = -f_l[..., None] * e
    r_c = np.einsum("nij,nlj->nli", rot, a.con_p)
    gap = np.einsum("nlj,nlj->nl", r_c + t[:, None, :] - a.con_c, a.con_n)
    v_c, dv_c = smooth_ramp(-gap, a.con_w)
    f_c = a.con_k * v_c
    force_c = f_c[..., None] * a.con_n
    r = np.concatenate([r_l, r_c], axis=1)
    force = np.concatenate([force_l, force_c], axis=1)
    w[:, :3] += _cross(r, force).sum(axis=1)
    w[:, 3:] += force.sum(axis=1)
    if jacobian:
        eet = e[..., :, None] * e[..., None, :]
        kl = -(df_l / a.lig_l0)[..., None, None] * eet - (f_l / length)[..., None, None] * (
            eye - eet
        )
        kc = -(a.con_k * dv_c)[..., None, None] * (a.con_n[..., :, None] * a.con_n[..., None, :])
        kp = np.concatenate([kl, kc], axis=1)
        rx = skew(r)
        fx = skew(force)
        jac[:, 3:, 3:] += kp.sum(axis=1)
        jac[:, :3, 3:] += np.einsum("nlij,nljk->nik", rx, kp)
        jac[:, 3:, :3] -= np.einsum("nlij,nljk->nik", kp, rx)
        jac[:, :3, :3] -= np.einsum("nlij,nljk,nlkm->nim", rx, kp, rx)
        jac[:, :3, :3] += np.einsum("nlij,nljk->nik", fx, rx)
    # --- bushings: rods on screws, fusion masses (linear, 6x6 at a point) ---------------------
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
    out = {
        "disc_force": fc,
        "facet_left": f_c[:, :5].sum(1),
        "facet_right": f_c[:, 5:10].sum(1),
        "cage": f_c[:, 10:].sum(1),
        "bushing": wp,
    }
    return w, jac, out


def _external(a: SegmentArrays, rot_frame: Arr, rot: Arr, loads: Loads, lam: float) -> Arr:
    """Transmitted external wrench on the upper vertebra in the disc frame (N, 6)."""
    m = lam * np.einsum("nji,nj->ni", rot_frame, loads.moment_world)
    z = np.zeros_like(m)
    z[:, 2] = 1.0
    axis = z + rot[:, :, 2]
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    f = -(lam * loads.follower_n)[:, None] * axis
    return np.concatenate([m, f], axis=1)


def solve(model: SpineModel, loads: Loads, steps: Arr | None = None) -> Solution:
    """Equilibrium of every case at every load step (fractions of the loads).

    Raises :class:`ConvergenceError` naming the spine, the case, the segment and the step that
    did not converge."""
    if steps is None:
        steps = np.asarray(value_list("loads", "load_steps"), dtype=float)
    # the unloaded rest posture first: motion is measured from it, as in vitro
    steps = np.concatenate([[0.0], np.asarray(steps, dtype=float)[np.asarray(steps) > 0]])
    n = loads.moment_world.shape[0]
    segs = model.segments
    arrays = [_gather(a, loads.spine) for a in model.arrays]
    ns = len(segs)
    state_r = np.repeat(np.eye(3)[None, None], n, 0).repeat(ns, 1)
    state_t = np.zeros((n, ns, 3))
    rot_hist = np.zeros((len(steps), n, ns, 3))
    rest_t = np.zeros((n, ns, 3))
    outs: list[dict[str, Arr]] = [{} for _ in segs]
    total_iter = 0
    for j, lam in enumerate(steps):
        # lower body motion (world): x -> rg x + pg; S1 fixed
        rg = np.repeat(np.eye(3)[None], n, 0)
        pg = np.zeros((n, 3))
        for s in range(ns - 1, -1, -1):
            a = arrays[s]
            r0, o0 = a.frame[:, :3, :3], a.frame[:, :3, 3]
            rd = rg @ r0
            od = np.einsum("nij,nj->ni", rg, o0) + pg
            rot, t = state_r[:, s], state_t[:, s]
            for _ in range(MAX_ITER):
                w, jac, out = segment_wrench(a, rot, t)
                res = w + _external(a, rd, rot, loads, float(lam))
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
                sc = np.where(ok, 0.0, np.minimum(sr, st))
                rot = exp_so3(dth * sc[:, None]) @ rot
                t = t + dt * sc[:, None]
            else:
                bad = int(np.flatnonzero(~ok)[0])
                raise ConvergenceError(
                    f"mechanics: segment {segs[s]} did not converge for case {bad} "
                    f"(spine {int(loads.spine[bad])}) at load step {j + 1}/{len(steps)} "
                    f"(fraction {lam:.3f}); residual {np.abs(res[bad]).max():.3g}. "
                    "Check the geometry of that spine or lower the load"
                )
            state_r[:, s], state_t[:, s] = rot, t
            outs[s] = out
            # the upper vertebra's motion becomes the next segment's lower body motion
            r_up = rd @ rot @ np.swapaxes(r0, 1, 2)
            pg = np.einsum("nij,nj->ni", rd, t) + od - np.einsum("nij,nj->ni", r_up, o0)
            rg = r_up
        rot_hist[j] = log_so3(state_r)
        if j == 0:
            rest_t = state_t.copy()
    return Solution(
        steps=np.asarray(steps),
        rotation=rot_hist,
        translation=state_t,
        rest_translation=rest_t,
        disc_force_n=np.stack([o["disc_force"] for o in outs], 1),
        facet_force_n=np.stack([np.stack([o["facet_left"], o["facet_right"]], 1) for o in outs], 1),
        cage_force_n=np.stack([o["cage"] for o in outs], 1),
        bushing_wrench=np.stack([o["bushing"] for o in outs], 1),
        iterations=total_iter,
    )


def value_list(*path: str) -> list[float]:
    """A list-valued constant of the data file."""
    node = parameters()
    for key in path:
        node = node[key]
    return [float(x) for x in node["value"]]


__all__ = ["Loads", "Solution", "segment_wrench", "solve", "value"]
