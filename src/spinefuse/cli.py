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


def _written(records: dict[str, Any], out: Path) -> str:
    """What a run wrote, in a line: the stage records, the reports, where to start reading."""
    reports = [p.name for p in (out / "report.html", out / "patient.html") if p.exists()]
    also = f" and {', '.join(reports)}" if reports else ""
    return (
        f"{', '.join(records) or 'no stage'} records{also} written to {out}; "
        f"open {out / 'index.html'}"
    )


def _emit(text: str) -> None:
    typer.echo(text)


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
    typer.echo(f"{case.id}: {_written(result.records, out)}")


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
    typer.echo(f"sample case written to {case_path}; {_written(result.records, out / 'results')}")


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
    from spinefuse.assess import assess_files, assessment_report

    if case_file is None and not xray_landmarks:
        raise typer.BadParameter("give a CASE file or at least one --xray-landmarks FILE")
    assessment = assess_files(case_file, list(xray_landmarks or []))
    if as_json:
        _emit(assessment.to_json())
    else:
        Console().print(assessment_report(assessment))


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
def mechanics(
    case_file: Annotated[Path | None, typer.Argument(help="case file (or --reference)")] = None,
    reference: Annotated[
        bool, typer.Option("--reference", help="use the built-in reference spine")
    ] = False,
    protocol: Annotated[
        str,
        typer.Option(
            "--protocol",
            help="pure-moment | follower | combined (follower load first, then the moments; "
            "rotations from the preloaded posture) | hybrid (operated spine moved as far as the "
            "intact one) | displacement (every spine moved --rotation-deg)",
        ),
    ] = "pure-moment",
    moment_nm: Annotated[float, typer.Option("--moment-nm", help="moment (N·m)")] = 7.5,
    moments_nm: Annotated[
        str | None,
        typer.Option(
            "--moments-nm",
            help="a load-rotation curve in one call, e.g. 1,2.5,5,7.5,10 (N·m; the largest is "
            "the protocol's moment)",
        ),
    ] = None,
    preload_n: Annotated[
        float, typer.Option("--preload-n", help="follower load (N), along the optimised path")
    ] = 0.0,
    rotation_deg: Annotated[
        float | None,
        typer.Option("--rotation-deg", help="displacement protocol: total rotation (deg)"),
    ] = None,
    construct: Annotated[
        list[str] | None,
        typer.Option(
            "--construct",
            help="repeatable: screws-rods:L4-L5[:bilateral|unilateral-left|unilateral-right]"
            "[:titanium|cocr|steel|peek][:5.5], cage:L4-L5[:alif|llif|tlif|plif][:peek|titanium]"
            "[:12], cage-plate:L4-L5:alif, interspinous:L4-L5, disc-replacement:L4-L5, "
            "ligaments:L4-L5:ssl,isl,lf,pll,all,cl, laminectomy:L4-L5, hemilaminectomy:L4-L5:left, "
            "facetectomy:L4-L5[:bilateral|left|right][:50], discectomy:L4-L5[:nucleus|total], "
            "fused:L4-L5[:0.4]",
        ),
    ] = None,
    rod_material: Annotated[
        str | None,
        typer.Option(
            "--rod-material", help="rods of screws-rods constructs: titanium | cocr | steel | peek"
        ),
    ] = None,
    rod_diameter_mm: Annotated[
        float | None, typer.Option("--rod-diameter-mm", help="rod diameter (mm), e.g. 5.5")
    ] = None,
    span: Annotated[
        str | None,
        typer.Option(
            "--span", help="the specimen, its lowest vertebra fixed: L1-S1 | L1-L5 | L3-S1 | L4-L5"
        ),
    ] = None,
    posture: Annotated[
        str | None,
        typer.Option(
            "--posture", help="add an in vivo load case: standing | sitting | prone | lifting"
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = True,
) -> None:
    """Simulate the lumbar spine under load, intact and with the given constructs: segment
    motions, neutral zones, disc pressures and facet forces per direction, and the implants'
    loads (rods, screws, cages) per direction."""
    from spinefuse.mechanics import mechanics_json
    from spinefuse.mechanics.loads import parse_moments

    if case_file is None and not reference:
        raise typer.BadParameter("give a CASE file or --reference")
    _emit(
        mechanics_json(
            case_file,
            reference=reference,
            protocol=protocol,
            moment_nm=moment_nm,
            preload_n=preload_n,
            constructs=list(construct or []),
            moments_nm=parse_moments(moments_nm) if moments_nm else None,
            span=span,
            posture=posture,
            rotation_deg=rotation_deg,
            rod_material=rod_material,
            rod_diameter_mm=rod_diameter_mm,
        )
    )


@app.command()
@friendly_errors
def heal(
    case_file: Annotated[Path, typer.Argument(help="case file")],
    plot: Annotated[
        Path | None, typer.Option("--plot", help="also draw the time courses into this PNG")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the HealingCourse")] = True,
) -> None:
    """Simulate 24 months of healing of the planned fusion (an ensemble of outcomes)."""
    import json

    from spinefuse.case import load_case
    from spinefuse.healing import HealingCourse
    from spinefuse.pipeline import run as run_pipeline
    from spinefuse.stages import STAGES

    upto = [
        s for s in STAGES if s.name in ("anatomy", "assessment", "plan", "mechanics", "healing")
    ]
    result = run_pipeline(load_case(case_file), progress=False, stages=upto)
    course = result.get("healing")
    if not isinstance(course, HealingCourse):
        reason = "no fusion is planned for this case (see 'spinefuse assess' and 'spinefuse plan')"
        _emit(json.dumps({"healing": None, "reason": reason}, indent=2))
        return
    _emit(course.to_json())
    if plot is not None:
        from spinefuse.healing.plot import plot_course

        err_console.print(f"wrote {plot_course(course, plot)}")


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


@app.command()
@friendly_errors
def report(
    run_dir: Annotated[Path, typer.Argument(help="a folder written by 'spinefuse run'")],
    pdf: Annotated[bool, typer.Option("--pdf/--no-pdf", help="also write the PDFs")] = True,
) -> None:
    """Write the surgeon's and the patient's reports (HTML and PDF) of a run folder."""
    from spinefuse.report import report_command

    _emit(report_command(run_dir, pdf))


@app.command()
@friendly_errors
def cohort(
    spec_file: Annotated[
        Path, typer.Argument(help="cohort spec (YAML, schema spinefuse/cohort@1)")
    ],
    out: Annotated[Path, typer.Option("--out", help="output folder (resumable)")] = Path(
        "cohort-out"
    ),
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="worker processes (default: all cores)")
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", help="Dask scheduler address, or 'local' for a local cluster"),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress display")] = False,
) -> None:
    """Run a virtual trial: every virtual patient through every arm, then the analysis."""
    from spinefuse.cohort.spec import load_cohort_spec
    from spinefuse.cohort.trial import run_trial

    spec = load_cohort_spec(spec_file)
    results = run_trial(spec, out, workers, scheduler, progress=not quiet)
    typer.echo(
        f"{spec.name}: {results['patient'].nunique()} patients x {len(spec.arms)} arms; "
        f"open {out / 'summary.html'}"
    )


@app.command()
@friendly_errors
def registry(
    csv_file: Annotated[Path, typer.Argument(help="a site's registry of past patients (CSV)")],
    refit: Annotated[
        bool, typer.Option("--refit", help="refit every coefficient instead of recalibrating")
    ] = False,
    plots: Annotated[
        Path | None, typer.Option("--plots", help="write calibration plots into this folder")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = True,
) -> None:
    """Recalibrate or refit the outcome models on a site's registry (AUC, calibration, Brier).

    Calibration plots go into --plots."""
    from spinefuse.outcomes import registry_json

    _emit(registry_json(csv_file, "refit" if refit else "recalibrate", plots))


def main() -> None:
    """Console entry point."""
    app(prog_name="spinefuse")


if __name__ == "__main__":  # pragma: no cover
    main()
