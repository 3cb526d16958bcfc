"""The column's disc planes and the bodies' posterior wall on synthetic volumes whose geometry
is known: a tilted disc between two bodies, a canal in front of which the bone starts at a set
depth."""

from __future__ import annotations

import numpy as np

from spinefuse.imaging.spine_column import STEP_MM, Column, Disc, orient_disc
from spinefuse.imaging.vertebra_split import posterior_wall

SPACING = np.array([1.0, 1.0, 1.0])


def _straight_column(n: int, x: float, y: float, canal_y: float) -> Column:
    z = np.arange(n) * STEP_MM
    pts = np.stack([np.full(n, x), np.full(n, y), z], axis=1)
    canal = pts.copy()
    canal[:, 1] = canal_y
    tang = np.tile([0.0, 0.0, 1.0], (n, 1))
    return Column(
        points=pts, tangents=tang, canal=canal, wall_mm=np.full(n, 5.0), measured=np.ones(n, bool)
    )


def _tilted_disc_volume(tilt_deg: float, height_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Bone (250 HU) with a dark slab (80 HU) ``height_mm`` thick through (40, 40, 40), its
    normal tilted ``tilt_deg`` forward from the z axis; returns the HU and the unit normal."""
    a = np.radians(tilt_deg)
    normal = np.array([0.0, np.sin(a), np.cos(a)])
    grid = np.stack(np.meshgrid(*[np.arange(80.0)] * 3, indexing="ij"), axis=-1)
    t = (grid - 40.0) @ normal
    hu = np.where(np.abs(t) <= height_mm / 2.0, 80.0, 250.0).astype(np.float32)
    return hu, normal


def test_a_tilted_disc_is_found_as_the_darkest_slab() -> None:
    """A disc tilted 20 degrees (the L5-S1 disc's wedge against the column) with the first
    guess square to the column and 3 mm off: the plane comes back within 3 degrees, its
    centre within 1.5 mm of the plane, its height within 2 mm of 9 mm."""
    hu, normal = _tilted_disc_volume(20.0, 9.0)
    col = _straight_column(80, 40.0, 40.0, 20.0)
    guess = Disc(
        index=43,
        centre=np.array([40.0, 40.0, 43.0]),
        normal=np.array([0.0, 0.0, 1.0]),
        depth_hu=50.0,
    )
    found = orient_disc(guess, col, hu, SPACING)
    angle = np.degrees(np.arccos(np.clip(abs(found.normal @ normal), -1.0, 1.0)))
    assert angle <= 3.0, angle
    assert abs((found.centre - 40.0) @ normal) <= 1.5
    assert abs(found.height_mm - 9.0) <= 2.0


def test_without_a_dip_the_first_guess_stays() -> None:
    hu = np.full((60, 60, 60), 250.0, dtype=np.float32)
    col = _straight_column(60, 30.0, 30.0, 10.0)
    guess = Disc(
        index=30,
        centre=np.array([30.0, 30.0, 30.0]),
        normal=np.array([0.0, 0.0, 1.0]),
        depth_hu=50.0,
    )
    assert orient_disc(guess, col, hu, SPACING) == guess


def test_the_posterior_wall_is_the_first_bone_in_front_of_the_canal() -> None:
    """Bone from y = 30 mm forward, the canal's centre at y = 19 mm: the wall lies 11 mm in
    front of it (within half a voxel), whatever the column's own estimate (5 mm here)."""
    bone = np.zeros((40, 70, 50), dtype=bool)
    bone[:, 30:65, :] = True
    col = _straight_column(50, 20.0, 47.0, 19.0)
    ant = np.tile([0.0, 1.0, 0.0], (50, 1))
    wall = posterior_wall(col, ant, bone, SPACING)
    assert np.all(np.abs(wall - 11.0) <= 0.5), wall
    # no bone on the rays: the column's own estimate
    assert np.allclose(posterior_wall(col, ant, np.zeros_like(bone), SPACING), 5.0)
