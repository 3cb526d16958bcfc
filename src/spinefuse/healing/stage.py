"""The healing stage as the pipeline and the command line call it.

``heal_stage(result)`` adapts :func:`~spinefuse.healing.heal` to the pipeline (it reads the
geometry, plan and mechanics records already produced); ``heal_json(case_path)`` runs the stages
the healing stage needs for one case file and returns the HealingCourse as JSON, for
``spinefuse heal CASE --json``. Upstream stages are imported when called, so this module loads
without them and says which one is missing.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from spinefuse.anatomy.geometry import SpineGeometry
from spinefuse.case import Case, load_case
from spinefuse.errors import CaseError, MissingDependencyError
from spinefuse.healing.course import HealingCourse, heal
from spinefuse.healing.plot import plot_course
from spinefuse.pipeline import CaseResult
from spinefuse.plan.surgical_plan import SurgicalPlan


def _stage_function(module: str, name: str, stage: str) -> Any:
    try:
        fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        raise MissingDependencyError(
            f"the healing command needs the {stage} stage ({module}.{name}), which is not "
            "installed in this spinefuse; run the full pipeline with 'spinefuse run' instead"
        ) from None
    return fn


def heal_stage(result: CaseResult) -> HealingCourse | None:
    """The pipeline's healing stage: None when no fusion is planned or no geometry exists."""
    geometry = result.get("anatomy")
    plan = result.get("plan")
    if not isinstance(geometry, SpineGeometry) or not isinstance(plan, SurgicalPlan):
        return None
    if not plan.fuse_segments:
        return None
    return heal(result.case, geometry, plan, result.get("mechanics"))


def _geometry(case: Case, source: str) -> SpineGeometry:
    geometry_from_case = _stage_function(
        "spinefuse.anatomy.from_labels", "geometry_from_case", "anatomy"
    )
    geometry = geometry_from_case(case)
    if geometry is None:
        raise CaseError(
            f"{source}: no spine geometry could be built (the case has no CT/MR study with a "
            "label map); add imaging to the case file"
        )
    if not isinstance(geometry, SpineGeometry):
        raise CaseError(f"{source}: the anatomy stage returned {type(geometry).__name__}")
    return geometry


def heal_json(
    case_path: str | Path,
    *,
    months: float = 24,
    seed: int | None = None,
    members: int | None = None,
    plot: str | Path | None = None,
) -> str:
    """Healing of a case file's planned fusion as JSON (a HealingCourse record).

    Runs anatomy, assessment and planning for the case; when no fusion is planned the JSON says
    so (``{"case_id": ..., "healing": null, "reason": ...}``). ``plot`` also writes the figure."""
    path = Path(case_path)
    case = load_case(path)
    geometry = _geometry(case, str(path))
    assess_case = _stage_function("spinefuse.assess", "assess_case", "assessment")
    plan_surgery = _stage_function("spinefuse.plan", "plan_surgery", "planning")
    plan = plan_surgery(case, geometry, assess_case(case, geometry))
    if plan is None or not plan.fuse_segments:
        reasons = list(getattr(plan, "reasons", []) or [])
        return json.dumps(
            {
                "case_id": case.id,
                "healing": None,
                "reason": "; ".join(reasons) or "the plan recommends no fusion",
            },
            indent=2,
        )
    course = heal(case, geometry, plan, months=months, seed=seed, members=members)
    if plot is not None:
        plot_course(course, plot)
    return course.to_json()
