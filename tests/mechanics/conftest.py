"""Surgical plans built by hand from a geometry's pedicles, as the planning stage would."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from spinefuse.anatomy.geometry import SpineGeometry
from spinefuse.conventions import segment_vertebrae
from spinefuse.plan.surgical_plan import Cage, Decompression, Graft, PedicleScrew, Rod, SurgicalPlan

PlanFactory = Callable[..., SurgicalPlan]


def make_plan(
    g: SpineGeometry,
    segments: list[str],
    technique: str = "TLIF",
    rod_material: str = "titanium",
    rod_diameter_mm: float = 5.5,
) -> SurgicalPlan:
    """Screws in every pedicle of the fused levels, two rods, a cage per segment for an
    interbody technique, and a unilateral facetectomy for TLIF."""
    levels = segment_vertebrae(segments)
    screws = []
    for name in levels:
        v = g.vertebra(name)
        for side in ("left", "right"):
            p = v.pedicles[side]
            assert p.entry_point is not None
            screws.append(
                PedicleScrew(
                    vertebra=name,
                    side=side,
                    entry_point=p.entry_point,
                    direction=p.axis,
                    diameter_mm=6.5,
                    length_mm=45.0,
                    medial_angle_deg=20.0,
                    cranial_angle_deg=0.0,
                )
            )
    rods = []
    for side in ("left", "right"):
        pts = [s.entry_point for s in screws if s.side == side]
        length = float(
            sum(np.linalg.norm(np.subtract(a, b)) for a, b in zip(pts[:-1], pts[1:], strict=True))
        )
        rods.append(
            Rod(
                side=side,
                material=rod_material,  # type: ignore[arg-type]
                diameter_mm=rod_diameter_mm,
                length_mm=length + 10.0,
                points=pts,
            )
        )
    cages = []
    decompressions = []
    if technique != "PLF":
        for seg in segments:
            d = g.disc(seg)
            cages.append(
                Cage(
                    segment=seg,
                    technique=technique,  # type: ignore[arg-type]
                    material="peek",
                    width_mm=11.0,
                    depth_mm=30.0,
                    height_mm=d.middle_height_mm,
                    centre=d.centre,
                )
            )
            if technique == "TLIF":
                decompressions.append(
                    Decompression(segment=seg, kind="facetectomy_unilateral", side="left")
                )
    regions = ["interbody", "posterolateral"] if cages else ["posterolateral"]
    return SurgicalPlan(
        fuse_segments=segments,
        approach="open",
        technique=technique,  # type: ignore[arg-type]
        decompressions=decompressions,
        screws=screws,
        rods=rods,
        cages=cages,
        graft=Graft(material="local_autograft", volume_cm3=10.0, regions=regions),  # type: ignore[arg-type]
    )


@pytest.fixture
def plan_factory() -> PlanFactory:
    return make_plan
