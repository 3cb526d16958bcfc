"""The built-in reference spine: L1–S1 landmarks and ligament attachments measured once from
the ArtiSynth lumbosacral model (Remus et al. 2021, PLoS ONE 16(4):e0250456; BSD-3-Clause).

:func:`read_artisynth` measures the raw model files (metres, model frame x anterior, y left,
z superior) into a :class:`ReferenceSpine` in the world frame (RAS, mm): endplates from the disc
finite-element meshes, body centroids from the body surface meshes, facets from the articular
pads, pedicles and posterior landmarks from the whole-vertebra meshes, and every ligament spring
with its Blankevoort–Huiskes parameters. The packaged ``data/mechanics_reference_spine.json`` is
that measurement (so the product never needs the raw files); a test rebuilds it from the raw
data and compares.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from spinefuse.anatomy.geometry import (
    Canal,
    Endplate,
    Facet,
    FacetName,
    Pedicle,
    SpineGeometry,
    Vertebra,
    disc_between,
)
from spinefuse.anatomy.template import dimensions
from spinefuse.conventions import LUMBAR, LUMBAR_SEGMENTS, SIDES, Side, parse_segment
from spinefuse.errors import GeometryError
from spinefuse.records import Record, Vec3

Arr = NDArray[np.float64]
LigamentKind = Literal["ALL", "PLL", "LF", "ISL", "SSL", "CL", "ITL"]
LIGAMENT_KINDS: tuple[LigamentKind, ...] = ("ALL", "PLL", "LF", "ISL", "SSL", "CL", "ITL")

_FILE_CODE = {"L1-L2": "L12", "L2-L3": "L23", "L3-L4": "L34", "L4-L5": "L45", "L5-S1": "L51"}
_PACKAGED = "mechanics_reference_spine.json"


class LigamentBundle(Record):
    """One ligament of a motion segment: parallel springs from ``origin`` points on the upper
    vertebra to ``insertion`` points on the lower one (world frame, mm). Force law of each
    spring (Blankevoort & Huiskes 1991): 0 for strain ≤ 0, k·ε²/(2εt) in the toe, k·(ε − εt/2)
    beyond, with rest length = geometric length × (1 + reference strain)."""

    kind: LigamentKind
    side: Side | None = None
    origin: list[Vec3]
    insertion: list[Vec3]
    reference_strain: float
    transition_strain: float = Field(gt=0)
    stiffness_n_per_strain: float = Field(gt=0, description="per spring")
    area_mm2: float = Field(gt=0)


class ReferenceSpine(Record):
    """The reference spine's anatomy with its ligaments and disc composition."""

    geometry: SpineGeometry
    ligaments: dict[str, list[LigamentBundle]]
    nucleus_area_fraction: dict[str, float] = Field(
        description="segment -> nucleus share of the disc cross-section (from the FE mesh)"
    )
    provenance: str


# --- raw-file readers -------------------------------------------------------------------------
def _to_ras(p: Arr) -> Arr:
    """Model frame (m; x anterior, y left, z superior) -> RAS (mm)."""
    p = np.atleast_2d(p) * 1000.0
    return np.stack([-p[:, 1], p[:, 0], p[:, 2]], axis=1)


def _obj_vertices(path: Path) -> tuple[Arr, NDArray[np.int64]]:
    verts: list[list[float]] = []
    faces: list[list[int]] = []
    for line in path.read_text().splitlines():
        if line.startswith("v "):
            verts.append([float(x) for x in line.split()[1:4]])
        elif line.startswith("f "):
            faces.append([int(x.split("/")[0]) - 1 for x in line.split()[1:4]])
    if not verts:
        raise GeometryError(f"{path}: no vertices; expected a Wavefront .obj surface mesh")
    return _to_ras(np.asarray(verts)), np.asarray(faces, dtype=np.int64)


def _volume_centroid(v: Arr, f: NDArray[np.int64]) -> Arr:
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    vol = np.einsum("ij,ij->i", a, np.cross(b, c)) / 6.0
    return np.asarray((vol[:, None] * (a + b + c) / 4.0).sum(0) / vol.sum())


def _nodes(path: Path) -> dict[int, Arr]:
    out: dict[int, Arr] = {}
    for line in path.read_text().split("\n"):
        parts = line.split()
        if len(parts) >= 4:
            out[int(parts[0])] = _to_ras(np.asarray([float(x) for x in parts[1:4]]))[0]
    return out


def _ids(path: Path) -> list[int]:
    return [int(x) for x in path.read_text().split()]


def _plane(points: Arr) -> tuple[Arr, Arr]:
    """Centroid and unit normal (smallest principal axis) of a point cloud."""
    c = points.mean(axis=0)
    _, _, vt = np.linalg.svd(points - c)
    return c, vt[2]


def _unit(v: Arr) -> Arr:
    return np.asarray(v / np.linalg.norm(v))


def _v(a: Arr) -> Vec3:
    return (float(a[0]), float(a[1]), float(a[2]))


def _endplate(surface: Arr, outline: Arr, outward: Arr) -> Endplate:
    """An endplate from the disc-surface nodes (plane) and the outer annulus ring (outline)."""
    centre, normal = _plane(surface)
    normal = normal if normal @ outward > 0 else -normal
    ant_dir = _unit(np.array([0.0, 1.0, 0.0]) - normal * normal[1])
    right_dir = np.cross(ant_dir, normal if outward[2] > 0 else -normal)
    right_dir = _unit(right_dir if right_dir[0] > 0 else -right_dir)
    rel = outline - centre
    a_proj, r_proj = rel @ ant_dir, rel @ right_dir
    # Corners: where the outline crosses the mid-sagittal and mid-coronal lines.
    sag = np.abs(r_proj) < 3.0
    cor = np.abs(a_proj) < 3.0
    ant = centre + ant_dir * a_proj[sag].max()
    post = centre + ant_dir * a_proj[sag].min()
    right = centre + right_dir * r_proj[cor].max()
    left = centre + right_dir * r_proj[cor].min()
    return Endplate(
        centre=_v(centre),
        normal=_v(normal),
        anterior=_v(ant),
        posterior=_v(post),
        left=_v(left),
        right=_v(right),
        width_mm=float(np.linalg.norm(right - left)),
        depth_mm=float(np.linalg.norm(ant - post)),
    )


def _disc_surfaces(disc_fe: Path, code: str) -> tuple[Arr, Arr, Arr, Arr, float]:
    """Top and bottom surface nodes, top and bottom outer outlines, nucleus area fraction."""
    nodes: dict[int, Arr] = {}
    for ring in ("R1", "R2", "R3", "R4"):
        nodes.update(_nodes(disc_fe / f"{code}_AN_{ring}.node"))
    nodes.update(_nodes(disc_fe / f"{code}_NP.node"))
    top: list[int] = []
    bottom: list[int] = []
    for ring in ("R1", "R2", "R3", "R4"):
        top += _ids(disc_fe / f"{code}_AN_{ring}O.txt")
        bottom += _ids(disc_fe / f"{code}_AN_{ring}U.txt")
    top += _ids(disc_fe / f"{code}_NPO.txt")
    bottom += _ids(disc_fe / f"{code}_NPU.txt")
    outer_top = _ids(disc_fe / f"{code}_AN_R4O.txt")
    outer_bottom = _ids(disc_fe / f"{code}_AN_R4U.txt")
    np_ids = set(_ids(disc_fe / f"{code}_NPU.txt"))
    t = np.asarray([nodes[i] for i in top])
    b = np.asarray([nodes[i] for i in bottom])
    # Nucleus share of the cross-section: convex-hull areas of the nucleus and whole disc in
    # the bottom surface plane.
    c, n = _plane(b)
    e1 = _unit(np.cross(n, [1.0, 0.0, 0.0]))
    e2 = np.cross(n, e1)
    nuc = np.asarray([nodes[i] for i in np_ids])
    frac = _hull_area(nuc, c, e1, e2) / _hull_area(b, c, e1, e2)
    return (
        t,
        b,
        np.asarray([nodes[i] for i in outer_top]),
        np.asarray([nodes[i] for i in outer_bottom]),
        float(frac),
    )


def _hull_area(p: Arr, c: Arr, e1: Arr, e2: Arr) -> float:
    from scipy.spatial import ConvexHull

    xy = np.stack([(p - c) @ e1, (p - c) @ e2], axis=1)
    return float(ConvexHull(xy).volume)  # in 2-D, "volume" is the area


def _lig_table(path: Path) -> list[list[str]]:
    rows = [
        [x.strip() for x in line.split(",")] for line in path.read_text().splitlines()[1:] if line
    ]
    return [r for r in rows if r and r[0]]


def _ligaments(lig_dir: Path, code: str, upper: Arr, lower: Arr) -> list[LigamentBundle]:
    """All ligaments of one segment; ``upper``/``lower`` are the vertebra mesh vertices used to
    tell which end of an (unordered) spring is on which bone."""
    from scipy.spatial import cKDTree

    tree_u, tree_l = cKDTree(upper), cKDTree(lower)
    mats = {r[0].split("_", 1)[1]: r[1:] for r in _lig_table(lig_dir / f"{code}_Ligs_AS_UWMat.lig")}
    mats.update(
        {r[0].split("_", 1)[1]: r[1:] for r in _lig_table(lig_dir / f"{code}_Ligs_MP_UWMat.lig")}
    )
    bundles: list[LigamentBundle] = []
    lines = (lig_dir / f"{code}_Ligs_AS.lig").read_text().splitlines()
    i = 1
    while i < len(lines):
        head = [x.strip() for x in lines[i].split(",")]
        if not head[0]:
            i += 1
            continue
        name, count = head[0].split("_", 1)[1], int(head[1])
        pts = np.asarray(
            [[float(x) for x in lines[i + 1 + j].split(",")] for j in range(count)], dtype=float
        )
        a, b = _to_ras(pts[:, :3]), _to_ras(pts[:, 3:])
        swap = (tree_u.query(a)[0] + tree_l.query(b)[0]) > (tree_u.query(b)[0] + tree_l.query(a)[0])
        origin = np.where(swap[:, None], b, a)
        insertion = np.where(swap[:, None], a, b)
        bundles.append(_bundle(name, origin, insertion, mats[name]))
        i += 1 + count
    lines = (lig_dir / f"{code}_Ligs_MP.lig").read_text().splitlines()
    i = 1
    while i < len(lines):
        head = [x.strip() for x in lines[i].split(",")]
        if not head[0]:
            i += 1
            continue
        name, count = head[0].split("_", 1)[1], int(head[1])
        paths = [
            np.asarray([float(x) for x in lines[i + 1 + j].replace("\t", "").split(",")])
            for j in range(count)
        ]
        first = _to_ras(np.asarray([p[:3] for p in paths]))
        last = _to_ras(np.asarray([p[-3:] for p in paths]))
        up_first = first[:, 2].mean() > last[:, 2].mean()
        origin, insertion = (first, last) if up_first else (last, first)
        bundles.append(_bundle(name, origin, insertion, mats[name]))
        i += 1 + count
    return bundles


def _bundle(name: str, origin: Arr, insertion: Arr, mat: list[str]) -> LigamentBundle:
    kind, _, side_code = name.partition("_")
    side: Side | None = {"R": "right", "L": "left"}.get(side_code)  # type: ignore[assignment]
    return LigamentBundle(
        kind=kind,
        side=side,
        origin=[_v(p) for p in origin],
        insertion=[_v(p) for p in insertion],
        reference_strain=float(mat[0]),
        transition_strain=float(mat[1]),
        stiffness_n_per_strain=float(mat[2]),
        area_mm2=float(mat[3]),
    )


def _facet_pair(sup_pad: Arr, inf_pad: Arr, side: Side, gap_mm: float) -> tuple[Facet, Facet]:
    """Superior facet of the lower vertebra and inferior facet of the upper one: a shared
    plane fitted to both articular pads, the two surfaces ``gap_mm`` apart."""
    c, n = _plane(np.vstack([sup_pad, inf_pad]))
    lateral = 1.0 if side == "right" else -1.0
    n = n if n[0] * lateral < 0 else -n  # the superior facet faces medially (posteromedially)
    area = float(np.prod(np.sort(np.ptp(sup_pad - sup_pad.mean(0), axis=0))[1:]) * np.pi / 4)
    return (
        Facet(centre=_v(c - 0.5 * gap_mm * n), normal=_v(n), area_mm2=area),
        Facet(centre=_v(c + 0.5 * gap_mm * n), normal=_v(-n), area_mm2=area),
    )


def read_artisynth(root: Path, facet_gap_mm: float = 0.5) -> ReferenceSpine:
    """Measure the ArtiSynth L1–S1 model files under ``root`` (the folder holding ``rigid/``,
    ``ligaments/``, ``disc_fe/`` and ``facets/``) into a :class:`ReferenceSpine` (RAS, mm).

    ``facet_gap_mm`` is the model's initial facet gap (Remus et al. 2021: 0.5 mm)."""
    for sub in ("rigid", "ligaments", "disc_fe", "facets"):
        if not (root / sub).is_dir():
            raise GeometryError(
                f"{root}: missing {sub}/; point read_artisynth at the artisynth_lumbosacral folder"
            )
    whole = {n: _obj_vertices(root / "rigid" / f"{n}_Schrumpfverpacken.obj")[0] for n in LUMBAR}
    bodies = {n: _obj_vertices(root / "rigid" / f"{n}_body.obj") for n in LUMBAR}
    surfaces = {s: _disc_surfaces(root / "disc_fe", _FILE_CODE[s]) for s in LUMBAR_SEGMENTS}
    ligaments = {
        s: _ligaments(
            root / "ligaments",
            _FILE_CODE[s],
            whole[parse_segment(s)[0]],
            whole[parse_segment(s)[1]],
        )
        for s in LUMBAR_SEGMENTS
    }

    sup_plate: dict[str, Endplate] = {}
    inf_plate: dict[str, Endplate] = {}
    for seg in LUMBAR_SEGMENTS:
        up, low = parse_segment(seg)
        top, bottom, out_top, out_bottom, _ = surfaces[seg]
        axis = _unit(top.mean(0) - bottom.mean(0))
        inf_plate[up] = _endplate(top, out_top, -axis)
        sup_plate[low] = _endplate(bottom, out_bottom, axis)
    # L1's superior endplate: the top of its body mesh, parallel-fitted like the others.
    v1, _ = bodies["L1"]
    ax1 = _unit(np.asarray(sup_plate["L2"].normal))
    h = v1 @ ax1
    cap = v1[h > h.max() - 2.0]
    ring = cap[np.linalg.norm(cap - cap.mean(0), axis=1) > 0.0]
    sup_plate["L1"] = _endplate(cap, ring, ax1)

    verts: dict[str, Vertebra] = {}
    for name in LUMBAR:
        v, f = bodies[name]
        centroid = _volume_centroid(v, f)
        sp = sup_plate[name]
        ip = inf_plate.get(name)
        verts[name] = Vertebra(
            name=name,
            centroid=_v(centroid),
            superior=sp,
            inferior=ip,
            body_width_mm=sp.width_mm,
            body_depth_mm=sp.depth_mm,
            middle_height_mm=(
                float(np.linalg.norm(np.subtract(sp.centre, ip.centre))) if ip else None
            ),
        )
    verts = _posterior_elements(verts, whole, ligaments, root, facet_gap_mm)
    discs = {
        s: disc_between(verts[parse_segment(s)[0]], verts[parse_segment(s)[1]])
        for s in LUMBAR_SEGMENTS
    }
    geometry = SpineGeometry(
        vertebrae=verts,
        discs=discs,
        source="reference",
        source_detail=(
            "ArtiSynth lumbosacral spine (Remus et al. 2021, PLoS ONE 16(4):e0250456), "
            "Male Visible Human; measured by spinefuse.mechanics.reference"
        ),
    )
    license_text = (root / "LICENSE").read_text() if (root / "LICENSE").is_file() else ""
    return ReferenceSpine(
        geometry=geometry,
        ligaments=ligaments,
        nucleus_area_fraction={s: surfaces[s][4] for s in LUMBAR_SEGMENTS},
        provenance=(
            "Measured from RemusR9/artisynth_lumbosacralSpineModel (BSD-3-Clause), files rigid/, "
            "ligaments/, disc_fe/, facets/.\n" + license_text
        ),
    )


def _posterior_elements(
    verts: dict[str, Vertebra],
    whole: dict[str, Arr],
    ligaments: dict[str, list[LigamentBundle]],
    root: Path,
    gap: float,
) -> dict[str, Vertebra]:
    """Facets, pedicles, spinous and transverse tips, lamina and canal from the meshes."""
    facets: dict[str, dict[FacetName, Facet]] = {n: {} for n in LUMBAR}
    for seg in LUMBAR_SEGMENTS:
        up, low = parse_segment(seg)
        code = _FILE_CODE[seg]
        for side, s_code in (("left", "l"), ("right", "r")):
            sup_pad, _ = _obj_vertices(root / "rigid" / f"{low}_PD{s_code}_a.obj")
            inf_pad, _ = _obj_vertices(root / "facets" / f"{code}Fac{up}{s_code}_i.obj")
            sup, inf = _facet_pair(sup_pad, inf_pad, side, gap)  # type: ignore[arg-type]
            facets[low][f"superior_{side}"] = sup  # type: ignore[index]
            facets[up][f"inferior_{side}"] = inf  # type: ignore[index]
    out: dict[str, Vertebra] = {}
    for name, vert in verts.items():
        frame = vert.frame()
        rot, origin = frame[:3, :3], frame[:3, 3]
        local = (whole[name] - origin) @ rot  # (x right, y anterior, z superior) local
        d = vert.body_depth_mm
        # Lamina: LF attachments on this vertebra (upper ends of its own segment below,
        # lower ends of the segment above).
        lf: list[Vec3] = []
        for seg in LUMBAR_SEGMENTS:
            up, low = parse_segment(seg)
            for b in ligaments[seg]:
                if b.kind == "LF":
                    lf += b.origin if up == name else b.insertion if low == name else []
        lamina = np.mean(np.asarray(lf), axis=0)
        lam_local = (lamina - origin) @ rot
        mid = np.abs(local[:, 0]) < 4.0
        spin = local[mid][np.argmin(local[mid, 1])]
        canal_post = lam_local[1] + 3.0
        canal_ant = -d / 2
        # Pedicles: the medial wall is the innermost bone 6 mm behind the posterior body wall,
        # in the cranial two thirds of the body (the canal lies medial to it).
        z_lo = (
            float(((np.asarray(vert.inferior.centre) - origin) @ rot)[2]) if vert.inferior else -15
        )
        slab = local[(np.abs(local[:, 1] - (canal_ant - 6.0)) < 2.0) & (local[:, 2] > z_lo * 0.3)]
        pedicles: dict[Side, Pedicle] = {}
        dims = dimensions()
        widths = dims["pedicle_width_mm"]["values"]
        heights = dims["pedicle_height_mm"]["values"]
        medial_deg = float(dims["pedicle_medial_angle_deg"]["values"][name])
        caudal_deg = float(dims["pedicle_caudal_angle_deg"]["values"][name])
        medial = {}
        for side in SIDES:
            lat = 1.0 if side == "right" else -1.0
            sp = slab[slab[:, 0] * lat > 2.0]
            wall = float(np.min(np.abs(sp[:, 0]))) if len(sp) else 10.0
            medial[side] = wall
            near = sp[np.abs(np.abs(sp[:, 0]) - wall) < 4.0] if len(sp) else sp
            zc = float(0.5 * (near[:, 2].min() + near[:, 2].max())) if len(near) else 5.0
            w = float(widths[name])
            iso_local = np.array([lat * (wall + w / 2), canal_ant - 6.0, zc])
            m, c = np.radians(medial_deg), np.radians(caudal_deg)
            axis_local = np.array([-lat * np.sin(m) * np.cos(c), np.cos(m) * np.cos(c), -np.sin(c)])
            iso = origin + rot @ iso_local
            axis = rot @ axis_local
            pedicles[side] = Pedicle(
                side=side,
                isthmus_centre=_v(iso),
                axis=_v(_unit(axis)),
                width_mm=w,
                height_mm=float(heights[name]),
                entry_point=_v(iso - 15.0 * axis),
                chord_mm=float(15.0 + d * 0.8),
            )
        cw = medial["left"] + medial["right"]
        cap = max(canal_post - canal_ant, 5.0) if canal_post > canal_ant else 15.0
        canal_c = origin + rot @ np.array([0.0, 0.5 * (canal_ant + lam_local[1]), lam_local[2]])
        trans: dict[Side, Vec3] = {}
        if name != "S1":
            for side in SIDES:
                lat = 1.0 if side == "right" else -1.0
                pts = local[local[:, 0] * lat > 0]
                trans[side] = _v(origin + rot @ pts[np.argmax(np.abs(pts[:, 0]))])
        out[name] = vert.model_copy(
            update={
                "facets": facets[name],
                "pedicles": pedicles,
                "lamina_centre": _v(lamina),
                "spinous_tip": _v(origin + rot @ spin),
                "transverse_tips": trans,
                "canal": Canal(
                    centre=_v(canal_c),
                    ap_diameter_mm=float(abs(lam_local[1] - canal_ant)),
                    width_mm=float(cw),
                    area_mm2=float(np.pi / 4 * cw * cap),
                ),
            }
        )
    return out


@cache
def reference_spine() -> ReferenceSpine:
    """The packaged reference spine (``data/mechanics_reference_spine.json``)."""
    text = resources.files("spinefuse.data").joinpath(_PACKAGED).read_text()
    return ReferenceSpine.from_json(text)


def reference_geometry() -> SpineGeometry:
    """The built-in reference L1–S1 spine (ArtiSynth / Male Visible Human) as a SpineGeometry."""
    return reference_spine().geometry
