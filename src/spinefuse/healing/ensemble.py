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

A member is radiographically fused on a day when a grafted region holds bridging bone and the
segment's flexion-extension motion is under the criterion; non-union is "not fused" at the
assessment month. Only the loop over days is in Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from spinefuse.conventions import DEG
from spinefuse.errors import ParameterError
from spinefuse.healing.activity import cycle_schedule, daily_stimulus
from spinefuse.healing.fatigue import damage_per_day
from spinefuse.healing.parameters import LOAD_CASES, REGIONS, HealingParameters
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

FloatArray = NDArray[np.float64]
DAYS_PER_MONTH = 365.25 / 12.0

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
    say: an interbody technique grafts the disc space and the gutters, PLF the gutters only
    (the same default as the mechanics' fusion mass)."""
    if technique in INTERBODY_TECHNIQUES:
        return (True, True)
    if technique == "PLF":
        return (False, True)
    raise ParameterError(
        f"technique = {technique!r} is unknown; use PLF or one of {INTERBODY_TECHNIQUES}"
    )


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
    members: int,
    months: float = 24.0,
    seed: int = 0,
    rule: Rule = "lacroix_prendergast",
    dt_days: float = 1.0,
) -> EnsembleRun:
    """Run the ensemble for ``n = table.patients`` patients with ``members`` members each.

    ``osteogenic`` ``(n,)`` is each patient's biology multiplier, ``regions`` ``(n, R)`` the
    grafted regions, ``trabecular_hu`` ``(n,)`` the bone density under the endplates and
    ``rod_material`` the rods' material per patient. Same seed, same result."""
    n = table.patients
    if rule not in RULES:
        raise ParameterError(f"rule = {rule!r} is unknown; use one of {RULES}")
    if members < 1 or months <= 0 or not 0 < dt_days <= 5:
        raise ParameterError(
            f"members = {members}, months = {months}, dt_days = {dt_days}: need members >= 1, "
            "months > 0 and 0 < dt_days <= 5"
        )
    osteogenic = np.asarray(osteogenic, dtype=float)
    regions = np.asarray(regions, dtype=bool)
    trabecular_hu = np.asarray(trabecular_hu, dtype=float)
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

    # Common random numbers: member j draws the same deviates for every patient, so patients
    # differ only through their inputs and comparisons between them (arms, risk factors) are
    # paired rather than blurred by sampling noise.
    rng = np.random.default_rng(seed)
    size = n * members
    pidx = np.repeat(np.arange(n), members)
    z = np.tile(rng.standard_normal((4, members)), (1, n))
    bio = osteogenic[pidx] * np.exp(params.biology_log_sd * z[0])
    load = np.exp(params.load_log_sd * z[1])
    yield_noise = np.exp(params.yield_log_sd * z[2])
    life_factor = 10.0 ** (params.life_log10_sd * z[3])
    present = regions[pidx]  # (N, R)
    share = params.region_stiffness_share[None, :] * present
    share = share / share.sum(axis=1, keepdims=True)
    rate = bio[:, None] * params.region_bed_factor[None, :]  # (N, R)
    strain_factor = params.region_strain_factor[None, :, None]  # (1, R, 1)

    # Subsidence: the standing cage pressure before any bone forms, raised to the daily peak.
    at0 = table.at(pidx, np.zeros(size))
    cage_peak = at0[:, _CAGE, _STANDING] * params.peak_load_factor * load
    p_yield = endplate_yield_pressure(trabecular_hu[pidx], params) * yield_noise
    sub_final = np.where(cage_peak > 0, final_settlement_mm(cage_peak, p_yield, params), 0.0)
    materials = np.asarray(rod_material)[pidx]
    material_masks = {m: materials == m for m in set(rod_material)}

    days = int(round(months * DAYS_PER_MONTH))
    steps = int(np.ceil(days / dt_days))
    cycles = cycle_schedule(steps * dt_days, params, dt_days)
    sample_months = np.arange(0.0, np.floor(months) + 1.0)
    sample_steps = np.minimum(np.round(sample_months * DAYS_PER_MONTH / dt_days), steps).astype(int)
    samples = sample_months.size
    out_bone = np.empty((size, samples, len(REGIONS)))
    out_ff = np.empty((size, samples))
    out_k = np.empty((size, samples))
    out_motion = np.empty((size, samples))
    out_stress = np.empty((size, samples))
    out_sub = np.empty((size, samples))
    out_damage = np.empty((size, samples))
    out_fused = np.empty((size, samples), dtype=bool)
    fusion_day = np.full(size, np.inf)

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
    sample_i = 0
    for step in range(steps + 1):
        t = step * dt_days
        ff = fusion_state((share * modulus).sum(axis=1), params)
        resp = interpolate(table.grid, daily, pidx, ff)
        motion = np.abs(resp[:, :2]).sum(axis=1) * load / DEG
        bone = bone_fraction(f)
        fused = ((bone >= bridging) & present).any(axis=1) & (motion <= threshold)
        fusion_day = np.where(fused & ~np.isfinite(fusion_day), t, fusion_day)
        sub = settlement_at(sub_final, t, params)
        strain_c = np.abs(resp[:, 2 : 2 + nc])
        velocity_c = np.abs(resp[:, 2 + nc : 2 + 2 * nc])
        stress = resp[:, 2 + 2 * nc :] * load[:, None]
        while sample_i < samples and sample_steps[sample_i] == step:
            out_bone[:, sample_i] = bone
            out_ff[:, sample_i] = ff
            out_k[:, sample_i] = table.stiffness_at(pidx, ff)
            out_motion[:, sample_i] = motion
            out_stress[:, sample_i] = stress.max(axis=1)
            out_sub[:, sample_i] = sub
            out_damage[:, sample_i] = damage
            out_fused[:, sample_i] = fused
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
        osteo = rate * np.exp(-sub / params.subsidence_scale_mm)[:, None]
        f = step_fractions(f, mu, osteo, params, dt_days)
        modulus += relax * (mixture_modulus(f, params) - modulus)
        for m, mask in material_masks.items():
            damage[mask] += dt_days * damage_per_day(
                stress[mask], w, params.rods[m], life_factor[mask]
            )

    def per_patient(a: FloatArray) -> FloatArray:
        return a.reshape((n, members) + a.shape[1:])

    return EnsembleRun(
        months_axis=sample_months,
        regions=regions,
        bone=per_patient(out_bone),
        fusion_fraction=per_patient(out_ff),
        stiffness_nmm_per_rad=per_patient(out_k),
        motion_deg=per_patient(out_motion),
        rod_stress_mpa=per_patient(out_stress),
        subsidence_mm=per_patient(out_sub),
        rod_damage=per_patient(out_damage),
        fused=out_fused.reshape((n, members, samples)),
        fusion_day=per_patient(fusion_day),
        members=members,
        months=float(months),
        segments=table.segments,
    )
