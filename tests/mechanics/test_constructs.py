"""Construct specs and surgical plans as model modifications."""

from __future__ import annotations

import pytest

from spinefuse.errors import ParameterError
from spinefuse.mechanics.constructs import parse_construct, parse_constructs, plan_construct
from spinefuse.mechanics.reference import reference_geometry

from .conftest import PlanFactory


def test_specs_parse_into_modifications() -> None:
    assert parse_construct("facetectomy:L3-L4:left").facetectomy == {"L3-L4": ["left"]}
    assert parse_construct("facetectomy:L3-L4:bilateral").facetectomy == {
        "L3-L4": ["left", "right"]
    }
    assert parse_construct("laminectomy:L4-L5").removed_ligaments == {"L4-L5": ["LF", "ISL", "SSL"]}
    rods = parse_construct("screws-rods:L3-L5").rods
    assert [r.side for r in rods] == ["left", "right"]
    assert rods[0].vertebrae == ["L3", "L4", "L5"]
    alif = parse_construct("cage:L5-S1:alif")
    assert alif.discectomy == ["L5-S1"] and alif.removed_ligaments == {"L5-S1": ["ALL"]}
    assert parse_construct("fused:L4-L5").fusion[0].fraction == 1.0
    both = parse_constructs(["facetectomy:L4-L5:left", "facetectomy:L4-L5:right"])
    assert both.facetectomy == {"L4-L5": ["left", "right"]}
    assert both.instrumented_segments == []
    assert parse_constructs(["screws-rods:L3-L5"]).instrumented_segments == ["L3-L4", "L4-L5"]


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("laminectomy", "missing the segment"),
        ("facetectomy:L4-L5:both", "side 'both'"),
        ("discectomy:L5-L4", "L5"),
        ("screws-rods:T10-L2", "outside the modelled levels"),
    ],
)
def test_bad_specs_are_refused_with_the_fix(spec: str, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        parse_construct(spec)


def test_a_plan_becomes_its_decompressions_cages_and_rods(plan_factory: PlanFactory) -> None:
    g = reference_geometry()
    plan = plan_factory(g, ["L4-L5", "L5-S1"])
    c = plan_construct(plan)
    assert c.facetectomy == {"L4-L5": ["left"], "L5-S1": ["left"]}
    assert sorted(x.segment for x in c.cages) == ["L4-L5", "L5-S1"]
    assert sorted(c.discectomy) == ["L4-L5", "L5-S1"]
    assert [r.vertebrae for r in c.rods] == [["L4", "L5", "S1"]] * 2
    assert c.rods[0].heads["L4"] == next(
        s.entry_point for s in plan.screws if s.vertebra == "L4" and s.side == "left"
    )
    assert c.fusion == []
    fused = plan_construct(plan, fusion_fraction=0.4)
    assert [(f.segment, f.fraction) for f in fused.fusion] == [("L4-L5", 0.4), ("L5-S1", 0.4)]
