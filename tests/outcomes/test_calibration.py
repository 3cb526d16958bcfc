"""The forecast's models calibrated ahead in a forked process are the ones calibrated in place."""

from __future__ import annotations

import numpy as np
import pytest

from spinefuse.case import Case
from spinefuse.forked import Forked, can_fork
from spinefuse.outcomes import calibration, forecast
from spinefuse.outcomes.complications import complication_models, parameter_draws
from spinefuse.outcomes.pro import pro_models
from spinefuse.plan.surgical_plan import SurgicalPlan

MODEL_FUNCTIONS = (complication_models, parameter_draws, pro_models)


def _clear() -> None:
    for f in MODEL_FUNCTIONS:
        f.cache_clear()
    calibration._AHEAD.clear()


@pytest.mark.skipif(not can_fork(), reason="the calibration goes ahead in a forked process")
def test_forecast_on_models_calibrated_ahead_is_the_same(case: Case, plan: SurgicalPlan) -> None:
    _clear()
    in_place = forecast(case, plan, nonunion_probability=0.12).to_json()
    draws = parameter_draws()
    assert calibration.calibrated() and calibration.calibrate_ahead() is None  # nothing to gain
    _clear()
    work = calibration.calibrate_ahead()
    assert work is not None and not calibration.calibrated()
    calibration.take_ahead(work)
    assert calibration.calibrated() and not calibration._AHEAD  # in the caches, none waiting
    ahead = forecast(case, plan, nonunion_probability=0.12).to_json()
    assert calibration.calibrated() and not calibration._AHEAD  # every model taken
    assert ahead == in_place
    for name, (b, be, a) in parameter_draws().items():
        np.testing.assert_array_equal(a, draws[name][2])
        np.testing.assert_array_equal(b, draws[name][0])
        np.testing.assert_array_equal(be, draws[name][1])


def test_an_error_of_the_calibration_ahead_is_raised_where_it_is_taken(
    case: Case, plan: SurgicalPlan
) -> None:
    """Should the forked calibration fail, its error is raised where the models are taken, as
    calibrating in place would raise it; afterwards the models are calibrated in place."""
    _clear()

    def broken() -> dict[str, object]:
        raise RuntimeError("calibration broke")

    with pytest.raises(RuntimeError, match="calibration broke"):
        calibration.take_ahead(Forked(broken))
    _clear()
    f = forecast(case, plan, nonunion_probability=0.12)
    assert 0.0 < f.risk("infection").probability < 1.0
