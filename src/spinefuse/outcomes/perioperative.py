"""Operative time, blood loss and length of stay, as log-normal quantities per patient.

Operative time and blood loss are anchored on the published open 1-level means and scaled by cited
ratios (levels, MIS, graft). Length of stay is set by the health system first: a site profile
(``us``, ``canada``, ``japan``, ``china``) gives the population mean, which differs five-fold
between systems, and patient and plan factors scale it.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Final

import numpy as np
import pandas as pd

from spinefuse.errors import ParameterError
from spinefuse.outcomes.complications import complication_probabilities
from spinefuse.outcomes.operative import operative_models
from spinefuse.outcomes.parameters import effects, outcome_parameters, quantity
from spinefuse.outcomes.population import reference_patients
from spinefuse.outcomes.risk import FloatArray, LogNormalModel

QUANTITIES: Final[tuple[str, ...]] = ("operative_time_min", "blood_loss_ml", "length_of_stay_days")


def _entry(name: str) -> dict[str, Any]:
    entry: dict[str, Any] = outcome_parameters()["continuous"][name]
    return entry


def sites() -> dict[str, dict[str, Any]]:
    """The site profiles for length of stay, by name."""
    table: dict[str, dict[str, Any]] = _entry("length_of_stay_days")["sites"]
    return table


def site_name(site: str) -> str:
    """The profile a case's ``preferences.site`` selects (``default`` is the file's default)."""
    name = _entry("length_of_stay_days")["default_site"] if site == "default" else site
    if name not in sites():
        raise ParameterError(
            f"preferences.site = {site!r}: no length-of-stay profile of that name; use one of "
            f"{', '.join(sorted(sites()))} or default"
        )
    return str(name)


@lru_cache(maxsize=8)
def stay_model(site: str) -> LogNormalModel:
    """Length of stay at ``site``: mu solved so the reference population's mean is the site's."""
    name = site_name(site)
    e = _entry("length_of_stay_days")
    profile = sites()[name]
    q = quantity(
        profile | {"value": profile["mean"]}, f"continuous.length_of_stay_days.sites.{name}"
    )
    model = LogNormalModel(
        name="length_of_stay_days",
        label=str(e["label"]),
        effects=effects(e["effects"], "continuous.length_of_stay_days.effects"),
        unit=str(e["unit"]),
        sigma=float(profile["log_sd"]),
        mu=0.0,
    )
    ref = reference_patients()
    mean0 = model.mean(model.design(ref, complication_probabilities(ref))).mean()
    return LogNormalModel(**{**_init_fields(model), "mu": math.log(q.value / mean0)})


def _init_fields(model: LogNormalModel) -> dict[str, Any]:
    skip = {"patient_effects", "event_effects"}
    return {k: getattr(model, k) for k in model.__dataclass_fields__ if k not in skip}


def perioperative_models(site: str = "default") -> dict[str, LogNormalModel]:
    """Operative time, blood loss and the site's length-of-stay model."""
    return {**operative_models(), "length_of_stay_days": stay_model(site)}


def perioperative_means(
    patients: pd.DataFrame, events: dict[str, FloatArray]
) -> dict[str, FloatArray]:
    """Expected operative time (min), blood loss (mL) and stay (days) per patient, shape (n,).

    Each row's ``site`` column picks its length-of-stay profile."""
    models = operative_models()
    out = {name: models[name].mean(models[name].design(patients, events)) for name in models}
    stay = np.empty(len(patients))
    site_col = patients["site"].astype(str).to_numpy()
    for site in np.unique(site_col):
        rows = site_col == site
        m = stay_model(str(site))
        sub = {k: v[rows] for k, v in events.items()}
        stay[rows] = m.mean(m.design(patients.loc[rows], sub))
    out["length_of_stay_days"] = stay
    return out
