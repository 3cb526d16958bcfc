"""Frames, units, level names and sign conventions: the one place they are defined.

World frame
    Patient RAS in millimetres: x to the patient's Right, y Anterior, z Superior (NIfTI/nibabel).
    DICOM LPS is converted on reading; nothing downstream of :mod:`spinefuse.imaging` sees LPS.
Vertebra local frame
    Origin at the body centroid; z from the inferior to the superior endplate centre; y anterior,
    perpendicular to z in the mid-sagittal plane; x = y × z (to the right).
Segment motion
    The motion of the upper vertebra in the lower one's frame. Flexion +, extension −; lateral
    bending to the right +; axial rotation to the right + (the upper vertebra's anterior surface
    turns toward the patient's right).
Units inside the code
    mm, N, N·mm, MPa, s, days (healing time), radians. Degrees and N·m only at the edges, and every
    such field name carries its unit (``flexion_deg``, ``moment_nm``).
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Final, Literal

from spinefuse.errors import LevelError

# --- units -----------------------------------------------------------------------------------
DEG: Final = math.pi / 180.0
"""Radians per degree: ``angle_rad = angle_deg * DEG``."""
NM: Final = 1000.0
"""N·mm per N·m: ``moment_nmm = moment_nm * NM``."""

# --- world frame -----------------------------------------------------------------------------
RIGHT: Final = (1.0, 0.0, 0.0)
ANTERIOR: Final = (0.0, 1.0, 0.0)
SUPERIOR: Final = (0.0, 0.0, 1.0)

Side = Literal["left", "right"]
SIDES: Final[tuple[Side, Side]] = ("left", "right")

# --- level names -----------------------------------------------------------------------------
# Craniocaudal order of every vertebra name spinefuse knows. L6 exists for lumbosacral
# transitional anatomy; it is only present in a geometry when the patient has it.
VERTEBRAE: Final[tuple[str, ...]] = (
    *(f"C{i}" for i in range(1, 8)),
    *(f"T{i}" for i in range(1, 13)),
    *(f"L{i}" for i in range(1, 7)),
    "S1",
)
LUMBAR: Final[tuple[str, ...]] = ("L1", "L2", "L3", "L4", "L5", "S1")
"""The standard lumbosacral model: L1…L5 on a fixed S1."""
LUMBAR_SEGMENTS: Final[tuple[str, ...]] = ("L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1")


def vertebra_index(name: str) -> int:
    """Craniocaudal rank of a vertebra name (``"C1"`` is 0, ``"S1"`` is last)."""
    try:
        return VERTEBRAE.index(name)
    except ValueError:
        raise LevelError(
            f"unknown vertebra {name!r}: use one of C1…C7, T1…T12, L1…L6 or S1"
        ) from None


def sort_craniocaudal(names: list[str] | tuple[str, ...]) -> list[str]:
    """Vertebra names sorted from head to pelvis."""
    return sorted(names, key=vertebra_index)


def segment_name(upper: str, lower: str) -> str:
    """Motion-segment name from its two vertebrae, e.g. ``("L4", "L5") -> "L4-L5"``."""
    if vertebra_index(upper) >= vertebra_index(lower):
        raise LevelError(f"segment {upper}-{lower}: {upper!r} must lie above {lower!r}")
    return f"{upper}-{lower}"


def parse_segment(name: str) -> tuple[str, str]:
    """Split ``"L4-L5"`` into ``("L4", "L5")``; refuse anything that is not upper-lower."""
    parts = name.strip().upper().split("-")
    if len(parts) != 2:
        raise LevelError(f"segment {name!r} is not of the form 'L4-L5'")
    upper, lower = parts
    segment_name(upper, lower)  # validates both names and their order
    return upper, lower


def span_segments(span: str, levels: tuple[str, ...] = LUMBAR) -> list[str]:
    """Motion segments covered by a span such as ``"L3-L5"`` within ``levels``.

    ``"L3-L5"`` gives ``["L3-L4", "L4-L5"]``; a single segment gives itself.
    """
    upper, lower = parse_segment(span)
    if upper not in levels or lower not in levels:
        raise LevelError(f"span {span!r} is outside the modelled levels {levels[0]}…{levels[-1]}")
    i, j = levels.index(upper), levels.index(lower)
    return [f"{levels[k]}-{levels[k + 1]}" for k in range(i, j)]


def segment_vertebrae(segments: list[str]) -> list[str]:
    """The vertebrae spanned by a list of segments, craniocaudal (the instrumented levels)."""
    names: set[str] = set()
    for s in segments:
        names.update(parse_segment(s))
    return sort_craniocaudal(list(names))


# --- loads and motion directions --------------------------------------------------------------
class Direction(StrEnum):
    """A pure-moment load direction. ``axis`` is the moment axis in the lower vertebra's frame
    (0 = x right, 1 = y anterior, 2 = z superior) and ``sign`` the sign of the motion it causes."""

    FLEXION = "flexion"
    EXTENSION = "extension"
    LATERAL_BENDING_LEFT = "lateral_bending_left"
    LATERAL_BENDING_RIGHT = "lateral_bending_right"
    AXIAL_ROTATION_LEFT = "axial_rotation_left"
    AXIAL_ROTATION_RIGHT = "axial_rotation_right"

    @property
    def axis(self) -> int:
        return {"flexion": 0, "extension": 0}.get(self.value, 1 if "bending" in self.value else 2)

    @property
    def sign(self) -> int:
        return (
            -1 if self.value in ("extension", "lateral_bending_left", "axial_rotation_left") else 1
        )


DIRECTIONS: Final[tuple[Direction, ...]] = tuple(Direction)

# Rotation-vector components in the vertebra frame that carry each motion. Flexion bends the
# upper body forward: a rotation about -x (right-hand rule with x right, y anterior, z up moves
# the superior part anteriorly under a negative x rotation). Lateral bending to the right is a
# rotation about +y; axial rotation to the right (anterior surface turning to the patient's
# right, +x) is a rotation about -z.
MOTION_AXIS_SIGN: Final[dict[int, int]] = {0: -1, 1: 1, 2: -1}
"""Sign linking a positive clinical motion to the right-hand rotation about each frame axis."""

# --- label conventions ------------------------------------------------------------------------
TOTALSEG_V2_VERTEBRAE: Final[dict[int, str]] = {
    26: "S1",
    27: "L5",
    28: "L4",
    29: "L3",
    30: "L2",
    31: "L1",
    **{32 + i: f"T{12 - i}" for i in range(12)},  # 32 T12 … 43 T1
    **{44 + i: f"C{7 - i}" for i in range(7)},  # 44 C7 … 50 C1
}
"""TotalSegmentator v2 ``total`` task: label ID -> vertebra name (25 is the sacrum)."""
TOTALSEG_V2_SACRUM: Final = 25
TOTALSEG_V2_SPINAL_CORD: Final = 79

VERSE_VERTEBRAE: Final[dict[int, str]] = {
    **{i: f"C{i}" for i in range(1, 8)},
    **{7 + i: f"T{i}" for i in range(1, 13)},  # 8 T1 … 19 T12
    **{19 + i: f"L{i}" for i in range(1, 7)},  # 20 L1 … 25 L6
    26: "S1",  # VerSe 26 is the sacrum; its top is the S1 endplate
}
"""VerSe label ID -> vertebra name (VerSe 28, a supernumerary T13, is not modelled)."""
