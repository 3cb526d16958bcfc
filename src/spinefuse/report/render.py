"""Render the reports: Jinja2 templates to self-contained HTML, WeasyPrint to PDF.

The HTML has its stylesheet inline and every picture as a ``data:`` URI, so it opens offline
from a single file; the PDF is the same HTML laid out on A4 pages.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2

from spinefuse.errors import MissingDependencyError
from spinefuse.records import write_atomic
from spinefuse.report.patient import patient_context
from spinefuse.report.surgeon import surgeon_context
from spinefuse.run_folder import spinefuse_version

if TYPE_CHECKING:
    from spinefuse.pipeline import CaseResult

REPORTS = (("report", "surgeon.html.j2"), ("patient", "patient.html.j2"))
"""(output stem, template) of each report."""


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("spinefuse.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _stylesheet() -> str:
    return resources.files("spinefuse.report").joinpath("templates/report.css").read_text()


def made_at() -> str:
    """When the report is made (UTC, to the minute); ``SOURCE_DATE_EPOCH`` (seconds) fixes it,
    as reproducible builds do, so a rerun can be compared byte for byte."""
    fixed = os.environ.get("SOURCE_DATE_EPOCH")
    when = _dt.datetime.fromtimestamp(int(fixed), _dt.UTC) if fixed else _dt.datetime.now(_dt.UTC)
    return when.strftime("%Y-%m-%d %H:%M UTC")


def render_html(template: str, context: dict[str, Any]) -> str:
    """One report as a self-contained HTML page."""
    page = _environment().get_template(template)
    html: str = page.render(
        **context, css=_stylesheet(), version=spinefuse_version(), made=made_at()
    )
    return html


def html_to_pdf(html: str) -> bytes:
    """Lay a self-contained HTML page out as an A4 PDF (WeasyPrint)."""
    try:
        import weasyprint
    except ImportError as err:  # also raised when its system libraries (Pango) are absent
        raise MissingDependencyError(
            f"PDF reports need WeasyPrint and Pango ({err}); install spinefuse with its "
            "dependencies (pip install weasyprint) and the Pango library (apt install "
            "libpango-1.0-0 libpangoft2-1.0-0)"
        ) from None
    pdf: bytes = weasyprint.HTML(string=html).write_pdf()
    return pdf


def _write_report(
    result: CaseResult, out_dir: Path, stem: str, template: str, pdf: bool
) -> list[Path]:
    context = {"report": surgeon_context, "patient": patient_context}[stem](result)
    html = render_html(template, context)
    written = [write_atomic(out_dir / f"{stem}.html", html)]
    if pdf:
        written.append(write_atomic(out_dir / f"{stem}.pdf", html_to_pdf(html)))
    return written


def _second_process() -> ProcessPoolExecutor | None:
    """A forked process for the patient's report, where the platform forks (Linux)."""
    if "fork" not in mp.get_all_start_methods():
        return None
    return ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("fork"))


def render_reports(result: CaseResult, out_dir: Path, pdf: bool = True) -> list[Path]:
    """Write report.html, patient.html (and their PDFs) of a run into ``out_dir``.

    The patient's report is made in a second process while this one makes the surgeon's, so
    on two cores both take the time of the longer one; the HTML and the PDF of each come from
    one rendering of its pictures."""
    surgeon_stem, patient_stem = REPORTS
    pool = _second_process()
    if pool is None:
        return [
            *_write_report(result, out_dir, *surgeon_stem, pdf),
            *_write_report(result, out_dir, *patient_stem, pdf),
        ]
    with pool:
        # the images stay here: the patient's report has no CT picture
        light = dataclasses.replace(result, images=None)
        patient = pool.submit(_write_report, light, out_dir, *patient_stem, pdf)
        surgeon = _write_report(result, out_dir, *surgeon_stem, pdf)
        return [*surgeon, *patient.result()]


def write_reports(result: CaseResult, out_dir: Path, pdf: bool = True) -> list[Path]:
    """The surgeon's and the patient's reports of ``result`` (HTML, and PDF unless ``pdf`` is
    false), written into ``out_dir``; returns the paths written."""
    return render_reports(result, Path(out_dir), pdf=pdf)
