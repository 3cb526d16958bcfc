"""Shared fixtures: the path to ../shared/data (skipping cleanly when it is absent), and the
built-in sample patient run through the whole pipeline once per test session."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from spinefuse.pipeline import CaseResult

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real test data folder beside the project; tests that need it skip without it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real test data not found at {SHARED_DATA}")
    return SHARED_DATA


def made_once(factory: pytest.TempPathFactory, name: str, make: Callable[[Path], None]) -> Path:
    """A folder ``name`` made by ``make`` once per test session, shared by the xdist workers
    (the first to ask makes it under a file lock; the others wait and reuse it). Read-only
    for the tests: one that changes files copies the folder first."""
    base = factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    target = root / name
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / ".made").exists():
            make(target)
            (target / ".made").touch()
    return target


@pytest.fixture(scope="session")
def sample_case_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample patient's case file (with its CT, DICOM series, label map and films)."""
    from spinefuse.sample import write_sample_case

    def make(folder: Path) -> None:
        write_sample_case(folder)

    return made_once(tmp_path_factory, "sample-case", make) / "case.yaml"


@pytest.fixture(scope="session")
def sample_run_dir(tmp_path_factory: pytest.TempPathFactory, sample_case_path: Path) -> Path:
    """The run folder of the sample patient: every stage, the reports and the manifest."""
    from spinefuse.case import load_case
    from spinefuse.pipeline import run

    def make(folder: Path) -> None:
        run(load_case(sample_case_path), out_dir=folder, progress=False, inputs=[sample_case_path])

    return made_once(tmp_path_factory, "sample-run", make)


@pytest.fixture(scope="session")
def sample_run(sample_run_dir: Path) -> CaseResult:
    """The sample patient's run read back from its folder (records, and images re-read)."""
    from spinefuse.run_folder import load_run

    return load_run(sample_run_dir)
