"""The one-read rule: a run reads every image file (a NIfTI, a DICOM series folder) once."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from spinefuse.case import load_case
from spinefuse.pipeline import run


def test_every_image_of_the_sample_is_read_once(
    sample_case_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import spinefuse.imaging.dicom as dicom
    import spinefuse.imaging.labels as labels
    import spinefuse.imaging.nifti as nifti

    reads: Counter[str] = Counter()
    real_nifti, real_dicom = nifti.read_nifti, dicom.read_dicom_series

    def count_nifti(path: Any, *args: Any, **kwargs: Any) -> Any:
        reads[str(Path(path).resolve())] += 1
        return real_nifti(path, *args, **kwargs)

    def count_dicom(folder: Any, *args: Any, **kwargs: Any) -> Any:
        reads[str(Path(folder).resolve())] += 1
        return real_dicom(folder, *args, **kwargs)

    monkeypatch.setattr(nifti, "read_nifti", count_nifti)
    monkeypatch.setattr(labels, "read_nifti", count_nifti)
    monkeypatch.setattr(dicom, "read_dicom_series", count_dicom)
    case = load_case(sample_case_path)
    result = run(case, "assessment", progress=False)
    assert result.assessment is not None
    files = {
        str(p.resolve()) for s in case.imaging for k, p in s.paths().items() if k != "landmarks"
    }
    assert set(reads) == files  # the CT, its labels, every MR series and the MR labels
    assert all(n == 1 for n in reads.values()), reads
