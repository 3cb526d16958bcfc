"""The reports show the match of imaging and examination: the surgeon's a picture of the roots
and the compressions with their tables, the patient's in plain words."""

from __future__ import annotations

import re
from pathlib import Path


def test_surgeon_report_shows_roots_and_compressions(sample_run_dir: Path) -> None:
    html = (sample_run_dir / "report.html").read_text()
    assert "Nerve roots: imaging and examination" in html
    assert 'alt="The lumbar roots and the compressions"' in html
    section = html.split("Nerve roots: imaging and examination", 1)[1].split("</section>", 1)[0]
    assert "great toe extension MRC 4/5 (left)" in section
    assert re.search(r"disc herniation</td><td>L4-L5</td><td>subarticular left", section)
    assert "Imaging and examination agree" in section


def test_patient_report_says_which_nerve_in_plain_words(sample_run_dir: Path) -> None:
    html = (sample_run_dir / "patient.html").read_text()
    text = re.sub(r"<[^>]+>", " ", html.split('id="nerves"', 1)[1].split("</section>", 1)[0])
    assert "the nerve called L5 is squeezed on the left side" in text
    assert "the top of your foot and your big toe" in text
    assert "the scan and the tests agree" in text
