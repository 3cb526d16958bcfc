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

Z_STEP = 1.0


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
    """Every piece of disc material beyond the outline (a bulge is one piece)."""
    crit = criteria("herniation")
    key = site.spine.discs[site.segment]
    h = ol.half_height
    zs = np.arange(
        -h - crit["sequestration_search_mm"], h + crit["sequestration_search_mm"] + 1e-9, Z_STEP
    )
    gx, gy = np.meshgrid(XS, YS, indexing="ij")
    pts = site.world(gx[None], gy[None], zs[:, None, None] + 0 * gx[None])
    disc = site.labels_at(pts) == key  # (z, x, y)
    tol = int(round(crit["tolerance_mm"] / STEP_MM))
    inside = ndimage.binary_dilation(ol.mask, iterations=tol) if tol else ol.mask
    outside_dist = ndimage.distance_transform_edt(~ol.mask) * STEP_MM  # mm from the outline
    planes = disc_surfaces(site)
    if planes is None:
        top, bottom = np.full_like(gx, h), np.full_like(gx, -h)
    else:
        top = planes[0][0] + planes[0][1] * gx + planes[0][2] * gy
        bottom = planes[1][0] + planes[1][1] * gx + planes[1][2] * gy
    z3 = zs[:, None, None]
    in_space = (z3 <= top[None] + Z_STEP) & (z3 >= bottom[None] - Z_STEP)
    behind = (gy <= ol.posterior_y)[None]
    # beyond the disc space vertically, only what lies behind the bodies (migrated into the canal)
    beyond = disc & ~inside[None] & (in_space | behind)
    parent = disc & inside[None] & in_space
    if not beyond.any():
        return []
    lab, n = ndimage.label(beyond, structure=np.ones((3, 3, 3)))
    grown_parent = ndimage.binary_dilation(parent, structure=np.ones((3, 3, 3)), iterations=2)
    mid_k = int(np.argmin(np.abs(zs)))
    angle = np.degrees(np.arctan2(gy, gx))
    pieces: list[Displaced] = []
    for k in range(1, n + 1):
        piece = lab == k
        if piece.sum() * STEP_MM * STEP_MM * Z_STEP < crit["min_volume_mm3"]:
            continue
        dist = outside_dist[piece.any(axis=0)]
        extent = float(dist.max()) if dist.size else 0.0
        foot = piece.any(axis=0)
        section = piece[mid_k]
        area = float(section.sum() * STEP_MM * STEP_MM)
        bins = np.unique(np.floor(angle[foot] / 5.0))
        circumference = len(bins) * 5.0 / 360.0
        joined = bool((piece & grown_parent).any())
        over = np.where(piece, z3 - top[None], -np.inf).max()
        under = np.where(piece, bottom[None] - z3, -np.inf).max()
        migration = float(max(over, under, 0.0))
        xy = np.stack([gx[foot], gy[foot]], axis=1)
        centre = xy.mean(axis=0)
        # base: the piece where it meets the outline; dome: its widest parallel to the base
        base_pts = xy[outside_dist[foot] <= crit["tolerance_mm"] + STEP_MM]
        normal = centre / max(float(np.linalg.norm(centre)), 1e-6)
        if len(base_pts) >= 2:
            _, _, vt = np.linalg.svd(base_pts - base_pts.mean(axis=0), full_matrices=False)
            tangent = vt[0]
        else:
            tangent = np.array([-normal[1], normal[0]])
        base = _tangent_spread(base_pts, tangent) if joined else 0.0
        far = xy[outside_dist[foot] >= 1.5]
        dome = _tangent_spread(far, tangent)
        if extent < crit["min_extent_mm"] and (
            circumference < crit["bulge_min_circumference"] or not joined
        ):
            continue
        if not joined:
            kind = "sequestration"
        elif (
            circumference >= crit["bulge_min_circumference"]
            and extent <= crit["bulge_max_extent_mm"]
        ):
            kind = "bulge"
        elif dome > crit["extrusion_dome_ratio"] * base or migration > crit["migration_mm"]:
            kind = "extrusion"
        else:
            kind = "protrusion"
        zone, side = (None, None) if kind == "bulge" else zone_of(float(centre[0]), ped)
        pieces.append(
            Displaced(
                kind,
                zone,
                side,
                extent,
                area,
                base,
                dome,
                migration,
                circumference,
                float(centre[0]),
            )
        )
    return pieces


def measure_herniation(
    site: DiscSite, ol: Outline | None, ped: Pedicles | None
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
