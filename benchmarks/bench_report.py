"""Speed of the report stage: both reports of the demo patient, HTML and PDF.

The records are the sample case through every stage before the reports. Prints one JSON line
and writes benchmarks/results/report.json.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from spinefuse.case import load_case
from spinefuse.pipeline import run
from spinefuse.report.patient import patient_context
from spinefuse.report.render import html_to_pdf, render_html
from spinefuse.report.surgeon import surgeon_context
from spinefuse.sample import write_sample_case


def main() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        case = load_case(write_sample_case(Path(tmp) / "sample"))
        result = run(case, "forecast", progress=False)
        t1 = time.perf_counter()
        surgeon = surgeon_context(result)
        t2 = time.perf_counter()
        patient = patient_context(result)
        t3 = time.perf_counter()
        html = render_html("surgeon.html.j2", surgeon), render_html("patient.html.j2", patient)
        t4 = time.perf_counter()
        pdfs = [html_to_pdf(h) for h in html]
        t5 = time.perf_counter()
    return {
        "surgeon_figures_s": round(t2 - t1, 3),
        "patient_figures_s": round(t3 - t2, 3),
        "html_s": round(t4 - t3, 3),
        "pdf_s": round(t5 - t4, 3),
        "total_s": round(t5 - t1, 3),
        "surgeon_html_kb": round(len(html[0]) / 1024, 1),
        "surgeon_pdf_kb": round(len(pdfs[0]) / 1024, 1),
    }


if __name__ == "__main__":
    result = main()
    line = json.dumps(result)
    print(line)
    out = Path(__file__).parent / "results" / "report.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(line + "\n")
