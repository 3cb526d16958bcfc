"""Fixtures of the interop tests: a copy of the sample patient's run folder to export from."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def sample_run(
    tmp_path_factory: pytest.TempPathFactory, sample_case_path: Path, sample_run_dir: Path
) -> Path:
    """A copy of the sample patient's run folder (every stage, with the report PDF) that the
    tests may write exports into; its case folder (CT as NIfTI and as a DICOM series in
    ``ct_dicom/``) is ``<run>/../case``."""
    root = tmp_path_factory.mktemp("sample")
    shutil.copytree(sample_run_dir, root / "results")
    (root / "case").symlink_to(sample_case_path.parent, target_is_directory=True)
    return root / "results"
