"""The stored calibration reproduces the intact calibration data (research notes A2, A4)."""

from __future__ import annotations

import numpy as np
import pytest

from spinefuse.anatomy.template import VirtualPatientSpec, virtual_spine
from spinefuse.conventions import LUMBAR_SEGMENTS
from spinefuse.mechanics.calibration import MOTIONS, motion_rom
from spinefuse.mechanics.constructs import Construct
from spinefuse.mechanics.parameters import parameters
from spinefuse.mechanics.reference import reference_geometry
from spinefuse.mechanics.simulation import DirectionResponse, direction_response, standing_response

TARGETS = parameters()["calibration_targets"]

SPINES = {
    "reference": reference_geometry,
    "average female": lambda: virtual_spine(VirtualPatientSpec(sex="female", height_cm=165.0)),
    "average male": lambda: virtual_spine(VirtualPatientSpec(sex="male", height_cm=178.0)),
}


@pytest.fixture(scope="module")
def responses() -> dict[float, DirectionResponse]:
    gs = [make() for make in SPINES.values()]
    return {m: direction_response(gs, [Construct()] * len(gs), m) for m in (7.5, 10.0)}


def _range(seg: str, motion: str, moment: float) -> tuple[float, float]:
    """Calibration range (deg) of one level and motion at 7.5 or 10 N·m."""
    tol = float(TARGETS["tolerance_10nm_deg"])
    lo, hi = TARGETS.get("rom_10nm_range_deg", {}).get(seg, {}).get(motion, [None, None])
    centre = float(TARGETS["rom_10nm_deg"][seg][motion])
    lo, hi = (centre, centre) if lo is None else (float(lo), float(hi))
    if moment == 10.0:
        return lo - tol, hi + tol
    if seg == "L4-L5":  # Heuer et al. 2007 at 7.5 N·m, with the notes' 1-2 deg uncertainty
        a, b = TARGETS["rom_7_5nm_deg_l4_l5"][motion]
        return float(a) - tol, float(b) + tol
    return 0.9 * lo - tol, 0.9 * hi + tol


@pytest.mark.parametrize("moment", [7.5, 10.0])
@pytest.mark.parametrize("spine", list(SPINES))
def test_intact_rom_lies_in_the_calibration_ranges(
    responses: dict[float, DirectionResponse], moment: float, spine: str
) -> None:
    i = list(SPINES).index(spine)
    rom = motion_rom(np.degrees(responses[moment].rotation_rad[i]))
    for s, seg in enumerate(LUMBAR_SEGMENTS):
        for m in MOTIONS:
            lo, hi = _range(seg, m, moment)
            assert lo <= rom[m][s] <= hi, f"{spine} {seg} {m} at {moment} N m: {rom[m][s]:.2f}"


def test_calibration_set_mean_matches_the_10nm_targets(
    responses: dict[float, DirectionResponse],
) -> None:
    rom = motion_rom(np.degrees(responses[10.0].rotation_rad).mean(axis=0))
    law = parameters()["calibrated_disc"]
    floor = float(parameters()["disc"]["flexion_extension_floor"]["value"])
    bound = 0
    for s, seg in enumerate(LUMBAR_SEGMENTS):
        for m in MOTIONS:
            lo, hi = _range(seg, m, 10.0)
            assert lo <= rom[m][s] <= hi
            other = {"flexion": "extension", "extension": "flexion"}.get(m)
            at_floor = other is not None and law[seg][m]["stiffness_nm_per_deg"] <= floor * law[
                seg
            ][other]["stiffness_nm_per_deg"] * (1 + 1e-6)
            bound += at_floor
            # the stored fit is tight wherever the flexion-extension floor does not bind
            if not at_floor:
                assert rom[m][s] == pytest.approx(TARGETS["rom_10nm_deg"][seg][m], abs=0.2)
    assert bound <= 2


def test_neutral_zone_to_rom_ratios_lie_in_the_published_band(
    responses: dict[float, DirectionResponse],
) -> None:
    band = TARGETS["nz_rom_ratio"]["band"]
    single = TARGETS["nz_rom_ratio"]["single_spine_band"]
    r = responses[7.5]
    ratio = np.degrees(r.neutral_zone_rad) / np.degrees(r.rotation_rad)
    assert ((ratio > single[0]) & (ratio < single[1])).all()
    mean = ratio.mean(axis=0)
    assert ((mean > band[0]) & (mean < band[1])).all()
    # the direction-wise means follow the published order AR > FE > LB (0.24, 0.21, 0.17)
    fe, lb, ar = mean[:2].mean(), mean[2:4].mean(), mean[4:].mean()
    assert ar > fe > lb


def test_relaxed_standing_disc_pressure_is_near_half_a_megapascal() -> None:
    gs = [make() for make in SPINES.values()]
    sol, model = standing_response(gs, [Construct()] * len(gs))
    kp = float(parameters()["calibrated_pressure_factor"]["value"])
    area = np.stack([a.disc_area for a in model.arrays], axis=1)
    pressure = kp * sol.disc_force_n / area
    s = model.segments.index("L4-L5")
    # Wilke et al. 1999: 0.50 MPa at L4-L5 in relaxed standing (one subject)
    assert pressure[0, s] == pytest.approx(0.5, abs=0.01)
    assert ((pressure[:, s] > 0.4) & (pressure[:, s] < 0.75)).all()
    assert ((pressure > 0.3) & (pressure < 0.9)).all()
