"""The forecast stage in the pipeline: from the plan and the healing stage's non-union."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from spinefuse.case import Case
from spinefuse.outcomes.forecast import forecast_batch
from spinefuse.outcomes.population import sample_patients
from spinefuse.pipeline import run
from spinefuse.plan.surgical_plan import SurgicalPlan


def test_stage_uses_the_plan_and_the_healing_nonunion(case: Case, plan: SurgicalPlan) -> None:
    result = run(case, "forecast", progress=False, given={"plan": plan})
    f, healing = result.forecast, result.healing
    assert f is not None and healing is not None
    assert f.fusion_planned and f.nonunion_source == "healing"
    assert f.risk("nonunion").probability == healing.nonunion_probability


def test_stage_without_a_plan_falls_back_to_preferences_then_says_why(
    make_case: Callable[..., Case],
) -> None:
    case = make_case()
    alone = run(case, "forecast", progress=False)
    assert alone.forecast is not None and not alone.forecast.fusion_planned
    assert alone.skipped["plan"].code == "no_geometry"
    chosen = case.model_copy(
        update={
            "preferences": case.preferences.model_copy(
                update={"fuse_segments": ["L5-S1"], "technique": "ALIF"}
            )
        }
    )
    f = run(chosen, "forecast", progress=False).forecast
    assert f is not None
    healing = run(chosen, "healing", progress=False).healing
    assert healing is not None  # on a population spine of the patient's sex and height
    assert f.risk("nonunion").probability == healing.nonunion_probability
    assert f.fusion_planned and f.approach == "mis" and f.segments == ["L5-S1"]


def test_batch_defaults_asa_and_interbody_like_the_case_record() -> None:
    df = sample_patients(40, seed=1)
    full = forecast_batch(df.assign(asa_class=2, interbody=df["technique"] != "PLF"))
    lean = forecast_batch(df.drop(columns=["asa_class", "interbody"]))
    assert lean["transfusion"].to_numpy() == pytest.approx(full["transfusion"].to_numpy())
    assert lean["nonunion"].to_numpy() == pytest.approx(full["nonunion"].to_numpy())
