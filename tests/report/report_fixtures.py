"""Helpers of the report tests: a voxelised CT of a geometry, the text of PDF pages, and run
results with stages taken away."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import nibabel as nib
import numpy as np
import pypdfium2 as pdfium

from spinefuse.anatomy.geometry import SpineGeometry
from spinefuse.pipeline import CaseResult, Skip
from spinefuse.stages import STAGES


def voxelise(geometry: SpineGeometry, spacing: float = 1.5) -> nib.Nifti1Image:
    """A CT of the vertebral bodies: 700 HU cortex, 180 HU core, 20 HU soft tissue around."""
    c = np.array([v.centroid for v in geometry.vertebrae.values()])
    lo, hi = c.min(axis=0) - [45, 45, 35], c.max(axis=0) + [45, 60, 35]
    axes = [np.arange(lo[i], hi[i], spacing) for i in range(3)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
    ct = np.full(grid.shape[:3], 20.0, dtype=np.float32)
    for v in geometry.vertebrae.values():
        f = v.frame()
        local = (grid - f[:3, 3]) @ f[:3, :3]
        half_h = (
            13.0
            if v.inferior is None
            else 0.5 * np.linalg.norm(np.subtract(v.superior.centre, v.inferior.centre))
        )
        r = (local[..., 0] / (v.body_width_mm / 2)) ** 2 + (
            local[..., 1] / (v.body_depth_mm / 2)
        ) ** 2
        inside = (r <= 1.0) & (np.abs(local[..., 2]) <= half_h)
        core = (r <= 0.8) & (np.abs(local[..., 2]) <= half_h - 1.5)
        ct[inside] = 700.0
        ct[core] = 180.0
    affine = np.diag([spacing, spacing, spacing, 1.0])
    affine[:3, 3] = lo
    return nib.Nifti1Image(ct, affine)


def pdf_pages_text(path: Path) -> list[str]:
    """The text of each page of a PDF (pypdfium2)."""
    pdf = pdfium.PdfDocument(str(path))
    try:
        return [pdf[i].get_textpage().get_text_range() for i in range(len(pdf))]
    finally:
        pdf.close()


def without(result: CaseResult, *stages: str) -> CaseResult:
    """``result`` as if ``stages`` (and the stages after the first of them that need it) had
    had nothing to do: their records gone, a reason each."""
    update: dict[str, object] = {"skipped": dict(result.skipped), "reports": []}
    for st in STAGES:
        if st.name in stages:
            update[st.field] = None
            update["skipped"][st.name] = Skip("test", f"{st.name} taken away by the test")  # type: ignore[index]
    return dataclasses.replace(result, **update)  # type: ignore[arg-type]
