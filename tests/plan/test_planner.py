import numpy as np
import pytest

from spinefuse.anatomy.template import VirtualPatientSpec, virtual_spine
from spinefuse.assess.assessment import Assessment, Finding
from spinefuse.case import Preferences
from spinefuse.errors import LevelError, ParameterError
from spinefuse.plan import SurgicalPlan, plan_surgery, select_segments
from spinefuse.plan.catalogue import CatalogueError


def test_l4_l5_plan_is_complete_and_consistent(spine, make_case, make_assessment):
    plan = plan_surgery(make_case(), spine, make_assessment())
    assert plan is not None
    assert plan.fuse_segments == ["L4-L5"] and plan.technique == "TLIF" and plan.approach == "mis"
    assert {(s.vertebra, s.side) for s in plan.screws} == {
        ("L4", "left"),
        ("L4", "right"),
        ("L5", "left"),
        ("L5", "right"),
    }
    assert len(plan.rods) == 2 and len(plan.cages) == 1
    for rod in plan.rods:
        assert len(rod.points) == 2
        span = np.linalg.norm(np.subtract(rod.points[0], rod.points[1]))
        assert rod.length_mm == pytest.approx(span + 10.0, abs=1.0)  # 5 mm overhang each end
        step = np.linalg.norm(
            np.subtract(spine.vertebra("L4").centroid, spine.vertebra("L5").centroid)
        )
        assert 0.5 * step < span < 1.2 * step  # one vertebra apart
        # the rod is contoured lordotic, by about the lordosis between the two screws' vertebrae
        (bend,) = rod.bend_angles_deg
        assert 0.0 < bend < 30.0
    cage = plan.cages[0]
    disc = spine.disc("L4-L5")
    assert np.linalg.norm(np.subtract(cage.centre, disc.centre)) < 15.0
    assert cage.width_mm <= 0.9 * spine.vertebra("L5").superior.width_mm
    kinds = {d.kind for d in plan.decompressions}
    assert {"laminectomy", "facetectomy_unilateral", "discectomy"} <= kinds
    lam = next(d for d in plan.decompressions if d.kind == "laminectomy")
    assert lam.treats == ["central_stenosis L4-L5 (moderate)"]
    assert plan.graft is not None and plan.graft.regions == ["interbody", "posterolateral"]
    assert plan.graft.volume_cm3 > 2.9
    assert plan.overridden == []
    assert SurgicalPlan.from_json(plan.to_json()) == plan


def test_no_fusion_indicated_gives_none(spine, make_case, make_assessment):
    a = Assessment(findings=[], fuse_segments=[], decompress_segments=["L4-L5"])
    assert plan_surgery(make_case(), spine, a) is None


def test_every_keyword_forces_its_choice(spine, make_case, make_assessment):
    plan = plan_surgery(
        make_case(),
        spine,
        make_assessment(),
        technique="PLIF",
        approach="open",
        graft="allograft",
        rod_material="cobalt_chrome",
        rod_diameter_mm=6.0,
        levels=2,
    )
    assert plan is not None
    assert (plan.technique, plan.approach, plan.graft.material) == ("PLIF", "open", "allograft")
    assert {(r.material, r.diameter_mm) for r in plan.rods} == {("cobalt_chrome", 6.0)}
    assert plan.levels == 2 and plan.cages[0].count == 2
    assert set(plan.overridden) == {
        "technique",
        "approach",
        "graft",
        "rod_material",
        "rod_diameter_mm",
        "levels",
    }
    assert any("set by the surgeon" in r for r in plan.reasons)


def test_case_preferences_are_the_surgeons_choice(spine, make_case, make_assessment):
    case = make_case(Preferences(technique="ALIF", fuse_segments=["L5-S1"]))
    plan = plan_surgery(case, spine, make_assessment())
    assert plan.technique == "ALIF" and plan.fuse_segments == ["L5-S1"]
    assert {"technique", "levels"} <= set(plan.overridden)
    assert plan.graft.material == "rhbmp2" and plan.graft.bmp_dose_mg > 0


def test_levels_extend_toward_the_degenerated_neighbour(spine, make_case, make_assessment):
    a = make_assessment(
        findings=[
            Finding(diagnosis="degenerative_spondylolisthesis", level="L4-L5", grade="I"),
            Finding(diagnosis="foraminal_stenosis", level="L5-S1", grade="left"),
        ],
        decompress=["L4-L5"],
    )
    segs, over = select_segments(make_case(), spine, a, 2)
    assert segs == ["L4-L5", "L5-S1"] and over == ["levels"]
    a3 = make_assessment(segments=("L3-L4", "L4-L5"), decompress=[])
    segs, _ = select_segments(make_case(), spine, a3, 1)
    assert segs == ["L4-L5"]  # the segment with the findings stays
    assert select_segments(make_case(), spine, a3, "l3-l4")[0] == ["L3-L4"]
    with pytest.raises(ParameterError, match="levels = 0"):
        select_segments(make_case(), spine, a, 0)


def test_impossible_forced_choices_are_refused(spine, make_case, make_assessment):
    with pytest.raises(ParameterError, match="LLIF cannot reach L5-S1"):
        plan_surgery(make_case(), spine, make_assessment(segments=("L5-S1",)), technique="LLIF")
    with pytest.raises(CatalogueError, match="no titanium rod of 4.75 mm"):
        plan_surgery(make_case(), spine, make_assessment(), rod_diameter_mm=4.75)
    with pytest.raises(LevelError, match="unknown vertebra 'L7'"):
        plan_surgery(make_case(), spine, make_assessment(), levels=["L2-L7"])
    with pytest.raises(
        LevelError, match="L2-L4 is not a motion segment: name its segments, L2-L3, L3-L4"
    ):
        plan_surgery(make_case(), spine, make_assessment(), levels=["L2-L4"])


def test_partial_vertebra_and_unmeasured_disc_are_warned(spine, make_case, make_assessment):
    l4 = spine.vertebra("L4").model_copy(update={"partial": True})
    discs = {k: d for k, d in spine.discs.items() if k != "L4-L5"}
    g = spine.model_copy(update={"vertebrae": {**spine.vertebrae, "L4": l4}, "discs": discs})
    plan = plan_surgery(make_case(), g, make_assessment())
    cut = [w for w in plan.warnings if w.startswith("L4 is cut by the edge of the image")]
    assert cut and "no screw is planned in it" in cut[0]
    assert "L4-L5: the disc was not measured, so no cage is sized for it" in plan.warnings
    # what lies beyond the image is unknown: no screw in the cut vertebra, L5's two remain
    assert plan.cages == [] and {s.vertebra for s in plan.screws} == {"L5"}
    with pytest.raises(LevelError, match="vertebra L2 of the segments to fuse"):
        plan_surgery(
            make_case(),
            spine.model_copy(
                update={
                    "vertebrae": {k: v for k, v in spine.vertebrae.items() if k != "L2"},
                    "discs": {k: d for k, d in spine.discs.items() if "L2" not in k},
                }
            ),
            make_assessment(),
            levels=["L2-L3"],
        )


def test_osteoporotic_patient_gets_density_warnings(make_case, make_assessment):
    g = virtual_spine(VirtualPatientSpec(trabecular_hu=90.0))
    case = make_case(osteoporosis=True, t_score=-3.0)
    plan = plan_surgery(case, g, make_assessment())
    assert all(s.purchase == "poor" for s in plan.screws)
    assert plan.cages[0].subsidence_warning is not None
    assert "× 5.98" in plan.cages[0].subsidence_warning
    assert any("osteoporosis (DXA)" in w for w in plan.warnings)


def test_a_plan_round_trips_through_json(make_case, make_assessment):
    plan = plan_surgery(make_case(), virtual_spine(), make_assessment())
    assert SurgicalPlan.from_json(plan.to_json()) == plan


def test_missing_pedicle_is_an_explicit_warning_not_a_silent_screw(
    spine, make_case, make_assessment
):
    l5 = spine.vertebra("L5")
    g = spine.model_copy(
        update={
            "vertebrae": {
                **spine.vertebrae,
                "L5": l5.model_copy(update={"pedicles": {"right": l5.pedicles["right"]}}),
            }
        }
    )
    plan = plan_surgery(make_case(), g, make_assessment())
    assert ("L5", "left") not in {(s.vertebra, s.side) for s in plan.screws}
    assert any(w.startswith("L5 left: the geometry has no measured pedicle") for w in plan.warnings)
    assert [r.side for r in plan.rods] == ["right"]
    assert "no left rod: fewer than two left screws could be planned" in plan.warnings
