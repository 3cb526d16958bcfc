"""Outcomes: complication risks, perioperative course, recovery pathway and PRO forecasts.

The stage's public surface: :func:`forecast` (one case), :func:`forecast_batch` (a table of
patient-arms, vectorised), :func:`score_odi` (the questionnaire), :func:`odi_update_forecast`
(an early ODI updates the 12-month forecast), :func:`fit_registry` (a site's registry) and
:func:`synthetic_registry` (test registries drawn from the models).
"""

from spinefuse.outcomes.forecast import (
    BATCH_COLUMNS,
    Forecast,
    forecast,
    forecast_batch,
    odi_update_forecast,
)
from spinefuse.outcomes.odi import OdiScore, score_odi
from spinefuse.outcomes.pathway import RecoveryPathway
from spinefuse.outcomes.registry import RegistryReport, fit_registry, read_registry
from spinefuse.outcomes.synthetic import synthetic_registry, write_synthetic_registry

__all__ = [
    "BATCH_COLUMNS",
    "Forecast",
    "OdiScore",
    "RecoveryPathway",
    "RegistryReport",
    "fit_registry",
    "forecast",
    "forecast_batch",
    "odi_update_forecast",
    "read_registry",
    "score_odi",
    "synthetic_registry",
    "write_synthetic_registry",
]
