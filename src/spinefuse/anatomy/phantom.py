"""Synthetic imaging of a SpineGeometry: a CT volume with its label map, and X-ray landmarks.

The CT is painted analytically, vertebra by vertebra, on the sub-grid around each one (vectorised;
no loop over voxels): soft tissue and posterior fat, discs, the dural sac, then bone — a cortical
shell around trabecular bone whose HU is the vertebra's ``trabecular_hu`` — for the body (an
elliptic cylinder cut by the endplate planes), pedicles (elliptic cylinders along their axes),
lamina, spinous and transverse processes and articular processes. Labels are TotalSegmentator v2
``total`` IDs. Tissue values are in ``data/lumbar_dimensions.yaml`` (``bone_density``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from spinefuse.anatomy.geometry import SpineGeometry, Vertebra
from spinefuse.anatomy.template import dimensions
from spinefuse.conventions import TOTALSEG_V2_VERTEBRAE
from spinefuse.errors import ParameterError
from spinefuse.imaging.volume import Volume
from spinefuse.imaging.xray_landmarks import View, XrayLandmarks

F64 = NDArray[np.float64]
TOTALSEG_ID = {name: label for label, name in TOTALSEG_V2_VERTEBRAE.items()}


def vertebra_points(v: Vertebra) -> F64:
    pts = [v.centroid, v.superior.anterior, v.superior.posterior]
    pts += [p for p in (v.superior.left, v.superior.right, v.spinous_tip, v.lamina_centre) if p]
    if v.inferior is not None:
        pts += [v.inferior.anterior, v.inferior.posterior]
        pts += [p for p in (v.inferior.left, v.inferior.right) if p]
    elif v.middle_height_mm is not None:  # S1: the base of the modelled body
        down = v.middle_height_mm * v.frame()[:3, 2]
        pts += [tuple(np.asarray(q) - down) for q in (v.superior.anterior, v.superior.posterior)]
    pts += list(v.transverse_tips.values())
    pts += [p.entry_point for p in v.pedicles.values() if p.entry_point is not None]
    pts += [f.centre for f in v.facets.values()]
    return np.asarray(pts, dtype=float)


def _spacing(spacing_mm: float | Sequence[float]) -> F64:
    s = np.broadcast_to(np.asarray(spacing_mm, dtype=float), (3,)).copy()
    if not np.all((s >= 0.2) & (s <= 5.0)):
        raise ParameterError(f"spacing_mm = {spacing_mm}: each voxel size must lie in 0.2…5 mm")
    return s


def segment_distance(p: F64, a: F64, b: F64) -> F64:
    """Distance (mm) from points ``p`` (..., 3) to the segment a–b."""
    ab = b - a
    t = np.clip(((p - a) @ ab) / (ab @ ab), 0.0, 1.0)
    return np.asarray(np.linalg.norm(p - a - t[..., None] * ab, axis=-1), dtype=float)


def body_frame(v: Vertebra) -> tuple[F64, F64]:
    """Rotation (columns x, y, z) and the inferior centre of the body's cylinder."""
    f = v.frame()[:3, :3]
    if v.inferior is not None:
        base = np.asarray(v.inferior.centre)
    else:
        assert v.middle_height_mm is not None
        base = np.asarray(v.superior.centre) - v.middle_height_mm * f[:, 2]
    return f, base


def body_masks(v: Vertebra, p: F64, shell_mm: float) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """(body, cortical shell) masks of points ``p`` (..., 3)."""
    f, base = body_frame(v)
    q = (p - base) @ f
    a, b = v.body_width_mm / 2, v.body_depth_mm / 2
    r = np.sqrt((q[..., 0] / a) ** 2 + (q[..., 1] / b) ** 2)
    d_side = (1.0 - r) * min(a, b)
    d_sup = -((p - np.asarray(v.superior.centre)) @ np.asarray(v.superior.normal))
    if v.inferior is not None:
        d_inf = -((p - np.asarray(v.inferior.centre)) @ np.asarray(v.inferior.normal))
    else:
        d_inf = q[..., 2]
    depth = np.minimum(np.minimum(d_side, d_sup), d_inf)
    body = depth >= 0
    return body, body & (depth < shell_mm)


def posterior_mask(v: Vertebra, p: F64) -> NDArray[np.bool_]:
    """Pedicles, pars, lamina, spinous and transverse processes, articular processes."""
    f = v.frame()[:3, :3]
    mask = np.zeros(p.shape[:-1], dtype=bool)
    lam = np.asarray(v.lamina_centre) if v.lamina_centre is not None else None
    for side, ped in v.pedicles.items():
        axis = np.asarray(ped.axis)
        entry = np.asarray(ped.entry_point if ped.entry_point is not None else ped.isthmus_centre)
        u = np.cross(axis, f[:, 2])
        u /= np.linalg.norm(u)
        w = np.cross(u, axis)
        rel = p - entry
        t = rel @ axis
        t_isthmus = float(np.linalg.norm(np.asarray(ped.isthmus_centre) - entry))
        reach = t_isthmus + 20.0  # on into the body, whose wall lies further out laterally
        # an hourglass: narrowest (exactly width × height) at the isthmus, flaring toward the
        # body and the arch as a real pedicle does
        flare = np.minimum(((t - t_isthmus) / 5.0) ** 2, 1.0)  # at most 1.5 × the isthmus
        half_w = ped.width_mm / 2 * (1.0 + 0.5 * flare)
        half_h = ped.height_mm / 2 * (1.0 + 0.2 * flare)
        inside = ((rel @ u) / half_w) ** 2 + ((rel @ w) / half_h) ** 2
        mask |= (inside <= 1.0) & (t >= -3.0) & (t <= reach)
        if lam is not None:
            lat = 1.0 if side == "right" else -1.0
            canal_half = (v.canal.width_mm / 2 if v.canal else 10.0) + 2.0
            pars_end = lam + lat * canal_half * f[:, 0]
            mask |= segment_distance(p, entry, pars_end) <= 4.5
            mask |= segment_distance(p, lam, pars_end) <= 4.0
        tip = v.transverse_tips.get(side)
        if tip is not None:
            mask |= segment_distance(p, entry, np.asarray(tip)) <= 3.0
    if lam is not None and v.spinous_tip is not None:
        mask |= segment_distance(p, lam, np.asarray(v.spinous_tip)) <= 3.5
    for name, facet in v.facets.items():
        c, n = np.asarray(facet.centre), np.asarray(facet.normal)
        root = (
            np.asarray(v.pedicles["right" if name.endswith("right") else "left"].entry_point)
            if v.pedicles
            else c - 8 * n
        )
        mask |= segment_distance(p, c - 4.0 * n, root) <= 4.0
    return mask


def render_ct(
    geometry: SpineGeometry,
    spacing_mm: float | Sequence[float] = 1.0,
    noise_hu: float = 12.0,
    seed: int = 0,
    margin_mm: float = 15.0,
) -> tuple[Volume, Volume]:
    """CT (HU, int16) and label map (TotalSegmentator v2 IDs, uint8) of a geometry, on a grid
    aligned with the world axes (RAS) with voxel size ``spacing_mm`` (one value or three)."""
    spacing = _spacing(spacing_mm)
    if noise_hu < 0:
        raise ParameterError(f"noise_hu = {noise_hu}: must be ≥ 0")
    tissue = dimensions()["bone_density"]
    verts = list(geometry.vertebrae.values())
    allpts = np.concatenate([vertebra_points(v) for v in verts])
    lo = allpts.min(axis=0) - margin_mm
    hi = allpts.max(axis=0) + margin_mm
    shape = tuple(int(n) for n in np.ceil((hi - lo) / spacing).astype(int) + 1)
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = lo
    hu = np.full(shape, tissue["soft_tissue_hu"], dtype=np.float32)
    labels = np.zeros(shape, dtype=np.uint8)

    def grid(points: F64, pad: float) -> tuple[tuple[slice, slice, slice], F64]:
        i0 = np.clip(np.floor((points.min(axis=0) - pad - lo) / spacing), 0, None).astype(int)
        i1 = np.minimum(np.ceil((points.max(axis=0) + pad - lo) / spacing).astype(int) + 1, shape)
        axes = [lo[d] + spacing[d] * np.arange(i0[d], i1[d]) for d in range(3)]
        xyz = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
        return (slice(i0[0], i1[0]), slice(i0[1], i1[1]), slice(i0[2], i1[2])), xyz

    # subcutaneous fat behind the spinous processes
    tips = [v.spinous_tip[1] for v in verts if v.spinous_tip is not None]
    if tips:
        y = lo[1] + spacing[1] * np.arange(shape[1])
        hu[:, y < min(tips) - 12.0, :] = tissue["fat_hu"]
    # the dural sac along the canal: at each vertebra's own level (between its endplate
    # planes), then at each disc level a slab about the disc's mid-plane where disc and
    # ligamentum flavum leave the sac its (possibly stenotic) cross-section
    for v in verts:
        if v.canal is None:
            continue
        sl, p = grid(vertebra_points(v), 4.0)
        f = v.frame()[:3, :3]
        q = (p - np.asarray(v.canal.centre)) @ f
        below_top = (p - np.asarray(v.superior.centre)) @ np.asarray(v.superior.normal) <= 0
        if v.inferior is not None:
            above_bottom = (p - np.asarray(v.inferior.centre)) @ np.asarray(v.inferior.normal) <= 0
        else:
            above_bottom = q[..., 2] >= -(v.middle_height_mm or 25.0)
        ellipse = (q[..., 0] / (0.4 * v.canal.width_mm)) ** 2 + (
            q[..., 1] / (0.4 * v.canal.ap_diameter_mm)
        ) ** 2 <= 1.0
        hu[sl][ellipse & below_top & above_bottom] = tissue["csf_hu"]
    for disc in geometry.discs.values():
        upper, lower = geometry.vertebra(disc.upper), geometry.vertebra(disc.lower)
        assert upper.inferior is not None
        pts = np.array(
            [
                upper.inferior.anterior,
                upper.inferior.posterior,
                lower.superior.anterior,
                lower.superior.posterior,
                upper.inferior.centre,
            ]
        )
        pad = max(lower.body_width_mm, upper.body_width_mm) / 2 + 2
        sl, p = grid(pts, pad)
        f, base = body_frame(lower)
        q = (p - base) @ f
        r = (q[..., 0] / (lower.body_width_mm / 2)) ** 2 + (
            q[..., 1] / (lower.body_depth_mm / 2)
        ) ** 2
        above = (p - np.asarray(lower.superior.centre)) @ np.asarray(lower.superior.normal) > 0
        below = (p - np.asarray(upper.inferior.centre)) @ np.asarray(upper.inferior.normal) > 0
        hu[sl][(r <= 1.0) & above & below] = tissue["disc_hu"]
        if disc.canal is not None:
            mid_n = np.asarray(lower.superior.normal) - np.asarray(upper.inferior.normal)
            mid_n /= np.linalg.norm(mid_n)
            slab = np.abs((p - np.asarray(disc.centre)) @ mid_n) <= disc.middle_height_mm / 2
            c = np.asarray(disc.canal.centre)
            dq = (p - c) @ f
            canal_zone = (dq[..., 0] / (0.5 * disc.canal.width_mm / 0.8)) ** 2 + (
                dq[..., 1] / 12.0
            ) ** 2 <= 1.0
            sac = (dq[..., 0] / (disc.canal.width_mm / 2)) ** 2 + (
                dq[..., 1] / (disc.canal.ap_diameter_mm / 2)
            ) ** 2 <= 1.0
            hu[sl][slab & canal_zone & (r > 1.0)] = tissue["soft_tissue_hu"]
            hu[sl][slab & sac & (r > 1.0)] = tissue["csf_hu"]
    # bone
    for v in verts:
        sl, p = grid(vertebra_points(v), 4.0)
        body, shell = body_masks(v, p, tissue["cortical_thickness_mm"])
        post = posterior_mask(v, p) & ~body
        trab = v.trabecular_hu if v.trabecular_hu is not None else tissue["default_trabecular_hu"]
        block = hu[sl]
        block[body] = trab
        block[shell] = tissue["cortical_hu"]
        block[post] = tissue["posterior_element_hu"]
        lab = labels[sl]
        lab[body | post] = TOTALSEG_ID[v.name]
    if noise_hu > 0:
        hu += np.random.default_rng(seed).normal(0.0, noise_hu, shape).astype(np.float32)
    ct = Volume(
        np.clip(np.rint(hu), -1024, 3071).astype(np.int16),
        affine,
        "CT",
        source=f"phantom of {geometry.source_detail or geometry.source} spine",
    )
    label_map = Volume(labels, affine, "SEG", source="phantom labels (TotalSegmentator v2 IDs)")
    return ct, label_map


def render_xray_landmarks(
    geometry: SpineGeometry,
    view: View,
    role: str = "preop",
    pixel_spacing_mm: float = 0.2,
    margin_mm: float = 40.0,
) -> XrayLandmarks:
    """Endplate corner landmarks of a radiograph of ``geometry`` (unit magnification).

    Lateral: the patient faces image right (anterior = +x on the image), with the hip axis as
    ``femoral_head, centre``. AP: viewed from the front, so the patient's right is on the image
    left and ``superior_left`` is the patient's right corner."""
    if pixel_spacing_mm <= 0:
        raise ParameterError(f"pixel_spacing_mm = {pixel_spacing_mm}: must be > 0")
    world: dict[tuple[str, str], F64] = {}
    for name, v in geometry.vertebrae.items():
        plates = [("superior", v.superior)] + ([("inferior", v.inferior)] if v.inferior else [])
        for which, plate in plates:
            if view == "lateral":
                world[(name, f"{which}_anterior")] = np.asarray(plate.anterior)
                world[(name, f"{which}_posterior")] = np.asarray(plate.posterior)
            else:
                if plate.left is None or plate.right is None:
                    continue
                world[(name, f"{which}_left")] = np.asarray(plate.right)
                world[(name, f"{which}_right")] = np.asarray(plate.left)
    if view == "lateral" and geometry.pelvis is not None:
        world[("femoral_head", "centre")] = np.asarray(geometry.pelvis.hip_axis_centre)
    pts = np.array(list(world.values()))
    # image axes: lateral u = +y (anterior), AP u = -x (patient right on the left); v = -z
    u_world = pts[:, 1] if view == "lateral" else -pts[:, 0]
    u0, v0 = u_world.min() - margin_mm, -pts[:, 2].max() - margin_mm
    size = (
        int(np.ceil((u_world.max() + margin_mm - u0) / pixel_spacing_mm)),
        int(np.ceil((-pts[:, 2].min() + margin_mm - v0) / pixel_spacing_mm)),
    )
    points = {
        key: (
            float(((p[1] if view == "lateral" else -p[0]) - u0) / pixel_spacing_mm),
            float((-p[2] - v0) / pixel_spacing_mm),
        )
        for key, p in world.items()
    }
    return XrayLandmarks(
        view=view,
        points=points,
        image_size=size,
        pixel_spacing_mm=pixel_spacing_mm,
        role=role,
        source=f"phantom radiograph ({view}, {role})",
    )
