"""Cages, rods, grafts and decompressions against their cited rules."""

import numpy as np
import pytest

from spinefuse.anatomy.template import VirtualPatientSpec, virtual_spine
from spinefuse.assess.assessment import Finding, Measurement
from spinefuse.case import Radiculopathy
from spinefuse.plan.cage import cage_targets, pelvic_incidence_deg, plan_cage
from spinefuse.plan.catalogue import default_catalogue
from spinefuse.plan.decompression import plan_decompressions
from spinefuse.plan.graft import GraftNeed, plan_graft
from spinefuse.plan.rods import choose_rod, rod_bends_deg
from spinefuse.plan.rules import planning_rules

CAT = default_catalogue()
RULES = planning_rules()


@pytest.mark.parametrize("pi", [40.0, 52.0, 65.0])
def test_pelvic_incidence_is_measured_from_the_pelvis(pi):
    g = virtual_spine(VirtualPatientSpec(pelvic_incidence_deg=pi))
    assert pelvic_incidence_deg(g, None) == pytest.approx(pi, abs=0.05)


def test_cage_lordosis_follows_the_pi_target(make_assessment):
    for pi, expected in ((40.0, 12.0), (70.0, 20.0)):  # targets 13.4 and 18.1 deg
        g = virtual_spine(VirtualPatientSpec(pelvic_incidence_deg=pi))
        a = make_assessment()
        t = cage_targets(g, a, "L4-L5", ["L4-L5"], RULES)
        assert t.lordosis_deg == pytest.approx(RULES.lordosis_target_deg(pi) * 0.252, abs=0.1)
        alif = plan_cage(g, a, "L4-L5", "ALIF", ["L4-L5"], CAT, RULES).cage
        assert alif.lordosis_deg == expected  # the stocked ALIF angle nearest the target
    # the assessment's measured PI wins over the geometry
    a = make_assessment().model_copy(
        update={"measurements": [Measurement(name="pelvic_incidence", value=35.0, unit="deg")]}
    )
    assert pelvic_incidence_deg(virtual_spine(), a) == 35.0


def test_cage_height_restores_the_healthy_neighbour_without_over_distraction(make_assessment):
    g = virtual_spine(VirtualPatientSpec(disc_height_loss={"L4-L5": 0.5}))
    a = make_assessment()
    cp = plan_cage(g, a, "L4-L5", "TLIF", ["L4-L5"], CAT, RULES)
    healthy = np.mean([g.disc("L3-L4").middle_height_mm, g.disc("L5-S1").middle_height_mm])
    assert cp.cage.height_mm <= healthy + 0.5
    assert cp.cage.height_mm > g.disc("L4-L5").middle_height_mm + 2.0  # restores height
    assert cp.cage.width_mm <= 0.9 * g.vertebra("L5").superior.width_mm
    assert not cp.warnings
    # LLIF spans the ring side to side, PLIF comes as a pair
    llif = plan_cage(g, a, "L3-L4", "LLIF", ["L3-L4"], CAT, RULES).cage
    assert llif.width_mm >= 40.0 and llif.depth_mm <= 22.0
    plif = plan_cage(g, a, "L4-L5", "PLIF", ["L4-L5"], CAT, RULES).cage
    assert plif.count == 2 and 2 * plif.width_mm + 4.0 <= 0.9 * g.vertebra("L5").superior.width_mm


def test_an_anterior_cage_is_as_tall_as_the_space_it_sits_in(make_assessment):
    """A TLIF cage placed in the anterior third of a lordotic disc meets the taller space
    there: never shorter than the disc at its footprint (seated on both endplates, no note of a
    short cage from the mechanics), and a space no stocked cage fills is warned about."""
    from spinefuse.mechanics import simulate
    from spinefuse.plan.surgical_plan import SurgicalPlan

    base = virtual_spine()
    disc = base.disc("L4-L5")
    wedge = disc.model_copy(
        update={"anterior_height_mm": 14.0, "middle_height_mm": 10.5, "posterior_height_mm": 7.0}
    )
    g = base.model_copy(update={"discs": {**base.discs, "L4-L5": wedge}})
    a = make_assessment()
    cp = plan_cage(g, a, "L4-L5", "TLIF", ["L4-L5"], CAT, RULES)
    bottom = g.vertebra("L5").superior
    shift = 0.4 * (min(g.vertebra("L4").inferior.depth_mm, bottom.depth_mm) - cp.cage.depth_mm)
    space = 7.0 + (0.5 + shift / bottom.depth_mm) * 7.0
    assert space > 11.0  # well above the middle height
    assert space <= cp.cage.height_mm < space + 1.01  # the next stocked height up
    assert any("at the cage's footprint" in r for r in cp.reasons)
    plan = SurgicalPlan(fuse_segments=["L4-L5"], technique="TLIF", approach="open", cages=[cp.cage])
    notes = simulate(g, plan).notes
    assert not any("shorter than the imaged disc space" in n for n in notes), notes
    # a space taller than any stocked TLIF cage: planned as the tallest, and said so
    huge = wedge.model_copy(update={"anterior_height_mm": 40.0, "posterior_height_mm": 20.0})
    g2 = base.model_copy(update={"discs": {**base.discs, "L4-L5": huge}})
    tall = plan_cage(g2, a, "L4-L5", "TLIF", ["L4-L5"], CAT, RULES)
    assert tall.cage.height_mm == max(CAT.cage_line("TLIF").heights_mm)
    assert any(
        "shorter than the" in w and "disc space at its footprint" in w for w in tall.warnings
    )


def test_subsidence_warning_from_endplate_hu(spine, make_assessment):
    lower = spine.vertebra("L5")
    weak = lower.model_copy(update={"superior": lower.superior.model_copy(update={"hu": 100.0})})
    g = spine.model_copy(update={"vertebrae": {**spine.vertebrae, "L5": weak}})
    cage = plan_cage(g, make_assessment(), "L4-L5", "TLIF", ["L4-L5"], CAT, RULES).cage
    assert "endplate 100 HU" in cage.subsidence_warning
    ok = plan_cage(spine, make_assessment(), "L4-L5", "TLIF", ["L4-L5"], CAT, RULES).cage
    assert ok.subsidence_warning is None  # 178 HU trabecular


def test_rod_bends_follow_the_sagittal_contour():
    # three heads on an arc concave backwards (lordosis): the middle head lies anterior
    pts = np.array([[20.0, 0.0, 40.0], [20.0, 5.0, 0.0], [20.0, 0.0, -40.0]])
    axes = np.tile([0.0, 1.0, 0.0], (3, 1))
    (bend,) = rod_bends_deg(pts, axes)
    assert bend == pytest.approx(2 * np.degrees(np.arctan2(5.0, 40.0)), abs=1e-6)
    # two heads: the bend equals the angle between the screw axes (10 deg of lordosis)
    a = np.radians(10.0)
    axes2 = np.array([[0.0, np.cos(a / 2), np.sin(a / 2)], [0.0, np.cos(a / 2), -np.sin(a / 2)]])
    (bend2,) = rod_bends_deg(pts[[0, 2]], axes2)
    assert bend2 == pytest.approx(10.0, abs=1e-6)


def test_rod_choice_rules():
    short = choose_rod(CAT, RULES, 1, False)
    assert (short.material, short.diameter_mm) == ("titanium", 5.5)
    long = choose_rod(CAT, RULES, 3, False)
    assert long.material == "cobalt_chrome"
    deform = choose_rod(CAT, RULES, 2, True)
    assert (deform.material, deform.diameter_mm) == ("cobalt_chrome", 6.0)


def test_graft_material_follows_supply_and_risk(make_case):
    enough = GraftNeed(interbody_cm3=3.0, posterolateral_cm3=5.0, local_yield_cm3=10.0)
    g, why, _, _ = plan_graft(make_case(), enough, "TLIF", 1, CAT)
    assert g.material == "local_autograft" and g.extender is None and g.volume_cm3 == 8.0
    short = GraftNeed(interbody_cm3=3.0, posterolateral_cm3=12.0, local_yield_cm3=6.0)
    g, _, _, _ = plan_graft(make_case(), short, "TLIF", 1, CAT)
    assert (g.material, g.extender) == ("local_autograft", "dbm")
    g, why, warn, _ = plan_graft(make_case(smoking="current"), short, "TLIF", 1, CAT)
    assert g.material == "iliac_crest_autograft" and any("donor-site" in w for w in warn)
    alif = GraftNeed(interbody_cm3=6.0, posterolateral_cm3=0.0, local_yield_cm3=0.0)
    g, _, _, _ = plan_graft(make_case(), alif, "ALIF", 1, CAT)
    assert g.material == "rhbmp2" and g.bmp_dose_mg == pytest.approx(9.0)  # 1.5 mg/cm³ × 6 cm³
    assert g.regions == ["interbody"]


def test_decompressions_are_tied_to_findings(make_case, make_assessment):
    case = make_case().model_copy(
        update={
            "history": make_case().history.model_copy(
                update={"radiculopathy": Radiculopathy(side="right", root="L5")}
            )
        }
    )
    a = make_assessment(
        findings=[
            Finding(diagnosis="central_stenosis", level="L4-L5", grade="severe", severity="severe"),
            Finding(
                diagnosis="foraminal_stenosis",
                level="L4-L5",
                grade="right",
                evidence=["facet osteophyte narrowing the right foramen"],
                side="right",
                osteophyte=True,
            ),
            Finding(diagnosis="central_stenosis", level="L3-L4", grade="moderate"),
        ],
        decompress=["L3-L4", "L4-L5"],
    )
    d = plan_decompressions(case, a, ["L4-L5"], "TLIF", a.decompress_segments)
    by = {(x.segment, x.kind, x.side): x.treats for x in d}
    assert by["L4-L5", "laminectomy", "bilateral"] == ["central_stenosis L4-L5 (severe)"]
    # the TLIF facetectomy goes to the symptomatic right side and treats the foraminal stenosis
    assert "foraminal_stenosis L4-L5 (right)" in by["L4-L5", "facetectomy_unilateral", "right"]
    assert ("L4-L5", "osteophyte_removal", "right") in by
    # the stenotic neighbour that is not fused keeps its midline: hemilaminectomy
    assert by["L3-L4", "hemilaminectomy", "bilateral"] == ["central_stenosis L3-L4 (moderate)"]
    # LLIF decompresses a moderate stenosis indirectly: only the discectomy
    moderate = make_assessment()
    d = plan_decompressions(case, moderate, ["L4-L5"], "LLIF", [])
    assert [(x.kind, x.treats) for x in d] == [("discectomy", ["endplate preparation (LLIF)"])]


def test_graft_need_from_the_bed_and_the_decompression(spine):
    from spinefuse.plan.graft import graft_need
    from spinefuse.plan.surgical_plan import Decompression

    decs = [
        Decompression(segment="L4-L5", kind="laminectomy", side="bilateral"),
        Decompression(segment="L4-L5", kind="facetectomy_unilateral", side="left"),
        Decompression(segment="L4-L5", kind="foraminotomy", side="right"),
        Decompression(segment="L4-L5", kind="discectomy", side="bilateral"),
    ]
    need = graft_need(spine, "PLF", ["L4-L5"], [], decs, CAT, RULES)
    assert need.local_yield_cm3 == pytest.approx(8.0 + 3.0 + 0.5)  # cited yields per segment
    assert need.interbody_cm3 == 0.0
    gap = sum(
        np.linalg.norm(
            np.subtract(
                spine.vertebra("L4").transverse_tips[s], spine.vertebra("L5").transverse_tips[s]
            )
        )
        for s in ("left", "right")
    )
    assert need.posterolateral_cm3 == pytest.approx(gap * 15.0 * 8.0 / 1000.0)
