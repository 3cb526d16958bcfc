"""A vertebra label map rendered as a CT in Hounsfield units: a test input for the built-in
segmentation where a labelled spine has no scan of its own (the VerSe sample mask).

Every labelled voxel within ``cortex_mm`` of its vertebra's surface reads as cortical bone, the
rest of the vertebra as trabecular bone, everything else as soft tissue; the image is then
blurred to the voxel's partial volume and given noise. Only the vertebrae are drawn: there is
no sacrum, pelvis or rib unless the label map holds them, so nothing in such an image names a
level.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from spinefuse.errors import ParameterError
from spinefuse.imaging.volume import Volume

CORTICAL_HU = 700.0
"""Cortical shell as a 1 mm CT reads it (HU)."""
TRABECULAR_HU = 180.0
"""Trabecular bone of an adult vertebral body (HU; normal adult L1 about 180 HU)."""
SOFT_TISSUE_HU = 40.0
"""Muscle, disc and everything else around the spine (HU)."""


def pseudo_ct(
    labels: Volume,
    cortex_mm: float = 1.5,
    noise_hu: float = 15.0,
    blur_mm: float = 0.6,
    seed: int = 0,
) -> Volume:
    """The label map as a CT on its own grid (float32 HU, modality CT)."""
    if cortex_mm <= 0 or noise_hu < 0 or blur_mm < 0:
        raise ParameterError(
            f"cortex_mm = {cortex_mm}, noise_hu = {noise_hu}, blur_mm = {blur_mm}: the shell "
            "must be thicker than 0 and noise and blur not negative"
        )
    lab = np.asarray(labels.array)
    spacing = labels.spacing
    bone = lab > 0
    # depth inside each vertebra: a voxel next to another label or to background is surface
    boundary = np.zeros_like(bone)
    for axis in range(3):
        for shift in (1, -1):
            boundary |= bone & (np.roll(lab, shift, axis=axis) != lab)
    depth = ndimage.distance_transform_edt(~boundary, sampling=spacing)
    hu = np.full(lab.shape, SOFT_TISSUE_HU, dtype=np.float32)
    hu[bone] = TRABECULAR_HU
    hu[bone & (depth < cortex_mm)] = CORTICAL_HU
    if blur_mm > 0:
        hu = ndimage.gaussian_filter(hu, blur_mm / spacing).astype(np.float32)
    if noise_hu > 0:
        hu += np.random.default_rng(seed).normal(0.0, noise_hu, hu.shape).astype(np.float32)
    return Volume(
        array=hu, affine=labels.affine.copy(), modality="CT", source=f"pseudo-CT of {labels.source}"
    )
