"""One vertebra measured on a label map (and its CT) in a given local frame.

The steps, each a function: split the body from the posterior elements at the canal's outline;
find the body's top and bottom surfaces and fit the endplate planes; read the heights, width and
depth from the mid-sagittal profile; build the endplate records; measure the posterior elements
(canal section, spinous tip, lamina, transverse tips, pedicles); and the trabecular density.
Local coordinates ``(x, y, z)`` are right, anterior and cranial of the vertebra, in mm.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from spinefuse.anatomy.bone_field import BoneField
from spinefuse.anatomy.bones import LabelledBone
from spinefuse.anatomy.canal import CanalOutline, canal_outline, canal_section
from spinefuse.anatomy.density import trabecular_hu
from spinefuse.anatomy.endplates import BodySurfaces, body_surfaces, fit_plane, refine_surfaces
from spinefuse.anatomy.frames import Frame, Vec, half_extent, v3
from spinefuse.anatomy.geometry import Canal, Endplate, Pedicle, Vertebra
from spinefuse.anatomy.method import setting
from spinefuse.anatomy.pedicles import deepest_axis, first_isthmus, square_section, with_chord
from spinefuse.conventions import Side
from spinefuse.imaging.volume import Volume
from spinefuse.records import Vec3

SLAB = 0.2
"""Half-width of the mid-sagittal slab, as a fraction of the body's width."""


@dataclass
class FrameStep:
    """What one pass of the frame search finds in a frame: the endplate normals, the canal's
    centre and the body's centroid, from which the next frame is built."""

    frame: Frame
    n_top: Vec  # world normals, for the next pass
    n_bottom: Vec | None
    canal_centre: Vec | None  # world
    body_centroid: Vec
    fitted: bool  # both endplate planes (the superior alone for S1) came from a plane fit


@dataclass
class VertebraMeasurement:
    """A vertebra measured in full in one frame, with that frame's step of the search."""

    step: FrameStep
    vertebra: Vertebra
    is_body: NDArray[np.bool_]  # (n,) which of the bone's voxels belong to its body


@dataclass
class _Parts:
    """The vertebra's voxels split into body and posterior elements (local coordinates)."""

    loc: Vec  # (n, 3) every voxel
    is_body: NDArray[np.bool_]
    canal: CanalOutline | None
    x_mid: float  # the mid-sagittal plane (local x)
    lateral: tuple[float, float] | None  # the body's left and right ends (voxel centres)
    partial: bool  # the body touches the edge of the field of view
    arch_cut: bool  # the posterior elements do

    @cached_property
    def body(self) -> Vec:
        return self.loc[self.is_body]


@dataclass
class _Profile:
    """The body's mid-sagittal profile: endplate heights at the posterior edge, the middle and
    the anterior edge (local z), and its extents (mm)."""

    tops: list[float]
    bottoms: list[float]
    y_back: float
    y_mid: float
    y_front: float
    depth: float
    width: float
    z_range: tuple[float, float]

    @property
    def heights(self) -> list[float]:
        return [t - b for t, b in zip(self.tops, self.bottoms, strict=True)]


def _body_run(body: Vec, x_mid: float, cell: float) -> tuple[float, float] | None:
    """Left and right ends (local x, voxel centres) of the contiguous bone through the body's
    centre along its mid-depth row and mid-height slab."""
    z_mid = 0.5 * (body[:, 2].min() + body[:, 2].max())
    y_mid = 0.5 * (body[:, 1].min() + body[:, 1].max())
    span = 0.5 * (body[:, 2].max() - body[:, 2].min())
    row = body[(np.abs(body[:, 1] - y_mid) <= cell) & (np.abs(body[:, 2] - z_mid) <= 0.5 * span)]
    if len(row) < 3:
        return None
    ix = np.unique(np.floor((row[:, 0] - x_mid) / cell).astype(np.int64))
    if 0 not in ix and -1 not in ix:
        return None
    start = 0 if 0 in ix else -1
    lo = hi = start
    present = set(ix.tolist())
    while lo - 1 in present:  # walks over bins, not voxels
        lo -= 1
    while hi + 1 in present:
        hi += 1
    return x_mid + (lo + 0.5) * cell, x_mid + (hi + 0.5) * cell


def _split(bone: LabelledBone, frame: Frame, cell: float) -> _Parts:
    """Body and posterior elements: anterior of the canal's outline is body, and the body's
    lateral bound is the run of bone through its middle (mid-depth row, mid-height slab), so
    transverse processes and sacral alae stay out of it."""
    loc = frame.local(bone.xyz)
    canal = canal_outline(loc, cell)
    if canal is not None:
        x_mid = float(canal.centre[0])
        is_body = loc[:, 1] > canal.y_anterior
        if is_body.sum() < 8:
            is_body = np.ones(len(loc), dtype=bool)
    else:
        is_body = np.ones(len(loc), dtype=bool)
        x_mid = float(np.median(loc[:, 0]))
    lateral = _body_run(loc[is_body], x_mid, cell)
    if lateral is not None:
        is_body &= (loc[:, 0] >= lateral[0] - cell) & (loc[:, 0] <= lateral[1] + cell)
    return _Parts(
        loc=loc,
        is_body=is_body,
        canal=canal,
        x_mid=x_mid,
        lateral=lateral,
        partial=bool(bone.on_edge[is_body].any()),
        arch_cut=bool(bone.on_edge[~is_body].any()),
    )


def _endplate_fits(
    parts: _Parts, surf: BodySurfaces, cell: float, sacral: bool
) -> tuple[tuple[Vec, float] | None, tuple[Vec, float] | None]:
    """Planes fitted to the central footprint of the top and bottom surfaces (away from the
    rim); S1 has no inferior endplate."""
    body = parts.body
    x_lo, x_hi = np.percentile(body[:, 0], [5, 95])
    y_lo, y_hi = float(body[:, 1].min()), float(body[:, 1].max())
    half_w = 0.5 * (x_hi - x_lo)
    central = (
        (np.abs(surf.xy[:, 0] - parts.x_mid) <= 0.6 * half_w)
        & ((surf.xy[:, 1] - y_lo) / max(y_hi - y_lo, cell) > 0.15)
        & ((surf.xy[:, 1] - y_lo) / max(y_hi - y_lo, cell) < 0.85)
    )
    fit_top = fit_plane(surf.xy[central], surf.top[central], cell)
    fit_bottom = None if sacral else fit_plane(surf.xy[central], surf.bottom[central], cell)
    return fit_top, fit_bottom


def _profile(
    parts: _Parts,
    surf: BodySurfaces,
    n_top: Vec,
    fit_bottom: tuple[Vec, float] | None,
    cell: float,
    hx: float,
    hz: float,
) -> _Profile:
    """Heights measured at 15/50/85 % of the depth (clear of the rounded rims), then carried to
    the anterior and posterior edges along the fitted endplate planes: corners and heights are
    those of the edges, as on a lateral radiograph."""
    body = parts.body
    z_lo, z_hi = float(body[:, 2].min() - hz), float(body[:, 2].max() + hz)
    mid_height = np.abs(body[:, 2] - 0.5 * (z_lo + z_hi)) <= 0.25 * (z_hi - z_lo) + hz
    if parts.lateral is not None:
        width = float(parts.lateral[1] - parts.lateral[0] + 2 * hx)
    else:
        bx = body[mid_height, 0] if mid_height.sum() > 2 else body[:, 0]
        width = float(bx.max() - bx.min() + 2 * hx)
    # mid-sagittal profile of the surfaces: a slab over the central part of the width
    slab = np.abs(surf.xy[:, 0] - parts.x_mid) <= max(1.5 * cell, SLAB * width)
    if slab.sum() < 2:
        slab = np.ones(len(surf.xy), dtype=bool)
    sy = surf.xy[slab, 1]
    y_back, y_front = float(sy.min() - 0.5 * cell), float(sy.max() + 0.5 * cell)
    depth = max(y_front - y_back, cell)

    def at(y: float, values: Vec) -> float:
        near = np.abs(sy - y) <= 0.75 * cell
        if not near.any():
            near = np.abs(sy - y) == np.abs(sy - y).min()
        return float(np.median(values[slab][near]))

    y_p, y_m, y_a = (y_back + f * depth for f in setting("height_positions"))
    slope_top = -n_top[1] / n_top[2]
    slope_bot = 0.0 if fit_bottom is None else -fit_bottom[0][1] / fit_bottom[0][2]
    tops = [at(y_p, surf.top) + slope_top * (y_back - y_p), at(y_m, surf.top)]
    tops.append(at(y_a, surf.top) + slope_top * (y_front - y_a))
    bottoms = [at(y_p, surf.bottom) + slope_bot * (y_back - y_p), at(y_m, surf.bottom)]
    bottoms.append(at(y_a, surf.bottom) + slope_bot * (y_front - y_a))
    return _Profile(tops, bottoms, y_back, y_m, y_front, depth, width, (z_lo, z_hi))


def _endplate(
    which: str,
    normal_local: Vec,
    zs: list[float],
    surface: Vec,
    parts: _Parts,
    surf: BodySurfaces,
    prof: _Profile,
    frame: Frame,
    bone: LabelledBone,
    cell: float,
    hz: float,
    with_hu: bool,
) -> Endplate:
    """The superior (``which="top"``) or inferior endplate record: its centre and corners in
    the mid-sagittal and mid-coronal planes, normal, width, depth and subchondral HU."""
    sign = 1.0 if which == "top" else -1.0
    x_mid = parts.x_mid
    near_plate = sign * (surface - (zs[1])) > -0.25 * max(prof.heights[1], 2 * cell)
    cols = surf.xy[near_plate] if near_plate.sum() > 2 else surf.xy
    lx, rx = float(cols[:, 0].min() - 0.5 * cell), float(cols[:, 0].max() + 0.5 * cell)
    central_cols = np.abs(cols[:, 0] - x_mid) <= max(1.5 * cell, 3.0)
    ep_depth = (
        float(np.ptp(cols[central_cols, 1]) if central_cols.sum() > 1 else prof.depth - cell) + cell
    )
    pts = frame.world(
        np.array(
            [
                [x_mid, prof.y_mid, zs[1]],
                [x_mid, prof.y_front, zs[2]],
                [x_mid, prof.y_back, zs[0]],
                [lx, prof.y_mid, zs[1]],
                [rx, prof.y_mid, zs[1]],
            ]
        )
    )
    body = parts.body
    plate_voxels = sign * (body[:, 2] - zs[1]) > -3.0 - hz
    hu = None
    if with_hu and plate_voxels.any():
        hu = float(bone.hu[parts.is_body][plate_voxels].mean())
    return Endplate(
        centre=v3(pts[0]),
        normal=v3(frame.direction(normal_local)),
        anterior=v3(pts[1]),
        posterior=v3(pts[2]),
        left=v3(pts[3]),
        right=v3(pts[4]),
        width_mm=max(rx - lx, cell),
        depth_mm=max(ep_depth, cell),
        hu=hu,
    )


@dataclass
class _Posterior:
    canal: Canal | None = None
    spinous: Vec3 | None = None
    lamina: Vec3 | None = None
    transverse: dict[Side, Vec3] | None = None
    pedicles: dict[Side, Pedicle] | None = None


def _posterior_elements(
    parts: _Parts,
    prof: _Profile,
    frame: Frame,
    affine: Vec,
    cell: float,
    field: BoneField | None,
    labels: Volume,
    key: int,
    measure_pedicles: bool,
) -> _Posterior:
    """The canal's section at mid-body height, the spinous tip and lamina behind the canal, the
    transverse tips and (with ``measure_pedicles``) both pedicles."""
    outline = parts.canal
    out = _Posterior(transverse={}, pedicles={})
    if outline is None:
        return out
    assert out.transverse is not None and out.pedicles is not None
    z_c = 0.5 * (prof.tops[1] + prof.bottoms[1])
    # the canal's size is that of its cross-section; the projection through the whole vertebra
    # that found the posterior wall is the outline common to all levels, smaller than any section
    level = canal_section(parts.loc, cell, outline, (prof.bottoms[1], prof.tops[1])) or outline
    out.canal = Canal(
        centre=v3(frame.world(np.array([level.centre[0], level.centre[1], z_c]))),
        ap_diameter_mm=level.ap_mm,
        width_mm=level.width_mm,
        area_mm2=level.area_mm2,
    )
    posterior = parts.loc[~parts.is_body]
    x_mid = parts.x_mid
    midline = np.abs(posterior[:, 0] - x_mid) <= max(cell, 4.0)
    behind = midline & (posterior[:, 1] < outline.y_posterior)
    if behind.any() and not parts.arch_cut:
        tip = posterior[behind][np.argmin(posterior[behind, 1])]
        out.spinous = v3(frame.world(tip))
        arch = behind & (posterior[:, 1] > outline.y_posterior - 10.0)
        out.lamina = v3(frame.world(posterior[arch].mean(axis=0))) if arch.any() else None
    if not measure_pedicles:
        return out
    for side in ("left", "right"):
        s = -1.0 if side == "left" else 1.0
        beside = s * (posterior[:, 0] - x_mid) > 0.5 * outline.width_mm
        if beside.any() and not parts.arch_cut:
            far = posterior[beside][np.argmax(s * posterior[beside, 0])]
            out.transverse[side] = v3(frame.world(far))
        # pedicles join the upper part of the body; the inferior articular processes hang below
        band = (prof.bottoms[1] + 0.3 * (prof.tops[1] - prof.bottoms[1]), prof.tops[1])
        ped = first_isthmus(posterior, side, x_mid, outline, band, cell, frame, affine)
        if ped is None or field is None:
            continue
        ped = square_section(deepest_axis(ped, field.clearance, frame), field, frame)
        if ped.width_mm > float(setting("pedicle_width_max_mm")):
            continue  # processes merged into the section: not resolved
        out.pedicles[side] = with_chord(ped, labels, key, affine)
    return out


@dataclass
class _Pose:
    """A vertebra's body in one frame: its parts, surfaces, endplate normals and profile, and
    the voxel's half extent across the frame's cranial axis (mm)."""

    parts: _Parts
    surf: BodySurfaces
    n_top: Vec  # local
    n_bot: Vec | None  # local
    prof: _Profile
    step: FrameStep
    hz: float


def _pose(
    bone: LabelledBone,
    frame: Frame,
    affine: Vec,
    cell: float,
    sacral: bool,
    ct: Volume | None,
) -> _Pose:
    hx, _, hz = (half_extent(affine, frame.rot[:, k]) for k in range(3))
    parts = _split(bone, frame, cell)
    body = parts.body
    body_centroid = frame.world(body.mean(axis=0))
    surf = body_surfaces(body, cell, hz)
    if ct is not None:
        surf = refine_surfaces(surf, ct, frame, cell)
    fit_top, fit_bottom = _endplate_fits(parts, surf, cell, sacral)
    n_top = fit_top[0] if fit_top else np.array([0.0, 0.0, 1.0])
    n_bot = -fit_bottom[0] if fit_bottom else None if sacral else np.array([0.0, 0.0, -1.0])
    prof = _profile(parts, surf, n_top, fit_bottom, cell, hx, hz)
    z_lo, z_hi = prof.z_range
    step = FrameStep(
        frame=frame,
        n_top=frame.direction(n_top),
        n_bottom=None if n_bot is None else frame.direction(n_bot),
        canal_centre=None
        if parts.canal is None
        else frame.world(
            np.array([parts.canal.centre[0], parts.canal.centre[1], 0.5 * (z_lo + z_hi)])
        ),
        body_centroid=body_centroid,
        fitted=fit_top is not None and (sacral or fit_bottom is not None) and not parts.partial,
    )
    return _Pose(parts, surf, n_top, n_bot, prof, step, hz)


def frame_step(
    bone: LabelledBone, frame: Frame, affine: Vec, cell: float, sacral: bool
) -> FrameStep:
    """One pass of the frame search in ``frame``: the label geometry alone (no sub-voxel
    refinement), and nothing the search does not read (endplate records, posterior elements)."""
    return _pose(bone, frame, affine, cell, sacral, None).step


def measure_vertebra(
    bone: LabelledBone,
    frame: Frame,
    affine: Vec,
    cell: float,
    labels: Volume,
    sacral: bool,
    ct: Volume | None = None,
    field: BoneField | None = None,
) -> VertebraMeasurement:
    """One vertebra in ``frame``, in full. ``ct`` is sampled for sub-voxel endplates and
    densities (None for MR: label geometry only); ``field`` is the bone's field for the pedicle
    search."""
    pose = _pose(bone, frame, affine, cell, sacral, ct)
    parts, surf, prof, n_top, n_bot = pose.parts, pose.surf, pose.prof, pose.n_top, pose.n_bot
    hz = pose.hz
    body = parts.body

    def plate(which: str, normal: Vec, zs: list[float], surface: Vec) -> Endplate:
        return _endplate(
            which, normal, zs, surface, parts, surf, prof, frame, bone, cell, hz, ct is not None
        )

    superior = plate("top", n_top, prof.tops, surf.top)
    inferior = None if n_bot is None else plate("bottom", n_bot, prof.bottoms, surf.bottom)
    whole = not parts.partial
    post = _posterior_elements(
        parts, prof, frame, affine, cell, field, labels, bone.key, not sacral
    )
    trab = None
    if whole and ct is not None:
        trab = trabecular_hu(bone, parts.is_body, body, prof.z_range, labels.affine)
    heights = prof.heights
    has_heights = whole and not sacral
    vert = Vertebra(
        name=bone.name,
        centroid=v3(pose.step.body_centroid),
        superior=superior,
        inferior=inferior,
        anterior_height_mm=heights[2] if has_heights and heights[2] > 0 else None,
        middle_height_mm=heights[1] if has_heights and heights[1] > 0 else None,
        posterior_height_mm=heights[0] if has_heights and heights[0] > 0 else None,
        body_width_mm=max(prof.width, cell),
        body_depth_mm=prof.depth,
        pedicles=post.pedicles or {},
        canal=post.canal,
        spinous_tip=post.spinous,
        lamina_centre=post.lamina,
        transverse_tips=post.transverse or {},
        trabecular_hu=trab,
        partial=parts.partial,
    )
    return VertebraMeasurement(step=pose.step, vertebra=vert, is_body=parts.is_body)
