"""Vertebra surfaces for the browser's 3-D view: marching cubes on each label (RAS mm)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from spinefuse.imaging.images import Images


def label_surfaces(images: Images, step: int = 2) -> dict[str, Any]:
    """Each labelled level's surface as {name, label, vertices (n×3, mm, 0.1 mm rounded),
    faces (m×3)}, from the label map sampled every ``step`` voxels."""
    from skimage.measure import marching_cubes

    from spinefuse.imaging.labels import convention_ids

    labels = images.labels
    if labels is None or images.convention is None:
        return {"levels": []}
    names = convention_ids(images.convention)
    arr = np.asarray(labels.array)[::step, ::step, ::step]
    out = []
    for label in sorted(set(np.unique(arr).tolist()) - {0}):
        mask = np.pad(arr == label, 1).astype(np.float32)
        if mask.sum() < 8:
            continue
        verts, faces, _n, _v = marching_cubes(mask, 0.5)
        ijk = (verts - 1.0) * step
        world = labels.voxel_to_world(ijk)
        out.append(
            {
                "label": int(label),
                "name": names.get(int(label)),
                "vertices": np.round(world, 1).ravel().tolist(),
                "faces": faces.astype(int).ravel().tolist(),
            }
        )
    return {"levels": out}
