"""The stored calibration reproduces the intact calibration data: the per-level ROM and neutral
zones of the Yamamoto et al. 1989 abstract (PubMed 2603060) and Wilke et al. 1999's pressures."""

from __future__ import annotations

import numpy as np
import pytest

from spinefuse.anatomy.template import VirtualPatientSpec, virtual_spine
from spinefuse.conventions import LUMBAR_SEGMENTS
from spinefuse.mechanics.calibration import MOTIONS, SET_WEIGHTS, motion_rom, target_nz
from spinefuse.mechanics.constructs import Construct
from spinefuse.mechanics.parameters import parameters
from spinefuse.mechanics.reference import reference_geometry
from spinefuse.mechanics.simulation import DirectionResponse, direction_response, simulate

TARGETS = parameters()["calibration_targets"]
BAND = TARGETS["spine_band"]

SPINES = {
    "reference": reference_geometry,
    "average female": lambda: virtual_spine(VirtualPatientSpec(sex="female", height_cm=165.0)),
    "average male": lambda: virtual_spine(VirtualPatientSpec(sex="male", height_cm=178.0)),
}


@pytest.fixture(scope="module")
def response() -> DirectionResponse:
    gs = [make() for make in SPINES.values()]
    return direction_response(gs, [Construct()] * len(gs), 10.0)


def test_the_targets_are_the_values_of_the_yamamoto_abstract() -> None:
    # PubMed 2603060, abstract: ROM for flexion, extension, axial torque (one side) and lateral
    # bending (one side) at 10 N m; the notes' 1.3-1.9 deg axial rotations were wrong.
    rom = TARGETS["rom_10nm_deg"]
    assert [rom[s]["axial_rotation"] for s in LUMBAR_SEGMENTS] == [2.3, 2.6, 2.6, 2.2, 1.4]
    assert [rom[s]["flexion"] for s in LUMBAR_SEGMENTS] == [5.8, 6.5, 7.5, 8.9, 10.0]
    assert [rom[s]["extension"] for s in LUMBAR_SEGMENTS] == [4.3, 4.3, 3.7, 5.8, 7.8]
    assert [rom[s]["lateral_bending"] for s in LUMBAR_SEGMENTS] == [4.9, 7.0, 5.7, 5.7, 5.5]
    nz = TARGETS["nz_10nm_deg"]
    assert [nz[s]["flexion_extension"] for s in LUMBAR_SEGMENTS] == [1.6, 1.0, 1.4, 1.8, 3.0]
    assert TARGETS["certainty"] == "verified"


@pytest.mark.parametrize("spine", list(SPINES))
def test_every_calibration_spine_lies_in_the_band_around_the_targets(
    response: DirectionResponse, spine: str
) -> None:
    """The reference spine (what --reference shows) and both average patients stay within the
    larger of 2 deg and 30 % of each 10 N m target (the abstract gives no SD)."""
    i = list(SPINES).index(spine)
    rom = motion_rom(np.degrees(response.rotation_rad[i]))
    tol_abs, tol_rel = float(BAND["absolute_deg"]), float(BAND["relative"])
    outside = []
    for s, seg in enumerate(LUMBAR_SEGMENTS):
        for m in MOTIONS:
            t = float(TARGETS["rom_10nm_deg"][seg][m])
            if abs(rom[m][s] - t) > max(tol_abs, tol_rel * t):
                outside.append((seg, m, round(float(rom[m][s]), 1)))
    # Known: the larger male spine's L5-S1 facets stop extension at ~4.8 deg (target 7.8)
    allowed = [("L5-S1", "extension")] if spine == "average male" else []
    assert [(x[0], x[1]) for x in outside] in ([], allowed), outside
    assert all(x[2] > 4.0 for x in outside)


def test_the_reference_spine_is_close_to_every_target(
    response: DirectionResponse,
) -> None:
    rom = motion_rom(np.degrees(response.rotation_rad[0]))
    worst = max(
        abs(rom[m][s] / float(TARGETS["rom_10nm_deg"][seg][m]) - 1.0)
        for s, seg in enumerate(LUMBAR_SEGMENTS)
        for m in MOTIONS
    )
    assert worst < 0.25
    flexion = np.mean(
        [
            rom["flexion"][s] / TARGETS["rom_10nm_deg"][seg]["flexion"]
            for s, seg in enumerate(LUMBAR_SEGMENTS)
        ]
    )
    assert 0.88 < flexion < 1.12  # no longer ~20 % stiffer in flexion than the targets


def test_the_weighted_set_mean_matches_the_targets(response: DirectionResponse) -> None:
    w = SET_WEIGHTS[:, None, None]
    rom = motion_rom((np.degrees(response.rotation_rad) * w).sum(0))
    nz = motion_rom((np.degrees(response.neutral_zone_rad) * w).sum(0))
    tol = float(TARGETS["fit_tolerance_deg"]["value"])
    misses = []
    for s, seg in enumerate(LUMBAR_SEGMENTS):
        for m in MOTIONS:
            t = float(TARGETS["rom_10nm_deg"][seg][m])
            if abs(rom[m][s] - t) > tol:
                misses.append((seg, m, round(float(rom[m][s]), 2), t))
            if m != "axial_rotation":
                assert nz[m][s] == pytest.approx(target_nz(seg, m), abs=0.4), (seg, m)
    # L5-S1 extension stops short of 7.8 deg: its facets engage before the disc limits it
    assert [(x[0], x[1]) for x in misses] in ([], [("L5-S1", "extension")])
    for _, _, got, t in misses:
        assert abs(got - t) < 2.0


def test_standing_and_prone_pressures_are_wilkes() -> None:
    g = reference_geometry()
    # Wilke et al. 1999: relaxed standing 0.50 MPa, lying prone 0.1 MPa at L4-L5
    standing = simulate(g, posture="standing")
    prone = simulate(g, posture="prone")
    assert standing.posture is not None and prone.posture is not None
    assert standing.posture.segments["L4-L5"].disc_pressure_mpa == pytest.approx(0.5, abs=0.01)
    assert prone.posture.segments["L4-L5"].disc_pressure_mpa == pytest.approx(0.1, abs=0.005)
    assert standing.standing["L4-L5"].disc_pressure_mpa == pytest.approx(0.5, abs=0.01)
    # every level in the plausible band in standing
    for seg, s in standing.standing.items():
        assert s.disc_pressure_mpa is not None and 0.3 < s.disc_pressure_mpa < 0.9, seg


def test_the_calibration_record_checks_the_preload_stiffening() -> None:
    rec = parameters()["calibration_record"]["calibrated_neutral_stiffness_ratio"]
    # Gardner-Morse & Stokes 2004: x1.71 at 250 N, x2.11 at 500 N (a check, within 15 %)
    assert rec["check_preload_stiffening_250n"] == pytest.approx(1.71, rel=0.15)
    assert rec["check_preload_stiffening_500n"] == pytest.approx(2.11, rel=0.15)
