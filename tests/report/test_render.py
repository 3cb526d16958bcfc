"""The rendered reports: PDF pages carry the expected sections; HTML is self-contained."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pypdfium2 as pdfium
import pytest

from spinefuse.pipeline import CaseResult, Skip
from spinefuse.report import render_reports
from spinefuse.report.patient import natural_frequency
from spinefuse.report.stage_views import (
    fusion_probability_points,
    healing_curves,
    quantities,
    risks,
    rom_rows,
    safety_factors,
    stay_days,
    trajectories,
)
from spinefuse.report.tables import fmt

from .report_fixtures import pdf_pages_text, without

SURGEON_SECTIONS = (
    "At a glance",
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


def test_surgeon_pdf_has_every_section_and_the_numbers(
    rendered: dict[str, Path], full_run: CaseResult
) -> None:
    pages = pdf_pages_text(rendered["report.pdf"])
    # the sample has CT, MR and X-rays: 17 pages, of which the methods and sources take three
    assert 5 <= len(pages) <= 18
    text = re.sub(r"\s+", " ", " ".join(pages))
    for title in SURGEON_SECTIONS:
        assert title in text, title
    assert "did not run" not in text and "nothing to do" not in text  # every stage is present
    rec = full_run
    assert rec.assessment is not None and rec.plan is not None
    # numbers from every stage record reach the page, with their units
    assert f"{rec.case.patient.bmi:.1f} kg/m²" in text
    for m in rec.assessment.measurements:  # in a table with its unit, or in a level matrix
        assert fmt(m.value, 1, m.unit) in text or f" {fmt(m.value, 1)} " in text, m.name
    for s in rec.plan.screws:
        assert f"Ø {s.diameter_mm:.1f} × {s.length_mm:.0f} mm" in text
    for c in rec.plan.cages:
        assert f"{c.width_mm:.0f} × {c.depth_mm:.0f} × {c.height_mm:.0f} mm" in text
    assert rec.mechanics is not None and rec.healing is not None and rec.forecast is not None
    assert f"pure moment {rec.mechanics.moment_nm:g} N·m" in text
    # the views drop nothing the stage records hold
    assert len(risks(rec.forecast)) == len(rec.forecast.risks)
    assert len(quantities(rec.forecast)) == len(rec.forecast.perioperative)
    assert {r.segment for r in rom_rows(rec.mechanics)} == set(rec.mechanics.segments)
    assert len(safety_factors(rec.mechanics)) == len(rec.mechanics.implants.rods)
    assert len(healing_curves(rec.healing)) >= 2  # bone fraction per region, fusion probability
    for row in rom_rows(rec.mechanics):
        assert fmt(row.intact_deg, 1, "deg") in text and fmt(row.planned_deg, 1, "deg") in text
    for month, p in fusion_probability_points(rec.healing).items():
        assert f"fusion probability at {month:g} months {100 * p:.0f} %" in text
    for r in risks(rec.forecast):
        assert f"{100 * r.probability:.1f} %" in text, r.name
    for q in quantities(rec.forecast):  # operative time, blood loss, stay: mean and median
        digits = 0 if (q.median or 0) > 20 else 1
        assert f"{q.label} {fmt(q.mean, digits)} {fmt(q.median, digits)}" in text, q.name
    assert "12.8 ODI points" in text  # MCID with its source
    if rec.forecast.pro:  # every PRO trajectory reaches the page
        trajs = trajectories(rec.forecast)
        assert len(trajs) == len(rec.forecast.pro)
        assert "Oswestry Disability Index over time" in text
        for t in trajs:
            p12 = t.at(12.0, t.mcid_probability)
            assert p12 is not None and f"{t.mcid:.1f} {100 * p12:.0f} %" in text, t.instrument


def test_pdf_pages_render_to_images_with_content(rendered: dict[str, Path]) -> None:
    for name in ("report.pdf", "patient.pdf"):
        texts = pdf_pages_text(rendered[name])
        pdf = pdfium.PdfDocument(str(rendered[name]))
        try:
            for i in range(len(pdf)):
                image = pdf[i].render(scale=0.5).to_numpy()
                # A4 at 36 dpi: 298 × 421 pixels, and no page is blank
                assert image.shape[:2] == (421, 298)
                ink = (image[..., :3].mean(axis=2) < 200).mean()
                # every page but the last (which may hold a closing line) is well filled
                assert ink > (0.001 if i == len(pdf) - 1 else 0.01), f"{name} page {i + 1}"
                assert f"page {i + 1} of {len(pdf)}" in texts[i]
        finally:
            pdf.close()
    # the imaging page of the surgeon's report is mostly picture: CT reformats and radiographs
    pdf = pdfium.PdfDocument(str(rendered["report.pdf"]))
    texts = pdf_pages_text(rendered["report.pdf"])
    imaging = next(i for i, t in enumerate(texts) if "Curved mid-sagittal CT reformat" in t)
    dark = (pdf[imaging].render(scale=0.5).to_numpy()[..., :3].mean(axis=2) < 128).mean()
    pdf.close()
    assert dark > 0.10


def test_patient_pdf_sections_and_natural_frequencies(
    rendered: dict[str, Path], full_run: CaseResult
) -> None:
    pages = pdf_pages_text(rendered["patient.pdf"])
    assert 2 <= len(pages) <= 8
    text = re.sub(r"\s+", " ", " ".join(pages))
    for title in PATIENT_SECTIONS:
        assert title in text, title
    rec = full_run
    top = sorted(risks(rec.forecast), key=lambda r: -r.probability)[:6]
    assert len(top) >= 3
    for r in top:
        assert natural_frequency(r.probability) in text, r.name
    month, p = max(fusion_probability_points(rec.healing).items())
    assert f"By {month:g} months" in text and natural_frequency(p) in text
    los = stay_days(rec.forecast)
    assert los is not None and f"about {round(los)} days" in text
    assert "%" not in text  # natural frequencies only


def test_html_is_self_contained(rendered: dict[str, Path]) -> None:
    for name in ("report.html", "patient.html"):
        html = rendered[name].read_text()
        srcs = re.findall(r'<img[^>]*\ssrc="([^"]*)"', html)
        assert srcs, name
        assert all(
            s.startswith(("data:image/png;base64,", "data:image/svg+xml;base64,")) for s in srcs
        )
        assert not re.search(r'(?:href|src)="(?:https?:)?//', html)
        assert "<script" not in html
        assert "<link" not in html


def test_report_of_a_case_with_nothing_to_do_says_why(tmp_path: Path, full_run: CaseResult) -> None:
    start = time.perf_counter()
    bare = CaseResult(
        case=full_run.case.model_copy(update={"imaging": []}),
        skipped={
            "anatomy": Skip("no_volume", "the case has no CT or MR study"),
            "assessment": Skip("nothing_to_assess", "no X-ray landmark file and no geometry"),
        },
        ran=["imaging"],
    )
    written = render_reports(bare, tmp_path)
    assert time.perf_counter() - start < 20.0
    assert len(written) == 4
    text = (tmp_path / "report.html").read_text()
    assert "The anatomy stage had nothing to do for this case: the case has no CT or MR" in text
    for stage in ("plan", "mechanics", "healing", "forecast"):
        assert f"did not run in this run (no {stage}.json)" in text, stage
    patient = (tmp_path / "patient.html").read_text()
    assert patient.count('class="absent"') == 4


@pytest.mark.parametrize("missing", ["mechanics", "healing", "forecast", "plan"])
def test_each_absent_stage_is_named(tmp_path: Path, full_run: CaseResult, missing: str) -> None:
    written = render_reports(without(full_run, missing), tmp_path, pdf=False)
    assert [p.name for p in written] == ["report.html", "patient.html"]
    text = (tmp_path / "report.html").read_text()
    assert f"{missing} taken away by the test" in text
    for other in {"mechanics", "healing", "forecast"} - {missing}:
        assert f"{other} taken away" not in text
    patient = (tmp_path / "patient.html").read_text()
    if missing == "plan":  # assessed but not planned: no operation to explain
        assert "do not show that a fusion operation would help you" in patient
