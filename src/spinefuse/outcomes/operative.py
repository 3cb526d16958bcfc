"""Operative time and blood loss: log-normal quantities anchored on the published open 1-level
means and scaled by cited ratios (technique, levels, MIS, revision, BMI, graft).

Both are also covariates of other models (operative time of readmission, infection and new
deficit; blood loss of transfusion); a patient table's ``operative_time_min`` and
``blood_loss_ml`` are used where given (planned or recorded), else filled with the models'
expected values by :func:`with_operative_time`.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from spinefuse.outcomes.parameters import effects, outcome_parameters, quantity
from spinefuse.outcomes.risk import LogNormalModel


def _entry(name: str) -> dict[str, Any]:
    entry: dict[str, Any] = outcome_parameters()["continuous"][name]
    return entry


@lru_cache(maxsize=1)
def operative_models() -> dict[str, LogNormalModel]:
    """Operative time (min) and blood loss (mL), anchored on the open 1-level means."""
    out = {}
    for name in ("operative_time_min", "blood_loss_ml"):
        e = _entry(name)
        ref = quantity(e["reference"], f"continuous.{name}.reference")
        sigma = float(e["log_sd"]["value"])
        out[name] = LogNormalModel(
            name=name,
            label=str(e["label"]),
            effects=effects(e["effects"], f"continuous.{name}.effects"),
            unit=str(e["unit"]),
            sigma=sigma,
            mu=math.log(ref.value) - 0.5 * sigma**2,
        )
    return out


def with_operative_time(patients: pd.DataFrame) -> pd.DataFrame:
    """The table with ``operative_time_min`` and ``blood_loss_ml`` filled by their expected
    values where missing (NaN); the table itself when nothing is missing."""
    out = patients
    for name in ("operative_time_min", "blood_loss_ml"):
        if name not in out.columns:
            out = out.assign(**{name: np.nan})
        given = out[name].to_numpy(dtype=float)
        missing = np.isnan(given)
        if not missing.any():
            continue
        m = operative_models()[name]
        expected = m.mean(m.design(out, {}))
        out = out.assign(**{name: np.where(missing, expected, given)})
    return out
