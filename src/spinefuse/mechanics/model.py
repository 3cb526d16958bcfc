"""The reduced-order spine model: rigid vertebrae joined, per motion segment, by a nonlinear
6-DOF disc, tension-only ligaments, unilateral facet contacts and (after surgery) cages with
endplate friction, rods on pedicle screws, interspinous spacers, disc replacements and fusion
masses.

:func:`build_model` turns a batch of (SpineGeometry, Construct) pairs into :class:`SegmentArrays`
— one per motion segment, every array with the batch as its first axis, every point in the
segment's disc frame (origin at the disc centre; z along the mean endplate normal, cranial;
y anterior; x right; mm). Element counts are padded to be equal across the batch (absent
elements have zero stiffness), so one vectorised solve serves one patient or thousands. The
per-spine work is reading the landmarks; the geometry is then mapped for all spines at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from spinefuse.anatomy.geometry import SpineGeometry, Vertebra
from spinefuse.conventions import LUMBAR_SEGMENTS, SIDES, parse_segment
from spinefuse.errors import GeometryError, LevelError
from spinefuse.mechanics.cages import CAGE_POINTS, cage_elements, integrated_fixation_stiffness
from spinefuse.mechanics.constructs import Construct, RodSpec
from spinefuse.mechanics.disc_replacement import joint_element
from spinefuse.mechanics.elements import blankevoort
from spinefuse.mechanics.interspinous import spacer_element
from spinefuse.mechanics.parameters import parameters, value
from spinefuse.mechanics.reference import LigamentBundle, reference_spine
from spinefuse.mechanics.screws import rod_section, rod_span_stiffness

Arr = NDArray[np.float64]

FACET_POINTS = 5  # per side
FACETS = slice(0, 2 * FACET_POINTS)
CAGES = slice(2 * FACET_POINTS, 2 * FACET_POINTS + 2 * CAGE_POINTS)
SPACER = slice(2 * FACET_POINTS + 2 * CAGE_POINTS, 2 * FACET_POINTS + 2 * CAGE_POINTS + 1)
N_CONTACT = SPACER.stop
BUSHINGS = (
    "rod_left",
    "rod_right",
    "fusion_interbody",
    "fusion_left",
    "fusion_right",
    "cage_fixation",
    "disc_joint",
)
# rods are locked, integrated screws driven and bone formed after the decompression and the
# cage: these bushings carry no load in the posture the rest of the construct gives
LOCKED_AT_REST = (0, 1, 2, 3, 4, 5)


@dataclass(frozen=True)
class SegmentArrays:
    """Elements of one motion segment for a batch of B spines (disc frame, mm, N, rad)."""

    segment: str
    frame: Arr  # (B, 4, 4) disc frame -> world, undeformed
    disc_k_lin: Arr  # (B, 3, 2) N·mm/rad beyond the transition, (negative, positive) side
    disc_theta_t: Arr  # (B, 3, 2) rad, transition angle
    disc_rot_scale: Arr  # (B,) 1 intact, < 1 after discectomy
    disc_axial_scale: Arr  # (B,)
    disc_k_tension: Arr  # (B,) N/mm axial stiffness of the disc in tension (separation)
    disc_area: Arr  # (B,) mm²
    disc_height: Arr  # (B,) mm
    disc_p0: Arr  # (B,) osmotic (swelling) nucleus pressure at rest, MPa; 0 without nucleus
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
    con_mu: Arr  # (B, P) friction coefficient (cages; 0 = frictionless)
    con_kt: Arr  # (B, P) pre-sliding slip distance of friction contacts, mm
    bsh_p: Arr  # (B, K, 3) bushing points (upper end)
    bsh_k: Arr  # (B, K, 6, 6) stiffness on (rotation, displacement), N·mm/rad, N/mm
    bsh_q0: Arr  # (B, K, 6) the (rotation, displacement) at which a bushing carries no load
    rod_axis: Arr  # (B, 2, 3) unit axis lower -> upper head
    rod_length: Arr  # (B, 2) mm
    rod_section: Arr  # (B, 2, 3) area mm², second moment mm⁴, outer radius mm
    rod_material: Arr  # (B, 2, 3) ultimate, endurance, notch factor (MPa, MPa, -)
    screw_head: Arr  # (B, 2, 2, 3) rod side (left, right) x end (upper, lower)
    screw_entry: Arr  # (B, 2, 2, 3)
    screw_axis: Arr  # (B, 2, 2, 3) unit, into the bone
    cage_area: Arr  # (B,) total cage footprint mm² (0 = no cage)
    cage_distraction: Arr  # (B,) mm the cage is taller than the disc space it fills
    cage_seating_gap: Arr  # (B,) mm a planned cage is shorter than that space (seated on it)
    prestress: Arr  # (B, 6) disc pre-stress balancing the intact ligaments' pre-tension at rest
    to_lower: Arr  # (B, 3, 3) disc-frame components -> lower-vertebra-frame components


@dataclass(frozen=True)
class SpineModel:
    """The model of a batch of spines: its segments head to pelvis and their elements."""

    segments: tuple[str, ...]
    arrays: tuple[SegmentArrays, ...]
    batch: int
    # the solver's load-independent preparation of these arrays (rows of the spines solved,
    # the columns in use, the implants' unloaded state), kept for the model's next solve
    prepared: dict[bytes, Any] = field(default_factory=dict, compare=False, repr=False)

    def segment(self, name: str) -> SegmentArrays:
        return self.arrays[self.segments.index(name)]

    def rows(self, idx: list[int]) -> SpineModel:
        """The model of the spines ``idx`` of the batch."""
        from dataclasses import fields

        sel = np.asarray(idx, dtype=np.int64)

        def take(a: SegmentArrays) -> SegmentArrays:
            vals = {
                f.name: (
                    getattr(a, f.name)[sel]
                    if isinstance(getattr(a, f.name), np.ndarray)
                    else getattr(a, f.name)
                )
                for f in fields(a)
            }
            return SegmentArrays(**vals)

        return SpineModel(self.segments, tuple(take(a) for a in self.arrays), len(sel))


def _unit(v: Arr) -> Arr:
    return np.asarray(v / np.linalg.norm(v, axis=-1, keepdims=True))


def disc_frame(upper: Vertebra, lower: Vertebra) -> Arr:
    """4×4 disc frame (disc frame -> world) of the segment between two vertebrae."""
    if upper.inferior is None:
        raise GeometryError(f"{upper.name} has no inferior endplate")
    top, bottom = upper.inferior, lower.superior
    frames: Arr = _disc_frames(
        np.asarray([top.centre]),
        np.asarray([top.normal]),
        np.asarray([bottom.centre]),
        np.asarray([bottom.normal]),
        np.asarray([bottom.anterior]),
        np.asarray([bottom.posterior]),
    )
    return np.asarray(frames[0])


def _disc_frames(tc: Arr, tn: Arr, bc: Arr, bn: Arr, ba: Arr, bp: Arr) -> Arr:
    z = _unit(bn - tn)
    a = ba - bp
    y = _unit(a - z * (a * z).sum(-1, keepdims=True))
    x = np.cross(y, z)
    m = np.repeat(np.eye(4)[None], len(tc), 0)
    m[:, :3, 0], m[:, :3, 1], m[:, :3, 2] = x, y, z
    m[:, :3, 3] = 0.5 * (tc + bc)
    return m


def _to_local(frame: Arr, p: Arr) -> Arr:
    """World points (B, ..., 3) -> disc frame of the batch's frames (B, 4, 4)."""
    o = frame[:, None, :3, 3] if p.ndim == 3 else frame[:, :3, 3]
    r = frame[:, :3, :3]
    if p.ndim == 3:
        return np.asarray(np.einsum("bpi,bij->bpj", p - o, r))
    return np.asarray(np.einsum("bi,bij->bj", p - o, r))


@dataclass(frozen=True)
class _Vert:
    """The landmarks of one vertebra of every spine of a batch (world frame)."""

    frame: Arr  # (B, 4, 4) local -> world
    width: Arr  # (B,)
    depth: Arr  # (B,)
    sup: tuple[Arr, Arr, Arr, Arr]  # centre, normal, anterior, posterior (B, 3)
    inf: tuple[Arr, Arr, Arr, Arr] | None
    sup_area: Arr  # (B,)
    inf_area: Arr | None
    hu: Arr  # (B,)
    items: list[Vertebra]


def _vertebrae(gs: list[SpineGeometry], name: str) -> _Vert:
    vs = [g.vertebra(name) for g in gs]

    def ep(attr: str) -> tuple[tuple[Arr, Arr, Arr, Arr], Arr] | None:
        eps = [getattr(v, attr) for v in vs]
        if any(e is None for e in eps):
            return None
        return (
            (
                np.asarray([e.centre for e in eps]),
                np.asarray([e.normal for e in eps]),
                np.asarray([e.anterior for e in eps]),
                np.asarray([e.posterior for e in eps]),
            ),
            np.asarray([e.area_mm2 for e in eps]),
        )

    sup = ep("superior")
    inf = ep("inferior")
    assert sup is not None
    sc, sn, sa, sp = sup[0]
    if inf is not None:
        z = _unit(sc - inf[0][0])
    else:
        z = _unit(sn)
    a = sa - sp
    y = _unit(a - z * (a * z).sum(-1, keepdims=True))
    frame = np.repeat(np.eye(4)[None], len(vs), 0)
    frame[:, :3, 0], frame[:, :3, 1], frame[:, :3, 2] = np.cross(y, z), y, z
    frame[:, :3, 3] = np.asarray([v.centroid for v in vs])
    default_hu = value("bone", "default_trabecular_hu")
    return _Vert(
        frame=frame,
        width=np.asarray([v.body_width_mm for v in vs]),
        depth=np.asarray([v.body_depth_mm for v in vs]),
        sup=sup[0],
        inf=None if inf is None else inf[0],
        sup_area=sup[1],
        inf_area=None if inf is None else inf[1],
        hu=np.asarray([default_hu if v.trabecular_hu is None else v.trabecular_hu for v in vs]),
        items=vs,
    )


@dataclass(frozen=True)
class _Atlas:
    """Maps points of a reference vertebra onto a batch of target vertebrae: same place in the
    vertebra's local frame, scaled by the ratio of body width (x), depth (y) and their mean (z)."""

    linear: Arr  # (B, 3, 3) row-vector form
    offset: Arr  # (B, 3)
    rotation: Arr  # (B, 3, 3) for directions

    @staticmethod
    def build(ref: Vertebra, target: _Vert) -> _Atlas:
        fr = ref.frame()
        sx = target.width / ref.body_width_mm
        sy = target.depth / ref.body_depth_mm
        scale = np.stack([sx, sy, 0.5 * (sx + sy)], axis=1)
        rt = target.frame[:, :3, :3]
        linear = np.einsum("ij,bj,bkj->bik", fr[:3, :3], scale, rt)
        offset = target.frame[:, :3, 3] - np.einsum("i,bij->bj", fr[:3, 3], linear)
        return _Atlas(linear, offset, np.einsum("bij,kj->bik", rt, fr[:3, :3]))

    def __call__(self, points: Arr) -> Arr:
        """Reference points (P, 3) -> target points (B, P, 3)."""
        return np.asarray(np.einsum("pi,bij->bpj", points, self.linear) + self.offset[:, None])


def merged_lines(bundle: LigamentBundle, lines: int) -> tuple[Arr, Arr, Arr]:
    """A ligament's parallel springs merged into ``lines`` lines: the springs are ordered from
    right to left (a midline ligament) or by their angle about the bundle's centre in the
    coronal plane (mirrored for the left side, so left and right bundles merge alike) and
    consecutive ones grouped, the group sizes symmetric about the middle; each line joins its
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
    side: tuple[str | None, ...]  # the bundle's side; for midline ligaments the line's side
    midline: tuple[bool, ...]


_LINES: dict[tuple[str, float], _ReferenceLines] = {}


def reference_lines(seg: str) -> _ReferenceLines:
    """Merged ligament lines of a segment of the reference spine (computed once)."""
    scale = value("calibrated_ligament_scale")
    key = (seg, scale)
    if key not in _LINES:
        groups = parameters()["ligament_lines"]
        frame = disc_frame(*(reference_spine().geometry.vertebra(v) for v in parse_segment(seg)))
        o_l, i_l, k_l, er, et, kinds, sides, midline = [], [], [], [], [], [], [], []
        for bundle in reference_spine().ligaments[seg]:
            o, i, k = merged_lines(bundle, int(groups[bundle.kind]))
            o_l.append(o)
            i_l.append(i)
            k_l.append(scale * k)
            er += [bundle.reference_strain] * len(o)
            et += [bundle.transition_strain] * len(o)
            kinds += [bundle.kind] * len(o)
            if bundle.side is None:
                x = ((0.5 * (o + i) - frame[:3, 3]) @ frame[:3, 0]).tolist()
                sides += ["right" if v > 2.0 else "left" if v < -2.0 else None for v in x]
                midline += [True] * len(o)
            else:
                sides += [bundle.side] * len(o)
                midline += [False] * len(o)
        _LINES[key] = _ReferenceLines(
            np.vstack(o_l),
            np.vstack(i_l),
            np.concatenate(k_l),
            np.asarray(er),
            np.asarray(et),
            tuple(kinds),
            tuple(sides),
            tuple(midline),
        )
    return _LINES[key]


def _ligament_scale(seg: str, c: Construct) -> Arr:
    """Per-line stiffness factor (L,) of a construct at a segment: 0 removed, 1 intact."""
    ref = reference_lines(seg)
    out = np.ones(len(ref.kind))
    removed = set(c.removed_ligaments.get(seg, []))
    cut = set(c.facetectomy.get(seg, []))
    partial = c.facet_resection.get(seg, {})
    hemi = set(c.hemilaminectomy.get(seg, []))
    for j, (kind, side, mid) in enumerate(zip(ref.kind, ref.side, ref.midline, strict=True)):
        if kind in removed:
            out[j] = 0.0
        elif kind == "CL" and side in cut:
            out[j] = 0.0
        elif kind == "CL" and side in partial:
            out[j] = 1.0 - partial[side]
        elif kind == "LF" and mid and hemi:
            # a hemilaminectomy takes the flavum of its side and half of the midline part
            if side in hemi:
                out[j] = 0.0
            elif side is None:
                out[j] = 0.5 ** len(hemi)
    return out


def trabecular_modulus_mpa(hu: float | Arr) -> Arr:
    """Trabecular bone modulus (MPa) from CT density (HU): ρ = a·HU + b, E = c·ρ^d."""
    p = parameters()["bone"]
    rho = np.maximum(
        p["density_from_hu"]["slope"] * np.asarray(hu, dtype=float)
        + p["density_from_hu"]["intercept"],
        0.05,
    )
    return np.asarray(p["modulus_from_density"]["a"] * rho ** p["modulus_from_density"]["b"])


def beam_stiffness(
    a: Arr, b: Arr, e_mpa: float, area: float, inertia: float, nu: float = 0.3
) -> Arr:
    """6×6 stiffness of a straight Euler–Bernoulli beam from ``b`` (clamped) to ``a`` at its
    free end ``a``, on (rotation, displacement) in the frame of the points (N·mm/rad, N/mm)."""
    d = a - b
    length = float(np.linalg.norm(d))
    ex = d / length
    helper = np.array([1.0, 0.0, 0.0]) if abs(ex[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    ey = np.cross(helper, ex)
    ey = ey / np.linalg.norm(ey)
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
    cage_pretension: float = 1.0,
) -> SpineModel:
    """The batched model of ``geometries[i]`` with ``constructs[i]`` applied.

    ``segments`` (contiguous) restricts the model to those motion segments, the vertebra below
    the lowest one held fixed: a shorter specimen, or enough where only they matter and the
    loads are carried through each segment anyway (pure moments, follower load).
    ``cage_pretension``: share of each cage's distraction kept as a pre-load (1 just after
    surgery, as in vitro; see :func:`~spinefuse.mechanics.cages.cage_elements`)."""
    if len(geometries) != len(constructs) or not geometries:
        raise GeometryError(
            "build_model needs one construct per geometry, "
            f"got {len(geometries)} and {len(constructs)}"
        )
    segs = check_geometry(geometries[0])
    checked = {id(geometries[0])}
    for i, g in enumerate(geometries[1:], 1):
        if id(g) in checked:
            continue
        checked.add(id(g))
        if check_geometry(g) != segs:
            raise GeometryError(f"spine {i} has segments {check_geometry(g)}, spine 0 has {segs}")
    if segments is not None:
        missing = [s for s in segments if s not in segs]
        if missing or not segments:
            raise LevelError(f"segments {missing or segments} are not in the geometry ({segs})")
        idx = [segs.index(s) for s in segments]
        if idx != list(range(idx[0], idx[0] + len(idx))):
            raise LevelError(f"segments {segments} are not contiguous")
    modelled = tuple(segments) if segments is not None else segs
    seen: set[int] = set()
    for c in constructs:
        if id(c) in seen:
            continue
        seen.add(id(c))
        outside = [s for s in c.segments if s not in segs]
        if outside:
            raise LevelError(
                f"construct names segment {outside[0]}, which is not modelled ({', '.join(segs)})"
            )
        if segments is None:
            continue
        cut = [s for s in c.segments if s not in modelled]
        if cut and any(r for r in c.rods):
            pass  # a construct may reach beyond a shorter specimen; its parts there are unused
    names = sorted({v for s in modelled for v in parse_segment(s)}, key=_order)
    verts = {v: _vertebrae(geometries, v) for v in names}
    ref = reference_spine().geometry
    atlas = {v: _Atlas.build(ref.vertebra(v), verts[v]) for v in names}
    arrays = tuple(
        _segment_arrays(seg, geometries, constructs, verts, atlas, cage_pretension)
        for seg in modelled
    )
    return SpineModel(segments=modelled, arrays=arrays, batch=len(geometries))


def _order(name: str) -> int:
    from spinefuse.conventions import vertebra_index

    return vertebra_index(name)


def _disc_law(seg: str, uv: _Vert, lv: _Vert, height: Arr) -> tuple[Arr, Arr, Arr]:
    """Calibrated disc law of the segment, scaled from the reference disc to each spine's."""
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
    assert uv.inf_area is not None
    area = 0.5 * (uv.inf_area + lv.sup_area)
    refg = reference_spine().geometry
    up, low = parse_segment(seg)
    ru, rl = refg.vertebra(up), refg.vertebra(low)
    assert ru.inferior is not None
    ref_area = 0.5 * (ru.inferior.area_mm2 + rl.superior.area_mm2)
    ref_height = float(refg.disc(seg).middle_height_mm)
    n = value("disc", "reference_area_scaling_exponent")
    scale = (area / ref_area) ** n * ref_height / np.maximum(height, 1.0)
    b = len(area)
    return (
        np.asarray(k[None] * scale[:, None, None]),
        np.asarray(np.broadcast_to(tt, (b, 3, 2)).copy()),
        np.asarray(area),
    )


def _prestress(a: Arr, b: Arr, l0: Arr, k: Arr, et: Arr) -> Arr:
    """The disc's pre-stress: the wrench (moment about the disc centre, force) that holds the
    intact ligaments' pre-tension (negative reference strains) in equilibrium in the unloaded
    posture, so the imaged posture is the rest posture. Removing a ligament later lets the
    segment settle to a new rest posture, as in vitro. Batched (B, L, 3) -> (B, 6)."""
    d = a - b
    length = np.linalg.norm(d, axis=-1)
    f, _ = blankevoort(length / l0 - 1.0, k, et)
    force = -f[..., None] * d / length[..., None]
    return -np.concatenate([np.cross(a, force).sum(1), force.sum(1)], axis=1)


def _facets(
    seg: str, frame: Arr, atlas: dict[str, _Atlas], scale: Arr
) -> tuple[Arr, Arr, Arr, Arr]:
    """Facet contact points of every spine (disc frame): the articular surfaces of the
    reference spine mapped onto each spine's vertebrae (Facet records from templates and label
    maps carry no reliable sagittal inclination, which decides whether the joint engages in
    extension). ``scale`` (B, 2): remaining share of each joint (left, right)."""
    up, low = parse_segment(seg)
    ref = reference_spine().geometry
    k_joint = value("facet", "contact_stiffness_n_per_mm")
    ratio = value("facet", "points_radius_ratio")
    offsets = np.array([[0, 0], [1, 0], [-1, 0], [0, 1], [0, -1]], dtype=float)
    ps, cs, ns, ks = [], [], [], []
    for j, side in enumerate(SIDES):
        rs = ref.vertebra(low).facets[f"superior_{side}"]  # type: ignore[index]
        ri = ref.vertebra(up).facets[f"inferior_{side}"]  # type: ignore[index]
        c_s = atlas[low](np.asarray([rs.centre]))[:, 0]  # (B, 3)
        n_s = _unit(np.einsum("bij,j->bi", atlas[low].rotation, np.asarray(rs.normal)))
        gap = float((np.asarray(ri.centre) - np.asarray(rs.centre)) @ np.asarray(rs.normal))
        c_i = c_s + gap * n_s
        r = ratio * np.sqrt(rs.area_mm2 / np.pi)
        e1 = _unit(np.cross(n_s, frame[:, :3, 0]))
        e2 = np.cross(n_s, e1)
        pts = c_i[:, None] + r * (offsets[:, :1] * e1[:, None] + offsets[:, 1:] * e2[:, None])
        ps.append(pts)
        cs.append(np.repeat(c_s[:, None], FACET_POINTS, 1))
        ns.append(np.repeat(n_s[:, None], FACET_POINTS, 1))
        ks.append(np.repeat((scale[:, j] * k_joint / FACET_POINTS)[:, None], FACET_POINTS, 1))
    p = _to_local(frame, np.concatenate(ps, axis=1))
    c = _to_local(frame, np.concatenate(cs, axis=1))
    n = np.einsum("bpi,bij->bpj", np.concatenate(ns, axis=1), frame[:, :3, :3])
    return p, c, n, np.concatenate(ks, axis=1)


def _rod_material(name: str) -> tuple[float, Arr]:
    mat = parameters()["rod"][name]
    return float(mat["modulus_mpa"]["value"]), np.array(
        [
            float(mat["ultimate_mpa"]["value"]),
            float(mat["endurance_mpa"]["value"]),
            float(mat["notch_factor"]["value"]),
        ]
    )


def _pedicle_isthmus_to_body_mm(name: str) -> float:
    """Length of the pedicle from its isthmus to the posterior wall of the body (mm)."""
    from spinefuse.datafiles import load_yaml

    values = load_yaml("lumbar_dimensions.yaml")["pedicle_length_mm"]["values"]
    return float(values.get(name, value("screw", "pedicle_path", "default_mm")))


def _screw(
    v: Vertebra, rod: RodSpec, frame_inv: tuple[Arr, Arr]
) -> tuple[Arr, Arr, Arr, float, float, float, float]:
    """A rod's screw in vertebra ``v``: head, entry and axis (disc frame), length, diameter,
    the HU of its bone and the length of its path through the pedicle (entry point to the
    posterior wall of the body, mm)."""
    ped = v.pedicles.get(rod.side)
    offset = value("screw", "head_offset_mm")
    if ped is not None:
        axis = np.asarray(ped.axis, dtype=float)
        entry = np.asarray(
            rod.heads.get(v.name)
            or ped.entry_point
            or tuple(np.asarray(ped.isthmus_centre) - 15.0 * axis)
        )
    else:
        f = v.frame()
        axis = f[:3, 1]
        lat = 1.0 if rod.side == "right" else -1.0
        entry = np.asarray(
            rod.heads.get(v.name)
            or tuple(
                f[:3, 3] + f[:3, :3] @ np.array([lat * 20.0, -v.body_depth_mm / 2 - 20.0, 5.0])
            )
        )
    axis = axis / np.linalg.norm(axis)
    if ped is not None:
        to_isthmus = float((np.asarray(ped.isthmus_centre) - entry) @ axis)
        path = max(to_isthmus, 0.0) + _pedicle_isthmus_to_body_mm(v.name)
    else:
        path = value("screw", "pedicle_path", "default_mm")
    head = entry - offset * axis
    r, o = frame_inv
    length = float(rod.screw_length_mm.get(v.name, value("screw", "default_length_mm")))
    diameter = float(rod.screw_diameter_mm.get(v.name, value("screw", "default_diameter_mm")))
    hu = rod.screw_hu.get(v.name)
    if hu is None:
        hu = (
            v.trabecular_hu
            if v.trabecular_hu is not None
            else value("bone", "default_trabecular_hu")
        )
    return (
        (head - o) @ r,
        (entry - o) @ r,
        axis @ r,
        length,
        diameter,
        float(hu),
        min(path, length),
    )


def _segment_arrays(
    seg: str,
    gs: list[SpineGeometry],
    cs: list[Construct],
    verts: dict[str, _Vert],
    atlas: dict[str, _Atlas],
    cage_pretension: float = 1.0,
) -> SegmentArrays:
    up, low = parse_segment(seg)
    uv, lv = verts[up], verts[low]
    b = len(gs)
    if uv.inf is None:
        raise GeometryError(f"{up} has no inferior endplate")
    frame = _disc_frames(uv.inf[0], uv.inf[1], *lv.sup)
    to_lower = np.einsum("bji,bjk->bik", lv.frame[:, :3, :3], frame[:, :3, :3])
    height = np.asarray([g.disc(seg).middle_height_mm for g in gs], dtype=float)
    front = np.asarray([g.disc(seg).anterior_height_mm for g in gs], dtype=float)
    back = np.asarray([g.disc(seg).posterior_height_mm for g in gs], dtype=float)
    k_lin, theta_t, area = _disc_law(seg, uv, lv, height)
    an = reference_spine().nucleus_area_fraction[seg]
    p0 = value("disc", "osmotic_pressure_mpa")

    # --- per construct: what it changes here (constructs shared across spines computed once)
    per: dict[int, dict[str, Any]] = {}
    for c in cs:
        if id(c) not in per:
            per[id(c)] = _construct_effects(seg, c, an)
    eff = [per[id(c)] for c in cs]
    rot_scale = np.asarray([e["rot"] for e in eff])
    axial_scale = np.asarray([e["axial"] for e in eff])
    has_nucleus = np.asarray([e["nucleus"] for e in eff])
    lig_scale = np.asarray([e["ligaments"] for e in eff])  # (B, L)
    facet_scale = np.asarray([e["facets"] for e in eff])  # (B, 2)

    # --- ligaments
    ref = reference_lines(seg)
    o = atlas[up](ref.origin)
    i = atlas[low](ref.insertion)
    l0 = np.linalg.norm(o - i, axis=-1) * (1.0 + ref.reference_strain)
    la, lb = _to_local(frame, o), _to_local(frame, i)
    k_full = np.broadcast_to(ref.stiffness, l0.shape)
    et = np.broadcast_to(ref.transition_strain, l0.shape).copy()
    prestress = _prestress(la, lb, l0, k_full, et)
    kinds = tuple(k if s is None else f"{k}_{s}" for k, s in zip(ref.kind, ref.side, strict=True))

    # --- contacts: facets, cages, spacer
    fp, fc, fn, fk = _facets(seg, frame, atlas, facet_scale)
    con_p = np.zeros((b, N_CONTACT, 3))
    con_c = np.zeros((b, N_CONTACT, 3))
    con_n = np.zeros((b, N_CONTACT, 3))
    con_n[..., 2] = 1.0
    con_k = np.zeros((b, N_CONTACT))
    con_mu = np.zeros((b, N_CONTACT))
    con_kt = np.ones((b, N_CONTACT))
    con_p[:, FACETS], con_c[:, FACETS], con_n[:, FACETS], con_k[:, FACETS] = fp, fc, fn, fk
    cage_area = np.zeros(b)
    cage_distraction = np.zeros(b)
    cage_gap = np.zeros(b)
    bsh_p = np.zeros((b, len(BUSHINGS), 3))
    bsh_k = np.zeros((b, len(BUSHINGS), 6, 6))
    frame_inv = [(frame[s, :3, :3], frame[s, :3, 3]) for s in range(b)]
    hu_mean = 0.5 * (uv.hu + lv.hu)
    e_bone_seg = trabecular_modulus_mpa(hu_mean)
    for s, (g, c) in enumerate(zip(gs, cs, strict=True)):
        cages = [x for x in c.cages if x.segment == seg]
        if len(cages) > 1:
            raise GeometryError(
                f"{seg}: {len(cages)} cage entries; give one (count=2 for paired PLIF)"
            )
        if cages:
            cage = cages[0]
            centre = None
            if cage.centre is not None:
                r, org = frame_inv[s]
                centre = (np.asarray(cage.centre) - org) @ r
            el = cage_elements(
                cage.technique,
                cage.material,
                cage.width_mm,
                cage.depth_mm,
                cage.count,
                centre,
                float(lv.items[s].superior.depth_mm),
                (float(front[s]), float(back[s])),
                cage.height_mm,
                float(e_bone_seg[s]),
                cage_pretension,
                float(lv.items[s].superior.width_mm),
            )
            con_p[s, CAGES], con_c[s, CAGES], con_k[s, CAGES] = el.points, el.planes, el.stiffness
            con_mu[s, CAGES], con_kt[s, CAGES] = el.friction, el.tangential
            cage_area[s], cage_distraction[s] = el.area_mm2, el.distraction_mm
            cage_gap[s] = el.seating_gap_mm
            if cage.integrated_fixation:
                ctr = el.points[:CAGE_POINTS].mean(0) * np.array([1.0, 1.0, 0.0])
                bp, bk = integrated_fixation_stiffness(
                    ctr,
                    float(height[s]),
                    float(lv.items[s].superior.depth_mm),
                    float(trabecular_modulus_mpa(uv.hu[s])),
                    float(trabecular_modulus_mpa(lv.hu[s])),
                )
                bsh_p[s, 5], bsh_k[s, 5] = bp, bk
        for spacer in (x for x in c.interspinous if x.segment == seg):
            tips = [verts[v].items[s].spinous_tip for v in (up, low)]
            if tips[0] is None or tips[1] is None:
                raise GeometryError(
                    f"{seg}: an interspinous spacer needs both spinous tips; the geometry of "
                    f"spine {s} has none at {up if tips[0] is None else low}"
                )
            r, org = frame_inv[s]
            el_s = spacer_element(
                (np.asarray(tips[0]) - org) @ r, (np.asarray(tips[1]) - org) @ r, spacer.material
            )
            con_p[s, SPACER], con_c[s, SPACER] = el_s.point, el_s.plane
            con_k[s, SPACER] = el_s.stiffness_n_per_mm
        if seg in c.disc_replacements:
            bsh_p[s, 6], bsh_k[s, 6] = joint_element(
                float(lv.items[s].superior.depth_mm), float(height[s])
            )
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
                r, org = frame_inv[s]
                pa, pb = (top - org) @ r, (bottom - org) @ r
                bsh_p[s, j] = pa
                bsh_k[s, j] = beam_stiffness(pa, pb, e_f, a_f, a_f**2 / (4.0 * np.pi))

    # --- rods on pedicle screws (all spans of the batch at this segment in one call)
    rod_axis = np.zeros((b, 2, 3))
    rod_axis[..., 2] = 1.0
    rod_length = np.ones((b, 2))
    rod_sec = np.ones((b, 2, 3))
    rod_mat = np.ones((b, 2, 3))
    screw_head = np.zeros((b, 2, 2, 3))
    screw_entry = np.zeros((b, 2, 2, 3))
    screw_axis = np.zeros((b, 2, 2, 3))
    screw_axis[..., 1] = -1.0
    spans: list[tuple[int, int, RodSpec]] = []
    for s, c in enumerate(cs):
        for rod in c.rods:
            if seg in {
                f"{x}-{y}" for x, y in zip(rod.vertebrae[:-1], rod.vertebrae[1:], strict=True)
            }:
                spans.append((s, 0 if rod.side == "left" else 1, rod))
    if spans:
        rows = []
        for s, _, rod in spans:
            hu_u = _screw(uv.items[s], rod, frame_inv[s])
            hu_l = _screw(lv.items[s], rod, frame_inv[s])
            rows.append((hu_u, hu_l))
        h_u = np.asarray([r[0][0] for r in rows])
        h_l = np.asarray([r[1][0] for r in rows])
        e_u = np.asarray([r[0][1] for r in rows])
        e_l = np.asarray([r[1][1] for r in rows])
        a_u = np.asarray([r[0][2] for r in rows])
        a_l = np.asarray([r[1][2] for r in rows])
        lengths = np.asarray([[r[0][3], r[1][3]] for r in rows])
        diams = np.asarray([[r[0][4], r[1][4]] for r in rows])
        hus = np.asarray([[r[0][5], r[1][5]] for r in rows])
        paths = np.asarray([[r[0][6], r[1][6]] for r in rows])
        idx = np.asarray([s for s, _, _ in spans])
        cranial = np.einsum("ni,nij->nj", uv.frame[idx, :3, 2], frame[idx, :3, :3])
        mats = [_rod_material(rod.material) for _, _, rod in spans]
        k = rod_span_stiffness(
            h_u,
            h_l,
            e_u,
            e_l,
            a_u,
            a_l,
            cranial,
            diams,
            lengths,
            trabecular_modulus_mpa(hus[:, 0]),
            trabecular_modulus_mpa(hus[:, 1]),
            np.asarray([m[0] for m in mats]),
            np.asarray([rod.diameter_mm for _, _, rod in spans]),
            paths,
        )
        for n, (s, j, rod) in enumerate(spans):
            d = rod.diameter_mm
            a_r, i_r = rod_section(np.asarray(d))
            bsh_p[s, j], bsh_k[s, j] = h_u[n], k[n]
            length = float(np.linalg.norm(h_u[n] - h_l[n]))
            rod_axis[s, j] = (h_u[n] - h_l[n]) / length
            rod_length[s, j] = length
            rod_sec[s, j] = (float(a_r), float(i_r), d / 2.0)
            rod_mat[s, j] = mats[n][1]
            screw_head[s, j] = (h_u[n], h_l[n])
            screw_entry[s, j] = (e_u[n], e_l[n])
            screw_axis[s, j] = (a_u[n], a_l[n])
    w = value("facet", "smoothing_mm")
    return SegmentArrays(
        segment=seg,
        frame=frame,
        disc_k_lin=k_lin,
        disc_theta_t=theta_t,
        disc_rot_scale=rot_scale,
        disc_axial_scale=axial_scale,
        disc_k_tension=disc_tension_stiffness(axial_scale, has_nucleus, an),
        disc_area=area,
        disc_height=height,
        disc_p0=np.where(has_nucleus, p0, 0.0),
        lig_a=la,
        lig_b=lb,
        lig_l0=l0,
        lig_k=k_full * lig_scale,
        lig_et=et,
        lig_kind=kinds,
        con_p=con_p,
        con_c=con_c,
        con_n=con_n,
        con_k=con_k,
        con_w=np.full(con_k.shape, w),
        con_mu=con_mu,
        con_kt=con_kt,
        bsh_p=bsh_p,
        bsh_k=bsh_k,
        bsh_q0=np.zeros((b, len(BUSHINGS), 6)),
        rod_axis=rod_axis,
        rod_length=rod_length,
        rod_section=rod_sec,
        rod_material=rod_mat,
        screw_head=screw_head,
        screw_entry=screw_entry,
        screw_axis=screw_axis,
        cage_area=cage_area,
        cage_distraction=cage_distraction,
        cage_seating_gap=cage_gap,
        prestress=prestress,
        to_lower=to_lower,
    )


def disc_tension_stiffness(axial_scale: Arr, has_nucleus: Arr, nucleus_fraction: float) -> Arr:
    """Axial stiffness (N/mm) of each disc in tension. Where the nucleus is in place the
    compression law's zero-load stiffness holds on both sides; once it is cleared the disc is
    held apart only by its annulus, whose fibres run at a shallow angle to the endplates: the
    data file's tensile stiffness of the whole annulus, times the share of it left by the
    approach's window (``axial_scale`` over the nucleus's share)."""
    k0 = value("disc", "axial_stiffness_n_per_mm", above=0.0)
    annulus = axial_scale / max(1.0 - nucleus_fraction, 1e-6)
    # a cleared disc is not stiffer in tension than the whole disc at zero load
    kt = value("disc", "cleared_tensile_stiffness_n_per_mm", above=0.0, at_most=k0)
    cleared = kt * annulus
    return np.asarray(np.where(has_nucleus, k0 * axial_scale, cleared), dtype=float)


def _construct_effects(seg: str, c: Construct, an: float) -> dict[str, Any]:
    """What a construct does to one segment's disc, ligaments and facets."""
    rot, axial, nucleus = 1.0, 1.0, True
    if seg in c.discectomy or seg in c.total_discectomy:
        rot, axial, nucleus = 1.0 - an**2, 1.0 - an, False
    if seg in c.total_discectomy:
        keep = value("disc", "total_discectomy_annulus_fraction")
        if seg in c.disc_replacements:
            keep = value("disc_replacement", "annulus_fraction")
        rot, axial = rot * keep, axial * keep
    for cage in c.cages:
        if cage.segment == seg:
            window = float(parameters()["disc"]["annulotomy_fraction"][cage.technique])
            rot, axial = rot * (1.0 - window), axial * (1.0 - window)
    cut = c.facetectomy.get(seg, [])
    part = c.facet_resection.get(seg, {})
    facets = [0.0 if side in cut else 1.0 - float(part.get(side, 0.0)) for side in SIDES]
    return {
        "rot": rot,
        "axial": axial,
        "nucleus": nucleus,
        "ligaments": _ligament_scale(seg, c),
        "facets": facets,
    }
