"""Disc height and the nucleus-to-CSF signal ratio on MR, graded Pfirrmann I–V.

Methods, cut-offs and sources: blocks ``disc_height`` and ``pfirrmann`` of
``data/mr_criteria.yaml``; the tissue properties of the signal model in ``data/mr_tissue.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spinefuse.anatomy.mr_signal import sequence_times, spin_echo, tissue_table
from spinefuse.assess.assessment import Measurement, NotMeasured
from spinefuse.assess.criteria import block as ct_block
from spinefuse.assess.mr_levels import (
    XS,
    YS,
    DiscSite,
    Outline,
    criteria,
    csf_reference,
    disc_thickness,
    method,
    sample_image,
    source,
)
from spinefuse.imaging.mr_series import MrImage, MrSeries

GRADES = ("I", "II", "III", "IV", "V")


@dataclass(frozen=True)
class DiscHeight:
    """The disc's middle thickness (mm) and its height index (over the outline's depth)."""

    height_mm: float
    index: float | None


def measure_height(
    site: DiscSite, mr: MrSeries, ol: Outline | None
) -> tuple[DiscHeight | None, list[Measurement], list[NotMeasured]]:
    """The disc height of one disc (or why not)."""
    crit = criteria("disc_height")
    name = "mr_disc_height"
    labelled = mr.labelled_image
    assert labelled is not None
    if site.partial:
        return (
            None,
            [],
            [
                NotMeasured(
                    name=name, level=site.segment, reason="the disc is cut by the field of view"
                )
            ],
        )
    extent = labelled.extent_along(site.rot[:, 2])
    if extent > crit["max_voxel_mm"]:
        reason = (
            f"the labelled series ({labelled.label()}) has {extent:.1f} mm voxels along the "
            f"disc's axis, more than {crit['max_voxel_mm']:g} mm: too coarse for its height"
        )
        return None, [], [NotMeasured(name=name, level=site.segment, reason=reason)]
    centre = None if ol is None else (0.0, ol.centre_y)
    thick = disc_thickness(site, crit["central_fraction"], centre)
    if thick is None or not len(thick[0]):
        return (
            None,
            [],
            [NotMeasured(name=name, level=site.segment, reason="no central disc section")],
        )
    height = float(np.mean(thick[0]))
    index = height / ol.upper_depth if ol is not None and ol.upper_depth > 0 else None
    detail = {"voxel_along_axis_mm": f"{extent:.2f}", "lines": str(len(thick[0]))}
    if index is not None:
        detail["height_index"] = f"{index:.3f}"
    out = [
        Measurement(
            name=name,
            value=height,
            unit="mm",
            level=site.segment,
            method=method("disc_height"),
            source=source("disc_height"),
            detail=detail,
        )
    ]
    return DiscHeight(height, index), out, []


def _times(image: MrImage) -> tuple[float, float, str]:
    te, tr = sequence_times(image.weighting or "T2")
    if image.echo_time_ms and image.repetition_time_ms:
        return image.echo_time_ms, image.repetition_time_ms, "the series' TE and TR"
    return te, tr, f"TE {te:g} ms / TR {tr:g} ms assumed (the series does not say)"


def ratio_boundaries(te_ms: float, tr_ms: float) -> list[float]:
    """Nucleus/CSF signal ratios at the grade boundaries I/II, II/III, III/IV for a series."""
    table = tissue_table()
    nuc, csf = table["nucleus_1"], table["csf"]
    ref = spin_echo(csf["pd"], csf["t1_ms"], csf["t2_ms"], te_ms, tr_ms)
    return [
        spin_echo(nuc["pd"], nuc["t1_ms"], t2, te_ms, tr_ms) / ref
        for t2 in criteria("pfirrmann")["t2_boundaries_ms"]
    ]


def nucleus_signal(
    site: DiscSite, image: MrImage, height_mm: float, ol: Outline | None = None
) -> float | None:
    """Mean signal of the disc's central region (the nucleus) on ``image``: about the middle of
    the disc-space outline (of the disc's own section without one), so that herniated material
    does not move it."""
    frac = criteria("pfirrmann")["nucleus_fraction"]
    key = site.spine.discs[site.segment]
    mid = site.labels_at(site.section(0.0)) == key
    if mid.sum() < 20:
        return None
    gx, gy = np.meshgrid(XS, YS, indexing="ij")
    region = mid if ol is None else ol.mask & mid
    if region.sum() < 20:
        region = mid
    cx, cy = (
        0.5 * (gx[region].min() + gx[region].max()),
        0.5 * (gy[region].min() + gy[region].max()),
    )
    wx, wy = gx[region].max() - gx[region].min(), gy[region].max() - gy[region].min()
    sel = mid & (np.abs(gx - cx) <= frac * wx) & (np.abs(gy - cy) <= frac * wy)
    zs = np.linspace(-0.3, 0.3, 5) * 0.5 * height_mm
    pts = site.world(gx[sel][:, None], gy[sel][:, None], zs[None, :])
    inside = site.labels_at(pts) == key
    vals = sample_image(image.volume, pts[inside])
    vals = vals[np.isfinite(vals)]
    return float(vals.mean()) if len(vals) >= 5 else None


def measure_signal(
    site: DiscSite, mr: MrSeries, height: DiscHeight | None, ol: Outline | None = None
) -> tuple[list[Measurement], list[NotMeasured]]:
    """The nucleus/CSF ratio on the best sagittal series and, on T2, the Pfirrmann grade."""
    crit = criteria("pfirrmann")
    level = site.segment
    if site.partial:
        reason = "the disc is cut by the field of view"
        return [], [NotMeasured(name="pfirrmann_grade", level=level, reason=reason)]
    image = mr.first("sagittal", "T2") or mr.first("sagittal", "T1") or mr.first("axial", "T2")
    if image is None:
        reason = "no sagittal T2 or T1 series"
        return [], [NotMeasured(name="disc_signal_ratio", level=level, reason=reason)]
    extent = image.extent_along(site.rot[:, 2])
    if extent > crit["max_voxel_mm"]:
        reason = f"{image.label()} has {extent:.1f} mm voxels along the disc's axis"
        return [], [NotMeasured(name="disc_signal_ratio", level=level, reason=reason)]
    h = height.height_mm if height is not None else 8.0
    nucleus = nucleus_signal(site, image, h, ol)
    weighting = image.weighting or "T2"
    csf = csf_reference(site, image.volume, weighting)
    if nucleus is None or csf is None or csf <= 0:
        why = "no canal or cord label near the disc" if csf is None else "no nucleus region"
        return [], [NotMeasured(name="disc_signal_ratio", level=level, reason=why)]
    ratio = nucleus / csf
    te, tr, times = _times(image)
    out = [
        Measurement(
            name="disc_signal_ratio",
            value=ratio,
            unit="",
            level=level,
            method=method("pfirrmann"),
            source=source("pfirrmann"),
            detail={
                "weighting": weighting,
                "series": image.label(),
                "nucleus": f"{nucleus:.1f}",
                "csf": f"{csf:.1f}",
            },
        )
    ]
    if weighting != "T2":
        reason = f"Pfirrmann grading reads T2 signal; the disc was read on {image.label()}"
        return out, [NotMeasured(name="pfirrmann_grade", level=level, reason=reason)]
    bounds = ratio_boundaries(te, tr)
    grade = 1 + sum(ratio < b for b in bounds)
    collapsed = False
    if height is not None and height.index is not None:
        normal = ct_block("disc_height")["normal_index"].get(level)
        if normal is not None:
            collapsed = height.index < crit["collapse_index_ratio"] * normal
    if collapsed and grade >= 4:
        grade = 5
    detail = {
        "grade": GRADES[grade - 1],
        "boundaries": ", ".join(f"{b:.3f}" for b in bounds),
        "times": times,
        "collapsed": "yes" if collapsed else "no",
    }
    out.append(
        Measurement(
            name="pfirrmann_grade",
            value=float(grade),
            unit="",
            level=level,
            method=method("pfirrmann"),
            source=source("pfirrmann"),
            detail=detail,
        )
    )
    return out, []
