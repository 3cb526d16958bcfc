"""Cobb angles on frontal (AP) projections.

Method (AASCE 2019, documented in ``docs/xray_landmarks.md``): each vertebra is reduced to the
line from the midpoint of its left edge (superior-left and inferior-left corners) to the midpoint
of its right edge. The Cobb angle of the main curve is the largest angle between any two of these
lines; those two vertebrae are its end vertebrae. The apex is the vertebra between them whose
centre lies farthest from the line joining the end vertebrae's centres. Proximal and distal curves
are the largest angles among the vertebrae above the upper and below the lower end vertebra.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from spinefuse.assess.assessment import Measurement
from spinefuse.assess.criteria import block, source
from spinefuse.assess.views import CoronalView
from spinefuse.errors import ImagingError

F64 = NDArray[np.float64]
TIE_DEG = 0.05
"""Vertebrae whose lines differ by less than this (deg) count as equally tilted."""


def vertebra_lines(corners: F64) -> F64:
    """Left-to-right mid-line vectors of vertebrae.

    ``corners``: (..., n, 4, 2) points in the order superior_left, superior_right,
    inferior_left, inferior_right, any 2-D frame. Returns (..., n, 2)."""
    c = np.asarray(corners, dtype=float)
    left = 0.5 * (c[..., 0, :] + c[..., 2, :])
    right = 0.5 * (c[..., 1, :] + c[..., 3, :])
    return np.asarray(right - left, dtype=float)


def pairwise_angles_deg(lines: F64) -> F64:
    """Angles (deg, 0–180) between every pair of line vectors: (..., n, 2) -> (..., n, n)."""
    v = np.asarray(lines, dtype=float)
    theta = np.degrees(np.arctan2(v[..., 1], v[..., 0]))
    d = np.abs(theta[..., :, None] - theta[..., None, :])
    return np.asarray(np.minimum(d, 360.0 - d), dtype=float)


def max_cobb_deg(corners: F64) -> F64:
    """Largest Cobb angle (deg) per image, batched: (..., n, 4, 2) -> (...)."""
    return np.asarray(pairwise_angles_deg(vertebra_lines(corners)).max(axis=(-1, -2)))


@dataclass(frozen=True)
class Curve:
    """One coronal curve: its Cobb angle, end vertebrae, apex and convex side."""

    angle_deg: float
    upper_end: str
    lower_end: str
    apex: str
    convex: str  # "left" or "right" in the frame of the given points (+x is right)
    role: str  # "main", "proximal" or "distal"

    @property
    def span(self) -> str:
        """Upper and lower end vertebrae as ``"L1-L4"``."""
        return f"{self.upper_end}-{self.lower_end}"


def _max_pair(angles: F64, lo: int, hi: int) -> tuple[float, int, int]:
    sub = angles[lo:hi, lo:hi]
    if sub.shape[0] < 2:
        return 0.0, lo, lo
    i, j = np.unravel_index(int(np.argmax(sub)), sub.shape)
    a, b = sorted((int(i) + lo, int(j) + lo))
    best = float(sub[i, j])
    if a == b:  # every line parallel: no curve
        return 0.0, lo, hi - 1
    # Of equally tilted vertebrae the end vertebra is the one nearest the curve's middle.
    a = max(k for k in range(a, b) if angles[k, b] >= best - TIE_DEG)
    b = min(k for k in range(a + 1, b + 1) if angles[a, k] >= best - TIE_DEG)
    return best, a, b


def curves(names: list[str], corners: F64, min_deg: float = 0.0) -> list[Curve]:
    """The main curve and any proximal/distal curve of at least ``min_deg``.

    ``names``: vertebrae head to pelvis; ``corners``: (n, 4, 2) as in :func:`vertebra_lines`,
    in a frame with +x to the right and +y upward (pass image points with y negated)."""
    c = np.asarray(corners, dtype=float)
    if c.shape != (len(names), 4, 2):
        raise ImagingError(
            f"Cobb: corners have shape {c.shape}, expected ({len(names)}, 4, 2) for {names}"
        )
    if len(names) < 2:
        raise ImagingError(f"Cobb: needs at least two vertebrae on the AP view, got {names}")
    angles = pairwise_angles_deg(vertebra_lines(c))
    centres = c.mean(axis=1)
    found: list[Curve] = []
    main = _max_pair(angles, 0, len(names))
    spans = [(main, "main"), (_max_pair(angles, 0, main[1] + 1), "proximal")]
    spans.append((_max_pair(angles, main[2], len(names)), "distal"))
    for (angle, a, b), role in spans:
        if b == a or (role != "main" and (angle < min_deg or (a, b) == main[1:])):
            continue
        axis = centres[b] - centres[a]
        rel = centres[a : b + 1] - centres[a]
        offset = (axis[0] * rel[:, 1] - axis[1] * rel[:, 0]) / np.linalg.norm(axis)
        k = int(np.argmax(np.abs(offset)))
        # with the chord running downward (y decreasing) a positive offset lies toward +x
        side = "left" if offset[k] * (1 if axis[1] < 0 else -1) < 0 else "right"
        found.append(Curve(angle, names[a], names[b], names[a + k], side, role))
    return found


def measure_coronal(view: CoronalView) -> list[Measurement]:
    """Cobb angle of the main curve (and proximal/distal curves of at least the scoliosis
    cut-off) on an AP view; ``level`` is the span of end vertebrae, the method names the apex."""
    crit = block("cobb")
    names = view.vertebrae
    pts = np.stack([view.corners[v] for v in names])
    out = []
    for c in curves(names, pts, min_deg=crit["scoliosis_min_deg"]):
        side = c.convex if view.sides == "patient" else f"image {c.convex}"
        out.append(
            Measurement(
                name="cobb_angle",
                value=c.angle_deg,
                unit="deg",
                level=c.span,
                normal_range=(0.0, crit["scoliosis_min_deg"]),
                method=f"{c.role} curve, apex {c.apex}, convex to the {side}; {crit['method']}",
                source=source("cobb"),
                detail={
                    "curve": c.role,
                    "apex": c.apex,
                    "convex": side,
                    "upper_end": c.upper_end,
                    "lower_end": c.lower_end,
                },
            )
        )
    return out
