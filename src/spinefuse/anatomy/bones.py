"""The label map's vertebrae as point sets: each labelled bone's voxels in world coordinates with
their image values, found without a Python loop over voxels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from spinefuse.anatomy.frames import Vec
from spinefuse.imaging.labels import label_boxes
from spinefuse.imaging.volume import Volume


@dataclass(frozen=True)
class LabelledBone:
    """One labelled vertebra: its voxels in world coordinates and their CT values, and the box
    of the label map that holds them."""

    name: str
    key: int  # its label ID
    xyz: Vec  # (n, 3) world mm
    hu: NDArray[np.float32]  # (n,)
    on_edge: NDArray[np.bool_]  # (n,) voxel on the border of the field of view
    box: tuple[slice, ...]  # of the label map's voxel indices


def labelled_bones(image: Volume, labels: Volume, ids: dict[str, int]) -> list[LabelledBone]:
    """The bones named in ``ids`` (name -> label ID, head to pelvis) that have voxels."""
    arr = labels.array
    boxes = label_boxes(arr, max(ids.values()))
    bones = []
    for name, key in ids.items():
        box = boxes[key - 1]
        if box is None:
            continue
        crop = arr[box] == key
        ijk = np.argwhere(crop) + np.array([s.start for s in box])
        on_edge = np.any((ijk == 0) | (ijk == np.array(arr.shape) - 1), axis=1)
        hu = image.array[box][crop].astype(np.float32)
        bones.append(LabelledBone(name, key, labels.voxel_to_world(ijk), hu, on_edge, box))
    return bones
