"""Outcomes: complication risks, perioperative course, recovery pathway and PRO forecasts.

The stage's public surface: :func:`forecast` (one case), :func:`forecast_batch` (a table of
patient-arms, vectorised), :func:`forecast_json` (the CLI), :func:`score_odi`, the synthetic
registry generator and the registry refit.
"""

from spinefuse.outcomes.forecast import (
    BATCH_COLUMNS,
    Forecast,
    forecast,
    forecast_batch,
    forecast_json,
    plan_from_preferences,
)
from spinefuse.outcomes.odi import OdiScore, score_odi
from spinefuse.outcomes.pathway import RecoveryPathway

__all__ = [
    "BATCH_COLUMNS",
    "Forecast",
    "OdiScore",
    "RecoveryPathway",
    "forecast",
    "forecast_batch",
    "forecast_json",
    "plan_from_preferences",
    "score_odi",
]
