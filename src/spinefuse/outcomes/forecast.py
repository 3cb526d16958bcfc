"""The outcome stage: a patient's forecast after fusion, and the batched version cohorts call.

:func:`forecast` turns a :class:`~spinefuse.case.Case` and its
:class:`~spinefuse.plan.surgical_plan.SurgicalPlan` (and the healing stage's non-union
probability) into a :class:`Forecast`: complication risks with 95 % intervals and the factors that
drive them, operative time, blood loss and stay with predictive ranges, ODI and pain trajectories
with MCID chances, and the recovery pathway. :func:`forecast_batch` computes the same expected
values for a table of patient-arms, vectorised.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from spinefuse.case import Case
from spinefuse.errors import ParameterError
from spinefuse.outcomes.complications import (
    OUTCOMES,
    asd_cumulative,
    complication_intervals,
    complication_models,
    complication_probabilities,
)
from spinefuse.outcomes.covariates import validate_patients
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
    source: str
    literature_auc_max: float = Field(description="best discrimination published for it")
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

    name: Literal["odi", "back_pain", "leg_pain"]
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
    case: Case, plan: SurgicalPlan, nonunion_probability: float | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """The one-row patient table of a case and plan, and the assumptions made filling it."""
    p, h = case.patient, case.history
    assumptions = []
    odi = h.odi
    if odi is None:
        odi = float(outcome_parameters()["reference_population"]["baseline_odi"]["mean"])
        assumptions.append(
            f"baseline ODI not in the case: the population mean {odi:g} is used; score the "
            "questionnaire (spinefuse.outcomes.odi.score_odi) and set history.odi"
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
        "stenosis": h.neurogenic_claudication,
        "back_pain_nrs": h.back_pain_nrs if h.back_pain else 0.0,
        "leg_pain_nrs": h.leg_pain_nrs if h.leg_pain else 0.0,
        "eras": False,
        "site": site_name(case.preferences.site),
    }
    frame = validate_patients(pd.DataFrame([row]), f"case {case.id}")
    return with_operative_time(frame), assumptions


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


def forecast(
    case: Case,
    plan: SurgicalPlan | None,
    nonunion_probability: float | None = None,
    *,
    recalibration: RegistryReport | None = None,
) -> Forecast:
    """The forecast of one case. With no plan (no fusion indicated) the forecast says so and
    predicts nothing about surgery it will not have. ``recalibration`` (a site's
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
    if nonunion_probability is not None and not 0.0 <= nonunion_probability <= 1.0:
        raise ParameterError(
            f"nonunion_probability = {nonunion_probability!r}: a probability lies in 0-1 "
            "(take it from the healing stage's HealingCourse.nonunion_probability)"
        )
    frame, assumptions = patient_frame(case, plan, nonunion_probability)
    recal = None if recalibration is None else recalibration.recalibrate
    probs = complication_probabilities(frame, recal)
    intervals = complication_intervals(frame, probs)
    if recalibration is not None:
        assumptions.append(f"risks and stay recalibrated to the registry {recalibration.source}")
        for name, (lo, hi) in list(intervals.items()):
            if not (name == "nonunion" and nonunion_probability is not None):
                intervals[name] = (
                    recalibration.recalibrate(name, lo),
                    recalibration.recalibrate(name, hi),
                )
    stay_factor = 1.0 if recalibration is None else recalibration.stay_factor()
    models = complication_models()
    risks = []
    for name in OUTCOMES:
        m = models[name]
        assert m.marginal is not None
        given = name == "nonunion" and nonunion_probability is not None
        risks.append(
            RiskForecast(
                outcome=name,
                label=m.label,
                horizon=m.horizon,
                probability=float(probs[name][0]),
                low=float(intervals[name][0][0]),
                high=float(intervals[name][1][0]),
                average_probability=m.marginal.value,
                source="healing stage" if given else m.marginal.source,
                literature_auc_max=m.auc_max,
                drivers=[] if given else _drivers(m.drivers(frame, probs)),
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
            drivers=_drivers(models["asd_5y"].drivers(frame, probs)),
        )
    )
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
    months = time_points_months()
    pro = []
    for name in INSTRUMENTS:
        sm = pro_models()[name]
        d = sm.design(frame, probs)
        base = baselines(frame, name)
        band = sm.band(d, base, months, (0.05, 0.5, 0.95))[0]
        scb = None
        if sm.scb is not None:
            scb = sm.reach_probability(d, base, sm.scb, months)[0].round(4).tolist()
        pro.append(
            ProTrajectory(
                name=name,
                label=sm.label,
                unit=str(outcome_parameters()["pro"][name]["unit"]),
                months=months.tolist(),
                mean=sm.mean_at(d, base, months)[0].round(2).tolist(),
                p5=band[:, 0].round(2).tolist(),
                median=band[:, 1].round(2).tolist(),
                p95=band[:, 2].round(2).tolist(),
                mcid=sm.mcid,
                mcid_probability=sm.reach_probability(d, base, sm.mcid, months)[0]
                .round(4)
                .tolist(),
                scb=sm.scb,
                scb_probability=scb,
            )
        )
    nonunion_p = float(probs["nonunion"][0])
    row = forecast_batch(frame, recalibration).iloc[0]
    summary = {k: round(float(row[k]), 5) for k in BATCH_COLUMNS}
    summary["baseline_odi"] = float(frame["baseline_odi"].iloc[0])
    summary["odi_mcid_points"] = pro_models()["odi"].mcid
    return Forecast(
        case_id=case.id,
        fusion_planned=True,
        message=(
            f"{plan.technique} {plan.approach} fusion of {', '.join(plan.fuse_segments)}: "
            f"forecast for the {site} length-of-stay profile"
        ),
        site=site,
        segments=list(plan.fuse_segments),
        technique=plan.technique,
        approach=plan.approach,
        nonunion_source="healing" if nonunion_probability is not None else "outcomes model",
        assumptions=assumptions,
        summary=summary,
        risks=risks,
        perioperative=periop,
        pro=pro,
        pathway=recovery_pathway(case, plan, frame.iloc[0], nonunion_p),
    )


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
) -> OdiUpdate:
    """Update the 12-month ODI forecast with an ODI measured at ``months`` after surgery (the
    6-week or 3-month visit), as registries recommend."""
    frame, _ = patient_frame(case, plan, nonunion_probability)
    probs = complication_probabilities(frame)
    m = pro_models()["odi"]
    d = m.design(frame, probs)
    base = baselines(frame, "odi")
    prior_mean, prior_mcid = odi_12m_and_mcid(frame, probs)
    mean, sd, p = odi_update(m, d, base, months, np.array([float(odi_observed)]))
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
    "odi_12m",
    "odi_mcid_probability",
    "back_pain_12m",
    "leg_pain_12m",
)


def forecast_batch(
    patients: pd.DataFrame, recalibration: RegistryReport | None = None
) -> pd.DataFrame:
    """Expected outcomes of a table of patient-arms, vectorised (same index, one row each).

    Input columns: see ``covariates.REQUIRED`` (and the optional ``OPTIONAL``); result columns
    :data:`BATCH_COLUMNS`: probabilities of each outcome, mean operative time (min), blood loss
    (mL), stay (days), expected 12-month ODI and pain, and the chance of reaching the ODI MCID.
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
    for name in ("back_pain", "leg_pain"):
        sm = pro_models()[name]
        out[f"{name}_12m"] = sm.mean_12m(sm.design(df, probs), baselines(df, name))
    return pd.DataFrame({c: out[c] for c in BATCH_COLUMNS}, index=patients.index)
