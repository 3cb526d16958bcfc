"""Facet joint effusion on MR: the width of the fluid in each facet joint of a segment on T2.
Block ``facet_effusion`` of ``data/mr_criteria.yaml``."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from spinefuse.assess.assessment import Measurement, NotMeasured
from spinefuse.assess.mr_levels import (
    DiscSite,
    Outline,
    criteria,
    csf_reference,
    method,
    sample_image,
    source,
)
from spinefuse.assess.mr_stenosis import axial_t2
from spinefuse.imaging.mr_series import MrSeries

STEP = 0.2


def _joint(site: DiscSite, ol: Outline, sign: float) -> tuple[np.ndarray, np.ndarray] | None:
    """Midpoint and unit direction (lower to upper bone) of a facet joint: where the two
    vertebra labels come closest (horizontally) behind the canal on one side."""
    spine = site.spine
    arr = np.asarray(spine.labels.array)
    pts = {}
    for name in (site.upper, site.lower):
        if name not in spine.vertebrae:
            return None
        world = spine.labels.voxel_to_world(np.argwhere(arr == spine.vertebrae[name]).astype(float))
        local = (world - site.centre) @ site.rot
        keep = (
            (local[:, 1] < ol.posterior_y - 4.0)
            & (sign * local[:, 0] > 5.0)
            & (np.abs(local[:, 2]) < 20.0)
        )
        if keep.sum() < 5:
            return None
        pts[name] = local[keep]
    # the joint faces across the horizontal (facet surfaces stand upright): closest approach with
    # height differences weighed threefold, so an articular tip above a lamina does not count
    scale = np.array([1.0, 1.0, 3.0])
    tree = cKDTree(pts[site.lower] * scale)
    dist, idx = tree.query(pts[site.upper] * scale)
    order = np.argsort(dist)[:10]
    if dist[order[0]] > 8.0:
        return None
    up, low = pts[site.upper][order], pts[site.lower][idx[order]]
    mid = 0.5 * (up + low).mean(axis=0)
    d = (up - low).mean(axis=0)
    norm = float(np.linalg.norm(d))
    if norm < 1e-6:
        return None
    return site.world(*mid), site.rot @ (d / norm)


def measure_effusion(
    site: DiscSite, mr: MrSeries, ol: Outline | None
) -> tuple[list[Measurement], list[NotMeasured]]:
    """``facet_effusion_width`` (mm) of each facet joint of the segment."""
    crit = criteria("facet_effusion")
    name = "facet_effusion_width"
    if ol is None:
        return [], [
            NotMeasured(name=name, level=site.segment, reason="both vertebrae must be labelled")
        ]
    image = axial_t2(site, mr, criteria("schizas")["max_voxel_mm"])
    if image is None:
        reason = "no T2 fine enough across the joints (at most 1.5 mm voxels in the disc's plane)"
        return [], [NotMeasured(name=name, level=site.segment, reason=reason)]
    csf = csf_reference(site, image.volume, "T2")
    if csf is None:
        return [], [NotMeasured(name=name, level=site.segment, reason="no CSF reference")]
    t1 = mr.first("sagittal", "T1")
    t1_ref = float(np.nanpercentile(np.asarray(t1.volume.array), 99)) if t1 is not None else None
    out = []
    for side, sign in (("right", 1.0), ("left", -1.0)):
        joint = _joint(site, ol, sign)
        if joint is None:
            continue
        mid, d = joint
        ts = np.arange(-6.0, 6.0 + 1e-9, STEP)
        pts = mid[None, :] + ts[:, None] * d[None, :]
        fluid = np.nan_to_num(sample_image(image.volume, pts)) > crit["fluid_threshold"] * csf
        if t1 is not None and t1_ref is not None:
            fat = (
                np.nan_to_num(sample_image(t1.volume, pts))
                > criteria("foraminal_lee")["fat_threshold"] * t1_ref
            )
            fluid &= ~fat
        centre = len(ts) // 2
        window = fluid[max(centre - 5, 0) : centre + 6]
        if not window.any():
            width = 0.0
        else:
            k = max(centre - 5, 0) + int(
                np.flatnonzero(window)[np.argmin(np.abs(np.flatnonzero(window) - 5))]
            )
            lo = k
            while lo > 0 and fluid[lo - 1]:
                lo -= 1
            hi = k
            while hi < len(fluid) - 1 and fluid[hi + 1]:
                hi += 1
            width = (hi - lo + 1) * STEP
        out.append(
            Measurement(
                name=name,
                value=width,
                unit="mm",
                level=site.segment,
                normal_range=(0.0, crit["min_width_mm"]),
                method=method("facet_effusion"),
                source=source("facet_effusion"),
                detail={"side": side},
            )
        )
    return out, []
