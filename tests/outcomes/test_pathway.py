"""The recovery pathway: tailored to plan and patient, with its schedule and grading."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from spinefuse.case import Case
from spinefuse.outcomes import forecast
from spinefuse.outcomes.pathway import RecoveryPathway
from spinefuse.plan.surgical_plan import SurgicalPlan

Factory = Callable[..., RecoveryPathway]


@pytest.fixture()
def pathway(make_case: Callable[..., Case], make_plan: Callable[..., SurgicalPlan]) -> Factory:
    def build(**kw: Any) -> RecoveryPathway:
        plan_kw = kw.pop("plan", {})
        nonunion = kw.pop("nonunion", 0.07)
        p = forecast(make_case(**kw), make_plan(**plan_kw), nonunion).pathway
        assert p is not None
        return p

    return build


def test_mobilisation_on_day_zero_and_three_physio_phases(pathway: Factory) -> None:
    p = pathway()
    assert p.mobilisation_day == 0 and "OR 0.81" in p.mobilisation
    assert [ph.start_week for ph in p.physiotherapy] == [0, 1, 12]


def test_restrictions_are_shorter_after_mis_than_open(pathway: Factory) -> None:
    lift = lambda p: next(r.until_week for r in p.restrictions if r.activity.startswith("lifting"))  # noqa: E731
    assert lift(pathway()) == 12 and lift(pathway(plan={"approach": "mis"})) == 6
    assert (
        lift(pathway(plan={"approach": "mis", "fuse_segments": ["L3-L4", "L4-L5", "L5-S1"]})) == 12
    )


def test_smoker_and_diabetic_get_their_eras_items_others_do_not(pathway: Factory) -> None:
    names = [i.name for i in pathway().eras]
    assert any("smoking cessation" in n for n in names) and any("glucose" in n for n in names)
    plain = [i.name for i in pathway(smoking="never", diabetes="none").eras]
    assert not any("smoking cessation" in n or "glucose" in n for n in plain)


def test_return_to_work_falls_with_published_delays(pathway: Factory) -> None:
    good = pathway(age_years=45).return_to_work
    bad = pathway(age_years=45, depression=True, workers_compensation=True).return_to_work
    assert good.probability_by_3_months == pytest.approx(0.82)
    # OR 0.38 * 0.61 on the odds of 0.82
    odds = 0.82 / 0.18 * 0.38 * 0.61
    assert bad.probability_by_3_months == pytest.approx(odds / (1 + odds))


def test_follow_up_names_the_fusion_grading_and_adds_ct_when_nonunion_is_likely(
    pathway: Factory,
) -> None:
    p = pathway()
    assert [v.week for v in p.follow_up] == [2, 6, 13, 26, 52, 104]
    assert "Bridwell" in p.follow_up[4].grading
    plf = pathway(plan={"technique": "PLF"})
    assert "Lenke" in plf.follow_up[4].grading
    risky = pathway(nonunion=0.3)
    assert "CT" in risky.follow_up[4].imaging and "bridging" in risky.follow_up[4].grading


def test_milestones_form_an_ordered_timeline(pathway: Factory) -> None:
    p = pathway(plan={"approach": "mis"})
    weeks = [m.week for m in p.milestones]
    assert weeks == sorted(weeks) and weeks[0] == 0.0
    assert any("driving" in m.what and m.week == 4 for m in p.milestones)
    assert any("light work" in m.what and m.week == 6 for m in p.milestones)
