"""Virtual patients with known pathology through the whole assessment: measurements, findings,
indication per segment, the JSON and the table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from spinefuse.anatomy.geometry import SpineGeometry
from spinefuse.anatomy.template import VirtualPatientSpec, posed, virtual_spine
from spinefuse.assess import assess_case, assess_landmarks, assessment_table
from spinefuse.assess.assessment import Assessment
from spinefuse.case import Case, ClinicalHistory, ImagingStudy, Patient, load_case, save_case
from spinefuse.errors import CaseError
from spinefuse.imaging.images import read_images
from spinefuse.imaging.xray_landmarks import write_xray_landmarks
from spinefuse.pipeline import run

from .virtual_films import ap_landmarks, lateral_landmarks

HISTORY: dict[str, Any] = {
    "back_pain": True,
    "back_pain_nrs": 6,
    "leg_pain": True,
    "leg_pain_nrs": 7,
    "neurogenic_claudication": True,
    "symptom_duration_months": 14,
    "conservative_care": ["physiotherapy", "nsaids", "epidural_injection"],
    "conservative_care_months": 9,
}


def _case(
    tmp: Path,
    spec: VirtualPatientSpec,
    dynamic: tuple[float, float] | None = None,
    age: float = 62,
    smoking: str = "never",
    **history: Any,
) -> tuple[Case, SpineGeometry]:
    """A case with a standing lateral film (and a flexion/extension pair of ``(rotation deg,
    translation mm)`` at L4-L5) of the virtual spine, plus the spine as its geometry."""
    g = virtual_spine(spec)
    studies = [
        ImagingStudy(
            modality="XR",
            role="preop",
            landmarks=write_xray_landmarks(lateral_landmarks(g), tmp / "lateral.csv"),
        )
    ]
    if dynamic is not None:
        rot, trans = dynamic
        for role, sign in (("flexion", 1.0), ("extension", -1.0)):
            film = posed(spec, {"L4-L5": sign * rot}, {"L4-L5": sign * trans / 2})
            path = write_xray_landmarks(lateral_landmarks(film, role=role), tmp / f"{role}.csv")
            studies.append(ImagingStudy(modality="XR", role=role, landmarks=path))
    case = Case(
        id="virtual",
        patient=Patient(age_years=age, sex="female", height_cm=165, weight_kg=70, smoking=smoking),
        history=ClinicalHistory(**{**HISTORY, **history}),
        imaging=studies,
    )
    return case, g


def _assess(case: Case, g: SpineGeometry | None) -> Assessment:
    """The assessment stage on the case's films (read as the imaging stage reads them)."""
    return assess_case(case, g, read_images(case).xrays)


def _actions(a: Assessment) -> dict[str, str]:
    return {r.segment: r.action for r in a.recommendations}


def _dx(a: Assessment) -> set[tuple[str, str | None]]:
    return {(f.diagnosis, f.level) for f in a.findings}


def test_normal_spine_gets_no_finding_and_no_fusion(tmp_path: Path) -> None:
    case, g = _case(tmp_path, VirtualPatientSpec(), dynamic=(3.0, 0.5))
    a = _assess(case, g)
    assert {(f.diagnosis, f.level) for f in a.findings} <= {("foraminal_stenosis", "L5-S1")}
    assert a.fuse_segments == []
    assert all(x == "none" for s, x in _actions(a).items() if s != "L5-S1")
    assert list(_actions(a)) == ["L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1"]
    assert a.measurement("angulation_change", "L4-L5").value == pytest.approx(6.0, abs=0.05)


def test_normal_spine_has_no_finding_at_all(tmp_path: Path) -> None:
    case, g = _case(tmp_path, VirtualPatientSpec())
    assert _assess(case, g).findings == []


@pytest.mark.parametrize(
    ("slip", "grade", "kind"),
    [
        (5.0, "I", "degenerative"),
        (18.0, "I", "degenerative"),
        (33.0, "II", "degenerative"),
        (60.0, "III", "isthmic"),
    ],
)
def test_slip_is_graded_typed_and_placed(
    tmp_path: Path, slip: float, grade: str, kind: str
) -> None:
    case, g = _case(tmp_path, VirtualPatientSpec(slip_percent={"L4-L5": slip}))
    a = _assess(case, g)
    (f,) = [f for f in a.findings if f.diagnosis.endswith("spondylolisthesis")]
    assert (f.diagnosis, f.level, f.grade) == (f"{kind}_spondylolisthesis", "L4-L5", grade)
    assert a.measurement("slip_percent", "L4-L5").value == pytest.approx(slip, abs=0.2)
    assert a.measurement("slip_percent", "L4-L5").detail["from"] == "xray"
    if grade == "I":  # stable grade I with stenosis-free canal: no fusion without dynamic films
        assert "L4-L5" not in a.fuse_segments
    else:  # Meyerding >= II is a mechanical reason on its own
        assert a.fuse_segments == ["L4-L5"]
        reasons = a.recommendations[3].reasons
        assert any("Meyerding" in r for r in reasons)


def test_young_patient_slip_at_l5_s1_is_isthmic(tmp_path: Path) -> None:
    case, g = _case(tmp_path, VirtualPatientSpec(slip_percent={"L5-S1": 22.0}), age=34)
    a = _assess(case, g)
    assert ("isthmic_spondylolisthesis", "L5-S1") in _dx(a)
    assert a.fuse_segments == ["L5-S1"]


def test_demo_like_patient_unstable_grade_i_slip_with_stenosis_is_fused_and_decompressed(
    tmp_path: Path,
) -> None:
    spec = VirtualPatientSpec(slip_percent={"L4-L5": 16.0}, stenosis_csa_mm2={"L4-L5": 70.0})
    case, g = _case(tmp_path, spec, dynamic=(6.0, 4.0))
    a = _assess(case, g)
    assert {
        ("degenerative_spondylolisthesis", "L4-L5"),
        ("instability", "L4-L5"),
        ("central_stenosis", "L4-L5"),
    } <= _dx(a)
    slip = next(f for f in a.findings if f.diagnosis == "degenerative_spondylolisthesis")
    assert slip.grade == "I"
    assert a.measurement("translation_mm", "L4-L5").value == pytest.approx(4.0, abs=0.05)
    assert a.fuse_segments == ["L4-L5"] and a.decompress_segments == ["L4-L5"]
    assert {s: x for s, x in _actions(a).items() if x != "none"} == {"L4-L5": "fuse"}
    rec = a.recommendations[3]
    assert rec.reasons and "instability" in rec.reasons[0] and rec.criteria_source
    assert "Fusion indicated at L4-L5" in a.rationale


def test_clinical_gates_hold_fusion_back_with_reasons(tmp_path: Path) -> None:
    spec = VirtualPatientSpec(slip_percent={"L4-L5": 16.0}, stenosis_csa_mm2={"L4-L5": 70.0})
    early, g = _case(tmp_path, spec, (6.0, 4.0), conservative_care_months=1)
    a = _assess(early, g)
    assert a.fuse_segments == [] and _actions(a)["L4-L5"] == "none"
    assert any("conservative care 1 months < 3" in r for r in a.recommendations[3].reasons)
    smoker, g = _case(tmp_path, spec, (6.0, 4.0), smoking="current")
    a = _assess(smoker, g)
    assert a.fuse_segments == [] and _actions(a)["L4-L5"] == "refer"
    cauda, g = _case(
        tmp_path, spec, (6.0, 4.0), cauda_equina_signs=True, conservative_care_months=0
    )
    a = _assess(cauda, g)
    assert a.red_flags and _actions(a)["L4-L5"] == "refer"


def test_stenosis_without_instability_is_decompressed_not_fused(tmp_path: Path) -> None:
    case, g = _case(tmp_path, VirtualPatientSpec(stenosis_csa_mm2={"L3-L4": 82.0}), (3.0, 0.5))
    a = _assess(case, g)
    (f,) = [f for f in a.findings if f.diagnosis == "central_stenosis"]
    assert (f.level, f.grade) == ("L3-L4", "relative")
    assert a.decompress_segments == ["L3-L4"] and a.fuse_segments == []
    severe, g = _case(tmp_path, VirtualPatientSpec(stenosis_csa_mm2={"L4-L5": 60.0}))
    assert any(f.grade == "absolute" for f in _assess(severe, g).findings)


def test_disc_degeneration_and_osteoporosis_are_found_without_fusion(tmp_path: Path) -> None:
    spec = VirtualPatientSpec(disc_height_loss={"L4-L5": 0.5}, trabecular_hu=96.0)
    case, g = _case(tmp_path, spec, leg_pain=False, neurogenic_claudication=False)
    a = _assess(case, g)
    assert ("degenerative_disc_disease", "L4-L5") in _dx(a)
    assert ("osteoporosis", "L1") in _dx(a)
    assert a.fuse_segments == []
    assert _actions(a)["L4-L5"] in ("none", "refer")


@pytest.mark.parametrize("cobb", [10.0, 20.0, 35.0, 50.0])
def test_scoliosis_is_found_with_its_span_and_never_fused_alone(
    tmp_path: Path, cobb: float
) -> None:
    spec = VirtualPatientSpec(scoliosis_cobb_deg=cobb, scoliosis_apex="L3")
    case, g = _case(tmp_path, spec)
    ap = write_xray_landmarks(ap_landmarks(g), tmp_path / "ap.csv")
    case = case.model_copy(
        update={"imaging": [*case.imaging, ImagingStudy(modality="XR", landmarks=ap)]}
    )
    a = _assess(case, g)
    (f,) = [f for f in a.findings if f.diagnosis == "scoliosis"]
    assert f.level == "L1-L5"
    assert float(f.grade.split("°")[0]) == pytest.approx(cobb, abs=0.1)
    assert ("type L" in f.grade) == (cobb >= 30)
    assert a.fuse_segments == []


def test_landmark_files_alone_refer_pathology_and_round_trip_through_json(tmp_path: Path) -> None:
    g = virtual_spine(VirtualPatientSpec(slip_percent={"L4-L5": 30.0}))
    path = write_xray_landmarks(lateral_landmarks(g), tmp_path / "lat.csv")
    a = assess_landmarks([path])
    assert ("degenerative_spondylolisthesis", "L4-L5") in _dx(a)
    assert _actions(a)["L4-L5"] == "refer" and a.fuse_segments == []
    assert Assessment.from_json(a.to_json()) == a


def test_case_json_and_table(tmp_path: Path) -> None:
    spec = VirtualPatientSpec(slip_percent={"L4-L5": 16.0})
    case, _ = _case(tmp_path, spec, dynamic=(6.0, 4.0))
    path = save_case(case, tmp_path / "case.yaml", relative_to=tmp_path)
    a = run(load_case(path), "assessment", progress=False).assessment
    assert a is not None and a.fuse_segments == [
        "L4-L5"
    ]  # instability on the films, no geometry needed
    console = Console(record=True, width=200)
    console.print(assessment_table(a))
    text = console.export_text()
    assert "L4-L5" in text and "fuse" in text and "degenerative spondylolisthesis I" in text


def test_a_case_without_imaging_is_refused(tmp_path: Path) -> None:
    case, _ = _case(tmp_path, VirtualPatientSpec())
    with pytest.raises(CaseError, match="no X-ray landmark study and no geometry"):
        assess_case(case.model_copy(update={"imaging": []}), None)


def test_foraminal_stenosis_is_decompressed_only_for_its_exiting_root(tmp_path: Path) -> None:
    spec = VirtualPatientSpec(disc_height_loss={"L4-L5": 0.7})
    concordant, g = _case(
        tmp_path,
        spec,
        (3.0, 0.5),
        neurogenic_claudication=False,
        radiculopathy={"side": "left", "root": "L4"},
    )
    a = _assess(concordant, g)
    f = next(f for f in a.findings if f.diagnosis == "foraminal_stenosis" and f.level == "L4-L5")
    assert a.measurement("disc_height_posterior", "L4-L5").value <= 4.0
    assert a.measurement("foraminal_height", "L4-L5").value <= 15.0
    assert f.source.startswith("posterior disc height") and f.grade == "bilateral"
    assert _actions(a)["L4-L5"] == "decompress" and a.fuse_segments == []
    other, g = _case(
        tmp_path,
        spec,
        (3.0, 0.5),
        neurogenic_claudication=False,
        radiculopathy={"side": "left", "root": "S1"},
    )
    assert _actions(_assess(other, g))["L4-L5"] == "none"


def test_retrolisthesis_is_reported_without_fusion(tmp_path: Path) -> None:
    case, g = _case(tmp_path, VirtualPatientSpec(slip_percent={"L2-L3": -12.0}))
    a = _assess(case, g)
    (f,) = [f for f in a.findings if f.diagnosis.endswith("spondylolisthesis")]
    assert (f.level, f.grade) == ("L2-L3", "retrolisthesis 12.0 %")
    assert a.fuse_segments == []


def test_unscaled_film_lengths_give_way_to_the_geometry_in_mm(tmp_path: Path) -> None:
    spec = VirtualPatientSpec(disc_height_loss={"L4-L5": 0.7})
    case, g = _case(tmp_path, spec)
    unscaled = write_xray_landmarks(lateral_landmarks(g, None), tmp_path / "px.csv")
    case = case.model_copy(update={"imaging": [ImagingStudy(modality="XR", landmarks=unscaled)]})
    a = _assess(case, g)
    m = a.measurement("disc_height_posterior", "L4-L5")
    assert m.unit == "mm" and m.detail["from"].startswith("geometry")
    assert a.measurement("slip_percent", "L4-L5").detail["from"] == "xray"
    assert ("foraminal_stenosis", "L4-L5") in _dx(a)


@pytest.mark.parametrize(("cobb", "action"), [(18.0, "fuse"), (35.0, "refer")])
def test_slip_inside_a_structural_curve_is_referred(
    tmp_path: Path, cobb: float, action: str
) -> None:
    spec = VirtualPatientSpec(
        scoliosis_cobb_deg=cobb, scoliosis_apex="L3", slip_percent={"L3-L4": 30.0}
    )
    case, g = _case(tmp_path, spec)
    a = _assess(case, g)
    assert _actions(a)["L3-L4"] == action
    if action == "refer":
        assert "scoliosis" in a.recommendations[2].reasons[0]
