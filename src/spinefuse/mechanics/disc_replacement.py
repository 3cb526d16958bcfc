"""Ball-and-socket total disc replacement: the disc is cleared (its outer annulus rim stays),
the anterior longitudinal ligament is cut for the anterior approach, and the two endplates are
joined by a spherical joint — stiff in translation at its centre of rotation, free in rotation.
Rotation is then limited by what remains: the annulus rim, the facets and the ligaments."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from spinefuse.mechanics.parameters import value

Arr = NDArray[np.float64]


def joint_element(endplate_depth_mm: float, disc_height_mm: float) -> tuple[Arr, Arr]:
    """Centre of rotation (disc frame, mm) and 6×6 stiffness (rotation free, translation
    stiff) of the ball-and-socket joint."""
    cor = np.array(
        [
            0.0,
            value("disc_replacement", "cor_ap_fraction") * endplate_depth_mm,
            -0.5 * disc_height_mm - value("disc_replacement", "cor_below_endplate_mm"),
        ]
    )
    k = np.zeros((6, 6))
    k[3:, 3:] = np.eye(3) * value("disc_replacement", "joint_stiffness_n_per_mm")
    return cor, k
