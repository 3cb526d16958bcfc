"""The built-in CT segmentation back-end: no trained weights, bone physics and anatomy only.

1. The CT is brought to RAS axis order and, when its voxels are finer than ``working_mm``, to a
   working grid of that voxel size (the analysis runs there; the labels come back to the
   scan's own grid at the end).
2. Bone by HU with the partial volume of the voxel (:mod:`spinefuse.imaging.bone`); metal
   (screws, cages, prostheses) is kept out.
3. The spinal canal is traced slice by slice (:mod:`spinefuse.imaging.canal`); the bodies'
   centre line runs in front of it and the discs are the dark gaps along it
   (:mod:`spinefuse.imaging.spine_column`).
4. Each body between two discs seeds its vertebra; a watershed gives every arch to the body its
   pedicles join, and ribs, ilia and femora to "not spine"
   (:mod:`spinefuse.imaging.vertebra_split`).
5. The levels are named from the anchors in view (sacrum and ilia, the lowest ribs, the iliac
   crests) or from the level the case names (``lowest_in_view``), each name with its
   confidence (:mod:`spinefuse.imaging.level_anchors`, :mod:`spinefuse.imaging.level_naming`).
6. On the scan's own grid the bone is found again at its own voxel size and each bone voxel
   takes the level of the working-grid voxel it lies in.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import get_args

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from spinefuse.conventions import TOTALSEG_V2_SACRUM
from spinefuse.errors import LabelMapError, ParameterError
from spinefuse.imaging import bone as bonelib
from spinefuse.imaging import canal as canallib
from spinefuse.imaging.label_gate import cut_by_scan
from spinefuse.imaging.labels import on_grid
from spinefuse.imaging.level_anchors import find_anchors
from spinefuse.imaging.level_naming import NAMEABLE, AnchorHit, Naming, name_levels, named
from spinefuse.imaging.orientation import to_ras
from spinefuse.imaging.resample import resample_to_spacing
from spinefuse.imaging.segmentation import (
    TOTALSEG_ID,
    Anchor,
    LevelFinding,
    MessageCode,
    Segmentation,
    SegmentationMessage,
    SegmentationReport,
)
from spinefuse.imaging.spine_column import (
    Column,
    Disc,
    column,
    find_discs,
    frame,
    orient_disc,
    profile,
)
from spinefuse.imaging.vertebra_split import Levels, merge_lowest, remove_disc_tissue, split_levels
from spinefuse.imaging.volume import Volume
from spinefuse.records import Vec3

F64 = NDArray[np.float64]
Mask = NDArray[np.bool_]


@dataclass(frozen=True)
class BuiltinCTBackend:
    """Weight-free segmentation of the vertebrae of a CT (see the module docstring).

    ``lowest_in_view``: the name of the lowest vertebra the scan shows (fully or in part),
    when the case knows it; it overrides the anchors. ``anchor``: a vertebra name and a world
    point (RAS, mm) inside it, likewise. ``working_mm``: the least voxel size of the analysis
    grid (finer scans are analysed at this size, labelled at their own). ``metal_hu`` and
    ``metal_margin_mm``: metal threshold and the margin kept around metal. ``fine_outline``:
    each level's outline found again on the scan's own grid (step 6); without it the working
    grid's labels are carried to the scan's grid as they are, in about half the time, for a
    caller that needs the levels' names and places, not their outline to the voxel (the
    label-map gate's naming check)."""

    lowest_in_view: str | None = None
    anchor: tuple[str, Vec3] | None = None
    working_mm: float = 1.5
    metal_hu: float = 2500.0
    metal_margin_mm: float = 3.0
    fine_outline: bool = True

    def segment(self, image: Volume) -> Segmentation:
        if image.modality != "CT":
            raise ParameterError(
                f"{image.source or 'image'}: the built-in back-end reads CT Hounsfield units; "
                f"this is {image.modality}: give a label map, or use TotalSegmentator "
                "(segmentation: totalsegmentator) for MR"
            )
        for name in filter(None, [self.lowest_in_view, self.anchor[0] if self.anchor else None]):
            if name not in NAMEABLE:
                raise ParameterError(
                    f"lowest_in_view/anchor {name!r}: use one of C1…C7, T1…T12, L1…L5 or S1"
                )
        if not 0.5 <= self.working_mm <= 4.0:
            raise ParameterError(f"working_mm = {self.working_mm}: use 0.5-4 mm")
        return _segment(image, self)


def _patient(hu: NDArray[np.float32]) -> Mask:
    """The patient's body: the largest connected region denser than -300 HU, its axial holes
    (lungs, bowel gas) filled; the table and air are left out."""
    dense = hu > -300.0
    lab, n = ndimage.label(dense)
    if n > 1:
        sizes = np.bincount(lab.ravel())
        sizes[0] = 0
        dense = lab == int(np.argmax(sizes))
    return bonelib.fill_in_planes(dense, 2)


def _working(ras: Volume, working_mm: float, resolution: float) -> Volume:
    """The image, denoised at its own voxel size (:func:`spinefuse.imaging.bone.denoise`:
    noise is measured best before resampling correlates it), on the working grid (voxels no
    finer than ``working_mm``, nor than the image's own ``resolution``: a scan
    resampled finer than it was taken is analysed near its true resolution)."""
    hu, _ = bonelib.denoise(np.asarray(ras.array, dtype=np.float32))
    smooth = replace(ras, array=hu)
    target = np.maximum(ras.spacing, max(working_mm, resolution))
    if np.allclose(target, ras.spacing, rtol=0.05):
        return smooth
    return resample_to_spacing(smooth, target, order=1)


@dataclass(frozen=True)
class _Analysis:
    """What the working grid gave: the levels, the column, the metal mask and the grid."""

    grid: Volume
    levels: Levels
    col: Column
    discs: list[Disc]
    bone: Mask
    metal: Mask
    lumen: Mask
    hu: NDArray[np.float32]
    resolution: float


def _analyse(work: Volume, cfg: BuiltinCTBackend, resolution: float) -> _Analysis:
    spacing = work.spacing
    src = work.source or "CT"
    hu_raw = np.asarray(work.array, dtype=np.float32)
    hu = hu_raw
    thr = bonelib.bone_thresholds(spacing, cfg.metal_hu, resolution)
    if not (hu > thr.cortex_hu).any():
        raise LabelMapError(
            f"{src}: no voxel above {thr.cortex_hu:.0f} HU, the least a cortex reads at this "
            "voxel size; is this a CT in Hounsfield units?"
        )
    metal = bonelib.metal_mask(hu_raw, spacing, cfg.metal_hu, cfg.metal_margin_mm)
    cortex = bonelib.cortex_mask(hu, thr) & ~metal
    # the bodies' marrow, also where their cortical ring is broken (osteoporotic, noisy or
    # coarse scans): what the canal needs in front of it
    filled = bonelib.enclosed(cortex) | bonelib.axial_marrow(cortex, spacing)
    body = _patient(hu)
    cost, support = canallib.canal_cost(hu, cortex, filled, spacing, body)
    midline = float(np.argwhere(body)[:, 0].mean()) if body.any() else None
    trace = canallib.trace_canal(cost, support, spacing, midline=midline)
    if trace is None or len(trace.slices) < 3:
        raise LabelMapError(
            f"{src}: no spinal canal found (no dark tube with a vertebral body in front of it "
            "and arches around it in three or more slices); is the spine in the field of view?"
        )
    dark = (hu < canallib.CANAL_DARK_HU) & (hu > -250.0) & ~cortex
    trace = canallib.refine_centres(trace, dark, spacing)
    lumen = canallib.lumen(trace, dark, spacing)
    filled = bonelib.enclosed(cortex, lumen, spacing)
    col = column(trace, cortex, filled | bonelib.body_extent(hu, thr), spacing)
    if col is None:
        raise LabelMapError(f"{src}: no vertebral body found in front of the spinal canal")
    bone = bonelib.bone_mask(hu, thr, spacing, lumen, metal)
    prof = profile(col, hu, spacing)
    frac = profile(col, bone.astype(np.float32), spacing)
    discs = [orient_disc(d, col, hu, spacing) for d in find_discs(col, prof, frac)]
    # the bodies' marrow inside a ring too broken to enclose it (noisy or osteoporotic scans);
    # what this takes in of the discs goes with their tissue next
    bone |= bonelib.star_fill(cortex | lumen, _slice_centres(col, spacing, hu.shape), spacing)
    bone &= ~lumen & ~metal
    bone = remove_disc_tissue(discs, bone, hu, spacing, thr.edge_hu)
    levels = split_levels(col, discs, bone, hu, spacing)
    return _Analysis(
        grid=work,
        levels=levels,
        col=col,
        discs=discs,
        bone=bone,
        metal=metal,
        lumen=lumen,
        hu=hu,
        resolution=resolution,
    )


def _slice_centres(col: Column, spacing: F64, shape: tuple[int, ...]) -> F64:
    """The bodies' centre line where it crosses each slice (voxel coordinates, (n, 3))."""
    z = col.points[:, 2] / spacing[2]
    order = np.argsort(z)
    zs = np.arange(int(np.ceil(z.min())), int(np.floor(z.max())) + 1)
    zs = zs[(zs >= 0) & (zs < shape[2])]
    x = np.interp(zs, z[order], col.points[order, 0] / spacing[0])
    y = np.interp(zs, z[order], col.points[order, 1] / spacing[1])
    return np.stack([x, y, zs.astype(float)], axis=1)


def _crop_to_patient(ras: Volume) -> tuple[Volume, tuple[slice, ...]]:
    """The image cropped to the box of its voxels denser than -300 HU (the patient and the
    table; the air around them is left out), with that box."""
    dense = np.asarray(ras.array) > -300
    if not dense.any():
        raise LabelMapError(f"{ras.source or 'CT'}: nothing denser than air; is this a CT?")
    lo = np.array(
        [np.flatnonzero(dense.any(axis=tuple(a for a in range(3) if a != k)))[0] for k in range(3)]
    )
    hi = (
        np.array(
            [
                np.flatnonzero(dense.any(axis=tuple(a for a in range(3) if a != k)))[-1]
                for k in range(3)
            ]
        )
        + 1
    )
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    affine = ras.affine.copy()
    affine[:3, 3] = ras.voxel_to_world(lo.astype(float))
    return replace(ras, array=np.asarray(ras.array)[box], affine=affine), box


def _segment(image: Volume, cfg: BuiltinCTBackend) -> Segmentation:
    full = to_ras(image)
    ras, crop = _crop_to_patient(full)
    resolution = bonelib.resolution_mm(np.asarray(ras.array, dtype=np.float32), ras.spacing)
    work = _working(ras, cfg.working_mm, resolution)
    an = _analyse(work, cfg, resolution)
    anchors = find_anchors(an.grid, an.levels, an.col)
    sacral = [a.index for a in anchors if a.kind == "sacrum"]
    if sacral and sacral[0] > 0:  # the sacrum's fused segments below S1 are one bone with it
        an = replace(an, levels=merge_lowest(an.levels, sacral[0]))
        anchors = [replace(a, index=max(0, a.index - sacral[0])) for a in anchors]
    lv = an.levels
    n = len(lv.bounds)
    if cfg.lowest_in_view is not None:
        anchors.append(named("named_lowest", 0, cfg.lowest_in_view))
    if cfg.anchor is not None:
        anchors.append(_point_anchor(cfg.anchor, an))
    sizes = _body_sizes(an)
    for a in anchors:  # the sacrum's alae are no body width
        if a.kind == "sacrum" and a.index < len(sizes):
            sizes[a.index] = None
    naming = name_levels(n, anchors, sizes=sizes)
    merged = [a for a in anchors if a.kind == "sacrum" and "may be one level" in a.detail]
    if merged:  # L5 and S1 in one level: no name can be trusted until a person looks
        naming = replace(
            naming,
            confidence=min(naming.confidence, 0.5),
            needs_anchor=True,
            messages=(
                *naming.messages,
                ("levels_merged", naming.names[0] if naming.names else None, merged[0].detail),
            ),
        )
    # labels on the working grid, then on the scan's own grid
    lut = np.zeros(lv.other + 1, dtype=np.int32)
    for k, name in enumerate(naming.names):
        lut[k + 1] = TOTALSEG_ID[name]
    arr = lut[lv.regions]
    if naming.names and naming.names[0] == "S1":
        arr = _sacrum_below_s1(arr, an)
    work_labels = Volume(array=arr, affine=an.grid.affine, modality="SEG", source="built-in CT")
    work_bodies = Volume(
        array=np.where(lv.bodies, lut[lv.regions], 0).astype(np.int32),
        affine=an.grid.affine,
        modality="SEG",
        source="built-in CT bodies",
    )
    if cfg.fine_outline:
        labels, bodies = _on_scan_grid(ras, work_labels, work_bodies, an, cfg)
    else:
        labels, bodies = on_grid(work_labels, ras, resample=True), on_grid(work_bodies, ras, True)
    labels, bodies = _uncrop(labels, full, crop), _uncrop(bodies, full, crop)
    cut = cut_by_scan(_ids(labels), _ids(bodies), labels.spacing)
    labels = on_grid(labels, image, resample=True)
    bodies = on_grid(bodies, image, resample=True)
    report = _report(labels, bodies, naming, anchors, an, cut)
    return Segmentation(labels=labels, report=report, bodies=bodies)


S1_SEGMENT_MM = 32.0
"""Depth below the L5-S1 disc's mid-plane of the first sacral segment (mm; S1's body is about
30 mm high); the sacrum below it is labelled sacrum (TotalSegmentator ID 25)."""


def _sacrum_below_s1(arr: NDArray[np.int32], an: _Analysis) -> NDArray[np.int32]:
    """The lowest level's bone more than :data:`S1_SEGMENT_MM` below the L5-S1 disc labelled
    as the sacrum, so that S1 is the first sacral segment alone."""
    top = int(an.levels.bounds[0, 1])
    disc = next((d for d in an.discs if d.index == top), None)
    if disc is None:
        return arr
    s1 = np.argwhere(arr == TOTALSEG_ID["S1"])
    below = disc.signed(s1 * an.grid.spacing) < -(disc.height_mm / 2.0 + S1_SEGMENT_MM)
    out = arr.copy()
    out[tuple(s1[below].T)] = TOTALSEG_V2_SACRUM
    return out


def _body_sizes(an: _Analysis) -> list[tuple[float, float] | None]:
    """Body width (in its front half) and depth (mm) of each level on the working grid, None
    for one the scan cuts (its size is what the scan kept of it)."""
    lv, grid = an.levels, an.grid
    regions = lv.regions.copy()
    regions[regions == lv.other] = 0
    bodies = np.where(lv.bodies, regions, 0)
    cut = cut_by_scan(regions, bodies, grid.spacing)
    lat, ant = frame(an.col)
    out: list[tuple[float, float] | None] = []
    for k in range(len(lv.bounds)):
        ijk = np.argwhere(bodies == k + 1)
        if k + 1 in cut or len(ijk) < 10:
            out.append(None)
            continue
        pts = ijk * grid.spacing
        mid = int(np.clip(np.mean(lv.bounds[k]), 0, len(an.col.points) - 1))
        rel = pts - pts.mean(axis=0)
        u, v = rel @ lat[mid], rel @ ant[mid]
        # the width in the body's front half: behind it the roots of the pedicles and the
        # transverse processes (L5's spring from the body) widen it
        front = u[v >= 0.0] if (v >= 0.0).sum() >= 10 else u
        out.append(
            (
                float(np.percentile(front, 99) - np.percentile(front, 1)),
                float(np.percentile(v, 99) - np.percentile(v, 1)),
            )
        )
    return out


def _ids(labels: Volume) -> NDArray[np.int32]:
    """A label map's array as int32 IDs."""
    return np.asarray(labels.array, dtype=np.int32)


def _uncrop(labels: Volume, full: Volume, crop: tuple[slice, ...]) -> Volume:
    """A label map of the cropped box placed back on the full grid."""
    out = np.zeros(full.shape, dtype=np.int32)
    out[crop] = labels.array
    return Volume(array=out, affine=full.affine, modality="SEG", source=labels.source)


def _point_anchor(anchor: tuple[str, Vec3], an: _Analysis) -> AnchorHit:
    name, point = anchor
    ijk = np.rint(an.grid.world_to_voxel(np.asarray(point, dtype=float))).astype(int)
    inside = bool(np.all((ijk >= 0) & (ijk < np.asarray(an.grid.shape))))
    region = int(an.levels.regions[tuple(ijk)]) if inside else 0
    if not 1 <= region <= len(an.levels.bounds):
        raise ParameterError(
            f"anchor {name} at {point}: the point is not inside a segmented vertebra; give a "
            "point inside the vertebral body"
        )
    hit = named("named_point", region - 1, name)
    return replace(hit, position=tuple(float(c) for c in point))  # type: ignore[arg-type]


def _on_scan_grid(
    ras: Volume, labels: Volume, bodies: Volume, an: _Analysis, cfg: BuiltinCTBackend
) -> tuple[Volume, Volume]:
    """The working-grid labels carried to the scan's own grid: bone found there at its own
    voxel size (with the canal's lumen and the discs' tissue kept out, as on the working grid)
    takes the level of the working voxel it lies in, or of the nearest labelled one within one
    working voxel."""
    if labels.same_grid(ras):
        keep = bonelib.half_max_surface(_ids(labels) > 0, an.hu, ras.spacing, an.resolution)
        same = _fill_cavities(np.where(keep, _ids(labels), 0))
        own_b = _ids(bodies)
        return (
            replace(labels, array=same),
            replace(bodies, array=np.where((own_b > 0) & (same == own_b), own_b, 0)),
        )
    spacing = ras.spacing
    # only the spine's box (with a margin) is worked on at full resolution
    idx = np.argwhere(_ids(labels) > 0)
    lo_w, hi_w = idx.min(axis=0) - 2, idx.max(axis=0) + 3
    corners = np.array(
        [
            [a, b, c]
            for a in (lo_w[0], hi_w[0])
            for b in (lo_w[1], hi_w[1])
            for c in (lo_w[2], hi_w[2])
        ],
        dtype=float,
    )
    fine = ras.world_to_voxel(labels.voxel_to_world(corners))
    lo = np.clip(np.floor(fine.min(axis=0)).astype(int), 0, None)
    hi = np.minimum(np.ceil(fine.max(axis=0)).astype(int) + 1, ras.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    hu_raw = np.asarray(ras.array[box], dtype=np.float32)
    hu, _ = bonelib.denoise(hu_raw)
    sub_affine = ras.affine.copy()
    sub_affine[:3, 3] = ras.voxel_to_world(lo.astype(float))
    sub = Volume(array=np.zeros(hu.shape, dtype=np.int32), affine=sub_affine, modality="SEG")

    def carried(mask: Mask) -> Mask:
        vol = Volume(array=mask.astype(np.int32), affine=labels.affine, modality="SEG")
        return np.asarray(_ids(on_grid(vol, sub, resample=True)) > 0)

    thr = bonelib.bone_thresholds(spacing, cfg.metal_hu, an.resolution)
    metal = bonelib.metal_mask(hu_raw, spacing, cfg.metal_hu, cfg.metal_margin_mm)
    bone = bonelib.bone_mask(hu, thr, spacing, carried(an.lumen), metal)
    # the discs in this box's frame (voxel index x spacing): same axes, shifted origin
    shift = sub.world_to_voxel(an.grid.voxel_to_world(np.zeros(3))) * spacing
    discs = [replace(d, centre=d.centre + shift) for d in an.discs]
    bone = remove_disc_tissue(discs, bone, hu, spacing, thr.edge_hu)
    bone = bonelib.half_max_surface(bone, hu, spacing, an.resolution)
    # grow the working labels by one working voxel so bone at their rim finds a level
    dist, near_idx = ndimage.distance_transform_edt(
        labels.array == 0, sampling=labels.spacing, return_indices=True
    )
    reach = float(labels.spacing.max()) * 1.01
    grown = np.where(dist <= reach, labels.array[tuple(near_idx)], 0).astype(np.int32)
    near_l = _ids(on_grid(replace(labels, array=grown), sub, resample=True))
    own_b = _ids(on_grid(bodies, sub, resample=True))
    # inside a level on the working grid (every neighbour of the same level) the bone is
    # taken as found there: the marrow of a low-density body that the fine grid's noise
    # leaves out of its bone mask, filled from the body's centre on the working grid
    lab = _ids(labels)
    inner = (lab > 0) & (ndimage.minimum_filter(lab, size=3) == ndimage.maximum_filter(lab, size=3))
    fine_labels = _fill_cavities(np.where((bone | carried(inner)) & (near_l > 0), near_l, 0))
    fine_bodies = np.where((own_b > 0) & (fine_labels == own_b), own_b, 0)
    out_l = np.zeros(ras.shape, dtype=np.int32)
    out_b = np.zeros(ras.shape, dtype=np.int32)
    out_l[box] = fine_labels
    out_b[box] = fine_bodies
    return (
        Volume(array=out_l, affine=ras.affine, modality="SEG", source=labels.source),
        Volume(array=out_b, affine=ras.affine, modality="SEG", source=bodies.source),
    )


def _fill_cavities(labels: NDArray[np.int32]) -> NDArray[np.int32]:
    """Each level's holes in sagittal and coronal planes (unlabelled voxels it encloses there)
    filled with that level: the fatty or low-density marrow inside a body reads darker than
    the bone threshold. Axial planes are left out: there the arch encloses the canal."""
    out = labels.copy()
    for key, obj in enumerate(ndimage.find_objects(labels), start=1):
        if obj is None:
            continue
        own = labels[obj] == key
        filled = bonelib.fill_in_planes(own, 0) | bonelib.fill_in_planes(own, 1)
        holes = filled & (labels[obj] == 0)
        out[obj][holes] = key
    return out


def _centroids(labels: NDArray[np.int32], ids: list[int]) -> list[tuple[float, ...]]:
    """Voxel centroid of each label in ``ids`` (NaN for one absent), in one pass."""
    ijk = np.nonzero(labels)
    keys = labels[ijk]
    size = max([*ids, int(keys.max()) if len(keys) else 0]) + 1
    count = np.bincount(keys, minlength=size).astype(float)
    sums = [np.bincount(keys, weights=axis.astype(float), minlength=size) for axis in ijk]
    out: list[tuple[float, ...]] = []
    for key in ids:
        n = count[key]
        out.append(tuple(float(s[key] / n) for s in sums) if n > 0 else (np.nan,) * 3)
    return out


def _report(
    labels: Volume,
    bodies: Volume,
    naming: Naming,
    anchors: list[AnchorHit],
    an: _Analysis,
    cut: set[int],
) -> SegmentationReport:
    arr, barr = labels.array, bodies.array
    voxel_ml = float(np.prod(labels.spacing)) / 1000.0
    ids = [TOTALSEG_ID[name] for name in naming.names]
    counts = np.bincount(arr.ravel().clip(0), minlength=max(ids, default=0) + 1)
    coms = _centroids(np.asarray(barr, dtype=np.int32), ids)
    messages: list[SegmentationMessage] = [
        SegmentationMessage(code=_message_code(code), level=level, text=text)
        for code, level, text in naming.messages
    ]
    levels = []
    for name, key, com in zip(naming.names, ids, coms, strict=True):
        partial = key in cut
        centroid = None
        if np.all(np.isfinite(com)):
            w = labels.voxel_to_world(np.asarray(com, dtype=float))
            centroid = (float(w[0]), float(w[1]), float(w[2]))
        levels.append(
            LevelFinding(
                name=name,
                label_id=key,
                confidence=naming.confidence,
                partial=partial,
                body_centroid=centroid,
                volume_ml=float(counts[key]) * voxel_ml,
            )
        )
        if partial:
            messages.append(
                SegmentationMessage(
                    code="partial_level",
                    level=name,
                    text=f"{name} is cut by the edge of the scan: no screw may be planned in it",
                )
            )
    if an.metal.any():
        com = ndimage.center_of_mass(an.metal)
        w = an.grid.voxel_to_world(np.asarray(com, dtype=float))
        side = "right" if w[0] > float(np.median(an.col.points[:, 0])) else "left"
        messages.append(
            SegmentationMessage(
                code="metal_in_view",
                text=f"metal in view (centre of mass on the patient's {side}, "
                f"{float(an.metal.sum()) * float(np.prod(an.grid.spacing)) / 1000:.0f} ml with "
                "its margin); bone next to it is left out",
            )
        )
    return SegmentationReport(
        backend="builtin",
        levels=tuple(levels),
        naming_confidence=naming.confidence,
        needs_anchor=naming.needs_anchor,
        anchors=tuple(
            Anchor(
                kind=a.kind,
                level=naming.names[a.index] if a.index < len(naming.names) else a.level,
                position=a.position,
                reliability=a.reliability,
                detail=a.detail,
            )
            for a in anchors
        ),
        messages=tuple(messages),
    )


def _message_code(code: str) -> MessageCode:
    """The naming's message code as the report's Literal (naming only emits these)."""
    allowed: tuple[MessageCode, ...] = get_args(MessageCode)
    if code not in allowed:
        raise ValueError(f"unknown segmentation message code {code!r}")
    return code
