"""Tables and series the reports draw from the mechanics, healing and forecast records.

Each view reads its record's typed fields (:class:`~spinefuse.mechanics.result.MechanicsResult`,
:class:`~spinefuse.healing.course.HealingCourse`, :class:`~spinefuse.outcomes.forecast.Forecast`)
and returns plain rows for the tables and figures; a stage that did not run gives an empty view.
Nothing here invents a value: every number shown comes from the record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from spinefuse.conventions import parse_segment, vertebra_index

if TYPE_CHECKING:
    from spinefuse.healing.course import HealingCourse
    from spinefuse.mechanics.result import MechanicsResult, SegmentMotion
    from spinefuse.outcomes.forecast import Forecast
    from spinefuse.outcomes.pathway import RecoveryPathway


def segment_rank(segment: str) -> tuple[int, int]:
    """Sort key of a motion segment, head to pelvis."""
    upper, lower = parse_segment(segment)
    return vertebra_index(upper), vertebra_index(lower)


# --- mechanics ------------------------------------------------------------------------------
PLANES = ("flexion_extension", "lateral_bending", "axial_rotation")


def plane_rom_deg(motion: SegmentMotion, plane: str) -> float:
    """Range of motion of a segment in one plane (deg): the two directions' magnitudes added."""
    if plane == "flexion_extension":
        return motion.flexion_deg + motion.extension_deg
    if plane == "lateral_bending":
        return motion.lateral_bending_left_deg + motion.lateral_bending_right_deg
    return motion.axial_rotation_left_deg + motion.axial_rotation_right_deg


@dataclass(frozen=True)
class RomRow:
    """Range of motion of one segment (deg) in one plane, intact and as planned."""

    segment: str
    plane: str
    intact_deg: float | None
    planned_deg: float | None

    @property
    def change_percent(self) -> float | None:
        if self.intact_deg is None or self.planned_deg is None or self.intact_deg <= 0:
            return None
        return 100.0 * (self.planned_deg - self.intact_deg) / self.intact_deg


def rom_rows(mechanics: MechanicsResult | None) -> list[RomRow]:
    """Per segment and plane: range of motion intact and as planned (deg), head to pelvis.

    ``segments`` is the operated spine when the record has constructs (``intact`` is then the
    same spine without them), else the intact spine."""
    if mechanics is None:
        return []
    operated = bool(mechanics.constructs)
    intact = (mechanics.intact or {}) if operated else mechanics.segments
    planned = mechanics.segments if operated else {}
    rows = []
    for seg in sorted({*intact, *planned}, key=segment_rank):
        for plane in PLANES:
            a, b = intact.get(seg), planned.get(seg)
            rows.append(
                RomRow(
                    seg,
                    plane,
                    None if a is None else plane_rom_deg(a, plane),
                    None if b is None else plane_rom_deg(b, plane),
                )
            )
    return rows


@dataclass(frozen=True)
class SafetyFactor:
    """One implant's safety factor under one load case (strength over peak stress)."""

    implant: str
    value: float


def safety_factors(mechanics: MechanicsResult | None) -> list[SafetyFactor]:
    """The rods' fatigue safety factors, one per rod, segment and load case."""
    if mechanics is None:
        return []
    return [
        SafetyFactor(f"rod {r.side} {r.segment} {r.load_case}", r.safety_factor)
        for r in mechanics.implants.rods
    ]


# --- healing -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Series:
    """A named time series: ``months`` (x) and ``values`` (y) of equal length."""

    name: str
    months: tuple[float, ...]
    values: tuple[float, ...]
    label: str = ""
    low: tuple[float, ...] | None = None
    high: tuple[float, ...] | None = None


def healing_curves(healing: HealingCourse | None) -> list[Series]:
    """The healing course per fused segment: bone fraction per graft region (median with the
    10th–90th percentile band), fusion probability (0–1) and subsidence (mm, median with its
    90th percentile), each over months."""
    out: list[Series] = []
    for seg in healing.segments if healing is not None else []:
        months = tuple(seg.months)
        for region in seg.regions:
            out.append(
                Series(
                    f"bone fraction, {region.region} graft",
                    months,
                    tuple(region.bone_fraction_median),
                    seg.segment,
                    tuple(region.bone_fraction_p10),
                    tuple(region.bone_fraction_p90),
                )
            )
        out.append(Series("fusion probability", months, tuple(seg.fusion_probability), seg.segment))
        out.append(
            Series(
                "subsidence_mm",
                months,
                tuple(seg.subsidence_mm_median),
                seg.segment,
                None,
                tuple(seg.subsidence_mm_p90),
            )
        )
    return out


def fusion_probability_points(healing: HealingCourse | None) -> dict[float, float]:
    """Fusion probability (0–1) by month after surgery (6, 12, 24)."""
    if healing is None:
        return {}
    return {float(m): p for m, p in sorted(healing.fusion_probability.items())}


# --- forecast --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Risk:
    """A complication's probability with its interval and the average patient's probability
    (the published rate the model is calibrated to)."""

    name: str
    probability: float
    low: float | None = None
    high: float | None = None
    average: float | None = None
    key: str = ""
    horizon: str = ""
    source: str = ""
    drivers: tuple[str, ...] = ()


def risks(forecast: Forecast | None) -> list[Risk]:
    """The complication risks of a forecast (probabilities 0–1 with their 95 % intervals)."""
    if forecast is None:
        return []
    return [
        Risk(
            r.label,
            r.probability,
            r.low,
            r.high,
            r.average_probability,
            key=r.outcome,
            horizon=r.horizon,
            source=r.source,
            drivers=tuple(f"{d.factor} ({d.value}: ×{d.effect:.2f})" for d in r.drivers),
        )
        for r in forecast.risks
    ]


@dataclass(frozen=True)
class Milestone:
    """A step of the recovery pathway: when (weeks after surgery), what, and for phases and
    restrictions the week it ends. ``kind``: mobilise, phase, restriction, work, visit."""

    week: float
    what: str
    until: float | None = None
    kind: str = "step"


def pathway_milestones(pathway: RecoveryPathway) -> list[Milestone]:
    """The milestones of a recovery pathway, in time order."""
    out = [
        Milestone(
            pathway.mobilisation_day / 7.0, "first walk with the physiotherapist", kind="mobilise"
        )
    ]
    out += [
        Milestone(p.start_week, f"physiotherapy: {p.name}", p.end_week, "phase")
        for p in pathway.physiotherapy
    ]
    out += [
        Milestone(0.0, f"no {r.activity}", r.until_week, "restriction")
        for r in pathway.restrictions
    ]
    rtw = pathway.return_to_work
    out += [
        Milestone(rtw.light_work_week, "back to light work", kind="work"),
        Milestone(rtw.manual_work_week, "back to manual work", kind="work"),
    ]
    for v in pathway.follow_up:
        imaging = f" ({v.imaging})" if v.imaging and v.imaging != "none" else ""
        out.append(Milestone(v.week, v.what + imaging, kind="visit"))
    return sorted(out, key=lambda m: (m.week, m.until or 0.0))


def recovery_milestones(forecast: Forecast | None) -> list[Milestone]:
    """The recovery pathway of a forecast as milestones in time order (weeks after surgery)."""
    if forecast is None or forecast.pathway is None:
        return []
    return pathway_milestones(forecast.pathway)


@dataclass(frozen=True)
class Quantity:
    """A forecast quantity with its 90 % predictive range (``low``–``high``)."""

    name: str
    label: str
    unit: str
    mean: float
    median: float
    low: float
    high: float


def quantities(forecast: Forecast | None) -> list[Quantity]:
    """The perioperative quantities of a forecast (operative time, blood loss, stay …)."""
    if forecast is None:
        return []
    return [
        Quantity(q.name, q.label, q.unit, q.mean, q.median, q.p5, q.p95)
        for q in forecast.perioperative
    ]


def stay_days(forecast: Forecast | None) -> float | None:
    """The median length of stay (days), when the forecast has one."""
    for q in quantities(forecast):
        if q.name == "length_of_stay_days":
            return q.median
    return None


@dataclass(frozen=True)
class Trajectory:
    """A patient-reported outcome over months: median with its band, the MCID and the chance
    of an improvement of at least the MCID at each time."""

    instrument: str
    label: str
    unit: str
    months: tuple[float, ...]
    median: tuple[float, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]
    mcid: float
    mcid_probability: tuple[float, ...]

    def at(self, month: float, values: tuple[float, ...]) -> float | None:
        """The value of ``values`` at ``month`` when the trajectory has that time point."""
        for m, v in zip(self.months, values, strict=True):
            if abs(m - month) < 1e-6:
                return v
        return None


def trajectories(forecast: Forecast | None) -> list[Trajectory]:
    """The PRO trajectories of a forecast, in the record's order."""
    if forecast is None:
        return []
    return [
        Trajectory(
            t.name,
            t.label,
            t.unit,
            tuple(t.months),
            tuple(t.median),
            tuple(t.p5),
            tuple(t.p95),
            t.mcid,
            tuple(t.mcid_probability),
        )
        for t in forecast.pro
    ]
