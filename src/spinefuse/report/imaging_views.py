"""Imaging pictures for the surgeon's report: CT reformats and X-ray landmark overlays.

The sagittal and coronal reformats are curved planes through the vertebral body centroids of the
geometry (so a scoliotic or lordotic spine stays in plane), sampled from the CT in the world frame
(RAS, mm) with trilinear interpolation, shown in a bone window, with each vertebra labelled, its
endplates drawn and the measurements placed at their levels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import map_coordinates

from spinefuse.anatomy.geometry import SpineGeometry
from spinefuse.assess.assessment import Measurement
from spinefuse.errors import ImagingError
from spinefuse.imaging.images import Images
from spinefuse.imaging.volume import Volume
from spinefuse.imaging.xray_landmarks import XrayLandmarks
from spinefuse.report.figures import ACCENT, data_uri, new_figure
from spinefuse.report.picture_store import remembered

BONE_WINDOW = (400.0, 1800.0)
"""(level, width) in HU: the usual CT bone window."""
STEP_MM = 1.0
AIR_HU = -1024.0


@dataclass(frozen=True)
class ImagingPicture:
    """One picture with its caption (what it shows and how it was made)."""

    uri: str
    caption: str


def _centre_line(geometry: SpineGeometry, z: NDArray[np.float64]) -> NDArray[np.float64]:
    """(len(z), 3) points of the curve through the body centroids, interpolated in z."""
    c = np.array([v.centroid for v in geometry.vertebrae.values()], dtype=float)
    order = np.argsort(c[:, 2])
    c = c[order]
    x = np.interp(z, c[:, 2], c[:, 0])
    y = np.interp(z, c[:, 2], c[:, 1])
    return np.stack([x, y, z], axis=1)


def _sample(ct: Volume, points: NDArray[np.float64]) -> NDArray[np.float64]:
    ijk = ct.world_to_voxel(points.reshape(-1, 3))
    vals = map_coordinates(
        np.asarray(ct.array, dtype=np.float32), ijk.T, order=1, mode="constant", cval=AIR_HU
    )
    return np.asarray(vals, dtype=float).reshape(points.shape[:-1])


def _extent(ct: Volume) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    s = ct.shape
    corners = np.array(
        [[i, j, k] for i in (0, s[0] - 1) for j in (0, s[1] - 1) for k in (0, s[2] - 1)],
        dtype=float,
    )
    w = ct.voxel_to_world(corners)
    return w.min(axis=0), w.max(axis=0)


def _measure_labels(measurements: Sequence[Measurement]) -> dict[str, list[str]]:
    """Labels of the measurements outside their normal range, by level (what the picture
    should point at)."""
    out: dict[str, list[str]] = {}
    for m in measurements:
        if not m.level or m.normal_range is None:
            continue
        lo, hi = m.normal_range
        if lo <= m.value <= hi:
            continue
        unit = (
            "°"
            if m.unit == "deg"
            else " mm²"
            if m.unit == "mm2"
            else f" {m.unit}"
            if m.unit
            else ""
        )
        out.setdefault(m.level, []).append(f"{m.name.replace('_', ' ')} {m.value:.1f}{unit}")
    return out


@dataclass(frozen=True)
class Reformat:
    """A curved planar reformat: ``image[row, col]`` in HU at height ``z_mm[row]`` and at
    ``across_mm[col]`` along the plane (world y for sagittal, world x for coronal)."""

    image: NDArray[np.float64]
    z_mm: NDArray[np.float64]
    across_mm: NDArray[np.float64]


def curved_reformat(ct: Volume, geometry: SpineGeometry, plane: str) -> Reformat:
    """The CT on the curved ``"sagittal"`` or ``"coronal"`` plane through the body centroids,
    sampled every ``STEP_MM`` over the CT's field of view (trilinear; air outside it)."""
    if plane not in ("sagittal", "coronal"):
        raise ValueError(f"plane {plane!r}: use 'sagittal' or 'coronal'")
    lo, hi = _extent(ct)
    z = np.arange(lo[2], hi[2] + STEP_MM / 2, STEP_MM)
    line = _centre_line(geometry, z)
    axis = 1 if plane == "sagittal" else 0
    across = np.arange(lo[axis], hi[axis] + STEP_MM / 2, STEP_MM)
    pts = np.empty((len(z), len(across), 3))
    pts[..., 1 - axis] = line[:, 1 - axis : 2 - axis]
    pts[..., axis] = across[None, :]
    pts[..., 2] = z[:, None]
    return Reformat(_sample(ct, pts), z, across)


def _slipped_segments(measurements: Sequence[Measurement], geometry: SpineGeometry) -> list[str]:
    """Segments whose slip measurement lies above its normal range, present in the geometry."""
    out = []
    for m in measurements:
        if m.name.startswith("slip") and m.level and m.normal_range and m.value > m.normal_range[1]:
            names = m.level.split("-")
            if len(names) == 2 and all(n in geometry.vertebrae for n in names):
                out.append(m.level)
    return sorted(set(out))


@remembered
def ct_reformats(
    ct: Volume, geometry: SpineGeometry, measurements: Sequence[Measurement] = ()
) -> list[ImagingPicture]:
    """Curved mid-sagittal and coronal reformats of ``ct`` with labelled vertebrae, endplates and
    measurements at their levels."""
    level, width = BONE_WINDOW
    vmin, vmax = level - width / 2, level + width / 2
    labels = _measure_labels(measurements)
    pictures = []

    # sagittal: x follows the centre line; y spans the field of view
    sag = curved_reformat(ct, geometry, "sagittal")
    img, z, y = sag.image, sag.z_mm, sag.across_mm
    fig = new_figure(4.0, 5.6)
    ax = fig.add_subplot()
    ax.imshow(
        img[:, ::-1],
        cmap="gray",
        vmin=vmin,
        vmax=vmax,
        origin="lower",
        extent=(-y[-1], -y[0], z[0], z[-1]),
        interpolation="bilinear",
    )
    for v in geometry.vertebrae.values():
        for plate in (v.superior, v.inferior):
            if plate is not None:
                ax.plot(
                    [-plate.anterior[1], -plate.posterior[1]],
                    [plate.anterior[2], plate.posterior[2]],
                    color="#f1c40f",
                    lw=1,
                )
        ax.annotate(
            v.name,
            (-v.centroid[1], v.centroid[2]),
            color="white",
            fontsize=8,
            ha="center",
            va="center",
            fontweight="bold",
        )
    for seg, texts in labels.items():
        where = (
            geometry.discs[seg].centre
            if seg in geometry.discs
            else (geometry.vertebrae[seg].centroid if seg in geometry.vertebrae else None)
        )
        if where is not None:
            # labels sit at the posterior edge, on a dark box, joined to their level
            ax.annotate(
                "\n".join(texts[:3]),
                (-where[1], where[2]),
                xytext=(-y[0] - 2, where[2]),
                color="#f39c12",
                fontsize=6,
                va="center",
                ha="right",
                bbox={"boxstyle": "round,pad=0.2", "fc": "black", "ec": "none", "alpha": 0.7},
                arrowprops={"arrowstyle": "-", "color": "#f39c12", "lw": 0.6},
            )
    for name in ("L1", "S1"):
        if name in geometry.vertebrae:
            p = geometry.vertebrae[name].superior
            a, b = (
                np.array([-p.anterior[1], p.anterior[2]]),
                np.array([-p.posterior[1], p.posterior[2]]),
            )
            d = b - a
            ax.plot(*np.array([a - 0.8 * d, b + 0.8 * d]).T, color=ACCENT, lw=1, ls="--")
    for seg in _slipped_segments(measurements, geometry):
        # posterior walls of the two bodies (Meyerding): their offset is the slip
        upper, lower = (geometry.vertebrae[n] for n in seg.split("-"))
        for v in (upper, lower):
            if v.inferior is None:
                continue
            top, bottom = v.superior.posterior, v.inferior.posterior
            ax.plot([-top[1], -bottom[1]], [top[2], bottom[2]], color="#e74c3c", lw=1.2)
    ax.set_xlim(-y[-1], -y[0])
    ax.set_ylim(z[0], z[-1])
    ax.set_xlabel("← anterior (mm)", fontsize=7)
    ax.set_ylabel("superior (mm)", fontsize=7)
    ax.tick_params(labelsize=6)
    pictures.append(
        ImagingPicture(
            data_uri(fig),
            "Curved mid-sagittal CT reformat through the vertebral body centroids (bone window "
            f"L {level:.0f} / W {width:.0f} HU); yellow: endplates; dashed: L1 and S1 superior "
            "endplates (lumbar lordosis); red: posterior body walls at a slip; orange: "
            "measurements outside their normal range.",
        )
    )

    # coronal: y follows the centre line; x spans the field of view
    cor = curved_reformat(ct, geometry, "coronal")
    img, z, x = cor.image, cor.z_mm, cor.across_mm
    fig = new_figure(4.0, 5.6)
    ax = fig.add_subplot()
    # radiological display: the patient's right on the viewer's left
    ax.imshow(
        img,
        cmap="gray",
        vmin=vmin,
        vmax=vmax,
        origin="lower",
        extent=(x[0], x[-1], z[0], z[-1]),
        interpolation="bilinear",
    )
    ax.invert_xaxis()
    for v in geometry.vertebrae.values():
        for plate in (v.superior, v.inferior):
            if plate is None:
                continue
            if plate.left is not None and plate.right is not None:
                ends = np.array([plate.left, plate.right])
            else:
                ex = v.frame()[:3, 0] * plate.width_mm / 2
                ends = np.array([np.asarray(plate.centre) - ex, np.asarray(plate.centre) + ex])
            ax.plot(ends[:, 0], ends[:, 2], color="#f1c40f", lw=1)
        for ped in v.pedicles.values():
            ax.plot(
                ped.isthmus_centre[0], ped.isthmus_centre[2], "o", ms=3, mfc="none", mec="#1abc9c"
            )
        ax.annotate(
            v.name,
            (v.centroid[0], v.centroid[2]),
            color="white",
            fontsize=8,
            ha="center",
            va="center",
            fontweight="bold",
        )
    ax.set_xlabel("patient right ← (mm) → left", fontsize=7)
    ax.set_ylabel("superior (mm)", fontsize=7)
    ax.tick_params(labelsize=6)
    pictures.append(
        ImagingPicture(
            data_uri(fig),
            "Curved coronal CT reformat through the vertebral body centroids (radiological "
            "orientation: patient's right on the left); yellow: endplates; "
            "circles: pedicle isthmi.",
        )
    )
    return pictures


@remembered
def xray_overlay(marks: XrayLandmarks) -> ImagingPicture:
    """The landmarks of one radiograph drawn in image coordinates (pixels, y downward), each
    vertebra outlined from its corners and labelled."""
    fig = new_figure(3.6, 4.8)
    ax = fig.add_subplot()
    w, h = marks.image_size
    ax.set_facecolor("#1b1b1b")
    corners = (
        ("superior_anterior", "superior_posterior", "inferior_posterior", "inferior_anterior")
        if marks.view == "lateral"
        else ("superior_left", "superior_right", "inferior_right", "inferior_left")
    )
    names = sorted({v for v, _ in marks.points})
    for name in names:
        quad = [marks.points[(name, c)] for c in corners if (name, c) in marks.points]
        if len(quad) >= 2:
            q = np.array(quad + [quad[0]])
            ax.plot(q[:, 0], q[:, 1], color="#f1c40f", lw=1)
            cx, cy = np.mean(quad, axis=0)
            ax.annotate(name, (cx, cy), color="white", fontsize=7, ha="center", va="center")
        elif quad:
            ax.plot(*quad[0], "o", color="#1abc9c", ms=4)
            ax.annotate(
                name, quad[0], color="white", fontsize=7, xytext=(4, 4), textcoords="offset points"
            )
    pts = np.array(list(marks.points.values()), dtype=float)
    pad = 0.15 * float(np.ptp(pts[:, 1])) if len(pts) > 1 else 0.0
    if len(pts) > 1:  # the spine's part of the film, not the whole film
        lo, hi = pts.min(axis=0) - pad, pts.max(axis=0) + pad
        ax.set_xlim(max(lo[0], 0), min(hi[0], w))
        ax.set_ylim(min(hi[1], h), max(lo[1], 0))
    else:
        ax.set_xlim(0, w)
        ax.set_ylim(h, 0)
    ax.set_aspect("equal")
    ax.tick_params(labelsize=6)
    unit = f"{marks.pixel_spacing_mm:g} mm/pixel" if marks.pixel_spacing_mm else "scale unknown"
    ax.set_xlabel(f"pixels ({unit})", fontsize=7)
    return ImagingPicture(
        data_uri(fig),
        f"{'AP' if marks.view == 'ap' else 'Lateral'} radiograph landmarks "
        f"({marks.role}): vertebral corners as picked, outlined and labelled.",
    )


def case_imaging(
    images: Images | None, geometry: SpineGeometry | None, measurements: Sequence[Measurement] = ()
) -> tuple[list[ImagingPicture], list[str]]:
    """Every imaging picture the case's images allow, and plain notes on what could not be
    shown."""
    pictures: list[ImagingPicture] = []
    notes: list[str] = []
    if images is None:
        return pictures, ["The images were not read in this run."]
    if images.volume is None or images.modality != "CT":
        notes.append("The case has no pre-operative CT, so no CT reformats are shown.")
    elif geometry is None:
        notes.append("No anatomy record: the CT reformats need the vertebral landmarks.")
    else:
        try:
            pictures += ct_reformats(images.volume, geometry, measurements)
        except ImagingError as err:
            notes.append(f"The CT could not be shown: {err}")
    pictures += [xray_overlay(marks) for marks in images.xrays]
    return pictures, notes
