"""The mechanics stage: ``simulate`` for one spine (intact and operated), the batched
:func:`direction_response` for cohorts, and ``mechanics_json`` for the CLI."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from spinefuse.anatomy.geometry import SpineGeometry
from spinefuse.conventions import DIRECTIONS, MOTION_AXIS_SIGN, NM, parse_segment
from spinefuse.errors import ParameterError
from spinefuse.mechanics.constructs import Construct, parse_constructs, plan_construct
from spinefuse.mechanics.loads import check_load, direction_moments, standing_follower_n
from spinefuse.mechanics.model import SpineModel, build_model
from spinefuse.mechanics.parameters import value
from spinefuse.mechanics.result import (
    CageLoad,
    ImplantLoads,
    MechanicsResult,
    RodLoad,
    ScrewLoad,
    SegmentMotion,
    StandingLoad,
)
from spinefuse.mechanics.solver import Loads, Solution, solve
from spinefuse.plan.surgical_plan import SurgicalPlan

Arr = NDArray[np.float64]
N_DIR = len(DIRECTIONS)
_AXIS = np.array([d.axis for d in DIRECTIONS])
_SIGN = np.array([d.sign * MOTION_AXIS_SIGN[d.axis] for d in DIRECTIONS], dtype=float)


@dataclass(frozen=True)
class DirectionResponse:
    """Six-direction response of n spines (arrays (n, 6, S) unless noted; S segments head to
    pelvis; directions in conventions.DIRECTIONS order)."""

    segments: tuple[str, ...]
    rotation_rad: Arr  # motion in the loaded direction (positive)
    neutral_zone_rad: Arr
    disc_pressure_mpa: Arr
    facet_force_n: Arr  # (n, 6, S, 2)
    cage_force_n: Arr
    moment_nm: Arr  # (n, 6)
    solution: Solution
    model: SpineModel

    @property
    def total_rotation_rad(self) -> Arr:
        """Sum over the segments, (n, 6)."""
        return np.asarray(self.rotation_rad.sum(axis=2))


def _main_motion(rot: Arr) -> Arr:
    """Rotation in the loaded direction: rotation vectors (J, n, 6, S, 3) -> (J, n, 6, S)."""
    idx = np.broadcast_to(_AXIS[None, :, None, None], (*rot.shape[-4:-1], 1))
    vals = np.take_along_axis(rot, idx if rot.ndim == 4 else idx[None], axis=-1)[..., 0]
    return np.asarray(vals * _SIGN[:, None])


def neutral_zone_of_curve(moments: Arr, rotations: Arr) -> Arr:
    """Neutral zone from a loading curve: the rotation where the tangent compliance has fallen
    halfway from its maximum (in the neutral zone) to its value at full load — the boundary of
    the maximum-compliance region (Smit et al. 2011). ``moments`` (J,) ascending from 0,
    ``rotations`` (J, ...) at those moments (same units out as in)."""
    m = np.concatenate([[0.0], moments])
    th = np.concatenate([np.zeros((1, *rotations.shape[1:])), rotations], axis=0)
    dm = np.diff(m).reshape(-1, *([1] * (rotations.ndim - 1)))
    c = np.diff(th, axis=0) / dm  # compliance per interval
    mid_th = 0.5 * (th[1:] + th[:-1])
    cmax = c.max(axis=0)
    half = 0.5 * (cmax + c[-1])
    peak = np.argmax(c, axis=0)
    j = np.arange(c.shape[0]).reshape(-1, *([1] * (rotations.ndim - 1)))
    below = (c < half) & (j > peak)
    first = np.where(below.any(axis=0), np.argmax(below, axis=0), c.shape[0] - 1)
    prev = np.maximum(first - 1, 0)
    c1 = np.take_along_axis(c, first[None], 0)[0]
    c0 = np.take_along_axis(c, prev[None], 0)[0]
    t1 = np.take_along_axis(mid_th, first[None], 0)[0]
    t0 = np.take_along_axis(mid_th, prev[None], 0)[0]
    frac = np.where(np.abs(c0 - c1) > 1e-15, (c0 - half) / np.where(c0 == c1, 1.0, c0 - c1), 0.0)
    return np.asarray(t0 + np.clip(frac, 0.0, 1.0) * (t1 - t0))


def direction_response(
    geometries: list[SpineGeometry],
    constructs: list[Construct],
    moment_nm: float | Arr = 7.5,
    preload_n: float | Arr = 0.0,
    steps: Arr | None = None,
    neutral_zone: bool = True,
) -> DirectionResponse:
    """All six pure-moment directions for each spine (with its construct) in one batched solve;
    ``moment_nm`` scalar or (n, 6), ``preload_n`` a follower load (N) scalar or (n,).

    The neutral zone needs the fine load steps of the data file; with ``neutral_zone=False``
    two steps suffice (the elastic equilibrium does not depend on the path) and the neutral
    zones are NaN — the fast setting for cohorts."""
    if steps is None and not neutral_zone:
        steps = np.array([0.5, 1.0])
    model = build_model(geometries, constructs)
    n = len(geometries)
    top = parse_segment(model.segments[0])[0]
    moments = direction_moments(geometries, top, moment_nm)
    pre = np.broadcast_to(np.asarray(preload_n, dtype=float), (n,))
    loads = Loads(
        moment_world=moments.reshape(-1, 3),
        follower_n=np.repeat(pre, N_DIR),
        spine=np.repeat(np.arange(n), N_DIR),
    )
    sol = solve(model, loads, steps)
    ns = len(model.segments)
    hist = sol.rotation.reshape(len(sol.steps), n, N_DIR, ns, 3)
    # rotation vectors in the lower vertebra's frame (conventions: segment motion is the
    # upper vertebra's motion in the lower one's frame)
    to_lower = np.stack([a.to_lower for a in model.arrays], axis=1)  # (n, S, 3, 3)
    hist = np.einsum("nsij,kndsj->kndsi", to_lower, hist)
    motion = _main_motion(hist)  # (J, n, 6, S)
    motion = motion[1:] - motion[:1]  # from the rest posture
    mags = np.linalg.norm(moments, axis=-1) / NM  # (n, 6)
    if not neutral_zone:
        nz = np.full_like(motion[-1], np.nan)
    elif np.all(mags > 0):
        nz = neutral_zone_of_curve(sol.steps[1:], motion)
    else:
        nz = np.zeros_like(motion[-1])
    area = np.stack([a.disc_area for a in model.arrays], axis=1)  # (n, S)
    kp = value("calibrated_pressure_factor")
    fc = sol.disc_force_n.reshape(n, N_DIR, ns)
    return DirectionResponse(
        segments=model.segments,
        rotation_rad=motion[-1],
        neutral_zone_rad=np.asarray(nz),
        disc_pressure_mpa=kp * fc / area[:, None, :],
        facet_force_n=sol.facet_force_n.reshape(n, N_DIR, ns, 2),
        cage_force_n=sol.cage_force_n.reshape(n, N_DIR, ns),
        moment_nm=np.asarray(mags),
        solution=sol,
        model=model,
    )


def rom_batch(
    geometries: list[SpineGeometry],
    constructs: list[Construct] | None = None,
    moment_nm: float | Arr = 7.5,
    preload_n: float | Arr = 0.0,
    chunk: int = 250,
) -> Arr:
    """Range of motion (rad, (n, 6, S): spines × conventions.DIRECTIONS × segments head to
    pelvis) of many spines, solved ``chunk`` spines at a time so the arrays stay in cache and
    memory stays bounded — the cohort API. Neutral zones are not computed."""
    n = len(geometries)
    cons = constructs if constructs is not None else [Construct()] * n
    if len(cons) != n:
        raise ParameterError(f"rom_batch: {n} geometries but {len(cons)} constructs")
    mom = np.broadcast_to(np.asarray(moment_nm, dtype=float), (n, N_DIR))
    pre = np.broadcast_to(np.asarray(preload_n, dtype=float), (n,))
    parts = [
        direction_response(
            geometries[i : i + chunk],
            cons[i : i + chunk],
            mom[i : i + chunk],
            pre[i : i + chunk],
            neutral_zone=False,
        ).rotation_rad
        for i in range(0, n, chunk)
    ]
    return np.concatenate(parts, axis=0)


def hybrid_moments(
    geometries: list[SpineGeometry],
    constructs: list[Construct],
    target_rad: Arr,
    moment_nm: float,
    preload_n: float = 0.0,
    iterations: int = 6,
) -> tuple[Arr, DirectionResponse]:
    """Moments (N·m, (n, 6)) under which each operated spine's total rotation equals
    ``target_rad`` (n, 6) — the hybrid (displacement-matched) protocol — found by secant steps
    on the moment magnitude; and the response at those moments."""
    m0 = np.full(target_rad.shape, float(moment_nm))
    r0 = direction_response(geometries, constructs, m0, preload_n)
    t0 = r0.total_rotation_rad
    m1 = np.clip(m0 * target_rad / np.maximum(t0, 1e-6), 0.1, 30.0)
    r1 = direction_response(geometries, constructs, m1, preload_n)
    for _ in range(iterations):
        t1 = r1.total_rotation_rad
        if np.all(np.abs(t1 - target_rad) <= 0.005 * np.abs(target_rad) + 1e-5):
            break
        slope = (t1 - t0) / np.where(np.abs(m1 - m0) < 1e-9, 1e-9, m1 - m0)
        m2 = np.clip(m1 + (target_rad - t1) / np.where(slope > 1e-9, slope, 1e-9), 0.1, 30.0)
        m0, t0 = m1, t1
        m1, r1 = m2, direction_response(geometries, constructs, m2, preload_n)
    return m1, r1


def standing_response(
    geometries: list[SpineGeometry], constructs: list[Construct], follower_n: float | None = None
) -> tuple[Solution, SpineModel]:
    """Relaxed standing: a follower load alone (default: the data file's standing load)."""
    model = build_model(geometries, constructs)
    n = len(geometries)
    f = standing_follower_n() if follower_n is None else follower_n
    loads = Loads(np.zeros((n, 3)), np.full(n, f), np.arange(n))
    return solve(model, loads), model


def _motions(r: DirectionResponse, i: int) -> dict[str, SegmentMotion]:
    out = {}
    for s, seg in enumerate(r.segments):
        rot = np.degrees(r.rotation_rad[i, :, s])
        nz = np.degrees(r.neutral_zone_rad[i, :, s])
        fields: dict[str, object] = {}
        for d, direction in enumerate(DIRECTIONS):
            fields[f"{direction.value}_deg"] = round(float(rot[d]), 4)
            fields[f"{direction.value}_nz_deg"] = round(float(nz[d]), 4)
        fields["disc_pressure_mpa"] = {
            d.value: round(float(r.disc_pressure_mpa[i, k, s]), 4) for k, d in enumerate(DIRECTIONS)
        }
        fields["facet_force_n"] = {
            d.value: {
                "left": round(float(r.facet_force_n[i, k, s, 0]), 2),
                "right": round(float(r.facet_force_n[i, k, s, 1]), 2),
            }
            for k, d in enumerate(DIRECTIONS)
        }
        fields["moment_nm"] = {
            d.value: round(float(r.moment_nm[i, k]), 4) for k, d in enumerate(DIRECTIONS)
        }
        out[seg] = SegmentMotion.model_validate(fields)
    return out


def rod_loads(wrench: Arr, axis: Arr, length: Arr, section: Arr, material: Arr) -> dict[str, Arr]:
    """Rod internal loads from the wrench the rod span puts on the upper vertebra.

    ``wrench`` (..., 6) moment N·mm and force N; ``axis`` (..., 3) unit lower -> upper head;
    ``length`` (...,) mm; ``section`` (..., 3) area, second moment, radius; ``material``
    (..., 3) ultimate, endurance (MPa), fatigue notch factor. Returns the largest bending moment
    along the span (N·mm), the axial force (N), the peak stress (MPa) and the Goodman safety
    factor for a pulsating load 0 -> peak (alternating = mean = peak/2) against the
    notch-corrected endurance limit."""
    m_a = -wrench[..., :3]
    f_a = -wrench[..., 3:]
    m_b = -m_a - length[..., None] * np.cross(axis, f_a)

    def bending(m: Arr) -> Arr:
        return np.asarray(np.linalg.norm(m - (m * axis).sum(-1)[..., None] * axis, axis=-1))

    moment = np.maximum(bending(m_a), bending(m_b))
    axial = (f_a * axis).sum(-1)
    stress = moment * section[..., 2] / section[..., 1] + np.abs(axial) / section[..., 0]
    su, se, kf = material[..., 0], material[..., 1], material[..., 2]
    inv = 0.5 * stress * (kf / se + 1.0 / su)
    sf = np.where(inv > 1e-12, 1.0 / np.maximum(inv, 1e-12), np.inf)
    return {"moment": moment, "axial": axial, "stress": stress, "safety": sf}


def _implants(r: DirectionResponse, i: int, construct: Construct) -> ImplantLoads:
    rods: list[RodLoad] = []
    screws: dict[tuple[str, str], tuple[float, float, str]] = {}
    cages: list[CageLoad] = []
    sol, model = r.solution, r.model
    for s, seg in enumerate(r.segments):
        a = model.arrays[s]
        for j, side in enumerate(("left", "right")):
            if not np.any(a.bsh_k[i, j]):
                continue
            cases = slice(i * N_DIR, (i + 1) * N_DIR)
            w = sol.bushing_wrench[cases, s, j]
            loads = rod_loads(
                w,
                np.repeat(a.rod_axis[i, j][None], N_DIR, 0),
                np.repeat(a.rod_length[i, j], N_DIR),
                np.repeat(a.rod_section[i, j][None], N_DIR, 0),
                np.repeat(a.rod_material[i, j][None], N_DIR, 0),
            )
            worst = int(np.argmax(loads["stress"]))
            rods.append(
                RodLoad(
                    side=side,
                    segment=seg,
                    load_case=DIRECTIONS[worst].value,
                    bending_moment_nm=round(float(loads["moment"][worst]) / NM, 4),
                    axial_force_n=round(float(loads["axial"][worst]), 3),
                    stress_mpa=round(float(loads["stress"][worst]), 3),
                    safety_factor=round(float(min(loads["safety"][worst], 1e6)), 4),
                )
            )
            up, low = parse_segment(seg)
            force = np.linalg.norm(w[:, 3:], axis=1)
            moment = np.linalg.norm(w[:, :3], axis=1)
            for v in (up, low):
                k = int(np.argmax(force))
                old = screws.get((v, side))
                if old is None or force[k] > old[0]:
                    screws[(v, side)] = (float(force[k]), float(moment[k]), DIRECTIONS[k].value)
        if a.cage_area[i] > 0:
            f = r.cage_force_n[i, :, s]
            k = int(np.argmax(f))
            cages.append(
                CageLoad(
                    segment=seg,
                    load_case=DIRECTIONS[k].value,
                    force_n=round(float(f[k]), 3),
                    pressure_mpa=round(float(f[k] / a.cage_area[i]), 5),
                )
            )
    screw_list = [
        ScrewLoad(
            vertebra=v,
            side=side,
            load_case=case,
            force_n=round(fv, 3),
            moment_nm=round(mv / NM, 4),
        )
        for (v, side), (fv, mv, case) in screws.items()
    ]
    return ImplantLoads(
        rods=rods,
        screws=screw_list,
        cages=cages,
        min_rod_safety_factor=min((x.safety_factor for x in rods), default=None),
        max_rod_stress_mpa=max((x.stress_mpa for x in rods), default=None),
    )


def simulate(
    geometry: SpineGeometry,
    plan: SurgicalPlan | None = None,
    *,
    protocol: str = "pure-moment",
    moment_nm: float = 7.5,
    preload_n: float = 0.0,
    constructs: tuple[str, ...] | list[str] = (),
) -> MechanicsResult:
    """Simulate the spine intact and, with a plan or construct specs, operated.

    Protocols: ``pure-moment`` (moments of ``moment_nm`` in six directions), ``combined``
    (moments plus a ``preload_n`` follower load), ``follower`` (the follower load alone),
    ``hybrid`` (the operated spine is loaded until its total L1–S1 rotation equals the intact
    spine's under ``moment_nm``; the moments needed are reported). Relaxed standing is always
    added."""
    proto = check_load(protocol, moment_nm, preload_n)
    operated = Construct()
    if plan is not None:
        operated = operated.merged(plan_construct(plan))
    if constructs:
        operated = operated.merged(parse_constructs(list(constructs)))
    has_construct = plan is not None or bool(constructs)
    moment = 0.0 if proto == "follower" else moment_nm
    pre = preload_n if proto in ("follower", "combined", "hybrid") else 0.0
    geos = [geometry, geometry] if has_construct else [geometry]
    cons = [Construct(), operated] if has_construct else [Construct()]
    notes: list[str] = []
    if proto == "hybrid" and has_construct:
        intact = direction_response([geometry], [Construct()], moment, pre)
        target = intact.total_rotation_rad
        _, op = hybrid_moments([geometry], [operated], target, moment, pre)
        res_i, res_o, io, oo = intact, op, 0, 0
        notes.append("hybrid: operated moments matched to the intact total L1-S1 rotation")
    else:
        if proto == "follower":
            resp = _follower_only(geos, cons, pre)
        else:
            resp = direction_response(geos, cons, moment, pre)
        res_i, res_o, io, oo = resp, resp, 0, (1 if has_construct else 0)
    stand, smodel = standing_response(geos, cons)
    f_stand = standing_follower_n()
    ns = len(smodel.segments)
    area = np.stack([a.disc_area for a in smodel.arrays], axis=1)
    kp = value("calibrated_pressure_factor")
    si = len(geos) - 1
    standing = {
        seg: StandingLoad(
            disc_pressure_mpa=round(float(kp * stand.disc_force_n[si, s] / area[si, s]), 4),
            disc_force_n=round(float(stand.disc_force_n[si, s]), 3),
            facet_force_n=round(float(stand.facet_force_n[si, s].sum()), 3),
            rotation_deg=round(float(-np.degrees(stand.rotation[-1, si, s, 0])), 4),
        )
        for s, seg in enumerate(smodel.segments[:ns])
    }
    spec_list = list(constructs)
    if plan is not None:
        spec_list = [f"plan:{plan.technique}:{','.join(plan.fuse_segments)}", *spec_list]
    return MechanicsResult(
        protocol=proto,
        moment_nm=moment_nm,
        preload_n=preload_n,
        geometry_source=geometry.source,
        constructs=spec_list,
        segments=_motions(res_o, oo),
        implants=_implants(res_o, oo, operated) if has_construct else ImplantLoads(),
        intact=_motions(res_i, io) if has_construct else None,
        standing=standing,
        standing_follower_n=f_stand,
        notes=notes,
    )


def _follower_only(
    geos: list[SpineGeometry], cons: list[Construct], preload_n: float
) -> DirectionResponse:
    """The follower load alone, reported in every direction slot (no moment)."""
    return direction_response(geos, cons, 0.0, preload_n)
