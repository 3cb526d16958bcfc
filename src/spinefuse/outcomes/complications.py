"""Complication risks after lumbar fusion: infection, dural tear, new neurological deficit,
transfusion, non-union (when the healing stage gives none), 90-day readmission, 2-year reoperation,
symptomatic adjacent-segment disease and non-home discharge.

Each is a :class:`~spinefuse.outcomes.risk.LogisticModel` from ``data/outcome_parameters.yaml``,
calibrated on the reference population in file order, so a model that depends on an earlier
outcome (readmission on infection, reoperation on infection and non-union) sees its probabilities.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Final

import numpy as np
import pandas as pd

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


def _nonunion_given(patients: pd.DataFrame) -> FloatArray:
    return np.asarray(patients["nonunion_probability"].to_numpy(dtype=float), dtype=float)


@lru_cache(maxsize=1)
def complication_models() -> dict[str, LogisticModel]:
    """Every binary outcome model, calibrated to its published marginal rate."""
    entries = outcome_parameters()["binary"]
    ref = reference_patients()
    models: dict[str, LogisticModel] = {}
    events: dict[str, FloatArray] = {}
    for name in OUTCOMES:
        raw = LogisticModel.from_entry(name, entries[name])
        model = raw.calibrated(ref, events)
        models[name] = model
        events[name] = model.probability(model.design(ref, events))
    return models


@lru_cache(maxsize=1)
def _parameter_draws() -> dict[str, tuple[FloatArray, FloatArray, FloatArray]]:
    """Each model's parameter draws, intercepts re-solved on 2,000 reference patients."""
    ref = reference_patients().iloc[:2000]
    models = complication_models()
    events: dict[str, FloatArray] = {}
    draws = {}
    for i, name in enumerate(OUTCOMES):
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

    ``nonunion`` is the table's ``nonunion_probability`` where given (from the healing stage) and
    this stage's own model elsewhere. ``recalibrate`` (e.g. ``RegistryReport.recalibrate``)
    adjusts each risk to a site before the models that depend on it see it."""
    models = complication_models()
    patients = with_operative_time(patients)
    events: dict[str, FloatArray] = {}
    for name in OUTCOMES:
        p = models[name].probability(models[name].design(patients, events))
        if recalibrate is not None:
            p = recalibrate(name, p)
        if name == "nonunion":
            given = _nonunion_given(patients)
            p = np.where(np.isnan(given), p, given)
        events[name] = p
    return events


def complication_intervals(
    patients: pd.DataFrame, probabilities: dict[str, FloatArray]
) -> dict[str, tuple[FloatArray, FloatArray]]:
    """95 % uncertainty interval of each outcome's probability (parameter uncertainty)."""
    models = complication_models()
    patients = with_operative_time(patients)
    draws = _parameter_draws()
    out: dict[str, tuple[FloatArray, FloatArray]] = {}
    for name in OUTCOMES:
        d = models[name].design(patients, probabilities)
        lo, hi = models[name].interval(d, draws[name])
        if name == "nonunion":
            given = _nonunion_given(patients)
            lo = np.where(np.isnan(given), lo, given)
            hi = np.where(np.isnan(given), hi, given)
        out[name] = (lo, hi)
    return out


def asd_cumulative(p5: FloatArray, years: float) -> FloatArray:
    """Cumulative probability of symptomatic adjacent-segment disease by ``years`` from the
    5-year risk, with a constant annual hazard (Sears 2011: 2.5 %/year over 10 years)."""
    return np.asarray(1.0 - (1.0 - p5) ** (years / 5.0), dtype=float)
