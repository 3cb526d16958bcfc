"""Phantom CT: reading the rendered image back finds the geometry it was made from."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from spinefuse.anatomy.geometry import SpineGeometry
from spinefuse.anatomy.phantom import TOTALSEG_ID, render_ct, render_xray_landmarks
from spinefuse.anatomy.template import VirtualPatientSpec, virtual_spine
from spinefuse.conventions import LUMBAR
from spinefuse.errors import ParameterError
from spinefuse.imaging.nifti import write_nifti
from spinefuse.imaging.xray_landmarks import read_xray_landmarks, write_xray_landmarks

SPACING = 1.0


@pytest.fixture(scope="module")
def spine() -> SpineGeometry:
    return virtual_spine(VirtualPatientSpec(slip_percent={"L4-L5": 22.0}, trabecular_hu=150.0))


@pytest.fixture(scope="module")
def images(spine: SpineGeometry, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The phantom written to NIfTI, so the tests read what a user would read."""
    ct, labels = render_ct(spine, SPACING, seed=3)
    d = tmp_path_factory.mktemp("phantom")
    return write_nifti(ct, d / "ct.nii.gz"), write_nifti(labels, d / "labels.nii.gz")


def _sample(img: nib.Nifti1Image, data: np.ndarray, points: np.ndarray) -> np.ndarray:
    ijk = np.rint(nib.affines.apply_affine(np.linalg.inv(img.affine), points)).astype(int)
    ijk = np.clip(ijk, 0, np.array(data.shape) - 1)
    return data[ijk[:, 0], ijk[:, 1], ijk[:, 2]]


def _run_length(
    img: nib.Nifti1Image,
    data: np.ndarray,
    start: np.ndarray,
    direction: np.ndarray,
    label: int,
    span: float = 60.0,
    step: float = 0.05,
) -> np.ndarray:
    """Positions (mm along direction from start) where the line is inside ``label``."""
    t = np.arange(-span, span, step)
    vals = _sample(img, data, start + t[:, None] * direction)
    inside = t[vals == label]
    # keep the contiguous run through the start point (not a process further along the line)
    runs = np.split(inside, np.flatnonzero(np.diff(inside) > 1.5 * step) + 1)
    return next(r for r in runs if r.min() <= 0.0 <= r.max())


def test_body_heights_read_back_within_one_voxel(
    spine: SpineGeometry, images: tuple[Path, Path]
) -> None:
    img = nib.load(images[1])
    data = np.asarray(img.dataobj)
    for name in LUMBAR[:-1]:
        v = spine.vertebra(name)
        f = v.frame()[:3, :3]
        for frac, truth in (
            (0.85, v.anterior_height_mm),
            (0.5, v.middle_height_mm),
            (0.15, v.posterior_height_mm),
        ):
            # TotalSegmentator's 15/50/85 % of the AP depth, measured along the body axis
            y = (frac - 0.5) * v.body_depth_mm * 0.98
            start = np.asarray(v.centroid) + y * f[:, 1]
            inside = _run_length(img, data, start, f[:, 2], TOTALSEG_ID[name], span=25.0)
            height = inside.max() - inside.min()
            assert height == pytest.approx(truth, abs=SPACING), (name, frac)


def test_l4_l5_slip_reads_back_within_one_voxel(
    spine: SpineGeometry, images: tuple[Path, Path]
) -> None:
    img = nib.load(images[1])
    data = np.asarray(img.dataobj)
    l4, l5 = spine.vertebra("L4"), spine.vertebra("L5")
    plate = l5.superior
    ant = np.subtract(plate.anterior, plate.posterior)
    depth = float(np.linalg.norm(ant))
    ant /= depth
    assert l4.inferior is not None
    corners = []
    for v, own in ((l4, l4.inferior), (l5, plate)):
        # the posterior wall found by walking forward in the endplate's own plane direction at
        # several depths into the body, extrapolated back to the endplate (the corner)
        base, inward = np.asarray(own.centre), -np.asarray(own.normal)
        along = np.subtract(own.anterior, own.posterior)
        along /= np.linalg.norm(along)
        depths = np.linspace(1.5, 7.0, 12)
        found = []
        for h in depths:
            start = base + h * inward
            inside = _run_length(img, data, start, along, TOTALSEG_ID[v.name], span=40.0)
            found.append(start + inside.min() * along)
        fit = np.polyfit(depths, np.asarray(found), 1)
        corners.append(fit[1])
    slip_mm = float((corners[0] - corners[1]) @ ant)
    truth = spine.parameters["slip_percent_L4-L5"]
    assert isinstance(truth, float)
    assert slip_mm == pytest.approx(truth / 100 * depth, abs=SPACING)


def test_trabecular_hu_and_tissue_values(spine: SpineGeometry, images: tuple[Path, Path]) -> None:
    ct_img, lab_img = nib.load(images[0]), nib.load(images[1])
    ct, lab = np.asarray(ct_img.dataobj), np.asarray(lab_img.dataobj)
    for name in ("L2", "L4"):
        v = spine.vertebra(name)
        f = v.frame()[:3, :3]
        grid = np.stack(np.meshgrid(*[np.linspace(-6, 6, 7)] * 3, indexing="ij"), -1).reshape(-1, 3)
        pts = np.asarray(v.centroid) + grid @ f.T
        assert np.all(_sample(lab_img, lab, pts) == TOTALSEG_ID[name])
        assert float(_sample(ct_img, ct, pts).mean()) == pytest.approx(150.0, abs=5.0)
    assert set(np.unique(lab)) == {0, *[TOTALSEG_ID[n] for n in LUMBAR]}


def test_render_is_deterministic_and_checks_spacing(spine: SpineGeometry) -> None:
    a, _ = render_ct(spine, 2.0, seed=1)
    b, _ = render_ct(spine, 2.0, seed=1)
    c, _ = render_ct(spine, 2.0, seed=2)
    assert np.array_equal(a.array, b.array) and not np.array_equal(a.array, c.array)
    assert np.allclose(a.spacing, 2.0)
    with pytest.raises(ParameterError, match="spacing_mm"):
        render_ct(spine, 0.01)


def test_xray_landmarks_project_the_endplates(spine: SpineGeometry, tmp_path: Path) -> None:
    lat = render_xray_landmarks(spine, "lateral", pixel_spacing_mm=0.2)
    path = write_xray_landmarks(lat, tmp_path / "lat.csv")
    back = read_xray_landmarks(path)
    assert back.view == "lateral" and back.pixel_spacing_mm == pytest.approx(0.2)
    # image distances are world distances in the sagittal plane / spacing
    v = spine.vertebra("L3")
    px = np.linalg.norm(
        back.point("L3", "superior_anterior") - back.point("L3", "superior_posterior")
    )
    world = np.linalg.norm(np.subtract(v.superior.anterior, v.superior.posterior)[1:])
    assert px * 0.2 == pytest.approx(world, abs=0.01)
    # patient faces image right: anterior corners have larger x; superior ones smaller y
    assert back.point("L3", "superior_anterior")[0] > back.point("L3", "superior_posterior")[0]
    assert back.point("L3", "superior_anterior")[1] < back.point("L3", "inferior_anterior")[1]
    assert back.has("femoral_head", "centre") and not back.has("S1", "inferior_anterior")
    ap = render_xray_landmarks(spine, "ap")
    # the patient's right corner is on the image left
    assert ap.point("L3", "superior_left")[0] < ap.point("L3", "superior_right")[0]
    assert all(
        0 <= x <= ap.image_size[0] and 0 <= y <= ap.image_size[1] for x, y in ap.points.values()
    )
