"""The patient's SpineGeometry from a vertebra label map and its CT (or MR).

Each vertebra is measured in its own frame, found in passes: the spine's centre curve
(centroids of consecutive levels) gives the first cranial axis and the patient's anterior the
first sagittal one; the canal splits body from posterior elements; the endplate planes fitted to
the body's top and bottom surfaces and the canal-to-body direction then give the next frame,
until the axis settles, and every measurement is taken again in the last one
(:mod:`spinefuse.anatomy.vertebra_measurement`). The discs are measured between whole
neighbours; on a CT the dural sac at each disc level and the screw corridor of each pedicle
are added by :func:`measure_anatomy`.

Everything works on arrays of voxel coordinates (no Python loop over voxels). A vertebra
touching the edge of the field of view is flagged ``partial``: it gets an approximate pose but
no heights, density, disc or screw corridor, so no one mistakes a fragment for a whole bone.
World frame RAS in mm; HU for CT values.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Literal

import numpy as np

from spinefuse.anatomy.body_heights import report_heights
from spinefuse.anatomy.bone_field import BoneField
from spinefuse.anatomy.bones import LabelledBone, labelled_bones
from spinefuse.anatomy.frames import Frame, frame_from, unit
from spinefuse.anatomy.geometry import Disc, SpineGeometry, Vertebra, disc_between
from spinefuse.anatomy.vertebra_measurement import (
    VertebraMeasurement,
    frame_step,
    measure_vertebra,
)
from spinefuse.errors import GeometryError, LabelMapError
from spinefuse.imaging.labels import Convention, on_grid, vertebra_ids
from spinefuse.imaging.volume import Volume

if TYPE_CHECKING:
    from spinefuse.imaging.images import Images

PASSES = 8
"""Most frame-search passes per vertebra before its last, full measurement."""
ANTERIOR = np.array([0.0, 1.0, 0.0])

HeightMethod = Literal["edges", "report"]


def _settle(
    bone: LabelledBone,
    frame: Frame,
    cell: float,
    labels: Volume,
    sampled: Volume | None,
    field: BoneField | None,
) -> VertebraMeasurement:
    """Measure ``bone`` in its own frame: from the curve's frame, pass after pass until the
    cranial axis moves by less than 0.2°, then once more in full (a sacrum tilted far from the
    curve's direction takes a few passes)."""
    affine, sacral = labels.affine, bone.name == "S1"
    m = frame_step(bone, frame, affine, cell, sacral)
    for k in range(PASSES):
        z = m.n_top if m.n_bottom is None else unit(m.n_top - m.n_bottom)
        if not m.fitted and z @ frame.rot[:, 2] < 0.7:  # a fragment: keep the curve's axis
            z = frame.rot[:, 2]
        ant = m.body_centroid - m.canal_centre if m.canal_centre is not None else ANTERIOR
        if ant @ ANTERIOR < 0.5 * np.linalg.norm(ant):
            ant = ANTERIOR
        settled = float(z @ m.frame.rot[:, 2]) > np.cos(np.radians(0.2))
        nxt = frame_from(m.body_centroid, z, ant)
        if settled or k == PASSES - 1:
            return measure_vertebra(bone, nxt, affine, cell, labels, sacral, sampled, field)
        m = frame_step(bone, nxt, affine, cell, sacral)
    raise AssertionError("the last pass measures in full")


def _with_report_heights(
    measured: dict[str, Vertebra],
    labels: Volume,
    ids: dict[str, int],
    bodies: Volume,
    order: list[str],
) -> dict[str, Vertebra]:
    out = dict(measured)
    for name, (h_post, h_mid, h_ant) in report_heights(labels, ids, bodies, order).items():
        v = out[name]
        if not v.partial and v.middle_height_mm is not None:
            out[name] = v.model_copy(
                update={
                    "posterior_height_mm": h_post,
                    "middle_height_mm": h_mid,
                    "anterior_height_mm": h_ant,
                }
            )
    return out


def _discs(measured: dict[str, Vertebra]) -> dict[str, Disc]:
    discs: dict[str, Disc] = {}
    names = list(measured)
    for upper, lower in zip(names, names[1:], strict=False):
        a, b = measured[upper], measured[lower]
        if a.partial or b.partial or a.inferior is None:
            continue
        try:
            d = disc_between(a, b)
        except GeometryError:
            continue
        discs[d.name] = d
    return discs


def _measure_spine(
    ct: Volume,
    labels: Volume,
    convention: Convention,
    resample: bool,
    source_detail: str,
    bodies: Volume | None,
    heights: HeightMethod,
) -> tuple[SpineGeometry, dict[str, BoneField]]:
    labels = on_grid(labels, ct, resample)
    ids = vertebra_ids(labels, convention)
    ct = replace(ct, array=ct.array.astype(np.float32, copy=False))  # one conversion for sampling
    # MR intensities are no densities and its edges no half-maximum crossings: geometry only
    sampled = ct if ct.modality == "CT" else None
    bones = labelled_bones(ct, labels, ids)
    if not bones:
        raise LabelMapError(f"{labels.source or 'label map'}: no vertebra voxels")
    cell = float(labels.spacing.max())  # raster cell: no gaps between voxel centres
    coms = np.array([b.xyz.mean(axis=0) for b in bones])
    measured: dict[str, Vertebra] = {}
    fields: dict[str, BoneField] = {}
    own_bodies = np.zeros(labels.shape, dtype=np.uint8) if heights == "report" else None
    for i, bone in enumerate(bones):
        up = (
            coms[max(i - 1, 0)] - coms[min(i + 1, len(bones) - 1)]
            if len(bones) > 1
            else np.array([0.0, 0.0, 1.0])
        )
        field = BoneField.of(labels, {bone.key}, within=bone.box)
        assert field is not None  # the bone has voxels
        fields[bone.name] = field
        m = _settle(bone, frame_from(coms[i], up, ANTERIOR), cell, labels, sampled, field)
        measured[bone.name] = m.vertebra
        if own_bodies is not None:
            ijk = np.rint(labels.world_to_voxel(bone.xyz[m.is_body])).astype(np.int64)
            own_bodies[ijk[:, 0], ijk[:, 1], ijk[:, 2]] = 1
    if bodies is None and own_bodies is not None:
        bodies = replace(labels, array=own_bodies, source="bodies separated from the arches")
    if bodies is not None:
        order = [b.name for b in bones]
        measured = _with_report_heights(measured, labels, ids, on_grid(bodies, ct, resample), order)
    geometry = SpineGeometry(
        vertebrae=measured,
        discs=_discs(measured),
        c7_centroid=measured["C7"].centroid if "C7" in measured else None,
        source="mr" if ct.modality == "MR" else "ct",
        source_detail=source_detail or f"{labels.source or 'label map'} ({_conv(convention)})",
    )
    return geometry, fields


def geometry_from_labels(
    ct: Volume,
    labels: Volume,
    convention: Convention = "totalseg",
    *,
    resample: bool = False,
    source_detail: str = "",
    bodies: Volume | None = None,
    heights: HeightMethod = "edges",
) -> SpineGeometry:
    """Measure every labelled vertebra and the discs between whole neighbours.

    ``ct`` is in HU (an MR gives geometry but meaningless densities), ``labels`` a label map on
    the same grid (resampled by nearest neighbour when ``resample``) with IDs of ``convention``
    ("totalseg", "verse" or a mapping ID -> vertebra). Returns a SpineGeometry head to pelvis;
    vertebrae cut by the field of view are flagged partial.

    Body ``heights`` are by default the anterior, middle and posterior heights of the fitted
    endplates at the body's edges (as on a lateral radiograph); "report" measures them as
    TotalSegmentator's spine report does (``report_heights``) on the bodies this function
    separates from the arches. ``bodies``, TotalSegmentator's ``vertebrae_body`` map (label 1 =
    vertebral bodies), implies "report" and is used instead of that separation."""
    geometry, _ = _measure_spine(ct, labels, convention, resample, source_detail, bodies, heights)
    return geometry


def measure_anatomy(images: Images, heights: HeightMethod = "edges") -> SpineGeometry:
    """The anatomy stage: the geometry of the labelled volume, the screw corridor of every
    pedicle of a whole lumbar or sacral vertebra, and on a CT the dural sac at each disc.
    ``heights`` is the body-height method, which the geometry's ``parameters`` record."""
    from spinefuse.anatomy.corridors import with_corridors
    from spinefuse.anatomy.dural_sac import with_dural_sacs

    assert images.volume is not None and images.labels is not None and images.convention
    geometry, fields = _measure_spine(
        images.volume,
        images.labels,
        images.convention,
        False,
        images.label_detail,
        None,
        heights,
    )
    geometry = with_corridors(geometry, fields).model_copy(
        update={
            "parameters": {**geometry.parameters, "body_heights": heights},
            "needs_confirmation": _to_confirm(images),
        }
    )
    unresolved = [
        f"{name} {side}"
        for name, v in geometry.vertebrae.items()
        for side in v.corridors
        if side not in v.pedicles and name != "S1"  # the sacrum's isthmus is not measured
    ]
    if unresolved:
        voxel = float(np.max(images.volume.spacing))
        geometry = geometry.model_copy(
            update={
                "notes": [
                    *geometry.notes,
                    f"pedicle isthmus not resolved at {', '.join(unresolved)} (voxels of "
                    f"{voxel:.2f} mm): the screw corridors fitted on the label map stand in for "
                    "it, their widths bounded by the bone's clearance; check those screws on a "
                    "finer image",
                ]
            }
        )
    if images.volume.modality != "CT":
        return geometry
    return with_dural_sacs(images.volume, geometry)


def _to_confirm(images: Images) -> list[str]:
    """What the quality gate and the segmentation ask the surgeon to confirm."""
    out = []
    if images.segmentation is not None:
        if images.segmentation.needs_anchor:
            out.append(
                "the levels are named by a guess: no sacrum, iliac crest or lowest rib in view "
                "names them; confirm the lowest level (segmentation.options.lowest_in_view)"
            )
        out += [m.text for m in images.segmentation.messages if m.code != "partial_level"]
    if images.gate is not None:
        out += [m.split(" ", 1)[1] for m in images.gate.messages if m.startswith("CONFIRM")]
    return list(dict.fromkeys(out))


def _conv(convention: Convention) -> str:
    return convention if isinstance(convention, str) else "custom IDs"
