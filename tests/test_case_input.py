"""Bad case files: each stops with a CaseError naming the file, the field and the fix."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from spinefuse.case import case_from_dict, load_case
from spinefuse.errors import CaseError

from .test_case import GOOD, _with


def _file(tmp_path: Path, text: str | bytes) -> Path:
    p = tmp_path / "case.yaml"
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return p


def test_duplicate_id_is_refused(tmp_path: Path) -> None:
    text = yaml.safe_dump(GOOD, sort_keys=False).replace("id: p001\n", "id: patient-A\nid: p-B\n")
    with pytest.raises(CaseError, match="key 'id' is given twice"):
        load_case(_file(tmp_path, text))


def test_non_utf8_case_file(tmp_path: Path) -> None:
    text = yaml.safe_dump(GOOD, sort_keys=False) + "notes: Schmerzen beim Gehen, \xfcber 200 m\n"
    with pytest.raises(CaseError, match=r"case.yaml: not UTF-8 text \(byte 0xfc"):
        load_case(_file(tmp_path, text.encode("latin-1")))


def test_huge_notes_are_capped_and_not_echoed() -> None:
    data = _with("notes", "x" * 50_000_000)
    with pytest.raises(CaseError) as err:
        case_from_dict(data, "case.yaml")
    message = str(err.value)
    assert "notes" in message and "at most 20000 characters" in message
    assert len(message) < 1000


def test_ordinary_notes_are_kept() -> None:
    case = case_from_dict(_with("notes", "Pain on walking more than 200 m. " * 100))
    assert len(case.notes) == 3300


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("patient.asa_class", True, "patient.asa_class = True: true/false is not a number"),
        ("patient.age_years", True, "patient.age_years = True: true/false is not a number"),
        ("history.claudication_distance_m", float("inf"), "finite number"),
        ("history.symptom_duration_months", float("nan"), "finite number"),
        ("preferences.rod_diameter_mm", float("inf"), "finite number"),
        ("preferences.site", "s" * 500, "at most 64 characters"),
    ],
)
def test_numbers_must_be_numbers(path: str, value: object, expected: str) -> None:
    data = (
        _with(path, value)
        if not path.startswith("preferences")
        else {
            **GOOD,
            "preferences": {path.split(".")[1]: value},
        }
    )
    with pytest.raises(CaseError) as err:
        case_from_dict(data, "case.yaml")
    assert expected in str(err.value)


def test_symlink_loop_in_an_image_path(tmp_path: Path) -> None:
    os.symlink(tmp_path / "loop.nii.gz", tmp_path / "loop.nii.gz")
    data = _with("imaging", [{"modality": "CT", "nifti": "loop.nii.gz"}])
    with pytest.raises(CaseError, match=r"imaging.0.nifti = 'loop.nii.gz': a symbolic link loop"):
        load_case(_file(tmp_path, yaml.safe_dump(data)))


def test_path_fields_have_a_length_limit() -> None:
    data = _with("imaging", [{"modality": "CT", "nifti": "a/" * 5000 + "ct.nii.gz"}])
    with pytest.raises(CaseError, match="at most 4096 characters"):
        case_from_dict(data, "case.yaml", check_files=False)
