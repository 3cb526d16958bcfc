"""The ``spinefuse`` command: ``demo``, ``run`` and one sub-command per stage."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from spinefuse.errors import SpinefuseError

app = typer.Typer(
    name="spinefuse",
    help="Plan and simulate lumbar spinal fusion, from imaging to a healed fusion.",
    no_args_is_help=True,
    add_completion=False,
)
err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(fn: F) -> F:
    """Print a SpinefuseError in a line or two, without a traceback, and exit 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except SpinefuseError as err:
            err_console.print(f"[bold red]error:[/] {err}", highlight=False)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


@app.command()
@friendly_errors
def run(
    case_file: Annotated[Path, typer.Argument(help="case file (YAML, schema spinefuse/case@1)")],
    out: Annotated[Path, typer.Option("--out", help="output folder")] = Path("spinefuse-out"),
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress display")] = False,
) -> None:
    """Run every pipeline stage for a case and write each stage's JSON into OUT."""
    from spinefuse.case import load_case
    from spinefuse.pipeline import run as run_pipeline

    case = load_case(case_file)
    result = run_pipeline(case, out_dir=out, progress=not quiet)
    typer.echo(f"{case.id}: {len(result.records)} stage(s) written to {out}")


@app.command()
@friendly_errors
def demo(
    out: Annotated[Path, typer.Option("--out", help="output folder")] = Path("demo"),
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress display")] = False,
) -> None:
    """Write the built-in sample patient (case, CT, X-ray landmarks) into OUT and run it."""
    from spinefuse.pipeline import run as run_pipeline
    from spinefuse.sample import write_sample_case

    case_path = write_sample_case(out / "case")
    from spinefuse.case import load_case

    case = load_case(case_path)
    result = run_pipeline(case, out_dir=out / "results", progress=not quiet)
    typer.echo(
        f"sample case written to {case_path}; {len(result.records)} stage(s) in "
        f"{out / 'results'} (open {out / 'results' / 'index.html'})"
    )


def _emit(text: str) -> None:
    typer.echo(text)


@app.command()
@friendly_errors
def anatomy(
    case_file: Annotated[Path, typer.Argument(help="case file with a CT/MR study")],
    as_json: Annotated[bool, typer.Option("--json", help="print the SpineGeometry as JSON")] = True,
) -> None:
    """Read the case's CT/MR and label map and print the labelled vertebrae and landmarks."""
    from spinefuse.anatomy.from_labels import anatomy_json

    _emit(anatomy_json(case_file))


@app.command()
@friendly_errors
def assess(
    case_file: Annotated[
        Path | None, typer.Argument(help="case file (optional with --xray-landmarks)")
    ] = None,
    xray_landmarks: Annotated[
        list[Path] | None,
        typer.Option("--xray-landmarks", help="an X-ray landmark CSV (repeatable)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the Assessment as JSON")] = False,
) -> None:
    """Measure the spine, name the findings and say whether and where fusion is indicated."""
    from spinefuse.assess import Assessment, assess_json, assessment_table

    if case_file is None and not xray_landmarks:
        raise typer.BadParameter("give a CASE file or at least one --xray-landmarks FILE")
    text = assess_json(case_file, list(xray_landmarks or []))
    if as_json:
        _emit(text)
    else:
        Console().print(assessment_table(Assessment.from_json(text)))


@app.command()
@friendly_errors
def plan(
    case_file: Annotated[Path, typer.Argument(help="case file")],
    as_json: Annotated[bool, typer.Option("--json", help="print the SurgicalPlan as JSON")] = True,
    stl: Annotated[
        Path | None, typer.Option("--stl", help="also write the implants as STL into this folder")
    ] = None,
) -> None:
    """Plan the fusion: technique, decompression, screws, rods, cage and graft."""
    from spinefuse.plan import SurgicalPlan, plan_json, write_implant_meshes

    text = plan_json(case_file)
    _emit(text)
    if stl is not None and '"plan": null' not in text:
        for path in write_implant_meshes(SurgicalPlan.from_json(text), stl):
            err_console.print(f"wrote {path}")


@app.command()
@friendly_errors
def forecast(
    case_file: Annotated[Path, typer.Argument(help="case file")],
    plan_file: Annotated[
        Path | None, typer.Option("--plan", help="a plan.json written by the planning stage")
    ] = None,
    nonunion: Annotated[
        float | None, typer.Option("--nonunion-probability", min=0.0, max=1.0)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the Forecast as JSON")] = True,
) -> None:
    """Forecast the hospital course, complications, recovery pathway and PROs."""
    from spinefuse.outcomes import forecast_json

    _emit(forecast_json(case_file, plan_file, nonunion))


def main() -> None:
    """Console entry point."""
    app(prog_name="spinefuse")


if __name__ == "__main__":  # pragma: no cover
    main()
