"""Pedicle screws and rods as a chain of physical compliances between two vertebrae.

A rod span joins the heads of two screws. Its load path from the upper to the lower vertebra is
a series of elements, each with a compliance from its geometry and material:

1. the screw's threaded part in the upper vertebra, a beam on an elastic (Winkler) foundation
   whose modulus follows from the bone's modulus around it (CT density -> modulus, Morgan et
   al. 2003) and the screw's size (Vesic 1961); axial and torsional embedding by shear lag;
2. the screw shank from the bone surface to the head (titanium cantilever, core diameter);
3. the rod–screw connection (locked polyaxial head, a rotational spring);
4. the rod between the heads (Euler–Bernoulli beam of the rod's material and diameter);
5. the lower connection, shank and bone interface.

The compliances are summed at the upper head (the chain's reference point) and inverted into
one 6×6 stiffness; the solver applies it as a linear spring between the vertebrae. All
functions are batched over spans (leading axis n); points and axes in one frame (mm).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from spinefuse.mechanics.parameters import value

Arr = NDArray[np.float64]

_FE_ELEMENTS = 12  # beam elements along the embedded screw


def skew3(v: Arr) -> Arr:
    """``[v]×`` for (..., 3) -> (..., 3, 3)."""
    m = np.zeros((*v.shape[:-1], 3, 3))
    m[..., 0, 1], m[..., 0, 2] = -v[..., 2], v[..., 1]
    m[..., 1, 0], m[..., 1, 2] = v[..., 2], -v[..., 0]
    m[..., 2, 0], m[..., 2, 1] = -v[..., 1], v[..., 0]
    return m


def _frames(axis: Arr, up: Arr) -> Arr:
    """Rows (e_s, e_1, e_2): e_s along ``axis``, e_1 the part of ``up`` square to it."""
    es = axis / np.linalg.norm(axis, axis=-1, keepdims=True)
    e1 = up - (up * es).sum(-1, keepdims=True) * es
    small = np.linalg.norm(e1, axis=-1) < 1e-6
    alt = np.where(np.abs(es[..., :1]) < 0.9, np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]))
    e1 = np.where(small[..., None], alt - (alt * es).sum(-1, keepdims=True) * es, e1)
    e1 = e1 / np.linalg.norm(e1, axis=-1, keepdims=True)
    e2 = np.cross(es, e1)
    return np.stack([es, e1, e2], axis=-2)


def _to_global(c_local: Arr, rows: Arr) -> Arr:
    """A (θ, u) compliance in local axes (rows = local axes in global coordinates) -> global."""
    lam = np.zeros((*rows.shape[:-2], 6, 6))
    lam[..., :3, :3] = rows
    lam[..., 3:, 3:] = rows
    return np.asarray(np.swapaxes(lam, -1, -2) @ c_local @ lam)


def moved(c: Arr, at: Arr, to: Arr) -> Arr:
    """Compliance ``c`` (θ, u) of an element whose deformation shows at point ``at``, seen at
    point ``to`` of the rigid body beyond it: Aᵀ·C·A with A = [[I, [to−at]×], [0, I]]."""
    a = np.zeros((*at.shape[:-1], 6, 6))
    a[..., :3, :3] = np.eye(3)
    a[..., 3:, 3:] = np.eye(3)
    a[..., :3, 3:] = skew3(to - at)
    return np.asarray(np.swapaxes(a, -1, -2) @ c @ a)


def cantilever_compliance(free: Arr, root: Arr, e_mpa: Arr, area: Arr, inertia: Arr) -> Arr:
    """(θ, u) compliance at ``free`` of a straight circular beam clamped at ``root``
    (Euler–Bernoulli; torsion with J = 2I and G = E/2.6); (n, 6, 6) in the points' frame."""
    d = free - root
    length = np.linalg.norm(d, axis=-1)
    ei, ea = e_mpa * inertia, e_mpa * area
    gj = e_mpa / 2.6 * 2.0 * inertia
    c = np.zeros((*length.shape, 6, 6))
    c[..., 0, 0] = length / gj  # torsion about the beam
    c[..., 3, 3] = length / ea  # axial
    c[..., 4, 4] = c[..., 5, 5] = length**3 / (3.0 * ei)
    c[..., 1, 1] = c[..., 2, 2] = length / ei
    c[..., 4, 2] = c[..., 2, 4] = length**2 / (2.0 * ei)  # u_y with θ_z
    c[..., 5, 1] = c[..., 1, 5] = -(length**2) / (2.0 * ei)  # u_z with θ_y
    helper = np.where(np.abs(d[..., 2:3]) < 0.9 * length[..., None], [0.0, 0.0, 1.0], [1.0, 0, 0])
    rows = _frames(d, helper)
    return _to_global(c, rows)


def _zone_share(length: Arr, near_length: Arr, n_el: int) -> Arr:
    """Share (..., n_el) of each of ``n_el`` equal elements along ``length`` (from the loaded
    end) that lies within ``near_length`` of that end."""
    h = length / n_el
    starts = h[..., None] * np.arange(n_el)
    return np.asarray(np.clip((near_length[..., None] - starts) / h[..., None], 0.0, 1.0))


def winkler_end_compliance(
    k_found: Arr,
    ei: Arr,
    length: Arr,
    near_k: Arr | None = None,
    near_length: Arr | None = None,
) -> Arr:
    """2×2 compliance (deflection, slope per force, moment) at the loaded end of a free beam of
    bending stiffness EI (N·mm²) and ``length`` (mm) on a Winkler foundation of modulus
    ``k_found`` (N/mm per mm of length), by cubic beam elements with the consistent foundation
    matrix; the first ``near_length`` mm from the loaded end may rest on a foundation of
    another modulus ``near_k`` (a screw's pedicle zone); batched over the leading axis."""
    k_found, ei, length = np.broadcast_arrays(
        np.asarray(k_found, float), np.asarray(ei, float), np.asarray(length, float)
    )
    n_el = _FE_ELEMENTS
    h = length / n_el
    ndof = 2 * (n_el + 1)
    k_el = np.broadcast_to(k_found[..., None], (*h.shape, n_el))
    if near_k is not None and near_length is not None:
        share = _zone_share(length, np.broadcast_to(np.asarray(near_length, float), h.shape), n_el)
        k_el = k_el + (np.asarray(near_k, float)[..., None] - k_found[..., None]) * share
    kb = np.array([[12, 6, -12, 6], [6, 4, -6, 2], [-12, -6, 12, -6], [6, 2, -6, 4]], float)
    kf = np.array([[156, 22, 54, -13], [22, 4, 13, -3], [54, 13, 156, -22], [-13, -3, -22, 4]])
    hpow_r = np.array([0.0, 1.0, 0.0, 1.0])  # powers of h: 0 for deflection, 1 for slope dofs
    scale = hpow_r[:, None] + hpow_r[None, :]
    hh = h[..., None, None]
    k_bend = (ei[..., None, None] / hh**3) * kb * hh**scale
    k_fnd = (hh / 420.0) * kf * hh**scale
    big = np.zeros((*h.shape, ndof, ndof))
    for e in range(n_el):  # 12 small block additions, vectorised over the batch
        big[..., 2 * e : 2 * e + 4, 2 * e : 2 * e + 4] += k_bend + k_el[..., e, None, None] * k_fnd
    rhs = np.zeros((*h.shape, ndof, 2))
    rhs[..., 0, 0] = rhs[..., 1, 1] = 1.0
    sol = np.linalg.solve(big, rhs)
    return np.asarray(sol[..., :2, :])


def shear_lag_end_compliance(
    k_found: Arr, ea: Arr, length: Arr, near_k: Arr, near_length: Arr
) -> Arr:
    """Compliance (mm/N or rad/N·mm) at the loaded end of a bar of axial (or torsional)
    stiffness ``ea`` embedded over ``length`` in a medium of shear modulus per length
    ``k_found``, the first ``near_length`` from the loaded end in ``near_k`` (two-zone shear
    lag, exact): the far zone's end stiffness √(k·EA)·tanh(βL) is carried through the near
    zone's transfer relation."""
    ea = np.asarray(ea, float)
    l_near = np.clip(np.asarray(near_length, float), 0.0, length)
    l_far = np.asarray(length, float) - l_near
    b_far = np.sqrt(k_found / ea)
    k_end = np.sqrt(k_found * ea) * np.tanh(b_far * l_far)  # stiffness at the zones' junction
    b = np.sqrt(near_k / ea)
    z = np.sqrt(near_k * ea)
    th = np.tanh(b * l_near)
    k_top = z * (k_end + z * th) / (z + k_end * th)
    return np.asarray(1.0 / k_top)


def screw_bone_compliance(
    axis: Arr,
    cranial: Arr,
    diameter_mm: Arr,
    length_mm: Arr,
    bone_modulus_mpa: Arr,
    screw_modulus_mpa: float,
    pedicle_mm: Arr | float = 0.0,
) -> Arr:
    """(θ, u) compliance (n, 6, 6), at the bone entry point, of pedicle screws embedded in bone.

    ``axis``: unit screw axis into the bone; ``cranial``: the vertebra's cranial axis.
    ``pedicle_mm``: the length of the screw's path through the pedicle, from the entry point to
    the posterior wall of the body (0 for a screw driven into the body). In the body the
    trabecular bone is aligned with the spine's axis: the cranio-caudal toggle plane uses its
    axial modulus, the medio-lateral one and the thread's axial embedding its transverse
    modulus. In the pedicle the threads bear on the pedicle's cortical tube on every side, so
    its foundation is isotropic, ``screw.pedicle_modulus_ratio`` times the axial modulus (set by
    Hirano et al. 1997's share of the screw's stiffness held by the pedicle). Winkler modulus
    k = c·(E_b·d⁴/(E_s·I_s))^(1/12)·E_b/(1−ν²) (Vesic 1961); axial pull-out and torsion by
    shear lag along the thread with the embedding stiffness per length k (axial) and 4πG_b·r²
    (torsion)."""
    ratio = value("screw", "transverse_modulus_ratio")
    e_b = np.asarray(bone_modulus_mpa, dtype=float)
    return _embedded_compliance(
        axis,
        cranial,
        np.asarray(diameter_mm, dtype=float),
        np.asarray(length_mm, dtype=float),
        e_b,
        ratio * e_b,
        value("screw", "pedicle_modulus_ratio") * e_b,
        screw_modulus_mpa,
        np.broadcast_to(np.asarray(pedicle_mm, dtype=float), np.shape(length_mm)),
    )


def _embedded_compliance(
    axis: Arr,
    cranial: Arr,
    diameter_mm: Arr,
    length_mm: Arr,
    e_axial: Arr,
    e_transverse: Arr,
    e_pedicle: Arr,
    screw_modulus_mpa: float,
    zone: Arr,
) -> Arr:
    """:func:`screw_bone_compliance` with the three bone moduli (MPa) given."""
    nu_b = value("bone", "poisson")
    vesic = value("screw", "winkler_coefficient")
    core = np.maximum(diameter_mm - 2.0 * value("screw", "thread_depth_mm"), 1.0)
    i_s = np.pi * core**4 / 64.0
    ei = screw_modulus_mpa * i_s
    ea = screw_modulus_mpa * np.pi * core**2 / 4.0
    gj = screw_modulus_mpa / 2.6 * 2.0 * i_s

    def k_winkler(e: Arr) -> Arr:
        return np.asarray(vesic * (e * diameter_mm**4 / ei) ** (1.0 / 12.0) * e / (1.0 - nu_b**2))

    def k_twist(e: Arr) -> Arr:
        return np.asarray(4.0 * np.pi * e / (2.0 * (1.0 + nu_b)) * (0.5 * diameter_mm) ** 2)

    k_ped = k_winkler(e_pedicle)
    c_cc = winkler_end_compliance(k_winkler(e_axial), ei, length_mm, k_ped, zone)
    c_ml = winkler_end_compliance(k_winkler(e_transverse), ei, length_mm, k_ped, zone)
    c_axial = shear_lag_end_compliance(k_winkler(e_transverse), ea, length_mm, k_ped, zone)
    c_torsion = shear_lag_end_compliance(
        k_twist(e_transverse), gj, length_mm, k_twist(e_pedicle), zone
    )
    c = np.zeros((*np.shape(length_mm), 6, 6))
    # local axes: 0 = s (into the bone), 1 = e1 (cranio-caudal), 2 = e2 = s × e1
    c[..., 0, 0] = c_torsion
    c[..., 3, 3] = c_axial
    # e1-plane: u_1 with θ_2 = dw/ds; e2-plane: u_2 with θ_1 = −dw/ds
    c[..., 4, 4], c[..., 4, 2], c[..., 2, 4], c[..., 2, 2] = (
        c_cc[..., 0, 0],
        c_cc[..., 0, 1],
        c_cc[..., 1, 0],
        c_cc[..., 1, 1],
    )
    c[..., 5, 5], c[..., 5, 1], c[..., 1, 5], c[..., 1, 1] = (
        c_ml[..., 0, 0],
        -c_ml[..., 0, 1],
        -c_ml[..., 1, 0],
        c_ml[..., 1, 1],
    )
    return _to_global(c, _frames(axis, cranial))


def pedicle_stiffness_share(
    diameter_mm: float,
    length_mm: float,
    pedicle_mm: float,
    bone_modulus_mpa: float,
    pedicle_modulus_ratio: float | None = None,
) -> float:
    """Share of a screw's cranio-caudal stiffness (force over deflection at the entry point)
    that its pedicle alone holds: the stiffness with the vertebral body removed (the thread
    beyond ``pedicle_mm`` free) over that in the whole vertebra, as Hirano et al. 1997 tested
    it. ``pedicle_modulus_ratio`` defaults to the data file's."""
    f = (
        value("screw", "pedicle_modulus_ratio")
        if pedicle_modulus_ratio is None
        else float(pedicle_modulus_ratio)
    )
    ratio = value("screw", "transverse_modulus_ratio")
    args = (
        np.array([[0.0, 1.0, 0.0]]),
        np.array([[0.0, 0.0, 1.0]]),
        np.array([diameter_mm]),
        np.array([length_mm]),
    )
    e_s = value("screw", "modulus_mpa")
    zone = np.array([pedicle_mm])
    e_p = np.array([f * bone_modulus_mpa])

    def stiffness(e_body: float) -> float:
        c = _embedded_compliance(
            *args, np.array([e_body]), np.array([ratio * e_body]), e_p, e_s, zone
        )
        return float(1.0 / c[0, 5, 5])  # cranio-caudal force at the entry (disc frame z)

    return stiffness(1e-9 * bone_modulus_mpa) / stiffness(bone_modulus_mpa)


def rod_section(diameter_mm: Arr) -> tuple[Arr, Arr]:
    """Area (mm²) and second moment (mm⁴) of a solid round rod."""
    d = np.asarray(diameter_mm, dtype=float)
    return np.asarray(np.pi * d**2 / 4.0), np.asarray(np.pi * d**4 / 64.0)


def rod_span_stiffness(
    head_upper: Arr,
    head_lower: Arr,
    entry_upper: Arr,
    entry_lower: Arr,
    axis_upper: Arr,
    axis_lower: Arr,
    cranial: Arr,
    screw_diameter_mm: Arr,
    screw_length_mm: Arr,
    bone_modulus_upper: Arr,
    bone_modulus_lower: Arr,
    rod_modulus_mpa: Arr,
    rod_diameter_mm: Arr,
    pedicle_mm: Arr | float = 0.0,
) -> Arr:
    """6×6 stiffness (n, 6, 6), at the upper head, of rod spans on pedicle screws: the series
    of the upper screw–bone interface, upper shank, upper rod–screw connection, rod, lower
    connection, lower shank and lower screw–bone interface (module docstring). Arrays (n, 3)
    and (n,); ``screw_*`` and ``pedicle_mm`` (each screw's path through its pedicle) (n, 2)
    for (upper, lower)."""
    e_screw = value("screw", "modulus_mpa")
    d_s = np.asarray(screw_diameter_mm, dtype=float)
    l_s = np.asarray(screw_length_mm, dtype=float)
    ped = np.broadcast_to(np.asarray(pedicle_mm, dtype=float), l_s.shape)
    core = np.maximum(d_s - 2.0 * value("screw", "thread_depth_mm"), 1.0)
    a_core, i_core = rod_section(core)
    k_conn = value("screw", "head_connection_stiffness_nm_per_deg") * 1000.0 * 180.0 / np.pi
    c_conn = np.zeros((*head_upper.shape[:-1], 6, 6))
    c_conn[..., [0, 1, 2], [0, 1, 2]] = 1.0 / k_conn
    area, inertia = rod_section(rod_diameter_mm)
    ref = head_upper
    total = cantilever_compliance(head_upper, head_lower, rod_modulus_mpa, area, inertia)
    total = total + c_conn + moved(c_conn, head_lower, ref)
    for j, (head, entry, axis, e_b) in enumerate(
        (
            (head_upper, entry_upper, axis_upper, bone_modulus_upper),
            (head_lower, entry_lower, axis_lower, bone_modulus_lower),
        )
    ):
        shank = cantilever_compliance(
            head, entry, np.asarray(e_screw), a_core[..., j], i_core[..., j]
        )
        bone = screw_bone_compliance(
            axis, cranial, d_s[..., j], l_s[..., j], e_b, e_screw, ped[..., j]
        )
        total = total + moved(shank, head, ref) + moved(bone, entry, ref)
    k = np.linalg.inv(total)
    return np.asarray(0.5 * (k + np.swapaxes(k, -1, -2)))


def screw_loads(wrench: Arr, head: Arr, entry: Arr, axis: Arr) -> dict[str, Arr]:
    """Loads on a screw's bone interface from the wrench (..., 6) the chain puts on its
    vertebra at the head point: pull-out force (N, + pulls the screw out of the bone), shear
    force square to the screw (N), bending moment at the entry (N·mm) and the force's size."""
    f = wrench[..., 3:]
    m_entry = wrench[..., :3] + np.cross(head - entry, f)
    along = (f * axis).sum(-1)
    shear = np.linalg.norm(f - along[..., None] * axis, axis=-1)
    bend = np.linalg.norm(m_entry - (m_entry * axis).sum(-1)[..., None] * axis, axis=-1)
    return {
        "pullout": -along,
        "shear": shear,
        "moment": bend,
        "force": np.linalg.norm(f, axis=-1),
    }
