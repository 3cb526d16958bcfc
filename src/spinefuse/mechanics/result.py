"""MechanicsResult: per-segment motion, neutral zone, disc pressure and facet force per load
direction, and the implants' loads — the record the mechanics stage writes as mechanics.json."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from spinefuse.conventions import Side
from spinefuse.records import Record

Arr = NDArray[np.float64]


class SegmentMotion(Record):
    """One motion segment under the six pure-moment directions (degrees; each direction's
    magnitude separately, the upper vertebra's rotation about the lower vertebra's axes, from
    the unloaded rest posture) with its neutral zones, disc pressure and facet forces.

    A neutral zone (``*_nz_deg``) is the rotation at which the loading curve's tangent
    compliance has fallen halfway from its maximum to its value at full load: the boundary of
    the maximum-compliance region (Smit et al. 2011). Disc pressure is P = k·F/A with the
    calibrated k (nucleus pressure, MPa)."""

    flexion_deg: float
    extension_deg: float
    lateral_bending_left_deg: float
    lateral_bending_right_deg: float
    axial_rotation_left_deg: float
    axial_rotation_right_deg: float
    flexion_nz_deg: float
    extension_nz_deg: float
    lateral_bending_left_nz_deg: float
    lateral_bending_right_nz_deg: float
    axial_rotation_left_nz_deg: float
    axial_rotation_right_nz_deg: float
    disc_pressure_mpa: dict[str, float] = Field(description="load direction -> nucleus pressure")
    facet_force_n: dict[str, dict[Side, float]] = Field(description="load direction -> side -> N")
    moment_nm: dict[str, float] = Field(description="load direction -> applied moment (hybrid)")


class RodLoad(Record):
    side: Side
    segment: str
    load_case: str
    bending_moment_nm: float
    axial_force_n: float
    stress_mpa: float
    safety_factor: float = Field(description="Goodman fatigue safety factor, pulsating load")


class ScrewLoad(Record):
    vertebra: str
    side: Side
    load_case: str
    force_n: float
    moment_nm: float


class CageLoad(Record):
    segment: str
    load_case: str
    force_n: float
    pressure_mpa: float


class ImplantLoads(Record):
    """Worst case over the load directions of each implant."""

    rods: list[RodLoad] = Field(default_factory=list)
    screws: list[ScrewLoad] = Field(default_factory=list)
    cages: list[CageLoad] = Field(default_factory=list)
    min_rod_safety_factor: float | None = None
    max_rod_stress_mpa: float | None = None


class StandingLoad(Record):
    """A segment in relaxed standing (follower load)."""

    disc_pressure_mpa: float
    disc_force_n: float
    facet_force_n: float
    rotation_deg: float = Field(description="sagittal rotation, flexion +")


class MechanicsResult(Record):
    """The mechanics stage's record. ``segments`` and ``implants`` are those of the operated
    spine when constructs are given (else of the intact spine); ``intact`` is the intact spine
    under the same protocol for comparison."""

    protocol: str
    moment_nm: float
    preload_n: float
    geometry_source: str
    constructs: list[str]
    segments: dict[str, SegmentMotion]
    implants: ImplantLoads
    intact: dict[str, SegmentMotion] | None = None
    standing: dict[str, StandingLoad] = Field(default_factory=dict)
    standing_follower_n: float
    notes: list[str] = Field(default_factory=list)


FUSION_LOAD_CASES = (
    "standing",
    "walking",
    "flexion",
    "extension",
    "lateral_bending",
    "axial_rotation",
)


@dataclass(frozen=True)
class FusionResponse:
    """Mechanical response of the most loaded fused segment of n patients at k fusion states
    (bone fraction of the fusion mass), for the :data:`FUSION_LOAD_CASES`; arrays (n, k, 6)."""

    segment_rotation_rad: Arr
    graft_strain: Arr
    graft_fluid_velocity_um_s: Arr
    rod_moment_nmm: Arr
    rod_stress_mpa: Arr
    cage_pressure_mpa: Arr
    segment_stiffness_nmm_per_rad: Arr  # (n, k): flexion
    fusion_fraction: Arr  # (k,)
    segments: tuple[str, ...]  # (n,)
