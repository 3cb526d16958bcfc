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
import difflib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from spinefuse.conventions import VERTEBRAE
from spinefuse.datafiles import load_yaml, read_user_text
from spinefuse.errors import ImagingError, quoted
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


HEADER_KEYS = ("view", "pixel_spacing_mm", "image_size", "role")
ROLES = ("preop", "flexion", "extension", "postop")
COLUMNS = ["vertebra", "point", "x", "y"]
MAX_LANDMARK_BYTES = 1024 * 1024
"""Largest landmark file read (1 MiB; a film's landmarks take a few kilobytes)."""
SAME_POINT_PX = 0.5
"""Two corners of one vertebra closer than this (pixels) are the same point: a copy error."""
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def read_xray_landmarks(path: str | Path) -> XrayLandmarks:
    """Read and validate a landmark file; errors name the file, the line and the fix.

    Besides the format above, the reader refuses what would give a silently wrong measurement:
    an unknown format version, a header given twice or after the rows (two files joined), a
    pixel spacing or image size outside :file:`data/input_plausibility.yaml`, decimal commas,
    extra fields, points outside the image, two corners of one vertebra at the same place and
    inferior corners above the superior ones (an upside-down film or swapped names)."""
    path = Path(path)
    text = read_user_text(path, "landmark file", ImagingError, MAX_LANDMARK_BYTES)
    header: dict[str, tuple[str, int]] = {}
    columns_at: int | None = None
    rows: list[tuple[int, list[str]]] = []
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            _header_line(path, n, line[1:].strip(), header, after_rows=columns_at is not None)
            continue
        fields = [f.strip() for f in next(csv.reader([line]))]
        if [f.lower() for f in fields] == COLUMNS:
            if columns_at is not None:
                raise ImagingError(
                    f"{path}: line {n}: a second column header (vertebra,point,x,y): two files "
                    "joined? give one film per file"
                )
            columns_at = n
            continue
        if columns_at is None:
            raise ImagingError(
                f"{path}: line {n}: columns {quoted(fields, 120)}: the first row must be the "
                "column header vertebra,point,x,y"
            )
        rows.append((n, fields))
    view = header.get("view", ("", 0))[0] or None
    if view not in ("lateral", "ap"):
        raise ImagingError(f"{path}: header 'view' = {quoted(view)}: must be 'lateral' or 'ap'")
    view_: View = "lateral" if view == "lateral" else "ap"
    spacing = _spacing(path, header.get("pixel_spacing_mm", ("px", 0))[0])
    w, h = _image_size(path, header.get("image_size", ("", 0))[0] or None, spacing)
    role = header.get("role", ("preop", 0))[0]
    if role not in ROLES:
        raise ImagingError(f"{path}: header 'role' = {quoted(role)}: one of {', '.join(ROLES)}")
    if not rows:
        raise ImagingError(f"{path}: no landmark rows (vertebra,point,x,y after the header)")
    points: dict[tuple[str, str], tuple[float, float]] = {}
    for n, fields in rows:
        vert, pt, x, y = _row(path, n, fields, view_, w, h)
        if (vert, pt) in points:
            raise ImagingError(f"{path}: line {n}: {vert} {pt} is given twice")
        points[(vert, pt)] = (x, y)
    _check_shapes(path, view_, points)
    return XrayLandmarks(
        view=view_,
        points=points,
        image_size=(w, h),
        pixel_spacing_mm=spacing,
        role=role,
        source=str(path),
    )


def _header_line(
    path: Path, n: int, body: str, header: dict[str, tuple[str, int]], after_rows: bool
) -> None:
    """Record one ``# key: value`` line; comments without a known key are ignored."""
    if body.startswith("spinefuse-xray-landmarks"):
        if body != MAGIC:
            version = body.removeprefix("spinefuse-xray-landmarks").strip() or "(none)"
            raise ImagingError(
                f"{path}: line {n}: format version {quoted(version, 40)} is unknown; this "
                f"spinefuse reads {MAGIC.split()[-1]} ('# {MAGIC}')"
            )
        if after_rows or header:
            raise ImagingError(
                f"{path}: line {n}: a header line after the rows or the header: two files "
                "joined? give one film per file"
            )
        return
    if ":" not in body:
        return
    key, value = (part.strip() for part in body.split(":", 1))
    if key not in HEADER_KEYS:
        near = difflib.get_close_matches(key.lower(), HEADER_KEYS, n=1, cutoff=0.75)
        if near:
            raise ImagingError(
                f"{path}: line {n}: unknown header {quoted(key, 60)}; did you mean "
                f"'{near[0]}'? (headers: {', '.join(HEADER_KEYS)})"
            )
        return  # a free comment that happens to hold a colon
    if after_rows:
        raise ImagingError(
            f"{path}: line {n}: a header line after the rows ('# {key}: …'): two files joined? "
            "give one film per file"
        )
    if key in header:
        raise ImagingError(
            f"{path}: line {n}: header '{key}' is given twice (first on line {header[key][1]}); "
            "keep one"
        )
    header[key] = (value, n)


def _limits() -> dict[str, Any]:
    return load_yaml("input_plausibility.yaml")  # type: ignore[no-any-return]


def _spacing(path: Path, text: str) -> float | None:
    token = text.split()[0] if text.split() else ""
    if token == "px":
        return None
    if not _NUMBER.fullmatch(token):
        hint = "; use a decimal point, not a comma" if "," in token else ""
        raise ImagingError(
            f"{path}: header 'pixel_spacing_mm' = {quoted(text, 60)}: a positive number of mm "
            f"per pixel, or 'px' when unknown{hint}"
        )
    spacing = float(token)
    lim = _limits()["xray_pixel_spacing_mm"]
    if not (np.isfinite(spacing) and lim["min"] <= spacing <= lim["max"]):
        raise ImagingError(
            f"{path}: header 'pixel_spacing_mm' = {spacing:g} mm per pixel: radiographs have "
            f"{lim['min']:g} to {lim['max']:g} mm; check the unit (mm, not µm or m), or give 'px'"
        )
    return spacing


def _image_size(path: Path, text: str | None, spacing: float | None) -> tuple[int, int]:
    m = re.fullmatch(r"(\d{1,9})\s*,\s*(\d{1,9})(\s+px)?", text or "")
    lim = _limits()["xray_image_size_px"]
    if m is None:
        raise ImagingError(
            f"{path}: header 'image_size' = {quoted(text, 60)}: give 'width,height' in pixels"
        )
    w, h = int(m.group(1)), int(m.group(2))
    if not (lim["min"] <= w <= lim["max"] and lim["min"] <= h <= lim["max"]):
        raise ImagingError(
            f"{path}: header 'image_size' = {w},{h}: each side must be {lim['min']} to "
            f"{lim['max']} pixels; give the radiograph's width,height"
        )
    film = _limits()["xray_film_size_mm"]["max"]
    if spacing is not None and max(w, h) * spacing > film:
        raise ImagingError(
            f"{path}: image_size {w},{h} at {spacing:g} mm per pixel is a film "
            f"{max(w, h) * spacing:.0f} mm long (over {film:.0f} mm); check pixel_spacing_mm"
        )
    return w, h


def _row(
    path: Path, n: int, fields: list[str], view: View, w: int, h: int
) -> tuple[str, str, float, float]:
    if len(fields) != 4:
        hint = (
            "; decimal commas? write 812.5, not 812,5"
            if len(fields) > 4 and all(_NUMBER.fullmatch(f) for f in fields[2:])
            else ""
        )
        raise ImagingError(
            f"{path}: line {n}: {len(fields)} fields, expected 4 (vertebra,point,x,y){hint}"
        )
    vert, pt = fields[0], fields[1]
    if vert not in VERTEBRAE and vert not in EXTRA_NAMES:
        raise ImagingError(f"{path}: line {n}: unknown vertebra {quoted(vert, 40)}")
    if pt not in _allowed(view, vert):
        raise ImagingError(
            f"{path}: line {n}: point {quoted(pt, 40)} is not a {view} point for {vert}; "
            f"allowed: {', '.join(_allowed(view, vert))}"
        )
    xy = []
    for name, value in zip("xy", fields[2:], strict=True):
        if not _NUMBER.fullmatch(value):
            hint = "; use a decimal point, not a comma" if "," in value else ""
            raise ImagingError(
                f"{path}: line {n}: {name} = {quoted(value, 40)}: x and y must be numbers "
                f"(pixels){hint}"
            )
        xy.append(float(value))
    x, y = xy
    if not (np.isfinite(x) and np.isfinite(y)):
        raise ImagingError(f"{path}: line {n}: x and y must be finite numbers of pixels")
    if not (0.0 <= x <= w and 0.0 <= y <= h):
        raise ImagingError(
            f"{path}: line {n}: {vert} {pt} at ({x:g}, {y:g}) lies outside the image (0…{w}, "
            f"0…{h} pixels): check image_size and the point"
        )
    return vert, pt, x, y


def _check_shapes(
    path: Path, view: View, points: dict[tuple[str, str], tuple[float, float]]
) -> None:
    """Corners of one vertebra are distinct, and its inferior corners lie below its superior
    ones (image y grows downward)."""
    by_vertebra: dict[str, dict[str, NDArray[np.float64]]] = {}
    for (vert, pt), xy in points.items():
        if vert in VERTEBRAE:
            by_vertebra.setdefault(vert, {})[pt] = np.asarray(xy, dtype=float)
    for vert, corners in by_vertebra.items():
        names = list(corners)
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                if np.linalg.norm(corners[a] - corners[b]) < SAME_POINT_PX:
                    raise ImagingError(
                        f"{path}: {vert} {a} and {b} are the same point ({corners[a][0]:g}, "
                        f"{corners[a][1]:g}); pick each corner where it lies"
                    )
        sup = [p[1] for name, p in corners.items() if name.startswith("superior_")]
        inf = [p[1] for name, p in corners.items() if name.startswith("inferior_")]
        if sup and inf and np.mean(inf) <= np.mean(sup):
            raise ImagingError(
                f"{path}: {vert}: the inferior corners lie above the superior ones (y "
                f"{np.mean(inf):.0f} vs {np.mean(sup):.0f} px, y grows downward): is the film "
                "upside down, or are superior and inferior swapped?"
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
