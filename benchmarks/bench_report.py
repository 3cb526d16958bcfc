"""Speed of the report stage: both reports of the demo patient, HTML and PDF.

The run folder is the sample case through every stage (anatomy: the sample's ground truth).
Target: all four files in under 10 s. Prints one JSON line and writes
benchmarks/results/report.json.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from spinefuse.anatomy.geometry import SpineGeometry
from spinefuse.assess import assess_case
from spinefuse.case import load_case
from spinefuse.healing.course import heal
from spinefuse.mechanics import simulate
from spinefuse.outcomes.forecast import forecast
from spinefuse.plan import plan_surgery
from spinefuse.report.patient import patient_context
from spinefuse.report.render import html_to_pdf, render_html
from spinefuse.report.stage_records import load_stage_records
from spinefuse.report.surgeon import surgeon_context
from spinefuse.sample import write_sample_case


def run_folder(root: Path) -> Path:
    """Write the sample case and every stage record of it into ``root``."""
    case_path = write_sample_case(root / "sample")
    case = load_case(case_path)
    g = SpineGeometry.load(case_path.parent / "ground_truth_geometry.json")
    assessment = assess_case(case, g)
    plan = plan_surgery(case, g, assessment)
    assert plan is not None, "the sample patient is planned for a fusion"
    healing = heal(case, g, plan, members=64, seed=7)
    run = root / "run"
    for name, record in (
        ("case", case),
        ("anatomy", g),
        ("assessment", assessment),
        ("plan", plan),
        ("mechanics", simulate(g, plan)),
        ("healing", healing),
        ("forecast", forecast(case, plan, healing.nonunion_probability)),
    ):
        record.save(run / f"{name}.json")
    return run


def main() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        run = run_folder(Path(tmp))
        t0 = time.perf_counter()
        records = load_stage_records(run)
        t1 = time.perf_counter()
        surgeon = surgeon_context(records)
        t2 = time.perf_counter()
        patient = patient_context(records)
        t3 = time.perf_counter()
        html = render_html("surgeon.html.j2", surgeon), render_html("patient.html.j2", patient)
        t4 = time.perf_counter()
        pdfs = [html_to_pdf(h) for h in html]
        t5 = time.perf_counter()
    return {
        "read_records_s": round(t1 - t0, 3),
        "surgeon_figures_s": round(t2 - t1, 3),
        "patient_figures_s": round(t3 - t2, 3),
        "html_s": round(t4 - t3, 3),
        "pdf_s": round(t5 - t4, 3),
        "total_s": round(t5 - t0, 3),
        "surgeon_html_kb": round(len(html[0]) / 1024, 1),
        "surgeon_pdf_kb": round(len(pdfs[0]) / 1024, 1),
        "target_total_s": 10.0,
    }


if __name__ == "__main__":
    result = main()
    line = json.dumps(result)
    print(line)
    out = Path(__file__).parent / "results" / "report.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(line + "\n")
