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

from spinefuse.mechanics.parameters import parameters, value

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


def winkler_end_compliance(k_found: Arr, ei: Arr, length: Arr) -> Arr:
    """2×2 compliance (deflection, slope per force, moment) at the loaded end of a free beam of
    bending stiffness EI (N·mm²) and ``length`` (mm) on a Winkler foundation of modulus
    ``k_found`` (N/mm per mm of length), by cubic beam elements with the consistent foundation
    matrix; batched over the leading axis."""
    k_found, ei, length = np.broadcast_arrays(
        np.asarray(k_found, float), np.asarray(ei, float), np.asarray(length, float)
    )
    n_el = _FE_ELEMENTS
    h = length / n_el
    ndof = 2 * (n_el + 1)
    kb = np.array([[12, 6, -12, 6], [6, 4, -6, 2], [-12, -6, 12, -6], [6, 2, -6, 4]], float)
    kf = np.array([[156, 22, 54, -13], [22, 4, 13, -3], [54, 13, 156, -22], [-13, -3, -22, 4]])
    hpow_r = np.array([0.0, 1.0, 0.0, 1.0])  # powers of h: 0 for deflection, 1 for slope dofs
    scale = hpow_r[:, None] + hpow_r[None, :]
    hh = h[..., None, None]
    k_el = (ei[..., None, None] / hh**3) * kb * hh**scale + (
        k_found[..., None, None] * hh / 420.0
    ) * kf * hh**scale
    big = np.zeros((*h.shape, ndof, ndof))
    for e in range(n_el):  # 12 small block additions, vectorised over the batch
        big[..., 2 * e : 2 * e + 4, 2 * e : 2 * e + 4] += k_el
    rhs = np.zeros((*h.shape, ndof, 2))
    rhs[..., 0, 0] = rhs[..., 1, 1] = 1.0
    sol = np.linalg.solve(big, rhs)
    return np.asarray(sol[..., :2, :])


def screw_bone_compliance(
    axis: Arr,
    cranial: Arr,
    diameter_mm: Arr,
    length_mm: Arr,
    bone_modulus_mpa: Arr,
    screw_modulus_mpa: float,
) -> Arr:
    """(θ, u) compliance (n, 6, 6), at the bone entry point, of pedicle screws embedded in bone.

    ``axis``: unit screw axis into the bone; ``cranial``: the vertebra's cranial axis (the
    cranio-caudal toggle plane uses the bone's axial modulus, the medio-lateral one the
    transverse modulus). Winkler modulus k = c·(E_b·d⁴/(E_s·I_s))^(1/12)·E_b/(1−ν²) (Vesic
    1961); axial pull-out and torsion by shear lag along the thread length with the embedding
    stiffness per length k (axial) and 4πG_b·r² (torsion)."""
    p = parameters()["screw"]
    nu_b = value("bone", "poisson")
    thread = float(p["thread_depth_mm"]["value"])
    vesic = float(p["winkler_coefficient"]["value"])
    ratio = float(p["transverse_modulus_ratio"]["value"])
    core = np.maximum(diameter_mm - 2.0 * thread, 1.0)
    i_s = np.pi * core**4 / 64.0
    ei = screw_modulus_mpa * i_s
    ea = screw_modulus_mpa * np.pi * core**2 / 4.0
    gj = screw_modulus_mpa / 2.6 * 2.0 * i_s

    def k_winkler(e_b: Arr) -> Arr:
        return np.asarray(
            vesic * (e_b * diameter_mm**4 / ei) ** (1.0 / 12.0) * e_b / (1.0 - nu_b**2)
        )

    e_ax = bone_modulus_mpa
    e_tr = ratio * bone_modulus_mpa
    c_cc = winkler_end_compliance(k_winkler(e_ax), ei, length_mm)  # cranio-caudal toggle
    c_ml = winkler_end_compliance(k_winkler(e_tr), ei, length_mm)  # medio-lateral toggle
    k_s = k_winkler(e_tr)  # thread embedding along the axis (pull-out)
    beta = np.sqrt(k_s / ea)
    k_axial = np.sqrt(k_s * ea) * np.tanh(beta * length_mm)
    g_b = e_tr / (2.0 * (1.0 + nu_b))
    k_rot = 4.0 * np.pi * g_b * (0.5 * diameter_mm) ** 2
    beta_t = np.sqrt(k_rot / gj)
    k_torsion = np.sqrt(k_rot * gj) * np.tanh(beta_t * length_mm)
    c = np.zeros((*np.shape(length_mm), 6, 6))
    # local axes: 0 = s (into the bone), 1 = e1 (cranio-caudal), 2 = e2 = s × e1
    c[..., 0, 0] = 1.0 / k_torsion
    c[..., 3, 3] = 1.0 / k_axial
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
) -> Arr:
    """6×6 stiffness (n, 6, 6), at the upper head, of rod spans on pedicle screws: the series
    of the upper screw–bone interface, upper shank, upper rod–screw connection, rod, lower
    connection, lower shank and lower screw–bone interface (module docstring). Arrays (n, 3)
    and (n,); ``screw_*`` (n, 2) for (upper, lower)."""
    e_screw = value("screw", "modulus_mpa")
    d_s = np.asarray(screw_diameter_mm, dtype=float)
    l_s = np.asarray(screw_length_mm, dtype=float)
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
        bone = screw_bone_compliance(axis, cranial, d_s[..., j], l_s[..., j], e_b, e_screw)
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
