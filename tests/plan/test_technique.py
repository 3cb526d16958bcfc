import numpy as np
import pytest

from spinefuse.anatomy.geometry import Pelvis
from spinefuse.assess.assessment import Finding
from spinefuse.case import NeurologicalDeficit, Preferences, PriorSurgery
from spinefuse.errors import ParameterError
from spinefuse.plan.rules import planning_rules
from spinefuse.plan.technique import (
    choose_technique,
    finding_segment,
    llif_access,
    meyerding_grade,
    severe,
)

RULES = planning_rules()


def _with_crest(g, height_above_disc: float):
    """The geometry with both iliac crest tops at a height above the L4-L5 disc centre."""
    c = np.asarray(g.disc("L4-L5").centre)
    up = g.vertebra("L4").frame()[:3, 2]
    tops = {
        s: tuple(c + height_above_disc * up + [x, 0, 0]) for s, x in (("left", -90), ("right", 90))
    }
    pelvis = Pelvis(femoral_heads=g.pelvis.femoral_heads, iliac_crests=tops)
    return g.model_copy(update={"pelvis": pelvis})


def test_finding_levels_map_to_segments():
    assert finding_segment(Finding(diagnosis="isthmic_spondylolisthesis", level="L5")) == "L5-S1"
    assert finding_segment(Finding(diagnosis="central_stenosis", level="l4-l5")) == "L4-L5"
    assert finding_segment(Finding(diagnosis="osteoporosis")) is None
    slip = Finding(diagnosis="degenerative_spondylolisthesis", grade="II", meyerding=2)
    assert meyerding_grade(slip) == 2
    # the grade is read from the typed field, never out of the words
    retro = Finding(
        diagnosis="degenerative_spondylolisthesis",
        grade="retrolisthesis 14.3 %",
        slip_direction="posterior",
    )
    assert meyerding_grade(retro) is None
    assert severe(Finding(diagnosis="central_stenosis", grade="absolute", severity="severe"))
    assert not severe(Finding(diagnosis="central_stenosis", grade="severe", severity="moderate"))


def test_iliac_crest_decides_lateral_access_to_l4_l5(spine):
    l4_height = spine.vertebra("L4").middle_height_mm
    assert llif_access(spine, "L5-S1", RULES)[0] == "blocked"
    assert llif_access(spine, "L3-L4", RULES)[0] == "open"
    assert llif_access(spine, "L4-L5", RULES)[0] == "unknown"  # no crest in the geometry
    assert llif_access(_with_crest(spine, -10.0), "L4-L5", RULES)[0] == "open"
    assert llif_access(_with_crest(spine, 0.3 * l4_height), "L4-L5", RULES)[0] == "difficult"
    state, why = llif_access(_with_crest(spine, 0.7 * l4_height), "L4-L5", RULES)
    assert state == "blocked" and "above mid-L4" in why


def _ddd(level: str) -> list[Finding]:
    return [Finding(diagnosis="degenerative_disc_disease", level=level, grade="Pfirrmann IV")]


def test_discogenic_disease_goes_lateral_or_anterior_by_anatomy(spine, make_case, make_assessment):
    case = make_case()
    low_crest = _with_crest(spine, -10.0)
    high_crest = _with_crest(spine, 0.8 * spine.vertebra("L4").middle_height_mm)
    a45 = make_assessment(findings=_ddd("L4-L5"), decompress=[])
    assert choose_technique(case, low_crest, a45, ["L4-L5"], RULES).technique == "LLIF"
    blocked = choose_technique(case, high_crest, a45, ["L4-L5"], RULES)
    assert blocked.technique == "ALIF"
    assert any("LLIF not chosen at L4-L5" in r for r in blocked.reasons)
    a51 = make_assessment(segments=("L5-S1",), findings=_ddd("L5-S1"), decompress=[])
    alif = choose_technique(case, spine, a51, ["L5-S1"], RULES)
    assert (alif.technique, alif.approach) == ("ALIF", "open")


def test_stenosis_and_deficits_need_direct_posterior_decompression(
    spine, make_case, make_assessment
):
    a = make_assessment()
    assert choose_technique(make_case(), spine, a, ["L4-L5"], RULES).technique == "TLIF"
    # prior laminectomy without a deficit: an anterior interbody avoids the scar
    prior = make_case(prior=[PriorSurgery(procedure="laminectomy", segments=["L4-L5"])])
    a_slip = make_assessment(
        findings=[
            Finding(
                diagnosis="degenerative_spondylolisthesis", level="L4-L5", grade="I", meyerding=1
            )
        ]
    )
    c = choose_technique(prior, spine, a_slip, ["L4-L5"], RULES)
    assert c.technique == "ALIF" and any("epidural scar" in r for r in c.reasons)
    deficit = prior.model_copy(
        update={
            "history": prior.history.model_copy(
                update={
                    "neurological_deficit": NeurologicalDeficit(
                        kind="motor", root="L5", mrc_grade=3
                    )
                }
            )
        }
    )
    assert choose_technique(deficit, spine, a_slip, ["L4-L5"], RULES).technique == "TLIF"


def test_instability_alone_gets_posterolateral_fusion(spine, make_case, make_assessment):
    a = make_assessment(findings=[Finding(diagnosis="instability", level="L4-L5")])
    assert choose_technique(make_case(), spine, a, ["L4-L5"], RULES).technique == "PLF"


def test_approach_rules_and_overrides(spine, make_case, make_assessment):
    a = make_assessment(
        findings=[
            Finding(
                diagnosis="degenerative_spondylolisthesis", level="L4-L5", grade="III", meyerding=3
            )
        ]
    )
    c = choose_technique(make_case(), spine, a, ["L4-L5"], RULES)
    assert c.approach == "open" and any("high-grade slip" in r for r in c.reasons)
    three = choose_technique(
        make_case(), spine, make_assessment(), ["L2-L3", "L3-L4", "L4-L5"], RULES
    )
    assert three.approach == "open"
    pref = make_case(Preferences(approach="open", technique="PLIF"))
    c = choose_technique(pref, spine, make_assessment(), ["L4-L5"], RULES)
    assert (c.technique, c.approach) == ("PLIF", "open") and c.overridden == [
        "technique",
        "approach",
    ]
    forced = choose_technique(pref, spine, make_assessment(), ["L4-L5"], RULES, technique="TLIF")
    assert forced.technique == "TLIF" and "set by the surgeon" in forced.reasons[0]


def test_forced_llif_warns_when_the_crest_is_in_the_way(spine, make_case, make_assessment):
    g = _with_crest(spine, 0.3 * spine.vertebra("L4").middle_height_mm)
    c = choose_technique(make_case(), g, make_assessment(), ["L4-L5"], RULES, technique="LLIF")
    assert c.technique == "LLIF" and any("high-riding" in w for w in c.warnings)
    with pytest.raises(ParameterError, match="choose TLIF, PLIF or ALIF"):
        choose_technique(
            make_case(), g, make_assessment(), ["L4-L5", "L5-S1"], RULES, technique="LLIF"
        )
