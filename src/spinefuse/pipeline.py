"""The pipeline: run every stage in order for one case and keep every record.

``run(case)`` returns a :class:`CaseResult`; with ``out_dir`` each stage's record is written as
``<stage>.json`` as soon as it exists, plus ``index.html`` listing them.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from spinefuse.case import Case
from spinefuse.records import Record, write_atomic


@dataclass
class CaseResult:
    """Every record the pipeline produced for one case, by stage name, in stage order."""

    case: Case
    records: dict[str, Record] = field(default_factory=dict)
    out_dir: Path | None = None

    def __getitem__(self, stage: str) -> Record:
        return self.records[stage]

    def get(self, stage: str) -> Record | None:
        return self.records.get(stage)


StageFn = Callable[[CaseResult], Record | None]


@dataclass(frozen=True)
class Stage:
    """One pipeline stage: its name (the JSON file stem) and a function of the results so far.

    A stage returns None when its inputs are absent for this case (say, no CT to read)."""

    name: str
    describe: str
    fn: StageFn


def _stages() -> list[Stage]:
    # Imported here so that `import spinefuse` stays light and a stage imports only its own.
    from spinefuse.stages import STAGES

    return list(STAGES)


def run(
    case: Case,
    out_dir: Path | None = None,
    progress: bool = True,
    stages: list[Stage] | None = None,
) -> CaseResult:
    """Run the stages in order; write ``<stage>.json`` and ``index.html`` into ``out_dir``."""
    stages = _stages() if stages is None else stages
    result = CaseResult(case=case, out_dir=out_dir)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        case.save(out_dir / "case.json")
    with Progress(
        TextColumn("[bold]{task.description:<28}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        disable=not progress,
        transient=False,
    ) as bar:
        task = bar.add_task("spinefuse", total=len(stages))
        for stage in stages:
            bar.update(task, description=stage.describe)
            record = stage.fn(result)
            if record is not None:
                result.records[stage.name] = record
                if out_dir is not None:
                    record.save(out_dir / f"{stage.name}.json")
            bar.advance(task)
    if out_dir is not None:
        write_index(result, out_dir)
    return result


def write_index(result: CaseResult, out_dir: Path) -> Path:
    """A small HTML page linking every file the run wrote."""
    files = sorted(p.name for p in out_dir.iterdir() if p.is_file() and p.name != "index.html")
    items = "\n".join(f'<li><a href="{html.escape(f)}">{html.escape(f)}</a></li>' for f in files)
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>spinefuse: "
        f"{html.escape(result.case.id)}</title></head><body><h1>spinefuse run: "
        f"{html.escape(result.case.id)}</h1><p>Stages completed: "
        f"{html.escape(', '.join(result.records) or 'none')}</p><ul>{items}</ul></body></html>"
    )
    return write_atomic(out_dir / "index.html", page)
