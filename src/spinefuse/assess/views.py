"""Projections of a spine that every measurement reads: the lateral (sagittal) and the AP
(coronal) view, from an X-ray landmark file or from a :class:`SpineGeometry`.

A :class:`SagittalView` holds points in a 2-D frame with column 0 anterior and column 1
superior; a :class:`CoronalView` column 0 toward the patient's right (or the image's right when
the side is unknown) and column 1 superior. Units are mm when the scale is known, else pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from spinefuse.anatomy.geometry import SpineGeometry
from spinefuse.conventions import VERTEBRAE
from spinefuse.errors import ImagingError
from spinefuse.imaging.xray_landmarks import XrayLandmarks

F64 = NDArray[np.float64]
Plate = Literal["superior", "inferior"]
Unit = Literal["mm", "px"]


@dataclass(frozen=True)
class SagittalView:
    """Endplate lines on a lateral projection.

    ``endplates[(vertebra, "superior"|"inferior")]`` is a (2, 2) array: row 0 the posterior
    corner, row 1 the anterior corner, each (anterior, superior). ``hip`` is the hip-axis centre
    (femoral-head midpoint) and ``c7`` the C7 centroid, when known."""

    endplates: dict[tuple[str, Plate], F64]
    unit: Unit
    hip: F64 | None = None
    c7: F64 | None = None
    source: str = ""
    role: str = "preop"

    @property
    def vertebrae(self) -> list[str]:
        """Vertebrae with at least one endplate, head to pelvis."""
        return sorted({v for v, _ in self.endplates}, key=VERTEBRAE.index)

    def plate(self, vertebra: str, which: Plate) -> F64 | None:
        return self.endplates.get((vertebra, which))

    def segments(self) -> list[tuple[str, str]]:
        """Consecutive (upper, lower) pairs with the upper inferior and lower superior endplates."""
        names = self.vertebrae
        pairs = []
        for upper, lower in zip(names, names[1:], strict=False):
            step = VERTEBRAE.index(lower) - VERTEBRAE.index(upper)
            adjacent = step == 1 or (upper == "L5" and lower == "S1")
            if adjacent and (upper, "inferior") in self.endplates:
                if (lower, "superior") in self.endplates:
                    pairs.append((upper, lower))
        return pairs


@dataclass(frozen=True)
class CoronalView:
    """Vertebra corners on an AP projection: ``corners[vertebra]`` is (4, 2) in the order
    superior_left, superior_right, inferior_left, inferior_right; x right, y up."""

    corners: dict[str, F64]
    unit: Unit
    sides: Literal["patient", "image"] = "patient"
    source: str = ""
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def vertebrae(self) -> list[str]:
        return sorted(self.corners, key=VERTEBRAE.index)


def _scale(lm: XrayLandmarks) -> tuple[float, Unit]:
    return (1.0, "px") if lm.pixel_spacing_mm is None else (lm.pixel_spacing_mm, "mm")


def sagittal_from_landmarks(lm: XrayLandmarks) -> SagittalView:
    """The lateral view of a landmark file. The facing direction (anterior to the image's left
    or right) is read from the corners themselves, so either orientation works."""
    if lm.view != "lateral":
        raise ImagingError(f"{lm.source or 'landmarks'}: a lateral view is needed, got {lm.view!r}")
    s, unit = _scale(lm)
    names = [v for v in lm.vertebrae if v != "C7"]
    dx = [
        lm.points[(v, f"{p}_anterior")][0] - lm.points[(v, f"{p}_posterior")][0]
        for v in names
        for p in ("superior", "inferior")
        if lm.has(v, f"{p}_anterior") and lm.has(v, f"{p}_posterior")
    ]
    if not dx:
        raise ImagingError(
            f"{lm.source or 'landmarks'}: no vertebra has both an anterior and a posterior corner"
        )
    facing = 1.0 if float(np.median(dx)) > 0 else -1.0

    def to_frame(p: tuple[float, float]) -> F64:
        return np.array([facing * p[0] * s, -p[1] * s])

    plates: dict[tuple[str, Plate], F64] = {}
    for v in names:
        for which in ("superior", "inferior"):
            post, ant = (v, f"{which}_posterior"), (v, f"{which}_anterior")
            if ant in lm.points and post in lm.points:
                w: Plate = "superior" if which == "superior" else "inferior"
                plates[(v, w)] = np.stack([to_frame(lm.points[post]), to_frame(lm.points[ant])])
    heads = [
        lm.points[("femoral_head", p)]
        for p in ("centre", "left", "right")
        if lm.has("femoral_head", p)
    ]
    if lm.has("femoral_head", "centre"):
        heads = [lm.points[("femoral_head", "centre")]]
    hip = np.mean([to_frame(h) for h in heads], axis=0) if heads else None
    c7_pts = [lm.points[k] for k in lm.points if k[0] == "C7"]
    if lm.has("C7", "centroid"):
        c7_pts = [lm.points[("C7", "centroid")]]
    c7 = np.mean([to_frame(p) for p in c7_pts], axis=0) if c7_pts else None
    return SagittalView(plates, unit, hip, c7, lm.source, lm.role)


def coronal_from_landmarks(lm: XrayLandmarks) -> CoronalView:
    """The AP view of a landmark file in the patient's frame, read with the radiographic display
    convention (the patient's right on the image's left), so +x is the patient's right."""
    if lm.view != "ap":
        raise ImagingError(f"{lm.source or 'landmarks'}: an AP view is needed, got {lm.view!r}")
    s, unit = _scale(lm)
    order = ("superior_left", "superior_right", "inferior_left", "inferior_right")
    corners = {
        v: np.array([[-lm.points[(v, p)][0] * s, -lm.points[(v, p)][1] * s] for p in order])
        for v in lm.vertebrae
        if all(lm.has(v, p) for p in order)
    }
    if len(corners) < 2:
        raise ImagingError(
            f"{lm.source or 'landmarks'}: fewer than two vertebrae have all four AP corners "
            f"({', '.join(order)})"
        )
    return CoronalView(corners, unit, "patient", lm.source)


def _yz(p: tuple[float, float, float]) -> F64:
    return np.array([p[1], p[2]], dtype=float)


def sagittal_from_geometry(g: SpineGeometry, role: str = "preop") -> SagittalView:
    """The lateral projection (RAS y anterior, z superior) of a geometry, in mm."""
    plates: dict[tuple[str, Plate], F64] = {}
    for name, v in g.vertebrae.items():
        if v.partial:
            continue
        plates[(name, "superior")] = np.stack([_yz(v.superior.posterior), _yz(v.superior.anterior)])
        if v.inferior is not None:
            plates[(name, "inferior")] = np.stack(
                [_yz(v.inferior.posterior), _yz(v.inferior.anterior)]
            )
    hip = _yz(g.pelvis.hip_axis_centre) if g.pelvis is not None else None
    c7 = _yz(g.c7_centroid) if g.c7_centroid is not None else None
    return SagittalView(plates, "mm", hip, c7, f"geometry ({g.source})", role)


def coronal_from_geometry(g: SpineGeometry) -> CoronalView | None:
    """The frontal projection (RAS x right, z superior) of a geometry, in mm; None when the
    endplates lack left/right corners."""
    corners: dict[str, F64] = {}
    for name, v in g.vertebrae.items():
        inf = v.inferior
        if v.partial or inf is None:
            continue
        pts = (v.superior.left, v.superior.right, inf.left, inf.right)
        if any(p is None for p in pts):
            continue
        corners[name] = np.array([[p[0], p[2]] for p in pts if p is not None])
    if len(corners) < 2:
        return None
    return CoronalView(corners, "mm", "patient", f"geometry ({g.source})")
