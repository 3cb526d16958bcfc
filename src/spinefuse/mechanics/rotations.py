"""Batched rotation algebra: skew matrices, the exponential and logarithm of SO(3) and the
inverse left Jacobian. Arrays carry any leading batch shape; the last axes are (3,) or (3, 3)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Arr = NDArray[np.float64]


def skew(v: Arr) -> Arr:
    """``[v]×`` so that ``skew(v) @ w == cross(v, w)``; shape (..., 3) -> (..., 3, 3)."""
    m = np.zeros((*v.shape[:-1], 3, 3))
    x, y, w = v[..., 0], v[..., 1], v[..., 2]
    m[..., 0, 1], m[..., 0, 2] = -w, y
    m[..., 1, 0], m[..., 1, 2] = w, -x
    m[..., 2, 0], m[..., 2, 1] = -y, x
    return m


def _outer_minus_norm(w: Arr, th2: Arr) -> Arr:
    """``[w]×² = w·wᵀ − |w|²·I``; (..., 3) -> (..., 3, 3)."""
    kk = w[..., :, None] * w[..., None, :]
    kk.reshape(*w.shape[:-1], 9)[..., ::4] -= th2[..., None]
    return kk


def exp_so3(w: Arr) -> Arr:
    """Rotation matrices of rotation vectors (rad), Rodrigues' formula; (..., 3) -> (..., 3, 3)."""
    th2 = (w * w).sum(-1)
    th = np.sqrt(th2)[..., None, None]
    k = skew(w)
    small = th < 1e-8
    safe = np.where(small, 1.0, th)
    a = np.where(small, 1.0 - th**2 / 6.0, np.sin(safe) / safe)
    b = np.where(small, 0.5 - th**2 / 24.0, (1.0 - np.cos(safe)) / safe**2)
    out: Arr = a * k + b * _outer_minus_norm(w, th2)
    out.reshape(*w.shape[:-1], 9)[..., ::4] += 1.0
    return out


def log_so3(r: Arr) -> Arr:
    """Rotation vectors (rad) of rotation matrices (angles below π); (..., 3, 3) -> (..., 3)."""
    v = np.empty(r.shape[:-1])
    np.subtract(r[..., 2, 1], r[..., 1, 2], out=v[..., 0])
    np.subtract(r[..., 0, 2], r[..., 2, 0], out=v[..., 1])
    np.subtract(r[..., 1, 0], r[..., 0, 1], out=v[..., 2])
    v *= 0.5
    s = np.sqrt((v * v).sum(-1))
    c = 0.5 * (r[..., 0, 0] + r[..., 1, 1] + r[..., 2, 2] - 1.0)
    th = np.arctan2(s, c)
    small = s < 1e-10
    factor = np.where(small, 1.0 + th**2 / 6.0, th / np.where(small, 1.0, s))
    return np.asarray(v * factor[..., None])


def left_jacobian_inv(w: Arr) -> Arr:
    """``J_l⁻¹(θ)``: maps a small spatial rotation increment to the change of the rotation
    vector, ``θ(exp(δ)·R) ≈ θ + J_l⁻¹ δ``; (..., 3) -> (..., 3, 3)."""
    th2 = (w * w).sum(-1)
    th = np.sqrt(th2)[..., None, None]
    small = th < 1e-4
    safe = np.where(small, 1.0, th)
    c = np.where(
        small, 1.0 / 12.0, 1.0 / safe**2 - (1.0 + np.cos(safe)) / (2.0 * safe * np.sin(safe))
    )
    out = c * _outer_minus_norm(w, th2) - 0.5 * skew(w)
    out.reshape(*w.shape[:-1], 9)[..., ::4] += 1.0
    return out
