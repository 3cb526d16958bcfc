"""The fused segment under daily loads as its fusion mass matures, for the healing stage.

:func:`fused_segment_response` solves n patients × k fusion states × the six
:data:`FUSION_LOAD_CASES` in one batched solve. The fusion mass is a beam of bone in each graft
region (interbody; posterolateral gutters) whose modulus is E_mature·φⁿ at bone fraction φ
(fusion_fraction; 0 = graft with no stiffness, 1 = mature bone bridge), acting in parallel with
the instrumented segment.

The daily loads act on the segment weeks to months after surgery: a cage is seated on both
endplates but its distraction pre-load has relaxed (``cage.healing_pretension`` of the data
file), so the cage carries the body's loads and shields the graft inside it. A graft region's
strain is the relative motion of its two ends divided by its height: for the interbody graft
the disc space as the cage restored it (imaged height plus the cage's distraction); for each
posterolateral graft the distance between the transverse processes it bridges.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from spinefuse.anatomy.geometry import SpineGeometry
from spinefuse.conventions import LUMBAR_SEGMENTS, NM, Direction, parse_segment
from spinefuse.errors import ParameterError
from spinefuse.mechanics.constructs import plan_construct
from spinefuse.mechanics.loads import moment_axis
from spinefuse.mechanics.model import build_model, check_geometry, fusion_regions
from spinefuse.mechanics.parameters import parameters, value
from spinefuse.mechanics.result import FUSION_LOAD_CASES, FusionResponse
from spinefuse.mechanics.rotations import exp_so3
from spinefuse.mechanics.simulation import intact_follower_offsets, rod_loads
from spinefuse.mechanics.solver import Loads, solve

if TYPE_CHECKING:
    from spinefuse.plan.surgical_plan import SurgicalPlan

Arr = NDArray[np.float64]


def octahedral_shear_strain(axial: Arr, shear: Arr, poisson: float) -> Arr:
    """Octahedral shear strain of a column under axial strain ε and engineering shear strain γ
    with lateral strains −ν·ε: (2/3)·√(2(1+ν)²ε² + 6(γ/2)²) (Lacroix & Prendergast 2002)."""
    return np.asarray(2.0 / 3.0 * np.sqrt(2.0 * (1.0 + poisson) ** 2 * axial**2 + 1.5 * shear**2))


def _load_cases(g: SpineGeometry, top: str) -> tuple[Arr, Arr]:
    """Moment vectors (6, 3) N·mm (world) and follower loads (6,) N of the fusion load cases."""
    cases = parameters()["fusion_load_cases"]
    moments, follower = [], []
    for name in FUSION_LOAD_CASES:
        c = cases[name]
        follower.append(float(c["follower_n"]))
        if c["direction"] == "none" or float(c["moment_nm"]) == 0.0:
            moments.append(np.zeros(3))
        else:
            axis = moment_axis(g, Direction(c["direction"]), top)
            moments.append(axis * float(c["moment_nm"]) * NM)
    return np.asarray(moments), np.asarray(follower)


def fused_segment_response(
    geometries: list[SpineGeometry],
    plans: list[SurgicalPlan],
    fusion_fraction: Arr,
) -> FusionResponse:
    """Response of each patient's most loaded fused segment at each fusion state.

    ``geometries`` and ``plans``: one per patient (n); ``fusion_fraction``: (k,) bone fractions
    in 0…1. Returns arrays of shape (n, k, 6) for the :data:`FUSION_LOAD_CASES` (flexion
    stiffness (n, k)). The most loaded segment is the fused segment whose graft strain in
    flexion is largest at the first fusion state."""
    phi = np.atleast_1d(np.asarray(fusion_fraction, dtype=float))
    if len(geometries) != len(plans) or not plans:
        raise ParameterError(
            f"fused_segment_response needs one plan per geometry, got {len(geometries)} "
            f"geometries and {len(plans)} plans"
        )
    if phi.ndim != 1 or np.any((phi < 0.0) | (phi > 1.0)):
        raise ParameterError(f"fusion_fraction must be a 1-D array in 0…1, got {phi}")
    for i, p in enumerate(plans):
        if not p.fuse_segments:
            raise ParameterError(f"plan {i} fuses no segment; fused_segment_response needs one")
    n, k, nc = len(plans), len(phi), len(FUSION_LOAD_CASES)
    geos = [g for g in geometries for _ in range(k)]
    cons = [plan_construct(p, fusion_fraction=float(f)) for p in plans for f in phi]
    # Only the fused segments are solved (the span from the highest to the lowest across the
    # patients): the moments and follower load reach them whatever the free levels do, and
    # the free levels' rotation turns the moment's axis in the fused frames (< 5 % on loads).
    fused = sorted(
        {f"{u}-{lo}" for p in plans for u, lo in map(parse_segment, p.fuse_segments)},
        key=LUMBAR_SEGMENTS.index,
    )
    span = LUMBAR_SEGMENTS[LUMBAR_SEGMENTS.index(fused[0]) : LUMBAR_SEGMENTS.index(fused[-1]) + 1]
    model = build_model(
        geos, cons, segments=span, cage_pretension=value("cage", "healing_pretension")
    )
    top = check_geometry(geometries[0])[0].split("-")[0]
    mom, fol = zip(*(_load_cases(g, top) for g in geometries), strict=True)
    moments = np.repeat(np.asarray(mom), k, axis=0)  # (n*k, 6, 3)
    follower = np.repeat(np.asarray(fol), k, axis=0)
    loads = Loads(
        moment_world=moments.reshape(-1, 3),
        follower_n=follower.reshape(-1),
        spine=np.repeat(np.arange(n * k), nc),
    )
    # the follower load of each case along the optimised path of the patient's intact spine,
    # applied before the moment (as in the standing and combined protocols)
    pre = np.asarray(fol)  # (n, 6)
    uniq = sorted({float(x) for x in pre.ravel() if x > 0})
    offsets = np.zeros((n, nc, len(model.segments), 2))
    for f in uniq:
        off = intact_follower_offsets(list(geometries), np.full(n, f), model.segments)
        offsets[pre == f] = np.repeat(off[:, None], nc, 1)[pre == f]
    loads = Loads(
        moment_world=loads.moment_world,
        follower_n=loads.follower_n,
        spine=loads.spine,
        follower_offset=np.repeat(offsets, k, axis=0).reshape(-1, len(model.segments), 2),
    )
    steps = np.asarray(parameters()["fusion_load_cases"]["load_steps"], dtype=float)
    sol = solve(model, loads, steps)
    ns = len(model.segments)
    rot = sol.rotation[-1].reshape(n, k, nc, ns, 3)
    rest = sol.rotation[0].reshape(n, k, nc, ns, 3)
    # motion under a moment is measured from the preloaded posture (as in vitro); the cases
    # without a moment report the posture the preload itself produces
    preloaded = sol.rotation[sol.preload_index].reshape(n, k, nc, ns, 3)
    has_moment = np.asarray([np.any(m != 0.0) for m in np.asarray(mom)[0]])  # (nc,)
    base = np.where(has_moment[None, None, :, None, None], preloaded, rest)
    trans = sol.translation.reshape(n, k, nc, ns, 3)
    rest_t = sol.rest_translation.reshape(n, k, nc, ns, 3)
    wrench = sol.bushing_wrench.reshape(n, k, nc, ns, -1, 6)
    cage_f = sol.cage_force_n.reshape(n, k, nc, ns)
    nu = value("graft", "poisson")
    perm = value("fusion_mass", "graft_permeability_m4_per_ns")
    e_graft = value("fusion_mass", "graft_modulus_mpa") * 1e6

    out = {
        name: np.zeros((n, k, nc))
        for name in ("rotation", "strain", "velocity", "rod_moment", "rod_stress", "cage")
    }
    stiffness = np.zeros((n, k))
    chosen: list[str] = []
    flex = FUSION_LOAD_CASES.index("flexion")
    for i, (g, plan) in enumerate(zip(geometries, plans, strict=True)):
        best: tuple[float, str] | None = None
        per_seg: dict[str, dict[str, Arr]] = {}
        for seg in plan.fuse_segments:
            up, low = parse_segment(seg)
            seg = f"{up}-{low}"
            if seg not in model.segments:
                raise ParameterError(
                    f"plan {i} fuses {seg}, which is not modelled ({', '.join(model.segments)})"
                )
            s = model.segments.index(seg)
            arr = model.arrays[s]
            frame = arr.frame[i * k]
            rv = rot[i, :, :, s]  # (k, nc, 3)
            r_mat = exp_so3(rv)
            r_rest = exp_so3(rest[i, :, :, s])
            strains = []
            graft = cons[i * k].fusion
            regions = [fm.regions for fm in graft if fm.segment == seg]
            wanted = set(regions[0]) if regions else {"interbody", "posterolateral"}
            for name, (top_pt, bot_pt, _) in fusion_regions(g, seg).items():
                if name.split("_")[0] not in wanted:
                    continue
                a = (top_pt - frame[:3, 3]) @ frame[:3, :3]
                b = (bot_pt - frame[:3, 3]) @ frame[:3, :3]
                h = float(np.linalg.norm(a - b))
                e = (a - b) / h
                if name == "interbody":  # the graft fills the disc space the cage restored
                    h += float(arr.cage_distraction[i * k])
                u = (r_mat @ a + trans[i, :, :, s]) - (r_rest @ a + rest_t[i, :, :, s])
                ax = u @ e / h
                sh = np.linalg.norm(u - (u @ e)[..., None] * e, axis=-1) / h
                gamma = octahedral_shear_strain(ax, sh, nu)
                # Darcy flow through the graft driven by the pressure of the strained matrix
                # over half the graft height: v = k·E·γ/(h/2).
                vel = perm * e_graft * gamma / (0.5 * h * 1e-3) * 1e6
                strains.append((gamma, vel))
            gam = np.max([x[0] for x in strains], axis=0)
            vel = np.max([x[1] for x in strains], axis=0)
            rl = [
                rod_loads(
                    wrench[i, :, :, s, j],
                    np.broadcast_to(arr.rod_axis[i * k, j], (k, nc, 3)),
                    np.broadcast_to(arr.rod_length[i * k, j], (k, nc)),
                    np.broadcast_to(arr.rod_section[i * k, j], (k, nc, 3)),
                    np.broadcast_to(arr.rod_material[i * k, j], (k, nc, 3)),
                )
                for j in (0, 1)
                if np.any(arr.bsh_k[i * k, j])
            ]
            rod_m = np.max([x["moment"] for x in rl], axis=0) if rl else np.zeros((k, nc))
            rod_s = np.max([x["stress"] for x in rl], axis=0) if rl else np.zeros((k, nc))
            area = arr.cage_area[i * k]
            cage = cage_f[i, :, :, s] / area if area > 0 else np.zeros((k, nc))
            rmag = np.linalg.norm(rv - base[i, :, :, s], axis=-1)
            per_seg[seg] = {
                "rotation": rmag,
                "strain": gam,
                "velocity": vel,
                "rod_moment": rod_m,
                "rod_stress": rod_s,
                "cage": cage,
            }
            score = float(gam[0, flex])
            if best is None or score > best[0]:
                best = (score, seg)
        assert best is not None
        seg = best[1]
        chosen.append(seg)
        for key in out:
            out[key][i] = per_seg[seg][key]
        m_flex = float(np.linalg.norm(moments[i * k, flex]))
        stiffness[i] = m_flex / np.maximum(per_seg[seg]["rotation"][:, flex], 1e-9)
    return FusionResponse(
        segment_rotation_rad=out["rotation"],
        graft_strain=out["strain"],
        graft_fluid_velocity_um_s=out["velocity"],
        rod_moment_nmm=out["rod_moment"],
        rod_stress_mpa=out["rod_stress"],
        cage_pressure_mpa=out["cage"],
        segment_stiffness_nmm_per_rad=stiffness,
        fusion_fraction=phi,
        segments=tuple(chosen),
    )
