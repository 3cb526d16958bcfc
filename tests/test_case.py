from pathlib import Path

import pytest
import yaml

from spinefuse.case import Case, case_from_dict, load_case, save_case
from spinefuse.errors import CaseError

GOOD = {
    "schema": "spinefuse/case@1",
    "id": "p001",
    "patient": {"age_years": 62, "sex": "female", "height_cm": 163, "weight_kg": 74},
    "history": {
        "back_pain_nrs": 6,
        "leg_pain": True,
        "leg_pain_nrs": 7,
        "neurogenic_claudication": True,
        "symptom_duration_months": 14,
        "conservative_care": ["physiotherapy", "nsaids"],
        "conservative_care_months": 9,
        "odi": 46,
    },
}


def _with(path: str, value: object) -> dict:
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    node = data
    keys = path.split(".")
    for k in keys[:-1]:
        node = node[k]
    node[keys[-1]] = value
    return data


def test_good_case_round_trips(tmp_path: Path) -> None:
    case = case_from_dict(GOOD)
    assert case.patient.bmi == pytest.approx(74 / 1.63**2)
    save_case(case, tmp_path / "c.yaml")
    again = load_case(tmp_path / "c.yaml")
    assert again == case
    assert Case.from_json(case.to_json()) == case


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("patient.age_years", -3, "patient.age_years = -3"),
        ("patient.sex", "x", "patient.sex = 'x'"),
        ("history.odi", 120, "history.odi = 120"),
        ("history.back_pain_nrs", 11, "less than or equal to 10"),
        ("patient.smoking", "sometimes", "'never', 'former' or 'current'"),
        ("schema", "spinefuse/case@9", "schema = 'spinefuse/case@9'"),
        ("patient.t_score", -3.1, "osteoporotic range"),
        ("history.conservative_care_months", 30, "exceeds symptom_duration_months"),
    ],
)
def test_bad_fields_are_named(path: str, value: object, expected: str) -> None:
    with pytest.raises(CaseError) as err:
        case_from_dict(_with(path, value), "case.yaml")
    assert expected in str(err.value)
    assert "case.yaml" in str(err.value)


def test_missing_and_unknown_fields(tmp_path: Path) -> None:
    data = _with("patient.weight", 70)
    with pytest.raises(CaseError, match=r"patient.weight = 70: Extra inputs"):
        case_from_dict(data)
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    del data["patient"]["sex"]
    with pytest.raises(CaseError, match=r"patient.sex missing"):
        case_from_dict(data)


def test_imaging_paths_resolved_and_checked(tmp_path: Path) -> None:
    data = _with("imaging", [{"modality": "CT", "nifti": "ct.nii.gz"}])
    (tmp_path / "case.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(CaseError, match=r"imaging.0.nifti = '.*ct.nii.gz': no such file"):
        load_case(tmp_path / "case.yaml")
    (tmp_path / "ct.nii.gz").write_bytes(b"")
    case = load_case(tmp_path / "case.yaml")
    assert case.imaging[0].nifti == (tmp_path / "ct.nii.gz").resolve()
    with pytest.raises(CaseError, match="exactly one of dicom_dir or nifti"):
        case_from_dict(_with("imaging", [{"modality": "CT"}]))
    with pytest.raises(CaseError, match="needs a landmarks file"):
        case_from_dict(_with("imaging", [{"modality": "XR", "role": "flexion"}]))


def test_not_yaml_and_not_a_mapping(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("patient: [unclosed")
    with pytest.raises(CaseError, match="not valid YAML"):
        load_case(p)
    p.write_text("- a\n- b\n")
    with pytest.raises(CaseError, match="must be a mapping"):
        load_case(p)


def test_an_implausible_bmi_stops_at_the_case_not_after_the_stages(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pytest

    from spinefuse.case import load_case
    from spinefuse.errors import CaseError

    path = tmp_path / "case.yaml"
    path.write_text(
        "schema: spinefuse/case@1\nid: x\n"
        "patient: {age_years: 50, sex: male, height_cm: 230, weight_kg: 31}\nhistory: {}\n"
    )
    with pytest.raises(CaseError, match="BMI 5.9 kg/m² from height_cm 230 and weight_kg 31"):
        load_case(path)


def test_preferences_the_catalogue_cannot_honour_stop_before_any_stage(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pytest

    from spinefuse.case import load_case
    from spinefuse.errors import CaseError
    from spinefuse.pipeline import run

    path = tmp_path / "case.yaml"
    path.write_text(
        "schema: spinefuse/case@1\nid: x\n"
        "patient: {age_years: 50, sex: male, height_cm: 180, weight_kg: 80}\nhistory: {}\n"
        "preferences: {rod_diameter_mm: 7.3}\n"
    )
    with pytest.raises(CaseError, match="7.3 mm rod"):
        run(load_case(path), out_dir=tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()  # nothing half-written
    path.write_text(path.read_text().replace("rod_diameter_mm: 7.3", "site: mars"))
    with pytest.raises(CaseError, match="preferences.site = 'mars'"):
        run(load_case(path), out_dir=tmp_path / "out", progress=False)
