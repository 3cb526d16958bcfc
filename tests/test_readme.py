"""Every example in the README works: the commands come first, the code and case file run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from spinefuse.case import case_from_dict

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_opens_with_exactly_the_two_commands() -> None:
    first = README.read_text().split("```")[1]
    assert first.strip().splitlines() == ["make demo", "make test"]


def test_readme_python_examples_run(capsys: pytest.CaptureFixture[str]) -> None:
    blocks = _blocks("python")
    assert blocks
    for code in blocks:
        exec(compile(code, str(README), "exec"), {})
    out = capsys.readouterr().out
    assert out.startswith("25.0")


def test_readme_case_file_is_valid() -> None:
    (text,) = _blocks("yaml")
    case = case_from_dict(yaml.safe_load(text), "README", check_files=False)
    assert case.id == "patient-017" and case.history.conservative_care_months == 9
