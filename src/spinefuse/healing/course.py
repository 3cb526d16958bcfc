"""HealingCourse: what 24 months of fusion healing look like for one patient, as probabilities
and time series, and :func:`heal`, the healing stage for one case."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from spinefuse.anatomy.geometry import SpineGeometry
from spinefuse.case import Case
from spinefuse.errors import CaseError
from spinefuse.healing.batch import run_biology
from spinefuse.healing.biology import biology_row, osteogenic_multiplier, plan_regions
from spinefuse.healing.ensemble import EnsembleRun
from spinefuse.healing.parameters import REGIONS, HealingParameters, load_parameters
from spinefuse.healing.response import FUSION_GRID, FusionResponseLike, response_table
from spinefuse.healing.tissue import Rule
from spinefuse.plan.surgical_plan import SurgicalPlan
from spinefuse.records import Probability, Record

REPORT_MONTHS = (3, 6, 12, 24)
QUANTILES = {"p10": 0.10, "p25": 0.25, "p50": 0.50, "p75": 0.75, "p90": 0.90}


class RegionCourse(Record):
    """Bone fraction of one graft region over time, across the ensemble."""

    region: Literal["interbody", "posterolateral"]
    bone_fraction_median: list[float]
    bone_fraction_p10: list[float]
    bone_fraction_p90: list[float]


class SegmentCourse(Record):
    """Monthly time series of one fused segment (median and spread over the ensemble)."""

    segment: str
    months: list[float]
    regions: list[RegionCourse]
    fusion_probability: list[Probability] = Field(description="share fused at each month")
    fusion_fraction_median: list[float] = Field(description="fusion-mass stiffness, 0–1")
    stiffness_nmm_per_rad_median: list[float] = Field(description="segment flexion stiffness")
    stiffness_nmm_per_rad_p10: list[float]
    stiffness_nmm_per_rad_p90: list[float]
    motion_deg_median: list[float] = Field(description="flexion + extension rotation")
    rod_stress_mpa_median: list[float] = Field(description="highest peak rod stress")
    subsidence_mm_median: list[float]
    subsidence_mm_p90: list[float]
    rod_damage_median: list[float] = Field(description="Miner sum; the rod breaks at 1")
    rod_damage_p90: list[float]


class TimeToFusion(Record):
    """Distribution of the time to radiographic fusion over the ensemble (months); a quantile
    is None when fewer members than its share fused within the simulated months."""

    quantiles_months: dict[str, float | None]
    histogram_edges_months: list[float]
    histogram_share: list[Probability] = Field(description="share of members per bin")
    fused_share: Probability = Field(description="share fused within the simulated months")


class HealingCourse(Record):
    """The healing stage's record: fusion, non-union, subsidence and rod-fracture probabilities
    with the time series they come from."""

    case_id: str
    fused_segments: list[str]
    simulated_segment: str = Field(description="the most loaded fused segment")
    technique: str
    graft: str
    regions: list[Literal["interbody", "posterolateral"]]
    rule: Literal["lacroix_prendergast", "claes_heigele"]
    members: int = Field(ge=1)
    seed: int
    months: float = Field(gt=0)
    osteogenic_multiplier: float = Field(gt=0, description="patient biology, 1 = reference")
    trabecular_hu: float
    fusion_probability: dict[int, Probability] = Field(description="month -> P(fused)")
    nonunion_probability: Probability
    nonunion_criterion: str
    fusion_criterion: str = Field(
        default="", description="the CT criterion a member must meet to count as fused"
    )
    radiographic_criterion: str = Field(
        default="", description="the flexion-extension radiograph criterion it must also meet"
    )
    median_time_to_fusion_months: float | None
    time_to_fusion: TimeToFusion
    subsidence_probability: Probability
    subsidence_criterion: str
    rod_fracture_probability: Probability
    rod_fracture_criterion: str
    segments: list[SegmentCourse]
    parameters_source: str


def _q(a: np.ndarray[Any, Any], q: float) -> list[float]:
    return [float(x) for x in np.quantile(a, q, axis=0)]


def _segment_course(run: EnsembleRun, i: int, regions: list[str]) -> SegmentCourse:
    region_courses = [
        RegionCourse(
            region=r,
            bone_fraction_median=_q(run.bone[i, :, :, REGIONS.index(r)], 0.5),
            bone_fraction_p10=_q(run.bone[i, :, :, REGIONS.index(r)], 0.1),
            bone_fraction_p90=_q(run.bone[i, :, :, REGIONS.index(r)], 0.9),
        )
        for r in regions
    ]
    k = run.stiffness_nmm_per_rad[i]
    return SegmentCourse(
        segment=run.segments[i],
        months=[float(m) for m in run.months_axis],
        regions=region_courses,
        fusion_probability=[float(p) for p in run.fused[i].mean(axis=0)],
        fusion_fraction_median=_q(run.fusion_fraction[i], 0.5),
        stiffness_nmm_per_rad_median=_q(k, 0.5),
        stiffness_nmm_per_rad_p10=_q(k, 0.1),
        stiffness_nmm_per_rad_p90=_q(k, 0.9),
        motion_deg_median=_q(run.motion_deg[i], 0.5),
        rod_stress_mpa_median=_q(run.rod_stress_mpa[i], 0.5),
        subsidence_mm_median=_q(run.subsidence_mm[i], 0.5),
        subsidence_mm_p90=_q(run.subsidence_mm[i], 0.9),
        rod_damage_median=_q(run.rod_damage[i], 0.5),
        rod_damage_p90=_q(run.rod_damage[i], 0.9),
    )


def _time_to_fusion(run: EnsembleRun, i: int) -> TimeToFusion:
    quantiles: dict[str, float | None] = {}
    for name, q in QUANTILES.items():
        v = float(run.time_to_fusion_months(q)[i])
        quantiles[name] = None if np.isnan(v) else round(v, 3)
    edges = np.arange(0.0, np.floor(run.months) + 1.0)
    months = run.fusion_day[i] / (365.25 / 12.0)
    counts, _ = np.histogram(months[np.isfinite(months)], bins=edges)
    return TimeToFusion(
        quantiles_months=quantiles,
        histogram_edges_months=[float(e) for e in edges],
        histogram_share=[float(c) / run.members for c in counts],
        fused_share=float(np.isfinite(months).mean()),
    )


def criteria(params: HealingParameters, assess_month: float) -> dict[str, str]:
    """The stated criteria for fusion (CT and radiographic), non-union, subsidence and rod
    fracture."""
    ct = (
        f"CT (thin-slice, multiplanar): continuous bridging trabecular bone across at least "
        f"{params.bridging_bone_fraction:.0%} of a grafted region, interbody or posterolateral "
        "(CT bridging-bone grade I; Bridwell grade I-II in the disc space, Lenke A-B in the "
        "gutters)"
    )
    radiographic = (
        f"flexion-extension radiographs: flexion + extension rotation of the fused segment <= "
        f"{params.motion_threshold_deg:g} deg"
    )
    return {
        "fusion": ct,
        "radiographic": radiographic,
        "nonunion": (
            f"not fused at {assess_month:g} months, fused meaning bridging on CT ({ct}) AND "
            f"stable on {radiographic}"
        ),
        "subsidence": f"cage settlement > {params.subsidence_threshold_mm:g} mm",
        "rod_fracture": "Miner damage sum of the rod >= 1 (Basquin S-N, Goodman mean stress)",
    }


def course_from_run(
    run: EnsembleRun,
    i: int,
    *,
    case_id: str,
    fused_segments: list[str],
    technique: str,
    graft: str,
    regions: list[str],
    rule: Rule,
    seed: int,
    osteogenic: float,
    trabecular_hu: float,
    params: HealingParameters,
) -> HealingCourse:
    """Summarise patient ``i`` of an ensemble run as a :class:`HealingCourse`."""
    assess = min(params.assess_month, run.months)
    text = criteria(params, assess)
    ttf = _time_to_fusion(run, i)
    return HealingCourse(
        case_id=case_id,
        fused_segments=fused_segments,
        simulated_segment=run.segments[i],
        technique=technique,
        graft=graft,
        regions=regions,
        rule=rule,
        members=run.members,
        seed=seed,
        months=run.months,
        osteogenic_multiplier=osteogenic,
        trabecular_hu=trabecular_hu,
        fusion_probability={
            m: float(run.fusion_probability(m)[i]) for m in REPORT_MONTHS if m <= run.months
        },
        nonunion_probability=float(run.nonunion_probability(assess)[i]),
        nonunion_criterion=text["nonunion"],
        fusion_criterion=text["fusion"],
        radiographic_criterion=text["radiographic"],
        median_time_to_fusion_months=ttf.quantiles_months["p50"],
        time_to_fusion=ttf,
        subsidence_probability=float(run.subsidence_probability(params.subsidence_threshold_mm)[i]),
        subsidence_criterion=text["subsidence"],
        rod_fracture_probability=float(run.rod_fracture_probability()[i]),
        rod_fracture_criterion=text["rod_fracture"],
        segments=[_segment_course(run, i, regions)],
        parameters_source=params.source,
    )


def _mechanics_response(geometry: SpineGeometry, plan: SurgicalPlan) -> FusionResponseLike:
    from spinefuse.mechanics import fused_segment_response

    response: FusionResponseLike = fused_segment_response([geometry], [plan], FUSION_GRID)
    return response


def heal(
    case: Case,
    geometry: SpineGeometry,
    plan: SurgicalPlan,
    mechanics: Record | None = None,
    months: float = 24,
    seed: int | None = 0,
    members: int | None = None,
    *,
    rule: Rule = "lacroix_prendergast",
    response: FusionResponseLike | None = None,
    params: HealingParameters | None = None,
) -> HealingCourse:
    """Simulate the healing of ``plan``'s fusion for ``case`` over ``months``.

    ``seed`` is the run seed (None means 0): the members come from ``(seed, case.id)``, so the
    patient gets the same numbers here as in any :func:`~spinefuse.healing.heal_batch` cohort
    with the same seed and response. ``members`` None takes the parameter file's ensemble size.
    The mechanics are evaluated on :data:`FUSION_GRID` through
    ``spinefuse.mechanics.fused_segment_response`` unless a ``response`` for this patient is
    given. ``mechanics`` (the stage's MechanicsResult, any record) is accepted for the
    pipeline's uniform signature; the healing stage needs the response over fusion states, not
    the one state a MechanicsResult describes."""
    del mechanics
    params = params or load_parameters()
    seed = 0 if seed is None else seed
    if not plan.fuse_segments:
        raise CaseError(f"case {case.id}: the plan fuses no segment; there is nothing to heal")
    if response is None:
        response = _mechanics_response(geometry, plan)
    table = response_table(response)
    if table.patients != 1:
        raise CaseError(
            f"case {case.id}: the fusion response holds {table.patients} patients; heal() "
            "simulates one (use heal_batch for cohorts)"
        )
    bio = biology_row(case, geometry, plan, params)
    run = run_biology(
        bio,
        response,
        months=months,
        seed=seed,
        members=members,
        rule=rule,
        dt_days=None,
        params=params,
    )
    return course_from_run(
        run,
        0,
        case_id=case.id,
        fused_segments=list(plan.fuse_segments),
        technique=plan.technique,
        graft=str(bio["graft"].iloc[0]),
        regions=plan_regions(plan),
        rule=rule,
        seed=seed,
        osteogenic=float(osteogenic_multiplier(bio, params)[0]),
        trabecular_hu=float(bio["trabecular_hu"].iloc[0]),
        params=params,
    )
