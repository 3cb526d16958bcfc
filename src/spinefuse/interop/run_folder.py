"""A run folder's typed records, as the exports read them.

``spinefuse run`` writes ``case.json`` and one ``<stage>.json`` per stage; :func:`read_run`
validates each with its record type (``Record.load``), so the exports never guess at raw keys. A
stage that did not run leaves its field ``None``; a file that exists and does not validate stops
with the file's name and what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pydantic import ValidationError

from spinefuse.anatomy.geometry import SpineGeometry
from spinefuse.assess.assessment import Assessment
from spinefuse.case import Case, ImagingStudy
from spinefuse.errors import CaseError
from spinefuse.healing.course import HealingCourse
from spinefuse.mechanics.result import MechanicsResult
from spinefuse.outcomes.forecast import Forecast
from spinefuse.plan.surgical_plan import SurgicalPlan
from spinefuse.records import Record, describe_validation_error

R = TypeVar("R", bound=Record)


class RunFolderError(CaseError):
    """A run folder lacks a record an export needs, or holds one that does not validate."""


@dataclass(frozen=True)
class RunRecords:
    """Every typed record of one run folder; ``None`` where that stage wrote nothing."""

    run_dir: Path
    case: Case
    geometry: SpineGeometry | None
    assessment: Assessment | None
    plan: SurgicalPlan | None
    mechanics: MechanicsResult | None
    healing: HealingCourse | None
    forecast: Forecast | None

    @property
    def report_pdf(self) -> Path | None:
        """The surgeon's report (``report.pdf``) when the run wrote it."""
        path = self.run_dir / "report.pdf"
        return path if path.is_file() else None

    def volume_study(self) -> ImagingStudy | None:
        """The preoperative CT (else MR) study the geometry was measured on."""
        return self.case.study("CT") or self.case.study("MR")


def _load(path: Path, kind: type[R]) -> R | None:
    if not path.is_file():
        return None
    try:
        return kind.load(path)
    except ValidationError as err:
        raise RunFolderError(
            describe_validation_error(err, str(path), kind.__name__)
            + "\n  re-run the stage that wrote it (spinefuse run CASE --out RUN_DIR)"
        ) from None


def read_run(run_dir: str | Path) -> RunRecords:
    """The typed records of a folder written by ``spinefuse run``."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunFolderError(f"{run_dir}: no such run folder; write one with 'spinefuse run'")
    case = _load(run_dir / "case.json", Case)
    if case is None:
        raise RunFolderError(
            f"{run_dir}: no case.json; this is not a folder written by 'spinefuse run'"
        )
    return RunRecords(
        run_dir=run_dir,
        case=case,
        geometry=_load(run_dir / "anatomy.json", SpineGeometry),
        assessment=_load(run_dir / "assessment.json", Assessment),
        plan=_load(run_dir / "plan.json", SurgicalPlan),
        mechanics=_load(run_dir / "mechanics.json", MechanicsResult),
        healing=_load(run_dir / "healing.json", HealingCourse),
        forecast=_load(run_dir / "forecast.json", Forecast),
    )
