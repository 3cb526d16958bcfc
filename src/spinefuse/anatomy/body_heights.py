"""Vertebral body heights as TotalSegmentator's spine report measures them: on the body mask,
in the sagittal slice with the most height variation, along rays at fixed fractions of the
body's depth (``report_heights`` in ``data/vertebral_landmarks.yaml``)."""

from __future__ import annotations

import numpy as np
from nibabel.orientations import apply_orientation, inv_ornt_aff, io_orientation
from numpy.typing import NDArray
from scipy import ndimage

from spinefuse.anatomy.frames import Vec
from spinefuse.anatomy.method import setting
from spinefuse.errors import LabelMapError
from spinefuse.imaging.volume import Volume


def _canonical(vol: Volume) -> tuple[NDArray[np.generic], Vec]:
    """The array reoriented to the closest RAS axes and its voxel size along them (mm)."""
    ornt = io_orientation(vol.affine)
    array = apply_orientation(np.asarray(vol.array), ornt)
    affine = vol.affine @ inv_ornt_aff(ornt, vol.shape)
    return array, np.linalg.norm(affine[:3, :3], axis=0)


def _ray_ends(mask: Vec, centre: Vec, direction: Vec, step: float) -> tuple[Vec, Vec] | None:
    """Last points inside ``mask`` (2-D, bilinear value > 0.5) on the ray from ``centre`` both
    ways along ``direction`` (voxel units, steps of ``step`` voxels); None if either way starts
    outside or never leaves the grid."""
    d = direction / np.linalg.norm(direction)
    t = np.arange(step, 1.5 * max(mask.shape), step)
    ends = []
    for sign in (-1.0, 1.0):
        pts = centre[:, None] + sign * d[:, None] * t[None, :]
        inside = (pts >= 0).all(axis=0) & (pts[0] < mask.shape[0]) & (pts[1] < mask.shape[1])
        inside &= ndimage.map_coordinates(mask, pts, order=1, mode="constant", cval=0.0) > 0.5
        k = int(np.argmin(inside))
        if inside[k]:
            return None  # never leaves the mask inside the grid
        if k == 0:  # out at the first step: the start itself is the end if it is inside
            v = ndimage.map_coordinates(mask, centre[:, None], order=1, mode="constant")
            if not v[0] > 0.5:
                return None
            ends.append(centre.astype(float))
            continue
        ends.append(pts[:, k - 1])
    return ends[0], ends[1]


def report_heights(
    labels: Volume, ids: dict[str, int], bodies: Volume, order: list[str] | None = None
) -> dict[str, tuple[float, float, float]]:
    """Posterior, middle and anterior body heights (mm) measured as TotalSegmentator's spine
    report does (``report_heights`` in ``data/vertebral_landmarks.yaml``), from the vertebra
    label map and its ``vertebrae_body`` map (label 1 = vertebral bodies) on the same grid.

    ``order`` lists the levels head to pelvis (default: ``ids`` order). Levels touching the
    border of the image, S1 and levels with no valid slice are left out (neighbours still
    give the height axis)."""
    if bodies.shape != labels.shape or not np.allclose(bodies.affine, labels.affine, atol=1e-3):
        raise LabelMapError(
            f"{bodies.source or 'vertebrae_body map'}: grid {bodies.shape} differs from the label "
            f"map's {labels.shape}; resample it onto the label map first"
        )
    cfg = setting("report_heights")
    pos = [float(p) for p in setting("height_positions")]
    lab, sp = _canonical(labels)
    body_mask = _canonical(bodies)[0] == 1
    names = [n for n in (order or list(ids)) if n in ids]
    half = np.maximum(1, np.round(float(cfg["erosion_mm"]) / sp).astype(int))
    cube = np.ones(tuple(2 * half + 1), dtype=bool)
    masks: dict[str, NDArray[np.bool_]] = {}
    cents: list[Vec] = []
    for name in names:
        vert = lab == ids[name]
        m = vert & body_mask
        if not m.any():
            m = vert
        eroded = ndimage.binary_erosion(m, structure=cube, border_value=1)
        cents.append(np.argwhere(eroded if eroded.any() else m).mean(axis=0))
        masks[name] = m
    out: dict[str, tuple[float, float, float]] = {}
    step = float(cfg["ray_step_voxels"])
    for i, name in enumerate(names):
        m = masks[name]
        on_border = any(np.take(m, j, axis=a).any() for a in range(3) for j in (0, -1))
        if name == "S1" or on_border or not m.any():
            continue
        up = cents[min(i + 1, len(names) - 1)] - cents[max(i - 1, 0)]
        if not np.any(up):
            up = np.array([0.0, 0.0, 1.0])
        up = up / np.linalg.norm(up)
        h2 = up[1:]
        # perpendicular to the height axis in the sagittal plane, in physical then voxel units
        ap = np.array([-h2[1] * sp[2] / sp[1], h2[0] * sp[1] / sp[2]])
        eroded = ndimage.binary_erosion(m, structure=cube, border_value=1)
        xs = np.flatnonzero(eroded.any(axis=(1, 2)))
        best: tuple[float, list[float]] | None = None
        if xs.size:
            margin = round(float(cfg["scan_margin"]) * (xs[-1] - xs[0] + 1))
            slices = range(
                int(xs[0]) + margin,
                int(xs[-1]) - margin + 1,
                max(1, round(float(cfg["scan_step_mm"]) / sp[0])),
            )
            for x in slices:
                sl = m[x].astype(float)
                chord = _ray_ends(sl, cents[i][1:], ap, step)
                if chord is None:
                    continue
                hs = []
                for f in pos:
                    ends = _ray_ends(sl, chord[0] + f * (chord[1] - chord[0]), h2, step)
                    hs.append(
                        0.0 if ends is None else float(np.linalg.norm((ends[1] - ends[0]) * sp[1:]))
                    )
                if min(hs) > 0 and (best is None or max(hs) - min(hs) > best[0]):
                    best = (max(hs) - min(hs), hs)
        if best is not None:
            out[name] = (best[1][0], best[1][1], best[1][2])
    return out
