"""Concordance of the MR and the examination: an L4-L5 subarticular herniation explains an L5
deficit on its side and is decompressed; the same MR with an S1 deficit is flagged discordant and
not operated on imaging alone. Root rules by level and zone; the examination validated."""

from __future__ import annotations

from typing import Any

import pytest

from spinefuse.anatomy.mr_phantom import Herniation, MrPathology, phantom_series, render_mr
from spinefuse.anatomy.template import VirtualPatientSpec, virtual_spine
from spinefuse.assess import assess_case
from spinefuse.assess.assessment import Assessment, Finding
from spinefuse.assess.concordance import affected_roots, concordance, symptomatic_roots
from spinefuse.case import Case, ClinicalHistory, Examination, case_from_dict
from spinefuse.errors import CaseError
from spinefuse.imaging.mr_series import MrSeries

PATIENT: dict[str, Any] = {"age_years": 44, "sex": "male", "height_cm": 178, "weight_kg": 82}
HISTORY: dict[str, Any] = {
    "back_pain": True,
    "back_pain_nrs": 3,
    "leg_pain": True,
    "leg_pain_nrs": 8,
    "symptom_duration_months": 5,
    "conservative_care": ["physiotherapy", "nsaids"],
    "conservative_care_months": 4,
}
L5_LEFT: dict[str, Any] = {
    "side": "left",
    "motor": {"left": {"L4": 5, "L5": 4, "S1": 5}, "right": {"L5": 5}},
    "sensory_loss": {"left": ["L5"]},
    "reflexes": {"patellar": {"left": "normal"}, "achilles": {"left": "normal"}},
    "straight_leg_raise": {"left": "positive", "right": "negative"},
}
S1_LEFT: dict[str, Any] = {
    "side": "left",
    "motor": {"left": {"L5": 5, "S1": 4}},
    "sensory_loss": {"left": ["S1"]},
    "reflexes": {"achilles": {"left": "reduced", "right": "normal"}},
    "straight_leg_raise": {"left": "positive"},
}


@pytest.fixture(scope="module")
def mr() -> MrSeries:
    g = virtual_spine(VirtualPatientSpec(sex="male", height_cm=178))
    path = MrPathology(
        pfirrmann={"L4-L5": 3},
        herniation={
            "L4-L5": Herniation(kind="protrusion", zone="subarticular", side="left", extent_mm=6.0)
        },
    )
    return phantom_series(render_mr(g, path, sagittal_mm=1.25, seed=5))


def _case(exam: dict[str, Any] | None, history: dict[str, Any] = HISTORY) -> Case:
    data = {"schema": "spinefuse/case@1", "id": "mr-exam", "patient": PATIENT, "history": history}
    if exam is not None:
        data["examination"] = exam
    return case_from_dict(data)


def _l45(a: Assessment) -> str:
    return next(r.action for r in a.recommendations if r.segment == "L4-L5")


def test_an_l5_deficit_and_an_l4_l5_subarticular_herniation_are_concordant(mr: MrSeries) -> None:
    a = assess_case(_case(L5_LEFT), None, (), mr)
    hern = next(f for f in a.findings if f.diagnosis == "disc_herniation")
    assert (hern.level, hern.zone, hern.side) == ("L4-L5", "subarticular", "left")
    c = a.concordance
    assert c is not None and c.concordant and not c.flags
    comp = next(x for x in c.compressions if x.kind == "disc_herniation")
    assert [(r.root, r.side) for r in comp.roots] == [("L5", "left")] and comp.supported
    root = next(r for r in c.roots if r.root == "L5")
    assert root.explained and any("great toe extension MRC 4/5" in s for s in root.signs)
    assert _l45(a) == "decompress" and "L4-L5" in a.decompress_segments
    assert a.fuse_segments == []


def test_the_same_mr_with_an_s1_deficit_is_flagged_discordant(mr: MrSeries) -> None:
    a = assess_case(_case(S1_LEFT), None, (), mr)
    c = a.concordance
    assert c is not None and not c.concordant
    s1 = next(r for r in c.roots if r.root == "S1")
    assert not s1.explained
    comp = next(x for x in c.compressions if x.kind == "disc_herniation")
    assert not comp.supported
    assert any(f.startswith("S1 deficit (left") for f in c.flags)
    assert any("does not point at that root" in f for f in c.flags)
    assert _l45(a) == "none" and "not supported by the examination" in " ".join(
        next(r for r in a.recommendations if r.segment == "L4-L5").reasons
    )
    assert "do not match" in a.rationale


def test_without_an_examination_the_history_root_is_matched(mr: MrSeries) -> None:
    history = {**HISTORY, "radiculopathy": {"side": "left", "root": "L5"}}
    a = assess_case(_case(None, history), None, (), mr)
    assert a.concordance is not None and a.concordance.concordant
    assert _l45(a) == "decompress"


@pytest.mark.parametrize(
    ("kind", "segment", "zone", "root"),
    [
        ("disc_herniation", "L4-L5", "subarticular", "L5"),
        ("disc_herniation", "L4-L5", "central", "L5"),
        ("disc_herniation", "L4-L5", "foraminal", "L4"),
        ("disc_herniation", "L4-L5", "extraforaminal", "L4"),
        ("disc_herniation", "L5-S1", "subarticular", "S1"),
        ("disc_herniation", "L5-S1", "foraminal", "L5"),
        ("central_stenosis", "L3-L4", "central", "L4"),
        ("lateral_recess_stenosis", "L4-L5", "subarticular", "L5"),
        ("foraminal_stenosis", "L5-S1", "foraminal", "L5"),
    ],
)
def test_root_rules(kind: Any, segment: str, zone: str, root: str) -> None:
    assert [r.root for r in affected_roots(kind, segment, zone, "left")] == [root]


def test_ct_central_stenosis_is_explained_for_bilateral_l5_claudication() -> None:
    history = ClinicalHistory(
        leg_pain=True,
        neurogenic_claudication=True,
        radiculopathy={"side": "bilateral", "root": "L5"},
    )
    found = [Finding(diagnosis="central_stenosis", level="L4-L5", grade="absolute")]
    c = concordance(found, None, history)
    assert c is not None and c.concordant
    assert c.compressions[0].roots[0].side == "bilateral"
    assert "neurogenic claudication (history)" in c.compressions[0].support


def test_examination_signs_name_their_roots() -> None:
    exam = Examination(
        motor={"right": {"L3": 3}},
        reflexes={"patellar": {"right": "absent"}},
        sensory_loss={"right": ["L4"]},
    )
    roots = {(r.root, r.side): r.signs for r in symptomatic_roots(exam, None)}
    assert set(roots) == {("L3", "right"), ("L4", "right")}
    assert "knee extension MRC 3/5 (right)" in roots[("L3", "right")]
    assert "patellar reflex absent (right)" in roots[("L4", "right")]


@pytest.mark.parametrize(
    ("exam", "field"),
    [
        ({"motor": {"left": {"L5": 7}}}, "examination.motor.left.L5"),
        ({"motor": {"left": {"L9": 3}}}, "examination.motor.left"),
        ({"reflexes": {"knee": {"left": "normal"}}}, "examination.reflexes"),
        ({"reflexes": {"patellar": {"left": "weak"}}}, "examination.reflexes.patellar.left"),
        ({"straight_leg_raise": {"left": "yes"}}, "examination.straight_leg_raise.left"),
        ({"sensory_loss": {"left": ["L5", "L5"]}}, "examination"),
        ({"red_flags": ["headache"]}, "examination.red_flags.0"),
    ],
)
def test_a_bad_examination_names_the_field(exam: dict[str, Any], field: str) -> None:
    with pytest.raises(CaseError, match=field.replace(".", r"\.")):
        _case(exam)


def test_red_flags_on_examination(mr: MrSeries) -> None:
    exam = {**L5_LEFT, "red_flags": ["saddle_anaesthesia", "urinary_retention"]}
    a = assess_case(_case(exam), None, (), mr)
    assert any("cauda equina" in f for f in a.red_flags)
    assert _l45(a) == "refer"  # urgent decompression assessment, not elective planning
