"""The construct pictures put implants where the plan says, at the plan's sizes."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from matplotlib.image import imread

from spinefuse.pipeline import CaseResult
from spinefuse.report.spine3d import _cage_box, _hull2d, _tube, body_rings, sagittal_view, spine_3d
from spinefuse.report.surgeon import adjacent_segments


def test_tube_has_the_screw_radius_and_length() -> None:
    a, b = np.array([0.0, 0.0, 0.0]), np.array([0.0, 45.0, 0.0])
    faces = _tube(a, b, 3.25, n=12, pieces=3)
    assert len(faces) == 2 + 3 * 12
    pts = np.vstack(faces)
    radial = np.hypot(pts[:, 0], pts[:, 2])
    assert np.allclose(radial, 3.25)
    assert pts[:, 1].min() == pytest.approx(0.0) and pts[:, 1].max() == pytest.approx(45.0)


def test_cage_box_has_the_cage_size_and_centre(full_run: CaseResult) -> None:
    rec = full_run
    assert rec.plan is not None and rec.geometry is not None and rec.plan.cages
    cage = rec.plan.cages[0]
    box = _cage_box(cage, rec.geometry)
    assert np.allclose(box.mean(axis=0), cage.centre)
    edges = sorted(
        {
            round(float(np.linalg.norm(box[i] - box[j])), 6)
            for i in range(8)
            for j in range(i + 1, 8)
        }
    )
    # the three edge lengths of the box are the cage's width, depth and height
    for size in (cage.width_mm, cage.depth_mm, cage.height_mm):
        assert any(abs(e - size) < 1e-6 for e in edges)


def test_body_rings_span_the_endplates(full_run: CaseResult) -> None:
    rec = full_run
    assert rec.geometry is not None
    v = rec.geometry.vertebrae["L3"]
    top, bottom = body_rings(v)
    assert np.allclose(top.mean(axis=0), v.superior.centre)
    assert v.inferior is not None and np.allclose(bottom.mean(axis=0), v.inferior.centre)
    width = np.linalg.norm(top - top.mean(axis=0), axis=1).max() * 2
    assert width == pytest.approx(max(v.superior.width_mm, v.superior.depth_mm), rel=0.02)


def test_hull_of_a_square_with_an_inner_point() -> None:
    pts = np.array([[0, 0], [1, 0], [1, 1], [0, 1], [0.5, 0.5]], dtype=float)
    hull = _hull2d(pts)
    assert len(hull) == 4 and not any(np.allclose(h, [0.5, 0.5]) for h in hull)


def test_adjacent_segments() -> None:
    present = ["L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1"]
    assert adjacent_segments(["L4-L5"], present) == ["L3-L4", "L5-S1"]
    assert adjacent_segments(["L4-L5", "L5-S1"], present) == ["L3-L4"]


def _png(uri: str) -> np.ndarray:
    assert uri.startswith("data:image/png;base64,")
    return np.asarray(imread(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])), format="png"))


def test_pictures_show_implant_colours(full_run: CaseResult) -> None:
    rec = full_run
    assert rec.geometry is not None and rec.plan is not None
    for uri in (spine_3d(rec.geometry, rec.plan), sagittal_view(rec.geometry, rec.plan)):
        img = _png(uri)[..., :3]
        green = (img[..., 1] > 0.45) & (img[..., 0] < 0.35) & (img[..., 2] < 0.5)
        assert green.sum() > 50  # the cage is visible
    bare = _png(spine_3d(rec.geometry, None))[..., :3]
    green = (bare[..., 1] > 0.45) & (bare[..., 0] < 0.35) & (bare[..., 2] < 0.5)
    assert green.sum() == 0  # and absent without a plan


def test_plan_checks_name_what_the_construct_lacks(full_run: CaseResult) -> None:
    from spinefuse.report.surgeon import plan_checks

    rec = full_run
    assert rec.plan is not None
    assert plan_checks(rec.plan) == []  # the demo plan is complete
    lower = segment_lower(rec.plan.fuse_segments[-1])
    partial = rec.plan.model_copy(
        update={
            "screws": [
                s for s in rec.plan.screws if not (s.vertebra == lower and s.side == "left")
            ],
            "rods": [r for r in rec.plan.rods if r.side == "right"],
            "cages": [],
        }
    )
    assert plan_checks(partial) == [
        f"no left pedicle screw at {lower}",
        "no left rod joins the left screws",
        f"{rec.plan.technique} plan without a cage at {rec.plan.fuse_segments[-1]}",
    ]


def segment_lower(segment: str) -> str:
    return segment.split("-")[1]
