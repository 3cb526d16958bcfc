"""Pictures of the spine and the planned construct, drawn offscreen from the records.

The 3-D picture (matplotlib mplot3d, Agg: no display) shows each vertebral body as an elliptic
prism between its endplates, the pedicles and spinous processes as rods of bone, and the screws,
rods and cages of the plan at their planned poses. The sagittal view projects the same scene on
the mid-sagittal plane (anterior to the left, as a lateral radiograph is read).
All coordinates are the world frame (RAS, mm).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.patches import Polygon
from mpl_toolkits.mplot3d.art3d import Poly3DCollection  # type: ignore[import-untyped]
from numpy.typing import NDArray

from spinefuse.anatomy.geometry import Endplate, SpineGeometry, Vertebra
from spinefuse.assess.assessment import Measurement
from spinefuse.conventions import parse_segment
from spinefuse.plan.surgical_plan import Cage, SurgicalPlan
from spinefuse.report.figures import ACCENT, PLANNED, data_uri, new_figure
from spinefuse.report.picture_store import remembered

Arr = NDArray[np.float64]
BONE = "#e8dcc4"
BONE_EDGE = "#8a7a5c"
SCREW = "#2d3e50"
ROD = "#7f8c8d"
CAGE = "#27ae60"
_N = 24  # points around an endplate outline


def _outline(plate: Endplate, frame: Arr) -> Arr:
    """The endplate as an ellipse of its width (x) and depth (y) in the vertebra's frame: (N, 3)."""
    t = np.linspace(0.0, 2.0 * np.pi, _N, endpoint=False)
    x, y = frame[:3, 0], frame[:3, 1]
    pts = (
        np.asarray(plate.centre)
        + np.outer(0.5 * plate.width_mm * np.cos(t), x)
        + np.outer(0.5 * plate.depth_mm * np.sin(t), y)
    )
    return np.asarray(pts, dtype=float)


def body_rings(v: Vertebra) -> tuple[Arr, Arr]:
    """Superior and inferior outlines of a vertebral body (N, 3) each; for S1 the inferior ring
    is the superior one moved 25 mm along the body axis (the sacrum is drawn as its top only)."""
    frame = v.frame()
    top = _outline(v.superior, frame)
    if v.inferior is not None:
        bottom = _outline(v.inferior, frame)
    else:
        bottom = top - 25.0 * frame[:3, 2]
    return top, bottom


def _prism_faces(top: Arr, bottom: Arr, bands: int = 4) -> list[Arr]:
    """End caps and side quads of a prism between two rings; the sides are cut into ``bands``
    so that depth sorting of the faces stays right next to small implants."""
    n = len(top)
    f = np.linspace(0.0, 1.0, bands + 1)[:, None, None]
    rings = (1.0 - f) * top[None] + f * bottom[None]  # (bands + 1, n, 3)
    sides = [
        np.array([rings[b, i], rings[b, (i + 1) % n], rings[b + 1, (i + 1) % n], rings[b + 1, i]])
        for b in range(bands)
        for i in range(n)
    ]
    return [top, bottom, *sides]


def _cage_box(cage: Cage, geometry: SpineGeometry) -> Arr:
    """The 8 corners of a cage (a box in the lower vertebra's frame), (8, 3)."""
    _, lower = parse_segment(cage.segment)
    frame = geometry.vertebrae[lower].frame() if lower in geometry.vertebrae else np.eye(4)
    half = 0.5 * np.array([cage.width_mm, cage.depth_mm, cage.height_mm])
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], float)
    return np.asarray(np.asarray(cage.centre) + (signs * half) @ frame[:3, :3].T, dtype=float)


_BOX_FACES = ((0, 1, 3, 2), (4, 5, 7, 6), (0, 1, 5, 4), (2, 3, 7, 6), (0, 2, 6, 4), (1, 3, 7, 5))


def _screw_line(screw_entry: Sequence[float], direction: Sequence[float], length: float) -> Arr:
    e = np.asarray(screw_entry, dtype=float)
    return np.array([e, e + length * np.asarray(direction, dtype=float)])


def _tube(a: Arr, b: Arr, radius: float, n: int = 10, pieces: int = 3) -> list[Arr]:
    """A cylinder from ``a`` to ``b``: ``pieces`` × ``n`` side quads and two end caps (mm)."""
    axis = b - a
    length = float(np.linalg.norm(axis))
    if length == 0.0:
        return []
    axis = axis / length
    helper = np.array([1.0, 0.0, 0.0]) if abs(axis[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = np.cross(axis, helper)
    u /= np.linalg.norm(u)
    w = np.cross(axis, u)
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    ring = radius * (np.outer(np.cos(t), u) + np.outer(np.sin(t), w))
    ra, rb = a + ring, b + ring
    return [*_prism_faces(ra, rb, pieces)]


def _shade(faces: list[Arr], colours: list[str], light: Arr) -> NDArray[np.float64]:
    """RGBA per face: the base colour dimmed by a two-sided Lambert term toward ``light``."""
    from matplotlib.colors import to_rgba

    rgba = np.array([to_rgba(c) for c in colours])
    normals = np.array([np.cross(f[1] - f[0], f[2] - f[0]) for f in faces])
    norm = np.linalg.norm(normals, axis=1)
    norm[norm == 0] = 1.0
    lambert = np.abs(normals @ light) / norm
    rgba[:, :3] *= (0.45 + 0.55 * lambert)[:, None]
    return np.asarray(rgba, dtype=float)


@remembered
def spine_3d(
    geometry: SpineGeometry,
    plan: SurgicalPlan | None = None,
    elev: float = 15.0,
    azim: float = -120.0,
) -> str:
    """A posterolateral 3-D view of the spine with the plan's implants, as a PNG data URI.

    Bone, screws, rods and cages are one shaded polygon collection, so they hide each other in
    depth order; screws that breach a cortex are drawn red."""
    faces: list[Arr] = []
    colours: list[str] = []

    def add(new: list[Arr], colour: str) -> None:
        faces.extend(new)
        colours.extend([colour] * len(new))

    for v in geometry.vertebrae.values():
        top, bottom = body_rings(v)
        add(_prism_faces(top, bottom), BONE)
        for ped in v.pedicles.values():
            start = np.asarray(
                ped.entry_point if ped.entry_point is not None else ped.isthmus_centre
            )
            end = np.asarray(ped.isthmus_centre) + 6.0 * np.asarray(ped.axis)
            add(_tube(start, end, 0.3 * ped.width_mm, 8), BONE)
        if v.spinous_tip is not None:
            base = v.lamina_centre or (v.canal.centre if v.canal else None)
            if base is not None:
                add(_tube(np.asarray(base), np.asarray(v.spinous_tip), 3.5, 8), BONE)
    if plan is not None:
        for s in plan.screws:
            line = _screw_line(s.entry_point, s.direction, s.length_mm)
            add(_tube(line[0], line[1], s.diameter_mm / 2, 10), PLANNED if s.breach else SCREW)
        for r in plan.rods:
            pts = np.asarray(r.points, dtype=float)
            for a, b in zip(pts[:-1], pts[1:], strict=True):
                ext = 5.0 * (b - a) / max(float(np.linalg.norm(b - a)), 1e-9)
                add(_tube(a - ext, b + ext, r.diameter_mm / 2, 10), ROD)
        for c in plan.cages:
            box = _cage_box(c, geometry)
            add([box[list(f)] for f in _BOX_FACES], CAGE)
    view = np.radians([elev, azim])
    towards_viewer = np.array(
        [np.cos(view[0]) * np.cos(view[1]), np.cos(view[0]) * np.sin(view[1]), np.sin(view[0])]
    )
    light = towards_viewer + np.array([0.0, 0.0, 0.6])
    light /= np.linalg.norm(light)
    fig = new_figure(4.6, 6.0)
    ax = fig.add_subplot(projection="3d")
    ax.set_autoscale_on(False)  # limits are set from the scene below
    ax.add_collection3d(
        Poly3DCollection(faces, facecolors=_shade(faces, colours, light), edgecolors="none")
    )
    allp = np.vstack(faces)
    lo, hi = allp.min(axis=0) - 3.0, allp.max(axis=0) + 3.0
    for v in geometry.vertebrae.values():
        side = -1.0 if azim < -90 else 1.0  # label on the side facing the viewer
        at = np.asarray(v.centroid) + np.array([side * (v.body_width_mm / 2 + 12), 0.0, 0.0])
        ax.text(*at, v.name, fontsize=8, color="black", ha="center")
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_zlim(lo[2], hi[2])
    ax.set_box_aspect(tuple(hi - lo), zoom=1.25)  # equal mm on every axis
    ax.view_init(elev=elev, azim=azim)
    ax.set_axis_off()
    return data_uri(fig, dpi=130)


def _yz(p: Sequence[float] | Arr) -> tuple[float, float]:
    """Sagittal projection: (−anterior, superior) so that anterior is drawn to the left."""
    a = np.asarray(p, dtype=float)
    return float(-a[1]), float(a[2])


def _endplate_line(plate: Endplate) -> Arr:
    return np.array([_yz(plate.anterior), _yz(plate.posterior)])


@remembered
def sagittal_view(
    geometry: SpineGeometry,
    plan: SurgicalPlan | None = None,
    measurements: Sequence[Measurement] = (),
    simple: bool = False,
) -> str:
    """The spine projected on the mid-sagittal plane, with the plan's implants and the
    lordosis lines (L1 and S1 superior endplates) when the vertebrae are present. ``simple``
    draws bones and implants only (no axes, no measurement lines), for the patient."""
    fig = new_figure(4.2, 5.4)
    ax = fig.add_subplot()
    for v in geometry.vertebrae.values():
        sup = v.superior
        if v.inferior is not None:
            poly = [
                _yz(sup.anterior),
                _yz(sup.posterior),
                _yz(v.inferior.posterior),
                _yz(v.inferior.anterior),
            ]
        else:
            down = 25.0 * v.frame()[:3, 2]
            poly = [
                _yz(sup.anterior),
                _yz(sup.posterior),
                _yz(np.asarray(sup.posterior) - down),
                _yz(np.asarray(sup.anterior) - down),
            ]
        ax.add_patch(Polygon(poly, closed=True, facecolor=BONE, edgecolor=BONE_EDGE, lw=1))
        if v.spinous_tip is not None:
            base = v.lamina_centre or (v.canal.centre if v.canal else sup.posterior)
            ax.plot(
                *np.array([_yz(base), _yz(v.spinous_tip)]).T,
                color=BONE_EDGE,
                lw=5,
                alpha=0.7,
                solid_capstyle="round",
            )
        cx, cz = _yz(v.centroid)
        ax.annotate(
            v.name,
            (cx, cz),
            xytext=(-60, 0),
            textcoords="offset points",
            fontsize=8,
            va="center",
            ha="right",
            arrowprops={"arrowstyle": "-", "color": "#999999", "lw": 0.5},
        )
    if plan is not None:
        for c in plan.cages:
            box = _cage_box(c, geometry)
            yz = np.array([_yz(p) for p in box])
            ax.add_patch(
                Polygon(_hull2d(yz), closed=True, facecolor=CAGE, edgecolor="#145a32", alpha=0.85)
            )
        for s in plan.screws:
            line = _screw_line(s.entry_point, s.direction, s.length_mm)
            ax.plot(
                *np.array([_yz(p) for p in line]).T,
                color=SCREW,
                lw=0.6 * s.diameter_mm,
                alpha=0.8,
                solid_capstyle="butt",
            )
        for r in plan.rods:
            if len(r.points) >= 2:
                ax.plot(*np.array([_yz(p) for p in r.points]).T, color=ROD, lw=2.5)
    for level in () if simple else ("L1", "S1"):
        vert = geometry.vertebrae.get(level)
        if vert is None:
            continue
        line = _endplate_line(vert.superior)
        mid, d = line.mean(axis=0), line[1] - line[0]
        ext = np.array([mid - 1.4 * d, mid + 1.4 * d])
        ax.plot(*ext.T, color=ACCENT, lw=1.2, ls="--")
    lordosis = next(
        (
            m
            for m in measurements
            if m.name in ("lumbar_lordosis", "lumbar_lordosis_deg", "lordosis")
        ),
        None,
    )
    if lordosis is not None and "L1" in geometry.vertebrae:
        x, z = _yz(geometry.vertebrae["L1"].superior.anterior)
        ax.annotate(
            f"LL {lordosis.value:.0f}°",
            (x, z),
            xytext=(-10, 12),
            textcoords="offset points",
            color=ACCENT,
            fontsize=8,
        )
    ax.set_aspect("equal")
    ax.autoscale_view()
    x0, x1 = ax.get_xlim()
    ax.set_xlim(x0 - 35, x1 + 5)
    if simple:
        ax.set_axis_off()
        ax.annotate("front", (0.02, 0.01), xycoords="axes fraction", fontsize=9, color="#555555")
        ax.annotate(
            "back", (0.98, 0.01), xycoords="axes fraction", fontsize=9, ha="right", color="#555555"
        )
        return data_uri(fig)
    ax.set_xlabel("← anterior   (mm)   posterior →", fontsize=8)
    ax.set_ylabel("superior (mm)", fontsize=8)
    ax.tick_params(labelsize=7)
    return data_uri(fig)


def _hull2d(points: Arr) -> Arr:
    """Convex hull of 2-D points (monotone chain), counter-clockwise: (M, 2)."""
    pts = sorted(map(tuple, np.round(points, 6)))
    if len(pts) < 3:
        return np.asarray(pts, dtype=float)

    def cross(o: tuple[float, ...], a: tuple[float, ...], b: tuple[float, ...]) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple[float, ...]] = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list[tuple[float, ...]] = []
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return np.asarray(lower[:-1] + upper[:-1], dtype=float)
