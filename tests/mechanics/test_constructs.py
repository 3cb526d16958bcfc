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
    assert parse_construct("facetectomy:L4-L5:left:50").facet_resection == {"L4-L5": {"left": 0.5}}
    assert parse_construct("facetectomy:L4-L5:right:100").facetectomy == {"L4-L5": ["right"]}
    assert parse_construct("laminectomy:L4-L5").removed_ligaments == {"L4-L5": ["LF", "ISL", "SSL"]}
    assert parse_construct("hemilaminectomy:L4-L5:left").hemilaminectomy == {"L4-L5": ["left"]}
    assert parse_construct("ligaments:L4-L5:ssl,isl,lf,pll,all,cl").removed_ligaments == {
        "L4-L5": ["ALL", "CL", "ISL", "LF", "PLL", "SSL"]
    }
    assert parse_construct("discectomy:L4-L5").discectomy == ["L4-L5"]
    total = parse_construct("discectomy:L4-L5:total")
    assert total.discectomy == ["L4-L5"] and total.total_discectomy == ["L4-L5"]
    assert parse_construct("fused:L4-L5").fusion[0].fraction == 1.0
    assert parse_construct("fused:L4-L5:0.4").fusion[0].fraction == 0.4
    assert parse_construct("interspinous:L4-L5").interspinous[0].material == "peek"
    tdr = parse_construct("disc-replacement:L4-L5")
    assert tdr.disc_replacements == ["L4-L5"] and tdr.removed_ligaments == {"L4-L5": ["ALL"]}
    both = parse_constructs(["facetectomy:L4-L5:left", "facetectomy:L4-L5:right"])
    assert both.facetectomy == {"L4-L5": ["left", "right"]}
    assert both.instrumented_segments == []


def test_screws_and_rods_take_a_configuration_material_and_diameter() -> None:
    rods = parse_construct("screws-rods:L3-L5").rods
    assert [r.side for r in rods] == ["left", "right"]
    assert rods[0].vertebrae == ["L3", "L4", "L5"]
    assert parse_constructs(["screws-rods:L3-L5"]).instrumented_segments == ["L3-L4", "L4-L5"]
    left = parse_construct("screws-rods:L4-L5:unilateral-left").rods
    assert [r.side for r in left] == ["left"]
    right = parse_construct("screws-rods:L4-L5:unilateral-right").rods
    assert [r.side for r in right] == ["right"]
    peek = parse_construct("screws-rods:L4-L5:bilateral:peek:6.0").rods
    assert {(r.material, r.diameter_mm) for r in peek} == {("peek", 6.0)}
    # the --rod-material/--rod-diameter-mm defaults apply where the spec names none
    cocr = parse_construct("screws-rods:L4-L5", rod_material="cocr", rod_diameter_mm=6.0).rods
    assert {(r.material, r.diameter_mm) for r in cocr} == {("cobalt_chrome", 6.0)}
    own = parse_construct("screws-rods:L4-L5:steel", rod_material="cocr").rods
    assert {r.material for r in own} == {"stainless_steel"}


def test_cages_take_a_technique_material_and_height_and_their_approach() -> None:
    alif = parse_construct("cage:L5-S1:alif")
    assert alif.discectomy == ["L5-S1"] and alif.removed_ligaments == {"L5-S1": ["ALL"]}
    tlif = parse_construct("cage:L4-L5:tlif:titanium:12")
    assert tlif.cages[0].material == "titanium" and tlif.cages[0].height_mm == 12.0
    assert tlif.facetectomy == {"L4-L5": ["left"]}  # the transforaminal approach
    plif = parse_construct("cage:L4-L5:plif")
    assert plif.facet_resection == {"L4-L5": {"left": 0.5, "right": 0.5}}
    assert plif.removed_ligaments == {"L4-L5": ["LF"]}
    llif = parse_construct("cage:L4-L5:llif")
    assert llif.removed_ligaments == {} and llif.facetectomy == {}
    plate = parse_construct("cage-plate:L4-L5:alif")
    assert plate.cages[0].integrated_fixation and plate.cages[0].technique == "alif"


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("laminectomy", "missing the segment"),
        ("facetectomy:L4-L5:both", "side 'both'"),
        ("facetectomy:L4-L5:left:150", "percent 150 must lie in 0"),
        ("discectomy:L5-L4", "L5"),
        ("discectomy:L4-L5:half", "'half' is not nucleus|total"),
        ("screws-rods:T10-L2", "outside the modelled levels"),
        # today's silent fall-backs are refused: every field must be understood
        ("screws-rods:L4-L5:unilateral", "field 'unilateral' is not understood"),
        ("screws-rods:L4-L5:bilateral:bilateral", "field 'bilateral' is not understood"),
        ("screws-rods:L4-L5:gold", "field 'gold' is not understood"),
        ("screws-rods:L4-L5:9.5", "rod diameter (mm) 9.5"),
        ("cage:L4-L5:alif:wood", "field 'wood' is not understood"),
        ("cage:L4-L5:xlif", "field 'xlif' is not understood"),
        ("cage-plate:L4-L5:tlif", "anterior (alif) implant"),
        ("laminectomy:L4-L5:left", "unexpected field"),
        ("hemilaminectomy:L4-L5", "give the side"),
        ("ligaments:L4-L5:acl", "ligaments ACL unknown"),
        ("interspinous:L4-L5:steel", "field 'steel'"),
        ("fused:L4-L5:1.5", "bone fraction 1.5"),
        ("fused:L4-L5:0.4:0.5", "unexpected field"),
    ],
)
def test_bad_specs_are_refused_with_the_fix(spec: str, match: str) -> None:
    with pytest.raises(ParameterError, match=match.replace("(", r"\(").replace(")", r"\)")):
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
    assert c.rods[0].screw_diameter_mm["L4"] == 6.5
    assert c.fusion == []
    fused = plan_construct(plan, fusion_fraction=0.4)
    assert [(f.segment, f.fraction) for f in fused.fusion] == [("L4-L5", 0.4), ("L5-S1", 0.4)]
