"""Synthetic MR of a SpineGeometry: sagittal T2 and T1, axial T2 blocks through each disc, and the
label map, with disc degeneration, herniation, stenosis, Modic changes and facet effusion as
parameters, so every MR measurement is tested against a known truth.

Each output grid's points are given a tissue (vectorised, structure by structure on the points
near it, later structures painting over earlier ones): muscle and posterior fat; the canal with
epidural fat, the dural sac (CSF, and the cauda equina's rootlets lying dorsally, their share set
by the Schizas grade) and the ligamentum flavum; the foramina (perineural fat around the exiting
root, obliterated by fibrous tissue by the Lee grade); the discs (annulus, and a nucleus whose T2
falls with its Pfirrmann grade) and their herniations (bulge, protrusion, extrusion or
sequestration, in the zone and side given); bone (cortex, marrow, Modic bands below the endplates,
posterior elements, a hypertrophic superior articular process narrowing a lateral recess) and
joint fluid in the facets. The signal of a tissue is the spin-echo equation
S = PD (1 − exp(−TR/T1)) exp(−TE/T2) with its properties from ``data/mr_tissue.yaml``, times
1000, plus Gaussian noise; axial slices average three samples across their thickness (partial
volume). Labels are TotalSpineSeg IDs (``data/label_conventions.yaml``). World frame RAS, mm.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field, field_validator, model_validator

from spinefuse.anatomy.geometry import SpineGeometry, Vertebra
from spinefuse.anatomy.mr_signal import sequence_times, spin_echo, tissue_table
from spinefuse.anatomy.phantom import body_frame, body_masks, posterior_mask, vertebra_points
from spinefuse.conventions import SIDES, Side, parse_segment
from spinefuse.errors import ParameterError
from spinefuse.imaging.label_conventions import convention_entry
from spinefuse.imaging.mr_series import MrSeries
from spinefuse.imaging.volume import Volume
from spinefuse.records import Record

F64 = NDArray[np.float64]
Mask = NDArray[np.bool_]
HerniationKind = Literal["bulge", "protrusion", "extrusion", "sequestration"]
Zone = Literal["central", "subarticular", "foraminal", "extraforaminal"]
Schizas = Literal["A", "B", "C", "D"]
CSF_SHARE = {"A": 0.65, "B": 0.3, "C": 0.0, "D": 0.0}
"""Share of the dural sac's section that is CSF (the rest rootlets) drawn for each Schizas grade."""
MODIC_DEPTH_MM = 8.0
ROOT_RADIUS_MM = 2.5


class Herniation(Record):
    """Disc material beyond the disc space at one segment: its shape (Fardon 2014), where it
    lies, and how far it reaches beyond the margin of the vertebral bodies (mm)."""

    kind: HerniationKind
    zone: Zone = "central"
    side: Side | None = None
    extent_mm: float = Field(default=6.0, ge=1.0, le=12.0)

    @model_validator(mode="after")
    def _side(self) -> Herniation:
        if self.kind == "bulge":
            if self.zone != "central" or self.side is not None:
                raise ValueError("a bulge is circumferential: no zone or side")
            if self.extent_mm > 3.0:
                raise ValueError("a bulge reaches at most 3 mm beyond the disc space")
        elif self.zone != "central" and self.side is None:
            raise ValueError(f"a {self.zone} herniation needs a side")
        return self


def _segments(values: dict[str, Any], field: str) -> dict[str, Any]:
    out = {}
    for seg, v in values.items():
        upper, lower = parse_segment(seg)
        out[f"{upper}-{lower}"] = v
    return out


class MrPathology(Record):
    """What the synthetic MR shows, per lumbar segment (unlisted: healthy) and endplate.

    ``pfirrmann`` grade I–V of each disc (default I; grade V also needs the geometry's disc
    height loss), ``herniation``, ``schizas`` appearance of the dural sac at the disc (A–D;
    its area is the geometry's), ``foraminal_lee`` grade 0–3 per side, ``recess_depth_mm`` of
    a lateral recess narrowed by the superior articular process, ``modic`` type 1–3 of an
    endplate (``"L4 inferior"``, ``"L5 superior"``), ``facet_effusion_mm`` per side."""

    pfirrmann: dict[str, int] = Field(default_factory=dict)
    herniation: dict[str, Herniation] = Field(default_factory=dict)
    schizas: dict[str, Schizas] = Field(default_factory=dict)
    foraminal_lee: dict[str, dict[Side, int]] = Field(default_factory=dict)
    recess_depth_mm: dict[str, dict[Side, float]] = Field(default_factory=dict)
    modic: dict[str, int] = Field(default_factory=dict)
    facet_effusion_mm: dict[str, dict[Side, float]] = Field(default_factory=dict)
    noise: float = Field(default=0.01, ge=0.0, le=0.2, description="σ, fraction of full scale")

    _seg = field_validator(
        "pfirrmann",
        "herniation",
        "schizas",
        "foraminal_lee",
        "recess_depth_mm",
        "facet_effusion_mm",
    )(lambda v, info: _segments(v, str(info.field_name)))

    @model_validator(mode="after")
    def _ranges(self) -> MrPathology:
        for seg, g in self.pfirrmann.items():
            if g not in (1, 2, 3, 4, 5):
                raise ValueError(f"pfirrmann {seg} = {g}: a grade 1–5")
        for seg, sides in self.foraminal_lee.items():
            for side, g in sides.items():
                if g not in (0, 1, 2, 3):
                    raise ValueError(f"foraminal_lee {seg} {side} = {g}: a grade 0–3")
        for seg, depths in self.recess_depth_mm.items():
            for side, d in depths.items():
                if not 0.5 <= d <= 8.0:
                    raise ValueError(f"recess_depth_mm {seg} {side} = {d}: 0.5…8 mm")
        for seg, widths in self.facet_effusion_mm.items():
            for side, e in widths.items():
                if not 0.0 <= e <= 5.0:
                    raise ValueError(f"facet_effusion_mm {seg} {side} = {e}: 0…5 mm")
        for key, t in self.modic.items():
            parts = key.split()
            if len(parts) != 2 or parts[1] not in ("superior", "inferior") or t not in (1, 2, 3):
                raise ValueError(
                    f"modic {key!r} = {t}: key 'L4 inferior' or 'L5 superior', type 1–3"
                )
        return self


@dataclass(frozen=True)
class MrPhantom:
    """The rendered study: sagittal T2 and T1 on one grid with its ``labels`` (TotalSpineSeg
    IDs), an axial T2 block per disc, and the pathology it was drawn with."""

    sagittal_t2: Volume
    sagittal_t1: Volume
    axial_t2: dict[str, Volume]
    labels: Volume
    pathology: MrPathology
    sac_area_mm2: dict[str, float]


TISSUES = tuple(tissue_table())
T = {name: k for k, name in enumerate(TISSUES)}


class _Paint:
    """Tissue and structure index per sample point of a grid (voxels, and sub-samples
    ``offsets`` along the grid's third axis, in voxels), painted structure by structure on the
    block of points near each."""

    def __init__(self, affine: F64, shape: tuple[int, int, int], offsets: F64) -> None:
        self.affine, self.shape, self.offsets = affine, shape, offsets
        self.inverse = np.linalg.inv(affine)
        n = len(offsets) * int(np.prod(shape))
        self.tissue = np.full(n, T["muscle"], dtype=np.int16)
        self.structure = np.zeros(n, dtype=np.int16)

    def near(self, pts: F64, pad: float) -> tuple[NDArray[np.int64], F64]:
        """Flat indices and world points of the samples in the box about ``pts``."""
        lo, hi = pts.min(axis=0) - pad, pts.max(axis=0) + pad
        corners = np.array(
            [[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])]
        )
        ijk = corners @ self.inverse[:3, :3].T + self.inverse[:3, 3]
        a = np.clip(np.floor(ijk.min(axis=0)).astype(int) - 1, 0, np.array(self.shape))
        b = np.clip(np.ceil(ijk.max(axis=0)).astype(int) + 2, 0, np.array(self.shape))
        if np.any(b <= a):
            return np.zeros(0, dtype=np.int64), np.zeros((0, 3))
        ii, jj, kk = (np.arange(a[d], b[d]) for d in range(3))
        nx, ny, nz = self.shape
        size = nx * ny * nz
        flat = (ii[:, None, None] * (ny * nz) + jj[None, :, None] * nz + kk[None, None, :]).ravel()
        idx = (np.arange(len(self.offsets))[:, None] * size + flat[None, :]).ravel()
        rot, origin = self.affine[:3, :3], self.affine[:3, 3]
        base = (
            ii[:, None, None, None] * rot[:, 0]
            + jj[None, :, None, None] * rot[:, 1]
            + kk[None, None, :, None] * rot[:, 2]
            + origin
        ).reshape(-1, 3)
        world = np.concatenate([base + o * rot[:, 2] for o in self.offsets])
        return idx.astype(np.int64), np.asarray(world, dtype=float)

    def set(self, idx: NDArray[np.int64], mask: Mask, tissue: str, structure: int | None) -> None:
        sel = idx[mask]
        self.tissue[sel] = T[tissue]
        if structure is not None:
            self.structure[sel] = structure


def _disc_frame(g: SpineGeometry, seg: str) -> tuple[F64, F64, float, Vertebra, Vertebra]:
    """Rotation (x right, y anterior, z the mid-plane normal), centre and middle height."""
    up, low = (g.vertebra(n) for n in parse_segment(seg))
    assert up.inferior is not None
    n = np.asarray(low.superior.normal) - np.asarray(up.inferior.normal)
    n /= np.linalg.norm(n)
    y = np.asarray(low.frame()[:3, 1])
    y = y - n * (y @ n)
    y /= np.linalg.norm(y)
    rot = np.stack([np.cross(y, n), y, n], axis=1)
    return rot, np.asarray(g.disc(seg).centre), g.disc(seg).middle_height_mm, up, low


def _ellipse_fraction_below(t: F64) -> F64:
    t = np.clip(t, -1.0, 1.0)
    return np.asarray((t * np.sqrt(1 - t * t) + np.arcsin(t)) / np.pi + 0.5, dtype=float)


def _rootlet_line(csf_share: float) -> float:
    """The chord (fraction of the semi-axis, + anterior) below which the dorsal rootlets fill
    ``1 − csf_share`` of an ellipse."""
    ts = np.linspace(-1.0, 1.0, 2001)
    return float(np.interp(1.0 - csf_share, _ellipse_fraction_below(ts), ts))


def pedicle_edges(up: Vertebra, low: Vertebra) -> tuple[float, float]:
    """Medial and lateral edges (mm from the midline) of a segment's pedicles where they join
    the bodies, as the template draws them (centre cw/2 + pw/2, flared to 1.5 pw there): the
    mean of the two vertebrae's."""
    medial, lateral = [], []
    for v in (up, low):
        if v.canal is None or not v.pedicles:
            continue
        pw = float(np.mean([p.width_mm for p in v.pedicles.values()]))
        medial.append(v.canal.width_mm / 2 - pw / 4)
        lateral.append(v.canal.width_mm / 2 + 1.25 * pw)
    if not medial:
        return 9.0, 22.0
    return float(np.mean(medial)), float(np.mean(lateral))


def herniation_centre_x(h: Herniation, up: Vertebra, low: Vertebra) -> float:
    """Lateral offset (mm, + right) of where a herniation leaves the disc margin: the middle of
    its zone between the pedicle edges (central 0, subarticular 0.8 of the medial edge)."""
    pm, pl = pedicle_edges(up, low)
    lat = {"central": 0.0, "subarticular": 0.8 * pm, "foraminal": 0.5 * (pm + pl)}.get(
        h.zone, pl + 4.0
    )
    return lat * (1.0 if h.side == "right" else -1.0 if h.side == "left" else 0.0)


def _paint_canal(paint: _Paint, g: SpineGeometry, path: MrPathology, canal_id: int) -> None:
    share_a = CSF_SHARE["A"]
    for v in g.vertebrae.values():
        if v.canal is None:
            continue
        f = v.frame()[:3, :3]
        reach = np.array([0.5 * v.canal.width_mm, 0.5 * v.canal.ap_diameter_mm, 20.0]) + 2.0
        box = np.asarray(v.canal.centre) + np.array(
            [
                f @ (reach * np.array([sx, sy, sz]))
                for sx in (-1, 1)
                for sy in (-1, 1)
                for sz in (-1, 1)
            ]
        )
        idx, p = paint.near(box, 1.0)
        q = (p - np.asarray(v.canal.centre)) @ f
        below_top = (p - np.asarray(v.superior.centre)) @ np.asarray(v.superior.normal) <= 0
        if v.inferior is not None:
            above = (p - np.asarray(v.inferior.centre)) @ np.asarray(v.inferior.normal) <= 0
        else:
            above = q[:, 2] >= -(v.middle_height_mm or 25.0)
        level = below_top & above
        bony = (q[:, 0] / (0.5 * v.canal.width_mm)) ** 2 + (
            q[:, 1] / (0.5 * v.canal.ap_diameter_mm)
        ) ** 2 <= 1.0
        a, b = 0.4 * v.canal.width_mm, 0.4 * v.canal.ap_diameter_mm
        sac = (q[:, 0] / a) ** 2 + (q[:, 1] / b) ** 2 <= 1.0
        paint.set(idx, level & bony, "fat", None)
        paint.set(idx, level & sac, "csf", canal_id)
        paint.set(idx, level & sac & (q[:, 1] < _rootlet_line(share_a) * b), "root", canal_id)
    for seg, disc in g.discs.items():
        if disc.canal is None:
            continue
        rot, c, h, up, low = _disc_frame(g, seg)
        pts = np.array(
            [
                np.asarray(disc.canal.centre) + s * 15.0 * rot[:, k]
                for k in range(3)
                for s in (-1, 1)
            ]
        )
        idx, p = paint.near(pts, 2.0)
        slab = np.abs((p - c) @ rot[:, 2]) <= h / 2
        dq = (p - np.asarray(disc.canal.centre)) @ rot
        a, b = disc.canal.width_mm / 2, disc.canal.ap_diameter_mm / 2
        zone = (dq[:, 0] / (0.5 * disc.canal.width_mm / 0.8)) ** 2 + (dq[:, 1] / 12.0) ** 2 <= 1.0
        sac = (dq[:, 0] / a) ** 2 + (dq[:, 1] / b) ** 2 <= 1.0
        grade = path.schizas.get(seg, "A")
        fat = (dq[:, 1] < -b) & (dq[:, 1] >= -b - 3.5) & (np.abs(dq[:, 0]) < 0.6 * a)
        paint.set(idx, slab & zone, "ligament", 0)
        if grade != "D":
            paint.set(idx, slab & zone & fat, "fat", 0)
        share = CSF_SHARE[grade]
        paint.set(idx, slab & sac, "csf" if share > 0 else "root", canal_id)
        if share > 0:
            paint.set(idx, slab & sac & (dq[:, 1] < _rootlet_line(share) * b), "root", canal_id)


def _paint_foramina(paint: _Paint, g: SpineGeometry, path: MrPathology) -> None:
    for seg in g.discs:
        up, low = (g.vertebra(n) for n in parse_segment(seg))
        for side in SIDES:
            pu, pl = up.pedicles.get(side), low.pedicles.get(side)
            if pu is None or pl is None or up.inferior is None:
                continue
            f = up.frame()[:3, :3]
            top = np.asarray(pu.isthmus_centre) - 0.5 * pu.height_mm * f[:, 2]
            bottom = np.asarray(pl.isthmus_centre) + 0.5 * pl.height_mm * f[:, 2]
            # the bony foramen: from the bodies' posterior wall back to the articular processes
            # (the bone painted later closes it), between the two pedicles
            centre = 0.5 * (top + bottom)
            wall = -0.5 * up.body_depth_mm
            isthmus_y = float((centre - np.asarray(up.centroid)) @ f[:, 1])
            centre = centre + (wall - 3.0 - isthmus_y) * f[:, 1]
            half_h = max(0.5 * float((top - bottom) @ f[:, 2]), ROOT_RADIUS_MM + 3.5) + 2.0
            half_w = 0.5 * pu.width_mm + 3.0
            half_d = 10.0
            root_y = -2.0
            box = np.array(
                [
                    centre + s * r * f[:, k]
                    for k, r in enumerate((half_w, half_d, half_h))
                    for s in (-1, 1)
                ]
            )
            idx, p = paint.near(box, 1.0)
            q = (p - centre) @ f
            # a box-like (superellipsoid) foramen, the root under its roof with fat all round
            inside = (q[:, 0] / half_w) ** 4 + (q[:, 1] / half_d) ** 4 + (
                q[:, 2] / half_h
            ) ** 4 <= 1
            root_z = half_h - 2.0 - 3.5 - ROOT_RADIUS_MM
            grade = path.foraminal_lee.get(seg, {}).get(side, 0)
            ry, rz = (3.6, 1.2) if grade == 3 else (ROOT_RADIUS_MM, ROOT_RADIUS_MM)
            root = (((q[:, 1] - root_y) / ry) ** 2 + ((q[:, 2] - root_z) / rz) ** 2 <= 1.0) & (
                np.abs(q[:, 0]) <= half_w
            )
            paint.set(idx, inside, "fat", 0)
            if grade == 1:
                column = np.abs(q[:, 1] - root_y) <= ROOT_RADIUS_MM + 1.0
                paint.set(idx, inside & column, "fibrous", 0)
            elif grade >= 2:
                paint.set(idx, inside, "fibrous", 0)
            paint.set(idx, root, "root", 0)


def _paint_discs(
    paint: _Paint, g: SpineGeometry, path: MrPathology, disc_ids: dict[str, int]
) -> None:
    for seg in g.discs:
        rot, c, h, up, low = _disc_frame(g, seg)
        a, b = low.body_width_mm / 2, low.body_depth_mm / 2
        reach_z = 0.5 * h + (14.0 if seg in path.herniation else 3.0)
        pts = np.array(
            [
                c + s * r * rot[:, k]
                for k, r in enumerate((a + 14, b + 14, reach_z))
                for s in (-1, 1)
            ]
        )
        idx, p = paint.near(pts, 1.0)
        # in plane about the lower body's axis (the disc fills the lower endplate, as on the CT
        # phantom, also under a slipped vertebra), heights from the disc's mid-plane
        f, base = body_frame(low)
        q = (p - base) @ f
        q[:, 2] = (p - c) @ rot[:, 2]
        r = np.sqrt((q[:, 0] / a) ** 2 + (q[:, 1] / b) ** 2)
        above = (p - np.asarray(low.superior.centre)) @ np.asarray(low.superior.normal) > 0
        assert up.inferior is not None
        below = (p - np.asarray(up.inferior.centre)) @ np.asarray(up.inferior.normal) > 0
        space = above & below
        disc_id = disc_ids[seg]
        nucleus = f"nucleus_{path.pfirrmann.get(seg, 1)}"
        paint.set(idx, space & (r <= 1.0), "annulus", disc_id)
        paint.set(idx, space & (r <= 0.55) & (np.abs(q[:, 2]) <= 0.35 * h), nucleus, disc_id)
        hern = path.herniation.get(seg)
        if hern is None:
            continue
        e = hern.extent_mm
        if hern.kind == "bulge":
            outer = np.sqrt((q[:, 0] / (a + e)) ** 2 + (q[:, 1] / (b + e)) ** 2) <= 1.0
            paint.set(idx, space & outer & (r > 1.0) & (q[:, 1] < 0), "annulus", disc_id)
            continue
        x0 = herniation_centre_x(hern, up, low)
        x0 = float(np.clip(x0, -0.97 * a, 0.97 * a))
        y0 = -b * np.sqrt(max(1.0 - (x0 / a) ** 2, 0.0))
        normal = np.array([x0 / a**2, y0 / b**2])
        normal /= np.linalg.norm(normal)
        tangent = np.array([-normal[1], normal[0]])
        rel = q[:, :2] - np.array([x0, y0])
        s_n, s_t, s_z = rel @ normal, rel @ tangent, q[:, 2]
        if hern.kind == "protrusion":
            shape = (s_t / 8.0) ** 2 + (s_n / e) ** 2 + (s_z / (0.5 * h)) ** 2 <= 1.0
            shape &= s_n >= -1.0
        elif hern.kind == "extrusion":
            neck = (np.abs(s_t) <= 2.0) & (s_n >= -1.0) & (s_n <= 2.5) & (np.abs(s_z) <= 0.3 * h)
            dome_n = 0.5 * (e - 2.0)
            dome = (
                (s_t / 6.0) ** 2
                + ((s_n - 2.0 - dome_n) / dome_n) ** 2
                + ((s_z + 2.0) / (0.5 * h + 3.0)) ** 2
            ) <= 1.0
            shape = neck | dome
        else:  # sequestration: a free fragment, 3 mm clear of the margin, migrated caudally
            dn = 0.5 * (e - 3.0)
            shape = (
                (s_t / 5.0) ** 2 + ((s_n - 3.0 - dn) / dn) ** 2 + ((s_z + 0.5 * h + 4.0) / 4.0) ** 2
            ) <= 1.0
        paint.set(idx, shape & (r > 0.9), nucleus, disc_id)


def _paint_bone(
    paint: _Paint, g: SpineGeometry, path: MrPathology, vert_ids: dict[str, int]
) -> None:
    for v in g.vertebrae.values():
        idx, p = paint.near(vertebra_points(v), 4.0)
        f = v.frame()
        q = (p - f[:3, 3]) @ f[:3, :3]
        reach = 0.5 * max(v.body_width_mm, v.body_depth_mm) + 2.0
        near_body = np.flatnonzero(
            (np.abs(q[:, 0]) <= reach) & (np.abs(q[:, 1]) <= reach) & (np.abs(q[:, 2]) <= 30.0)
        )
        body = np.zeros(len(p), dtype=bool)
        shell = np.zeros(len(p), dtype=bool)
        body[near_body], shell[near_body] = body_masks(v, p[near_body], 1.0)
        behind = np.flatnonzero(q[:, 1] <= -0.5 * v.body_depth_mm + 8.0)  # arch and pedicle roots
        post = np.zeros(len(p), dtype=bool)
        post[behind] = posterior_mask(v, p[behind])
        post &= ~body
        vid = vert_ids[v.name]
        paint.set(idx, post, "posterior_bone", vid)
        paint.set(idx, body, "marrow", vid)
        for which, plate in (("superior", v.superior), ("inferior", v.inferior)):
            kind = path.modic.get(f"{v.name} {which}")
            if kind is None or plate is None:
                continue
            depth = -((p - np.asarray(plate.centre)) @ np.asarray(plate.normal))
            band = body & (depth >= 0) & (depth <= MODIC_DEPTH_MM)
            paint.set(idx, band, f"modic_{kind}", vid)
        paint.set(idx, shell, "cortex", vid)


def _paint_recesses(
    paint: _Paint, g: SpineGeometry, path: MrPathology, vert_ids: dict[str, int]
) -> None:
    for seg, sides in path.recess_depth_mm.items():
        rot, c, h, up, low = _disc_frame(g, seg)
        a, b = low.body_width_mm / 2, low.body_depth_mm / 2
        pm, _ = pedicle_edges(up, low)
        pts = np.array(
            [c + s * r * rot[:, k] for k, r in enumerate((pm + 6, b + 20, h + 6)) for s in (-1, 1)]
        )
        idx, p = paint.near(pts, 1.0)
        f, base = body_frame(low)  # the disc's margin is the lower body's (as painted)
        q = (p - base) @ f
        q[:, 2] = (p - c) @ rot[:, 2]
        for side, depth in sides.items():
            lat = 1.0 if side == "right" else -1.0
            x = lat * q[:, 0]
            margin = -b * np.sqrt(np.clip(1.0 - (q[:, 0] / a) ** 2, 0.0, 1.0))
            sap = (x >= 0.6 * pm) & (x <= pm + 3.0)
            sap &= (q[:, 1] <= margin - depth) & (q[:, 1] >= margin - depth - 6.0)
            sap &= np.abs(q[:, 2]) <= 0.5 * h + 2.0
            paint.set(idx, sap, "posterior_bone", vert_ids[low.name])


def _paint_facet_fluid(paint: _Paint, g: SpineGeometry, path: MrPathology) -> None:
    for seg, sides in path.facet_effusion_mm.items():
        up, low = (g.vertebra(n) for n in parse_segment(seg))
        for side, width in sides.items():
            fs, fi = low.facets.get(f"superior_{side}"), up.facets.get(f"inferior_{side}")  # type: ignore[call-overload]
            if fs is None or fi is None or width <= 0:
                continue
            joint = 0.5 * (np.asarray(fs.centre) + np.asarray(fi.centre))
            n = np.asarray(fs.normal)
            idx, p = paint.near(joint[None, :], 8.0)
            rel = p - joint
            across = rel @ n
            along = np.linalg.norm(rel - across[:, None] * n, axis=1)
            paint.set(idx, (np.abs(across) <= width / 2) & (along <= 4.0), "joint_fluid", 0)


def _ids() -> tuple[dict[str, int], dict[str, int], int]:
    entry = convention_entry("totalspineseg")
    vert = {str(n): int(k) for k, n in entry["vertebrae"].items()}
    vert["S1"] = int(entry["sacrum"])
    discs = {str(s): int(k) for k, s in entry["discs"].items()}
    discs["L5-S1"] = int(entry["disc_above_sacrum"])
    return vert, discs, int(entry["canal"])


def _paint_grid(
    affine: F64, shape: tuple[int, int, int], offsets: F64, g: SpineGeometry, path: MrPathology
) -> _Paint:
    vert_ids, disc_ids, canal_id = _ids()
    paint = _Paint(affine, shape, offsets)
    tips = [v.spinous_tip[1] for v in g.vertebrae.values() if v.spinous_tip is not None]
    if tips:
        everything = affine[:3, 3][None, :] + np.array([[0.0, 0.0, 0.0]])
        far = affine[:3, :3] @ (np.array(shape, dtype=float) - 1.0) + affine[:3, 3]
        idx, p = paint.near(np.stack([everything[0], far]), 1e3)
        paint.set(idx, p[:, 1] < min(tips) - 12.0, "fat", None)
    _paint_canal(paint, g, path, canal_id)
    _paint_foramina(paint, g, path)
    _paint_discs(paint, g, path, disc_ids)
    _paint_bone(paint, g, path, vert_ids)
    _paint_recesses(paint, g, path, vert_ids)
    _paint_facet_fluid(paint, g, path)
    return paint


def _signal(tissue: NDArray[np.int16], weighting: str) -> NDArray[np.float64]:
    te, tr = sequence_times(weighting)
    table = tissue_table()
    values = np.array(
        [spin_echo(table[n]["pd"], table[n]["t1_ms"], table[n]["t2_ms"], te, tr) for n in TISSUES]
    )
    return np.asarray(1000.0 * values[tissue], dtype=float)


def _noisy(values: F64, noise: float, rng: np.random.Generator) -> F64:
    return np.asarray(np.abs(values + rng.normal(0.0, 1000.0 * noise, values.shape)), dtype=float)


def render_mr(
    geometry: SpineGeometry,
    pathology: MrPathology | None = None,
    *,
    sagittal_mm: float = 1.0,
    axial_in_plane_mm: float = 0.8,
    axial_thickness_mm: float = 4.0,
    axial_slices: int = 5,
    margin_mm: float = 12.0,
    seed: int = 0,
) -> MrPhantom:
    """Sagittal T2 and T1 (one isotropic grid aligned with the world axes, ``sagittal_mm``
    voxels, with the TotalSpineSeg label map), and an axial T2 block of ``axial_slices`` slices
    parallel to each disc's mid-plane (``axial_in_plane_mm`` × ``axial_thickness_mm``)."""
    path = pathology or MrPathology()
    if not 0.3 <= sagittal_mm <= 3.0 or not 0.3 <= axial_in_plane_mm <= 2.0:
        raise ParameterError("voxel sizes: sagittal 0.3…3 mm, axial in-plane 0.3…2 mm")
    for seg in (*path.pfirrmann, *path.herniation, *path.schizas, *path.foraminal_lee):
        geometry.disc(seg)
    rng = np.random.default_rng(seed)
    verts = list(geometry.vertebrae.values())
    allpts = np.concatenate([vertebra_points(v) for v in verts])
    lo, hi = allpts.min(axis=0) - margin_mm, allpts.max(axis=0) + margin_mm
    shape = tuple(int(n) for n in np.ceil((hi - lo) / sagittal_mm).astype(int) + 1)
    affine = np.diag([sagittal_mm] * 3 + [1.0])
    affine[:3, 3] = lo
    paint = _paint_grid(affine, shape, np.zeros(1), geometry, path)  # type: ignore[arg-type]
    sag = {}
    for w in ("T2", "T1"):
        sag[w] = Volume(
            _noisy(_signal(paint.tissue, w), path.noise, rng).reshape(shape).astype(np.float32),
            affine.copy(),
            "MR",
            source=f"synthetic sagittal {w}",
        )
    labels = Volume(
        paint.structure.reshape(shape).astype(np.int16),
        affine.copy(),
        "SEG",
        source="synthetic MR labels (TotalSpineSeg IDs)",
    )
    axial: dict[str, Volume] = {}
    for seg in geometry.discs:
        rot, c, _, _, _ = _disc_frame(geometry, seg)
        nx, ny = int(round(90.0 / axial_in_plane_mm)), int(round(100.0 / axial_in_plane_mm))
        ax_aff = np.eye(4)
        ax_aff[:3, 0] = rot[:, 0] * axial_in_plane_mm
        ax_aff[:3, 1] = rot[:, 1] * axial_in_plane_mm
        ax_aff[:3, 2] = rot[:, 2] * axial_thickness_mm
        ax_aff[:3, 3] = (
            c
            - rot[:, 0] * 45.0
            - rot[:, 1] * 65.0
            - rot[:, 2] * axial_thickness_mm * (axial_slices - 1) / 2
        )
        ax_shape = (nx, ny, axial_slices)
        ap = _paint_grid(ax_aff, ax_shape, np.array([-1 / 3, 0.0, 1 / 3]), geometry, path)
        values = _signal(ap.tissue, "T2").reshape(3, -1).mean(axis=0)
        axial[seg] = Volume(
            _noisy(values, path.noise, rng).reshape(ax_shape).astype(np.float32),
            ax_aff,
            "MR",
            source=f"synthetic axial T2 {seg}",
        )
    areas = {s: d.canal.area_mm2 for s, d in geometry.discs.items() if d.canal is not None}
    return MrPhantom(sag["T2"], sag["T1"], axial, labels, path, areas)


def disc_frame(g: SpineGeometry, segment: str) -> tuple[F64, F64]:
    """(rotation, centre) of a disc of a virtual spine: x right, y anterior, z the normal of its
    mid-plane, centred at the disc's centre."""
    rot, c, _, _, _ = _disc_frame(g, segment)
    return rot, c


def phantom_series(phantom: MrPhantom) -> MrSeries:
    """The rendered study as the imaging stage would read it: its series (sagittal T2 and T1,
    the axial T2 blocks) with the label map resolved on the sagittal grid."""
    from spinefuse.imaging.label_conventions import resolve_spine_labels
    from spinefuse.imaging.mr_series import MrImage, volume_plane

    te2, tr2 = sequence_times("T2")
    te1, tr1 = sequence_times("T1")
    images = [
        MrImage(
            phantom.sagittal_t2,
            "T2",
            "sagittal",
            "synthetic sagittal T2",
            "phantom",
            None,
            te2,
            tr2,
        ),
        MrImage(
            phantom.sagittal_t1,
            "T1",
            "sagittal",
            "synthetic sagittal T1",
            "phantom",
            None,
            te1,
            tr1,
        ),
    ]
    for seg, vol in phantom.axial_t2.items():
        images.append(
            MrImage(vol, "T2", volume_plane(vol), f"axial T2 {seg}", "phantom", None, te2, tr2)
        )
    spine = resolve_spine_labels(phantom.labels, "totalspineseg")
    return MrSeries(tuple(images), spine, 0)
