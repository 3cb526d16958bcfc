"""Screw corridors fitted on a label map: the straight line through a pedicle with the most bone
around it.

Where the pedicle measurement could not resolve a pedicle (coarse voxels) or to check the one it
found, the anatomy stage searches lines through the pedicle region of the vertebra's own label:
for each candidate (a point near the expected isthmus, a medial angle within the published range
for the level, a cranial angle), the clearance is the distance from the line to the nearest
voxel outside the bone (a Euclidean distance transform of the mask, sampled along the line). The
corridor is the line whose narrowest clearance, at the isthmus, is widest. The candidates are
evaluated in two vectorised passes, coarse then fine. Points in the world frame (RAS, mm).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from spinefuse.anatomy.bone_field import BoneField
from spinefuse.anatomy.geometry import Pedicle, SpineGeometry, Vertebra
from spinefuse.anatomy.method import setting
from spinefuse.conventions import LUMBAR, Side

F64 = NDArray[np.float64]

# search window around the expected isthmus (mm) and angles (deg, in the vertebra frame)
OFFSETS_MM = np.arange(-7.5, 7.51, 1.5)
DEPTH_OFFSETS_MM = np.array([-3.0, 0.0, 3.0])
CRANIAL_DEG = np.arange(-15.0, 15.01, 3.0)
ISTHMUS_WINDOW_MM = (-2.0, 10.0)  # along the line, around the expected isthmus
BODY_REACH_MM = 40.0  # the corridor must stay in bone this far forward
BACK_REACH_MM = 25.0  # how far back from the isthmus the entry is looked for
LEAD_IN_MM = 3  # samples (1 mm apart) past the entry where the screw engages the cortex
MEDIAL_STEP_DEG = 2.5
REFINED = 10  # coarse lines refined in the second pass


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


def _lines(
    centre: F64, offsets: tuple[F64, F64, F64], medial_deg: F64, cranial_deg: F64, lat: float
) -> tuple[F64, F64]:
    """Every combination of a start point (``centre`` plus the x, y, z offsets) and a direction
    (medial and cranial angles), as ``(K, 3)`` starts and unit directions in the local frame."""
    ox, oy, oz = np.meshgrid(*offsets, indexing="ij")
    starts: F64 = centre + np.column_stack([ox.ravel(), oy.ravel(), oz.ravel()])
    mg, cg = np.meshgrid(np.radians(medial_deg), np.radians(cranial_deg), indexing="ij")
    m, c = mg.ravel(), cg.ravel()
    dirs = np.column_stack([-lat * np.sin(m) * np.cos(c), np.cos(m) * np.cos(c), np.sin(c)])
    k = np.arange(len(starts) * len(dirs))
    return starts[k // len(dirs)], dirs[k % len(dirs)]


@dataclass(frozen=True)
class _Scored:
    """Candidate lines sampled every 1 mm along ``T``: world points, clearance and the score."""

    world: F64  # (K, T, 3)
    clear: F64  # (K, T)
    inside: NDArray[np.bool_]  # (K, T)
    entry_k: NDArray[np.int64]  # (K,) index of the entry sample
    on_path: NDArray[np.bool_]  # (K, T) from the lead-in past the entry onward
    score: F64  # (K,)


def _score(field: BoneField, rot: F64, origin: F64, starts: F64, dirs: F64) -> _Scored:
    """The narrowest clearance of each line from 3 mm past its entry to 40 mm into the body (a
    line that does not start in bone scores -inf), plus a hundredth of its mean clearance near
    the isthmus, so among equally wide corridors the better centred one wins."""
    t = _T
    local = starts[:, None, :] + t[None, :, None] * dirs[:, None, :]
    world = local @ rot.T + origin  # (K, T, 3)
    clear = field.clearance(world)
    half_voxel = 0.5 * float(field.spacing.mean())
    # each line's entry: where the bone run through the start point ends posteriorly
    k0 = int(np.argmin(np.abs(t)))
    inside = clear > half_voxel
    run = np.cumprod(inside[:, k0::-1], axis=-1).sum(axis=-1)  # samples back to the exit
    entry_k = k0 - run + 1
    on_path = (np.arange(len(t)) >= (entry_k + LEAD_IN_MM)[:, None]) & (run > 0)[:, None]
    score = np.where(on_path, clear, np.inf).min(axis=-1)
    score = np.where(run > 0, score, -np.inf)
    near = (t >= ISTHMUS_WINDOW_MM[0]) & (t <= ISTHMUS_WINDOW_MM[1])
    score = score + 0.01 * clear[:, near].mean(axis=-1)
    return _Scored(world, clear, inside, entry_k, on_path, score)


_T = np.arange(-BACK_REACH_MM, BODY_REACH_MM + 0.01, 1.0)


def _search(
    field: BoneField, rot: F64, origin: F64, p0: F64, medial: tuple[float, float], lat: float
) -> tuple[_Scored, int, F64]:
    """The best line, coarse to fine: the window at twice the final steps first, then the final
    steps around each of the best coarse lines (about a tenth of the exhaustive search's
    samples; a test holds its corridors to the exhaustive search's)."""
    coarse_medial = np.arange(medial[0], medial[1] + 0.01, 2 * MEDIAL_STEP_DEG)
    starts, dirs = _lines(
        p0,
        (OFFSETS_MM[::2], DEPTH_OFFSETS_MM, OFFSETS_MM[::2]),
        coarse_medial,
        CRANIAL_DEG[::2],
        lat,
    )
    coarse = _score(field, rot, origin, starts, dirs)
    step = OFFSETS_MM[1] - OFFSETS_MM[0]
    cstep = CRANIAL_DEG[1] - CRANIAL_DEG[0]
    near = np.array([-step, 0.0, step])
    fine_starts, fine_dirs = [], []
    for best in np.argsort(coarse.score)[::-1][:REFINED]:
        d = dirs[best]
        medial_deg = float(np.degrees(np.arctan2(-lat * d[0], d[1])))
        cranial_deg = float(np.degrees(np.arcsin(np.clip(d[2], -1.0, 1.0))))
        fine_medial = medial_deg + np.array([-MEDIAL_STEP_DEG, 0.0, MEDIAL_STEP_DEG])
        keep = (fine_medial >= medial[0] - 1e-6) & (fine_medial <= medial[1] + 1e-6)
        a, b = _lines(
            starts[best],
            (near, np.zeros(1), near),
            fine_medial[keep],
            cranial_deg + np.array([-cstep, 0.0, cstep]),
            lat,
        )
        fine_starts.append(a)
        fine_dirs.append(b)
    all_dirs = np.concatenate(fine_dirs)
    fine = _score(field, rot, origin, np.concatenate(fine_starts), all_dirs)
    k = int(np.argmax(fine.score))
    return fine, k, rot @ all_dirs[k]


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
    found, i, axis = _search(field, rot, origin, p0, medial_range_deg, lat)
    if not np.isfinite(found.score[i]):
        return None
    half_voxel = 0.5 * float(field.spacing.mean())
    clear, on_path, world = found.clear[i], found.on_path[i], found.world[i]
    if float(np.where(on_path, clear, np.inf).min()) <= half_voxel:
        return None  # no line stays in bone from its entry to the body
    t = _T
    near = (t >= ISTHMUS_WINDOW_MM[0]) & (t <= ISTHMUS_WINDOW_MM[1])
    window = near & on_path
    if not window.any():
        return None
    # the isthmus: the station of the window with the narrowest bone across the line
    across = np.cross(axis, rot[:, 2])
    across /= np.linalg.norm(across)
    up = np.cross(across, axis)
    stations = world[window]
    widths = _extent(field, stations, across)
    heights = _extent(field, stations, up)
    # the run across the line can follow bone that merges with the pedicle on a coarse grid
    # (transverse process, lamina): the clearance bounds it, twice the distance from the axis to
    # the nearest voxel outside the bone
    cap = 2.0 * clear[window]
    widths, heights = np.minimum(widths, cap), np.minimum(heights, cap)
    k = int(np.argmin(widths))
    isthmus = stations[k]
    width, height = float(widths[k]), float(heights[k])
    if guess is not None:  # measured by the anatomy stage too: keep the narrower (safer) one
        width, height = min(width, guess.width_mm), min(height, guess.height_mm)
    if min(width, height) <= 1.0:
        return None
    entry_k = int(found.entry_k[i])
    entry = world[entry_k]
    k0 = int(np.argmin(np.abs(t)))
    front = k0
    inside = found.inside[i]
    while front < len(t) - 1 and inside[front + 1]:  # walks 1 mm samples along one line
        front += 1
    if front == len(t) - 1:  # still in bone at the end of the sampled line: extend the walk
        s_more = np.arange(t[-1], t[-1] + 60.0, 0.5)
        more = field.inside(world[0] + (s_more[:, None] - t[0]) * axis)
        reach = float(s_more[np.argmin(more)] if not more.all() else s_more[-1])
    else:
        reach = float(t[front]) + 0.5
    chord = reach - float(t[entry_k])
    return Pedicle(
        side=side,
        isthmus_centre=(float(isthmus[0]), float(isthmus[1]), float(isthmus[2])),
        axis=(float(axis[0]), float(axis[1]), float(axis[2])),
        width_mm=width,
        height_mm=height,
        entry_point=(float(entry[0]), float(entry[1]), float(entry[2])),
        chord_mm=chord,
    )


def with_corridors(geometry: SpineGeometry, fields: dict[str, BoneField]) -> SpineGeometry:
    """The geometry with the screw corridors of both pedicles of every whole lumbar or sacral
    vertebra fitted on its bone field (``fields``: vertebra -> field), starting from the
    pedicle the anatomy measured where it found one. A vertebra cut by the field of view gets
    none: no screw is planned in bone the scan does not show whole."""
    ranges = setting("pedicle_transverse_angle_deg")
    vertebrae = dict(geometry.vertebrae)
    for name, v in geometry.vertebrae.items():
        field = fields.get(name)
        if name not in (*LUMBAR, "L6") or v.partial or field is None:
            continue
        lo, hi = ranges.get(name, ranges["L5" if name == "L6" else "L1"])
        corridors: dict[Side, Pedicle] = {}
        for side in ("left", "right"):
            fitted = fit_corridor(v, side, field, (float(lo), float(hi)), v.pedicles.get(side))
            if fitted is not None:
                corridors[side] = fitted
        vertebrae[name] = v.model_copy(update={"corridors": corridors})
    return geometry.model_copy(update={"vertebrae": vertebrae})
