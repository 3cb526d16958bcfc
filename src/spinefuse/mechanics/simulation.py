"""The mechanics stage: ``simulate`` for one spine (intact and operated), the batched
:func:`direction_response` for cohorts.

Rotations are measured, as in vitro, from the posture the spine sits in before the moment is
applied: the unloaded rest posture (with any implant's pre-stress, such as a cage's
distraction) or, under a follower load, the preloaded posture.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from spinefuse.anatomy.geometry import SpineGeometry
from spinefuse.conventions import DIRECTIONS, MOTION_AXIS_SIGN, NM, parse_segment, span_segments
from spinefuse.errors import ConvergenceError, LevelError, ParameterError
from spinefuse.mechanics.constructs import Construct, RodSpec, parse_constructs, plan_construct
from spinefuse.mechanics.follower import optimal_follower_offsets
from spinefuse.mechanics.loads import (
    PostureCase,
    check_load,
    direction_moments,
    moment_axis,
    posture_case,
    standing_follower_n,
)
from spinefuse.mechanics.model import SpineModel, build_model, check_geometry
from spinefuse.mechanics.parameters import value
from spinefuse.mechanics.result import (
    CageForces,
    CageLoad,
    CurvePoint,
    ImplantLoads,
    MechanicsResult,
    PostureLoad,
    PostureSegment,
    RodForces,
    RodLoad,
    ScrewForces,
    ScrewLoad,
    SegmentMotion,
    SpacerLoad,
    StandingLoad,
)
from spinefuse.mechanics.screws import screw_loads
from spinefuse.mechanics.solver import Loads, Solution, solve

if TYPE_CHECKING:
    from spinefuse.plan.surgical_plan import SurgicalPlan

Arr = NDArray[np.float64]
T = TypeVar("T")
N_DIR = len(DIRECTIONS)
_AXIS = np.array([d.axis for d in DIRECTIONS])
_SIGN = np.array([d.sign * MOTION_AXIS_SIGN[d.axis] for d in DIRECTIONS], dtype=float)


@dataclass(frozen=True)
class DirectionResponse:
    """Six-direction response of n spines (arrays (n, 6, S) unless noted; S segments head to
    pelvis; directions in conventions.DIRECTIONS order)."""

    segments: tuple[str, ...]
    rotation_rad: Arr  # motion in the loaded direction (positive), from the start posture
    neutral_zone_rad: Arr
    disc_pressure_mpa: Arr  # NaN without a nucleus
    facet_force_n: Arr  # (n, 6, S, 2)
    cage_force_n: Arr
    moment_nm: Arr  # (n, 6)
    solution: Solution
    model: SpineModel
    curve_rad: Arr  # (n, J, 6, S) motion at each moment step
    curve_moment_nm: Arr  # (n, J, 6)
    start_pressure_mpa: Arr  # (n, S) in the start posture
    start_rotation_rad: Arr  # (n, S, 3) start posture from the imaged one (lower frame)
    follower_offset: Arr  # (n, S, 2) mm

    @property
    def total_rotation_rad(self) -> Arr:
        """Sum over the segments, (n, 6)."""
        return np.asarray(self.rotation_rad.sum(axis=2))


@dataclass
class SpineMemo:
    """What :func:`simulate` finds for one spine whatever is planned on it — the intact spine's
    response and its optimised follower paths — kept so that simulating the next plan on the
    same geometry (a plan editor's edits) reuses it. A result is reused only for the very
    inputs it was found with (protocol moment, preload, load steps, specimen span), so a
    simulation with the memo gives the numbers one without it gives."""

    geometry: SpineGeometry
    size: int = 16
    _found: dict[Hashable, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def recall(self, key: Hashable, find: Callable[[], T]) -> T:
        """The result stored under ``key``, found (and stored) on first use."""
        with self._lock:
            if key in self._found:
                return self._found[key]  # type: ignore[no-any-return]
        found = find()
        with self._lock:
            self._found[key] = found
            while len(self._found) > self.size:
                self._found.pop(next(iter(self._found)))
        return found


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


def specimen_segments(geometry: SpineGeometry, span: str | None) -> tuple[str, ...] | None:
    """The segments of a specimen ``span`` (``L1-S1``, ``L3-S1``, ``L4-L5``; its lowest
    vertebra fixed) checked against the geometry; None for the whole lumbar spine."""
    if span is None:
        return None
    try:
        segs = tuple(span_segments(span.upper()))
    except LevelError as err:
        raise ParameterError(f"span {span!r}: {err}") from None
    have = check_geometry(geometry)
    missing = [s for s in segs if s not in have]
    if not segs or missing:
        raise ParameterError(
            f"span {span!r}: segment(s) {', '.join(missing) or '(none)'} not in this spine "
            f"({have[0].split('-')[0]}-{have[-1].split('-')[1]}); give e.g. L1-S1, L3-S1 or L4-L5"
        )
    return segs


def intact_follower_offsets(
    geometries: list[SpineGeometry],
    preload_n: Arr,
    segments: tuple[str, ...] | None = None,
    intact_model: SpineModel | None = None,
) -> Arr:
    """Optimised follower path (n, S, 2) of each spine, found on the intact spine (the guides
    stay on the vertebrae when it is operated); spines repeated in the list are solved once.
    ``intact_model``: the model of the distinct spines intact, in order of first appearance,
    when the caller has it."""
    pre = np.broadcast_to(np.asarray(preload_n, dtype=float), (len(geometries),))
    keys: dict[tuple[int, float], int] = {}
    uniq: list[SpineGeometry] = []
    loads: list[float] = []
    for g, p in zip(geometries, pre, strict=True):
        k = (id(g), float(p))
        if k not in keys and p > 0:
            keys[k] = len(uniq)
            uniq.append(g)
            loads.append(float(p))
    if not uniq:
        return np.zeros((len(geometries), len(segments or check_geometry(geometries[0])), 2))
    model = intact_model or build_model(uniq, [Construct()] * len(uniq), segments)
    off = optimal_follower_offsets(model, np.asarray(loads))
    out = np.zeros((len(geometries), len(model.segments), 2))
    for i, (g, p) in enumerate(zip(geometries, pre, strict=True)):
        if p > 0:
            out[i] = off[keys[(id(g), float(p))]]
    return out


def direction_response(
    geometries: list[SpineGeometry],
    constructs: list[Construct],
    moment_nm: float | Arr = 7.5,
    preload_n: float | Arr = 0.0,
    steps: Arr | None = None,
    neutral_zone: bool = True,
    segments: tuple[str, ...] | None = None,
    follower_offset: Arr | None = None,
    moment_frame: str | None = None,
    model: SpineModel | None = None,
) -> DirectionResponse:
    """All six pure-moment directions for each spine (with its construct) in one batched solve;
    ``moment_nm`` scalar or (n, 6), ``preload_n`` a follower load (N) scalar or (n,) applied
    first along the optimised path (``follower_offset`` to give the path). Motion is measured
    from the preloaded posture. ``segments``: a shorter specimen (its lowest vertebra fixed);
    the moments act about the axes of its top vertebra, or of ``moment_frame``. ``model``: the
    already built model of these spines and constructs.

    The neutral zone needs the fine load steps of the data file; with ``neutral_zone=False``
    two steps suffice (the elastic equilibrium does not depend on the path) and the neutral
    zones are NaN — the fast setting for cohorts (one load step: the elastic equilibrium does
    not depend on the path)."""
    fast = steps is None and not neutral_zone
    if fast:
        steps = np.array([1.0])
    if steps is None:
        steps = np.asarray(value_steps(), dtype=float)
    if model is None:
        model = build_model(geometries, constructs, segments)
    n = len(geometries)
    ns = len(model.segments)
    top = moment_frame or parse_segment(model.segments[0])[0]
    moments = direction_moments(geometries, top, moment_nm)
    pre = np.broadcast_to(np.asarray(preload_n, dtype=float), (n,))
    if follower_offset is None:
        follower_offset = (
            intact_follower_offsets(geometries, pre, model.segments)
            if np.any(pre > 0)
            else np.zeros((n, ns, 2))
        )
    loads = Loads(
        moment_world=moments.reshape(-1, 3),
        follower_n=np.repeat(pre, N_DIR),
        spine=np.repeat(np.arange(n), N_DIR),
        follower_offset=np.repeat(follower_offset, N_DIR, axis=0),
    )
    try:
        sol = solve(model, loads, steps)
    except ConvergenceError:
        if not fast:
            raise
        sol = solve(model, loads, np.array([0.25, 0.5, 0.75, 1.0]))  # ramp when one step fails
    hist = sol.rotation.reshape(len(sol.steps), n, N_DIR, ns, 3)
    # rotation vectors in the lower vertebra's frame (conventions: segment motion is the
    # upper vertebra's motion in the lower one's frame)
    to_lower = np.stack([a.to_lower for a in model.arrays], axis=1)  # (n, S, 3, 3)
    hist = np.einsum("nsij,kndsj->kndsi", to_lower, hist)
    j0 = sol.preload_index
    start = hist[j0, :, 0] - hist[0, :, 0]  # (n, S, 3) start posture from the imaged one
    motion = _main_motion(hist)  # (J, n, 6, S)
    curve = motion[j0 + 1 :] - motion[j0 : j0 + 1]
    fractions = sol.steps[j0 + 1 :]
    mags = np.linalg.norm(moments, axis=-1) / NM  # (n, 6)
    if len(fractions) == 0:  # no moment: the start posture itself
        curve = np.zeros((1, n, N_DIR, ns))
        fractions = np.zeros(1)
    if not neutral_zone:
        nz = np.full_like(curve[-1], np.nan)
    elif np.all(mags > 0) and len(fractions) > 1:
        nz = neutral_zone_of_curve(fractions, curve)
    else:
        nz = np.zeros_like(curve[-1])
    area = np.stack([a.disc_area for a in model.arrays], axis=1)  # (n, S)
    p0 = np.stack([a.disc_p0 for a in model.arrays], axis=1)
    nucleus = p0 > 0
    kp = value("calibrated_pressure_factor")
    fc = sol.disc_force_n.reshape(n, N_DIR, ns)
    pressure = np.where(nucleus[:, None], p0[:, None] + kp * fc / area[:, None, :], np.nan)
    fc0 = sol.preload_disc_force_n.reshape(n, N_DIR, ns)[:, 0]
    start_p = np.where(nucleus, p0 + kp * fc0 / area, np.nan)
    return DirectionResponse(
        segments=model.segments,
        rotation_rad=curve[-1],
        neutral_zone_rad=np.asarray(nz),
        disc_pressure_mpa=pressure,
        facet_force_n=sol.facet_force_n.reshape(n, N_DIR, ns, 2),
        cage_force_n=sol.cage_force_n.reshape(n, N_DIR, ns),
        moment_nm=np.asarray(mags),
        solution=sol,
        model=model,
        curve_rad=np.swapaxes(curve, 0, 1),
        curve_moment_nm=fractions[None, :, None] * mags[:, None, :],
        start_pressure_mpa=start_p,
        start_rotation_rad=start,
        follower_offset=follower_offset,
    )


def value_steps() -> list[float]:
    from spinefuse.mechanics.solver import value_list

    return value_list("loads", "load_steps")


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
    segments: tuple[str, ...] | None = None,
    follower_offset: Arr | None = None,
    steps: Arr | None = None,
    model: SpineModel | None = None,
) -> tuple[Arr, DirectionResponse]:
    """Moments (N·m, (n, 6)) under which each spine's total rotation equals ``target_rad``
    (n, 6) — the hybrid (displacement-matched) and displacement protocols — found by secant
    steps on the moment magnitude; and the response at those moments. ``model``: the already
    built model of these spines and constructs."""
    if model is None:
        model = build_model(geometries, constructs, segments)

    def run(m: Arr) -> DirectionResponse:
        return direction_response(
            geometries,
            constructs,
            m,
            preload_n,
            steps,
            True,
            segments,
            follower_offset,
            model=model,
        )

    m0 = np.full(target_rad.shape, float(moment_nm))
    r0 = run(m0)
    t0 = r0.total_rotation_rad
    m1 = np.clip(m0 * target_rad / np.maximum(t0, 1e-6), 0.1, 30.0)
    r1 = run(m1)
    for _ in range(iterations):
        t1 = r1.total_rotation_rad
        if np.all(np.abs(t1 - target_rad) <= 0.005 * np.abs(target_rad) + 1e-5):
            break
        slope = (t1 - t0) / np.where(np.abs(m1 - m0) < 1e-9, 1e-9, m1 - m0)
        m2 = np.clip(m1 + (target_rad - t1) / np.where(slope > 1e-9, slope, 1e-9), 0.1, 30.0)
        m0, t0 = m1, t1
        m1, r1 = m2, run(m2)
    return m1, r1


def standing_response(
    geometries: list[SpineGeometry],
    constructs: list[Construct],
    follower_n: float | None = None,
    follower_offset: Arr | None = None,
    segments: tuple[str, ...] | None = None,
    model: SpineModel | None = None,
) -> tuple[Solution, SpineModel]:
    """Relaxed standing: a follower load alone (default: the data file's standing load) along
    the optimised path of each (intact) spine; ``model`` the already built model."""
    if model is None:
        model = build_model(geometries, constructs, segments)
    n = len(geometries)
    f = standing_follower_n() if follower_n is None else follower_n
    if follower_offset is None:
        intact = None
        if all(not c.segments for c in constructs[:1]) and len({id(g) for g in geometries}) == 1:
            intact = model.rows([0])  # the first spine is the intact one of a single geometry
        follower_offset = intact_follower_offsets(
            geometries, np.full(n, f), model.segments, intact_model=intact
        )
    loads = Loads(np.zeros((n, 3)), np.full(n, f), np.arange(n), follower_offset)
    return solve(model, loads, steps=np.zeros(0)), model


def posture_response(
    geometries: list[SpineGeometry],
    constructs: list[Construct],
    case: PostureCase,
    segments: tuple[str, ...] | None = None,
    follower_offset: Arr | None = None,
) -> tuple[Solution, SpineModel, Arr]:
    """An in vivo posture: its follower load along the optimised path, then its moment."""
    model = build_model(geometries, constructs, segments)
    n = len(geometries)
    top = parse_segment(model.segments[0])[0]
    if case.direction is None or case.moment_nm == 0.0:
        mom = np.zeros((n, 3))
    else:
        mom = np.asarray([moment_axis(g, case.direction, top) for g in geometries]) * (
            case.moment_nm * NM
        )
    f = np.full(n, case.follower_n)
    if follower_offset is None:
        follower_offset = intact_follower_offsets(geometries, f, model.segments)
    sol = solve(model, Loads(mom, f, np.arange(n), follower_offset), np.array([0.5, 1.0]))
    return sol, model, follower_offset


def rod_loads(wrench: Arr, axis: Arr, length: Arr, section: Arr, material: Arr) -> dict[str, Arr]:
    """Rod internal loads from the wrench the rod span puts on the upper vertebra.

    ``wrench`` (..., 6) moment N·mm and force N; ``axis`` (..., 3) unit lower -> upper head;
    ``length`` (...,) mm; ``section`` (..., 3) area, second moment, radius; ``material``
    (..., 3) ultimate, endurance (MPa), fatigue notch factor. Returns the largest bending moment
    along the span (N·mm), the axial force (N, + tension), the peak stress (MPa) and the Goodman
    safety factor for a pulsating load 0 -> peak (alternating = mean = peak/2) against the
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


def implant_loads(
    sol: Solution,
    model: SpineModel,
    spine: int,
    construct: Construct,
    cases: list[str],
    rows: NDArray[np.intp],
) -> ImplantLoads:
    """The implants' loads of spine ``spine`` in the load cases named ``cases`` (solution rows
    ``rows``): per case and the worst case of each implant."""
    rods: list[RodLoad] = []
    screws: dict[tuple[str, str], dict[str, tuple[Arr, Arr, Arr]]] = {}
    cages: list[CageLoad] = []
    spacers: list[SpacerLoad] = []
    rod_specs: dict[str, RodSpec] = {r.side: r for r in construct.rods}
    for s, seg in enumerate(model.segments):
        a = model.arrays[s]
        frame = a.frame[spine]
        rot_w, org = frame[:3, :3], frame[:3, 3]
        for j, side in enumerate(("left", "right")):
            if not np.any(a.bsh_k[spine, j]):
                continue
            w = sol.bushing_wrench[rows, s, j]
            nc = len(rows)
            loads = rod_loads(
                w,
                np.repeat(a.rod_axis[spine, j][None], nc, 0),
                np.repeat(a.rod_length[spine, j], nc),
                np.repeat(a.rod_section[spine, j][None], nc, 0),
                np.repeat(a.rod_material[spine, j][None], nc, 0),
            )
            worst = int(np.argmax(loads["stress"]))
            spec = rod_specs.get(side)
            rods.append(
                RodLoad(
                    side=side,
                    segment=seg,
                    load_case=cases[worst],
                    bending_moment_nm=round(float(loads["moment"][worst]) / NM, 4),
                    axial_force_n=round(float(loads["axial"][worst]), 3),
                    stress_mpa=round(float(loads["stress"][worst]), 3),
                    safety_factor=round(float(min(loads["safety"][worst], 1e6)), 4),
                    material=spec.material if spec else "titanium",
                    diameter_mm=spec.diameter_mm if spec else 5.5,
                    by_direction={
                        c: RodForces(
                            bending_moment_nm=round(float(loads["moment"][k]) / NM, 4),
                            axial_force_n=round(float(loads["axial"][k]), 3),
                            stress_mpa=round(float(loads["stress"][k]), 3),
                        )
                        for k, c in enumerate(cases)
                    },
                )
            )
            # screws: world-frame loads of the upper and lower screw of the span, summed over
            # the spans meeting at a vertebra
            up, low = parse_segment(seg)
            head_u = a.screw_head[spine, j, 0]
            for v, wrench, entry, axis in (
                (up, w, a.screw_entry[spine, j, 0], a.screw_axis[spine, j, 0]),
                (low, -w, a.screw_entry[spine, j, 1], a.screw_axis[spine, j, 1]),
            ):
                f_w = wrench[:, 3:] @ rot_w.T
                m_w = (wrench[:, :3] + np.cross(head_u - entry, wrench[:, 3:])) @ rot_w.T
                entry_w = rot_w @ entry + org
                acc = screws.setdefault((v, side), {})
                if "f" in acc:
                    f0, m0, e0 = acc["f"]
                    f_w, m_w = f0 + f_w, m0 + m_w
                acc["f"] = (f_w, m_w, entry_w)
                acc["axis"] = (rot_w @ axis, rot_w @ axis, rot_w @ axis)  # world, unit
        if a.cage_area[spine] > 0:
            f = sol.cage_force_n[rows, s]
            k = int(np.argmax(f))
            area = float(a.cage_area[spine])
            cages.append(
                CageLoad(
                    segment=seg,
                    load_case=cases[k],
                    force_n=round(float(f[k]), 3),
                    pressure_mpa=round(float(f[k] / area), 5),
                    rest_force_n=round(float(sol.rest_cage_force_n[rows[0], s]), 3),
                    distraction_mm=round(float(a.cage_distraction[spine]), 3),
                    by_direction={
                        c: CageForces(
                            force_n=round(float(f[i]), 3), pressure_mpa=round(float(f[i] / area), 5)
                        )
                        for i, c in enumerate(cases)
                    },
                )
            )
        if np.any(a.con_k[spine, -1:] > 0):
            spacers.append(
                SpacerLoad(
                    segment=seg,
                    by_direction={
                        c: round(float(sol.spacer_force_n[r, s]), 3)
                        for c, r in zip(cases, rows, strict=True)
                    },
                )
            )
    screw_list = []
    for (v, side), acc in screws.items():
        f_w, m_w, entry_w = acc["f"]
        axis_w = acc["axis"][0]
        wrench = np.concatenate([m_w, f_w], axis=1)
        sl = screw_loads(wrench, np.broadcast_to(entry_w, f_w.shape), entry_w, axis_w)
        k = int(np.argmax(sl["force"]))
        screw_list.append(
            ScrewLoad(
                vertebra=v,
                side=side,
                load_case=cases[k],
                force_n=round(float(sl["force"][k]), 3),
                moment_nm=round(float(sl["moment"][k]) / NM, 4),
                by_direction={
                    c: ScrewForces(
                        force_n=round(float(sl["force"][i]), 3),
                        pullout_force_n=round(float(sl["pullout"][i]), 3),
                        shear_force_n=round(float(sl["shear"][i]), 3),
                        bending_moment_nm=round(float(sl["moment"][i]) / NM, 4),
                    )
                    for i, c in enumerate(cases)
                },
            )
        )
    return ImplantLoads(
        rods=rods,
        screws=screw_list,
        cages=cages,
        spacers=spacers,
        min_rod_safety_factor=min((x.safety_factor for x in rods), default=None),
        max_rod_stress_mpa=max((x.stress_mpa for x in rods), default=None),
    )


def _r(x: float, nd: int = 4) -> float | None:
    return round(float(x), nd) if np.isfinite(x) else None


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
            d.value: _r(r.disc_pressure_mpa[i, k, s]) for k, d in enumerate(DIRECTIONS)
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
        sp = float(r.start_pressure_mpa[i, s])
        fields["rest_disc_pressure_mpa"] = round(sp, 4) if np.isfinite(sp) else None
        st = np.degrees(r.start_rotation_rad[i, s])
        fields["rest_rotation_deg"] = {
            "flexion": round(float(-st[0]), 4),
            "lateral_bending_right": round(float(st[1]), 4),
            "axial_rotation_right": round(float(-st[2]), 4),
        }
        out[seg] = SegmentMotion.model_validate(fields)
    return out


def _curve(r: DirectionResponse, i: int) -> list[dict[str, dict[str, float]]]:
    out = []
    for j in range(r.curve_rad.shape[1]):
        out.append(
            {
                seg: {
                    d.value: round(float(np.degrees(r.curve_rad[i, j, k, s])), 4)
                    for k, d in enumerate(DIRECTIONS)
                }
                for s, seg in enumerate(r.segments)
            }
        )
    return out


def _moment_steps(
    moments_nm: list[float] | tuple[float, ...],
) -> tuple[float, Arr, NDArray[np.intp]]:
    """The largest moment, the solve's steps (fine near zero plus the requested moments) and
    the indices of the requested moments among them."""
    ms = sorted({float(m) for m in moments_nm})
    if not ms or ms[0] <= 0.0 or ms[-1] > 30.0:
        raise ParameterError(
            f"moments_nm = {list(moments_nm)}: give positive moments up to 30 N·m, "
            "e.g. --moments-nm 1,2.5,5,7.5,10"
        )
    top = ms[-1]
    wanted = np.asarray(ms) / top
    fine = np.asarray(value_steps(), dtype=float)
    steps = np.unique(np.round(np.concatenate([fine[fine < wanted[0]], wanted]), 10))
    idx = np.searchsorted(steps, np.round(wanted, 10))
    return top, np.asarray(steps, dtype=float), np.asarray(idx)


def _posture_segments(sol: Solution, model: SpineModel, i: int) -> dict[str, PostureSegment]:
    kp = value("calibrated_pressure_factor")
    out = {}
    for s, seg in enumerate(model.segments):
        a = model.arrays[s]
        rot = a.to_lower[i] @ (sol.rotation[-1, i, s] - sol.rotation[0, i, s])
        p0 = float(a.disc_p0[i])
        pressure = p0 + kp * float(sol.disc_force_n[i, s]) / float(a.disc_area[i])
        out[seg] = PostureSegment(
            rotation_deg={
                "flexion": round(float(-np.degrees(rot[0])), 4),
                "lateral_bending_right": round(float(np.degrees(rot[1])), 4),
                "axial_rotation_right": round(float(-np.degrees(rot[2])), 4),
            },
            disc_pressure_mpa=round(pressure, 4) if p0 > 0 else None,
            disc_force_n=round(float(sol.disc_force_n[i, s]), 3),
            facet_force_n={
                "left": round(float(sol.facet_force_n[i, s, 0]), 3),
                "right": round(float(sol.facet_force_n[i, s, 1]), 3),
            },
        )
    return out


def simulate(
    geometry: SpineGeometry,
    plan: SurgicalPlan | None = None,
    *,
    protocol: str = "pure-moment",
    moment_nm: float = 7.5,
    preload_n: float = 0.0,
    constructs: tuple[str, ...] | list[str] = (),
    moments_nm: list[float] | tuple[float, ...] | None = None,
    span: str | None = None,
    posture: str | None = None,
    rotation_deg: float | None = None,
    rod_material: str | None = None,
    rod_diameter_mm: float | None = None,
    memo: SpineMemo | None = None,
) -> MechanicsResult:
    """Simulate the spine intact and, with a plan or construct specs, operated.

    Protocols: ``pure-moment`` (moments of ``moment_nm`` in six directions), ``combined``
    (a ``preload_n`` follower load along the optimised path, then the moments; rotations from
    the preloaded posture), ``follower`` (the follower load alone), ``hybrid`` (the operated
    spine is loaded until its total rotation equals the intact spine's under ``moment_nm``; the
    moments needed are reported), ``displacement`` (both loaded until the total rotation is
    ``rotation_deg``). ``moments_nm`` adds the load–rotation curve at those moments (the
    largest is the protocol's moment); ``span`` models a shorter specimen (its lowest vertebra
    fixed); ``posture`` adds an in vivo load case (standing, sitting, prone, lifting). Relaxed
    standing is always added. ``memo``: the intact results of earlier simulations of this
    geometry, reused and added to (:class:`SpineMemo`; the numbers are the same without it)."""
    if memo is not None and memo.geometry is not geometry:
        raise ParameterError("simulate: the memo belongs to another geometry; give its own")

    def recall(key: Hashable, find: Callable[[], T]) -> T:
        return find() if memo is None else memo.recall(key, find)

    top_moment = moment_nm
    steps: Arr | None = None
    wanted: NDArray[np.intp] | None = None
    if moments_nm:
        top_moment, steps, wanted = _moment_steps(moments_nm)
    proto = check_load(protocol, top_moment, preload_n, rotation_deg)
    segments = specimen_segments(geometry, span)
    operated = Construct()
    if plan is not None:
        operated = operated.merged(plan_construct(plan))
    if constructs:
        operated = operated.merged(
            parse_constructs(list(constructs), rod_material, rod_diameter_mm)
        )
    elif rod_material is not None or rod_diameter_mm is not None:
        parse_constructs(["screws-rods:L4-L5"], rod_material, rod_diameter_mm)  # validates
    if segments is not None:
        outside = [s for s in operated.segments if s not in segments]
        if outside:
            raise ParameterError(
                f"construct at {', '.join(outside)} lies outside the specimen {span} "
                f"({', '.join(segments)})"
            )
    has_construct = plan is not None or bool(constructs)
    moment = 0.0 if proto == "follower" else top_moment
    pre = preload_n if proto in ("follower", "combined", "hybrid", "displacement") else 0.0
    geos = [geometry, geometry] if has_construct else [geometry]
    cons = [Construct(), operated] if has_construct else [Construct()]
    notes: list[str] = []
    model = build_model(geos, cons, segments)
    for arr in model.arrays:
        gap = float(arr.cage_seating_gap[-1])
        if gap > 0.0:
            notes.append(
                f"cage at {arr.segment}: {gap:.1f} mm shorter than the imaged disc space at its "
                "footprint; seated on both endplates (the segment closed onto it, no "
                "distraction pre-load) — a taller cage would restore the disc height"
            )
    intact_model = model.rows([0])

    def follower_path(force_n: float) -> Arr:
        """The intact spine's optimised follower path under ``force_n``, for every spine."""
        path = recall(
            ("follower path", force_n, segments),
            lambda: intact_follower_offsets(
                [geometry], np.full(1, force_n), segments, intact_model
            ),
        )
        return np.repeat(path, len(geos), axis=0)

    offset = follower_path(pre) if pre > 0 else None
    if proto in ("hybrid", "displacement") and (has_construct or proto == "displacement"):
        if proto == "hybrid":
            intact = recall(
                ("intact", moment, pre, None if steps is None else steps.tobytes(), segments),
                lambda: direction_response(
                    [geometry],
                    [Construct()],
                    moment,
                    pre,
                    steps,
                    True,
                    segments,
                    None if offset is None else offset[:1],
                    model=intact_model,
                ),
            )
            target = intact.total_rotation_rad
            _, op = hybrid_moments(
                [geometry],
                [operated],
                target,
                moment,
                pre,
                segments=segments,
                follower_offset=None if offset is None else offset[-1:],
                steps=steps,
                model=model.rows([1]),
            )
            notes.append("hybrid: operated moments matched to the intact total rotation")
            res_i, res_o, io, oo = intact, op, 0, 0
        else:
            assert rotation_deg is not None
            target = np.full((len(geos), N_DIR), np.radians(rotation_deg))
            _, both = hybrid_moments(
                geos,
                cons,
                target,
                moment,
                pre,
                segments=segments,
                follower_offset=offset,
                steps=steps,
                model=model,
            )
            notes.append(
                f"displacement: every spine loaded until its total rotation is {rotation_deg} deg"
            )
            res_i, res_o, io, oo = both, both, 0, (1 if has_construct else 0)
    else:
        resp = direction_response(
            geos, cons, moment, pre, steps, True, segments, offset, model=model
        )
        res_i, res_o, io, oo = resp, resp, 0, (1 if has_construct else 0)
    cases = [d.value for d in DIRECTIONS]
    implants = (
        implant_loads(
            res_o.solution,
            res_o.model,
            oo,
            operated,
            cases,
            np.arange(oo * N_DIR, (oo + 1) * N_DIR),
        )
        if has_construct
        else ImplantLoads()
    )
    # relaxed standing, always
    f_stand = standing_follower_n()
    stand, smodel = standing_response(
        geos, cons, f_stand, follower_path(f_stand), segments=segments, model=model
    )
    area = np.stack([a.disc_area for a in smodel.arrays], axis=1)
    p0 = np.stack([a.disc_p0 for a in smodel.arrays], axis=1)
    kp = value("calibrated_pressure_factor")
    si = len(geos) - 1
    standing = {
        seg: StandingLoad(
            disc_pressure_mpa=round(
                float(p0[si, s] + kp * stand.disc_force_n[si, s] / area[si, s]), 4
            )
            if p0[si, s] > 0
            else None,
            disc_force_n=round(float(stand.disc_force_n[si, s]), 3),
            facet_force_n=round(float(stand.facet_force_n[si, s].sum()), 3),
            rotation_deg=round(
                float(
                    -np.degrees(
                        (
                            smodel.arrays[s].to_lower[si]
                            @ (stand.rotation[-1, si, s] - stand.rotation[0, si, s])
                        )[0]
                    )
                ),
                4,
            ),
        )
        for s, seg in enumerate(smodel.segments)
    }
    posture_out = None
    if posture is not None:
        case = posture_case(posture)
        psol, pmodel, _ = posture_response(geos, cons, case, segments)
        pcases = [case.name]
        posture_out = PostureLoad(
            name=case.name,
            follower_n=case.follower_n,
            moment_nm=case.moment_nm,
            direction=case.direction.value if case.direction else "none",
            source=case.source,
            segments=_posture_segments(psol, pmodel, len(geos) - 1),
            intact=_posture_segments(psol, pmodel, 0) if has_construct else None,
            implants=implant_loads(psol, pmodel, 1, operated, pcases, np.array([1]))
            if has_construct
            else ImplantLoads(),
        )
    curve: list[CurvePoint] = []
    if wanted is not None:
        co = _curve(res_o, oo)
        ci = _curve(res_i, io) if has_construct else None
        moments = res_o.curve_moment_nm[oo, :, 0]
        for k in wanted:
            curve.append(
                CurvePoint(
                    moment_nm=round(float(moments[k]), 4),
                    segments=co[k],
                    intact=ci[k] if ci is not None else None,
                )
            )
    spec_list = list(constructs)
    if plan is not None:
        spec_list = [f"plan:{plan.technique}:{','.join(plan.fuse_segments)}", *spec_list]
    path = {}
    if offset is not None:
        for s, seg in enumerate(res_o.segments):
            path[seg] = (round(float(offset[0, s, 0]), 3), round(float(offset[0, s, 1]), 3))
    return MechanicsResult(
        protocol=proto,
        moment_nm=top_moment,
        preload_n=preload_n,
        geometry_source=geometry.source,
        constructs=spec_list,
        segments=_motions(res_o, oo),
        implants=implants,
        intact=_motions(res_i, io) if has_construct else None,
        standing=standing,
        standing_follower_n=f_stand,
        notes=notes,
        specimen=list(res_o.segments),
        curve=curve,
        posture=posture_out,
        rotation_deg=rotation_deg,
        follower_path_mm=path,
    )
