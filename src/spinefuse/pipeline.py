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
    from spinefuse.forked import Forked
    from spinefuse.healing.course import HealingCourse
    from spinefuse.imaging.images import Images
    from spinefuse.mechanics.result import MechanicsResult
    from spinefuse.outcomes.forecast import Forecast
    from spinefuse.plan.surgical_plan import SurgicalPlan
    from spinefuse.run_folder import RunFolder
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
    prefetched: dict[str, Forked[Any]] = field(default_factory=dict, repr=False, compare=False)
    """Work a stage started for a later one in a forked process (the MR reading), by name."""

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
    from spinefuse.stages import calibrate_ahead, check_case
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
        try:
            calibrate_ahead(result, [s.name for s in stages], given or {})
            _run_stages(result, stages, folder, given or {}, advance)
        finally:
            for work in result.prefetched.values():
                work.cancel()
            result.prefetched.clear()
    if folder is not None:
        folder.finish(result)
    return result


def _run_stages(
    result: CaseResult,
    stages: list[Stage],
    folder: RunFolder | None,
    given: Mapping[StageName, Any],
    advance: Callable[[str], None],
) -> None:
    """Run ``stages`` in order into ``result``, writing each record to ``folder``.

    The gate's naming check of a label map (a whole segmentation of the CT) runs in a forked
    process beside the stages after imaging. Until it is in, those stages run on the gate
    without it and their records are held back. Once it is in (before the reports, at the end,
    or when a stage raises) the records are kept if the complete gate has the same findings,
    and the stages run again on the complete gate if it has more, so a run's records and errors
    are those of running the stages one after the other."""
    from spinefuse.stages import draw_ahead

    names = [s.name for s in stages]
    held: list[Stage] = []  # imaging, and the stages run on its gate without the naming check
    k = 0
    while True:
        if _pending(result) and (k == len(stages) or stages[k].name == "report"):
            k = _settle(result, held, folder, given, stages, k)
            held = []
        if k == len(stages):
            return
        st = stages[k]
        advance(st.describe)
        start = time.perf_counter()
        try:
            outcome = getattr(result, st.field) if st.name in given else st.run(result)
        except Exception:
            if not _pending(result):
                raise
            resume = _settle(result, held, folder, given, stages, k)
            held = []
            if resume == k:  # the stages before stand, so this stage fails as it did
                raise
            k = resume
            continue
        result.seconds[st.name] = time.perf_counter() - start
        if isinstance(outcome, Skip):
            result.skipped[st.name] = outcome
        else:
            setattr(result, st.field, outcome)
            result.ran.append(st.name)
        draw_ahead(result, st.name, names)
        if _pending(result):
            held.append(st)
        else:
            _write(folder, st, result)
        k += 1


def _pending(result: CaseResult) -> bool:
    """The gate's naming check is still running."""
    return result.images is not None and result.images.naming is not None


def _settle(
    result: CaseResult,
    held: list[Stage],
    folder: RunFolder | None,
    given: Mapping[StageName, Any],
    stages: list[Stage],
    k: int,
) -> int:
    """Wait for the naming check and complete the gate; keep (write) the held stages if the
    gate's findings are unchanged, else undo them. Returns the index of the next stage to run:
    ``k``, or the first stage after imaging again."""
    assert result.images is not None and held and held[0].name == "imaging"
    start = time.perf_counter()
    before = result.images
    result.images = before.settled()  # raises what the imaging stage would have raised
    result.seconds["imaging"] += time.perf_counter() - start
    assert before.gate is not None and result.images.gate is not None
    if result.images.gate.messages == before.gate.messages:
        for st in held:
            _write(folder, st, result)
        return k
    _write(folder, held[0], result)
    for st in held[1:]:
        if st.name not in given:
            setattr(result, st.field, None)
        result.skipped.pop(st.name, None)
        result.seconds.pop(st.name, None)
        if st.name in result.ran:
            result.ran.remove(st.name)
    return stages.index(held[0]) + 1


def _write(folder: RunFolder | None, st: Stage, result: CaseResult) -> None:
    """Write a finished stage's record (or note its files) and its status to the run folder."""
    if folder is None:
        return
    skip = result.skipped.get(st.name)
    if skip is None:
        outcome = getattr(result, st.field)
        if st.record is not None:
            folder.write_record(st.name, outcome)
        elif isinstance(outcome, list):
            folder.note_files(outcome)
    folder.stage_done(st.name, skip)


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
