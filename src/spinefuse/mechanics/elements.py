"""Force laws of the model's elements, batched and with their derivatives.

Each law maps a deformation measure to a force (N) or moment (N·mm) and returns the tangent too,
so the solver's Jacobian is analytic."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Arr = NDArray[np.float64]


def softplus(x: Arr) -> Arr:
    """log(1 + eˣ), overflow-safe."""
    return np.asarray(np.logaddexp(0.0, x))


def sigmoid(x: Arr) -> Arr:
    """1 / (1 + e⁻ˣ)."""
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * x)))


def blankevoort(strain: Arr, k: Arr, eps_t: Arr) -> tuple[Arr, Arr]:
    """Ligament force (N) and dF/dε for strain ε (Blankevoort & Huiskes 1991): 0 for ε ≤ 0,
    k·ε²/(2εt) in the toe region, k·(ε − εt/2) beyond; ``k`` in N per unit strain."""
    e = np.maximum(strain, 0.0)
    toe = e < eps_t
    force = np.where(toe, k * e * e / (2.0 * eps_t), k * (e - 0.5 * eps_t))
    slope = np.where(toe, k * e / eps_t, k)
    return np.asarray(force), np.asarray(slope)


def smooth_ramp(x: Arr, width: Arr | float) -> tuple[Arr, Arr]:
    """A C¹ ramp: 0 for x ≤ −w, x for x ≥ w, (x + w)²/(4w) between; value and slope."""
    w = np.asarray(width, dtype=float)
    mid = np.abs(x) < w
    value = np.where(x >= w, x, np.where(mid, (x + w) ** 2 / (4.0 * w), 0.0))
    slope = np.where(x >= w, 1.0, np.where(mid, (x + w) / (2.0 * w), 0.0))
    return np.asarray(value), np.asarray(slope)


def disc_moment_law(
    theta: Arr,
    k_lin: Arr,
    theta_t: Arr,
    neutral_ratio: float,
    width_ratio: float,
    neutral_scale: Arr | float = 1.0,
) -> tuple[Arr, Arr, Arr]:
    """Disc moment (N·mm) resisting a rotation θ (rad) about one axis, dM/dθ and dM/d(scale).

    An asymmetric double-sigmoid law (Smit et al. 2011; Zirbel et al. 2014): on each side of
    zero the stiffness rises along a sigmoid from the neutral-zone value ``neutral_ratio·k_lin``
    to ``k_lin`` around the transition angle ``theta_t``. A compressive preload stiffens the
    neutral zone only (Gardner-Morse & Stokes 2004 measured the stiffness about the preloaded
    posture): the neutral stiffness becomes ``s·neutral_ratio·k_lin`` for rotations within
    the transition and the extra moment saturates beyond it (the fibre-recruited elastic zone
    is unchanged), ``s = neutral_scale``. ``k_lin`` and ``theta_t`` have a last axis of 2:
    (negative side, positive side)."""
    pos = theta >= 0.0
    k = np.where(pos, k_lin[..., 1], k_lin[..., 0])
    tt = np.where(pos, theta_t[..., 1], theta_t[..., 0])
    a = np.abs(theta)
    w = width_ratio * tt
    k0 = neutral_ratio * k
    rise = w * (softplus((a - tt) / w) - softplus(-tt / w))
    s = np.asarray(neutral_scale, dtype=float)
    if s.ndim == 1 and theta.ndim == 2:
        s = s[:, None]
    th = np.tanh(a / tt)
    m = k0 * a + (s - 1.0) * k0 * tt * th + (k - k0) * rise
    dm = k0 + (s - 1.0) * k0 * (1.0 - th * th) + (k - k0) * sigmoid((a - tt) / w)
    sign = np.sign(theta)
    return np.asarray(sign * m), np.asarray(dm), np.asarray(sign * k0 * tt * th)


def preload_factor(force: Arr, a: float, f0: float, b: float) -> tuple[Arr, Arr]:
    """Neutral-zone stiffening of the disc under compressive force F (N): 1 + a·((F+F₁)/F0)^b −
    a·(F₁/F0)^b with F₁ = 10 N keeping the slope finite at zero; value and d/dF."""
    f1 = 10.0
    f = np.maximum(force, 0.0) + f1
    value = 1.0 + a * (f / f0) ** b - a * (f1 / f0) ** b
    slope = a * b * (f / f0) ** (b - 1.0) / f0 * (force > 0.0)
    return np.asarray(value), np.asarray(slope)


def friction(slip: Arr, normal: Arr, mu: Arr, slip_mm: Arr | float) -> tuple[Arr, Arr, Arr]:
    """Regularised Coulomb friction: the tangential force (N) resisting a slip ``u`` (mm) of a
    contact pressed with ``N`` (N), −μN·tanh(u/u₀): it builds up over the pre-sliding
    displacement u₀ and then holds at μN while the contact slides. Smooth in both u and N (it
    vanishes with the contact force), elastic (path-independent), so the quasi-static solve
    stays well posed; returns the force and its derivatives d/du and d/dN; arrays broadcast."""
    x = slip / slip_mm
    th = np.tanh(x)
    force = -mu * normal * th
    d_slip = -mu * normal * (1.0 - th * th) / slip_mm
    d_normal = -mu * th
    return np.asarray(force), np.asarray(d_slip), np.asarray(d_normal)


def disc_axial_law(
    compression: Arr,
    k0: Arr,
    k2: Arr | float,
    k_tension: Arr | None = None,
    toe_mm: float = 0.05,
) -> tuple[Arr, Arr]:
    """Axial force (N, compression +) of the disc under an axial approach δ (mm, + compresses)
    and dF/dδ: k0·δ + k2·δ² in compression — the stiffness rises with load as the annulus
    fibres are tensioned by the pressurised nucleus — and, in tension, a stiffness falling from
    k0 at δ = 0 to ``k_tension`` over ``toe_mm`` of separation (C¹): a separated disc is held
    by its annulus fibres alone, which run at a shallow angle to the endplates.
    ``k_tension`` None: k0 in tension too."""
    pos = np.maximum(compression, 0.0)
    force = k0 * compression + k2 * pos * pos
    slope = k0 + 2.0 * k2 * pos
    if k_tension is None:
        return np.asarray(force), np.asarray(slope)
    neg = np.minimum(compression, 0.0)
    dk = k0 - k_tension
    inner = neg > -toe_mm
    # the part of k0 the tension side loses, ramped out over the toe
    lost = np.where(inner, -neg * neg / (2.0 * toe_mm), neg + 0.5 * toe_mm)
    d_lost = np.where(inner, -neg / toe_mm, 1.0) * (compression < 0.0)
    return np.asarray(force - dk * lost), np.asarray(slope - dk * d_lost)
