"""Fixtures of the report tests: the sample patient's run and its rendered reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from spinefuse.pipeline import CaseResult


@pytest.fixture(scope="session")
def full_run(sample_run: CaseResult) -> CaseResult:
    """The sample patient's run: every stage's record, and its images."""
    return sample_run


@pytest.fixture(scope="session")
def rendered(sample_run_dir: Path) -> dict[str, Path]:
    """The four report files the pipeline wrote for the sample run, by file name."""
    names = ("report.html", "report.pdf", "patient.html", "patient.pdf")
    return {n: sample_run_dir / n for n in names}
