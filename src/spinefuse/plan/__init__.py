"""Surgical planning: technique, decompression, pedicle screws, cages, rods and bone graft."""

from pathlib import Path

from spinefuse.plan.catalogue import Catalogue, CatalogueError, default_catalogue, load_catalogue
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

__all__ = [
    "Cage",
    "Catalogue",
    "CatalogueError",
    "Decompression",
    "Graft",
    "PedicleScrew",
    "Rod",
    "SurgicalPlan",
    "default_catalogue",
    "grade_screws",
    "check_preferences",
    "label_ids",
    "load_catalogue",
    "plan_surgery",
    "plan_without_anatomy",
    "select_segments",
    "write_implant_meshes",
]


def write_implant_meshes(
    plan: SurgicalPlan, out_dir: str | Path, catalogue: Catalogue | None = None
) -> list[Path]:
    """Write the plan's screws, rods and cages as STL in patient RAS mm (see
    :mod:`spinefuse.plan.meshes`; imported on use, so the records stay light)."""
    from spinefuse.plan.meshes import write_implant_meshes as write

    return write(plan, out_dir, catalogue)
