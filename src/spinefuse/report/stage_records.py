"""The records one pipeline run wrote into its folder, read back for the reports.

The contract records (case, anatomy, assessment, plan) are validated into their pydantic types;
the records of the later stages (mechanics, healing, forecast) are read as plain mappings so that
the reports keep working while those records gain fields. A missing file is not an error: the
report says that stage did not run. A file that exists but cannot be read is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from spinefuse.anatomy.geometry import SpineGeometry
from spinefuse.assess.assessment import Assessment
from spinefuse.case import Case
from spinefuse.errors import SpinefuseError
from spinefuse.plan.surgical_plan import SurgicalPlan
from spinefuse.records import Record, describe_validation_error

STAGE_FILES: tuple[str, ...] = (
    "case.json",
    "anatomy.json",
    "assessment.json",
    "plan.json",
    "mechanics.json",
    "healing.json",
    "forecast.json",
)
"""The stage records a run folder may hold, in pipeline order."""

R = TypeVar("R", bound=Record)


class ReportInputError(SpinefuseError, ValueError):
    """A run folder or one of its stage records cannot be read (names the file and the fix)."""


@dataclass(frozen=True)
class StageRecords:
    """Every record found in a run folder; ``None`` where that stage wrote nothing."""

    run_dir: Path
    case: Case | None = None
    geometry: SpineGeometry | None = None
    assessment: Assessment | None = None
    plan: SurgicalPlan | None = None
    mechanics: dict[str, Any] | None = None
    healing: dict[str, Any] | None = None
    forecast: dict[str, Any] | None = None
    missing: tuple[str, ...] = field(default_factory=tuple)

    @property
    def case_id(self) -> str:
        return self.case.id if self.case is not None else self.run_dir.name


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise ReportInputError(f"{path}: cannot be read ({err}); re-run that stage") from None
    except json.JSONDecodeError as err:
        raise ReportInputError(
            f"{path}: not valid JSON (line {err.lineno}, column {err.colno}: {err.msg}); "
            "the stage that wrote it was interrupted: re-run it"
        ) from None


def _typed(path: Path, kind: type[R]) -> R | None:
    if not path.is_file():
        return None
    data = _read_json(path)
    try:
        return kind.model_validate(data)
    except ValidationError as err:
        raise ReportInputError(
            describe_validation_error(err, str(path), kind.__name__)
            + "\nre-run that stage with this version of spinefuse"
        ) from None


def _mapping(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    data = _read_json(path)
    if not isinstance(data, dict):
        raise ReportInputError(
            f"{path}: expected a JSON object (a stage record), got {type(data).__name__}; "
            "re-run that stage"
        )
    return data


def load_stage_records(run_dir: Path) -> StageRecords:
    """Read the stage records in ``run_dir`` (a folder written by ``spinefuse run``)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ReportInputError(
            f"{run_dir}: no such run folder; give the folder `spinefuse run` wrote"
        )
    missing = tuple(n for n in STAGE_FILES if not (run_dir / n).is_file())
    return StageRecords(
        run_dir=run_dir,
        case=_typed(run_dir / "case.json", Case),
        geometry=_typed(run_dir / "anatomy.json", SpineGeometry),
        assessment=_typed(run_dir / "assessment.json", Assessment),
        plan=_typed(run_dir / "plan.json", SurgicalPlan),
        mechanics=_mapping(run_dir / "mechanics.json"),
        healing=_mapping(run_dir / "healing.json"),
        forecast=_mapping(run_dir / "forecast.json"),
        missing=missing,
    )
