"""Modic changes of the endplates on MR: the marrow next to each endplate against the body's
middle on T1 and T2, typed 1–3 (Modic 1988). Block ``modic`` of ``data/mr_criteria.yaml``."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from spinefuse.assess.assessment import Measurement, NotMeasured
from spinefuse.assess.mr_levels import (
    XS,
    YS,
    DiscSite,
    Outline,
    criteria,
    disc_surfaces,
    method,
    sample_image,
    source,
)
from spinefuse.imaging.mr_series import MrSeries


def modic_type(t1_ratio: float, t2_ratio: float) -> int:
    """Modic type (0 none) of marrow signal ratios to the body's middle on T1 and T2."""
    crit = criteria("modic")
    hypo, hyper = crit["hypo"], crit["hyper"]
    if t1_ratio < hypo and t2_ratio > hyper:
        return 1
    if t1_ratio > hyper and t2_ratio >= hypo:
        return 2
    if t1_ratio < hypo and t2_ratio < hypo:
        return 3
    return 0


def measure_modic(
    site: DiscSite, mr: MrSeries, ol: Outline | None
) -> tuple[list[Measurement], list[NotMeasured]]:
    """``modic_type`` of the upper vertebra's inferior and the lower one's superior endplate."""
    t1 = mr.first("sagittal", "T1")
    t2 = mr.first("sagittal", "T2") or mr.first("sagittal", "STIR")
    name = "modic_type"
    if t1 is None or t2 is None:
        have = "T1" if t1 is not None else "T2" if t2 is not None else "neither"
        reason = f"Modic typing needs sagittal T1 and T2 (or STIR); the study has {have}"
        return [], [NotMeasured(name=name, level=site.segment, reason=reason)]
    if ol is None or site.partial:
        reason = "the endplates need the disc whole and both bodies labelled beside it"
        return [], [NotMeasured(name=name, level=site.segment, reason=reason)]
    crit = criteria("modic")
    planes = disc_surfaces(site)
    gx, gy = np.meshgrid(XS, YS, indexing="ij")
    core = ndimage.binary_erosion(ol.mask, iterations=6)  # 3 mm in from the margins
    out: list[Measurement] = []
    for vertebra, which, sign, k in (
        (site.upper, "inferior", 1.0, 0),
        (site.lower, "superior", -1.0, 1),
    ):
        if vertebra not in site.spine.vertebrae:
            continue
        key = site.spine.vertebrae[vertebra]
        surface = (
            np.full_like(gx, sign * ol.half_height)
            if planes is None
            else planes[k][0] + planes[k][1] * gx + planes[k][2] * gy
        )
        ratios = {}
        for w, image in (("T1", t1), ("T2", t2)):
            vals = {}
            for part, (lo, hi) in (("band", crit["band_mm"]), ("reference", crit["reference_mm"])):
                samples = []
                for d in np.arange(lo, hi + 1e-9, 1.0):
                    pts = site.world(gx[core], gy[core], surface[core] + sign * d)
                    inside = site.labels_at(pts) == key
                    samples.append(sample_image(image.volume, pts[inside]))
                v = np.concatenate(samples)
                vals[part] = float(np.nanmedian(v)) if np.isfinite(v).sum() >= 10 else np.nan
            ratios[w] = vals["band"] / vals["reference"] if vals["reference"] > 0 else np.nan
        if not np.isfinite(list(ratios.values())).all():
            out_nm = NotMeasured(
                name=name,
                level=vertebra,
                reason=f"no marrow of {vertebra} beside the {which} endplate",
            )
            return out, [out_nm]
        kind = modic_type(ratios["T1"], ratios["T2"])
        out.append(
            Measurement(
                name=name,
                value=float(kind),
                unit="",
                level=vertebra,
                method=method("modic"),
                source=source("modic"),
                detail={
                    "endplate": which,
                    "segment": site.segment,
                    "t1_ratio": f"{ratios['T1']:.2f}",
                    "t2_ratio": f"{ratios['T2']:.2f}",
                },
            )
        )
    return out, []
