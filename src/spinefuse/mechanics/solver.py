"""Batched quasi-static Newton solver of the spine model.

Every element joins the two vertebrae of one motion segment, so the chain is solved from the
fixed lowest vertebra upward: at each load step, each segment's 6 equilibrium equations
(moments about the moving disc centre and forces on the upper vertebra, in the disc frame) are
solved by Newton with an analytic Jacobian for all N cases (spines × load cases) at once, with
the lower vertebra placed where the segments below put it. The unknowns of a segment are the
upper vertebra's rotation R and disc-centre displacement t in the disc frame; an increment
(δθ, δt) rotates it by exp(δθ) about the current disc centre and then translates it.

Load path, as in vitro: the unloaded rest posture first (with the implants' pre-stress, e.g. a
cage's distraction), then the follower preload ramped alone to its full value (the preloaded
posture), then the moments ramped with the preload held.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from spinefuse.errors import ConvergenceError
from spinefuse.mechanics.elements import (
    blankevoort,
    disc_axial_law,
    disc_moment_law,
    friction,
    preload_factor,
    smooth_ramp,
)
from spinefuse.mechanics.model import (
    CAGES,
    FACETS,
    LOCKED_AT_REST,
    SPACER,
    SegmentArrays,
    SpineModel,
)
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
    vertebra, and a follower compression (N) along a path through guide points on every
    vertebra, ``follower_offset`` (N, S, 2) mm from each disc centre in its frame (x, y; the
    optimised path through each segment's centre of rotation, :mod:`~.follower`)."""

    moment_world: Arr  # (N, 3)
    follower_n: Arr  # (N,)
    spine: NDArray[np.int64]  # (N,) index of the spine in the model batch
    follower_offset: Arr | None = None  # (N, S, 2)


@dataclass(frozen=True)
class Solution:
    """Converged state of N cases (segments ordered as in the model, head to pelvis).

    ``rotation`` is the upper vertebra's rotation vector in the disc frame (rad) per recorded
    step: the rest posture first, then the preload steps, then the moment steps; ``steps`` the
    moment fraction and ``preload_steps`` the follower fraction of each; ``preload_index`` the
    recorded step of the preloaded posture (0 without preload). The other fields are at the
    final step unless named ``rest_``/``preload_``."""

    steps: Arr  # (J,) moment fractions
    preload_steps: Arr  # (J,) follower fractions
    preload_index: int
    rotation: Arr  # (J, N, S, 3)
    translation: Arr  # (N, S, 3) mm
    rest_translation: Arr  # (N, S, 3) mm, in the unloaded rest posture
    preload_translation: Arr  # (N, S, 3) mm, in the preloaded posture
    disc_force_n: Arr  # (N, S) compressive disc force
    facet_force_n: Arr  # (N, S, 2) left, right
    cage_force_n: Arr  # (N, S)
    spacer_force_n: Arr  # (N, S)
    bushing_wrench: Arr  # (N, S, K, 6) on the upper vertebra: moment N·mm, force N (disc axes)
    preload_disc_force_n: Arr  # (N, S) in the preloaded posture
    preload_facet_force_n: Arr  # (N, S, 2)
    preload_cage_force_n: Arr  # (N, S)
    preload_bushing_wrench: Arr  # (N, S, K, 6)
    rest_cage_force_n: Arr  # (N, S) at rest: a cage's distraction pre-load
    state_rotation: Arr  # (N, S, 3, 3) final rotation matrices
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


def _norm(x: Arr) -> Arr:
    """Euclidean norm along the last axis."""
    return np.asarray(np.sqrt((x * x).sum(-1)))


def _cross_into(out: Arr, a: Arr, b: Arr) -> None:
    """``out[...] = a × b`` along the last axis, written into ``out`` (a view may be given)."""
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    np.subtract(a1 * b2, a2 * b1, out=out[..., 0])
    np.subtract(a2 * b0, a0 * b2, out=out[..., 1])
    np.subtract(a0 * b1, a1 * b0, out=out[..., 2])


def _add_lever(jac: Arr, m: Arr) -> None:
    """Add Σ [f]×[r]× = Σ (r·fᵀ − (f·r)·I) to the rotation block, given ``m`` = Σ r·fᵀ (N, 3, 3)
    (changed in place)."""
    tr = m[:, 0, 0] + m[:, 1, 1] + m[:, 2, 2]
    m.reshape(-1, 9)[:, ::4] -= tr[:, None]
    jac[:, :3, :3] += m


def _rotate(rot: Arr, p: Arr) -> Arr:
    """Rotate points p (M, P, 3) by rot (M, 3, 3)."""
    return np.asarray(p @ np.swapaxes(rot, 1, 2))


@dataclass(frozen=True)
class _Columns:
    """Which contact columns and bushings the batch uses (the rest are dropped)."""

    contacts: NDArray[np.int64]
    cage: NDArray[np.bool_]  # over the kept contact columns
    spacer: NDArray[np.bool_]
    facet_left: NDArray[np.bool_]
    facet_right: NDArray[np.bool_]
    friction: bool
    bushings: NDArray[np.int64]


def _columns(a: SegmentArrays) -> _Columns:
    cols = np.arange(a.con_k.shape[1])
    used = np.asarray(a.con_k.any(axis=0))
    used[FACETS] = True
    keep = cols[used]
    bsh = np.flatnonzero(
        np.abs(a.bsh_k).reshape(a.bsh_k.shape[0], a.bsh_k.shape[1], -1).any((0, 2))
    )
    return _Columns(
        contacts=keep,
        cage=(keep >= CAGES.start) & (keep < CAGES.stop),
        spacer=(keep >= SPACER.start) & (keep < SPACER.stop),
        facet_left=keep < 5,
        facet_right=(keep >= 5) & (keep < 10),
        friction=bool(a.con_mu.any()),
        bushings=bsh,
    )


def _select(a: SegmentArrays, cols: _Columns) -> SegmentArrays:
    c = cols.contacts
    b = cols.bushings
    return replace(
        a,
        con_p=a.con_p[:, c],
        con_c=a.con_c[:, c],
        con_n=a.con_n[:, c],
        con_k=a.con_k[:, c],
        con_w=a.con_w[:, c],
        con_mu=a.con_mu[:, c],
        con_kt=a.con_kt[:, c],
        bsh_p=a.bsh_p[:, b],
        bsh_k=a.bsh_k[:, b],
        bsh_q0=a.bsh_q0[:, b],
    )


@dataclass(frozen=True)
class _Fixed:
    """What a solve's Newton iterations share: per-row constants of its segment arrays and the
    disc constants of the data file (read once per solve, not per iteration)."""

    points: Arr  # (N, L+C+K, 3) ligament insertions, contact points, bushing points (upper)
    n_lig: int
    n_con: int
    cage_cols: NDArray[np.int64]  # kept contact columns that are cage points
    force_masks: Arr  # (C, 4) sums contact forces into cage, left facet, right facet, spacer
    con_cn: Arr  # (N, C) plane point · normal
    lig_inv_l0: Arr  # (N, L)
    k0_ax: Arr  # (N,) disc axial stiffness
    k2_ax: Arr  # (N,)
    kt_ax: Arr  # (N,) disc axial stiffness in tension
    toe_ax: float  # mm over which it falls to that from k0
    k_sh: Arr  # (N,) disc shear stiffness before preload stiffening
    bsh_kr: Arr  # (N, K, 6, 3) the bushings' stiffness columns of rotation
    bsh_kd: Arr  # (N, K, 6, 3) and of displacement
    preload: tuple[float, float, float]  # a, f0, b of the preload stiffening
    neutral_ratio: float
    width_ratio: float


def _fixed(a: SegmentArrays, cols: _Columns) -> _Fixed:
    p = parameters()
    disc = p["disc"]
    ps = disc["preload_stiffening"]
    masks = np.column_stack([cols.cage, cols.facet_left, cols.facet_right, cols.spacer])
    return _Fixed(
        points=np.concatenate([a.lig_a, a.con_p, a.bsh_p], axis=1),
        n_lig=a.lig_a.shape[1],
        n_con=a.con_p.shape[1],
        cage_cols=np.flatnonzero(cols.cage),
        force_masks=masks.astype(float),
        con_cn=(a.con_c * a.con_n).sum(-1),
        lig_inv_l0=1.0 / a.lig_l0,
        k0_ax=float(disc["axial_stiffness_n_per_mm"]["value"]) * a.disc_axial_scale,
        k2_ax=float(disc["axial_stiffening_n_per_mm2"]["value"]) * a.disc_axial_scale,
        kt_ax=a.disc_k_tension,
        toe_ax=value("disc", "tension_toe_mm", above=0.0),
        k_sh=float(disc["shear_stiffness_n_per_mm"]["value"]) * a.disc_axial_scale,
        bsh_kr=np.ascontiguousarray(a.bsh_k[..., :3]),
        bsh_kd=np.ascontiguousarray(a.bsh_k[..., 3:]),
        preload=(float(ps["a"]), float(ps["f0_n"]), float(ps["b"])),
        neutral_ratio=float(p["calibrated_neutral_stiffness_ratio"]["value"]),
        width_ratio=float(disc["transition_width_ratio"]["value"]),
    )


_DIAG_T = np.array([21, 28, 35])  # the translational diagonal of a flattened 6x6


def segment_wrench(
    a: SegmentArrays,
    rot: Arr,
    t: Arr,
    jacobian: bool = True,
    cols: _Columns | None = None,
    fixed: _Fixed | None = None,
) -> tuple[Arr, Arr, dict[str, Arr]]:
    """Internal wrench on the upper vertebra (N, 6) = (moment about the disc centre, force),
    its Jacobian (N, 6, 6) w.r.t. (δθ, δt) (zeros without ``jacobian``), and element outputs.
    ``a`` may be a full segment (columns selected here) or one already reduced by
    :func:`_select` with its ``cols``; ``fixed`` the solve's constants of ``a``
    (:func:`_fixed`)."""
    if cols is None:
        cols = _columns(a)
        a = _select(a, cols)
    if fixed is None:
        fixed = _fixed(a, cols)
    w, out, tangent = _wrench(a, rot, t, cols, fixed)
    return w, tangent() if jacobian else np.zeros((rot.shape[0], 6, 6)), out


def _wrench(
    a: SegmentArrays, rot: Arr, t: Arr, cols: _Columns, fixed: _Fixed
) -> tuple[Arr, dict[str, Arr], Callable[[], Arr]]:
    """:func:`segment_wrench`'s wrench and outputs, with its Jacobian as a function to call
    only where it is needed (not where the iterate has converged)."""
    n = rot.shape[0]
    nl, nc = fixed.n_lig, fixed.n_con
    w = a.prestress.copy()
    theta = log_so3(rot)
    r_all = fixed.points @ np.swapaxes(rot, 1, 2)
    r_l, r_c, r_b = r_all[:, :nl], r_all[:, nl : nl + nc], r_all[:, nl + nc :]
    r_lc = r_all[:, : nl + nc]
    # --- contacts (normal part): facets, cages, spacer -------------------------------------
    gap = ((r_c + t[:, None, :]) * a.con_n).sum(-1) - fixed.con_cn
    v_c, dv_c = smooth_ramp(-gap, a.con_w)
    f_c = a.con_k * v_c  # normal force, along +n on the upper body
    sums = f_c @ fixed.force_masks  # cage, facet left, facet right, spacer
    cage_n = sums[:, 0]
    # --- point elements: ligaments (lines) and contact normals ------------------------------
    # Each has a force f = φ·e at a point r (from the disc centre) on the upper vertebra and a
    # point stiffness df/dr = -(β·I + c·e·eᵀ). With G = (r×e, e) per point, the wrench is
    # Σ φ·G and the tangent -Σ c·G·Gᵀ plus the geometric terms of β and of the forces.
    d = r_l + t[:, None, :] - a.lig_b
    length = np.sqrt((d * d).sum(-1))
    f_l, df_l = blankevoort(length * fixed.lig_inv_l0 - 1.0, a.lig_k, a.lig_et)
    g6 = np.empty((n, nl + nc, 6))  # G of every point
    e = g6[..., 3:]
    e[:, :nl] = d / length[..., None]
    e[:, nl:] = a.con_n
    _cross_into(g6[..., :3], r_lc, e)
    fmag = np.concatenate([-f_l, f_c], axis=1)  # force along e
    w += (fmag[:, None, :] @ g6)[:, 0]
    fr = fixed.cage_cols
    kdv = -(a.con_k[:, fr] * dv_c[:, fr])  # dN/dX = -k·v'·(r×n, n) of the cage points
    # --- disc ------------------------------------------------------------------------------
    # compression law stiffening with load; the same preload factor stiffens the disc's
    # neutral-zone bending and its shear (Gardner-Morse & Stokes 2004: all diagonal terms)
    f_ax, df_ax = disc_axial_law(-t[:, 2], fixed.k0_ax, fixed.k2_ax, fixed.kt_ax, fixed.toe_ax)
    fc, dfc = smooth_ramp(f_ax, 1.0)
    s, ds = preload_factor(fc + cage_n, *fixed.preload)
    m, dm, dm_ds = disc_moment_law(
        theta, a.disc_k_lin, a.disc_theta_t, fixed.neutral_ratio, fixed.width_ratio, s
    )
    k_sh = fixed.k_sh * s
    rs = a.disc_rot_scale
    w[:, :3] -= rs[:, None] * m
    w[:, 3:5] -= k_sh[:, None] * t[:, :2]
    w[:, 5] += f_ax
    # --- friction across the cage's footprint (tangent to its plane, z in the disc frame) ---
    if cols.friction:
        rf = r_c[:, fr]
        slip = rf[..., :2] + t[:, None, :2] - a.con_p[:, fr, :2]
        ft, dft_du, dft_dn = friction(
            slip, f_c[:, fr, None], a.con_mu[:, fr, None], a.con_kt[:, fr, None]
        )  # con_kt holds the pre-sliding slip distance of friction contacts; ft (N, C, 2)
        rft = np.swapaxes(rf, 1, 2)  # (N, 3, C)
        mf = rft @ ft  # Σ r·fᵀ (N, 3, 2)
        w[:, 0] -= mf[:, 2, 1]
        w[:, 1] += mf[:, 2, 0]
        w[:, 2] += mf[:, 0, 1] - mf[:, 1, 0]
        w[:, 3:5] += ft.sum(1)
    # --- bushings: rods on screws, fusion masses, fixation, joints (linear 6x6) -----------
    nk = a.bsh_k.shape[1]
    wp = np.zeros((n, nk, 6))
    if nk:
        q = np.empty((n, nk, 6))
        q[..., :3] = theta[:, None, :]
        q[..., 3:] = r_b + t[:, None, :] - a.bsh_p
        q -= a.bsh_q0
        wp = -(a.bsh_k @ q[..., None])[..., 0]
        rbt = np.swapaxes(r_b, 1, 2)  # (N, 3, K)
        mb = rbt @ wp[..., 3:]  # Σ r·fᵀ
        w += wp.sum(1)
        w[:, 0] += mb[:, 1, 2] - mb[:, 2, 1]
        w[:, 1] += mb[:, 2, 0] - mb[:, 0, 2]
        w[:, 2] += mb[:, 0, 1] - mb[:, 1, 0]

    def tangent() -> Arr:
        jac = np.zeros((n, 6, 6))
        jinv = left_jacobian_inv(theta)
        # disc
        jac[:, :3, :3] -= (rs[:, None] * dm)[:, :, None] * jinv
        dpre = (kdv[:, None, :] @ g6[:, nl + fr])[:, 0]  # d(cage force)/dX
        dpre[:, 5] -= dfc * df_ax
        jac[:, :3, :] -= ((rs * ds)[:, None] * dm_ds)[:, :, None] * dpre[:, None, :]
        jac[:, 3:5, :] -= ((fixed.k_sh * ds)[:, None] * t[:, :2])[:, :, None] * dpre[:, None, :]
        # point elements
        c = np.concatenate([df_l * fixed.lig_inv_l0 - f_l / length, a.con_k * dv_c], axis=1)
        jac -= np.swapaxes(g6 * c[..., None], 1, 2) @ g6
        beta = f_l / length
        sbr = skew((beta[:, None, :] @ r_l)[:, 0])
        jac[:, :3, 3:] -= sbr
        jac[:, 3:, :3] += sbr
        jac.reshape(n, 36)[:, _DIAG_T] -= (beta.sum(1) + k_sh)[:, None]
        jac[:, 5, 5] += k_sh - df_ax
        # Σ r (β r + f)ᵀ - tr(·) I: the ligaments' β-terms and every point force's lever
        y = fmag[..., None] * e
        y[:, :nl] += beta[..., None] * r_l
        _add_lever(jac, np.swapaxes(r_lc, 1, 2) @ y)
        if cols.friction:
            # d(ft)/dX (N, C, 2, 6): through the contact force and through the slip
            dn_dx = g6[:, nl + fr] * kdv[..., None]
            dft = dft_dn[..., None] * dn_dx[:, :, None, :]
            dft[..., 0, 1] += dft_du[..., 0] * rf[..., 2]
            dft[..., 0, 2] -= dft_du[..., 0] * rf[..., 1]
            dft[..., 0, 3] += dft_du[..., 0]
            dft[..., 1, 0] -= dft_du[..., 1] * rf[..., 2]
            dft[..., 1, 2] += dft_du[..., 1] * rf[..., 0]
            dft[..., 1, 4] += dft_du[..., 1]
            rd = (rft @ dft.reshape(n, -1, 12)).reshape(n, 3, 2, 6)  # Σ r_i·dft_j
            jac[:, 3:5, :] += dft.sum(1)
            jac[:, 0, :] -= rd[:, 2, 1]
            jac[:, 1, :] += rd[:, 2, 0]
            jac[:, 2, :] += rd[:, 0, 1] - rd[:, 1, 0]
            lever = np.zeros((n, 3, 3))
            lever[..., :2] = mf
            _add_lever(jac, lever)
        if nk:
            # d(bushing wrench)/dX = -K·[[J⁻¹, 0], [-[r]×, I]] per bushing
            dwp = np.empty((n, nk, 6, 6))
            dwp[..., :3] = fixed.bsh_kd @ skew(r_b) - fixed.bsh_kr @ jinv[:, None]
            dwp[..., 3:] = -fixed.bsh_kd
            jac += dwp.sum(1)
            rd = (rbt @ dwp[:, :, 3:, :].reshape(n, nk, 18)).reshape(n, 3, 3, 6)
            jac[:, 0, :] += rd[:, 1, 2] - rd[:, 2, 1]
            jac[:, 1, :] += rd[:, 2, 0] - rd[:, 0, 2]
            jac[:, 2, :] += rd[:, 0, 1] - rd[:, 1, 0]
            _add_lever(jac, mb.copy())
        return jac

    out = {
        "disc_force": fc,
        "facet_left": sums[:, 1],
        "facet_right": sums[:, 2],
        "cage": cage_n,
        "spacer": sums[:, 3],
        "bushing": wp,
    }
    return w, out, tangent


def follower_wrench(
    a: SegmentArrays, rot: Arr, t: Arr, force_n: Arr, offset: Arr, jacobian: bool = True
) -> tuple[Arr, Arr]:
    """The follower load's wrench on the upper vertebra (N, 6) and its Jacobian: a compression
    of ``force_n`` (N,) along the line from the guide point on the upper vertebra, A = (x, y,
    +h/2) of the disc frame moved with it, to the guide on the lower one, B = (x, y, −h/2);
    ``offset`` (N, 2) = (x, y), mm."""
    n = rot.shape[0]
    h = a.disc_height
    pa = np.column_stack([offset, 0.5 * h])
    pb = np.column_stack([offset, -0.5 * h])
    ra = (rot @ pa[:, :, None])[..., 0]
    d = ra + t - pb
    length = np.sqrt((d * d).sum(1))
    e = d / length[:, None]
    f = -force_n[:, None] * e
    out = np.concatenate([_cross(ra, f), f], axis=1)
    jac = np.zeros((n, 6, 6))
    if jacobian:
        proj = (np.eye(3) - e[:, :, None] * e[:, None, :]) / length[:, None, None]
        sk = skew(ra)
        da = np.concatenate([-sk, np.repeat(np.eye(3)[None], n, 0)], axis=2)  # dA'/dX (3x6)
        df = -force_n[:, None, None] * (proj @ da)
        jac[:, 3:, :] = df
        jac[:, :3, :] = sk @ df
        jac[:, :3, :3] += skew(f) @ sk
    return out, jac


def _rest_state(a: SegmentArrays, cols: _Columns) -> tuple[Arr, Arr]:
    """The unloaded equilibrium (rotation matrices, displacements) of every row."""
    n = a.frame.shape[0]
    rot = np.repeat(np.eye(3)[None], n, 0)
    t = np.zeros((n, 3))
    fixed = _fixed(a, cols)
    for _ in range(MAX_ITER):
        w, _, tangent = _wrench(a, rot, t, cols, fixed)
        ok = (np.abs(w[:, :3]).max(1) < MOMENT_TOL_NMM) & (np.abs(w[:, 3:]).max(1) < FORCE_TOL_N)
        if ok.all():
            return rot, t
        jac = tangent()
        dx = np.asarray(np.linalg.solve(jac, -w[..., None])[..., 0], dtype=np.float64)
        sr = np.minimum(1.0, MAX_ROT_STEP / np.maximum(_norm(dx[:, :3]), 1e-30))
        st = np.minimum(1.0, MAX_DISP_STEP / np.maximum(_norm(dx[:, 3:]), 1e-30))
        sc = np.minimum(sr, st)[:, None]
        rot = exp_so3(dx[:, :3] * sc) @ rot
        t = t + dx[:, 3:] * sc
    bad = int(np.flatnonzero(~ok)[0])
    raise ConvergenceError(
        f"mechanics: the operated rest posture did not converge (row {bad}); residual "
        f"{np.abs(w[bad]).max():.3g}. Check the construct's cage height and resections"
    )


def _lock_at_rest(a: SegmentArrays, cols: _Columns) -> SegmentArrays:
    """Rods, integrated screws and fusion masses carry no load in the posture the rest of the
    construct holds at rest (a cage's distraction, a resection's settling): solve that posture
    without them and record it as their unloaded state."""
    locked = np.isin(cols.bushings, LOCKED_AT_REST)
    if not locked.any():
        return a
    free = replace(a, bsh_k=np.where(locked[None, :, None, None], 0.0, a.bsh_k))
    rot, t = _rest_state(free, cols)
    theta = log_so3(rot)
    r_b = _rotate(rot, a.bsh_p)
    q0 = np.concatenate(
        [np.repeat(theta[:, None, :], r_b.shape[1], 1), r_b + t[:, None, :] - a.bsh_p], axis=-1
    )
    return replace(a, bsh_q0=np.where(locked[None, :, None], q0, a.bsh_q0))


def _stack(arrays: list[SegmentArrays]) -> SegmentArrays:
    vals: dict[str, Any] = {}
    for f in fields(arrays[0]):
        v = getattr(arrays[0], f.name)
        if isinstance(v, np.ndarray):
            vals[f.name] = np.concatenate([getattr(a, f.name) for a in arrays], axis=0)
        else:
            vals[f.name] = v
    return SegmentArrays(**vals)


def prepared_arrays(model: SpineModel, spine: NDArray[np.int64]) -> tuple[SegmentArrays, _Columns]:
    """All segments of the model's spines ``spine`` (one per case) stacked segment-major (row =
    s·N + case), with the unused columns dropped and the implants locked at rest. The
    preparation depends on the spines only, so it is done once per spine and model (and kept
    with the model) and then repeated for the cases."""
    uniq, inv = np.unique(np.asarray(spine, dtype=np.int64), return_inverse=True)
    key = uniq.tobytes()
    hit = model.prepared.get(key)
    if hit is None:
        b = _stack([_gather(x, uniq) for x in model.arrays])
        cols = _columns(b)
        b = _lock_at_rest(_select(b, cols), cols)
        hit = model.prepared[key] = (b, cols)
    b, cols = hit
    rows = (np.arange(len(model.arrays))[:, None] * len(uniq) + inv.reshape(-1)[None, :]).ravel()
    return _gather(b, rows), cols


def solve(
    model: SpineModel,
    loads: Loads,
    steps: Arr | None = None,
    preload_steps: Arr | None = None,
) -> Solution:
    """Equilibrium of every case: the rest posture, the follower preload ramped alone over
    ``preload_steps`` (fractions, default two steps; none without a follower load), then the
    moments ramped over ``steps`` (fractions of the moment) with the preload held.

    All segments of all cases are solved together (rows segment-major: row = s·N + case); a
    segment sees the moments turned into its frame by the segments below it at the previous
    iterate, a lag that vanishes at convergence. Raises :class:`ConvergenceError` naming the
    spine, the case, the segment and the step that did not converge."""
    if steps is None:
        steps = np.asarray(value_list("loads", "load_steps"), dtype=float)
    n = loads.moment_world.shape[0]
    segs = model.segments
    ns = len(segs)
    has_follower = bool(np.any(loads.follower_n > 0))
    if preload_steps is None:
        preload_steps = np.asarray(value_list("loads", "preload_steps"), dtype=float)
    pre = (
        np.asarray(preload_steps, dtype=float)[np.asarray(preload_steps) > 0]
        if has_follower
        else np.zeros(0)
    )
    mom = np.asarray(steps, dtype=float)[np.asarray(steps) > 0]
    if not np.any(loads.moment_world):
        mom = np.zeros(0)
    f_path = np.concatenate([[0.0], pre, np.full(len(mom), 1.0 if has_follower else 0.0)])
    m_path = np.concatenate([[0.0], np.zeros(len(pre)), mom])
    preload_index = len(pre)
    a, cols = prepared_arrays(model, loads.spine)
    fixed = _fixed(a, cols)
    moment_world = np.tile(loads.moment_world, (ns, 1))
    follower = np.tile(loads.follower_n, ns)
    if loads.follower_offset is None:
        offset = np.zeros((ns * n, 2))
    else:
        offset = np.swapaxes(loads.follower_offset, 0, 1).reshape(ns * n, 2)
    r0 = a.frame[:, :3, :3].reshape(ns, n, 3, 3)
    r0t = np.ascontiguousarray(np.swapaxes(r0, 2, 3))
    rot = np.repeat(np.eye(3)[None], ns * n, 0)
    t = np.zeros((ns * n, 3))
    rot_hist = np.zeros((len(f_path), n, ns, 3))
    total_iter = 0
    out: dict[str, Arr] = {}
    saved: dict[str, Any] = {}
    prev: tuple[Arr, Arr] | None = None  # converged state of the step before the last
    for j in range(len(f_path)):
        lam_f, lam_m = f_path[j], m_path[j]
        last = (rot, t)
        same_phase = j >= 2 and (j - 1 != preload_index or preload_index == 0)
        if prev is not None and same_phase:
            # predictor: extrapolate the last load step's change to this one
            d_now = max(abs(lam_f - f_path[j - 1]), abs(lam_m - m_path[j - 1]))
            d_before = max(abs(f_path[j - 1] - f_path[j - 2]), abs(m_path[j - 1] - m_path[j - 2]))
            sc_pred = d_now / d_before if d_before > 0 else 0.0
            d_rot = log_so3(rot @ np.swapaxes(prev[0], 1, 2))
            rot, t = exp_so3(sc_pred * d_rot) @ rot, t + sc_pred * (t - prev[1])
        f_now = lam_f * follower
        for _ in range(MAX_ITER):
            w, out, tangent = _wrench(a, rot, t, cols, fixed)
            if lam_m > 0:
                rs = rot.reshape(ns, n, 3, 3)
                rd = np.empty_like(r0)
                rd[ns - 1] = r0[ns - 1]
                for k in range(ns - 2, -1, -1):
                    rd[k] = rd[k + 1] @ rs[k + 1] @ r0t[k + 1] @ r0[k]
                w[:, :3] += lam_m * (moment_world[:, None, :] @ rd.reshape(-1, 3, 3))[:, 0]
            jf = None
            if lam_f > 0:
                wf, jf = follower_wrench(a, rot, t, f_now, offset)
                w = w + wf
            ok = (np.abs(w[:, :3]).max(1) < MOMENT_TOL_NMM) & (
                np.abs(w[:, 3:]).max(1) < FORCE_TOL_N
            )
            if ok.all():
                break
            total_iter += 1
            jac = tangent() if jf is None else tangent() + jf
            dx = np.asarray(np.linalg.solve(jac, -w[..., None])[..., 0], dtype=np.float64)
            dth, dt = dx[:, :3], dx[:, 3:]
            sr = np.minimum(1.0, MAX_ROT_STEP / np.maximum(_norm(dth), 1e-30))
            st = np.minimum(1.0, MAX_DISP_STEP / np.maximum(_norm(dt), 1e-30))
            sc = np.minimum(sr, st)
            rot = exp_so3(dth * sc[:, None]) @ rot
            t = t + dt * sc[:, None]
        else:
            bad = int(np.flatnonzero(~ok)[0])
            seg, case = divmod(bad, n)
            raise ConvergenceError(
                f"mechanics: segment {segs[seg]} did not converge for case {case} "
                f"(spine {int(loads.spine[case])}) at load step {j + 1}/{len(f_path)} "
                f"(moment fraction {lam_m:.3f}, preload fraction {lam_f:.3f}); residual "
                f"{np.abs(w[bad]).max():.3g}. Check the geometry of that spine or lower the load"
            )
        if j >= 1:
            prev = last
        rot_hist[j] = np.swapaxes(log_so3(rot).reshape(ns, n, 3), 0, 1)
        if j == 0:
            saved["rest_t"] = t.copy()
            saved["rest_cage"] = out["cage"].copy()
        if j == preload_index:
            saved["pre_t"] = t.copy()
            saved["pre"] = {k: v.copy() for k, v in out.items()}

    def per_case(x: Arr) -> Arr:
        return np.swapaxes(x.reshape(ns, n, *x.shape[1:]), 0, 1)

    nk_all = model.arrays[0].bsh_k.shape[1]

    def full_bushing(x: Arr) -> Arr:
        full = np.zeros((x.shape[0], nk_all, 6))
        full[:, cols.bushings] = x
        return full

    pre_out = saved["pre"]
    return Solution(
        steps=m_path,
        preload_steps=f_path,
        preload_index=preload_index,
        rotation=rot_hist,
        translation=per_case(t),
        rest_translation=per_case(saved["rest_t"]),
        preload_translation=per_case(saved["pre_t"]),
        disc_force_n=per_case(out["disc_force"]),
        facet_force_n=per_case(np.stack([out["facet_left"], out["facet_right"]], 1)),
        cage_force_n=per_case(out["cage"]),
        spacer_force_n=per_case(out["spacer"]),
        bushing_wrench=per_case(full_bushing(out["bushing"])),
        preload_disc_force_n=per_case(pre_out["disc_force"]),
        preload_facet_force_n=per_case(
            np.stack([pre_out["facet_left"], pre_out["facet_right"]], 1)
        ),
        preload_cage_force_n=per_case(pre_out["cage"]),
        preload_bushing_wrench=per_case(full_bushing(pre_out["bushing"])),
        rest_cage_force_n=per_case(saved["rest_cage"]),
        state_rotation=per_case(rot),
        iterations=total_iter,
    )


def value_list(*path: str) -> list[float]:
    """A list-valued constant of the data file."""
    node = parameters()
    for key in path:
        node = node[key]
    return [float(x) for x in node["value"]]


__all__ = ["Loads", "Solution", "follower_wrench", "segment_wrench", "solve"]
