"""All measurements of one patient, from a :class:`SpineGeometry` or from X-ray landmark files.

The same sagittal and coronal code runs on both (through :mod:`spinefuse.assess.views`); the
geometry adds what radiographs cannot show: the canal and dural sac, the foramina and the bone
density.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from spinefuse.anatomy.geometry import SpineGeometry
from spinefuse.assess.assessment import Measurement
from spinefuse.assess.cobb import measure_coronal
from spinefuse.assess.criteria import block, source
from spinefuse.assess.instability import measure_instability
from spinefuse.assess.sagittal import measure_sagittal
from spinefuse.assess.views import (
    coronal_from_geometry,
    coronal_from_landmarks,
    sagittal_from_geometry,
    sagittal_from_landmarks,
)
from spinefuse.conventions import parse_segment
from spinefuse.errors import ImagingError
from spinefuse.imaging.xray_landmarks import XrayLandmarks


def measure_canal(g: SpineGeometry) -> list[Measurement]:
    """Dural sac area and AP diameter at each disc, bony canal AP diameter and area at each
    vertebra (mm, mm²), with the central-stenosis cut-offs as normal ranges."""
    crit = block("central_stenosis")
    src = source("central_stenosis")
    out: list[Measurement] = []
    for seg, d in g.discs.items():
        if d.canal is None:
            continue
        out.append(
            Measurement(
                name="dural_sac_area",
                value=d.canal.area_mm2,
                unit="mm2",
                level=seg,
                normal_range=(crit["dural_sac_relative_mm2"], 400.0),
                method="dural sac cross-section at the disc",
                source=src,
            )
        )
        out.append(
            Measurement(
                name="dural_sac_ap_diameter",
                value=d.canal.ap_diameter_mm,
                unit="mm",
                level=seg,
                method="mid-sagittal dural sac diameter at the disc",
                source=src,
            )
        )
    for name, v in g.vertebrae.items():
        # the bony canal is a CT measurement: an MR label map's canal hole is no bone edge (the
        # MR measures the dural sac itself, assess.mr_stenosis)
        if v.canal is None or v.partial or g.source == "mr":
            continue
        out.append(
            Measurement(
                name="canal_ap_diameter",
                value=v.canal.ap_diameter_mm,
                unit="mm",
                level=name,
                normal_range=(crit["canal_ap_relative_mm"], 40.0),
                method="mid-sagittal bony canal diameter at the pedicles",
                source=src,
            )
        )
        out.append(
            Measurement(
                name="canal_area",
                value=v.canal.area_mm2,
                unit="mm2",
                level=name,
                method="bony canal cross-section at the pedicles",
                source=src,
            )
        )
    return out


def measure_foramina(g: SpineGeometry) -> list[Measurement]:
    """Foraminal height per segment (mm): the gap between the upper pedicle's lower edge and
    the lower pedicle's upper edge along the segment's mean axis, the smaller side."""
    crit = block("foraminal")
    out: list[Measurement] = []
    for seg in g.discs:
        upper, lower = (g.vertebra(n) for n in parse_segment(seg))
        heights: dict[str, float] = {}
        for side in ("left", "right"):
            pu, pl = upper.pedicles.get(side), lower.pedicles.get(side)
            if pu is None or pl is None or upper.inferior is None:
                continue
            axis = np.asarray(upper.superior.normal) - np.asarray(upper.inferior.normal)
            axis = axis + 2.0 * np.asarray(lower.superior.normal)
            axis /= np.linalg.norm(axis)
            gap = float((np.asarray(pu.isthmus_centre) - np.asarray(pl.isthmus_centre)) @ axis)
            heights[side] = gap - 0.5 * (pu.height_mm + pl.height_mm)
        if heights:
            out.append(
                Measurement(
                    name="foraminal_height",
                    value=min(heights.values()),
                    unit="mm",
                    level=seg,
                    normal_range=(crit["foraminal_height_mm"], 40.0),
                    method="pedicle-to-pedicle gap along the segment axis, smaller side",
                    source=source("foraminal"),
                    detail={f"{side}_mm": f"{h:.2f}" for side, h in heights.items()},
                )
            )
    return out


def measure_bone_density(g: SpineGeometry) -> list[Measurement]:
    """Trabecular attenuation (HU) of the reference level (L1), else the mean of the lumbar
    vertebrae that have one."""
    crit = block("bone_density")
    ref = g.vertebrae.get(crit["level"])
    detail: dict[str, str] = {}
    level: str | None
    if ref is not None and ref.trabecular_hu is not None and not ref.partial:
        value, level = ref.trabecular_hu, crit["level"]
        method = f"{crit['level']} trabecular HU"
    else:
        hus = {
            n: v.trabecular_hu
            for n, v in g.vertebrae.items()
            if v.trabecular_hu is not None and not v.partial and n.startswith("L")
        }
        if not hus:
            return []
        value = float(np.mean(list(hus.values())))
        # a mean over several vertebrae belongs to none of them (and to no motion segment)
        level = next(iter(hus)) if len(hus) == 1 else None
        detail["vertebrae"] = ", ".join(hus)
        method = f"mean trabecular HU of {', '.join(hus)} ({crit['level']} not available)"
    return [
        Measurement(
            name="trabecular_hu",
            value=value,
            unit="HU",
            level=level,
            normal_range=(crit["osteopenia_hu"], 400.0),
            method=method,
            source=source("bone_density"),
            detail=detail,
        )
    ]


def measure_body_heights(g: SpineGeometry) -> list[Measurement]:
    """Height loss (%) of each whole vertebral body, as the Genant method reads it: the
    anterior (wedge), middle (biconcave) and posterior (crush: against the neighbours'
    posterior heights) heights against the expected one; the largest is reported, with its
    type in ``detail``."""
    whole = {
        n: v
        for n, v in g.vertebrae.items()
        if not v.partial
        and v.anterior_height_mm is not None
        and v.middle_height_mm is not None
        and v.posterior_height_mm is not None
    }
    names = list(g.vertebrae)
    out = []
    for name, v in whole.items():
        i = names.index(name)
        neighbours = [
            w.posterior_height_mm
            for w in (whole.get(names[j]) for j in (i - 1, i + 1) if 0 <= j < len(names))
            if w is not None and w.posterior_height_mm is not None
        ]
        hp = float(v.posterior_height_mm)  # type: ignore[arg-type]
        losses = {
            "wedge": 100.0 * (1.0 - float(v.anterior_height_mm) / hp),  # type: ignore[arg-type]
            "biconcave": 100.0 * (1.0 - float(v.middle_height_mm) / hp),  # type: ignore[arg-type]
        }
        if neighbours:
            losses["crush"] = 100.0 * (1.0 - hp / float(np.mean(neighbours)))
        kind = max(losses, key=lambda k: losses[k])
        out.append(
            Measurement(
                name="height_loss_percent",
                value=max(losses[kind], 0.0),
                unit="%",
                level=name,
                normal_range=(0.0, block("genant")["grade_1_percent"]),
                method="largest reduction of the anterior or middle height against the "
                "posterior, or of the posterior against the neighbours' posterior heights",
                source=source("genant"),
                detail={"type": kind, **{k: f"{x:.1f}" for k, x in losses.items()}},
            )
        )
    return out


def measure_geometry(g: SpineGeometry) -> list[Measurement]:
    """Every measurement a geometry allows: sagittal, coronal, canal, foramina, bone density,
    vertebral body height loss."""
    out = measure_sagittal(sagittal_from_geometry(g))
    coronal = coronal_from_geometry(g)
    if coronal is not None:
        out += measure_coronal(coronal)
    return (
        out
        + measure_canal(g)
        + measure_foramina(g)
        + measure_bone_density(g)
        + measure_body_heights(g)
    )


def measure_landmarks(landmarks: Sequence[XrayLandmarks]) -> list[Measurement]:
    """Measurements from radiograph landmark sets: the lateral film of role ``preop`` (or the
    only lateral), AP films (Cobb) and a flexion/extension pair (instability)."""
    lateral = [lm for lm in landmarks if lm.view == "lateral"]
    by_role = {lm.role: lm for lm in lateral}
    out: list[Measurement] = []
    standing = by_role.get("preop") or (lateral[0] if len(lateral) == 1 else None)
    if standing is None and lateral:
        standing = next((lm for lm in lateral if lm.role not in ("flexion", "extension")), None)
    if standing is not None:
        out += measure_sagittal(sagittal_from_landmarks(standing))
    for lm in landmarks:
        if lm.view == "ap":
            out += measure_coronal(coronal_from_landmarks(lm))
    if ("flexion" in by_role) != ("extension" in by_role):
        have = "flexion" if "flexion" in by_role else "extension"
        raise ImagingError(
            f"a {have} film ({by_role[have].source}) without its pair: instability needs both a "
            "flexion and an extension lateral landmark file"
        )
    if "flexion" in by_role:
        out += measure_instability(
            sagittal_from_landmarks(by_role["flexion"]),
            sagittal_from_landmarks(by_role["extension"]),
        )
    if not out:
        raise ImagingError("no measurable landmark file: give a lateral or an AP landmark file")
    return out
