"""Interspinous spacers: a block between the spinous processes of a segment that the processes
press on in extension (a compression-only contact). Inserted with a little distraction, it holds
the segment in slight flexion at rest and blocks extension; it adds nothing in lateral bending
or axial rotation beyond its friction-free contact (Lindsey et al. 2003 measured no change
there)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from spinefuse.mechanics.parameters import parameters

Arr = NDArray[np.float64]


@dataclass(frozen=True)
class SpacerElement:
    """One contact point (disc frame, mm): on the upper process, the plane on the lower."""

    point: Arr  # (3,)
    plane: Arr  # (3,)
    stiffness_n_per_mm: float


def spacer_element(upper_tip: Arr, lower_tip: Arr, material: str) -> SpacerElement:
    """The spacer between the spinous tips (disc frame): it sits a fixed depth in front of the
    tips' midpoint, pre-compressed by the data file's insertion distraction; its stiffness is
    the spacer block in series with the bending of the two spinous processes."""
    p = parameters()["interspinous"]
    depth = float(p["depth_from_tip_mm"]["value"])
    mid = 0.5 * (upper_tip + lower_tip)
    mid = mid + np.array([0.0, depth, 0.0])
    gap = float(abs(upper_tip[2] - lower_tip[2]))
    k_process = float(p["process_stiffness_n_per_mm"]["value"])
    e_block = float(p["materials"][material]["modulus_mpa"]["value"])
    area = float(p["contact_area_mm2"]["value"])
    k_block = e_block * area / max(gap, 1.0)
    k = 1.0 / (1.0 / k_block + 2.0 / k_process)
    point = mid + np.array([0.0, 0.0, 0.5 * gap])
    plane = point + np.array([0.0, 0.0, float(p["distraction_mm"]["value"])])
    return SpacerElement(point=point, plane=plane, stiffness_n_per_mm=k)
