"""A single-class vertebra map (every vertebra one ID, as TotalSegmentator's ``total_mr``) split
into levels.

The cuts are the discs: each connected piece of the disc label is a plane (its centroid and the
normal of its least extent); without a disc label, the gaps of the vertebra label along the
spine's long axis are. Every vertebra voxel goes to the interval between the cuts it lies between.
The intervals are named upward from an anchor: the sacrum when it is labelled (the interval just
above it is L5), or the case's ``lowest_in_view`` (the lowest vertebra in the field of view). With
neither, the levels cannot be named and the map is refused with the reason. Thresholds are in
``data/mr_criteria.yaml`` (block ``level_split``). World frame RAS, mm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from spinefuse.conventions import VERTEBRAE, segment_name
from spinefuse.datafiles import load_yaml
from spinefuse.errors import LabelMapError
from spinefuse.imaging.volume import Volume

F64 = NDArray[np.float64]


@dataclass(frozen=True)
class SplitLevels:
    """The split map in the resolved numbering (:mod:`spinefuse.imaging.label_conventions`),
    its vertebrae (level -> ID, head to pelvis) and discs (segment -> ID), and how it was done."""

    array: NDArray[np.int16]
    vertebrae: dict[str, int]
    discs: dict[str, int]
    detail: str


def _criteria() -> dict[str, float]:
    block: dict[str, float] = load_yaml("mr_criteria.yaml")["level_split"]
    return block


def _world(labels: Volume, mask: NDArray[np.bool_]) -> F64:
    return labels.voxel_to_world(np.argwhere(mask).astype(float))


def _principal_axis(points: F64) -> F64:
    """The long axis of a point cloud, pointing to the head (+z)."""
    centred = points - points.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    axis = np.asarray(vt[0] / np.linalg.norm(vt[0]), dtype=float)
    return axis if axis[2] >= 0 else -axis


def _least_axis(points: F64, toward: F64) -> F64:
    centred = points - points.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    n = np.asarray(vt[2] / np.linalg.norm(vt[2]), dtype=float)
    return n if n @ toward >= 0 else -n


def _disc_cuts(
    labels: Volume, disc: NDArray[np.bool_], axis: F64, min_mm3: float, merge_mm: float
) -> list[tuple[F64, F64, NDArray[np.bool_]]]:
    """(centre, normal, mask) of every disc of at least ``min_mm3``, head to pelvis; pieces
    whose centres lie within ``merge_mm`` of each other along the axis are one disc."""
    voxel = float(np.prod(labels.spacing))
    lab, n = ndimage.label(disc, structure=np.ones((3, 3, 3)))
    pieces = []
    for k in range(1, n + 1):
        mask = lab == k
        if mask.sum() * voxel >= min_mm3:
            pieces.append(mask)
    pieces.sort(key=lambda m: -float(_world(labels, m).mean(axis=0) @ axis))
    merged: list[NDArray[np.bool_]] = []
    for mask in pieces:
        here = float(_world(labels, mask).mean(axis=0) @ axis)
        if merged and float(_world(labels, merged[-1]).mean(axis=0) @ axis) - here < merge_mm:
            merged[-1] = merged[-1] | mask
        else:
            merged.append(mask)
    cuts = []
    for mask in merged:
        pts = _world(labels, mask)
        cuts.append((pts.mean(axis=0), _least_axis(pts, axis), mask))
    return cuts


def _gap_cuts(
    labels: Volume, vert: NDArray[np.bool_], axis: F64, fraction: float
) -> list[tuple[F64, F64]]:
    """Cut planes at the gaps of the vertebra label along ``axis`` (head to pelvis)."""
    pts = _world(labels, vert)
    s = pts @ axis
    step = float(labels.spacing.min())
    edges = np.arange(s.min(), s.max() + step, step)
    counts, _ = np.histogram(s, bins=edges)
    full = np.median(counts[counts > 0])
    low = counts < fraction * full
    cuts: list[tuple[F64, F64]] = []
    lab, n = ndimage.label(low)
    for k in range(1, n + 1):
        idx = np.flatnonzero(lab == k)
        if idx[0] == 0 or idx[-1] == len(counts) - 1:
            continue  # the ends of the label, not a gap between vertebrae
        mid = 0.5 * (edges[idx[0]] + edges[idx[-1] + 1])
        centre = pts.mean(axis=0) + (mid - float(pts.mean(axis=0) @ axis)) * axis
        cuts.append((centre, axis.copy()))
    cuts.sort(key=lambda c: -float(c[0] @ axis))
    return cuts


def _names_upward(lowest: str, count: int) -> list[str]:
    """``count`` vertebra names ending with ``lowest``, head to pelvis (L6 skipped unless it is
    the lowest)."""
    order = [v for v in VERTEBRAE if v != "L6" or lowest == "L6"]
    k = order.index(lowest)
    if k - count + 1 < 0:
        raise LabelMapError(f"{count} levels above and including {lowest} run past C1")
    return order[k - count + 1 : k + 1]


def split_levels(
    labels: Volume,
    vertebra_id: int,
    disc_id: int | None,
    sacrum_id: int | None,
    lowest_in_view: str | None,
) -> SplitLevels:
    """Split the single vertebra ID of ``labels`` into levels (see the module docstring)."""
    crit = _criteria()
    arr = np.asarray(labels.array)
    src = labels.source or "label map"
    vert = arr == vertebra_id
    voxel = float(np.prod(labels.spacing))
    if vert.sum() * voxel < crit["min_vertebra_mm3"]:
        raise LabelMapError(f"{src}: no vertebrae (ID {vertebra_id}) to split into levels")
    disc = arr == disc_id if disc_id is not None else np.zeros_like(vert)
    sacrum = arr == sacrum_id if sacrum_id is not None else np.zeros_like(vert)
    axis = _principal_axis(_world(labels, vert | disc))
    cuts3 = (
        _disc_cuts(labels, disc, axis, crit["min_disc_mm3"], crit["merge_mm"]) if disc.any() else []
    )
    if cuts3:
        planes = [(c, n) for c, n, _ in cuts3]
        how = f"split at {len(planes)} disc(s) of ID {disc_id}"
    else:
        planes = _gap_cuts(labels, vert, axis, crit["gap_fraction"])
        how = f"split at {len(planes)} gap(s) of the vertebra label along the spine's axis"
    # every vertebra voxel: the number of cut planes above it is its interval's index
    ijk = np.argwhere(vert)
    pts = labels.voxel_to_world(ijk.astype(float))
    below = np.zeros(len(pts), dtype=np.int64)
    for c, n in planes:
        below += ((pts - c) @ n < 0).astype(np.int64)
    n_int = len(planes) + 1
    volumes = np.bincount(below, minlength=n_int) * voxel
    kept = [k for k in range(n_int) if volumes[k] >= crit["min_vertebra_mm3"]]
    if not kept:
        raise LabelMapError(f"{src}: no piece of the vertebra label is large enough for a vertebra")
    has_sacrum = sacrum.sum() * voxel >= crit["min_vertebra_mm3"]
    if lowest_in_view is not None:
        lowest = lowest_in_view.upper()
        if lowest not in VERTEBRAE or lowest == "S1":
            raise LabelMapError(
                f"segmentation.options.lowest_in_view = {lowest_in_view!r}: name a vertebra "
                "above the sacrum, e.g. 'L5' or 'T12'"
            )
        if has_sacrum and lowest not in ("L5", "L6"):
            raise LabelMapError(
                f"segmentation.options.lowest_in_view = {lowest!r}, but the sacrum (ID "
                f"{sacrum_id}) is in view: the vertebra above it is L5 (L6 with a transitional "
                "spine); correct the option or remove it"
            )
        anchor = f"the lowest vertebra in view named {lowest} (segmentation.options.lowest_in_view)"
    elif has_sacrum:
        lowest = "L5"
        anchor = (
            f"named upward from the sacrum (ID {sacrum_id}): the vertebra above it is L5 "
            "(a transitional L6 or sacralised L5 is not detected; name it with lowest_in_view)"
        )
    else:
        raise LabelMapError(
            f"{src}: every vertebra has the one ID {vertebra_id} and no sacrum is in view, so "
            f"the {len(kept)} vertebrae found cannot be named; give segmentation.options."
            "lowest_in_view (the lowest vertebra in view, e.g. 'L3'), or a label map with a "
            "label per level"
        )
    # names for every interval, counted from the lowest kept one
    last = kept[-1]
    top_names = _names_upward(lowest, last + 1)
    interval_name = dict(enumerate(top_names))
    below_name = "S1" if lowest in ("L5", "L6") else VERTEBRAE[VERTEBRAE.index(lowest) + 1]
    for k in range(last + 1, n_int + 1):
        interval_name[k] = below_name if k == last + 1 else f"below-{k}"
    from spinefuse.imaging.label_conventions import DISC_OFFSET, resolved_id

    out = np.zeros(arr.shape, dtype=np.int16)
    vertebrae: dict[str, int] = {}
    for k in kept:
        name = interval_name[k]
        vertebrae[name] = resolved_id(name)
        sel = ijk[below == k]
        out[sel[:, 0], sel[:, 1], sel[:, 2]] = vertebrae[name]
    if has_sacrum:
        out[sacrum & (out == 0)] = resolved_id("S1")
        vertebrae["S1"] = resolved_id("S1")
    discs: dict[str, int] = {}
    for k, (_, _, mask) in enumerate(cuts3):
        upper, lower = interval_name[k], interval_name[k + 1]
        if lower.startswith("below-"):
            continue
        seg = segment_name(upper, lower)
        discs[seg] = DISC_OFFSET + resolved_id(upper)
        out[mask & (out == 0)] = discs[seg]
    dropped = [k for k in range(n_int) if 0 < volumes[k] < crit["min_vertebra_mm3"]]
    note = (
        f"; {len(dropped)} fragment(s) under {crit['min_vertebra_mm3']:g} mm³ left out"
        if dropped
        else ""
    )
    names = ", ".join(vertebrae)
    return SplitLevels(out, vertebrae, discs, f"{how}, {anchor}: {names}{note}")
