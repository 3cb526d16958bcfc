"""Fixtures of the report tests: a complete run folder and its rendered reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from .report_fixtures import build_run_dir


@pytest.fixture(scope="session")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder holding every stage record (not rendered yet)."""
    return build_run_dir(tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="session")
def rendered(full_run: Path) -> dict[str, Path]:
    """The four report files written for the full run, by file name."""
    from spinefuse.report import write_reports

    return {p.name: p for p in write_reports(full_run)}
