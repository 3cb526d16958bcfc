"""Render the reports: Jinja2 templates to self-contained HTML, WeasyPrint to PDF.

The HTML has its stylesheet inline and every picture as a ``data:`` URI, so it opens offline
from a single file; the PDF is the same HTML laid out on A4 pages.
"""

from __future__ import annotations

import datetime as _dt
from importlib import resources
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import jinja2

from spinefuse.errors import MissingDependencyError
from spinefuse.records import write_atomic
from spinefuse.report.patient import patient_context
from spinefuse.report.stage_records import StageRecords, load_stage_records
from spinefuse.report.surgeon import surgeon_context

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


def _version() -> str:
    try:
        return version("spinefuse")
    except PackageNotFoundError:
        return "(development)"


def render_html(template: str, context: dict[str, Any]) -> str:
    """One report as a self-contained HTML page."""
    made = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    page = _environment().get_template(template)
    html: str = page.render(**context, css=_stylesheet(), version=_version(), made=made)
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


def render_reports(records: StageRecords, out_dir: Path, pdf: bool = True) -> list[Path]:
    """Write report.html, patient.html (and their PDFs) for these records into ``out_dir``."""
    written = []
    contexts = {"report": surgeon_context, "patient": patient_context}
    for stem, template in REPORTS:
        html = render_html(template, contexts[stem](records))
        written.append(write_atomic(out_dir / f"{stem}.html", html))
        if pdf:
            written.append(write_atomic(out_dir / f"{stem}.pdf", html_to_pdf(html)))
    return written


def write_reports(run_dir: Path, pdf: bool = True) -> list[Path]:
    """Read the stage records in ``run_dir`` and write report.html, report.pdf, patient.html and
    patient.pdf beside them (no PDFs with ``pdf=False``); returns the paths written."""
    run_dir = Path(run_dir)
    return render_reports(load_stage_records(run_dir), run_dir, pdf=pdf)


def report_command(run_dir: Path, pdf: bool = True) -> str:
    """``spinefuse report RUN_DIR``: write the reports and say where they are, in one line."""
    written = write_reports(Path(run_dir), pdf=pdf)
    return f"reports written to {Path(run_dir)}: " + ", ".join(p.name for p in written)
