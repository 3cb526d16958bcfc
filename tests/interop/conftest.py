"""Fixtures of the interop tests: the sample patient run through the whole pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder of the sample patient (every stage, with the report PDF); its case folder
    (CT as NIfTI and as a DICOM series in ``ct_dicom/``) is ``<run>/../case``."""
    from spinefuse.case import load_case
    from spinefuse.pipeline import run
    from spinefuse.sample import write_sample_case

    root = tmp_path_factory.mktemp("sample")
    case = load_case(write_sample_case(root / "case"))
    run(case, out_dir=root / "results", progress=False)
    return root / "results"
