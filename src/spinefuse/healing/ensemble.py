"""The healing ensemble: every member of every patient advanced together, one day at a time.

Members differ in their biology (a log-normal spread of the osteogenic rate around the patient's
multiplier), their loads (body weight and activity), their endplate strength and their rods'
fatigue lives. Each day, for all members at once:

1. the fusion-mass stiffness of each graft region follows from its (10-day averaged) tissue
   modulus, and the grafted regions together give the member's fusion state;
2. the mechanics response at that state is interpolated from the grid the mechanics evaluated;
3. the graft strain and fluid velocity of each load case give the mechano-regulation stimulus,
   pooled over the day's load spectrum, which moves the tissue fractions;
4. the cage settles toward its final subsidence and the rods collect fatigue damage.

rhBMP-2 in the disc space first resorbs the adjacent bone in a share of levels (vertebral
osteolysis on CT): those members' interbody beds stay granulation tissue until the resorption
phase ends, then heal at the graft's rate.

A member is radiographically fused on a day when a grafted region holds bridging bone and the
segment's flexion-extension motion is under the criterion; non-union is "not fused" at the
assessment month. Only the loop over days is in Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtr

from spinefuse.conventions import DEG
from spinefuse.errors import ParameterError
from spinefuse.healing.activity import cycle_schedule, daily_stimulus
from spinefuse.healing.fatigue import damage_per_day
from spinefuse.healing.members import DEVIATES
from spinefuse.healing.parameters import DAYS_PER_MONTH, LOAD_CASES, REGIONS, HealingParameters
from spinefuse.healing.response import FIELDS, ResponseTable, interpolate
from spinefuse.healing.subsidence import (
    endplate_yield_pressure,
    final_settlement_mm,
    settlement_at,
)
from spinefuse.healing.tissue import (
    RULES,
    Rule,
    bone_fraction,
    claes_heigele_membership,
    fusion_state,
    initial_fractions,
    lacroix_membership,
    lacroix_stimulus,
    mixture_modulus,
    step_fractions,
)
from spinefuse.plan.graft import POSTEROLATERAL_TECHNIQUES

FloatArray = NDArray[np.float64]

_ROT = FIELDS.index("segment_rotation_rad")
_STRAIN = FIELDS.index("graft_strain")
_VEL = FIELDS.index("graft_fluid_velocity_um_s")
_STRESS = FIELDS.index("rod_stress_mpa")
_CAGE = FIELDS.index("cage_pressure_mpa")
_FLEX, _EXT = LOAD_CASES.index("flexion"), LOAD_CASES.index("extension")
_STANDING = LOAD_CASES.index("standing")

INTERBODY_TECHNIQUES = ("TLIF", "PLIF", "ALIF", "LLIF")


def regions_for_technique(technique: str) -> tuple[bool, bool]:
    """Which graft regions (interbody, posterolateral) a technique grafts when the plan does not
    say, as the planner grafts them (``plan.graft.POSTEROLATERAL_TECHNIQUES``): TLIF and PLIF
    the disc space and the gutters, ALIF and LLIF the disc space only, PLF the gutters only."""
    if technique in INTERBODY_TECHNIQUES or technique == "PLF":
        return (technique != "PLF", technique in POSTEROLATERAL_TECHNIQUES)
    raise ParameterError(
        f"technique = {technique!r} is unknown; use PLF or one of {INTERBODY_TECHNIQUES}"
    )


def biology_quantile(
    u: FloatArray, params: HealingParameters, compromised_share: FloatArray | float | None = None
) -> FloatArray:
    """The members' biology multiplier at probability ``u`` (0-1): the quantile function of
    the mixture of healthy beds, log-normal ``LN(0, s)``, and a share ``pi`` of compromised
    beds, ``LN(ln kappa, s)`` (``s`` biology_log_sd, ``kappa`` compromised_bed_rate; ``pi``
    the bed's compromised share, by default the ensemble's), found by bisection on the log
    scale, ``u.shape``."""
    s = params.biology_log_sd
    pi = np.asarray(
        params.compromised_bed_share if compromised_share is None else compromised_share,
        dtype=float,
    )
    shift = np.log(max(params.compromised_bed_rate, 1e-12))
    u = np.clip(np.asarray(u, dtype=float), 1e-12, 1.0 - 1e-12)
    if s <= 0.0:
        return np.where(u < pi, np.exp(shift), 1.0)
    lo = np.full(u.shape, shift - 9.0 * s)
    hi = np.full(u.shape, 9.0 * s)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        cdf = (1.0 - pi) * ndtr(mid / s) + pi * ndtr((mid - shift) / s)
        below = cdf < u
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    out: FloatArray = np.exp(0.5 * (lo + hi))
    return out


@dataclass(frozen=True)
class EnsembleRun:
    """Trajectories of every member. Shapes: ``n`` patients, ``M`` members, ``S`` monthly
    samples (``months_axis``), ``R`` regions (:data:`~spinefuse.healing.parameters.REGIONS`)."""

    months_axis: FloatArray  # (S,)
    regions: NDArray[np.bool_]  # (n, R) grafted regions
    bone: FloatArray  # (n, M, S, R) bone fraction
    fusion_fraction: FloatArray  # (n, M, S)
    stiffness_nmm_per_rad: FloatArray  # (n, M, S) flexion stiffness of the segment
    motion_deg: FloatArray  # (n, M, S) flexion + extension rotation
    rod_stress_mpa: FloatArray  # (n, M, S) highest peak rod stress over the load cases
    subsidence_mm: FloatArray  # (n, M, S)
    rod_damage: FloatArray  # (n, M, S) Miner sum
    fused: NDArray[np.bool_]  # (n, M, S)
    fusion_day: FloatArray  # (n, M) first fused day; inf when never
    members: int
    months: float
    segments: tuple[str, ...]

    def fusion_probability(self, month: float) -> FloatArray:
        """Share of members fused at ``month`` (nearest sample at or before it), ``(n,)``."""
        i = int(np.searchsorted(self.months_axis, month + 1e-9) - 1)
        p: FloatArray = self.fused[:, :, max(i, 0)].mean(axis=1)
        return p

    def nonunion_probability(self, assess_month: float) -> FloatArray:
        """Share of members not fused at the assessment month (or the last one simulated)."""
        return 1.0 - self.fusion_probability(min(assess_month, self.months))

    def time_to_fusion_months(self, q: float) -> FloatArray:
        """The q-quantile (0–1) of the time to radiographic fusion in months, ``(n,)``; NaN
        when fewer than a share q of the members fused within the simulated months."""
        t = np.sort(self.fusion_day / DAYS_PER_MONTH, axis=1)
        k = min(int(np.ceil(q * self.members)) - 1, self.members - 1)
        v = t[:, max(k, 0)]
        return np.where(np.isfinite(v), v, np.nan)

    def subsidence_probability(self, threshold_mm: float) -> FloatArray:
        """Share of members whose cage settles more than ``threshold_mm``, ``(n,)``."""
        p: FloatArray = (self.subsidence_mm[:, :, -1] > threshold_mm).mean(axis=1)
        return p

    def rod_fracture_probability(self) -> FloatArray:
        """Share of members whose rod Miner sum reaches 1 within the simulated months."""
        p: FloatArray = (self.rod_damage[:, :, -1] >= 1.0).mean(axis=1)
        return p


def simulate(
    table: ResponseTable,
    osteogenic: FloatArray,
    regions: NDArray[np.bool_],
    trabecular_hu: FloatArray,
    rod_material: Sequence[str],
    params: HealingParameters,
    *,
    deviates: FloatArray,
    months: float = 24.0,
    rule: Rule = "lacroix_prendergast",
    dt_days: float | None = None,
    compromised_share: FloatArray | None = None,
    resorption: FloatArray | None = None,
    region_factor: FloatArray | None = None,
) -> EnsembleRun:
    """Run the ensemble for ``n = table.patients`` patients.

    ``osteogenic`` ``(n,)`` is each patient's biology multiplier, ``regions`` ``(n, R)`` the
    grafted regions, ``trabecular_hu`` ``(n,)`` the bone density under the endplates,
    ``rod_material`` the rods' material per patient and ``deviates`` ``(n, M, 4)`` the standard
    normal deviates of each patient's ``M`` members (``members.member_deviates``, in
    ``members.DEVIATES`` order). Every member is advanced on its own: patient ``i``'s result
    depends on its inputs and deviates only, never on the other rows. ``dt_days`` None takes the
    parameters' step; ``compromised_share`` ``(n,)`` is each patient's share of compromised
    graft beds (None: the ensemble's, for every patient); ``resorption`` ``(n, 2)`` is each
    patient's share of interbody beds that go through a resorption phase and its length in
    days (None: none do); ``region_factor`` ``(n, R)`` multiplies each region's bone-forming
    rate (None: ones)."""
    n = table.patients
    dt_days = params.dt_days if dt_days is None else dt_days
    deviates = np.asarray(deviates, dtype=float)
    if compromised_share is None:
        compromised_share = np.full(n, params.compromised_bed_share)
    osteogenic = np.asarray(osteogenic, dtype=float)
    regions = np.asarray(regions, dtype=bool)
    trabecular_hu = np.asarray(trabecular_hu, dtype=float)
    compromised_share = np.asarray(compromised_share, dtype=float)
    resorption = np.zeros((n, 2)) if resorption is None else np.asarray(resorption, dtype=float)
    if resorption.shape != (n, 2) or np.any(resorption < 0) or np.any(resorption[:, 0] > 1):
        raise ParameterError(
            f"resorption has shape {resorption.shape}; need ({n}, 2): a share in 0-1 and days >= 0"
        )
    factor = (
        np.ones((n, len(REGIONS))) if region_factor is None else np.asarray(region_factor, float)
    )
    if factor.shape != (n, len(REGIONS)) or np.any(factor < 0):
        raise ParameterError(
            f"region_factor has shape {factor.shape}; need ({n}, {len(REGIONS)}) factors >= 0"
        )
    _check_inputs(
        n,
        osteogenic,
        regions,
        trabecular_hu,
        rod_material,
        params,
        deviates,
        months,
        rule,
        dt_days,
        compromised_share,
    )
    members = deviates.shape[1]
    draw = _draw_members(
        table,
        osteogenic,
        regions,
        trabecular_hu,
        rod_material,
        params,
        deviates,
        compromised_share,
        resorption,
        factor,
    )
    days = int(round(months * DAYS_PER_MONTH))
    steps = int(np.ceil(days / dt_days))
    sample_months = np.arange(0.0, np.floor(months) + 1.0)
    sample_steps = np.minimum(np.round(sample_months * DAYS_PER_MONTH / dt_days), steps).astype(int)
    out = _Samples.empty(n * members, sample_months.size)
    fusion_day = _advance(table, draw, params, rule, dt_days, steps, sample_steps, out)

    def per_patient(a: FloatArray) -> FloatArray:
        return a.reshape((n, members) + a.shape[1:])

    return EnsembleRun(
        months_axis=sample_months,
        regions=regions,
        bone=per_patient(out.bone),
        fusion_fraction=per_patient(out.ff),
        stiffness_nmm_per_rad=per_patient(out.k),
        motion_deg=per_patient(out.motion),
        rod_stress_mpa=per_patient(out.stress),
        subsidence_mm=per_patient(out.sub),
        rod_damage=per_patient(out.damage),
        fused=out.fused.reshape((n, members, sample_months.size)),
        fusion_day=per_patient(fusion_day),
        members=members,
        months=float(months),
        segments=table.segments,
    )


def _check_inputs(
    n: int,
    osteogenic: FloatArray,
    regions: NDArray[np.bool_],
    trabecular_hu: FloatArray,
    rod_material: Sequence[str],
    params: HealingParameters,
    deviates: FloatArray,
    months: float,
    rule: str,
    dt_days: float,
    compromised_share: FloatArray,
) -> None:
    """Every input's shape and range, each refused with what is needed."""
    if rule not in RULES:
        raise ParameterError(f"rule = {rule!r} is unknown; use one of {RULES}")
    if deviates.ndim != 3 or deviates.shape[0] != n or deviates.shape[2] != len(DEVIATES):
        raise ParameterError(
            f"deviates has shape {deviates.shape}; need ({n}, members, {len(DEVIATES)}): one "
            "row of member "
            "deviates per patient of the fusion response"
        )
    members = deviates.shape[1]
    if compromised_share.shape != (n,) or np.any((compromised_share < 0) | (compromised_share > 1)):
        raise ParameterError(
            f"compromised_share has shape {compromised_share.shape}; need ({n},) shares in 0-1"
        )
    if members < 1 or months <= 0 or not 0 < dt_days <= 5:
        raise ParameterError(
            f"members = {members}, months = {months}, dt_days = {dt_days}: need members >= 1, "
            "months > 0 and 0 < dt_days <= 5"
        )
    if osteogenic.shape != (n,) or trabecular_hu.shape != (n,) or len(rod_material) != n:
        raise ParameterError(
            f"biology for {osteogenic.shape} / {trabecular_hu.shape} / {len(rod_material)} "
            f"patients but the fusion response holds {n}"
        )
    if regions.shape != (n, len(REGIONS)) or not regions.any(axis=1).all():
        raise ParameterError(
            f"regions has shape {regions.shape}; need ({n}, {len(REGIONS)}) with at least one "
            "grafted region per patient"
        )
    for m in set(rod_material):
        if m not in params.rods:
            raise ParameterError(f"rod material {m!r} is unknown; use one of {sorted(params.rods)}")


@dataclass(frozen=True)
class _Members:
    """Every member's draws, one row per (patient, member): the patient row it belongs to,
    its load and fatigue-life factors, grafted regions and their stiffness shares and
    bone-forming rates, final subsidence (mm), rod material and the day its interbody bed's
    resorption phase ends (0: none)."""

    pidx: NDArray[np.intp]
    load: FloatArray
    life_factor: FloatArray
    present: NDArray[np.bool_]
    share: FloatArray
    rate: FloatArray
    sub_final: FloatArray
    material_masks: dict[str, NDArray[np.bool_]]
    resorbing_until: FloatArray


def _draw_members(
    table: ResponseTable,
    osteogenic: FloatArray,
    regions: NDArray[np.bool_],
    trabecular_hu: FloatArray,
    rod_material: Sequence[str],
    params: HealingParameters,
    deviates: FloatArray,
    compromised_share: FloatArray,
    resorption: FloatArray,
    region_factor: FloatArray,
) -> _Members:
    """The members' biology, load, endplate strength and fatigue life from their deviates."""
    n, members = deviates.shape[:2]
    # Each patient's members carry that patient's own deviates (from its run seed and case id),
    # so the same patient in another arm or batch meets the same members: comparisons between
    # arms are paired, and a patient's answer does not depend on the batch.
    size = n * members
    pidx = np.repeat(np.arange(n), members)
    z = deviates.reshape(size, len(DEVIATES)).T
    # A share of graft beds heals poorly (poor host-graft contact, an avascular bed): their
    # bone-forming rates run at a fraction of the others', which leaves the non-union seen at
    # two years after most beds have bridged within the first year. The biology deviate is read
    # through the quantile function of that mixture, so the members stratify it exactly.
    bio = osteogenic[pidx] * biology_quantile(ndtr(z[0]), params, compromised_share[pidx])
    load = np.exp(params.load_log_sd * z[1])
    yield_noise = np.exp(params.yield_log_sd * z[2])
    life_factor = 10.0 ** (params.life_log10_sd * z[3])
    present = regions[pidx]  # (N, R)
    share = params.region_stiffness_share[None, :] * present
    share = share / share.sum(axis=1, keepdims=True)
    rate = bio[:, None] * params.region_bed_factor[None, :] * region_factor[pidx]  # (N, R)
    # Subsidence: the standing cage pressure before any bone forms, raised to the daily peak.
    at0 = table.at(pidx, np.zeros(size))
    cage_peak = at0[:, _CAGE, _STANDING] * params.peak_load_factor * load
    p_yield = endplate_yield_pressure(trabecular_hu[pidx], params) * yield_noise
    sub_final = np.where(cage_peak > 0, final_settlement_mm(cage_peak, p_yield, params), 0.0)
    materials = np.asarray(rod_material)[pidx]
    # Resorption strikes the members with the weakest endplates (the lowest endplate-yield
    # deviates): BMP osteolysis and cage subsidence go together (Knox 2011), and the stratified
    # deviate gives the share exactly.
    resorbs = (ndtr(z[2]) < resorption[pidx, 0]) & present[:, 0]
    return _Members(
        pidx=pidx,
        load=load,
        life_factor=life_factor,
        present=present,
        share=share,
        rate=rate,
        sub_final=sub_final,
        material_masks={m: materials == m for m in set(rod_material)},
        resorbing_until=np.where(resorbs, resorption[pidx, 1], 0.0),
    )


@dataclass(frozen=True)
class _Samples:
    """The monthly samples of every member (rows) being filled in."""

    bone: FloatArray
    ff: FloatArray
    k: FloatArray
    motion: FloatArray
    stress: FloatArray
    sub: FloatArray
    damage: FloatArray
    fused: NDArray[np.bool_]

    @classmethod
    def empty(cls, size: int, samples: int) -> _Samples:
        return cls(
            bone=np.empty((size, samples, len(REGIONS))),
            ff=np.empty((size, samples)),
            k=np.empty((size, samples)),
            motion=np.empty((size, samples)),
            stress=np.empty((size, samples)),
            sub=np.empty((size, samples)),
            damage=np.empty((size, samples)),
            fused=np.empty((size, samples), dtype=bool),
        )


def _advance(
    table: ResponseTable,
    draw: _Members,
    params: HealingParameters,
    rule: str,
    dt_days: float,
    steps: int,
    sample_steps: NDArray[np.intp],
    out: _Samples,
) -> FloatArray:
    """Advance every member day by day (steps of ``dt_days``): the fusion state sets the graft's
    mechanics, its stimulus the tissue fractions, the rods' stress their fatigue damage; the
    monthly samples go into ``out``. Returns each member's fusion day (inf: not fused)."""
    pidx, load, present, share = draw.pidx, draw.load, draw.present, draw.share
    size = pidx.size
    samples = sample_steps.size
    fusion_day = np.full(size, np.inf)
    cycles = cycle_schedule(steps * dt_days, params, dt_days)
    strain_factor = params.region_strain_factor[None, :, None]  # (1, R, 1)
    # The fields the daily step reads, packed once: flexion and extension rotation, then graft
    # strain, fluid velocity and rod stress of every load case.
    nc = len(LOAD_CASES)
    daily = np.concatenate(
        [
            table.values[:, :, _ROT, [_FLEX, _EXT]],
            table.values[:, :, _STRAIN, :],
            table.values[:, :, _VEL, :],
            table.values[:, :, _STRESS, :],
        ],
        axis=-1,
    )
    f = initial_fractions((size, len(REGIONS)))
    modulus = mixture_modulus(f, params)
    damage = np.zeros(size)
    relax = min(dt_days / params.averaging_days, 1.0)
    threshold = params.motion_threshold_deg
    bridging = params.bridging_bone_fraction
    resorbing_ends = float(draw.resorbing_until.max(initial=0.0))
    sample_i = 0
    for step in range(steps + 1):
        t = step * dt_days
        ff = fusion_state(share[:, 0] * modulus[:, 0] + share[:, 1] * modulus[:, 1], params)
        resp = interpolate(table.grid, daily, pidx, ff)
        motion = (np.abs(resp[:, 0]) + np.abs(resp[:, 1])) * load / DEG
        bone = bone_fraction(f)
        bridged = (bone >= bridging) & present
        fused = (bridged[:, 0] | bridged[:, 1]) & (motion <= threshold)
        fusion_day = np.where(fused & ~np.isfinite(fusion_day), t, fusion_day)
        sub = settlement_at(draw.sub_final, t, params)
        strain_c = np.abs(resp[:, 2 : 2 + nc])
        velocity_c = np.abs(resp[:, 2 + nc : 2 + 2 * nc])
        stress = resp[:, 2 + 2 * nc :] * load[:, None]
        while sample_i < samples and sample_steps[sample_i] == step:
            out.bone[:, sample_i] = bone
            out.ff[:, sample_i] = ff
            out.k[:, sample_i] = table.stiffness_at(pidx, ff)
            out.motion[:, sample_i] = motion
            out.stress[:, sample_i] = stress.max(axis=1)
            out.sub[:, sample_i] = sub
            out.damage[:, sample_i] = damage
            out.fused[:, sample_i] = fused
            sample_i += 1
        if step == steps:
            break
        w = cycles[step]
        strain = (strain_c * load[:, None])[:, None, :] * strain_factor
        if rule == "lacroix_prendergast":
            velocity = (velocity_c * load[:, None])[:, None, :] * strain_factor
            s = daily_stimulus(
                lacroix_stimulus(strain, velocity, params), w, params.stimulus_exponent
            )
            mu = lacroix_membership(s, params)
        else:
            e = daily_stimulus(strain, w, params.stimulus_exponent)
            mu = claes_heigele_membership(e, -params.ch_pressure_per_strain_mpa * e, params)
        osteo = draw.rate * np.exp(-sub / params.subsidence_scale_mm)[:, None]
        stepped = step_fractions(f, mu, osteo, params, dt_days)
        if t < resorbing_ends:
            held = t < draw.resorbing_until  # interbody beds still resorbing
            stepped[held, 0] = f[held, 0]
        f = stepped
        modulus += relax * (mixture_modulus(f, params) - modulus)
        for m, mask in draw.material_masks.items():
            damage[mask] += dt_days * damage_per_day(
                stress[mask], w, params.rods[m], draw.life_factor[mask]
            )
    return fusion_day
