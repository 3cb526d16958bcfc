"""The ``spinefuse`` command: ``demo``, ``run`` and one sub-command per stage."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console

from spinefuse.errors import SpinefuseError

if TYPE_CHECKING:
    from spinefuse.pipeline import CaseResult, StageName
    from spinefuse.records import Record

app = typer.Typer(
    name="spinefuse",
    help="Plan and simulate lumbar spinal fusion, from imaging to a healed fusion.",
    no_args_is_help=True,
    add_completion=False,
)
err_console = Console(stderr=True, soft_wrap=True)
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


def _written(result: CaseResult, out: Path) -> str:
    """What a run wrote, in a line: the stage records, the reports, where to start reading."""
    from spinefuse.stages import STAGES

    records = [s.name for s in STAGES if s.record is not None and s.name in result.ran]
    reports = [p.name for p in result.reports if p.suffix == ".html"]
    also = f" and {', '.join(reports)}" if reports else ""
    return (
        f"{', '.join(records) or 'no stage'} records{also} written to {out}; "
        f"open {out / 'index.html'}"
    )


def _emit(text: str) -> None:
    typer.echo(text)


def _run_until(
    case_file: Path, until: StageName, given: Mapping[StageName, Any] | None = None
) -> CaseResult:
    """The pipeline for a case file up to ``until`` (nothing written), for one-stage commands;
    ``given`` records replace their stages."""
    from spinefuse.case import load_case
    from spinefuse.pipeline import run as run_pipeline

    return run_pipeline(load_case(case_file), until, progress=False, given=given)


def _stage_record(result: CaseResult, stage: StageName) -> Any:
    """The record ``stage`` made, or exit 3 saying why the stage had nothing to do."""
    record = result.record(stage)
    if record is None:
        skip = result.skipped.get(stage)
        why = skip.text if skip is not None else "an earlier stage did not run"
        err_console.print(f"[bold]{stage}:[/] nothing to do for case {result.case.id}: {why}")
        raise typer.Exit(3)
    return record


@app.command()
@friendly_errors
def run(
    case_file: Annotated[Path, typer.Argument(help="case file (YAML, schema spinefuse/case@1)")],
    out: Annotated[Path, typer.Option("--out", help="output folder")] = Path("spinefuse-out"),
    seed: Annotated[int, typer.Option("--seed", help="random seed of the run")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress display")] = False,
) -> None:
    """Run every pipeline stage for a case and write each stage's JSON into OUT."""
    from spinefuse.case import load_case
    from spinefuse.pipeline import run as run_pipeline

    case = load_case(case_file)
    result = run_pipeline(case, seed=seed, out_dir=out, progress=not quiet, inputs=[case_file])
    typer.echo(f"{case.id}: {_written(result, out)}")


@app.command()
@friendly_errors
def demo(
    out: Annotated[Path, typer.Option("--out", help="output folder")] = Path("demo"),
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress display")] = False,
) -> None:
    """Write the built-in sample patient (case, CT, X-ray landmarks) into OUT and run it."""
    from spinefuse.case import load_case
    from spinefuse.pipeline import run as run_pipeline
    from spinefuse.sample import write_sample_case

    case_path = write_sample_case(out / "case")
    case = load_case(case_path)
    results = out / "results"
    result = run_pipeline(case, out_dir=results, progress=not quiet, inputs=[case_path])
    typer.echo(f"sample case written to {case_path}; {_written(result, results)}")


@app.command()
@friendly_errors
def anatomy(
    case_file: Annotated[Path, typer.Argument(help="case file with a CT/MR study")],
    as_json: Annotated[bool, typer.Option("--json", help="print the SpineGeometry as JSON")] = True,
) -> None:
    """Read the case's CT/MR and label map and print the labelled vertebrae and landmarks."""
    _emit(_stage_record(_run_until(case_file, "anatomy"), "anatomy").to_json())


@app.command()
@friendly_errors
def assess(
    case_file: Annotated[
        Path | None, typer.Argument(help="case file (optional with --xray-landmarks)")
    ] = None,
    xray_landmarks: Annotated[
        list[Path] | None,
        typer.Option(
            "--xray-landmarks",
            help="an X-ray landmark CSV (repeatable): alone, films with no patient; with a "
            "CASE, added to its studies",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the Assessment as JSON")] = False,
) -> None:
    """Measure the spine, name the findings and say whether and where fusion is indicated."""
    from spinefuse.assess import assess_landmarks, assessment_report

    if case_file is None:
        if not xray_landmarks:
            raise typer.BadParameter("give a CASE file or at least one --xray-landmarks FILE")
        assessment = assess_landmarks(list(xray_landmarks))
    else:
        result = _run_until_with_films(case_file, list(xray_landmarks or []))
        assessment = _stage_record(result, "assessment")
    if as_json:
        _emit(assessment.to_json())
    else:
        Console().print(assessment_report(assessment))


def _run_until_with_films(case_file: Path, films: list[Path]) -> CaseResult:
    """The pipeline to the assessment, with extra landmark files added as X-ray studies (each
    with the role its header names)."""
    from spinefuse.case import ImagingStudy, load_case
    from spinefuse.imaging.xray_landmarks import read_xray_landmarks
    from spinefuse.pipeline import run as run_pipeline

    case = load_case(case_file)
    extra = [
        ImagingStudy(modality="XR", role=read_xray_landmarks(f).role, landmarks=f.resolve())
        for f in films
    ]
    case = case.model_copy(update={"imaging": [*case.imaging, *extra]})
    return run_pipeline(case, "assessment", progress=False)


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
    from spinefuse.plan import write_implant_meshes

    planned = _stage_record(_run_until(case_file, "plan"), "plan")
    _emit(planned.to_json())
    if stl is not None:
        for path in write_implant_meshes(planned, stl):
            err_console.print(f"wrote {path}")


@app.command()
@friendly_errors
def mechanics(
    case_file: Annotated[Path | None, typer.Argument(help="case file (or --reference)")] = None,
    reference: Annotated[
        bool, typer.Option("--reference", help="use the built-in reference spine")
    ] = False,
    protocol: Annotated[
        str | None,
        typer.Option(
            "--protocol",
            help="pure-moment | follower | combined (follower load first, then the moments; "
            "rotations from the preloaded posture) | hybrid (operated spine moved as far as the "
            "intact one) | displacement (every spine moved --rotation-deg). Default: the "
            "pipeline's (hybrid with a plan, else pure-moment; pure-moment for --reference)",
        ),
    ] = None,
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
            help="repeatable (with a CASE, on top of its plan): screws-rods:L4-L5[:bilateral|"
            "unilateral-left|unilateral-right][:titanium|cocr|steel|peek][:5.5], "
            "cage:L4-L5[:alif|llif|tlif|plif][:peek|titanium][:12], cage-plate:L4-L5:alif, "
            "interspinous:L4-L5, disc-replacement:L4-L5, ligaments:L4-L5:ssl,isl,lf,pll,all,cl, "
            "laminectomy:L4-L5, hemilaminectomy:L4-L5:left, facetectomy:L4-L5[:bilateral|left|"
            "right][:50], discectomy:L4-L5[:nucleus|total], fused:L4-L5[:0.4]",
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
    intact: Annotated[
        bool, typer.Option("--intact", help="with a CASE: ignore its plan (the intact spine)")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = True,
) -> None:
    """Simulate the lumbar spine under load: a case's spine with its planned construct (as the
    pipeline does), or the reference spine, with further constructs and loads. Prints segment
    motions, neutral zones, disc pressures and facet forces per direction, and the implants'
    loads (rods, screws, cages) per direction."""
    from spinefuse.mechanics import simulate
    from spinefuse.mechanics.loads import parse_moments

    if (case_file is None) == (not reference):
        raise typer.BadParameter("give either a CASE file or --reference")
    options: dict[str, Any] = {
        "moment_nm": moment_nm,
        "preload_n": preload_n,
        "constructs": tuple(construct or []),
        "moments_nm": parse_moments(moments_nm) if moments_nm else None,
        "span": span,
        "posture": posture,
        "rotation_deg": rotation_deg,
        "rod_material": rod_material,
        "rod_diameter_mm": rod_diameter_mm,
    }
    if case_file is None:
        from spinefuse.mechanics.reference import reference_geometry

        result = simulate(reference_geometry(), None, protocol=protocol or "pure-moment", **options)
        _emit(result.to_json())
        return
    defaults = {"moment_nm": 7.5, "preload_n": 0.0, "constructs": ()}
    changed = protocol is not None or intact
    changed = changed or any(options[k] != defaults.get(k) for k in options)
    done = _run_until(case_file, "mechanics")
    if not changed:
        _emit(_stage_record(done, "mechanics").to_json())
        return
    geometry = _stage_record(done, "anatomy")
    planned = None if intact else done.plan
    protocol = protocol or ("pure-moment" if planned is None else "hybrid")
    _emit(simulate(geometry, planned, protocol=protocol, **options).to_json())


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
    course = _stage_record(_run_until(case_file, "healing"), "healing")
    _emit(course.to_json())
    if plot is not None:
        from spinefuse.healing.plot import plot_course

        err_console.print(f"wrote {plot_course(course, plot)}")


@app.command()
@friendly_errors
def forecast(
    case_file: Annotated[Path, typer.Argument(help="case file")],
    plan_file: Annotated[
        Path | None,
        typer.Option(
            "--plan",
            help="a plan.json (say, one the surgeon edited) to forecast instead of the planner's",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the Forecast as JSON")] = True,
) -> None:
    """Forecast the hospital course, complications, recovery pathway and PROs."""
    given: dict[StageName, Any] = {}
    if plan_file is not None:
        from spinefuse.plan.surgical_plan import SurgicalPlan

        given["plan"] = _read_record_file(plan_file, SurgicalPlan, "surgical plan")
    _emit(_stage_record(_run_until(case_file, "forecast", given), "forecast").to_json())


def _read_record_file(path: Path, kind: type[Record], what: str) -> Any:
    from pydantic import ValidationError

    from spinefuse.errors import CaseError
    from spinefuse.records import describe_validation_error

    if not path.is_file():
        raise CaseError(f"{path}: no such {what} file")
    try:
        return kind.model_validate_json(path.read_bytes())
    except ValidationError as err:
        raise CaseError(describe_validation_error(err, str(path), what)) from None


@app.command()
@friendly_errors
def report(
    run_dir: Annotated[Path, typer.Argument(help="a folder written by 'spinefuse run'")],
    pdf: Annotated[bool, typer.Option("--pdf/--no-pdf", help="also write the PDFs")] = True,
) -> None:
    """Write the surgeon's and the patient's reports (HTML and PDF) of a run folder again."""
    from spinefuse.report import write_reports
    from spinefuse.run_folder import load_run

    written = write_reports(load_run(run_dir), run_dir, pdf=pdf)
    _emit(f"reports written to {run_dir}: " + ", ".join(p.name for p in written))


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
    from spinefuse.outcomes import fit_registry, read_registry

    frame = read_registry(csv_file)
    result = fit_registry(
        frame, mode="refit" if refit else "recalibrate", plot_dir=plots, source=str(csv_file)
    )
    _emit(result.to_json())


# --- hospital integration: PACS and exports (spinefuse.interop) ---------------------------------
pacs_app = typer.Typer(
    help="Query, retrieve and store at a PACS (DIMSE or DICOMweb).", no_args_is_help=True
)
export_app = typer.Typer(
    help="Export a run folder for the hospital: DICOM SEG/SR/PDF, FHIR R4.", no_args_is_help=True
)
app.add_typer(pacs_app, name="pacs")
app.add_typer(export_app, name="export")

PacsUrl = Annotated[str | None, typer.Option("--url", help="DICOMweb base URL (QIDO/WADO/STOW)")]
PacsHost = Annotated[str | None, typer.Option("--host", help="DIMSE: the PACS's host")]
PacsPort = Annotated[int, typer.Option("--port", help="DIMSE: the PACS's port")]
PacsAet = Annotated[str, typer.Option("--aet", help="DIMSE: the PACS's AE title")]
CallingAet = Annotated[str, typer.Option("--calling-aet", help="DIMSE: spinefuse's AE title")]
Timeout = Annotated[float, typer.Option("--timeout", help="network timeout (s)")]


@pacs_app.command("find")
@friendly_errors
def pacs_find(
    url: PacsUrl = None,
    host: PacsHost = None,
    port: PacsPort = 104,
    aet: PacsAet = "ANY-SCP",
    calling_aet: CallingAet = "SPINEFUSE",
    timeout: Timeout = 30.0,
    patient: Annotated[str | None, typer.Option("--patient", help="Patient ID")] = None,
    study: Annotated[str | None, typer.Option("--study", help="Study Instance UID")] = None,
    series: Annotated[str | None, typer.Option("--series", help="Series Instance UID")] = None,
    modality: Annotated[str | None, typer.Option("--modality", help="CT or MR")] = None,
) -> None:
    """List the series of a patient, study or series, one line each (modality, plane, thickness)."""
    from spinefuse.interop.pacs import connect, find

    pacs = connect(url, host, port, aet, calling_aet, timeout_s=timeout)
    for s in find(pacs, patient, study, series, modality):
        typer.echo(f"{s.study_uid}  {s.describe()}")


@pacs_app.command("pull")
@friendly_errors
def pacs_pull(
    out: Annotated[Path, typer.Option("--out", help="folder for the pulled series")],
    url: PacsUrl = None,
    host: PacsHost = None,
    port: PacsPort = 104,
    aet: PacsAet = "ANY-SCP",
    calling_aet: CallingAet = "SPINEFUSE",
    timeout: Timeout = 30.0,
    patient: Annotated[str | None, typer.Option("--patient", help="Patient ID")] = None,
    study: Annotated[str | None, typer.Option("--study", help="Study Instance UID")] = None,
    series: Annotated[str | None, typer.Option("--series", help="this series only")] = None,
    modality: Annotated[str, typer.Option("--modality", help="CT or MR")] = "CT",
    retrieve: Annotated[str, typer.Option("--retrieve", help="DIMSE: get or move")] = "get",
    move_port: Annotated[
        int | None, typer.Option("--move-port", help="C-MOVE: port of spinefuse's Storage SCP")
    ] = None,
) -> None:
    """Retrieve the series a case needs (thinnest axial CT; sagittal and axial T2 MR),
    de-identified, into OUT/<role>/; writes OUT/pull.json and the key OUT/reidentify.json."""
    from spinefuse.interop.pacs import connect, pull

    pacs = connect(url, host, port, aet, calling_aet, retrieve, move_port, timeout)
    result = pull(pacs, out, patient, study, series, modality)
    for s in result.series:
        typer.echo(f"{s.role}: {s.instances} instances in {s.folder} ({s.reason})")
    typer.echo(f"re-identification key (keep it with the PACS data): {result.key_file}")


@pacs_app.command("push")
@friendly_errors
def pacs_push(
    files: Annotated[list[Path], typer.Argument(help="DICOM files (from 'export dicom')")],
    url: PacsUrl = None,
    host: PacsHost = None,
    port: PacsPort = 104,
    aet: PacsAet = "ANY-SCP",
    calling_aet: CallingAet = "SPINEFUSE",
    timeout: Timeout = 30.0,
    reidentify: Annotated[
        Path | None, typer.Option("--reidentify", help="the key 'pacs pull' wrote")
    ] = None,
) -> None:
    """Send SEG, SR and PDF objects to the PACS (C-STORE or STOW-RS)."""
    from spinefuse.interop.pacs import connect, push

    pacs = connect(url, host, port, aet, calling_aet, timeout_s=timeout)
    typer.echo(f"{push(pacs, files, reidentify)} objects stored at {pacs.describe()}")


@export_app.command("dicom")
@friendly_errors
def export_dicom(
    run_dir: Annotated[Path, typer.Argument(help="a folder written by 'spinefuse run'")],
    out: Annotated[Path | None, typer.Option("--out", help="default RUN_DIR/dicom")] = None,
    source_dicom: Annotated[
        Path | None, typer.Option("--source-dicom", help="the series the case was measured on")
    ] = None,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="seg, sr or pdf (repeatable)")
    ] = None,
) -> None:
    """Write the vertebrae (DICOM SEG), measurements (TID 1500 SR) and report (PDF) as DICOM."""
    from spinefuse.interop.dicom_export import OBJECTS
    from spinefuse.interop.dicom_export import export_dicom as write

    for path in write(run_dir, out, source_dicom, tuple(only) if only else OBJECTS):
        typer.echo(f"wrote {path}")


@export_app.command("fhir")
@friendly_errors
def export_fhir(
    run_dir: Annotated[Path, typer.Argument(help="a folder written by 'spinefuse run'")],
    out: Annotated[
        Path | None, typer.Option("--out", help="default RUN_DIR/fhir_bundle.json")
    ] = None,
    post: Annotated[
        str | None, typer.Option("--post", help="also POST it to this FHIR server base URL")
    ] = None,
) -> None:
    """Write the case as a FHIR R4 transaction Bundle (and POST it with --post)."""
    from spinefuse.interop.fhir import export_fhir as write

    typer.echo(f"wrote {write(run_dir, out, post)}" + (f" and posted it to {post}" if post else ""))


# --- the planning workstation (spinefuse.service) -----------------------------------------------
users_app = typer.Typer(
    help="Workstation accounts (surgeon, researcher, admin).", no_args_is_help=True
)
app.add_typer(users_app, name="users")


@app.command()
@friendly_errors
def serve(
    host: Annotated[str, typer.Option("--host", help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            help="sqlite:///path/store.db (default ~/.spinefuse/store.db) or "
            "postgresql+psycopg://user:password@host/db",
        ),
    ] = None,
    files: Annotated[
        Path | None, typer.Option("--files", help="folder of the store's files (images, runs)")
    ] = None,
    sample: Annotated[
        bool, typer.Option("--sample", help="start on the sample patient (and a first account)")
    ] = False,
    resume_jobs: Annotated[
        bool, typer.Option("--resume-jobs", help="run again the jobs a stopped server cut short")
    ] = False,
) -> None:
    """Start the planning workstation (web service and browser UI)."""
    from spinefuse.service import extra_missing

    extra_missing()
    from spinefuse.service.serve import serve as run_server

    run_server(host, port, store, files, sample=sample, resume_jobs=resume_jobs)


@users_app.command("add")
@friendly_errors
def users_add(
    username: Annotated[str, typer.Argument(help="the user's name")],
    role: Annotated[str, typer.Option("--role", help="surgeon, researcher or admin")] = "admin",
    team: Annotated[str, typer.Option("--team", help="the user's team")] = "default",
    store: Annotated[str | None, typer.Option("--store", help="the store's URL")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from standard input")
    ] = False,
) -> None:
    """Create a workstation user (the first admin, for one)."""
    import sys

    from spinefuse.service import extra_missing

    extra_missing()
    from spinefuse.service.serve import create_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    user_id = create_user(store, username, password, role, team)
    typer.echo(f"user {username} ({role}, team {team}) created with id {user_id}")


def main() -> None:
    """Console entry point."""
    # before numpy loads: spinefuse multiplies many small matrices, where OpenBLAS threads only
    # add overhead (the pipeline also limits them itself, for library callers)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    app(prog_name="spinefuse")


if __name__ == "__main__":  # pragma: no cover
    main()
