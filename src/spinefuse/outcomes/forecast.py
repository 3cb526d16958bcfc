"""The outcome stage: a patient's forecast after fusion, and the batched version cohorts call.

:func:`forecast` turns a :class:`~spinefuse.case.Case`, its
:class:`~spinefuse.plan.surgical_plan.SurgicalPlan` and the healing stage's non-union probability
(the one source of non-union) into a :class:`Forecast`: complication risks with 95 % intervals,
their calibration source and published discrimination, and the factors that drive them;
operative time, blood loss and stay with predictive ranges; ODI, pain and EQ-5D courses by
diagnosis with MCID chances; and the recovery pathway. :func:`forecast_batch` computes the same
expected values for a table of patient-arms, vectorised; :func:`patient_frame` builds a case's
row of that table, so a cohort that builds its rows with it gets the single forecast's numbers.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from spinefuse.case import Case
from spinefuse.errors import ParameterError
from spinefuse.outcomes.complications import (
    GIVEN,
    OUTCOMES,
    asd_cumulative,
    complication_intervals,
    complication_models,
    complication_probabilities,
    nonunion_entry,
)
from spinefuse.outcomes.covariates import validate_patients
from spinefuse.outcomes.diagnosis import diagnosis_from_case
from spinefuse.outcomes.operative import with_operative_time
from spinefuse.outcomes.parameters import outcome_parameters, quantity
from spinefuse.outcomes.pathway import RecoveryPathway, recovery_pathway
from spinefuse.outcomes.perioperative import (
    perioperative_means,
    perioperative_models,
    site_name,
)
from spinefuse.outcomes.pro import (
    INSTRUMENTS,
    baselines,
    diagnosis_codes,
    eq5d_model,
    odi_12m_and_mcid,
    odi_update,
    pro_models,
    time_points_months,
)
from spinefuse.outcomes.registry import RegistryReport
from spinefuse.outcomes.risk import Driver, FloatArray
from spinefuse.plan.surgical_plan import SurgicalPlan
from spinefuse.records import Probability, Record

FORECAST_SCHEMA = "spinefuse/forecast@1"


class DrivingFactor(Record):
    """A factor that moves this patient's prediction away from the reference patient's."""

    factor: str
    value: str = Field(description="the patient's value behind it")
    effect: float = Field(description="ratio (odds or quantity) or additive shift, see unit")
    unit: str
    source: str
    certainty: Literal["verified", "unverified"]


class RiskForecast(Record):
    """The probability of one complication or event, with its 95 % uncertainty interval."""

    outcome: str
    label: str
    horizon: str
    probability: Probability
    low: Probability
    high: Probability
    average_probability: Probability = Field(
        description="the published population rate the model is calibrated to (average patient)"
    )
    source: str = Field(description="what the risk is calibrated to")
    literature_auc_max: float = Field(description="best discrimination published for it")
    discrimination_source: str = Field(
        default="", description="where that discrimination was published"
    )
    drivers: list[DrivingFactor] = Field(default_factory=list)


class QuantityForecast(Record):
    """A perioperative quantity: expected value and the patient's 90 % predictive range."""

    name: str
    label: str
    unit: str
    mean: float
    p5: float
    median: float
    p95: float
    drivers: list[DrivingFactor] = Field(default_factory=list)


class ProTrajectory(Record):
    """A patient-reported outcome over follow-up: means, 90 % band, MCID chances."""

    name: Literal["odi", "back_pain", "leg_pain", "eq5d"]
    label: str
    unit: str
    months: list[float]
    mean: list[float]
    p5: list[float]
    median: list[float]
    p95: list[float]
    mcid: float = Field(description="minimal clinically important improvement")
    mcid_probability: list[Probability]
    scb: float | None = None
    scb_probability: list[Probability] | None = None


class Forecast(Record):
    """Everything the outcome stage predicts for one case."""

    schema_: Literal["spinefuse/forecast@1"] = Field(default="spinefuse/forecast@1", alias="schema")
    case_id: str
    fusion_planned: bool
    message: str
    site: str = Field(description="length-of-stay profile used")
    segments: list[str] = Field(default_factory=list)
    technique: str | None = None
    approach: str | None = None
    diagnosis: str | None = Field(default=None, description="the diagnosis the PRO course uses")
    nonunion_source: Literal["healing", "outcomes model", "none"] = "none"
    assumptions: list[str] = Field(default_factory=list)
    summary: dict[str, float] = Field(
        default_factory=dict,
        description="expected values as forecast_batch gives them (probabilities 0-1, minutes, "
        "mL, days, ODI %), plus baseline_odi and odi_mcid_points",
    )
    risks: list[RiskForecast] = Field(default_factory=list)
    perioperative: list[QuantityForecast] = Field(default_factory=list)
    pro: list[ProTrajectory] = Field(default_factory=list)
    pathway: RecoveryPathway | None = None

    model_config = Record.model_config | {"populate_by_name": True, "serialize_by_alias": True}

    def risk(self, outcome: str) -> RiskForecast:
        """The forecast of one outcome by name (``infection``, ``dural_tear``, …)."""
        for r in self.risks:
            if r.outcome == outcome:
                return r
        raise KeyError(f"no forecast for {outcome!r}; have {[r.outcome for r in self.risks]}")


def patient_frame(
    case: Case,
    plan: SurgicalPlan,
    nonunion_probability: float | None = None,
    diagnosis: str | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """The one-row patient table of a case and plan, and the assumptions made filling it.

    ``diagnosis`` (``covariates.DIAGNOSES``; e.g. from
    :func:`~spinefuse.outcomes.diagnosis.diagnosis_from_assessment`) sets the PRO course; None
    takes what the case alone says (:func:`~spinefuse.outcomes.diagnosis.diagnosis_from_case`)
    and says so. A table of many patients' :func:`patient_row` rows gives the same numbers."""
    row, assumptions = patient_row(case, plan, nonunion_probability, diagnosis)
    frame = validate_patients(pd.DataFrame([row]), f"case {case.id}")
    return with_operative_time(frame), assumptions


def patient_row(
    case: Case,
    plan: SurgicalPlan,
    nonunion_probability: float | None = None,
    diagnosis: str | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """A case's row of the patient table (before validation), and the assumptions made."""
    p, h = case.patient, case.history
    assumptions = []
    odi = h.odi
    if odi is None:
        odi = float(outcome_parameters()["reference_population"]["baseline_odi"]["mean"])
        assumptions.append(
            f"baseline ODI not in the case: the population mean {odi:g} is used; score the "
            "questionnaire (spinefuse.outcomes.odi.score_odi) and set history.odi"
        )
    if diagnosis is None:
        diagnosis = diagnosis_from_case(case)
        assumptions.append(
            f"diagnosis taken from the case alone ({diagnosis.replace('_', ' ')}); the "
            "assessment's findings at the fused segments set it "
            "(spinefuse.outcomes.diagnosis.diagnosis_from_assessment)"
        )
    graft = plan.graft.material if plan.graft is not None else "local_autograft"
    if plan.graft is None:
        assumptions.append("the plan names no graft: local autograft assumed")
    interbody = plan.interbody or plan.technique != "PLF"
    row: dict[str, Any] = {
        "age_years": p.age_years,
        "sex": p.sex,
        "bmi": p.bmi,
        "smoking": p.smoking,
        "diabetes": p.diabetes,
        "depression": p.depression,
        "preop_opioid_use": p.preop_opioid_use,
        "workers_compensation": p.workers_compensation,
        "baseline_odi": odi,
        "asa_class": p.asa_class,
        "technique": plan.technique,
        "approach": plan.approach,
        "graft": graft,
        "levels": plan.levels,
        "interbody": interbody,
        "nonunion_probability": np.nan if nonunion_probability is None else nonunion_probability,
        "revision": bool(p.prior_lumbar_surgery),
        "stenosis": h.neurogenic_claudication
        or diagnosis in ("degenerative_spondylolisthesis", "stenosis"),
        "diagnosis": diagnosis,
        "back_pain_nrs": h.back_pain_nrs if h.back_pain else 0.0,
        "leg_pain_nrs": h.leg_pain_nrs if h.leg_pain else 0.0,
        "eras": False,
        "site": site_name(case.preferences.site),
    }
    return row, assumptions


def _drivers(drivers: list[Driver]) -> list[DrivingFactor]:
    return [
        DrivingFactor(
            factor=d.factor,
            value=d.value,
            effect=round(d.ratio, 4),
            unit=d.unit,
            source=d.source,
            certainty="verified" if d.certainty == "verified" else "unverified",
        )
        for d in drivers
    ]


def _check_nonunion(case: Case, nonunion_probability: float | None) -> float:
    if nonunion_probability is None:
        raise ParameterError(
            f"case {case.id}: forecast() needs the healing stage's non-union probability when a "
            "plan exists (there is one source of non-union): pass "
            "HealingCourse.nonunion_probability from spinefuse.healing.heal"
        )
    p = float(nonunion_probability)
    if not 0.0 <= p <= 1.0:
        raise ParameterError(
            f"nonunion_probability = {nonunion_probability!r}: a probability lies in 0-1 "
            "(take it from the healing stage's HealingCourse.nonunion_probability)"
        )
    return p


def _pro_trajectories(frame: pd.DataFrame, probs: dict[str, FloatArray]) -> list[ProTrajectory]:
    months = time_points_months()
    dx = diagnosis_codes(frame)
    pro = []
    params = outcome_parameters()["pro"]
    for name in INSTRUMENTS:
        sm = pro_models()[name]
        d = sm.design(frame, probs)
        base = baselines(frame, name)
        band = sm.band(d, base, dx, months, (0.05, 0.5, 0.95))[0]
        scb = None
        if sm.scb is not None:
            scb = sm.reach_probability(d, base, dx, sm.scb, months)[0].round(4).tolist()
        pro.append(
            ProTrajectory(
                name=name,
                label=sm.label,
                unit=str(params[name]["unit"]),
                months=months.tolist(),
                mean=sm.mean_at(d, base, dx, months)[0].round(2).tolist(),
                p5=band[:, 0].round(2).tolist(),
                median=band[:, 1].round(2).tolist(),
                p95=band[:, 2].round(2).tolist(),
                mcid=sm.mcid,
                mcid_probability=sm.reach_probability(d, base, dx, sm.mcid, months)[0]
                .round(4)
                .tolist(),
                scb=sm.scb,
                scb_probability=scb,
            )
        )
    odi = pro_models()["odi"]
    eq = eq5d_model()
    d = odi.design(frame, probs)
    odi_base = baselines(frame, "odi")
    eq_base = eq.baseline(frame)
    band = eq.band(odi, d, odi_base, dx, eq_base, months, (0.05, 0.5, 0.95))[0]
    pro.append(
        ProTrajectory(
            name="eq5d",
            label=eq.label,
            unit=str(params["eq5d"]["unit"]),
            months=months.tolist(),
            mean=eq.mean_at(odi, d, odi_base, dx, eq_base, months)[0].round(3).tolist(),
            p5=band[:, 0].round(3).tolist(),
            median=band[:, 1].round(3).tolist(),
            p95=band[:, 2].round(3).tolist(),
            mcid=eq.mcid,
            mcid_probability=eq.reach_probability(odi, d, odi_base, dx, eq_base, months)[0]
            .round(4)
            .tolist(),
        )
    )
    return pro


def forecast(
    case: Case,
    plan: SurgicalPlan | None,
    nonunion_probability: float | None = None,
    *,
    diagnosis: str | None = None,
    recalibration: RegistryReport | None = None,
) -> Forecast:
    """The forecast of one case.

    With a plan, ``nonunion_probability`` (the healing stage's
    ``HealingCourse.nonunion_probability``) is required: it is the one source of non-union and
    drives reoperation and the PRO course. ``diagnosis`` sets the PRO course (see
    :func:`patient_frame`). With no plan (no fusion indicated) the forecast says so and predicts
    nothing about surgery it will not have. ``recalibration`` (a site's
    ``fit_registry(..., mode="recalibrate")`` report) adjusts risks and stay to that site."""
    site = site_name(case.preferences.site)
    if plan is None:
        return Forecast(
            case_id=case.id,
            fusion_planned=False,
            site=site,
            message=(
                f"No fusion is planned for case {case.id}: the planning stage found no indication "
                "for fusion, so no surgical risks, hospital stay, recovery pathway or "
                "post-operative PRO course are forecast. To forecast a fusion the surgeon chooses "
                "anyway, set preferences.fuse_segments (and technique, approach) in the case."
            ),
        )
    nonunion = _check_nonunion(case, nonunion_probability)
    frame, assumptions = patient_frame(case, plan, nonunion, diagnosis)
    recal = None if recalibration is None else recalibration.recalibrate
    probs = complication_probabilities(frame, recal)
    intervals = complication_intervals(frame, probs)
    if recalibration is not None:
        assumptions.append(f"risks and stay recalibrated to the registry {recalibration.source}")
        intervals = _recalibrated(intervals, recalibration)
    stay_factor = 1.0 if recalibration is None else recalibration.stay_factor()
    risks = _risks(frame, probs, intervals, nonunion)
    periop = _perioperative(frame, probs, site, stay_factor)
    row = forecast_batch(frame, recalibration).iloc[0]
    summary = {k: round(float(row[k]), 5) for k in BATCH_COLUMNS}
    summary["baseline_odi"] = float(frame["baseline_odi"].iloc[0])
    summary["odi_mcid_points"] = pro_models()["odi"].mcid
    dx_name = str(frame["diagnosis"].iloc[0])
    return Forecast(
        case_id=case.id,
        fusion_planned=True,
        message=(
            f"{plan.technique} {plan.approach} fusion of {', '.join(plan.fuse_segments)} for "
            f"{dx_name.replace('_', ' ')}: forecast for the {site} length-of-stay profile"
        ),
        site=site,
        segments=list(plan.fuse_segments),
        technique=plan.technique,
        approach=plan.approach,
        diagnosis=dx_name,
        nonunion_source="healing",
        assumptions=assumptions,
        summary=summary,
        risks=risks,
        perioperative=periop,
        pro=_pro_trajectories(frame, probs),
        pathway=recovery_pathway(case, plan, frame.iloc[0], nonunion),
    )


def _recalibrated(
    intervals: dict[str, tuple[FloatArray, FloatArray]], recalibration: RegistryReport
) -> dict[str, tuple[FloatArray, FloatArray]]:
    """The risks' intervals moved to a site's registry (the given non-union left as it is)."""
    return {
        name: (
            (lo, hi)
            if name in GIVEN
            else (recalibration.recalibrate(name, lo), recalibration.recalibrate(name, hi))
        )
        for name, (lo, hi) in intervals.items()
    }


def _risks(
    frame: pd.DataFrame,
    probs: dict[str, FloatArray],
    intervals: dict[str, tuple[FloatArray, FloatArray]],
    nonunion: float,
) -> list[RiskForecast]:
    """Each complication's risk with its interval, average and drivers; non-union as the
    healing stage gave it; adjacent-segment disease at 10 years from the 5-year risk."""
    models = complication_models()
    risks = []
    for name in OUTCOMES:
        if name in GIVEN:
            entry = nonunion_entry()
            risks.append(
                RiskForecast(
                    outcome=name,
                    label=str(entry["label"]),
                    horizon=str(entry["horizon"]),
                    probability=nonunion,
                    low=nonunion,
                    high=nonunion,
                    average_probability=float(frame["nonunion_probability"].iloc[0]),
                    source=str(entry["source"]),
                    literature_auc_max=float(entry["discrimination"]["auc_max"]),
                    discrimination_source=str(entry["discrimination"]["source"]),
                )
            )
            continue
        m = models[name]
        assert m.marginal is not None
        risks.append(
            RiskForecast(
                outcome=name,
                label=m.label,
                horizon=m.horizon,
                probability=float(probs[name][0]),
                low=float(intervals[name][0][0]),
                high=float(intervals[name][1][0]),
                average_probability=m.marginal.value,
                source=m.marginal.source,
                literature_auc_max=m.auc_max,
                discrimination_source=m.auc_source,
                drivers=_drivers(m.drivers(frame, probs)),
            )
        )
    p5 = probs["asd_5y"]
    ten_year = quantity(
        outcome_parameters()["binary"]["asd_5y"]["ten_year"], "binary.asd_5y.ten_year"
    )
    risks.append(
        RiskForecast(
            outcome="asd_10y",
            label=models["asd_5y"].label,
            horizon="10 years",
            probability=float(asd_cumulative(p5, 10.0)[0]),
            low=float(asd_cumulative(intervals["asd_5y"][0], 10.0)[0]),
            high=float(asd_cumulative(intervals["asd_5y"][1], 10.0)[0]),
            average_probability=ten_year.value,
            source=f"{ten_year.source}; constant annual hazard from the 5-year risk",
            literature_auc_max=models["asd_5y"].auc_max,
            discrimination_source=models["asd_5y"].auc_source,
            drivers=_drivers(models["asd_5y"].drivers(frame, probs)),
        )
    )
    return risks


def _perioperative(
    frame: pd.DataFrame, probs: dict[str, FloatArray], site: str, stay_factor: float
) -> list[QuantityForecast]:
    """Blood loss, operating time and the stay (scaled to the site's registry) with their
    5-95 % ranges and drivers."""
    periop = []
    for name, model in perioperative_models(site).items():
        d = model.design(frame, probs)
        scale = stay_factor if name == "length_of_stay_days" else 1.0
        q = scale * model.quantiles(d, np.array([0.05, 0.5, 0.95]))[0]
        periop.append(
            QuantityForecast(
                name=name,
                label=model.label,
                unit=model.unit,
                mean=round(scale * float(model.mean(d)[0]), 2),
                p5=round(float(q[0]), 2),
                median=round(float(q[1]), 2),
                p95=round(float(q[2]), 2),
                drivers=_drivers(model.drivers(frame, probs)),
            )
        )
    return periop


class OdiUpdate(Record):
    """The 12-month ODI forecast before and after an ODI observed in early follow-up."""

    months_observed: float
    odi_observed: float
    prior_mean_12m: float
    prior_mcid_probability: Probability
    mean_12m: float = Field(description="updated expected 12-month ODI (before clipping)")
    sd_12m: float
    mcid_probability: Probability


def odi_update_forecast(
    case: Case,
    plan: SurgicalPlan,
    months: float,
    odi_observed: float,
    nonunion_probability: float | None = None,
    *,
    diagnosis: str | None = None,
) -> OdiUpdate:
    """Update the 12-month ODI forecast with an ODI measured at ``months`` after surgery (the
    6-week or 3-month visit), as registries recommend; ``nonunion_probability`` is the healing
    stage's (required)."""
    nonunion = _check_nonunion(case, nonunion_probability)
    frame, _ = patient_frame(case, plan, nonunion, diagnosis)
    probs = complication_probabilities(frame)
    m = pro_models()["odi"]
    d = m.design(frame, probs)
    base = baselines(frame, "odi")
    dx = diagnosis_codes(frame)
    prior_mean, prior_mcid = odi_12m_and_mcid(frame, probs)
    mean, sd, p = odi_update(m, d, base, dx, months, np.array([float(odi_observed)]))
    return OdiUpdate(
        months_observed=months,
        odi_observed=odi_observed,
        prior_mean_12m=round(float(prior_mean[0]), 2),
        prior_mcid_probability=float(prior_mcid[0]),
        mean_12m=round(float(mean[0]), 2),
        sd_12m=round(float(sd[0]), 2),
        mcid_probability=float(p[0]),
    )


BATCH_COLUMNS = (
    *OUTCOMES,
    "asd_10y",
    "operative_time_min",
    "blood_loss_ml",
    "length_of_stay_days",
    "odi_3m",
    "odi_12m",
    "odi_24m",
    "odi_mcid_probability_3m",
    "odi_early_response_probability",
    "odi_mcid_probability",
    "odi_mcid_probability_24m",
    "back_pain_12m",
    "leg_pain_12m",
    "eq5d_12m",
    "eq5d_mcid_probability",
)


def forecast_batch(
    patients: pd.DataFrame, recalibration: RegistryReport | None = None
) -> pd.DataFrame:
    """Expected outcomes of a table of patient-arms, vectorised (same index, one row each).

    Input columns: see ``covariates.REQUIRED`` (and the optional ``OPTIONAL``), with
    ``nonunion_probability`` from the healing stage in every row (required); build a case's row
    with :func:`patient_frame` to get the single forecast's numbers. Result columns
    :data:`BATCH_COLUMNS`: probabilities of each outcome, mean operative time (min), blood loss
    (mL), stay (days), expected 3-, 12- and 24-month ODI, 12-month pain and EQ-5D index, the
    chances of having reached the ODI MCID at 3, 12 and 24 months, of an early response (the
    MCID reached at 3 months and kept at 12) and of the EQ-5D MCID at 12.
    ``recalibration`` (a site's ``fit_registry(..., mode="recalibrate")``) adjusts the risks and
    the stay to that site."""
    df = with_operative_time(validate_patients(patients.reset_index(drop=True)))
    recal = None if recalibration is None else recalibration.recalibrate
    probs = complication_probabilities(df, recal)
    out: dict[str, FloatArray] = dict(probs)
    out["asd_10y"] = asd_cumulative(probs["asd_5y"], 10.0)
    out.update(perioperative_means(df, probs))
    if recalibration is not None:
        out["length_of_stay_days"] = out["length_of_stay_days"] * recalibration.stay_factor()
    out["odi_12m"], out["odi_mcid_probability"] = odi_12m_and_mcid(df, probs)
    dx = diagnosis_codes(df)
    odi = pro_models()["odi"]
    d = odi.design(df, probs)
    odi_base = baselines(df, "odi")
    course = odi.mean_at(d, odi_base, dx, np.array([3.0, 24.0]))
    out["odi_3m"], out["odi_24m"] = course[:, 0], course[:, 1]
    reach = odi.reach_probability(d, odi_base, dx, odi.mcid, np.array([3.0, 24.0]))
    out["odi_mcid_probability_3m"], out["odi_mcid_probability_24m"] = reach[:, 0], reach[:, 1]
    out["odi_early_response_probability"] = odi.early_response_probability(
        d, odi_base, dx, odi.mcid, 3.0
    )
    for name in ("back_pain", "leg_pain"):
        sm = pro_models()[name]
        out[f"{name}_12m"] = sm.mean_12m(sm.design(df, probs), baselines(df, name), dx)
    eq = eq5d_model()
    eq_base = eq.baseline(df)
    twelve = np.array([12.0])
    out["eq5d_12m"] = eq.mean_at(odi, d, odi_base, dx, eq_base, twelve)[:, 0]
    out["eq5d_mcid_probability"] = eq.reach_probability(odi, d, odi_base, dx, eq_base, twelve)[:, 0]
    return pd.DataFrame({c: out[c] for c in BATCH_COLUMNS}, index=patients.index)
