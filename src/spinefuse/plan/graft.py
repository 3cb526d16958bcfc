"""Bone graft: the volume the fusion bed needs, what the decompression yields, and the material.

Interbody graft fills the cage's graft window (never below the cited TLIF volume); posterolateral
graft fills a decorticated gutter between adjacent transverse processes on each side. Local bone
comes from the decompression; when it falls short an extender is added, or iliac crest bone is
harvested for patients at high risk of non-union. Volumes in cm³.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from spinefuse.anatomy.geometry import SpineGeometry
from spinefuse.case import Case
from spinefuse.conventions import SIDES, parse_segment
from spinefuse.plan.catalogue import Catalogue
from spinefuse.plan.rules import PlanningRules
from spinefuse.plan.surgical_plan import Cage, Decompression, Graft, GraftMaterial, Technique

POSTEROLATERAL_TECHNIQUES: tuple[Technique, ...] = ("PLF", "TLIF", "PLIF")
"""Techniques whose exposure decorticates and grafts the posterolateral gutters; ALIF and LLIF
(with percutaneous or no posterior fixation) graft the disc space only."""

MM3_PER_CM3 = 1000.0


@dataclass(frozen=True)
class GraftNeed:
    interbody_cm3: float
    posterolateral_cm3: float
    local_yield_cm3: float

    @property
    def total_cm3(self) -> float:
        return self.interbody_cm3 + self.posterolateral_cm3


def graft_need(
    geometry: SpineGeometry,
    technique: Technique,
    segments: Sequence[str],
    cages: Sequence[Cage],
    decompressions: Sequence[Decompression],
    catalogue: Catalogue,
    rules: PlanningRules,
) -> GraftNeed:
    """Graft volumes (cm³) of the fusion bed and the local bone the decompression yields."""
    interbody = 0.0
    floor = rules.interbody_graft_cm3.min if technique in ("TLIF", "PLIF") else 0.0
    for c in cages:
        window = catalogue.cage_line(c.technique).graft_window_fraction
        v = c.count * c.width_mm * c.depth_mm * c.height_mm * window / MM3_PER_CM3
        interbody += max(v, floor)
    posterolateral = 0.0
    if technique in POSTEROLATERAL_TECHNIQUES:
        bed = rules.posterolateral_bed_mm
        for seg in segments:
            up, low = (geometry.vertebra(n) for n in parse_segment(seg))
            for side in SIDES:
                a, b = up.transverse_tips.get(side), low.transverse_tips.get(side)
                if a is None or b is None:
                    pa, pb = up.pedicles.get(side), low.pedicles.get(side)
                    if pa is None or pb is None:
                        continue
                    a, b = pa.isthmus_centre, pb.isthmus_centre
                gap = float(np.linalg.norm(np.subtract(a, b)))
                posterolateral += gap * bed.width * bed.thickness / MM3_PER_CM3
    yields = rules.local_bone_yield_cm3.values
    # the yields are per segment; a one-sided laminar decompression yields half of it
    local = sum(
        yields.get(d.kind, 0.0)
        * (0.5 if d.side != "bilateral" and not d.kind.startswith("facetectomy") else 1.0)
        for d in decompressions
    )
    return GraftNeed(interbody, posterolateral, local)


def high_nonunion_risk(case: Case, levels: int) -> list[str]:
    """Risk factors for non-union that justify harvesting iliac crest bone."""
    p = case.patient
    risks = []
    if p.smoking == "current":
        risks.append("current smoker (non-union RR 1.91, Nunna 2021)")
    if p.diabetes == "insulin":
        risks.append("insulin-treated diabetes")
    if levels >= 3:
        risks.append(f"{levels}-segment fusion")
    if any(s.procedure == "fusion" for s in p.prior_lumbar_surgery):
        risks.append("revision of a prior fusion")
    return risks


def plan_graft(
    case: Case,
    need: GraftNeed,
    technique: Technique,
    levels: int,
    catalogue: Catalogue,
    *,
    material: GraftMaterial | None = None,
    preferred: GraftMaterial | None = None,
) -> tuple[Graft, list[str], list[str], list[str]]:
    """The graft, with reasons, warnings and the names of overridden choices."""
    reasons: list[str] = []
    warnings: list[str] = []
    overridden: list[str] = []
    extender: GraftMaterial | None = None
    total = need.total_cm3
    if material is not None or preferred is not None:
        chosen: GraftMaterial = material or preferred  # type: ignore[assignment]
        overridden.append("graft")
        who = "set by the surgeon" if material is not None else "the case's preference"
        reasons.append(f"graft {chosen}: {who}")
    elif technique == "ALIF":
        chosen = "rhbmp2"
        reasons.append(
            "graft rhbmp2: ALIF harvests no local bone; rhBMP-2/ACS fused 94.5 % vs 88.7 % with "
            "iliac crest at 24 months (Burkus 2002)"
        )
    elif technique == "LLIF":
        chosen = "dbm"
        reasons.append(
            "graft dbm: LLIF harvests no local bone; DBM fuses as well as autograft "
            "(J Korean Neurosurg Soc 2020)"
        )
    elif need.local_yield_cm3 >= total:
        chosen = "local_autograft"
        reasons.append(
            f"graft local_autograft: the decompression yields {need.local_yield_cm3:.1f} cm³ for "
            f"the {total:.1f} cm³ bed"
        )
    else:
        risks = high_nonunion_risk(case, levels)
        if risks:
            chosen = "iliac_crest_autograft"
            reasons.append(
                f"graft iliac_crest_autograft: local bone ({need.local_yield_cm3:.1f} cm³) short "
                f"of the {total:.1f} cm³ bed and high non-union risk ({'; '.join(risks)})"
            )
            warnings.append("iliac crest harvest: donor-site pain in 16.7-20 % (PMC4993607)")
        else:
            chosen = "local_autograft"
            extender = "dbm"
            reasons.append(
                f"graft local_autograft + dbm extender: local bone ({need.local_yield_cm3:.1f} "
                f"cm³) short of the {total:.1f} cm³ bed"
            )
    if chosen == "allograft" and technique == "PLF":
        warnings.append("allograft alone in a posterolateral bed fused in 40 % (Eur Spine J 2018)")
    if chosen == "local_autograft" and need.local_yield_cm3 < total and extender is None:
        extender = "dbm"
        warnings.append(
            f"local bone {need.local_yield_cm3:.1f} cm³ is short of the {total:.1f} cm³ bed: "
            "extended with DBM"
        )
    bmp = None
    if chosen == "rhbmp2":
        conc = catalogue.grafts["rhbmp2"].concentration_mg_per_cm3 or 0.0
        bmp = round(conc * max(need.interbody_cm3, 0.0), 2)
    regions: list[str] = []
    if need.interbody_cm3 > 0:
        regions.append("interbody")
    if need.posterolateral_cm3 > 0:
        regions.append("posterolateral")
    graft = Graft(
        material=chosen,
        volume_cm3=round(total, 2),
        regions=regions,
        bmp_dose_mg=bmp,
        extender=extender,
        local_yield_cm3=round(need.local_yield_cm3, 2),
    )
    return graft, reasons, warnings, overridden
