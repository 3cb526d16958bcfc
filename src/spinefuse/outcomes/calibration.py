"""The forecast's models calibrated on the reference population, computable ahead of the forecast.

Calibrating is most of a single patient's forecast: the complication models' intercepts and
their 400 parameter draws re-solved by Newton on 1,000 reference patients, and the PRO models'
centres found by root finding. None of it depends on the patient, only on the data files, and
each process does it once. :func:`calibrate_ahead` starts it in a forked process (the pipeline
does so as a run starts, while the images are read); :func:`take_ahead` puts its result in the
model functions' caches, so they do not calibrate again. The values are those the functions
compute themselves (the same code on the same data, passed back by pickling).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from spinefuse.forked import Forked

T = TypeVar("T")

_AHEAD: dict[str, Any] = {}
"""Models computed ahead, by name, for the moment :func:`take_ahead` puts them in their caches."""


def ahead(name: str, compute: Callable[[], T]) -> T:
    """The model ``name`` computed ahead (taken once), else ``compute()``."""
    if name in _AHEAD:
        value: T = _AHEAD.pop(name)
        return value
    return compute()


def _model_functions() -> dict[str, Any]:
    """The cached model functions (``functools.lru_cache``) the calibration fills, by name."""
    from spinefuse.outcomes.complications import complication_models, parameter_draws
    from spinefuse.outcomes.pro import pro_models

    return {
        "complication_models": complication_models,
        "parameter_draws": parameter_draws,
        "pro_models": pro_models,
    }


def calibrated_models() -> dict[str, Any]:
    """Every calibrated model of the forecast, computed here, by name."""
    return {name: f() for name, f in _model_functions().items()}


def calibrated() -> bool:
    """Whether this process holds the calibrated models already."""
    return all(f.cache_info().currsize for f in _model_functions().values())


def calibrate_ahead() -> Forked[dict[str, Any]] | None:
    """The calibration started in a forked process, or None where it would gain nothing (this
    process holds the models already, or cannot fork)."""
    from spinefuse.forked import Forked, can_fork

    if calibrated() or not can_fork():
        return None
    return Forked(calibrated_models)


def take_ahead(work: Forked[dict[str, Any]]) -> None:
    """Install the models ``work`` calibrated in their functions' caches (a model this process
    holds already is kept), so none is left waiting to be taken."""
    models = work.result()
    for name, f in _model_functions().items():
        if not f.cache_info().currsize:
            _AHEAD[name] = models[name]
            f()  # takes it from _AHEAD into its cache
