"""The `spinefuse mechanics` command: every option in --help, every README example runs."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spinefuse.cli import app

README = Path(__file__).resolve().parents[2] / "README.md"
OPTIONS = (
    "--reference", "--protocol", "--moment-nm", "--moments-nm", "--preload-n", "--rotation-deg",
    "--construct", "--rod-material", "--rod-diameter-mm", "--span", "--posture", "--json",
)  # fmt: skip


def _readme_commands() -> list[str]:
    text = README.read_text()
    section = text.split("### Spine mechanics for biomechanics users", 1)[1].split("\n### ", 1)[0]
    block = section.split("```sh", 1)[1].split("```", 1)[0]
    return [line.strip() for line in block.strip().splitlines() if line.strip()]


def _run(args: list[str]) -> dict[str, object]:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


def test_every_option_is_in_the_help_and_the_readme() -> None:
    result = CliRunner().invoke(app, ["mechanics", "--help"], env={"COLUMNS": "220"})
    assert result.exit_code == 0
    readme = "\n".join(_readme_commands()) + README.read_text()
    for opt in OPTIONS:
        assert opt in result.output, opt
        assert opt in readme, opt
    for word in ("unilateral-left", "disc-replacement", "cage-plate", "hemilaminectomy",
                 "standing", "lifting", "displacement", "L3-S1"):  # fmt: skip
        assert word in result.output, word


@pytest.mark.parametrize("command", _readme_commands())
def test_every_readme_example_runs(command: str) -> None:
    args = shlex.split(command)
    assert args[:2] == ["spinefuse", "mechanics"]
    data = _run(args[1:])
    segments = data["segments"]
    assert isinstance(segments, dict) and segments
    constructs = [a for a, b in zip(args[1:], args[2:], strict=False) if a == "--construct"]
    if "--construct" in args:
        assert data["intact"] is not None
    if "--moments-nm" in args:
        assert [c["moment_nm"] for c in data["curve"]] == [1.0, 2.5, 5.0, 7.5, 10.0]  # type: ignore[index, union-attr]
    if "--span" in args:
        assert data["specimen"] == ["L3-L4", "L4-L5", "L5-S1"]
    if "--posture" in args:
        assert data["posture"]["name"] == "lifting"  # type: ignore[index]
    if "screws-rods" in command:
        rods = data["implants"]["rods"]  # type: ignore[index]
        assert rods and all(set(r["by_direction"]) >= {"flexion", "extension"} for r in rods)
        if "unilateral-left" in command:
            assert [r["side"] for r in rods] == ["left"]
        if "peek" in command:
            assert {r["material"] for r in rods} == {"peek"}
    if "cage" in command:
        assert data["implants"]["cages"]  # type: ignore[index]
    del constructs


def test_a_construct_field_that_is_not_understood_stops_with_a_short_message() -> None:
    result = CliRunner().invoke(
        app, ["mechanics", "--reference", "--construct", "screws-rods:L4-L5:unilateral"]
    )
    assert result.exit_code == 2
    assert "field 'unilateral' is not understood" in re.sub(r"\s+", " ", result.output)
    assert "Traceback" not in result.output


def test_moments_must_be_numbers() -> None:
    result = CliRunner().invoke(app, ["mechanics", "--reference", "--moments-nm", "1,two"])
    assert result.exit_code == 2 and "comma-separated moments" in result.output
