"""The rendered reports: PDF pages carry the expected sections; HTML is self-contained."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from report_fixtures import STAGES, build_run_dir, pdf_pages_text

from spinefuse.report import write_reports

SURGEON_SECTIONS = (
    "1. The case in brief",
    "2. Imaging and anatomy",
    "3. Measurements, findings and indication",
    "4. The surgical plan",
    "5. Mechanics",
    "6. Healing",
    "7. Forecast: risks, stay and recovery",
)
PATIENT_SECTIONS = (
    "What is wrong with your back",
    "What the operation does",
    "Getting better, week by week",
    "The main risks",
)


def test_write_reports_writes_four_files(rendered: dict[str, Path]) -> None:
    assert sorted(rendered) == ["patient.html", "patient.pdf", "report.html", "report.pdf"]
    for path in rendered.values():
        assert path.stat().st_size > 10_000


def test_surgeon_pdf_has_every_section_and_the_numbers(rendered: dict[str, Path]) -> None:
    pages = pdf_pages_text(rendered["report.pdf"])
    assert 4 <= len(pages) <= 14
    text = re.sub(r"\s+", " ", " ".join(pages))
    for title in SURGEON_SECTIONS:
        assert title in text, title
    # numbers from every stage record reach the page, with their units
    assert "20.0 %" in text  # slip, assessment
    assert "Ø 6.5 ×" in text  # screws, plan
    assert "11 × 28 ×" in text  # cage footprint, plan
    assert "7.5 N·m" in text  # load, mechanics
    assert "-88 %" in text or "−88 %" in text  # L4-L5 ROM 13.0 -> 1.6 deg
    assert "91 %" in text  # fusion probability at 24 months, healing
    assert "3.4 days" in text  # length of stay, forecast
    assert "12.8 ODI points" in text  # MCID with its source
    assert "did not run" not in text  # every stage is present


def test_pdf_pages_render_to_images_with_content(rendered: dict[str, Path]) -> None:
    pdf = pdfium.PdfDocument(str(rendered["report.pdf"]))
    page = pdf[1]
    image = page.render(scale=0.5).to_numpy()
    # A4 at 36 dpi: 298 × 421 pixels; a page with CT reformats is far from blank
    assert image.shape[:2] == (421, 298)
    assert (image[..., :3].mean(axis=2) < 128).mean() > 0.05


def test_patient_pdf_sections_and_natural_frequencies(rendered: dict[str, Path]) -> None:
    pages = pdf_pages_text(rendered["patient.pdf"])
    assert 2 <= len(pages) <= 8
    text = re.sub(r"\s+", " ", " ".join(pages))
    for title in PATIENT_SECTIONS:
        assert title in text, title
    assert "about 2 in 100 people" in text  # infection 2.1 %
    assert "about 15 in 100 people" in text  # adjacent segment disease 15 %
    assert "about 91 in 100 people" in text  # fusion by 24 months
    assert "about 3 days" in text  # length of stay 3.4 days
    assert "%" not in text  # natural frequencies only


def test_html_is_self_contained(rendered: dict[str, Path]) -> None:
    for name in ("report.html", "patient.html"):
        html = rendered[name].read_text()
        srcs = re.findall(r'<img[^>]*\ssrc="([^"]*)"', html)
        assert srcs, name
        assert all(s.startswith("data:image/png;base64,") for s in srcs)
        assert not re.search(r'(?:href|src)="(?:https?:)?//', html)
        assert "<script" not in html
        assert "<link" not in html


def test_report_of_an_empty_run_says_what_is_missing(tmp_path: Path) -> None:
    start = time.perf_counter()
    written = write_reports(tmp_path)
    assert time.perf_counter() - start < 20.0
    assert len(written) == 4
    text = (tmp_path / "report.html").read_text()
    for stage in (
        "case.json",
        "anatomy.json",
        "assessment.json",
        "plan.json",
        "mechanics.json",
        "healing.json",
        "forecast.json",
    ):
        assert f"no {stage}" in text or f"({stage})" in text, stage
    patient = (tmp_path / "patient.html").read_text()
    assert patient.count('class="absent"') == 4


@pytest.mark.parametrize("missing", ["mechanics", "healing", "forecast", "plan"])
def test_each_absent_stage_is_named(tmp_path: Path, missing: str) -> None:
    run = build_run_dir(tmp_path, tuple(s for s in STAGES if s != missing))
    write_reports(run)
    text = (run / "report.html").read_text()
    assert f"no {missing}.json" in text
    others = [s for s in ("mechanics", "healing", "forecast") if s != missing]
    for other in others:
        assert f"no {other}.json" not in text
