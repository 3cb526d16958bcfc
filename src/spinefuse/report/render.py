"""Render the reports: Jinja2 templates to self-contained HTML, WeasyPrint to PDF.

The HTML has its stylesheet inline and every picture as a ``data:`` URI, so it opens offline
from a single file; the PDF is the same HTML laid out on A4 pages.
"""

from __future__ import annotations

import datetime as _dt
import os
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


def render_reports(result: CaseResult, out_dir: Path, pdf: bool = True) -> list[Path]:
    """Write report.html, patient.html (and their PDFs) of a run into ``out_dir``."""
    written = []
    contexts = {"report": surgeon_context, "patient": patient_context}
    for stem, template in REPORTS:
        html = render_html(template, contexts[stem](result))
        written.append(write_atomic(out_dir / f"{stem}.html", html))
        if pdf:
            written.append(write_atomic(out_dir / f"{stem}.pdf", html_to_pdf(html)))
    return written


def write_reports(result: CaseResult, out_dir: Path, pdf: bool = True) -> list[Path]:
    """The surgeon's and the patient's reports of ``result`` (HTML, and PDF unless ``pdf`` is
    false), written into ``out_dir``; returns the paths written."""
    return render_reports(result, Path(out_dir), pdf=pdf)
