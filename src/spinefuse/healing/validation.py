"""The healing stage against the published fusion figures it is calibrated to and compared with.

The figures are the ``targets`` of ``healing_parameters.yaml``: each names a scenario (a patient
and a plan on the average virtual spine), what is measured (fusion at a month, a non-union risk
ratio, an odds ratio, a difference), the published value with its interval, its source and its
role (``calibration``: the parameters were fitted to it; ``comparison``: an independent figure
not used in fitting). :func:`healing_results` runs every scenario through the real planner,
mechanics and ensemble, all with the members of one patient (a paired comparison), and says for
each whether the model lies in the interval.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np
import pandas as pd

from spinefuse.errors import ParameterError
from spinefuse.healing.batch import heal_batch
from spinefuse.healing.parameters import HealingParameters, load_parameters, raw_parameters
from spinefuse.healing.response import FUSION_GRID, FusionResponseLike
from spinefuse.plan.surgical_plan import Technique

TEMPLATE_SEGMENT = "L4-L5"
TECHNIQUES: tuple[Technique, ...] = ("PLF", "TLIF", "PLIF", "ALIF", "LLIF")
REFERENCE_PATIENT: dict[str, object] = {
    "case_id": "healing-validation",
    "age_years": 60.0,
    "smoking": "never",
    "diabetes": "none",
    "trabecular_hu": 150.0,
    "nsaids": False,
    "graft": "local_autograft",
    "technique": "TLIF",
    "levels": 1,
}
"""The scenarios' reference patient: 60 years, never smoked, no diabetes, normal bone (150 HU),
one level, local autograft; every scenario changes only what it names."""

Kind = Literal[
    "fusion",
    "fusion_gain",
    "fusion_difference",
    "fusion_odds_ratio",
    "nonunion_ratio",
    "nonunion_odds_ratio",
    "nonunion",
    "interaction",
]


@dataclass(frozen=True)
class TargetResult:
    """One published figure beside the model's value for it."""

    id: str
    model: str
    quantity: str
    role: str
    published: float
    low: float
    high: float
    model_value: float
    rule: str
    source: str
    certainty: str

    @property
    def passed(self) -> bool:
        return bool(self.low <= self.model_value <= self.high)


@lru_cache(maxsize=1)
def template_responses() -> dict[str, FusionResponseLike]:
    """The mechanics' fused L4-L5 of the average virtual patient, one response per technique,
    with the planner's implants (screws, rods and, but for PLF, its cage)."""
    from spinefuse.anatomy.template import VirtualPatientSpec, virtual_spine
    from spinefuse.assess import assess_case
    from spinefuse.case import Case, ClinicalHistory, Patient
    from spinefuse.mechanics import fused_segment_response
    from spinefuse.plan import plan_surgery

    geometry = virtual_spine(VirtualPatientSpec(trabecular_hu=150.0))
    case = Case(
        id="healing-template",
        patient=Patient(age_years=60, sex="female", height_cm=165, weight_kg=75),
        history=ClinicalHistory(
            back_pain_nrs=6,
            leg_pain=True,
            leg_pain_nrs=6,
            neurogenic_claudication=True,
            symptom_duration_months=18,
            conservative_care=["physiotherapy"],
            conservative_care_months=9,
        ),
    )
    assessment = assess_case(case, geometry)
    plans = []
    for technique in TECHNIQUES:
        plan = plan_surgery(
            case,
            geometry,
            assessment,
            technique=technique,
            levels=[TEMPLATE_SEGMENT],
        )
        if plan is None:
            raise ParameterError(f"the planner made no {technique} plan for the template spine")
        plans.append(plan)
    response = fused_segment_response([geometry] * len(plans), plans, FUSION_GRID)
    return {t: _select(response, [i]) for i, t in enumerate(TECHNIQUES)}


@dataclass(frozen=True)
class _Rows:
    segment_rotation_rad: np.ndarray
    graft_strain: np.ndarray
    graft_fluid_velocity_um_s: np.ndarray
    rod_moment_nmm: np.ndarray
    rod_stress_mpa: np.ndarray
    cage_pressure_mpa: np.ndarray
    segment_stiffness_nmm_per_rad: np.ndarray
    fusion_fraction: np.ndarray
    segments: list[str]


_FIELDS = (
    "segment_rotation_rad",
    "graft_strain",
    "graft_fluid_velocity_um_s",
    "rod_moment_nmm",
    "rod_stress_mpa",
    "cage_pressure_mpa",
    "segment_stiffness_nmm_per_rad",
)


def _select(response: FusionResponseLike, rows: Sequence[int]) -> _Rows:
    take = {f: np.asarray(getattr(response, f))[list(rows)] for f in _FIELDS}
    segs = [list(response.segments)[i] for i in rows]
    return _Rows(**take, fusion_fraction=np.asarray(response.fusion_fraction), segments=segs)


def _stack(responses: Sequence[FusionResponseLike]) -> _Rows:
    take = {f: np.concatenate([np.asarray(getattr(r, f)) for r in responses]) for f in _FIELDS}
    segs = [s for r in responses for s in r.segments]
    return _Rows(**take, fusion_fraction=np.asarray(responses[0].fusion_fraction), segments=segs)


def run_scenarios(
    scenarios: Sequence[Mapping[str, object]],
    params: HealingParameters | None = None,
    members: int | None = None,
) -> pd.DataFrame:
    """:func:`~spinefuse.healing.heal_batch` for scenario rows (changes to
    :data:`REFERENCE_PATIENT`) on the template responses; all rows share one patient's members."""
    rows = [{**REFERENCE_PATIENT, **dict(s)} for s in scenarios]
    biology = pd.DataFrame(rows)
    responses = template_responses()
    for t in biology["technique"]:
        if t not in responses:
            raise ParameterError(f"scenario technique {t!r}: use one of {TECHNIQUES}")
    response = _stack([responses[str(t)] for t in biology["technique"]])
    return heal_batch(biology, response, params=params, members=members)


def healing_targets(population: str = "scenario") -> list[dict[str, Any]]:
    """The data file's targets of one kind of population: ``scenario`` (single patients on
    the template spine, evaluated here) or ``cohort`` (population averages, evaluated on the
    synthetic cohort by ``spinefuse.cohort.validation``)."""
    targets = raw_parameters().get("targets")
    if not isinstance(targets, list) or not targets:
        raise ParameterError("healing_parameters.yaml: the 'targets' list is missing or empty")
    return [t for t in targets if t.get("population", "scenario") == population]


def _mixed(frame: pd.DataFrame, start: int, weights: Sequence[float], column: str) -> float:
    w = np.asarray(weights, dtype=float)
    values = frame[column].to_numpy()[start : start + w.size]
    return float((w * values).sum() / w.sum())


ScenarioRunner = Callable[[Sequence[Mapping[str, object]]], pd.DataFrame]
"""Scenario rows -> a frame of heal_batch's columns with one row per scenario."""


def healing_results(
    params: HealingParameters | None = None,
    members: int | None = None,
    *,
    population: str = "scenario",
    runner: ScenarioRunner | None = None,
    model: str = "healing",
) -> list[TargetResult]:
    """Every healing target of one ``population`` with the model's value beside it: the
    single-patient targets (``scenario``, run here by :func:`run_scenarios`) or those a
    ``runner`` evaluates (``cohort_scenario``: population averages of a scenario, given by
    ``spinefuse.cohort.validation``)."""
    params = params or load_parameters()
    targets = healing_targets(population)
    if runner is None:

        def runner(scenarios: Sequence[Mapping[str, object]]) -> pd.DataFrame:
            return run_scenarios(scenarios, params, members)

    scenarios: list[Mapping[str, object]] = []
    spans: list[dict[str, tuple[int, list[float]]]] = []
    for t in targets:
        span: dict[str, tuple[int, list[float]]] = {}
        for key in ("scenario", "reference", "scenario_b", "reference_b"):
            if key not in t:
                continue
            mix = t.get("levels_mix")
            base = dict(t[key] or {})
            if mix:
                span[key] = (len(scenarios), [float(w) for w in mix.values()])
                scenarios.extend({**base, "levels": int(lv)} for lv in mix)
            else:
                span[key] = (len(scenarios), [1.0])
                scenarios.append(base)
        spans.append(span)
    frame = runner(scenarios)
    out = []
    for t, span in zip(targets, spans, strict=True):
        month = int(t.get("month", 24))
        col = f"fusion_probability_{month}m"

        def fused(key: str, month_col: str = col, sp: dict[str, Any] = span) -> float:
            start, w = sp[key]
            return _mixed(frame, start, w, month_col)

        kind = t["kind"]
        if kind == "fusion":
            value = fused("scenario")
        elif kind == "nonunion":
            value = 1.0 - fused("scenario")
        elif kind == "fusion_gain":
            value = fused("scenario") - fused("scenario", f"fusion_probability_{t['from_month']}m")
        elif kind == "fusion_difference":
            value = fused("scenario") - fused("reference")
        elif kind == "fusion_odds_ratio":
            value = _odds(fused("scenario")) / _odds(fused("reference"))
        elif kind == "nonunion_ratio":
            value = (1.0 - fused("scenario")) / (1.0 - fused("reference"))
        elif kind == "nonunion_odds_ratio":
            value = _odds(1.0 - fused("scenario")) / _odds(1.0 - fused("reference"))
        elif kind == "interaction":
            value = (fused("scenario") - fused("reference")) - (
                fused("scenario_b") - fused("reference_b")
            )
        else:
            raise ParameterError(
                f"healing_parameters.yaml: target {t['id']}: unknown kind {kind!r}"
            )
        low, high = (float(x) for x in t["interval"])
        out.append(
            TargetResult(
                id=str(t["id"]),
                model=model,
                quantity=str(t["quantity"]),
                role=str(t["role"]),
                published=float(t["value"]),
                low=low,
                high=high,
                model_value=round(float(value), 4),
                rule=f"model within [{low:g}, {high:g}]",
                source=str(t["source"]),
                certainty=str(t["certainty"]),
            )
        )
    return out


def _odds(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return p / (1.0 - p)
