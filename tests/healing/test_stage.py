"""The healing stage in the pipeline and the ``heal`` command."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from spinefuse.case import load_case, save_case
from spinefuse.cli import app
from spinefuse.healing import HealingCourse
from spinefuse.pipeline import run


def test_heal_command_prints_the_runs_course_and_draws_it(
    sample_case_path: Path, sample_run_dir: Path, tmp_path: Path
) -> None:
    out = CliRunner().invoke(
        app, ["heal", str(sample_case_path), "--plot", str(tmp_path / "f.png")]
    )
    assert out.exit_code == 0, out.output
    course = HealingCourse.from_json(out.stdout)
    assert json.loads(out.stdout) == json.loads((sample_run_dir / "healing.json").read_text())
    assert course.fused_segments == ["L4-L5"] and 0.0 < course.fusion_probability[24] <= 1.0
    assert (tmp_path / "f.png").stat().st_size > 20_000


def test_no_planned_fusion_means_nothing_to_heal(sample_case_path: Path, tmp_path: Path) -> None:
    case = load_case(sample_case_path)
    calm = case.model_copy(
        update={"history": case.history.model_copy(update={"conservative_care_months": 0})}
    )
    result = run(calm, "healing", progress=False)
    assert result.plan is None and result.healing is None
    assert result.skipped["healing"].code == "no_plan"
    path = save_case(calm, tmp_path / "case.yaml")
    out = CliRunner().invoke(app, ["heal", str(path)])
    assert out.exit_code == 3 and "nothing to heal" in out.output


def test_public_surface() -> None:
    import spinefuse.healing as h

    assert set(h.__all__) >= {"heal", "heal_batch", "HealingCourse"}
    for name in h.__all__:
        assert hasattr(h, name), name
