"""Surgical planning: technique, decompression, pedicle screws, cages, rods and bone graft.

The names below are imported on first use (PEP 562), so that importing the plan records
(:mod:`spinefuse.plan.surgical_plan`, which the mechanics read) does not load the planner and
the imaging stack behind it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spinefuse.plan.catalogue import (
        Catalogue,
        CatalogueError,
        default_catalogue,
        load_catalogue,
    )
    from spinefuse.plan.meshes import write_implant_meshes
    from spinefuse.plan.planner import (
        check_preferences,
        plan_surgery,
        plan_without_anatomy,
        select_segments,
    )
    from spinefuse.plan.screws import grade_screws, label_ids
    from spinefuse.plan.surgical_plan import (
        Cage,
        Decompression,
        Graft,
        PedicleScrew,
        Rod,
        SurgicalPlan,
    )

_WHERE = {
    "Catalogue": "catalogue",
    "CatalogueError": "catalogue",
    "default_catalogue": "catalogue",
    "load_catalogue": "catalogue",
    "write_implant_meshes": "meshes",
    "check_preferences": "planner",
    "plan_surgery": "planner",
    "plan_without_anatomy": "planner",
    "select_segments": "planner",
    "grade_screws": "screws",
    "label_ids": "screws",
    "Cage": "surgical_plan",
    "Decompression": "surgical_plan",
    "Graft": "surgical_plan",
    "PedicleScrew": "surgical_plan",
    "Rod": "surgical_plan",
    "SurgicalPlan": "surgical_plan",
}
__all__ = [
    "Cage",
    "Catalogue",
    "CatalogueError",
    "Decompression",
    "Graft",
    "PedicleScrew",
    "Rod",
    "SurgicalPlan",
    "check_preferences",
    "default_catalogue",
    "grade_screws",
    "label_ids",
    "load_catalogue",
    "plan_surgery",
    "plan_without_anatomy",
    "select_segments",
    "write_implant_meshes",
]


def __getattr__(name: str) -> Any:
    from types import ModuleType

    where = _WHERE.get(name)
    module: ModuleType
    if where == "catalogue":
        from spinefuse.plan import catalogue as module
    elif where == "meshes":
        from spinefuse.plan import meshes as module
    elif where == "planner":
        from spinefuse.plan import planner as module
    elif where == "screws":
        from spinefuse.plan import screws as module
    elif where == "surgical_plan":
        from spinefuse.plan import surgical_plan as module
    else:
        raise AttributeError(f"module 'spinefuse.plan' has no attribute {name!r}")
    return getattr(module, name)
