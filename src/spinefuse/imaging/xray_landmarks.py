"""X-ray landmark files: vertebral corner points picked on a lateral or AP radiograph.

Format (CSV, UTF-8), documented in the README::

    # spinefuse-xray-landmarks v1
    # view: lateral                 (lateral | ap)
    # pixel_spacing_mm: 0.143       (a number, or px when unknown)
    # image_size: 2048,2500         (width,height in pixels)
    # role: flexion                 (optional: preop | flexion | extension | postop)
    vertebra,point,x,y
    L4,superior_anterior,812.5,1204.0
    ...

Image coordinates are pixels as displayed: x to the right, y downward. Lateral points per
vertebra: ``superior_anterior, superior_posterior, inferior_anterior, inferior_posterior`` (S1:
the superior two only); ``femoral_head`` rows with point ``centre``, ``left`` or ``right``;
``C7`` with point ``centroid`` (or its corners). AP points: ``superior_left, superior_right,
inferior_left, inferior_right`` with left and right as displayed on the image.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from spinefuse.conventions import VERTEBRAE
from spinefuse.errors import ImagingError
from spinefuse.records import write_atomic

MAGIC = "spinefuse-xray-landmarks v1"
View = Literal["lateral", "ap"]
LATERAL_POINTS = (
    "superior_anterior",
    "superior_posterior",
    "inferior_anterior",
    "inferior_posterior",
)
AP_POINTS = ("superior_left", "superior_right", "inferior_left", "inferior_right")
EXTRA_NAMES = {"femoral_head": ("centre", "left", "right")}


@dataclass(frozen=True)
class XrayLandmarks:
    """Landmarks of one radiograph. ``points[(vertebra, point)]`` is ``(x, y)`` in pixels;
    ``pixel_spacing_mm`` is None when the scale is unknown (measurements stay in pixels)."""

    view: View
    points: dict[tuple[str, str], tuple[float, float]]
    image_size: tuple[int, int]
    pixel_spacing_mm: float | None = None
    role: str = "preop"
    source: str = ""
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def vertebrae(self) -> list[str]:
        """Vertebra names with at least one point, head to pelvis."""
        names = {v for v, _ in self.points if v in VERTEBRAE}
        return sorted(names, key=VERTEBRAE.index)

    def point(self, vertebra: str, point: str) -> NDArray[np.float64]:
        """One point in pixels, or an :class:`ImagingError` naming what is missing."""
        try:
            return np.asarray(self.points[(vertebra, point)], dtype=float)
        except KeyError:
            raise ImagingError(
                f"{self.source or 'landmarks'}: no point {point!r} for {vertebra!r}"
            ) from None

    def has(self, vertebra: str, point: str) -> bool:
        return (vertebra, point) in self.points


def _allowed(view: View, vertebra: str) -> tuple[str, ...]:
    if vertebra in EXTRA_NAMES:
        return EXTRA_NAMES[vertebra]
    if vertebra == "C7":
        return ("centroid", *LATERAL_POINTS, *AP_POINTS)
    return LATERAL_POINTS if view == "lateral" else AP_POINTS


def read_xray_landmarks(path: str | Path) -> XrayLandmarks:
    """Read and validate a landmark file; errors name the file, the line and the fix."""
    path = Path(path)
    if not path.is_file():
        raise ImagingError(f"{path}: no such landmark file")
    header: dict[str, str] = {}
    rows: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            body = line[1:].strip()
            if ":" in body:
                key, value = body.split(":", 1)
                header[key.strip()] = value.strip().split()[0] if value.strip() else ""
            elif body and body != MAGIC:
                header.setdefault("comment", body)
        elif line.strip():
            rows.append(line)
    view = header.get("view")
    if view not in ("lateral", "ap"):
        raise ImagingError(f"{path}: header 'view' = {view!r}: must be 'lateral' or 'ap'")
    spacing_text = header.get("pixel_spacing_mm", "px")
    spacing: float | None
    if spacing_text == "px":
        spacing = None
    else:
        try:
            spacing = float(spacing_text)
        except ValueError:
            spacing = -1.0
        if not spacing > 0:
            raise ImagingError(
                f"{path}: header 'pixel_spacing_mm' = {spacing_text!r}: a positive number, or 'px'"
            )
    try:
        w, h = (int(v) for v in header["image_size"].split(","))
    except (KeyError, ValueError):
        raise ImagingError(
            f"{path}: header 'image_size' = {header.get('image_size')!r}: give 'width,height' in "
            "pixels"
        ) from None
    reader = csv.DictReader(io.StringIO("\n".join(rows)))
    if reader.fieldnames != ["vertebra", "point", "x", "y"]:
        raise ImagingError(f"{path}: columns {reader.fieldnames}: must be vertebra,point,x,y")
    points: dict[tuple[str, str], tuple[float, float]] = {}
    for n, row in enumerate(reader, start=2):
        vert, pt = row["vertebra"].strip(), row["point"].strip()
        if vert not in VERTEBRAE and vert not in EXTRA_NAMES:
            raise ImagingError(f"{path}: row {n}: unknown vertebra {vert!r}")
        view_: View = "lateral" if view == "lateral" else "ap"
        if pt not in _allowed(view_, vert):
            raise ImagingError(
                f"{path}: row {n}: point {pt!r} is not a {view} point for {vert}; allowed: "
                f"{', '.join(_allowed(view_, vert))}"
            )
        try:
            x, y = float(row["x"]), float(row["y"])
        except (TypeError, ValueError):
            raise ImagingError(f"{path}: row {n}: x and y must be numbers") from None
        if not (np.isfinite(x) and np.isfinite(y)):
            raise ImagingError(f"{path}: row {n}: x and y must be finite")
        if (vert, pt) in points:
            raise ImagingError(f"{path}: row {n}: {vert} {pt} is given twice")
        points[(vert, pt)] = (x, y)
    if not points:
        raise ImagingError(f"{path}: no landmark rows")
    return XrayLandmarks(
        view="lateral" if view == "lateral" else "ap",
        points=points,
        image_size=(w, h),
        pixel_spacing_mm=spacing,
        role=header.get("role", "preop"),
        source=str(path),
    )


def write_xray_landmarks(landmarks: XrayLandmarks, path: str | Path) -> Path:
    """Write landmarks in the format above (atomically)."""
    out = io.StringIO()
    out.write(f"# {MAGIC}\n# view: {landmarks.view}\n")
    spacing = "px" if landmarks.pixel_spacing_mm is None else f"{landmarks.pixel_spacing_mm:.6g}"
    out.write(f"# pixel_spacing_mm: {spacing}\n")
    out.write(f"# image_size: {landmarks.image_size[0]},{landmarks.image_size[1]}\n")
    out.write(f"# role: {landmarks.role}\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["vertebra", "point", "x", "y"])
    for (vert, pt), (x, y) in landmarks.points.items():
        writer.writerow([vert, pt, f"{x:.3f}", f"{y:.3f}"])
    return write_atomic(Path(path), out.getvalue())
