"""Every example in the README works: the commands come first, the code and case file run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from spinefuse.case import case_from_dict
from spinefuse.cohort.spec import cohort_from_dict

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks(lang: str) -> list[str]:
    """Fenced code blocks whose info string is ``lang`` ("" for plain blocks)."""
    blocks: list[str] = []
    current: list[str] | None = None
    info = ""
    for line in README.read_text().splitlines():
        if line.startswith("```"):
            if current is None:
                current, info = [], line[3:].strip()
            else:
                if info == lang:
                    blocks.append("\n".join(current) + "\n")
                current = None
        elif current is not None:
            current.append(line)
    return blocks


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


def test_readme_case_file_and_cohort_spec_are_valid() -> None:
    case_text, cohort_text = _blocks("yaml")
    case = case_from_dict(yaml.safe_load(case_text), "README", check_files=False)
    assert case.id == "patient-017" and case.history.conservative_care_months == 9
    spec = cohort_from_dict(yaml.safe_load(cohort_text), "README")
    assert [a.name for a in spec.arms] == ["tlif-autograft", "plf-allograft"]
    assert spec.population.smoking_current == 0.3


def test_readme_commands_exist() -> None:
    """Every ``spinefuse <command>`` the README shows is a real sub-command."""
    from typer.main import get_command

    from spinefuse.cli import app

    commands = set(get_command(app).commands)  # type: ignore[attr-defined]
    plain = "\n".join(_blocks(""))
    shown = set(re.findall(r"^spinefuse (\w+)", plain, flags=re.M))
    shown |= set(re.findall(r"`spinefuse (\w+)", README.read_text()))
    assert shown and shown <= commands, shown - commands


def test_readme_subcommands_and_their_options_exist() -> None:
    """Every ``spinefuse <group> <command> --option`` the README shows is real (pacs, export)."""
    from typer.main import get_command

    from spinefuse.cli import app

    root = get_command(app)
    plain = "\n".join(_blocks("")).replace("\\\n", " ")
    checked = 0
    for group, name, rest in re.findall(r"^spinefuse (pacs|export) (\w+)(.*)$", plain, flags=re.M):
        sub = root.commands[group]  # type: ignore[attr-defined]
        assert name in sub.commands, (group, name)
        options = {o for p in sub.commands[name].params for o in getattr(p, "opts", [])}
        shown = set(re.findall(r"(--[a-z-]+)", rest))
        assert shown <= options, (group, name, shown - options)
        checked += 1
    assert checked >= 6
