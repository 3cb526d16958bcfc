"""Screw corridors fitted on a label map: the straight line through a pedicle with the most bone
around it.

Where the anatomy stage could not resolve a pedicle (coarse voxels, a vertebra cut by the field
of view) or to check the one it found, the planner searches lines through the pedicle region of
the vertebra's own label: for each candidate (a point near the expected isthmus, a medial angle
within the published range for the level, a cranial angle), the clearance is the distance from
the line to the nearest voxel outside the bone (a Euclidean distance transform of the mask,
sampled along the line). The corridor is the line whose narrowest clearance, at the isthmus, is
widest. Every candidate is evaluated in one vectorised pass. Points in the world frame (RAS, mm).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from spinefuse.anatomy.geometry import Pedicle, SpineGeometry, Vertebra
from spinefuse.conventions import Side
from spinefuse.imaging.volume import Volume
from spinefuse.plan.rules import PlanningRules

F64 = NDArray[np.float64]

# search window around the expected isthmus (mm) and angles (deg, in the vertebra frame)
OFFSETS_MM = np.arange(-7.5, 7.51, 1.5)
DEPTH_OFFSETS_MM = np.array([-3.0, 0.0, 3.0])
CRANIAL_DEG = np.arange(-15.0, 15.01, 3.0)
ISTHMUS_WINDOW_MM = (-2.0, 10.0)  # along the line, around the expected isthmus
BODY_REACH_MM = 40.0  # the corridor must stay in bone this far forward
BACK_REACH_MM = 25.0  # how far back from the isthmus the entry is looked for
LEAD_IN_MM = 3  # samples (1 mm apart) past the entry where the screw engages the cortex


@dataclass(frozen=True)
class BoneField:
    """Clearance (mm to the nearest voxel outside the bone) of one vertebra's label, on a crop
    of the label map's grid."""

    edt: F64
    mask: NDArray[np.bool_]
    world_to_crop: F64  # 4×4: world (mm) -> crop voxel indices
    spacing: F64

    @classmethod
    def of(cls, labels: Volume, ids: Collection[int], margin: int = 3) -> BoneField | None:
        """The field of the voxels whose label is one of ``ids``; None when there are none."""
        mask = np.isin(labels.array, list(ids))
        if not mask.any():
            return None
        nz = np.nonzero(mask)
        lo = np.maximum([int(a.min()) - margin for a in nz], 0)
        hi = np.minimum([int(a.max()) + margin + 1 for a in nz], labels.shape)
        crop = mask[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
        edt = ndimage.distance_transform_edt(crop, sampling=labels.spacing)
        shift = np.eye(4)
        shift[:3, 3] = -lo
        return cls(
            np.asarray(edt, dtype=float),
            crop,
            shift @ np.linalg.inv(labels.affine),
            labels.spacing,
        )

    def _ijk(self, pts: F64) -> F64:
        return np.asarray(pts @ self.world_to_crop[:3, :3].T + self.world_to_crop[:3, 3])

    def clearance(self, pts: F64) -> F64:
        """Clearance (mm) at world points ``(..., 3)``, linearly interpolated; 0 outside."""
        ijk = self._ijk(pts).reshape(-1, 3).T
        out = ndimage.map_coordinates(self.edt, ijk, order=1, mode="constant", cval=0.0)
        return np.asarray(out, dtype=float).reshape(pts.shape[:-1])

    def inside(self, pts: F64) -> NDArray[np.bool_]:
        """Whether the nearest voxel of each world point ``(..., 3)`` is bone."""
        ijk = np.rint(self._ijk(pts)).astype(np.int64)
        ok = np.all((ijk >= 0) & (ijk < np.asarray(self.mask.shape)), axis=-1)
        ijk = np.clip(ijk, 0, np.asarray(self.mask.shape) - 1)
        return np.asarray(ok & self.mask[ijk[..., 0], ijk[..., 1], ijk[..., 2]])


def _extent(field: BoneField, centres: F64, direction: F64, reach: float = 15.0) -> F64:
    """Length (mm) of the bone run through each centre ``(K, 3)`` along ``direction``: the
    pedicle's width or height across its axis, sampled every 0.25 mm."""
    s = np.arange(0.25, reach, 0.25)
    pts = centres[:, None, None, :] + np.stack([s, -s])[None, :, :, None] * direction
    inside = field.inside(pts)  # (K, 2, S): both ways from the centre
    run = np.cumprod(inside, axis=-1).sum(axis=-1)  # samples until the first gap each way
    return np.asarray(0.25 * (run.sum(axis=-1) + 1), dtype=float)


def _expected_isthmus(v: Vertebra, side: Side) -> F64:
    """Where the isthmus usually lies, in the vertebra frame: beside the canal, just behind the
    posterior body wall, level with the upper part of the body."""
    lat = 1.0 if side == "right" else -1.0
    canal_w = v.canal.width_mm if v.canal is not None else 0.5 * v.body_width_mm
    height = v.middle_height_mm or 25.0
    return np.array([lat * (canal_w / 2.0 + 4.0), -v.body_depth_mm / 2.0 - 5.0, 0.15 * height])


def fit_corridor(
    v: Vertebra,
    side: Side,
    field: BoneField,
    medial_range_deg: tuple[float, float],
    guess: Pedicle | None = None,
) -> Pedicle | None:
    """The pedicle corridor of one side on the label map, or None when no line through the
    pedicle region stays in bone from its entry to the body. The line is the one with the most
    bone around it from 3 mm past its entry to 40 mm into the body; width and height are measured
    across the line at the isthmus (the station near the expected isthmus with the narrowest bone
    across it), or those of ``guess`` (the anatomy stage's isthmus) where narrower."""
    f = v.frame()
    rot, origin = f[:3, :3], f[:3, 3]
    lat = 1.0 if side == "right" else -1.0
    if guess is not None:
        p0 = rot.T @ (np.asarray(guess.isthmus_centre) - origin)
    else:
        p0 = _expected_isthmus(v, side)
    ox, oy, oz = np.meshgrid(OFFSETS_MM, DEPTH_OFFSETS_MM, OFFSETS_MM, indexing="ij")
    starts = p0 + np.column_stack([ox.ravel(), oy.ravel(), oz.ravel()])  # (P, 3)
    medial = np.arange(medial_range_deg[0], medial_range_deg[1] + 0.01, 2.5)
    m, c = np.meshgrid(np.radians(medial), np.radians(CRANIAL_DEG), indexing="ij")
    m, c = m.ravel(), c.ravel()
    dirs = np.column_stack([-lat * np.sin(m) * np.cos(c), np.cos(m) * np.cos(c), np.sin(c)])
    t = np.arange(-BACK_REACH_MM, BODY_REACH_MM + 0.01, 1.0)
    local = starts[:, None, None, :] + t[None, None, :, None] * dirs[None, :, None, :]
    world = local @ rot.T + origin  # (P, D, T, 3)
    clear = field.clearance(world)
    half_voxel = 0.5 * float(field.spacing.mean())
    # each line's entry: where the bone run through the start point ends posteriorly
    k0 = int(np.argmin(np.abs(t)))
    inside = clear > half_voxel
    run = np.cumprod(inside[..., k0::-1], axis=-1).sum(axis=-1)  # samples back to the exit
    entry_k = k0 - run + 1
    on_path = (np.arange(len(t)) >= (entry_k + LEAD_IN_MM)[..., None]) & (run > 0)[..., None]
    score = np.where(on_path, clear, np.inf).min(axis=-1)
    score = np.where(run > 0, score, -np.inf)
    near = (t >= ISTHMUS_WINDOW_MM[0]) & (t <= ISTHMUS_WINDOW_MM[1])
    # among equally wide corridors prefer the better centred one
    score = score + 0.01 * clear[..., near].mean(axis=-1)
    i, j = np.unravel_index(int(np.argmax(score)), score.shape)
    if not np.isfinite(score[i, j]):
        return None
    if float(np.where(on_path[i, j], clear[i, j], np.inf).min()) <= half_voxel:
        return None  # no line stays in bone from its entry to the body
    # the isthmus: the narrowest clearance around the expected isthmus, less half a voxel
    axis = rot @ dirs[j]
    window = near & on_path[i, j]
    if not window.any():
        return None
    # the isthmus: the station of the window with the narrowest bone across the line
    across = np.cross(axis, rot[:, 2])
    across /= np.linalg.norm(across)
    up = np.cross(across, axis)
    stations = world[i, j][window]
    widths = _extent(field, stations, across)
    heights = _extent(field, stations, up)
    # the run across the line can follow bone that merges with the pedicle on a coarse grid
    # (transverse process, lamina): the clearance bounds it, twice the distance from the axis to
    # the nearest voxel outside the bone
    cap = 2.0 * clear[i, j][window]
    widths, heights = np.minimum(widths, cap), np.minimum(heights, cap)
    k = int(np.argmin(widths))
    isthmus = stations[k]
    width, height = float(widths[k]), float(heights[k])
    if guess is not None:  # measured by the anatomy stage too: keep the narrower (safer) one
        width, height = min(width, guess.width_mm), min(height, guess.height_mm)
    if min(width, height) <= 1.0:
        return None
    entry = world[i, j, int(entry_k[i, j])]
    front = k0
    while front < len(t) - 1 and inside[i, j, front + 1]:
        front += 1
    if front == len(t) - 1:  # still in bone at the end of the sampled line: extend the walk
        s_more = np.arange(t[-1], t[-1] + 60.0, 0.5)
        more = field.inside(world[i, j, 0] + (s_more[:, None] - t[0]) * axis)
        reach = float(s_more[np.argmin(more)] if not more.all() else s_more[-1])
    else:
        reach = float(t[front]) + 0.5
    chord = reach - float(t[int(entry_k[i, j])])
    return Pedicle(
        side=side,
        isthmus_centre=(float(isthmus[0]), float(isthmus[1]), float(isthmus[2])),
        axis=(float(axis[0]), float(axis[1]), float(axis[2])),
        width_mm=width,
        height_mm=height,
        entry_point=(float(entry[0]), float(entry[1]), float(entry[2])),
        chord_mm=chord,
    )


def pedicles_on_labels(
    geometry: SpineGeometry,
    labels: Volume,
    ids: dict[str, set[int]],
    levels: Collection[str],
    rules: PlanningRules,
) -> tuple[SpineGeometry, list[str]]:
    """The geometry with the pedicles of ``levels`` fitted on the label map (starting from the
    anatomy stage's pedicle where it found one), and a note per level on what was done."""
    notes = []
    vertebrae = dict(geometry.vertebrae)
    for name in levels:
        v = geometry.vertebra(name)
        want = ids.get(name)
        field = BoneField.of(labels, want) if want else None
        if field is None:
            notes.append(f"{name}: not in the label map; pedicles from the anatomy stage")
            continue
        peds = dict(v.pedicles)
        for side in ("left", "right"):
            lo, hi = rules.screw_angle_ranges_deg.medial.get(name, (0.0, 45.0))
            fitted = fit_corridor(v, side, field, (lo, hi), v.pedicles.get(side))
            if fitted is not None:
                peds[side] = fitted
                notes.append(
                    f"{name} {side}: screw corridor fitted on the label map "
                    f"({fitted.width_mm:.1f} mm wide, chord {fitted.chord_mm:.0f} mm)"
                )
            else:
                notes.append(f"{name} {side}: no bone corridor found on the label map")
        vertebrae[name] = v.model_copy(update={"pedicles": peds})
    return geometry.model_copy(update={"vertebrae": vertebrae}), notes
