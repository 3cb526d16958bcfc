"""Complication risks after lumbar fusion: infection, dural tear, new neurological deficit,
transfusion, 90-day readmission, 2-year reoperation, symptomatic adjacent-segment disease and
non-home discharge, with non-union taken from the healing stage.

Each is a :class:`~spinefuse.outcomes.risk.LogisticModel` from ``data/outcome_parameters.yaml``,
calibrated on the reference population in file order, so a model that depends on an earlier
outcome (readmission on infection, reoperation on infection and non-union) sees its probabilities.
Non-union has no model here: there is one source of non-union, the healing stage's probability
(the patient table's ``nonunion_probability``), and a forecast refuses a table without it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any, Final

import numpy as np
import pandas as pd

from spinefuse.errors import ParameterError
from spinefuse.outcomes.calibration import ahead
from spinefuse.outcomes.operative import with_operative_time
from spinefuse.outcomes.parameters import outcome_parameters
from spinefuse.outcomes.population import reference_patients
from spinefuse.outcomes.risk import FloatArray, LogisticModel

OUTCOMES: Final[tuple[str, ...]] = (
    "infection",
    "dural_tear",
    "neurological_deficit",
    "transfusion",
    "nonunion",
    "readmission_90d",
    "reoperation_2y",
    "nonhome_discharge",
    "asd_5y",
)
"""Binary outcomes in dependency order (each may depend on earlier ones only)."""

GIVEN: Final[tuple[str, ...]] = ("nonunion",)
"""Outcomes whose probability the patient table gives (the healing stage's non-union)."""
MODELLED: Final[tuple[str, ...]] = tuple(o for o in OUTCOMES if o not in GIVEN)
"""Outcomes with a model of their own."""


def nonunion_given(patients: pd.DataFrame, source: str = "patients") -> FloatArray:
    """The healing stage's non-union probability of every row; a clear error when missing."""
    if "nonunion_probability" not in patients.columns:
        raise ParameterError(
            f"{source}: no nonunion_probability column; the outcome models take non-union from "
            "the healing stage (HealingCourse.nonunion_probability or heal_batch's column)"
        )
    p = np.asarray(patients["nonunion_probability"].to_numpy(dtype=float), dtype=float)
    if np.isnan(p).any():
        i = int(np.flatnonzero(np.isnan(p))[0])
        raise ParameterError(
            f"{source}: nonunion_probability is missing in row {i}; there is one source of "
            "non-union, the healing stage: run it (spinefuse.healing.heal or heal_batch) and pass "
            "its probability"
        )
    return p


@lru_cache(maxsize=1)
def complication_models() -> dict[str, LogisticModel]:
    """Every modelled binary outcome (:data:`MODELLED`), calibrated to its published rate."""
    return ahead("complication_models", _complication_models)


def _complication_models() -> dict[str, LogisticModel]:
    entries = outcome_parameters()["binary"]
    ref = reference_patients()
    models: dict[str, LogisticModel] = {}
    events: dict[str, FloatArray] = {}
    for name in OUTCOMES:
        if name in GIVEN:
            events[name] = nonunion_given(ref, "reference population")
            continue
        raw = LogisticModel.from_entry(name, entries[name])
        model = raw.calibrated(ref, events)
        models[name] = model
        events[name] = model.probability(model.design(ref, events))
    return models


def nonunion_entry() -> dict[str, Any]:
    """The data file's description of non-union (label, horizon, source, discrimination)."""
    entry: dict[str, Any] = outcome_parameters()["nonunion"]
    return entry


@lru_cache(maxsize=1)
def parameter_draws() -> dict[str, tuple[FloatArray, FloatArray, FloatArray]]:
    """Each model's parameter draws, intercepts re-solved on 1,000 reference patients."""
    return ahead("parameter_draws", _parameter_draws)


def _parameter_draws() -> dict[str, tuple[FloatArray, FloatArray, FloatArray]]:
    ref = reference_patients().iloc[:1000]
    models = complication_models()
    events: dict[str, FloatArray] = {}
    draws = {}
    for i, name in enumerate(OUTCOMES):
        if name in GIVEN:
            events[name] = nonunion_given(ref, "reference population")
            continue
        design = models[name].design(ref, events)
        events[name] = models[name].probability(design)
        draws[name] = models[name].draws(design, seed=i)
    return draws


Recalibration = Callable[[str, FloatArray], FloatArray]
"""(outcome, published-model risks) -> a site's recalibrated risks."""


def complication_probabilities(
    patients: pd.DataFrame, recalibrate: Recalibration | None = None
) -> dict[str, FloatArray]:
    """Each outcome's probability for every patient of a validated table, shape (n,) each.

    ``nonunion`` is the table's ``nonunion_probability`` (the healing stage's; required).
    ``recalibrate`` (e.g. ``RegistryReport.recalibrate``) adjusts each modelled risk to a site
    before the models that depend on it see it."""
    models = complication_models()
    patients = with_operative_time(patients)
    events: dict[str, FloatArray] = {}
    for name in OUTCOMES:
        if name in GIVEN:
            events[name] = nonunion_given(patients)
            continue
        p = models[name].probability(models[name].design(patients, events))
        if recalibrate is not None:
            p = recalibrate(name, p)
        events[name] = p
    return events


def complication_intervals(
    patients: pd.DataFrame, probabilities: dict[str, FloatArray]
) -> dict[str, tuple[FloatArray, FloatArray]]:
    """95 % uncertainty interval of each outcome's probability (parameter uncertainty)."""
    models = complication_models()
    patients = with_operative_time(patients)
    draws = parameter_draws()
    out: dict[str, tuple[FloatArray, FloatArray]] = {}
    for name in OUTCOMES:
        if name in GIVEN:
            given = nonunion_given(patients)
            out[name] = (given, given)
            continue
        d = models[name].design(patients, probabilities)
        out[name] = models[name].interval(d, draws[name])
    return out


def asd_cumulative(p5: FloatArray, years: float) -> FloatArray:
    """Cumulative probability of symptomatic adjacent-segment disease by ``years`` from the
    5-year risk, with a constant annual hazard (Sears 2011: 2.5 %/year over 10 years)."""
    return np.asarray(1.0 - (1.0 - p5) ** (years / 5.0), dtype=float)
