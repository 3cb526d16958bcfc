"""Disc material beyond the disc space on MR: bulge, protrusion, extrusion or sequestration by its
shape (the combined task forces' nomenclature, Fardon 2014), its AP extent and area, and where it
lies (central, subarticular, foraminal, extraforaminal; left or right).

Read on the disc label in the disc's frame (:mod:`spinefuse.assess.mr_levels`); method, cut-offs
and sources in block ``herniation`` and ``zones`` of ``data/mr_criteria.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from spinefuse.assess.assessment import Measurement, NotMeasured
from spinefuse.assess.mr_levels import (
    STEP_MM,
    XS,
    YS,
    DiscSite,
    Outline,
    Pedicles,
    criteria,
    disc_surfaces,
    method,
    source,
)
from spinefuse.imaging.mr_series import MrImage


@dataclass(frozen=True)
class Displaced:
    """One piece of disc material beyond the disc space."""

    kind: str  # bulge, protrusion, extrusion, sequestration
    zone: str | None
    side: str | None  # left, right; None for a central piece or a bulge
    extent_mm: float
    area_mm2: float
    base_mm: float
    dome_mm: float
    migration_mm: float
    circumference: float
    centre_x: float


def zone_of(x: float, ped: Pedicles | None) -> tuple[str | None, str | None]:
    """Zone and side of a lateral offset ``x`` (mm, + right) by the level's pedicle edges."""
    side = "right" if x > 0 else "left"
    if ped is None:
        return None, side
    frac = criteria("zones")["central_max_pedicle_fraction"]
    medial, lateral = ped.medial[side], ped.lateral[side]
    d = abs(x)
    if d < frac * medial:
        return "central", None if d < 0.15 * medial else side
    if d < medial:
        return "subarticular", side
    if d < lateral:
        return "foraminal", side
    return "extraforaminal", side


def _tangent_spread(xy: NDArray[np.float64], tangent: NDArray[np.float64]) -> float:
    if len(xy) == 0:
        return 0.0
    t = xy @ tangent
    return float(t.max() - t.min() + STEP_MM)


def find_displaced(site: DiscSite, ol: Outline, ped: Pedicles | None) -> list[Displaced]:
    """Every piece of disc material beyond the outline (a bulge is one piece), read on the
    disc label's own voxels placed in the disc's frame."""
    crit = criteria("herniation")
    labels = site.spine.labels
    key = site.spine.discs[site.segment]
    arr = np.asarray(labels.array)
    ijk = np.argwhere(arr == key)
    lo = np.maximum(ijk.min(axis=0) - 2, 0)
    hi = np.minimum(ijk.max(axis=0) + 3, np.array(arr.shape))
    local = (labels.voxel_to_world(ijk.astype(float)) - site.centre) @ site.rot
    ix = np.clip(np.rint((local[:, 0] - XS[0]) / STEP_MM).astype(int), 0, len(XS) - 1)
    iy = np.clip(np.rint((local[:, 1] - YS[0]) / STEP_MM).astype(int), 0, len(YS) - 1)
    tol = int(round(crit["tolerance_mm"] / STEP_MM))
    inside_mask = ndimage.binary_dilation(ol.mask, iterations=tol) if tol else ol.mask
    outside_dist = np.asarray(ndimage.distance_transform_edt(~ol.mask)) * STEP_MM
    planes = disc_surfaces(site)
    h = ol.half_height
    x, y, z = local[:, 0], local[:, 1], local[:, 2]
    if planes is None:
        top, bottom = np.full_like(x, h), np.full_like(x, -h)
    else:
        top = planes[0][0] + planes[0][1] * x + planes[0][2] * y
        bottom = planes[1][0] + planes[1][1] * x + planes[1][2] * y
    vz = float(np.abs(labels.affine[:3, :3].T @ site.rot[:, 2]).max())  # voxel step along z
    in_space = (z <= top + vz) & (z >= bottom - vz)
    inside = inside_mask[ix, iy]
    # beyond the disc space vertically, only what lies behind the bodies (migrated into the canal)
    beyond = ~inside & (in_space | (y <= ol.posterior_y))
    parent = inside & in_space
    if not beyond.any():
        return []
    shape = tuple(hi - lo)
    grid_b = np.zeros(shape, dtype=bool)
    grid_p = np.zeros(shape, dtype=bool)
    rel = ijk - lo
    grid_b[tuple(rel[beyond].T)] = True
    grid_p[tuple(rel[parent].T)] = True
    lab, n = ndimage.label(grid_b, structure=np.ones((3, 3, 3)))
    grown = ndimage.binary_dilation(grid_p, structure=np.ones((3, 3, 3)))
    comp = lab[tuple(rel.T)]
    voxel = float(np.prod(labels.spacing))
    angle = np.degrees(np.arctan2(y, x))
    pieces: list[Displaced] = []
    for k in range(1, n + 1):
        sel = comp == k
        if sel.sum() * voxel < crit["min_volume_mm3"]:
            continue
        dist = outside_dist[ix[sel], iy[sel]]
        extent = float(dist.max())
        circumference = len(np.unique(np.floor(angle[sel] / 5.0))) * 5.0 / 360.0
        joined = bool(grown[lab == k].any())
        if circumference < crit["bulge_min_circumference"] and extent < crit["min_extent_mm"]:
            continue
        mid = sel & (np.abs(z) <= 0.5 * vz)
        area = float(mid.sum() * voxel / vz)
        migration = float(max((z[sel] - top[sel]).max(), (bottom[sel] - z[sel]).max(), 0.0))
        xy = np.stack([x[sel], y[sel]], axis=1)
        apex = xy[int(np.argmax(dist))]
        base_pts = xy[dist <= crit["tolerance_mm"] + 1.0]
        normal = apex / max(float(np.linalg.norm(apex)), 1e-6)
        if len(base_pts) >= 2:
            _, _, vt = np.linalg.svd(base_pts - base_pts.mean(axis=0), full_matrices=False)
            tangent = vt[0]
        else:
            tangent = np.array([-normal[1], normal[0]])
        base = _tangent_spread(base_pts, tangent) if joined else 0.0
        dome = _tangent_spread(xy[dist >= crit["tolerance_mm"] + 1.5], tangent)
        if not joined:
            kind = "sequestration"
        elif circumference >= crit["bulge_min_circumference"]:
            kind = "bulge"
        elif dome > crit["extrusion_dome_ratio"] * base or migration > crit["migration_mm"]:
            kind = "extrusion"
        else:
            kind = "protrusion"
        # where it leaves the disc (its base); a free fragment where it lies
        where = (
            float(np.mean(base_pts[:, 0])) if joined and len(base_pts) else float(xy[:, 0].mean())
        )
        zone, side = (None, None) if kind == "bulge" else zone_of(where, ped)
        pieces.append(
            Displaced(kind, zone, side, extent, area, base, dome, migration, circumference, where)
        )
    bulges = [p for p in pieces if p.kind == "bulge"]
    if bulges:  # the ends of a bulge's ring are the bulge, not herniations beside it
        reach = max(b.extent_mm for b in bulges) + crit["tolerance_mm"]
        pieces = [p for p in pieces if p.kind in ("bulge", "sequestration") or p.extent_mm > reach]
    return sorted(pieces, key=lambda p: -p.extent_mm)


def too_coarse(site: DiscSite, labelled: MrImage, ap_mm: float, lateral_mm: float) -> str | None:
    """Why the labelled series is too coarse in the disc's plane, or None."""
    ap = labelled.extent_along(site.rot[:, 1])
    lateral = labelled.extent_along(site.rot[:, 0])
    if ap <= ap_mm and lateral <= lateral_mm:
        return None
    return (
        f"the labels ({labelled.label()}) have {ap:.1f} mm voxels front to back and "
        f"{lateral:.1f} mm side to side in the disc's plane; at most {ap_mm:g} and "
        f"{lateral_mm:g} mm tell disc material beyond the disc space from the labels' edges"
    )


def measure_herniation(
    site: DiscSite, ol: Outline | None, ped: Pedicles | None, labelled: MrImage | None = None
) -> tuple[list[Measurement], list[NotMeasured]]:
    """A measurement ``herniation_extent`` (mm) per displaced piece with its class, zone and
    side, and ``herniation_area`` (mm²) on the axial section through the disc."""
    level = site.segment
    if site.partial:
        return [], [
            NotMeasured(
                name="herniation_extent", level=level, reason="the disc is cut by the field of view"
            )
        ]
    if ol is None:
        reason = "no disc-space outline: both neighbouring bodies must be labelled next to the disc"
        return [], [NotMeasured(name="herniation_extent", level=level, reason=reason)]
    crit = criteria("herniation")
    if labelled is not None:
        coarse = too_coarse(site, labelled, crit["max_voxel_ap_mm"], crit["max_voxel_lateral_mm"])
        if coarse is not None:
            return [], [NotMeasured(name="herniation_extent", level=level, reason=coarse)]
    out: list[Measurement] = []
    missing: list[NotMeasured] = []
    for d in find_displaced(site, ol, ped):
        detail = {
            "class": d.kind,
            "base_mm": f"{d.base_mm:.1f}",
            "dome_mm": f"{d.dome_mm:.1f}",
            "migration_mm": f"{d.migration_mm:.1f}",
            "circumference_pct": f"{100 * d.circumference:.0f}",
        }
        if d.zone is not None:
            detail["zone"] = d.zone
        if d.side is not None:
            detail["side"] = d.side
        for name, value, unit in (
            ("herniation_extent", d.extent_mm, "mm"),
            ("herniation_area", d.area_mm2, "mm2"),
        ):
            out.append(
                Measurement(
                    name=name,
                    value=value,
                    unit=unit,
                    level=level,
                    method=method("herniation"),
                    source=source("herniation"),
                    detail=detail,
                )
            )
        if d.kind != "bulge" and d.zone is None:
            missing.append(
                NotMeasured(
                    name="herniation_zone",
                    level=level,
                    reason="the pedicles that bound the zones are not in the labels",
                )
            )
    return out, missing
