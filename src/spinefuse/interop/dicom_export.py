"""``spinefuse export dicom``: a run folder's results as DICOM objects for the PACS.

Writes ``seg.dcm`` (the vertebrae, DICOM SEG), ``sr.dcm`` (measurements and findings, TID 1500
SR) and ``report.dcm`` (the surgeon's report, Encapsulated PDF), each in the study of the source
series the case was measured on, and only those the run has the records for.
"""

from __future__ import annotations

from io import BytesIO
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset

from spinefuse.errors import ImagingError, ParameterError
from spinefuse.interop.source_series import read_source_series
from spinefuse.pipeline import CaseResult
from spinefuse.records import write_atomic
from spinefuse.run_folder import load_run

OBJECTS = ("seg", "sr", "pdf")
FILE_NAMES = {"seg": "seg.dcm", "sr": "sr.dcm", "pdf": "report.dcm"}


def report_pdf(run: CaseResult) -> Path | None:
    """The surgeon's report (``report.pdf``) when the run wrote it."""
    path = run.out_dir / "report.pdf" if run.out_dir is not None else None
    return path if path is not None and path.is_file() else None


def source_folder(run: CaseResult, source_dir: Path | None) -> Path:
    """The DICOM series the results belong to: ``source_dir``, else the case study's folder."""
    study = run.images.study if run.images is not None else None
    folder = source_dir or (study.dicom_dir if study is not None else None)
    if folder is None:
        what = f"was read from NIfTI ({study.nifti})" if study is not None else "has no CT or MR"
        raise ImagingError(
            f"{run.out_dir}: the case's imaging {what}; give the DICOM series it came from "
            "(--source-dicom DIR) so the results can reference it"
        )
    return folder


def dicom_objects(
    run: CaseResult, source_dir: Path | None = None, which: tuple[str, ...] = OBJECTS
) -> dict[str, Dataset]:
    """The SEG, SR and Encapsulated PDF of a run, by kind, for those it has the records for."""
    unknown = set(which) - set(OBJECTS)
    if unknown:
        raise ParameterError(f"unknown DICOM export {sorted(unknown)}; choose from {OBJECTS}")
    source = read_source_series(source_folder(run, source_dir))
    out: dict[str, Any] = {}
    if "seg" in which:
        from spinefuse.interop.seg import run_segmentation

        assert run.images is not None  # source_folder found the study or was given the series
        out["seg"] = run_segmentation(run.images, source)
    if "sr" in which and run.assessment is not None:
        from spinefuse.interop.sr import measurement_report

        out["sr"] = measurement_report(run.assessment, source)
    pdf = report_pdf(run)
    if "pdf" in which and pdf is not None:
        from spinefuse.interop.encapsulated_pdf import encapsulated_pdf

        out["pdf"] = encapsulated_pdf(pdf, source[0])
    return out


def write_dicom(ds: Dataset, path: Path) -> Path:
    """Write a DICOM object atomically (with its file meta information)."""
    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return write_atomic(path, buf.getvalue())


def export_dicom(
    run_dir: str | Path,
    out_dir: str | Path | None = None,
    source_dir: str | Path | None = None,
    which: tuple[str, ...] = OBJECTS,
) -> list[Path]:
    """Write the run's DICOM objects into ``out_dir`` (default ``RUN_DIR/dicom``)."""
    run = load_run(Path(run_dir))
    out = Path(out_dir) if out_dir is not None else Path(run_dir) / "dicom"
    objects = dicom_objects(run, Path(source_dir) if source_dir is not None else None, which)
    return [write_dicom(ds, out / FILE_NAMES[kind]) for kind, ds in objects.items()]
