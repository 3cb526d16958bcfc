"""The reduced-order spine model: rigid vertebrae joined, per motion segment, by a nonlinear
6-DOF disc, tension-only ligaments, unilateral facet contacts and (after surgery) cages, rods
on pedicle screws and fusion masses.

:func:`build_model` turns a batch of (SpineGeometry, Construct) pairs into :class:`SegmentArrays`
— one per motion segment, every array with the batch as its first axis, every point in the
segment's disc frame (origin at the disc centre; z along the mean endplate normal, cranial;
y anterior; x right; mm). Element counts are padded to be equal across the batch (absent
elements have zero stiffness), so one vectorised solve serves one patient or thousands.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from spinefuse.anatomy.geometry import SpineGeometry, Vertebra
from spinefuse.conventions import LUMBAR_SEGMENTS, SIDES, parse_segment
from spinefuse.errors import GeometryError, LevelError
from spinefuse.mechanics.constructs import CageSpec, Construct, RodSpec
from spinefuse.mechanics.parameters import parameters, value
from spinefuse.mechanics.reference import LigamentBundle, reference_spine

Arr = NDArray[np.float64]

FACET_POINTS = 5  # per side
CAGE_POINTS = 5  # per cage, at most two cages per segment
N_CONTACT = 2 * FACET_POINTS + 2 * CAGE_POINTS
BUSHINGS = ("rod_left", "rod_right", "fusion_interbody", "fusion_left", "fusion_right")


@dataclass(frozen=True)
class SegmentArrays:
    """Elements of one motion segment for a batch of B spines (disc frame, mm, N, rad)."""

    segment: str
    frame: Arr  # (B, 4, 4) disc frame -> world, undeformed
    disc_k_lin: Arr  # (B, 3, 2) N·mm/rad beyond the transition, (negative, positive) side
    disc_theta_t: Arr  # (B, 3, 2) rad, transition angle
    disc_rot_scale: Arr  # (B,) 1 intact, < 1 after discectomy
    disc_axial_scale: Arr  # (B,)
    disc_area: Arr  # (B,) mm²
    disc_height: Arr  # (B,) mm
    lig_a: Arr  # (B, L, 3) on the upper vertebra
    lig_b: Arr  # (B, L, 3) on the lower vertebra
    lig_l0: Arr  # (B, L) rest length
    lig_k: Arr  # (B, L) N per unit strain (0 = removed)
    lig_et: Arr  # (B, L) transition strain
    lig_kind: tuple[str, ...]  # (L,)
    con_p: Arr  # (B, P, 3) contact points on the upper vertebra
    con_c: Arr  # (B, P, 3) plane points on the lower vertebra
    con_n: Arr  # (B, P, 3) plane normals (force on the upper body along +n)
    con_k: Arr  # (B, P) N/mm (0 = absent)
    con_w: Arr  # (B, P) smoothing width, mm
    bsh_p: Arr  # (B, K, 3) bushing points (upper end)
    bsh_k: Arr  # (B, K, 6, 6) stiffness on (rotation, displacement), N·mm/rad, N/mm
    rod_axis: Arr  # (B, 2, 3) unit axis lower -> upper head
    rod_length: Arr  # (B, 2) mm
    rod_section: Arr  # (B, 2, 3) area mm², second moment mm⁴, outer radius mm
    rod_material: Arr  # (B, 2, 3) ultimate, endurance, notch factor (MPa, MPa, -)
    cage_area: Arr  # (B,) total cage footprint mm² (0 = no cage)
    prestress: Arr  # (B, 6) disc pre-stress balancing the intact ligaments' pre-tension at rest
    to_lower: Arr  # (B, 3, 3) disc-frame components -> lower-vertebra-frame components


@dataclass(frozen=True)
class SpineModel:
    """The model of a batch of spines: its segments head to pelvis and their elements."""

    segments: tuple[str, ...]
    arrays: tuple[SegmentArrays, ...]
    batch: int

    def segment(self, name: str) -> SegmentArrays:
        return self.arrays[self.segments.index(name)]


def _unit(v: Arr) -> Arr:
    return np.asarray(v / np.linalg.norm(v, axis=-1, keepdims=True))


def disc_frame(upper: Vertebra, lower: Vertebra) -> Arr:
    """4×4 disc frame (disc frame -> world) of the segment between two vertebrae."""
    if upper.inferior is None:
        raise GeometryError(f"{upper.name} has no inferior endplate")
    top, bottom = upper.inferior, lower.superior
    z = _unit(np.asarray(bottom.normal) - np.asarray(top.normal))
    a = np.asarray(bottom.anterior) - np.asarray(bottom.posterior)
    y = _unit(a - z * (a @ z))
    x = np.cross(y, z)
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2] = x, y, z
    m[:3, 3] = 0.5 * (np.asarray(top.centre) + np.asarray(bottom.centre))
    return m


def _to_local(frame: Arr, p: Arr) -> Arr:
    return np.asarray((p - frame[:3, 3]) @ frame[:3, :3])


class _Atlas:
    """Maps points on a reference vertebra onto a target vertebra: same place in the
    vertebra's local frame, scaled by the ratio of body width (x), depth (y) and their mean (z)."""

    def __init__(self, ref: Vertebra, target: Vertebra) -> None:
        fr, ft = ref.frame(), target.frame()
        sx = target.body_width_mm / ref.body_width_mm
        sy = target.body_depth_mm / ref.body_depth_mm
        scale = np.array([sx, sy, 0.5 * (sx + sy)])
        self.linear = fr[:3, :3] @ np.diag(scale) @ ft[:3, :3].T  # row-vector form
        self.offset = ft[:3, 3] - fr[:3, 3] @ self.linear
        self.rotation = ft[:3, :3] @ fr[:3, :3].T  # for directions

    def __call__(self, points: Arr) -> Arr:
        return np.asarray(points @ self.linear + self.offset)


def merged_lines(bundle: LigamentBundle, lines: int) -> tuple[Arr, Arr, Arr]:
    """A ligament's parallel springs merged into ``lines`` lines: the springs are ordered from
    right to left (a midline ligament) or by their angle about the bundle's centre in the
    coronal plane (mirrored for the left side, so left and right bundles merge alike) and
    consecutive ones grouped, the group sizes
    symmetric about the middle; each line joins its
    group's mean origin and mean insertion and carries the summed stiffness (N per unit
    strain). Returns origins, insertions (world, mm) and stiffnesses."""
    o, i = np.asarray(bundle.origin), np.asarray(bundle.insertion)
    mid = 0.5 * (o + i)
    rel = mid - mid.mean(0)
    mirror = -1.0 if bundle.side == "left" else 1.0
    if bundle.side is None:  # a midline ligament: from right to left
        order = np.argsort(-rel[:, 0] + 1e-6 * rel[:, 2], kind="stable")
    else:
        order = np.argsort(np.arctan2(rel[:, 2], mirror * rel[:, 0]), kind="stable")
    lines = min(lines, len(o))
    sizes = [len(o) // lines] * lines
    for j in range(len(o) % lines):  # extra springs to the outer groups, symmetrically
        sizes[j // 2 if j % 2 == 0 else lines - 1 - j // 2] += 1
    groups = np.split(order, np.cumsum(sizes)[:-1])
    return (
        np.asarray([o[g].mean(0) for g in groups]),
        np.asarray([i[g].mean(0) for g in groups]),
        np.asarray([bundle.stiffness_n_per_strain * len(g) for g in groups]),
    )


@dataclass(frozen=True)
class _ReferenceLines:
    """The reference spine's merged ligament lines of one segment (world, mm)."""

    origin: Arr  # (L, 3) on the upper vertebra
    insertion: Arr  # (L, 3) on the lower vertebra
    stiffness: Arr  # (L,) N per unit strain, calibrated scale applied
    reference_strain: Arr  # (L,)
    transition_strain: Arr  # (L,)
    kind: tuple[str, ...]  # ligament kind per line
    side: tuple[str | None, ...]


_LINES: dict[tuple[str, float], _ReferenceLines] = {}


def reference_lines(seg: str) -> _ReferenceLines:
    """Merged ligament lines of a segment of the reference spine (computed once)."""
    scale = value("calibrated_ligament_scale")
    key = (seg, scale)
    if key not in _LINES:
        groups = parameters()["ligament_lines"]
        o_l, i_l, k_l, er, et, kinds, sides = [], [], [], [], [], [], []
        for bundle in reference_spine().ligaments[seg]:
            o, i, k = merged_lines(bundle, int(groups[bundle.kind]))
            o_l.append(o)
            i_l.append(i)
            k_l.append(scale * k)
            er += [bundle.reference_strain] * len(o)
            et += [bundle.transition_strain] * len(o)
            kinds += [bundle.kind] * len(o)
            sides += [bundle.side] * len(o)
        _LINES[key] = _ReferenceLines(
            np.vstack(o_l),
            np.vstack(i_l),
            np.concatenate(k_l),
            np.asarray(er),
            np.asarray(et),
            tuple(kinds),
            tuple(sides),
        )
    return _LINES[key]


def _ligaments(
    seg: str, atlas: dict[str, _Atlas], construct: Construct, frame: Arr
) -> tuple[Arr, Arr, Arr, Arr, Arr, Arr, tuple[str, ...]]:
    """Ligament lines of a segment mapped onto this spine: upper and lower points (disc frame),
    rest length, stiffness (0 where removed), transition strain, intact stiffness, kinds."""
    up, low = parse_segment(seg)
    ref = reference_lines(seg)
    removed = set(construct.removed_ligaments.get(seg, []))
    cut_sides = set(construct.facetectomy.get(seg, []))
    gone = np.array(
        [
            kind in removed or (kind == "CL" and side in cut_sides)
            for kind, side in zip(ref.kind, ref.side, strict=True)
        ]
    )
    o, i = atlas[up](ref.origin), atlas[low](ref.insertion)
    l0 = np.linalg.norm(o - i, axis=1) * (1.0 + ref.reference_strain)
    kinds = tuple(k if s is None else f"{k}_{s}" for k, s in zip(ref.kind, ref.side, strict=True))
    return (
        _to_local(frame, o),
        _to_local(frame, i),
        l0,
        np.where(gone, 0.0, ref.stiffness),
        ref.transition_strain,
        ref.stiffness,
        kinds,
    )


def _facet_contacts(
    seg: str, g: SpineGeometry, construct: Construct, frame: Arr, atlas: dict[str, _Atlas]
) -> tuple[Arr, Arr, Arr, Arr]:
    up, low = parse_segment(seg)
    uv, lv = g.vertebra(up), g.vertebra(low)
    ref = reference_spine().geometry
    k_joint = value("facet", "contact_stiffness_n_per_mm")
    ratio = value("facet", "points_radius_ratio")
    cut = set(construct.facetectomy.get(seg, []))
    ps, cs, ns, ks = [], [], [], []
    for side in SIDES:
        # The articular surfaces come from the reference spine, mapped onto this spine's
        # vertebrae: Facet records from templates and label maps carry no reliable sagittal
        # inclination, which decides whether the joint engages in extension.
        sup = lv.facets.get(f"superior_{side}") if g.source == "reference" else None  # type: ignore[call-overload]
        inf = uv.facets.get(f"inferior_{side}") if g.source == "reference" else None  # type: ignore[call-overload]
        if sup is None or inf is None:
            rs = ref.vertebra(low).facets[f"superior_{side}"]  # type: ignore[index]
            ri = ref.vertebra(up).facets[f"inferior_{side}"]  # type: ignore[index]
            # the joint moves with the lower vertebra and keeps the reference joint's gap
            c_s = atlas[low](np.asarray([rs.centre]))[0]
            n_s = atlas[low].rotation @ np.asarray(rs.normal)
            gap = float((np.asarray(ri.centre) - np.asarray(rs.centre)) @ np.asarray(rs.normal))
            c_i = c_s + gap * n_s
            area = rs.area_mm2
        else:
            c_s, c_i, n_s, area = (
                np.asarray(sup.centre),
                np.asarray(inf.centre),
                np.asarray(sup.normal),
                sup.area_mm2,
            )
        n_s = _unit(n_s)
        r = ratio * np.sqrt(area / np.pi)
        e1 = _unit(np.cross(n_s, frame[:3, 0]))
        e2 = np.cross(n_s, e1)
        offsets = np.array([[0, 0], [1, 0], [-1, 0], [0, 1], [0, -1]], dtype=float) * r
        pts = c_i + offsets[:, :1] * e1 + offsets[:, 1:] * e2
        ps.append(pts)
        cs.append(np.repeat(c_s[None], FACET_POINTS, 0))
        ns.append(np.repeat(n_s[None], FACET_POINTS, 0))
        ks.append(np.full(FACET_POINTS, 0.0 if side in cut else k_joint / FACET_POINTS))
    p = _to_local(frame, np.vstack(ps))
    c = _to_local(frame, np.vstack(cs))
    n = np.vstack(ns) @ frame[:3, :3]
    return p, c, n, np.concatenate(ks)


def trabecular_modulus_mpa(hu: float) -> float:
    """Trabecular bone modulus (MPa) from CT density (HU): ρ = a·HU + b, E = c·ρ^d."""
    p = parameters()["bone"]
    rho = max(p["density_from_hu"]["slope"] * hu + p["density_from_hu"]["intercept"], 0.05)
    return float(p["modulus_from_density"]["a"] * rho ** p["modulus_from_density"]["b"])


def _bone_hu(v: Vertebra) -> float:
    if v.trabecular_hu is not None:
        return v.trabecular_hu
    return value("bone", "default_trabecular_hu")


def _cage_contacts(
    cage: CageSpec, g: SpineGeometry, frame: Arr, disc_area: float
) -> tuple[Arr, Arr, Arr, Arr, float]:
    up, low = parse_segment(cage.segment)
    fp = parameters()["cage"]["footprints"][cage.technique]
    width = cage.width_mm or float(fp["width_mm"])
    depth = cage.depth_mm or float(fp["depth_mm"])
    count = cage.count if cage.count > 1 else int(fp.get("count", 1))
    lower = g.vertebra(low).superior
    if cage.centre is not None:
        centre = _to_local(frame, np.asarray(cage.centre))
    else:
        centre = np.array([0.0, float(fp["ap_offset"]) * lower.depth_mm, 0.0])
    lateral = float(fp.get("lateral_offset_mm", 0.0)) if count == 2 else 0.0
    e_cage = value("cage", f"{cage.material}_modulus_mpa")
    hu = 0.5 * (_bone_hu(g.vertebra(up)) + _bone_hu(g.vertebra(low)))
    e_bone = trabecular_modulus_mpa(hu) * value("cage", "endplate_modulus_ratio")
    nu = value("bone", "poisson")
    area = width * depth
    h = float(g.disc(cage.segment).middle_height_mm)
    radius = np.sqrt(area / np.pi)
    k_punch = 2.0 * e_bone / (1.0 - nu**2) * radius  # rigid circular punch on a half-space
    k_cage = e_cage * area / max(h, 1.0)
    k_one = 1.0 / (1.0 / k_cage + 2.0 / k_punch)  # cage in series with both endplates
    corners = np.array([[0, 0], [1, 1], [1, -1], [-1, 1], [-1, -1]], dtype=float) * 0.4
    ps, ks = [], []
    for j in range(2):
        if j < count:
            off = np.array([(-1) ** j * lateral if count == 2 else 0.0, 0.0])
            xy = centre[:2] + off + corners * np.array([width, depth])
            pts = np.column_stack([xy, np.full(CAGE_POINTS, 0.5 * h)])
            ps.append(pts)
            ks.append(np.full(CAGE_POINTS, k_one / CAGE_POINTS))
        else:
            ps.append(np.zeros((CAGE_POINTS, 3)))
            ks.append(np.zeros(CAGE_POINTS))
    p = np.vstack(ps)
    n = np.repeat(np.array([[0.0, 0.0, 1.0]]), 2 * CAGE_POINTS, 0)
    width_s = value("facet", "smoothing_mm")
    # The cage touches the upper endplate at rest with zero force: its plane lies one
    # smoothing width below the contact points.
    c = p.copy()
    c[:, 2] = 0.5 * h - width_s
    return p, c, n, np.concatenate(ks), area * count


def beam_stiffness(
    a: Arr, b: Arr, e_mpa: float, area: float, inertia: float, nu: float = 0.3
) -> Arr:
    """6×6 stiffness of a straight Euler–Bernoulli beam from ``b`` (clamped) to ``a`` at its
    free end ``a``, on (rotation, displacement) in the frame of the points (N·mm/rad, N/mm)."""
    d = a - b
    length = float(np.linalg.norm(d))
    ex = d / length
    helper = np.array([1.0, 0.0, 0.0]) if abs(ex[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    ey = _unit(np.cross(helper, ex))
    ez = np.cross(ex, ey)
    lam = np.stack([ex, ey, ez])  # rows: local axes
    ei, g = e_mpa * inertia, e_mpa / (2.0 * (1.0 + nu))
    L = length
    k = np.zeros((6, 6))  # local order (u, v, w, θx, θy, θz), end node of a frame element
    k[0, 0] = e_mpa * area / L
    k[1, 1] = k[2, 2] = 12.0 * ei / L**3
    k[1, 5] = k[5, 1] = -6.0 * ei / L**2
    k[2, 4] = k[4, 2] = 6.0 * ei / L**2
    k[3, 3] = g * 2.0 * inertia / L
    k[4, 4] = k[5, 5] = 4.0 * ei / L
    t = np.zeros((6, 6))
    t[:3, :3] = t[3:, 3:] = lam
    kg = t.T @ k @ t  # global (u, θ)
    out = np.empty((6, 6))  # reorder to (θ, u)
    out[:3, :3], out[:3, 3:], out[3:, :3], out[3:, 3:] = (
        kg[3:, 3:],
        kg[3:, :3],
        kg[:3, 3:],
        kg[:3, :3],
    )
    return out


def _screw_head(g: SpineGeometry, rod: RodSpec, name: str) -> tuple[Arr, float, Arr]:
    v = g.vertebra(name)
    ped = v.pedicles.get(rod.side)
    offset = value("rod", "head_offset_mm")
    if ped is not None:
        axis = np.asarray(ped.axis)
        entry = np.asarray(
            rod.heads.get(name)
            or ped.entry_point
            or tuple(np.asarray(ped.isthmus_centre) - 15.0 * axis)
        )
    else:
        f = v.frame()
        axis = f[:3, 1]
        lat = 1.0 if rod.side == "right" else -1.0
        entry = np.asarray(
            rod.heads.get(name)
            or tuple(
                f[:3, 3] + f[:3, :3] @ np.array([lat * 20.0, -v.body_depth_mm / 2 - 20.0, 5.0])
            )
        )
    length = float(rod.screw_length_mm.get(name, value("rod", "default_screw_length_mm")))
    return entry - offset * axis, length, entry


def _rod_span(
    rod: RodSpec, seg: str, g: SpineGeometry, frame: Arr
) -> tuple[Arr, Arr, Arr, float, Arr, Arr]:
    up, low = parse_segment(seg)
    head_u, len_u, entry_u = _screw_head(g, rod, up)
    head_l, len_l, entry_l = _screw_head(g, rod, low)
    mat = parameters()["rod"][rod.material]
    e = float(mat["modulus_mpa"]["value"])
    d = rod.diameter_mm
    area, inertia = np.pi * d**2 / 4.0, np.pi * d**4 / 64.0
    a, b = _to_local(frame, head_u), _to_local(frame, head_l)
    k_beam = beam_stiffness(a, b, e, area, inertia)
    compliance = np.linalg.inv(k_beam)
    foundation = value("bone", "foundation_ratio")
    core = value("rod", "screw_core_diameter_mm")
    e_screw = float(parameters()["rod"]["titanium"]["modulus_mpa"]["value"])
    for name, length, head, entry in ((up, len_u, a, entry_u), (low, len_l, b, entry_l)):
        # the screw shank between the bone and the head bends as a cantilever ...
        shank = beam_stiffness(
            head, _to_local(frame, entry), e_screw, np.pi * core**2 / 4, np.pi * core**4 / 64
        )
        compliance += np.linalg.inv(shank)
        # ... and the screw's threaded part sits on the bone as on an elastic foundation
        kf = trabecular_modulus_mpa(_bone_hu(g.vertebra(name))) * foundation
        k_lat, k_rot = kf * length, kf * length**3 / 12.0
        compliance += np.diag([1.0 / k_rot] * 3 + [1.0 / k_lat] * 3)
    k_eff = np.linalg.inv(compliance)
    length = float(np.linalg.norm(a - b))
    section = np.array([area, inertia, d / 2.0])
    limits = np.array(
        [
            float(mat["ultimate_mpa"]["value"]),
            float(mat["endurance_mpa"]["value"]),
            float(mat["notch_factor"]["value"]),
        ]
    )
    return a, 0.5 * (k_eff + k_eff.T), (a - b) / length, length, section, limits


def fusion_modulus_mpa(fraction: float | Arr) -> Arr:
    """Fusion-mass modulus (MPa) at bone fraction φ: E_mature · φ^n (cellular solid)."""
    phi = np.clip(np.asarray(fraction, dtype=float), 0.0, 1.0)
    return np.asarray(
        value("fusion_mass", "mature_bone_modulus_mpa")
        * phi ** value("fusion_mass", "density_exponent")
    )


def fusion_regions(g: SpineGeometry, seg: str) -> dict[str, tuple[Arr, Arr, float]]:
    """Graft regions of a segment: name -> (upper point, lower point, area mm²), world frame."""
    up, low = parse_segment(seg)
    uv, lv = g.vertebra(up), g.vertebra(low)
    assert uv.inferior is not None
    ep_area = 0.5 * (uv.inferior.area_mm2 + lv.superior.area_mm2)
    out = {
        "interbody": (
            np.asarray(uv.inferior.centre),
            np.asarray(lv.superior.centre),
            value("fusion_mass", "interbody_area_fraction") * ep_area,
        )
    }
    for side in SIDES:
        pts = []
        for v in (uv, lv):
            ped = v.pedicles.get(side)
            f = v.frame()
            lat = 1.0 if side == "right" else -1.0
            base = (
                np.asarray(ped.entry_point or ped.isthmus_centre)
                if ped is not None
                else f[:3, 3] + f[:3, :3] @ np.array([lat * 20.0, -v.body_depth_mm / 2 - 15.0, 0.0])
            )
            tip = v.transverse_tips.get(side)
            pts.append(0.5 * (base + np.asarray(tip)) if tip is not None else base)
        out[f"posterolateral_{side}"] = (
            pts[0],
            pts[1],
            value("fusion_mass", "posterolateral_area_mm2"),
        )
    return out


def _disc_law(seg: str, g: SpineGeometry) -> tuple[Arr, Arr, float, float]:
    """Calibrated disc law of the segment, scaled from the reference disc to this one."""
    cal = parameters()["calibrated_disc"][seg]
    k = np.empty((3, 2))
    tt = np.empty((3, 2))
    # axis 0 (x): negative rotation = flexion; axis 1 (y): positive = right bending;
    # axis 2 (z): negative = right axial rotation. Lateral and axial laws are symmetric.
    order = (
        ("flexion", "extension"),
        ("lateral_bending", "lateral_bending"),
        ("axial_rotation", "axial_rotation"),
    )
    for ax, (neg, pos) in enumerate(order):
        for j, motion in enumerate((neg, pos)):
            k[ax, j] = float(cal[motion]["stiffness_nm_per_deg"]) * 1000.0 * 180.0 / np.pi
            tt[ax, j] = float(cal[motion]["transition_deg"]) * np.pi / 180.0
    up, low = parse_segment(seg)
    uv, lv = g.vertebra(up), g.vertebra(low)
    assert uv.inferior is not None
    area = 0.5 * (uv.inferior.area_mm2 + lv.superior.area_mm2)
    height = float(g.disc(seg).middle_height_mm)
    ref = reference_spine().geometry
    ru, rl = ref.vertebra(up), ref.vertebra(low)
    assert ru.inferior is not None
    ref_area = 0.5 * (ru.inferior.area_mm2 + rl.superior.area_mm2)
    ref_height = float(ref.disc(seg).middle_height_mm)
    n = value("disc", "reference_area_scaling_exponent")
    scale = (area / ref_area) ** n * ref_height / max(height, 1.0)
    return k * scale, tt, area, height


def check_geometry(g: SpineGeometry) -> tuple[str, ...]:
    """The lumbar segments of a geometry the model can load (contiguous, with discs)."""
    transitional = [s for s in g.discs if "L6" in s]
    if transitional:
        raise LevelError(
            f"lumbosacral transitional anatomy ({', '.join(transitional)}) is not modelled: the "
            "calibrated disc laws cover L1-L2 ... L5-S1 only; relabel the levels or simulate "
            "the standard segments of this spine"
        )
    segs = tuple(s for s in LUMBAR_SEGMENTS if s in g.discs)
    if not segs:
        raise LevelError(
            f"no lumbar motion segment in this geometry (discs: {', '.join(g.discs) or 'none'}); "
            "the mechanics model needs at least one of L1-L2 ... L5-S1"
        )
    idx = [LUMBAR_SEGMENTS.index(s) for s in segs]
    if idx != list(range(idx[0], idx[-1] + 1)):
        raise LevelError(f"lumbar segments {', '.join(segs)} are not contiguous")
    for s in segs:
        for name in parse_segment(s):
            if g.vertebra(name).partial:
                raise GeometryError(
                    f"vertebra {name} is cut by the field of view; "
                    f"its segment {s} cannot be modelled"
                )
    return segs


def build_model(
    geometries: list[SpineGeometry],
    constructs: list[Construct],
    segments: tuple[str, ...] | None = None,
) -> SpineModel:
    """The batched model of ``geometries[i]`` with ``constructs[i]`` applied.

    ``segments`` (contiguous) restricts the model to those motion segments, the vertebra below
    the lowest one held fixed: enough where only they matter and the loads are carried
    through each segment anyway (pure moments, follower load)."""
    if len(geometries) != len(constructs) or not geometries:
        raise GeometryError(
            "build_model needs one construct per geometry, "
            f"got {len(geometries)} and {len(constructs)}"
        )
    segs = check_geometry(geometries[0])
    for i, g in enumerate(geometries[1:], 1):
        if check_geometry(g) != segs:
            raise GeometryError(f"spine {i} has segments {check_geometry(g)}, spine 0 has {segs}")
    if segments is not None:
        missing = [s for s in segments if s not in segs]
        if missing or not segments:
            raise LevelError(f"segments {missing or segments} are not in the geometry ({segs})")
        idx = [segs.index(s) for s in segments]
        if idx != list(range(idx[0], idx[0] + len(idx))):
            raise LevelError(f"segments {segments} are not contiguous")
        segs = tuple(segments)
    for c in constructs:
        for s in [
            *c.facetectomy,
            *c.removed_ligaments,
            *c.discectomy,
            *(x.segment for x in c.cages),
        ]:
            if s not in segs and segments is None:
                raise LevelError(
                    f"construct names segment {s}, which is not modelled ({', '.join(segs)})"
                )
    arrays = tuple(_segment_arrays(seg, geometries, constructs) for seg in segs)
    return SpineModel(segments=segs, arrays=arrays, batch=len(geometries))


def _segment_arrays(seg: str, gs: list[SpineGeometry], cs: list[Construct]) -> SegmentArrays:
    rows: dict[str, list[object]] = {}

    def put(key: str, v: object) -> None:
        rows.setdefault(key, []).append(v)

    kinds: tuple[str, ...] = ()
    an = reference_spine().nucleus_area_fraction[seg]
    for g, c in zip(gs, cs, strict=True):
        frame = disc_frame(g.vertebra(parse_segment(seg)[0]), g.vertebra(parse_segment(seg)[1]))
        put("frame", frame)
        lower_frame = g.vertebra(parse_segment(seg)[1]).frame()
        put("to_lower", lower_frame[:3, :3].T @ frame[:3, :3])
        k, tt, area, height = _disc_law(seg, g)
        cut = seg in c.discectomy
        put("disc_k_lin", k)
        put("disc_theta_t", tt)
        put("disc_rot_scale", 1.0 - an**2 if cut else 1.0)
        put("disc_axial_scale", 1.0 - an if cut else 1.0)
        put("disc_area", area)
        put("disc_height", height)
        ref = reference_spine().geometry
        atlas = {v: _Atlas(ref.vertebra(v), g.vertebra(v)) for v in parse_segment(seg)}
        la, lb, l0, lk, let, lk0, kinds = _ligaments(seg, atlas, c, frame)
        put("prestress", _prestress(la, lb, l0, lk0, let))
        for key, v in (
            ("lig_a", la),
            ("lig_b", lb),
            ("lig_l0", l0),
            ("lig_k", lk),
            ("lig_et", let),
        ):
            put(key, v)
        fp, fc, fn, fk = _facet_contacts(seg, g, c, frame, atlas)
        cages = [x for x in c.cages if x.segment == seg]
        if len(cages) > 1:
            raise GeometryError(
                f"{seg}: {len(cages)} cage entries; give one (count=2 for paired PLIF)"
            )
        if cages:
            cp, cc, cn, ck, carea = _cage_contacts(cages[0], g, frame, area)
        else:
            cp = cc = np.zeros((2 * CAGE_POINTS, 3))
            cn = np.repeat(np.array([[0.0, 0.0, 1.0]]), 2 * CAGE_POINTS, 0)
            ck, carea = np.zeros(2 * CAGE_POINTS), 0.0
        put("con_p", np.vstack([fp, cp]))
        put("con_c", np.vstack([fc, cc]))
        put("con_n", np.vstack([fn, cn]))
        put("con_k", np.concatenate([fk, ck]))
        put("cage_area", carea)
        bp = np.zeros((len(BUSHINGS), 3))
        bk = np.zeros((len(BUSHINGS), 6, 6))
        axis = np.zeros((2, 3))
        axis[:, 2] = 1.0
        rlen = np.ones(2)
        sec = np.ones((2, 3))
        lim = np.ones((2, 3))
        for rod in c.rods:
            if seg not in [
                f"{a}-{b}" for a, b in zip(rod.vertebrae[:-1], rod.vertebrae[1:], strict=True)
            ]:
                continue
            j = 0 if rod.side == "left" else 1
            bp[j], bk[j], axis[j], rlen[j], sec[j], lim[j] = _rod_span(rod, seg, g, frame)
        for fm in c.fusion:
            if fm.segment != seg or fm.fraction <= 0.0:
                continue
            regions = fusion_regions(g, seg)
            e_f = float(fusion_modulus_mpa(fm.fraction))
            for j, name in (
                (2, "interbody"),
                (3, "posterolateral_left"),
                (4, "posterolateral_right"),
            ):
                if name.split("_")[0] not in fm.regions:
                    continue
                top, bottom, a_f = regions[name]
                a, b = _to_local(frame, top), _to_local(frame, bottom)
                bp[j] = a
                bk[j] = beam_stiffness(a, b, e_f, a_f, a_f**2 / (4.0 * np.pi))
        put("bsh_p", bp)
        put("bsh_k", bk)
        put("rod_axis", axis)
        put("rod_length", rlen)
        put("rod_section", sec)
        put("rod_material", lim)
    arr = {k: np.asarray(v, dtype=float) for k, v in rows.items()}
    w = value("facet", "smoothing_mm")
    return SegmentArrays(
        segment=seg,
        frame=arr["frame"],
        disc_k_lin=arr["disc_k_lin"],
        disc_theta_t=arr["disc_theta_t"],
        disc_rot_scale=arr["disc_rot_scale"],
        disc_axial_scale=arr["disc_axial_scale"],
        disc_area=arr["disc_area"],
        disc_height=arr["disc_height"],
        lig_a=arr["lig_a"],
        lig_b=arr["lig_b"],
        lig_l0=arr["lig_l0"],
        lig_k=arr["lig_k"],
        lig_et=arr["lig_et"],
        lig_kind=kinds,
        con_p=arr["con_p"],
        con_c=arr["con_c"],
        con_n=arr["con_n"],
        con_k=arr["con_k"],
        con_w=np.full(arr["con_k"].shape, w),
        bsh_p=arr["bsh_p"],
        bsh_k=arr["bsh_k"],
        rod_axis=arr["rod_axis"],
        rod_length=arr["rod_length"],
        rod_section=arr["rod_section"],
        rod_material=arr["rod_material"],
        cage_area=arr["cage_area"],
        prestress=arr["prestress"],
        to_lower=arr["to_lower"],
    )


def _prestress(a: Arr, b: Arr, l0: Arr, k: Arr, et: Arr) -> Arr:
    """The disc's swelling pre-stress: the wrench (moment about the disc centre, force) that
    holds the intact ligaments' pre-tension (negative reference strains) in equilibrium in the
    unloaded posture, so the imaged posture is the rest posture. Removing a ligament later
    lets the segment settle to a new rest posture, as in vitro."""
    from spinefuse.mechanics.elements import blankevoort

    d = a - b
    length = np.linalg.norm(d, axis=1)
    f, _ = blankevoort(length / l0 - 1.0, k, et)
    force = -f[:, None] * d / length[:, None]
    return -np.concatenate([np.cross(a, force).sum(0), force.sum(0)])
