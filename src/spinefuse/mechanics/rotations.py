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


def exp_so3(w: Arr) -> Arr:
    """Rotation matrices of rotation vectors (rad), Rodrigues' formula; (..., 3) -> (..., 3, 3)."""
    th = np.linalg.norm(w, axis=-1)[..., None, None]
    k = skew(w)
    small = th < 1e-8
    safe = np.where(small, 1.0, th)
    a = np.where(small, 1.0 - th**2 / 6.0, np.sin(safe) / safe)
    b = np.where(small, 0.5 - th**2 / 24.0, (1.0 - np.cos(safe)) / safe**2)
    return np.asarray(np.eye(3) + a * k + b * (k @ k))


def log_so3(r: Arr) -> Arr:
    """Rotation vectors (rad) of rotation matrices (angles below π); (..., 3, 3) -> (..., 3)."""
    v = 0.5 * np.stack([r[..., 2, 1] - r[..., 1, 2], r[..., 0, 2] - r[..., 2, 0],
                        r[..., 1, 0] - r[..., 0, 1]], -1)  # fmt: skip
    s = np.linalg.norm(v, axis=-1)
    c = 0.5 * (np.trace(r, axis1=-2, axis2=-1) - 1.0)
    th = np.arctan2(s, c)
    factor = np.where(s < 1e-10, 1.0 + th**2 / 6.0, th / np.where(s < 1e-10, 1.0, s))
    return np.asarray(v * factor[..., None])


def left_jacobian_inv(w: Arr) -> Arr:
    """``J_l⁻¹(θ)``: maps a small spatial rotation increment to the change of the rotation
    vector, ``θ(exp(δ)·R) ≈ θ + J_l⁻¹ δ``; (..., 3) -> (..., 3, 3)."""
    th = np.linalg.norm(w, axis=-1)[..., None, None]
    k = skew(w)
    small = th < 1e-4
    safe = np.where(small, 1.0, th)
    c = np.where(
        small, 1.0 / 12.0, 1.0 / safe**2 - (1.0 + np.cos(safe)) / (2.0 * safe * np.sin(safe))
    )
    return np.asarray(np.eye(3) - 0.5 * k + c * (k @ k))
