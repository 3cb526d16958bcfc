import numpy as np
import pytest

from spinefuse.conventions import (
    MOTION_AXIS_SIGN,
    TOTALSEG_V2_VERTEBRAE,
    VERSE_VERTEBRAE,
    Direction,
    parse_segment,
    segment_vertebrae,
    sort_craniocaudal,
    span_segments,
)
from spinefuse.errors import LevelError


def test_level_order_and_segments() -> None:
    assert sort_craniocaudal(["S1", "L1", "T12", "L5"]) == ["T12", "L1", "L5", "S1"]
    assert span_segments("L3-L5") == ["L3-L4", "L4-L5"]
    assert span_segments("L5-S1") == ["L5-S1"]
    assert segment_vertebrae(["L4-L5", "L3-L4"]) == ["L3", "L4", "L5"]
    assert parse_segment("l4-l5") == ("L4", "L5")


@pytest.mark.parametrize("bad", ["L5-L4", "L4", "L4-X9", "L4-L5-S1"])
def test_bad_segment_names_are_refused(bad: str) -> None:
    with pytest.raises(LevelError):
        parse_segment(bad)


def test_label_tables() -> None:
    assert TOTALSEG_V2_VERTEBRAE[26] == "S1" and TOTALSEG_V2_VERTEBRAE[31] == "L1"
    assert TOTALSEG_V2_VERTEBRAE[32] == "T12" and TOTALSEG_V2_VERTEBRAE[43] == "T1"
    assert TOTALSEG_V2_VERTEBRAE[44] == "C7" and TOTALSEG_V2_VERTEBRAE[50] == "C1"
    assert VERSE_VERTEBRAE[20] == "L1" and VERSE_VERTEBRAE[24] == "L5"
    assert VERSE_VERTEBRAE[25] == "L6" and VERSE_VERTEBRAE[19] == "T12"


def _rot(axis: int, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    m = np.eye(3)
    m[i, i], m[i, j], m[j, i], m[j, j] = c, -s, s, c
    return m


def test_motion_signs_follow_the_clinical_definitions() -> None:
    top, front = np.array([0.0, 0.0, 1.0]), np.array([0.0, 1.0, 0.0])
    flex = _rot(0, MOTION_AXIS_SIGN[0] * 0.1) @ top
    assert flex[1] > 0  # flexion moves the upper body forward
    bend = _rot(1, MOTION_AXIS_SIGN[1] * 0.1) @ top
    assert bend[0] > 0  # right bending moves it to the right
    rot = _rot(2, MOTION_AXIS_SIGN[2] * 0.1) @ front
    assert rot[0] > 0  # right axial rotation turns the anterior surface to the right
    assert Direction.EXTENSION.sign == -1 and Direction.FLEXION.axis == 0
    assert Direction.LATERAL_BENDING_RIGHT.axis == 1 and Direction.AXIAL_ROTATION_LEFT.axis == 2
