"""The forecast's models calibrated on the reference population, computable ahead of the forecast.

Calibrating is most of a single patient's forecast: the complication models' intercepts and
their 400 parameter draws re-solved by Newton on 1,000 reference patients, and the PRO models'
centres found by root finding. None of it depends on the patient, only on the data files, and
each process does it once. :func:`calibrate_ahead` starts it in a forked process (the pipeline
does so as a run starts, while the images are read); once :func:`take_ahead` has installed its
result, the model functions return it instead of calibrating again. The values are those the
functions compute themselves (the same code on the same data, passed back by pickling).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from spinefuse.forked import Forked

T = TypeVar("T")

_AHEAD: dict[str, Any] = {}
"""Models computed ahead and not yet taken, by name."""


def ahead(name: str, compute: Callable[[], T]) -> T:
    """The model ``name`` computed ahead (taken once), else ``compute()``."""
    if name in _AHEAD:
        value: T = _AHEAD.pop(name)
        return value
    return compute()


def calibrated_models() -> dict[str, Any]:
    """Every calibrated model of the forecast, computed here, by name."""
    from spinefuse.outcomes.complications import complication_models, parameter_draws
    from spinefuse.outcomes.pro import pro_models

    return {
        "complication_models": complication_models(),
        "parameter_draws": parameter_draws(),
        "pro_models": pro_models(),
    }


def calibrated() -> bool:
    """Whether this process holds the calibrated models already."""
    from spinefuse.outcomes.complications import complication_models, parameter_draws
    from spinefuse.outcomes.pro import pro_models

    return all(f.cache_info().currsize for f in (complication_models, parameter_draws, pro_models))


def calibrate_ahead() -> Forked[dict[str, Any]] | None:
    """The calibration started in a forked process, or None where it would gain nothing (this
    process holds the models already, or cannot fork)."""
    from spinefuse.forked import Forked, can_fork

    if calibrated() or not can_fork():
        return None
    return Forked(calibrated_models)


def take_ahead(work: Forked[dict[str, Any]]) -> None:
    """Install the models ``work`` calibrated, for the model functions to return."""
    if not calibrated():
        _AHEAD.update(work.result())
