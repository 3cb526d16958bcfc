"""The optimised follower-load path."""

from __future__ import annotations

import numpy as np
import pytest

from spinefuse.mechanics.constructs import Construct, parse_constructs
from spinefuse.mechanics.follower import optimal_follower_offsets
from spinefuse.mechanics.model import build_model
from spinefuse.mechanics.reference import reference_geometry
from spinefuse.mechanics.solver import Loads, solve


@pytest.mark.parametrize("force", [280.0, 500.0, 1200.0])
def test_the_optimised_path_compresses_without_turning(force: float) -> None:
    """Patwardhan et al. 1999: the spine carries a follower load without buckling as long as
    its path runs near each segment's centre of rotation; on that path it does not turn."""
    m = build_model([reference_geometry()], [Construct()])
    through_centres = solve(
        m, Loads(np.zeros((1, 3)), np.array([force]), np.zeros(1, np.int64)), steps=np.zeros(0)
    )
    off = optimal_follower_offsets(m, np.array([force]))
    sol = solve(
        m, Loads(np.zeros((1, 3)), np.array([force]), np.zeros(1, np.int64), off), steps=np.zeros(0)
    )
    turn = np.degrees(np.abs(sol.rotation[-1] - sol.rotation[0]))[0]
    naive = np.degrees(np.abs(through_centres.rotation[-1] - through_centres.rotation[0]))[0]
    assert turn[:, :2].max() < 0.02  # sagittal and coronal rotation
    assert naive[:, 0].max() > 0.1  # through the disc centres it tilts the segments
    assert np.abs(off).max() < 10.0  # the path stays near the disc centres
    assert (sol.disc_force_n[0] > 0.95 * force).all()  # the discs carry the preload


def test_no_preload_needs_no_path() -> None:
    m = build_model([reference_geometry()], [Construct()])
    assert not optimal_follower_offsets(m, np.array([0.0])).any()


def test_the_path_is_the_intact_spines_and_stays_for_the_operated_one() -> None:
    from spinefuse.mechanics.simulation import direction_response

    g = reference_geometry()
    r = direction_response(
        [g, g], [Construct(), parse_constructs(["screws-rods:L4-L5"])], 7.5, 500.0
    )
    np.testing.assert_allclose(r.follower_offset[0], r.follower_offset[1])
    # the rods take part of the preload behind the disc: the instrumented segment tilts a little
    assert abs(np.degrees(r.start_rotation_rad[1, 3, 0])) > abs(
        np.degrees(r.start_rotation_rad[0, 3, 0])
    )


def test_the_combined_protocol_measures_rotations_from_the_preloaded_posture() -> None:
    """Rods behind the disc share the 1200 N preload and tilt the instrumented segment by more
    than a degree; a tiny moment afterwards must report a tiny rotation, not that tilt."""
    from spinefuse.mechanics import simulate

    r = simulate(
        reference_geometry(),
        protocol="combined",
        preload_n=1200.0,
        moment_nm=0.05,
        constructs=("screws-rods:L4-L5",),
    )
    seg = r.segments["L4-L5"]
    assert abs(seg.rest_rotation_deg["flexion"]) > 0.5  # the preloaded posture moved
    assert seg.flexion_deg < 0.02 and seg.extension_deg < 0.02  # measured from it
