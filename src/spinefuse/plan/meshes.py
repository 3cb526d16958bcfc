"""Implant surface meshes in the patient's world frame (RAS, mm), written as STL.

Screws are a shaft cylinder with a conical tip and a head; rods are tubes through the head
centres extended by the overhang; cages are wedges (lordosis) on the lower endplate's frame, two
side by side for PLIF. STL carries no unit: coordinates are millimetres, as in the CT.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import trimesh
from numpy.typing import NDArray

from spinefuse.plan.catalogue import Catalogue, default_catalogue
from spinefuse.plan.rules import planning_rules
from spinefuse.plan.surgical_plan import Cage, PedicleScrew, Rod, SurgicalPlan
from spinefuse.records import write_atomic

SECTIONS = 24


def _align(z: NDArray[np.float64], origin: NDArray[np.float64]) -> NDArray[np.float64]:
    """4×4 transform taking the local z axis to ``z`` and the local origin to ``origin``."""
    z = z / np.linalg.norm(z)
    helper = np.array([1.0, 0.0, 0.0]) if abs(z[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    x = np.cross(helper, z)
    x /= np.linalg.norm(x)
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = x, np.cross(z, x), z, origin
    return m


def _tube(a: NDArray[np.float64], b: NDArray[np.float64], radius: float) -> trimesh.Trimesh:
    d = b - a
    return trimesh.creation.cylinder(
        radius=radius,
        height=float(np.linalg.norm(d)),
        sections=SECTIONS,
        transform=_align(d, (a + b) / 2.0),
    )


def screw_mesh(screw: PedicleScrew, catalogue: Catalogue) -> trimesh.Trimesh:
    """A screw: shaft from the entry point, conical tip, head behind the entry point."""
    e, d = np.asarray(screw.entry_point), np.asarray(screw.direction)
    r = screw.diameter_mm / 2.0
    tip_len = min(1.5 * r, screw.length_mm / 3.0)
    shaft = _tube(e, e + (screw.length_mm - tip_len) * d, r)
    cone = trimesh.creation.cone(
        radius=r,
        height=tip_len,
        sections=SECTIONS,
        transform=_align(d, e + (screw.length_mm - tip_len) * d),
    )
    h = catalogue.screws.head_height_mm
    head = _tube(e - h * d, e, catalogue.screws.head_diameter_mm / 2.0)
    return trimesh.util.concatenate([shaft, cone, head])


def rod_mesh(rod: Rod, overhang_mm: float) -> trimesh.Trimesh:
    """A rod through its points, extended by the overhang at both ends."""
    p = np.asarray(rod.points, dtype=float)
    first = (p[0] - p[1]) / np.linalg.norm(p[0] - p[1])
    last = (p[-1] - p[-2]) / np.linalg.norm(p[-1] - p[-2])
    p = (
        np.vstack([p[0] + overhang_mm * first, p[1:-1], p[-1] + overhang_mm * last])
        if len(p) > 2
        else np.vstack([p[0] + overhang_mm * first, p[-1] + overhang_mm * last])
    )
    r = rod.diameter_mm / 2.0
    parts = [_tube(p[i], p[i + 1], r) for i in range(len(p) - 1)]
    parts += [
        trimesh.creation.icosphere(subdivisions=2, radius=r).apply_translation(q) for q in p[1:-1]
    ]
    return trimesh.util.concatenate(parts)


def cage_mesh(cage: Cage) -> trimesh.Trimesh:
    """A cage (two for PLIF) as a lordotic wedge in the lower endplate's frame (the world axes
    when the cage carries no orientation)."""
    z = np.asarray(cage.normal if cage.normal is not None else (0.0, 0.0, 1.0))
    y = np.asarray(cage.anterior if cage.anterior is not None else (0.0, 1.0, 0.0))
    x = np.cross(y, z)
    w, dpt, h = cage.width_mm, cage.depth_mm, cage.height_mm
    rise = dpt * np.tan(np.radians(cage.lordosis_deg)) / 2.0
    parts = []
    offsets = [0.0] if cage.count == 1 else [-(w / 2 + 2.0), w / 2 + 2.0]
    for off in offsets:
        corners = []
        for sx in (-0.5, 0.5):
            for sy in (-0.5, 0.5):
                top = h / 2 + rise * (2 * sy)  # taller anteriorly
                for sz in (-1.0, 1.0):
                    local = np.array([off + sx * w, sy * dpt, sz * max(top, 0.5)])
                    corners.append(np.asarray(cage.centre) + local @ np.vstack([x, y, z]))
        parts.append(trimesh.convex.convex_hull(np.asarray(corners)))
    return trimesh.util.concatenate(parts)


def write_implant_meshes(
    plan: SurgicalPlan, out_dir: str | Path, catalogue: Catalogue | None = None
) -> list[Path]:
    """Write every screw, rod and cage of ``plan`` as binary STL in patient RAS mm; returns the
    paths written. Each file is written atomically."""
    cat = catalogue or default_catalogue()
    out = Path(out_dir)
    meshes: dict[str, trimesh.Trimesh] = {}
    for s in plan.screws:
        meshes[f"screw_{s.vertebra}_{s.side}.stl"] = screw_mesh(s, cat)
    overhang = planning_rules().rod_overhang_mm.value
    for r in plan.rods:
        meshes[f"rod_{r.side}.stl"] = rod_mesh(r, overhang)
    for c in plan.cages:
        meshes[f"cage_{c.segment}.stl"] = cage_mesh(c)
    paths = []
    for name, mesh in meshes.items():
        data = mesh.export(file_type="stl")
        paths.append(write_atomic(out / name, data if isinstance(data, bytes) else data.encode()))
    return paths
