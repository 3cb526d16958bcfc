"""CT reformats sample the right anatomy at the right place; bad images fail with a clear error."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from spinefuse.anatomy.template import VirtualPatientSpec, virtual_spine
from spinefuse.case import ImagingStudy
from spinefuse.errors import ImagingError
from spinefuse.imaging.images import Images, read_volume
from spinefuse.imaging.volume import Volume
from spinefuse.pipeline import CaseResult
from spinefuse.report.imaging_views import case_imaging, curved_reformat

from .report_fixtures import voxelise


@pytest.fixture(scope="module")
def scoliotic() -> tuple[Volume, object]:
    g = virtual_spine(VirtualPatientSpec(scoliosis_cobb_deg=25.0, scoliosis_apex="L3"))
    img = voxelise(g)
    ct = Volume(np.asarray(img.dataobj, dtype=np.float32), img.affine, "CT")
    return ct, g


def _at(values: np.ndarray, axis: np.ndarray, x: float) -> int:
    return int(np.argmin(np.abs(axis - x)))


def test_sagittal_reformat_passes_through_every_body_core(scoliotic: tuple[Volume, object]) -> None:
    ct, g = scoliotic
    sag = curved_reformat(ct, g, "sagittal")  # type: ignore[arg-type]
    assert sag.image.shape == (len(sag.z_mm), len(sag.across_mm))
    assert np.allclose(np.diff(sag.z_mm), 1.0)
    for v in g.vertebrae.values():  # type: ignore[attr-defined]
        row, col = (
            _at(sag.image, sag.z_mm, v.centroid[2]),
            _at(sag.image, sag.across_mm, v.centroid[1]),
        )
        # trabecular core of the voxelised body is 180 HU; the curved plane follows the curve
        assert sag.image[row, col] == pytest.approx(180.0, abs=1.0), v.name


def test_coronal_reformat_finds_cortex_at_the_body_edges(scoliotic: tuple[Volume, object]) -> None:
    ct, g = scoliotic
    cor = curved_reformat(ct, g, "coronal")  # type: ignore[arg-type]
    v = g.vertebrae["L2"]  # type: ignore[attr-defined]
    row = _at(cor.image, cor.z_mm, v.centroid[2])
    profile = cor.image[row]
    bone = cor.across_mm[profile > 400.0]
    # the body's cortical shell spans its width (±1.5 mm voxels, tilted by the curve)
    assert bone.max() - bone.min() == pytest.approx(v.body_width_mm, abs=4.0)
    assert profile[_at(profile, cor.across_mm, v.centroid[0] + 40)] == pytest.approx(20.0)


def test_unknown_plane_is_refused(scoliotic: tuple[Volume, object]) -> None:
    ct, g = scoliotic
    with pytest.raises(ValueError, match="axial"):
        curved_reformat(ct, g, "axial")  # type: ignore[arg-type]


def test_corrupt_nifti_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "ct.nii.gz"
    bad.write_bytes(b"not an image at all")
    with pytest.raises(ImagingError, match="ct.nii.gz"):
        read_volume(ImagingStudy(modality="CT", nifti=bad))


def test_case_without_ct_says_so(full_run: CaseResult) -> None:
    rec = full_run
    assert rec.images is not None
    pictures, notes = case_imaging(Images(), rec.geometry)
    assert pictures == []
    assert notes == ["The case has no pre-operative CT, so no CT reformats are shown."]
    pictures, notes = case_imaging(rec.images, rec.geometry)
    n_xr = sum(s.modality == "XR" for s in rec.case.imaging)
    assert n_xr == 4 and notes == [] and len(rec.images.xrays) == n_xr
    assert len(pictures) == 2 + n_xr  # sagittal and coronal CT, one picture per radiograph
    assert sum("radiograph landmarks" in p.caption for p in pictures) == n_xr
    assert all(p.uri.startswith("data:image/png;base64,") for p in pictures)


def test_nifti_is_read_with_its_affine(tmp_path: Path) -> None:
    arr = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    affine = np.diag([0.8, 0.8, 2.0, 1.0])
    affine[:3, 3] = [-10, 5, 30]
    nib.save(nib.Nifti1Image(arr, affine), tmp_path / "a.nii.gz")
    vol = read_volume(ImagingStudy(modality="CT", nifti=tmp_path / "a.nii.gz"))
    assert vol.shape == (2, 3, 4)
    assert np.allclose(vol.voxel_to_world(np.array([1, 2, 3])), [-9.2, 6.6, 36.0])


def test_dicom_series_gives_the_same_reformat_as_nifti(full_run: CaseResult) -> None:
    rec = full_run
    assert rec.geometry is not None
    ct = rec.case.study("CT")
    assert ct is not None and ct.nifti is not None
    dicom = ct.nifti.parent / "ct_dicom"
    a = curved_reformat(read_volume(ct), rec.geometry, "sagittal")
    b = curved_reformat(
        read_volume(ImagingStudy(modality="CT", dicom_dir=dicom)), rec.geometry, "sagittal"
    )
    assert a.image.shape == b.image.shape
    # DICOM stores integer HU: the two agree to within rounding and interpolation
    assert np.median(np.abs(a.image - b.image)) <= 1.0


def test_reformat_of_a_real_ct_samples_the_vertebral_bodies(
    shared_data: Path, tmp_path: Path
) -> None:
    """The TotalSegmentator example CT (3 mm): the curved sagittal plane through the centroids
    that the anatomy stage finds meets trabecular bone of the HU the segmentation reports."""
    import json

    from spinefuse.case import Case, ClinicalHistory, Patient
    from spinefuse.pipeline import run
    from spinefuse.report import render_reports

    folder = shared_data / "ct" / "totalsegmentator_example"
    case = Case(
        id="totalseg-example",
        patient=Patient(age_years=55, sex="male", height_cm=175, weight_kg=80),
        history=ClinicalHistory(),
        imaging=[
            ImagingStudy(
                modality="CT",
                nifti=folder / "example_ct.nii.gz",
                label_map=folder / "totalseg.nii.gz",
            )
        ],
    )
    result = run(case, "anatomy", progress=False)
    g = result.geometry
    assert g is not None
    reported = json.loads((folder / "spine_report.json").read_text())["results"]
    assert result.images is not None and result.images.volume is not None
    sag = curved_reformat(result.images.volume, g, "sagittal")
    for name in ("L1", "L2", "L3", "L4", "L5"):
        v = g.vertebrae[name]
        row = int(np.argmin(np.abs(sag.z_mm - v.centroid[2])))
        col = int(np.argmin(np.abs(sag.across_mm - v.centroid[1])))
        median = reported[f"vertebrae_{name}_intensity_median"]
        # one trilinear sample on a 3 mm grid against the body's median HU
        assert sag.image[row, col] == pytest.approx(median, abs=30.0), name
    written = render_reports(result, tmp_path, pdf=False)
    html = written[0].read_text()
    assert html.count("<figcaption>Curved") == 2  # sagittal and coronal
    assert "The images were not read" not in html
