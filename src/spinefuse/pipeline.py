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
    writes_record: bool = True


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
        write_index(result, out_dir, stages)
    return result


def write_index(result: CaseResult, out_dir: Path, stages: list[Stage] | None = None) -> Path:
    """The run folder's front page: the reports first, then each stage's record in stage order
    with what it holds, then any other files (implant meshes and the like)."""
    stages = _stages() if stages is None else stages

    def link(name: str, text: str) -> str:
        return f'<a href="{html.escape(name)}">{html.escape(text)}</a>'

    reports = [
        (name, text)
        for name, text in (
            ("report.html", "surgeon's report"),
            ("report.pdf", "surgeon's report (PDF)"),
            ("patient.html", "patient's report"),
            ("patient.pdf", "patient's report (PDF)"),
        )
        if (out_dir / name).exists()
    ]
    rows = [f"<tr><td>{link('case.json', 'case.json')}</td><td>the case as read</td></tr>"]
    for stage in stages:
        name = f"{stage.name}.json"
        if (out_dir / name).exists():
            rows.append(
                f"<tr><td>{link(name, name)}</td><td>{html.escape(stage.describe)}</td></tr>"
            )
    listed = {"index.html", "case.json", *(n for n, _ in reports)}
    listed |= {f"{st.name}.json" for st in stages}
    others = sorted(
        str(p.relative_to(out_dir))
        for p in out_dir.rglob("*")
        if p.is_file() and p.name not in listed and not p.name.startswith(".")
    )
    idle = [st.describe for st in stages if st.writes_record and st.name not in result.records]
    idle_text = html.escape(", ".join(idle) or "none")
    page = f"""<!doctype html><html><head><meta charset="utf-8">
<title>spinefuse: {html.escape(result.case.id)}</title>
<style>body{{font-family:sans-serif;max-width:860px;margin:2em auto;color:#222}}
td{{padding:3px 12px 3px 0}} h1{{color:#1d4e79}} .note{{color:#666}}</style></head><body>
<h1>spinefuse run: {html.escape(result.case.id)}</h1>
<h2>Reports</h2><ul>{"".join(f"<li>{link(n, t)}</li>" for n, t in reports) or "<li>none</li>"}</ul>
<h2>Stage records (JSON)</h2><table>{"".join(rows)}</table>
<p class="note">Stages with nothing to do for this case: {idle_text}.</p>
<h2>Other files</h2><ul>{"".join(f"<li>{link(o, o)}</li>" for o in others) or "<li>none</li>"}</ul>
</body></html>"""
    return write_atomic(out_dir / "index.html", page)
