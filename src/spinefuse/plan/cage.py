"""Interbody cages: footprint from the endplates, height toward the healthy disc height, lordosis
toward the pelvic-incidence-based target, and a subsidence warning from the endplate bone density.

All rules are read from ``data/planning_rules.yaml`` with their sources. Sizes in mm, angles in
degrees at the record's edge, points in the world frame (RAS, mm).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from spinefuse.anatomy.geometry import SpineGeometry
from spinefuse.assess.assessment import Assessment
from spinefuse.conventions import parse_segment
from spinefuse.errors import GeometryError
from spinefuse.plan.catalogue import Catalogue
from spinefuse.plan.rules import PlanningRules
from spinefuse.plan.screws import purchase_band
from spinefuse.plan.surgical_plan import Cage, Technique
from spinefuse.plan.technique import segment_findings


def pelvic_incidence_deg(geometry: SpineGeometry, assessment: Assessment | None) -> float | None:
    """Pelvic incidence (deg): the assessment's measurement, else from the S1 endplate and the hip
    axis in the sagittal plane, else the geometry's generating parameter."""
    if assessment is not None:
        for m in assessment.measurements:
            if m.name in ("pelvic_incidence", "pelvic_incidence_deg") and m.unit in ("deg", "°"):
                return m.value
    if geometry.pelvis is not None and "S1" in geometry.vertebrae:
        plate = geometry.vertebra("S1").superior
        c = np.asarray(plate.centre)[1:]
        down = -np.asarray(plate.normal)[1:]
        hip = np.asarray(geometry.pelvis.hip_axis_centre)[1:] - c
        cos = float(down @ hip / (np.linalg.norm(down) * np.linalg.norm(hip)))
        return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))
    value = geometry.parameters.get("pelvic_incidence_deg")
    return float(value) if isinstance(value, float | int) else None


@dataclass(frozen=True)
class CageTargets:
    height_mm: float
    height_reason: str
    lordosis_deg: float
    lordosis_reason: str


@dataclass(frozen=True)
class CagePlan:
    cage: Cage
    reasons: list[str]
    warnings: list[str]


def cage_targets(
    geometry: SpineGeometry,
    assessment: Assessment,
    segment: str,
    fused: list[str],
    rules: PlanningRules,
) -> CageTargets:
    """Target disc height (mm) and segmental lordosis (deg) for a fused segment."""
    healthy = []
    for s in geometry.discs:
        if s == segment or s in fused or segment_findings(assessment, s):
            continue
        up, low = parse_segment(s)
        us, ls = parse_segment(segment)
        if up == ls or low == us:  # an adjacent disc
            healthy.append(geometry.discs[s].middle_height_mm)
    table = rules.cage_height_mm.values.get(segment)
    if healthy:
        height = float(np.mean(healthy))
        height_reason = f"the healthy adjacent disc height ({height:.1f} mm)"
    elif table is not None:
        height = table
        height_reason = f"the mean implanted cage height at {segment} ({height:.1f} mm, cited)"
    else:
        height = float(np.mean(list(rules.cage_height_mm.values.values())))
        height_reason = f"the mean implanted cage height ({height:.1f} mm)"
    pi = pelvic_incidence_deg(geometry, assessment)
    share = rules.segmental_lordosis_share.values.get(segment, 0.2)
    if pi is not None:
        ll = rules.lordosis_target_deg(pi)
        lordosis = ll * share
        lordosis_reason = (
            f"PI {pi:.0f}° -> target lordosis {ll:.0f}°, {share:.0%} of it at {segment} "
            f"({lordosis:.1f}°)"
        )
    else:
        disc = geometry.discs.get(segment)
        lordosis = disc.wedge_deg if disc is not None else 0.0
        lordosis_reason = f"PI unknown: keep the present disc angle ({lordosis:.1f}°)"
    return CageTargets(height, height_reason, lordosis, lordosis_reason)


def plan_cage(
    geometry: SpineGeometry,
    assessment: Assessment,
    segment: str,
    technique: Technique,
    fused: list[str],
    catalogue: Catalogue,
    rules: PlanningRules,
) -> CagePlan:
    """The cage for one fused segment, the reasons behind its sizes and its warnings."""
    if technique == "PLF":
        raise GeometryError("PLF places no interbody cage")
    line = catalogue.cage_line(technique)
    up, low = parse_segment(segment)
    upper, lower = geometry.vertebra(up), geometry.vertebra(low)
    top = upper.inferior
    if top is None:
        raise GeometryError(f"{up} has no inferior endplate to bear a cage at {segment}")
    bottom = lower.superior
    disc = geometry.disc(segment)
    reasons: list[str] = []

    # Footprint: the largest stocked one inside the endplate (PLIF: two side by side).
    fp = rules.cage_footprint_fraction.value
    width_lim = fp * min(top.width_mm, bottom.width_mm)
    depth_lim = fp * min(top.depth_mm, bottom.depth_mm)
    gap = 4.0 if line.count == 2 else 0.0

    def fits(wd: tuple[float, float]) -> bool:
        return line.count * wd[0] + gap <= width_lim and wd[1] <= depth_lim

    fitting = [wd for wd in line.footprints_mm if fits(wd)]
    warnings: list[str] = []
    if fitting:
        width, depth = max(fitting, key=lambda wd: wd[0] * wd[1])
    else:
        width, depth = min(line.footprints_mm, key=lambda wd: wd[0] * wd[1])
        warnings.append(
            f"{segment}: the smallest {technique} cage ({width:g} × {depth:g} mm) overhangs the "
            f"endplate ({top.width_mm:.0f} × {top.depth_mm:.0f} mm)"
        )
    reasons.append(
        f"{segment} cage footprint {width:g} × {depth:g} mm"
        + (" (×2)" if line.count == 2 else "")
        + f" within {fp:.0%} of the endplate ({width_lim / fp:.0f} × {depth_lim / fp:.0f} mm)"
    )

    # Centre: TLIF in the anterior third, LLIF/ALIF slightly anterior, PLIF centred.
    c = np.asarray(disc.centre)
    ant = np.asarray(bottom.anterior) - np.asarray(bottom.posterior)
    ant /= np.linalg.norm(ant)
    spare = max(min(top.depth_mm, bottom.depth_mm) - depth, 0.0)
    shift = {"TLIF": 0.4, "ALIF": 0.25, "LLIF": 0.25}.get(technique, 0.0) * spare
    centre = c + shift * ant
    # the disc space under the cage: linear from the posterior to the anterior height
    along = float(np.clip(0.5 + shift / max(bottom.depth_mm, 1.0), 0.0, 1.0))
    space = disc.posterior_height_mm + along * (disc.anterior_height_mm - disc.posterior_height_mm)

    # Height: the tallest stocked height not over the target (no over-distraction), and never
    # shorter than the space it sits in (a cage that does not touch both endplates is loose).
    t = cage_targets(geometry, assessment, segment, fused, rules)
    heights = [h for h in line.heights_mm if h <= t.height_mm + 0.5]
    height = heights[-1] if heights else line.heights_mm[0]
    floor = max(disc.posterior_height_mm, space)
    height = max(
        height,
        min((h for h in line.heights_mm if h >= floor - 0.05), default=max(line.heights_mm)),
    )
    reasons.append(
        f"{segment} cage height {height:g} mm toward {t.height_reason}; present middle height "
        f"{disc.middle_height_mm:.1f} mm, {space:.1f} mm at the cage's footprint"
    )
    if height < space - 0.05:
        warnings.append(
            f"{segment}: the tallest stocked {technique} cage ({height:g} mm) is shorter than "
            f"the {space:.1f} mm disc space at its footprint: it is seated with no distraction"
        )
    over = height - max(t.height_mm, space)
    sub = rules.cage_subsidence_risk
    if over > 1.0:
        warnings.append(
            f"{segment}: {height:g} mm cage distracts {over:.1f} mm past "
            + ("the target " if t.height_mm >= space else "the present disc space ")
            + f"(subsidence odds × {sub.over_distraction_odds_ratio_per_mm:g} per mm)"
        )
    lordosis = min(line.lordosis_deg, key=lambda a: abs(a - t.lordosis_deg))
    reasons.append(f"{segment} cage lordosis {lordosis:g}°: {t.lordosis_reason}")
    if abs(lordosis - t.lordosis_deg) > 5.0:
        warnings.append(
            f"{segment}: stocked {technique} cages reach {lordosis:g}° of the "
            f"{t.lordosis_deg:.1f}° target lordosis"
        )

    # Subsidence: the weaker endplate's subchondral HU, else the bodies' trabecular HU.
    plate_hu = [p.hu for p in (top, bottom) if p.hu is not None]
    body_hu = [v.trabecular_hu for v in (upper, lower) if v.trabecular_hu is not None]
    hu = min(plate_hu) if plate_hu else (min(body_hu) if body_hu else None)
    where = "endplate" if plate_hu else "trabecular"
    band = purchase_band(hu, rules)
    subsidence = None
    if band == "poor":
        subsidence = (
            f"{segment}: {where} {hu:.0f} HU is in the osteoporotic range: subsidence odds × "
            f"{sub.osteoporosis_odds_ratio:g} (severe > {sub.severe_subsidence_mm:g} mm); prefer "
            "a wide footprint on the apophyseal ring (LLIF/ALIF), no over-distraction"
        )
    elif band == "reduced":
        subsidence = (
            f"{segment}: {where} {hu:.0f} HU suggests osteopenia: raised subsidence risk; keep "
            "the cage on the apophyseal ring"
        )

    z = np.asarray(bottom.normal)
    y = ant - z * (ant @ z)
    y /= np.linalg.norm(y)
    material: Literal["peek", "titanium"] = "peek" if "peek" in line.materials else "titanium"
    modulus = catalogue.material(catalogue.cage_material_key(material)).elastic_modulus_mpa
    reasons.append(
        f"{segment} cage {material}: modulus {modulus / 1000:.1f} GPa"
        + (", near that of bone, radiolucent for judging fusion" if material == "peek" else "")
    )
    cage = Cage(
        segment=segment,
        technique=technique,
        material=material,
        width_mm=width,
        depth_mm=depth,
        height_mm=height,
        lordosis_deg=lordosis,
        centre=(float(centre[0]), float(centre[1]), float(centre[2])),
        count=line.count,
        subsidence_warning=subsidence,
        normal=(float(z[0]), float(z[1]), float(z[2])),
        anterior=(float(y[0]), float(y[1]), float(y[2])),
    )
    return CagePlan(cage, reasons, warnings)
