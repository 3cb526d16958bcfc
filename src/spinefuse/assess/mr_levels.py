"""The disc levels of an MR study, read from its spine labels: each disc's frame, the disc-space
outline of the bodies around it, its thickness, the pedicles that bound its zones, and sampling of
labels and images in that frame.

A disc's frame: origin at the centroid of its label, z the normal of its least extent (toward the
upper vertebra), y anterior (from the canal, or the cord, toward the disc; the patient's anterior
without either), x = y × z to the right. Sections are sampled on a 0.5 mm grid in this frame:
labels by nearest neighbour, images (any series: they share the world frame) by linear
interpolation. World frame RAS, mm.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from spinefuse.datafiles import load_yaml
from spinefuse.imaging.label_conventions import SpineLabels
from spinefuse.imaging.volume import Volume

F64 = NDArray[np.float64]
STEP_MM = 0.5
XS = np.arange(-45.0, 45.0 + 1e-9, STEP_MM)
YS = np.arange(-60.0, 40.0 + 1e-9, STEP_MM)


@cache
def mr_criteria() -> dict[str, Any]:
    """Every block of ``data/mr_criteria.yaml``."""
    data: dict[str, Any] = load_yaml("mr_criteria.yaml")
    return data


def criteria(block: str) -> dict[str, Any]:
    value: dict[str, Any] = mr_criteria()[block]
    return value


def source(block: str) -> str:
    b = criteria(block)
    text = str(b.get("source", "")).strip()
    return text + (" [unverified]" if b.get("certainty") == "unverified" else "")


def method(block: str) -> str:
    """A measurement's method in one line, naming where the full method is."""
    b = criteria(block)
    text = str(b.get("summary") or " ".join(str(b.get("method", "")).split()))
    return f"{text} (data/mr_criteria.yaml: {block})"


@dataclass(frozen=True)
class DiscSite:
    """One disc of the labels: its segment, neighbours, frame and whether it is whole."""

    segment: str
    upper: str
    lower: str
    centre: F64
    rot: F64  # columns x, y, z (world)
    partial: bool
    spine: SpineLabels

    def world(self, x: F64, y: F64, z: F64) -> F64:
        """World points of frame coordinates (broadcast), shape (..., 3)."""
        x, y, z = np.broadcast_arrays(x, y, z)
        local = np.stack([x, y, z], axis=-1)
        return np.asarray(local @ self.rot.T + self.centre, dtype=float)

    def section(self, z: float) -> F64:
        """World points of the 0.5 mm grid of the plane at height ``z``: (len XS, len YS, 3)."""
        gx, gy = np.meshgrid(XS, YS, indexing="ij")
        return self.world(gx, gy, np.full_like(gx, z))

    def labels_at(self, points: F64) -> NDArray[np.int64]:
        return sample_labels(self.spine.labels, points)


def sample_labels(labels: Volume, points: F64) -> NDArray[np.int64]:
    """Label IDs at world points (nearest voxel; −1 outside the grid)."""
    ijk = np.rint(labels.world_to_voxel(points)).astype(np.int64)
    shape = np.array(labels.shape)
    inside = np.all((ijk >= 0) & (ijk < shape), axis=-1)
    out = np.full(points.shape[:-1], -1, dtype=np.int64)
    arr = np.asarray(labels.array)
    sel = ijk[inside]
    out[inside] = arr[sel[:, 0], sel[:, 1], sel[:, 2]]
    return out


def sample_image(volume: Volume, points: F64) -> F64:
    """Image values at world points (linear; NaN outside the grid)."""
    ijk = volume.world_to_voxel(points).reshape(-1, 3).T
    vals = ndimage.map_coordinates(
        np.asarray(volume.array, dtype=np.float32), ijk, order=1, mode="constant", cval=np.nan
    )
    return np.asarray(vals, dtype=float).reshape(points.shape[:-1])


def sample_mask(labels: Volume, key: int, points: F64) -> F64:
    """A label's occupancy at world points, linearly interpolated (partial volume, 0…1)."""
    mask = (np.asarray(labels.array) == key).astype(np.float32)
    ijk = labels.world_to_voxel(points).reshape(-1, 3).T
    vals = ndimage.map_coordinates(mask, ijk, order=1, mode="constant", cval=0.0)
    return np.asarray(vals, dtype=float).reshape(points.shape[:-1])


def _unit(v: F64) -> F64:
    return np.asarray(v / np.linalg.norm(v), dtype=float)


def disc_sites(spine: SpineLabels) -> list[DiscSite]:
    """Every labelled disc between two labelled vertebrae, head to pelvis."""
    labels = spine.labels
    arr = np.asarray(labels.array)
    shape = np.array(labels.shape)
    names = list(spine.vertebrae)
    content = [k for k in (spine.canal, spine.cord) if k is not None]
    sites = []
    for seg, key in spine.discs.items():
        upper, lower = seg.split("-")
        ijk = np.argwhere(arr == key)
        if len(ijk) < 20:
            continue
        pts = labels.voxel_to_world(ijk.astype(float))
        c = pts.mean(axis=0)
        _, _, vt = np.linalg.svd(pts - c, full_matrices=False)
        n = _unit(vt[2])
        if upper in names:
            up = labels.voxel_to_world(np.argwhere(arr == spine.vertebrae[upper]).astype(float))
            toward = up.mean(axis=0) - c
        else:
            toward = np.array([0.0, 0.0, 1.0])
        if n @ toward < 0:
            n = -n
        y = np.array([0.0, 1.0, 0.0])
        for k in content:
            cpts = labels.voxel_to_world(np.argwhere(arr == k).astype(float))
            near = cpts[np.abs((cpts - c) @ n) < 6.0]
            if len(near) >= 5:
                y = c - near.mean(axis=0)
                break
        y = _unit(y - n * (y @ n))
        rot = np.stack([np.cross(y, n), y, n], axis=1)
        partial = bool(np.any(ijk == 0) or np.any(ijk == shape - 1))
        sites.append(DiscSite(seg, upper, lower, c, rot, partial, spine))
    return sites


def disc_thickness(
    site: DiscSite, half_region: float = 0.25, centre: tuple[float, float] | None = None
) -> tuple[F64, F64, F64] | None:
    """Thickness of the disc label along the frame's z (mm) on lines through the central
    region (±``half_region`` of its extent in x and y, about ``centre``, by default the
    middle of its section), and the lines' (x, y); None without a central region. Sampled
    at 0.25 mm along each line."""
    key = site.spine.discs[site.segment]
    mid = site.labels_at(site.section(0.0)) == key
    if mid.sum() < 20:
        return None
    gx, gy = np.meshgrid(XS, YS, indexing="ij")
    x0, x1 = gx[mid].min(), gx[mid].max()
    y0, y1 = gy[mid].min(), gy[mid].max()
    cx, cy = centre if centre is not None else (0.5 * (x0 + x1), 0.5 * (y0 + y1))
    sel = (np.abs(gx - cx) <= half_region * (x1 - x0)) & (
        np.abs(gy - cy) <= half_region * (y1 - y0)
    )
    sel &= mid
    xs, ys = gx[sel], gy[sel]
    zs = np.arange(-15.0, 15.0 + 1e-9, 0.25)
    pts = site.world(xs[:, None], ys[:, None], zs[None, :])
    inside = site.labels_at(pts) == key
    return inside.sum(axis=1) * 0.25, xs, ys


def disc_surfaces(site: DiscSite) -> tuple[F64, F64] | None:
    """Planes fitted to the disc label's upper and lower surfaces over its central region:
    coefficients (c0, cx, cy) of z = c0 + cx·x + cy·y (frame mm); a wedged (lordotic) disc's
    planes tilt apart."""
    key = site.spine.discs[site.segment]
    mid = site.labels_at(site.section(0.0)) == key
    if mid.sum() < 20:
        return None
    gx, gy = np.meshgrid(XS[::2], YS[::2], indexing="ij")
    mid = mid[::2, ::2]
    cx, cy = 0.5 * (gx[mid].min() + gx[mid].max()), 0.5 * (gy[mid].min() + gy[mid].max())
    wx, wy = gx[mid].max() - gx[mid].min(), gy[mid].max() - gy[mid].min()
    sel = mid & (np.abs(gx - cx) <= 0.35 * wx) & (np.abs(gy - cy) <= 0.35 * wy)
    xs, ys = gx[sel], gy[sel]
    zs = np.arange(-15.0, 15.0 + 1e-9, 0.25)
    inside = site.labels_at(site.world(xs[:, None], ys[:, None], zs[None, :])) == key
    ok = inside.any(axis=1)
    if ok.sum() < 10:
        return None
    top = np.where(ok, zs[::-1][np.argmax(inside[:, ::-1], axis=1)], np.nan)[ok]
    bottom = np.where(ok, zs[np.argmax(inside, axis=1)], np.nan)[ok]
    a = np.stack([np.ones(ok.sum()), xs[ok], ys[ok]], axis=1)
    up = np.linalg.lstsq(a, top, rcond=None)[0]
    low = np.linalg.lstsq(a, bottom, rcond=None)[0]
    return np.asarray(up, dtype=float), np.asarray(low, dtype=float)


@dataclass(frozen=True)
class Outline:
    """The disc-space outline in the disc's mid-plane (the bodies' margins, the ring
    apophyses): a mask on the XS × YS grid, the disc's half-height and the posterior margin."""

    mask: NDArray[np.bool_]
    half_height: float
    posterior_y: float  # the posterior margin at the midline (frame y, mm)
    depth: float  # AP extent of the outline at the midline (mm)
    centre_y: float  # the middle of the outline at the midline (frame y, mm)
    upper_depth: float  # AP extent of the upper body's section at the midline (mm)


def outline(site: DiscSite, half_height: float) -> Outline | None:
    """The union of the two neighbouring bodies' sections just beyond the disc (0.5–2.5 mm beyond
    the planes of its upper and lower surfaces), each cut behind its posterior wall, the pieces
    joined to the disc's centre, holes filled; None when a neighbour is missing there."""
    spine = site.spine
    if site.upper not in spine.vertebrae or site.lower not in spine.vertebrae:
        return None
    body = np.zeros((len(XS), len(YS)), dtype=bool)
    upper_depth = 0.0
    centre = (np.abs(XS) <= 3.0)[:, None] & (np.abs(YS) <= 3.0)[None, :]
    mid = np.abs(XS) <= 2.0
    planes = disc_surfaces(site)
    gx, gy = np.meshgrid(XS, YS, indexing="ij")
    for k, (name, sign) in enumerate(((site.upper, 1.0), (site.lower, -1.0))):
        hits = np.zeros_like(body)
        for dz in (0.5, 1.5, 2.5):
            if planes is None:
                z = np.full_like(gx, sign * (half_height + dz))
            else:
                c = planes[k]
                z = c[0] + c[1] * gx + c[2] * gy + sign * dz
            hits |= site.labels_at(site.world(gx, gy, z)) == spine.vertebrae[name]
        # the posterior wall at the midline: where the bone behind the centre first stops;
        # the arch (pedicles, articular processes) lies behind it and is cut away
        column = hits[mid].mean(axis=0) >= 0.5
        back = np.flatnonzero(~column & (YS < 0.0))
        front = np.flatnonzero(column & (YS <= 0.0))
        if not len(front):
            return None
        wall_k = max((k for k in back if k < front.max()), default=-1)
        wall = YS[wall_k + 1] if wall_k >= 0 else YS[0]
        margin = criteria("herniation")["wall_margin_mm"]
        hits &= (YS >= wall - margin)[None, :]
        # under the pedicles the roots of the arch join the body: there the posterior margin is
        # the ellipse through the midline wall and the body's widest row
        ahead = np.flatnonzero(column & (YS >= 0.0))
        if len(ahead):
            anterior = YS[ahead.max()]
            cy, half_d = 0.5 * (anterior + wall), 0.5 * (anterior - wall)
            row = hits[:, int(np.argmin(np.abs(YS - cy)))]
            if row.any():
                xs = XS[row]
                cx, half_w = 0.5 * (xs.min() + xs.max()), 0.5 * (xs.max() - xs.min()) + STEP_MM
                u = np.clip(1.0 - ((gx - cx) / half_w) ** 2, 0.0, 1.0)
                hits &= gy >= cy - half_d * np.sqrt(u) - margin
        lab, _ = ndimage.label(hits)
        keep = np.unique(lab[centre & hits])
        keep = keep[keep > 0]
        if not len(keep):
            return None
        piece = np.isin(lab, keep)
        body |= piece
        if k == 0:
            col = piece[mid].any(axis=0)
            upper_depth = float(YS[col].max() - YS[col].min()) if col.any() else 0.0
    body = ndimage.binary_fill_holes(ndimage.binary_closing(body, iterations=2))
    column = body[np.abs(XS) <= 1.0].any(axis=0)
    if not column.any():
        return None
    ys = YS[column]
    return Outline(
        body,
        half_height,
        float(ys.min()),
        float(ys.max() - ys.min()),
        float(0.5 * (ys.min() + ys.max())),
        upper_depth,
    )


@dataclass(frozen=True)
class Pedicles:
    """The pedicle edges that bound a disc level's zones, per side: distance (mm) of the medial
    and lateral pedicle edges from the canal's midline."""

    medial: dict[str, float]
    lateral: dict[str, float]


def pedicles(site: DiscSite, ol: Outline) -> Pedicles | None:
    """The medial and lateral pedicle edges of each side: rays from the canal's midline outward
    through the neighbouring vertebrae, 2–5 mm behind the body's posterior wall at each height
    (the wall found at the midline of that height); the nearest bone any ray meets is the medial
    edge (a low percentile of the rays' first bone), where that ray leaves the bone the lateral
    edge."""
    spine = site.spine
    ids = [spine.vertebrae[n] for n in (site.upper, site.lower) if n in spine.vertebrae]
    h = ol.half_height
    zs = np.concatenate([np.arange(h + 3.0, h + 22.0, 1.0), -np.arange(h + 3.0, h + 22.0, 1.0)])
    back = np.arange(10.0, -45.0, -0.5)
    column = np.isin(
        site.labels_at(site.world(0.0 * back[None, :], back[None, :], zs[:, None])), ids
    )
    walls = []
    for k in range(len(zs)):
        inside = np.flatnonzero(column[k])
        # the body: bone from in front of the posterior margin, at least 8 mm of it
        if not len(inside) or back[inside[0]] < ol.posterior_y + 8.0:
            walls.append(np.nan)
            continue
        gap = np.flatnonzero(~column[k][inside[0] :])
        ok = len(gap) and back[inside[0]] - back[inside[0] + gap[0]] >= 8.0
        walls.append(back[inside[0] + gap[0]] if ok else np.nan)
    wall = np.asarray(walls)
    for half in (zs > 0, zs < 0):  # each vertebra's own wall (a slip moves one against the other)
        typical = np.nanmedian(wall[half]) if np.isfinite(wall[half]).any() else np.nan
        wall[half & ~(np.abs(wall - typical) <= 1.0)] = np.nan  # the rounded ends of the body
    keep = np.isfinite(wall)
    if not keep.any():
        return None
    zs, wall = zs[keep], wall[keep]
    offsets = np.arange(2.0, 5.01, 1.0)
    rs = np.arange(0.0, 40.0, 0.25)
    medial, lateral = {}, {}
    for side, sign in (("right", 1.0), ("left", -1.0)):
        ys = wall[:, None] - offsets[None, :]
        pts = site.world(sign * rs[None, None, :], ys[:, :, None], zs[:, None, None])
        bone = np.isin(site.labels_at(pts), ids)
        bone[:, :, 0] = False  # the midline itself is canal
        first = np.where(bone.any(axis=2), bone.argmax(axis=2), len(rs))
        hits = first[first < len(rs)]
        if len(hits) < 3:
            return None
        # the medial edge: a low percentile of where the rays meet bone (a stray voxel of an
        # articular process or the body's rim does not set it)
        target = np.percentile(hits, 10)
        best = np.unravel_index(int(np.argmin(np.abs(first - target))), first.shape)
        start = int(first[best])
        ray = bone[best[0], best[1], start:]
        out = int(np.argmin(ray)) if not ray.all() else len(ray)
        medial[side] = float(rs[start])
        lateral[side] = float(rs[min(start + out, len(rs) - 1)])
    return Pedicles(medial, lateral)


def csf_reference(site: DiscSite, image: Volume, weighting: str) -> float | None:
    """The signal of CSF near a disc on ``image``: in the canal label (else the cord label)
    within 20 mm of the disc's plane, its 95th percentile on fluid-bright weightings (pure
    CSF between the rootlets), its median on T1."""
    spine = site.spine
    key = spine.canal if spine.canal is not None else spine.cord
    if key is None:
        return None
    arr = np.asarray(spine.labels.array)
    pts = spine.labels.voxel_to_world(np.argwhere(arr == key).astype(float))
    pts = pts[np.abs((pts - site.centre) @ site.rot[:, 2]) <= 20.0]
    if len(pts) < 10:
        return None
    vals = sample_image(image, pts)
    vals = vals[np.isfinite(vals)]
    if len(vals) < 10:
        return None
    return float(np.median(vals) if weighting == "T1" else np.percentile(vals, 95))
