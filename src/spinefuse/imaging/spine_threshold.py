"""The built-in CT segmentation back-end: no trained weights, only bone physics and morphology.

1. Bone: voxels above a bone threshold (HU), closed, with the enclosed trabecular interior filled
   (axial slices, then in 3-D); the largest connected structure is the spine.
2. Bodies: the thick parts of the bone (distance to the bone surface at least ``core_mm``) are the
   vertebral bodies; discs are not bone, so the cores of neighbouring bodies are separate. Their
   centroids, head to pelvis, are the spine's centre curve.
3. Vertebrae: each body core grows back over the bone it came from, then a watershed on the bone
   (ridges where the bone is thin: facet joints, the pars) gives every posterior element to the
   body it is joined to.
4. Labels: counted upward from the lowest body (``lowest``, the sacrum's S1 by default), or from a
   level the user anchors with a point inside it. The result uses TotalSegmentator v2 IDs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from skimage.segmentation import watershed

from spinefuse.conventions import TOTALSEG_V2_VERTEBRAE, VERTEBRAE, vertebra_index
from spinefuse.errors import LabelMapError, LevelError, ParameterError
from spinefuse.imaging.labels import on_grid
from spinefuse.imaging.orientation import to_ras
from spinefuse.imaging.volume import Volume
from spinefuse.records import Vec3

TOTALSEG_ID = {name: key for key, name in TOTALSEG_V2_VERTEBRAE.items()}


@dataclass(frozen=True)
class ThresholdBackend:
    """Bone threshold and morphology segmentation of the vertebrae of a CT.

    ``bone_hu``: threshold for cortical bone; ``marrow_hu``: least HU of the trabecular bone a
    cortex encloses (the canal's contents are darker); ``core_mm``: least depth inside the bone of a
    vertebral body's core (thicker than any posterior element, thinner than half a body);
    ``lowest``: name of the lowest body in the image; ``anchor``: a vertebra name and a world
    point (RAS, mm) inside that vertebra, which overrides ``lowest``."""

    bone_hu: float = 250.0
    marrow_hu: float = 100.0
    core_mm: float = 8.0
    lowest: str = "S1"
    anchor: tuple[str, Vec3] | None = None
    min_body_ml: float = 4.0
    midline_mm: float = 35.0

    def segment(self, image: Volume) -> Volume:
        if image.modality != "CT":
            raise ParameterError(
                f"{image.source or 'image'}: the built-in back-end thresholds CT Hounsfield "
                f"units; this is {image.modality}: give a label map for MR"
            )
        vertebra_index(self.lowest)
        ras = to_ras(image)
        labels = _segment_ras(ras, self)
        out = Volume(
            array=labels, affine=ras.affine, modality="SEG", source="built-in threshold back-end"
        )
        return on_grid(out, image, resample=True)


def _bone_mask(hu: NDArray[np.floating], threshold: float, marrow_hu: float) -> NDArray[np.bool_]:
    """Cortical bone, plus the marrow it encloses: cavities closed in 3-D, and holes of axial
    slices brighter than ``marrow_hu`` (the canal's CSF and fat are darker, so the canal stays
    open)."""
    cortex = ndimage.binary_closing(hu > threshold, iterations=1)
    bone = ndimage.binary_fill_holes(cortex)
    in_slice = np.zeros((3, 3, 3), dtype=bool)
    in_slice[:, :, 1] = ndimage.generate_binary_structure(2, 1)
    holes = ndimage.binary_fill_holes(cortex, structure=in_slice) & ~cortex
    bone |= holes & (hu > marrow_hu)
    return np.asarray(bone)


def _segment_ras(ras: Volume, cfg: ThresholdBackend) -> NDArray[np.int32]:
    hu = np.asarray(ras.array, dtype=np.float32)
    spacing = ras.spacing
    src = ras.source or "CT"
    bone_all = hu > cfg.bone_hu
    if not bone_all.any():
        raise LabelMapError(
            f"{src}: no voxel above {cfg.bone_hu:g} HU; is this a CT in Hounsfield units?"
        )
    # crop to the bone (with a margin) to keep the morphology cheap
    idx = np.argwhere(bone_all)
    lo = np.maximum(idx.min(axis=0) - 3, 0)
    hi = np.minimum(idx.max(axis=0) + 4, hu.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    bone = _bone_mask(hu[box], cfg.bone_hu, cfg.marrow_hu)
    depth = ndimage.distance_transform_edt(bone, sampling=spacing)
    cores, n = ndimage.label(depth >= cfg.core_mm)
    if n == 0:
        raise LabelMapError(
            f"{src}: no bone thicker than {2 * cfg.core_mm:g} mm; no vertebral body found"
        )
    voxel_ml = float(np.prod(spacing)) / 1000.0
    body_ids = np.arange(1, n + 1)
    # body volume: the core grown back by core_mm inside the bone
    grown = watershed(-depth, cores, mask=bone & (depth > 0))
    grown_ml = np.bincount(grown.ravel(), minlength=n + 1)[1:] * voxel_ml
    core_ml = np.bincount(cores.ravel(), minlength=n + 1)[1:] * voxel_ml
    # a body's core is a sizeable fraction of the largest; specks of thick bone elsewhere
    # (a flared pedicle, a facet) are not, however much bone they would grow over
    big = body_ids[(grown_ml >= cfg.min_body_ml) & (core_ml >= 0.05 * core_ml.max())]
    if len(big) == 0:
        raise LabelMapError(f"{src}: no bone structure the size of a vertebral body")
    # the bodies lie on the midline (not the pelvis, femoral heads, ribs) and in front: a core
    # behind another at the same height is a thick posterior element, not a body
    com_all = np.asarray(ndimage.center_of_mass(np.ones_like(cores), cores, big), dtype=float)
    com_mm = com_all * spacing
    keep_mask = np.abs(com_mm[:, 0] - np.median(com_mm[:, 0])) <= cfg.midline_mm
    boxes = ndimage.find_objects(cores)
    z_lo = np.array([boxes[k - 1][2].start for k in big]) * spacing[2]
    z_hi = np.array([boxes[k - 1][2].stop for k in big]) * spacing[2]
    for i in range(len(big)):  # loops over the few cores, not voxels
        for j in range(len(big)):
            overlap = min(z_hi[i], z_hi[j]) - max(z_lo[i], z_lo[j])
            shorter = min(z_hi[i] - z_lo[i], z_hi[j] - z_lo[j])
            if i != j and overlap > 0.3 * shorter and com_mm[i, 1] < com_mm[j, 1] - 15.0:
                keep_mask[i] = False
    keep = big[keep_mask]
    markers = np.where(np.isin(cores, keep), cores, 0)
    # posterior elements go to the body they are joined to; bone joined to no body stays out
    regions = watershed(-depth, markers, mask=bone)
    com = np.asarray(ndimage.center_of_mass(np.ones_like(regions), markers, keep), dtype=float)
    order = keep[np.argsort(com[:, 2])]  # caudal to cranial (axis 2 runs superior)
    names = _names(order, regions, ras, box, cfg)
    lut = np.zeros(int(regions.max()) + 1, dtype=np.int32)
    for region_id, name in zip(order, names, strict=True):
        lut[region_id] = TOTALSEG_ID[name]
    out = np.zeros(hu.shape, dtype=np.int32)
    out[box] = lut[regions]
    return out


def _names(
    order: NDArray[np.int64],
    regions: NDArray[np.int32],
    ras: Volume,
    box: tuple[slice, ...],
    cfg: ThresholdBackend,
) -> list[str]:
    """Vertebra names of the bodies, caudal to cranial. The count skips L6 (transitional
    anatomy is named only when the user anchors it)."""
    anchor_name = cfg.anchor[0] if cfg.anchor is not None else cfg.lowest
    seq = [v for v in VERTEBRAE if v != "L6" or anchor_name == "L6"]
    if anchor_name not in seq:
        raise LevelError(f"anchor level {anchor_name!r} is not a vertebra name")
    base, start = seq.index(anchor_name), 0
    if cfg.anchor is not None:
        name, point = cfg.anchor
        ijk = np.rint(ras.world_to_voxel(np.asarray(point, dtype=float))).astype(int)
        ijk -= np.array([sl.start for sl in box])
        inside = bool(np.all((ijk >= 0) & (ijk < regions.shape)))
        region = int(regions[tuple(ijk)]) if inside else 0
        if region not in order:
            raise LevelError(
                f"anchor {name} at {point}: the point is not inside a segmented vertebra; "
                "give a point inside the vertebral body"
            )
        start = int(np.flatnonzero(order == region)[0])
    names = []
    for k in range(len(order)):
        rank = base - (k - start)  # cranial bodies come earlier in the head-to-pelvis order
        if not 0 <= rank < len(seq):
            raise LevelError(
                f"{len(order)} vertebral bodies counted from {anchor_name} run past the end of "
                "the spine; anchor a level the image shows"
            )
        names.append(seq[rank])
    return names
