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


def main() -> None:
    """Console entry point."""
    app(prog_name="spinefuse")


if __name__ == "__main__":  # pragma: no cover
    main()
