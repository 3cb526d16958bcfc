"""The pipeline: run the stages of :mod:`spinefuse.stages` in order for one case.

``run(case, until=None, seed=0)`` returns a :class:`CaseResult` holding every record as a typed
field. With ``out_dir`` each record is written as ``<stage>.json`` as soon as it exists, with
``case.json``, the run's ``manifest.json`` and ``index.html``. Every command, the report, the
service and a cohort go through here, so one case and seed give one answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from threadpoolctl import threadpool_limits

from spinefuse.case import Case
from spinefuse.errors import ParameterError

if TYPE_CHECKING:
    from spinefuse.anatomy.geometry import SpineGeometry
    from spinefuse.assess.assessment import Assessment
    from spinefuse.healing.course import HealingCourse
    from spinefuse.imaging.images import Images
    from spinefuse.mechanics.result import MechanicsResult
    from spinefuse.outcomes.forecast import Forecast
    from spinefuse.plan.surgical_plan import SurgicalPlan
    from spinefuse.stages import Stage

StageName = Literal[
    "imaging", "anatomy", "assessment", "plan", "mechanics", "healing", "forecast", "report"
]
STAGE_NAMES: tuple[StageName, ...] = get_args(StageName)


@dataclass(frozen=True)
class Skip:
    """Why a stage had nothing to do for this case: a code other stages and the reports read,
    and the sentence a person reads."""

    code: str
    text: str


@dataclass
class CaseResult:
    """Every record the pipeline produced for one case and seed, one typed field per stage."""

    case: Case
    seed: int = 0
    images: Images | None = None
    geometry: SpineGeometry | None = None
    assessment: Assessment | None = None
    plan: SurgicalPlan | None = None
    mechanics: MechanicsResult | None = None
    healing: HealingCourse | None = None
    forecast: Forecast | None = None
    reports: list[Path] = field(default_factory=list)
    skipped: dict[StageName, Skip] = field(default_factory=dict)
    ran: list[StageName] = field(default_factory=list)
    out_dir: Path | None = None
    finished: bool = True
    seconds: dict[StageName, float] = field(default_factory=dict)

    def record(self, stage: StageName) -> Any:
        """The record a stage produced (None when it had nothing to do or did not run)."""
        from spinefuse.stages import stage as stage_of

        return getattr(self, stage_of(stage).field)


def _selected(until: StageName | None) -> list[Stage]:
    from spinefuse.stages import STAGES

    if until is None:
        return list(STAGES)
    names = [s.name for s in STAGES]
    if until not in names:
        raise ParameterError(f"until = {until!r}: not a stage; use one of {', '.join(names)}")
    return list(STAGES[: names.index(until) + 1])


def run(
    case: Case,
    until: StageName | None = None,
    *,
    seed: int = 0,
    out_dir: Path | None = None,
    progress: bool = True,
    given: Mapping[StageName, Any] | None = None,
    inputs: Sequence[Path] = (),
) -> CaseResult:
    """Run the stages in order up to and including ``until`` (all by default).

    ``given`` supplies the record of a stage instead of running it (a plan the surgeon edited,
    labels they confirmed); the stages after it run on it. With ``out_dir`` every record, the
    case, the manifest and the index page are written there (atomically, one by one);
    ``inputs`` are files the run read besides the case's images (the case file), which it
    never writes over and whose checksums the manifest keeps."""
    from spinefuse.run_folder import RunFolder
    from spinefuse.stages import check_case
    from spinefuse.stages import stage as stage_of

    stages = _selected(until)
    check_case(case)
    result = CaseResult(case=case, seed=seed, out_dir=out_dir)
    folder = None
    if out_dir is not None:
        folder = RunFolder.start(out_dir, case, seed, [s.name for s in stages], inputs)
    for name, record in (given or {}).items():
        setattr(result, stage_of(name).field, record)
    # The hot paths multiply many small (n, 3) by (3, 3) matrices: OpenBLAS threads only add
    # overhead there (5-20x slower on a busy 2-core machine), so BLAS runs on one thread.
    with threadpool_limits(limits=1, user_api="blas"), _progress(progress, len(stages)) as advance:
        for st in stages:
            advance(st.describe)
            start = time.perf_counter()
            if given and st.name in given:
                outcome = getattr(result, st.field)
            else:
                outcome = st.run(result)
            result.seconds[st.name] = time.perf_counter() - start
            if isinstance(outcome, Skip):
                result.skipped[st.name] = outcome
            else:
                setattr(result, st.field, outcome)
                result.ran.append(st.name)
                if folder is not None and st.record is not None:
                    folder.write_record(st.name, outcome)
                elif folder is not None and isinstance(outcome, list):
                    folder.note_files(outcome)
            if folder is not None:
                folder.stage_done(st.name, result.skipped.get(st.name))
    if folder is not None:
        folder.finish(result)
    return result


@contextmanager
def _progress(enabled: bool, total: int) -> Iterator[Callable[[str], None]]:
    """A rich progress bar over the stages: the function it yields starts the next stage (by
    its description); nothing at all when disabled."""
    if not enabled:
        yield lambda _describe: None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]{task.description:<28}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    ) as bar:
        task = bar.add_task("spinefuse", total=total)
        started = [False]

        def advance(describe: str) -> None:
            if started[0]:
                bar.advance(task)
            started[0] = True
            bar.update(task, description=describe)

        yield advance
        bar.advance(task)
