"""The pipeline adapter: forecast from the plan and healing records of a run."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from spinefuse.case import Case
from spinefuse.errors import ParameterError
from spinefuse.outcomes.forecast import forecast_batch
from spinefuse.outcomes.population import sample_patients
from spinefuse.outcomes.stage import forecast_stage
from spinefuse.pipeline import CaseResult
from spinefuse.plan.surgical_plan import SurgicalPlan
from spinefuse.records import Probability, Record


class _Healing(Record):
    nonunion_probability: Probability


def test_stage_uses_the_plan_and_the_healing_nonunion(case: Case, plan: SurgicalPlan) -> None:
    result = CaseResult(
        case=case, records={"plan": plan, "healing": _Healing(nonunion_probability=0.3)}
    )
    f = forecast_stage(result)
    assert f.fusion_planned and f.nonunion_source == "healing"
    assert f.risk("nonunion").probability == 0.3


def test_stage_without_a_plan_falls_back_to_preferences_then_says_why(
    make_case: Callable[..., Case],
) -> None:
    case = make_case()
    assert not forecast_stage(CaseResult(case=case)).fusion_planned
    chosen = case.model_copy(
        update={
            "preferences": case.preferences.model_copy(
                update={"fuse_segments": ["L5-S1"], "technique": "ALIF"}
            )
        }
    )
    # a chosen fusion without the healing stage's non-union stops with a clear message: the
    # pipeline runs healing (on a template geometry when there is no CT) before the forecast
    with pytest.raises(ParameterError, match="healing stage"):
        forecast_stage(CaseResult(case=chosen))
    f = forecast_stage(
        CaseResult(case=chosen, records={"healing": _Healing(nonunion_probability=0.05)})
    )
    assert f.fusion_planned and f.approach == "mis" and f.segments == ["L5-S1"]


def test_batch_defaults_asa_and_interbody_like_the_case_record() -> None:
    df = sample_patients(40, seed=1)
    full = forecast_batch(df.assign(asa_class=2, interbody=df["technique"] != "PLF"))
    lean = forecast_batch(df.drop(columns=["asa_class", "interbody"]))
    assert lean["transfusion"].to_numpy() == pytest.approx(full["transfusion"].to_numpy())
    assert lean["nonunion"].to_numpy() == pytest.approx(full["nonunion"].to_numpy())
