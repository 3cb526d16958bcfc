"""The outcome stage's adapter to the pipeline: ``forecast.json`` from the records so far."""

from __future__ import annotations

from typing import TYPE_CHECKING

from spinefuse.outcomes.forecast import Forecast, forecast, plan_from_preferences
from spinefuse.plan.surgical_plan import SurgicalPlan

if TYPE_CHECKING:
    from spinefuse.pipeline import CaseResult


def forecast_stage(result: CaseResult) -> Forecast:
    """The forecast of a pipeline run: the ``plan`` record (or, without one, the surgeon's
    preferences) and the ``healing`` record's non-union probability when present. A case with
    no fusion planned gets a forecast that says so."""
    plan = result.get("plan")
    if not isinstance(plan, SurgicalPlan):
        plan = plan_from_preferences(result.case)
    healing = result.get("healing")
    nonunion = getattr(healing, "nonunion_probability", None)
    return forecast(result.case, plan, None if nonunion is None else float(nonunion))
