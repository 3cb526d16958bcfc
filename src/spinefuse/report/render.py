"""Render the reports: Jinja2 templates to self-contained HTML, WeasyPrint to PDF.

The HTML has its stylesheet inline and every picture as a ``data:`` URI, so it opens offline
from a single file; the PDF is the same HTML laid out on A4 pages.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import os
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2

from spinefuse.errors import MissingDependencyError
from spinefuse.forked import Forked
from spinefuse.records import write_atomic
from spinefuse.report.patient import patient_context
from spinefuse.report.surgeon import surgeon_context, surgeon_imaging
from spinefuse.run_folder import spinefuse_version

if TYPE_CHECKING:
    from spinefuse.pipeline import CaseResult

REPORTS = (("report", "surgeon.html.j2"), ("patient", "patient.html.j2"))
"""(output stem, template) of each report."""


@functools.cache
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


def _report_files(
    result: CaseResult,
    stem: str,
    template: str,
    pdf: bool,
    imaging: Callable[[], Any] | None = None,
) -> Iterator[tuple[str, str | bytes]]:
    """One report's files (name, content) as they are made: its HTML, then the PDF laid out
    from that HTML."""
    if stem == "report":
        context = surgeon_context(result, imaging)
    else:
        context = patient_context(result)
    html = render_html(template, context)
    yield f"{stem}.html", html
    if pdf:
        yield f"{stem}.pdf", html_to_pdf(html)


def _made(result: CaseResult, stem: str, template: str, pdf: bool) -> list[tuple[str, str | bytes]]:
    return list(_report_files(result, stem, template, pdf))


def render_reports(result: CaseResult, out_dir: Path, pdf: bool = True) -> list[Path]:
    """Write report.html, patient.html (and their PDFs) of a run into ``out_dir``.

    Where the platform forks, the patient's report and the surgeon's imaging pictures (CT
    reformats, X-ray overlays) are made in two forked processes while this one makes the rest
    of the surgeon's report, so on two cores the reports take about the time of the surgeon's
    other pictures and its PDF; the HTML and the PDF of each come from one rendering of its
    pictures."""
    (surgeon_stem, surgeon_page), (patient_stem, patient_page) = REPORTS
    patient = Forked(_made, result, patient_stem, patient_page, pdf)
    imaging = Forked(surgeon_imaging, result)
    written = []
    try:
        for name, content in _report_files(result, surgeon_stem, surgeon_page, pdf, imaging.result):
            written.append(write_atomic(out_dir / name, content))
    except BaseException:
        imaging.cancel()
        with contextlib.suppress(Exception):  # the patient's report is written all the same
            for name, content in patient.result():
                write_atomic(out_dir / name, content)
        raise
    return written + [write_atomic(out_dir / name, content) for name, content in patient.result()]


def write_reports(result: CaseResult, out_dir: Path, pdf: bool = True) -> list[Path]:
    """The surgeon's and the patient's reports of ``result`` (HTML, and PDF unless ``pdf`` is
    false), written into ``out_dir``; returns the paths written."""
    return render_reports(result, Path(out_dir), pdf=pdf)
