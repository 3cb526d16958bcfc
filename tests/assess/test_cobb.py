"""Cobb angles: the AASCE 2019 oracle and synthetic curves with known geometry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spinefuse.assess import assess_landmarks
from spinefuse.assess.cobb import curves, max_cobb_deg
from spinefuse.errors import ImagingError
from spinefuse.imaging.xray_landmarks import XrayLandmarks, write_xray_landmarks

THORACOLUMBAR = [f"T{i}" for i in range(1, 13)] + [f"L{i}" for i in range(1, 6)]


def _aasce(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Landmarks (n, 17, 4, 2) in pixels and angles (n, 3) of one AASCE split."""
    folder = root / "xray" / "aasce2019"
    raw = np.loadtxt(folder / split / "landmarks.csv", delimiter=",")
    angles = np.loadtxt(folder / split / "angles.csv", delimiter=",")
    names = (folder / split / "filenames.csv").read_text().splitlines()
    sizes = pd.read_csv(folder / "image_sizes.csv")
    sizes = sizes[sizes["split"] == split].set_index("filename")
    wh = sizes.loc[names, ["width", "height"]].to_numpy(float)
    # 68 x then 68 y, normalised by width and height; 4 corners per vertebra T1..L5
    xy = np.stack([raw[:, :68] * wh[:, :1], raw[:, 68:] * wh[:, 1:]], axis=-1)
    return xy.reshape(-1, 17, 4, 2), angles


@pytest.mark.parametrize("split", ["training", "test"])
def test_aasce_largest_angle_within_0_1_deg_on_every_image(shared_data: Path, split: str) -> None:
    corners, angles = _aasce(shared_data, split)
    assert corners.shape[0] == angles.shape[0] == {"training": 481, "test": 128}[split]
    err = np.abs(max_cobb_deg(corners) - angles[:, 0])
    assert err.max() < 0.1, f"worst image {int(err.argmax())}: {err.max():.4f} deg"
    assert err.mean() < 0.01


def test_aasce_curves_give_the_main_angle_and_ordered_end_vertebrae(shared_data: Path) -> None:
    corners, angles = _aasce(shared_data, "training")
    for k in range(0, 481, 40):
        pts = corners[k] * np.array([1.0, -1.0])  # image y down -> frame y up
        found = curves(THORACOLUMBAR, pts, min_deg=10.0)
        main = found[0]
        assert main.role == "main"
        assert main.angle_deg == pytest.approx(angles[k, 0], abs=0.1)
        i, j = THORACOLUMBAR.index(main.upper_end), THORACOLUMBAR.index(main.lower_end)
        assert i < j and i <= THORACOLUMBAR.index(main.apex) <= j
        assert all(c.angle_deg >= 10.0 for c in found[1:])


def _synthetic(tilts_deg: list[float], shift: list[float]) -> np.ndarray:
    """Rectangles 40 x 25 stacked downward, each tilted by its angle and shifted in x."""
    out = []
    for k, (t, dx) in enumerate(zip(tilts_deg, shift, strict=True)):
        r = np.radians(t)
        rot = np.array([[np.cos(r), -np.sin(r)], [np.sin(r), np.cos(r)]])
        local = np.array([[-20, 12.5], [20, 12.5], [-20, -12.5], [20, -12.5]])
        out.append(local @ rot.T + np.array([dx, -35.0 * k]))
    return np.asarray(out)


def test_synthetic_curve_has_its_angle_ends_apex_and_side() -> None:
    names = ["L1", "L2", "L3", "L4", "L5"]
    tilts = [12.0, 5.0, 0.0, -6.0, -13.0]  # 25 deg between L1 and L5
    shift = [0.0, 8.0, 12.0, 8.0, 0.0]  # bulging to +x (the right)
    (main,) = curves(names, _synthetic(tilts, shift), min_deg=10.0)
    assert main.angle_deg == pytest.approx(25.0, abs=1e-9)
    assert (main.upper_end, main.lower_end, main.apex, main.convex) == ("L1", "L5", "L3", "right")
    mirrored = curves(names, _synthetic([-t for t in tilts], [-s for s in shift]))[0]
    assert mirrored.convex == "left" and mirrored.angle_deg == pytest.approx(25.0)


def test_shape_mismatch_is_refused() -> None:
    with pytest.raises(ImagingError, match="expected \\(3, 4, 2\\)"):
        curves(["L1", "L2", "L3"], np.zeros((2, 4, 2)))


def test_aasce_films_as_landmark_files_through_the_whole_assessment(
    shared_data: Path, tmp_path: Path
) -> None:
    corners, angles = _aasce(shared_data, "training")
    order = ("superior_left", "superior_right", "inferior_left", "inferior_right")
    for k in (0, 1, 100, 250, 480):
        points = {
            (name, p): (float(corners[k, i, j, 0]), float(corners[k, i, j, 1]))
            for i, name in enumerate(THORACOLUMBAR)
            for j, p in enumerate(order)
        }
        lm = XrayLandmarks("ap", points, (3000, 3000), None)
        a = assess_landmarks([write_xray_landmarks(lm, tmp_path / f"aasce_{k}.csv")])
        main = a.measurement("cobb_angle")
        assert main.value == pytest.approx(angles[k, 0], abs=0.1)
        assert main.detail["curve"] == "main"
        if angles[k, 0] >= 10.0:
            scoliosis = [f for f in a.findings if f.diagnosis == "scoliosis"]
            assert scoliosis[0].level == main.level
        assert a.fuse_segments == []  # landmark files alone never indicate fusion
