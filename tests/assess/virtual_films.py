"""Test inputs for the assessment: virtual spines drawn as X-ray landmark files."""

from __future__ import annotations

from spinefuse.anatomy.geometry import SpineGeometry
from spinefuse.imaging.xray_landmarks import XrayLandmarks


def lateral_landmarks(
    g: SpineGeometry,
    spacing_mm: float | None = 0.2,
    facing: str = "left",
    role: str = "preop",
    magnification: float = 1.0,
) -> XrayLandmarks:
    """A lateral film of a geometry: RAS (y, z) projected to pixels, anterior toward ``facing``
    on the image, y downward; ``magnification`` scales the picture as a radiograph would."""
    scale = magnification / (spacing_mm or 0.2)
    sign = -1.0 if facing == "left" else 1.0

    def px(p: tuple[float, float, float]) -> tuple[float, float]:
        return (1200.0 + sign * p[1] * scale, 1500.0 - p[2] * scale)

    pts: dict[tuple[str, str], tuple[float, float]] = {}
    for name, v in g.vertebrae.items():
        pts[(name, "superior_anterior")] = px(v.superior.anterior)
        pts[(name, "superior_posterior")] = px(v.superior.posterior)
        if v.inferior is not None:
            pts[(name, "inferior_anterior")] = px(v.inferior.anterior)
            pts[(name, "inferior_posterior")] = px(v.inferior.posterior)
    if g.pelvis is not None:
        pts[("femoral_head", "centre")] = px(g.pelvis.hip_axis_centre)
    if g.c7_centroid is not None:
        pts[("C7", "centroid")] = px(g.c7_centroid)
    return XrayLandmarks("lateral", pts, (2400, 3000), spacing_mm, role)


def ap_landmarks(g: SpineGeometry, spacing_mm: float | None = 0.2) -> XrayLandmarks:
    """An AP film (patient's right on the image's left, as radiographs are displayed)."""
    scale = 1.0 / (spacing_mm or 0.2)

    def px(p: tuple[float, float, float] | None) -> tuple[float, float]:
        assert p is not None
        return (1200.0 - p[0] * scale, 1500.0 - p[2] * scale)

    pts: dict[tuple[str, str], tuple[float, float]] = {}
    for name, v in g.vertebrae.items():
        if v.inferior is None:
            continue
        # image left = patient right
        pts[(name, "superior_left")] = px(v.superior.right)
        pts[(name, "superior_right")] = px(v.superior.left)
        pts[(name, "inferior_left")] = px(v.inferior.right)
        pts[(name, "inferior_right")] = px(v.inferior.left)
    return XrayLandmarks("ap", pts, (2400, 3000), spacing_mm)
