"""Outcomes: complication risks, perioperative course, recovery pathway and PRO forecasts.

The stage's public surface: :func:`forecast` (one case, with the healing stage's non-union),
:func:`forecast_batch` (a table of patient-arms, vectorised; :func:`patient_frame` builds a case's
row), :func:`diagnosis_from_assessment` (the diagnosis the PRO course uses), :func:`score_odi` and
:func:`score_eq5d` (the questionnaires), :func:`odi_update_forecast` (an early ODI updates the
12-month forecast), :func:`fit_registry` (a site's registry) and :func:`synthetic_registry`
(test registries drawn from the models).
"""

from spinefuse.outcomes.diagnosis import diagnosis_from_assessment
from spinefuse.outcomes.eq5d import score_eq5d
from spinefuse.outcomes.forecast import (
    BATCH_COLUMNS,
    Forecast,
    forecast,
    forecast_batch,
    odi_update_forecast,
    patient_frame,
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
    "diagnosis_from_assessment",
    "fit_registry",
    "forecast",
    "forecast_batch",
    "odi_update_forecast",
    "patient_frame",
    "read_registry",
    "score_eq5d",
    "score_odi",
    "synthetic_registry",
    "write_synthetic_registry",
]
