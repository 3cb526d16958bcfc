"""heal_json() and the pipeline adapter, with the upstream stages replaced by stand-ins that
return a virtual spine, a fixed plan and the closed-form fusion response."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

from spinefuse.anatomy.template import VirtualPatientSpec, virtual_spine
from spinefuse.case import save_case
from spinefuse.errors import MissingDependencyError
from spinefuse.healing import HealingCourse
from spinefuse.healing.stage import heal_json, heal_stage
from spinefuse.pipeline import CaseResult
from spinefuse.sample import sample_case

from .conftest import synthetic_response
from .test_course import _plan

GEOMETRY = virtual_spine(VirtualPatientSpec(trabecular_hu=160.0))


@pytest.fixture
def case_file(tmp_path: Path) -> Path:
    case = sample_case().model_copy(update={"imaging": []})
    return save_case(case, tmp_path / "case.yaml")


@pytest.fixture
def upstream(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """Stand-ins for anatomy, assessment, planning and mechanics; ``state['plan']`` is what the
    planner returns."""
    state: dict[str, object] = {"plan": _plan()}
    anatomy = types.ModuleType("spinefuse.anatomy.from_labels")
    anatomy.geometry_from_case = lambda case: GEOMETRY  # type: ignore[attr-defined]
    mechanics = types.ModuleType("spinefuse.mechanics")
    mechanics.fused_segment_response = lambda g, p, grid: synthetic_response(len(p), grid=grid)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "spinefuse.anatomy.from_labels", anatomy)
    monkeypatch.setitem(sys.modules, "spinefuse.mechanics", mechanics)
    import spinefuse.assess
    import spinefuse.plan

    monkeypatch.setattr(spinefuse.assess, "assess_case", lambda c, g: "assessment", raising=False)
    monkeypatch.setattr(
        spinefuse.plan, "plan_surgery", lambda c, g, a: state["plan"], raising=False
    )
    return state


def test_heal_json_returns_a_course_and_writes_the_figure(
    case_file: Path, upstream: dict[str, object], tmp_path: Path
) -> None:
    text = heal_json(case_file, members=200, seed=1, plot=tmp_path / "fig.png")
    course = HealingCourse.from_json(text)
    assert course.case_id == sample_case().id
    assert course.members == 200
    assert course.trabecular_hu == pytest.approx(160.0)
    assert 0.0 < course.fusion_probability[24] <= 1.0
    assert (tmp_path / "fig.png").stat().st_size > 20_000


def test_heal_json_without_a_planned_fusion(case_file: Path, upstream: dict[str, object]) -> None:
    upstream["plan"] = None
    data = json.loads(heal_json(case_file))
    assert data["healing"] is None and data["case_id"] == sample_case().id
    assert "no fusion" in data["reason"]


def test_missing_upstream_stage_is_named(case_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "spinefuse.anatomy.from_labels", None)
    with pytest.raises(MissingDependencyError, match="anatomy stage"):
        heal_json(case_file)


def test_pipeline_adapter(upstream: dict[str, object]) -> None:
    result = CaseResult(case=sample_case())
    assert heal_stage(result) is None  # nothing to heal without anatomy and plan
    result.records["anatomy"] = GEOMETRY
    result.records["plan"] = _plan()
    course = heal_stage(result)
    assert isinstance(course, HealingCourse)
    assert course.fused_segments == ["L4-L5"]


def test_public_surface() -> None:
    import spinefuse.healing as h

    assert set(h.__all__) >= {"heal", "heal_batch", "heal_json", "heal_stage", "HealingCourse"}
    for name in h.__all__:
        assert hasattr(h, name), name
