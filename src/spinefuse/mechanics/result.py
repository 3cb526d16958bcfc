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
    the posture the spine sits in before the moment: unloaded, or preloaded under a follower
    load) with its neutral zones, disc pressure and facet forces.

    A neutral zone (``*_nz_deg``) is the rotation at which the loading curve's tangent
    compliance has fallen halfway from its maximum to its value at full load: the boundary of
    the maximum-compliance region (Smit et al. 2011). Disc pressure is P = P0 + k·F/A (nucleus
    pressure, MPa) with the osmotic baseline P0 and the calibrated k."""

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
    disc_pressure_mpa: dict[str, float | None] = Field(
        description="load direction -> nucleus pressure; None without a nucleus"
    )
    facet_force_n: dict[str, dict[Side, float]] = Field(description="load direction -> side -> N")
    moment_nm: dict[str, float] = Field(description="load direction -> applied moment (hybrid)")
    rest_disc_pressure_mpa: float | None = Field(
        default=None,
        description="nucleus pressure in the posture the motion is measured from (unloaded or "
        "preloaded): the osmotic baseline plus the load; None without a nucleus",
    )
    rest_rotation_deg: dict[str, float] = Field(
        default_factory=dict,
        description="flexion (+), right bending (+), right rotation (+) of that posture from "
        "the imaged one (a cage's distraction, a spacer, a follower load)",
    )


class RodForces(Record):
    """A rod span's loads in one load direction."""

    bending_moment_nm: float
    axial_force_n: float = Field(description="+ tension, - compression")
    stress_mpa: float


class ScrewForces(Record):
    """A screw's loads at its bone entry in one load direction."""

    force_n: float
    pullout_force_n: float = Field(description="along the screw, + pulls it out of the bone")
    shear_force_n: float = Field(description="square to the screw (toggling)")
    bending_moment_nm: float = Field(description="at the bone entry")


class CageForces(Record):
    force_n: float
    pressure_mpa: float = Field(description="mean endplate pressure under the footprint")


class RodLoad(Record):
    side: Side
    segment: str
    load_case: str
    bending_moment_nm: float
    axial_force_n: float
    stress_mpa: float
    safety_factor: float = Field(description="Goodman fatigue safety factor, pulsating load")
    material: str = "titanium"
    diameter_mm: float = 5.5
    by_direction: dict[str, RodForces] = Field(default_factory=dict)


class ScrewLoad(Record):
    vertebra: str
    side: Side
    load_case: str
    force_n: float
    moment_nm: float
    by_direction: dict[str, ScrewForces] = Field(default_factory=dict)


class CageLoad(Record):
    segment: str
    load_case: str
    force_n: float
    pressure_mpa: float
    rest_force_n: float = Field(default=0.0, description="at rest: the distraction pre-load")
    distraction_mm: float = 0.0
    by_direction: dict[str, CageForces] = Field(default_factory=dict)


class SpacerLoad(Record):
    segment: str
    by_direction: dict[str, float] = Field(description="load direction -> contact force (N)")


class ImplantLoads(Record):
    """Worst case over the load directions of each implant."""

    rods: list[RodLoad] = Field(default_factory=list)
    screws: list[ScrewLoad] = Field(default_factory=list)
    cages: list[CageLoad] = Field(default_factory=list)
    spacers: list[SpacerLoad] = Field(default_factory=list)
    min_rod_safety_factor: float | None = None
    max_rod_stress_mpa: float | None = None


class StandingLoad(Record):
    """A segment in relaxed standing (follower load); no disc pressure without a nucleus."""

    disc_pressure_mpa: float | None
    disc_force_n: float
    facet_force_n: float
    rotation_deg: float = Field(description="sagittal rotation, flexion +")


class CurvePoint(Record):
    """The load–rotation curve at one moment: segment -> direction -> rotation (deg)."""

    moment_nm: float
    segments: dict[str, dict[str, float]]
    intact: dict[str, dict[str, float]] | None = None


class PostureSegment(Record):
    rotation_deg: dict[str, float] = Field(
        description="flexion, lateral_bending_right, axial_rotation_right from the unloaded posture"
    )
    disc_pressure_mpa: float | None
    disc_force_n: float
    facet_force_n: dict[Side, float]


class PostureLoad(Record):
    """An in vivo load case (follower load plus a moment) and the spine's response to it."""

    name: str
    follower_n: float
    moment_nm: float
    direction: str
    source: str
    segments: dict[str, PostureSegment]
    intact: dict[str, PostureSegment] | None = None
    implants: ImplantLoads = Field(default_factory=lambda: ImplantLoads())


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
    specimen: list[str] = Field(
        default_factory=list,
        description="the segments modelled, head to pelvis (the lowest vertebra fixed)",
    )
    curve: list[CurvePoint] = Field(default_factory=list)
    posture: PostureLoad | None = None
    rotation_deg: float | None = Field(
        default=None, description="displacement protocol: the prescribed total rotation"
    )
    follower_path_mm: dict[str, tuple[float, float]] = Field(
        default_factory=dict,
        description="segment -> (right, anterior) offset of the optimised follower path from "
        "the disc centre",
    )


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
    (bone fraction of the fusion mass), for the :data:`FUSION_LOAD_CASES`; arrays (n, k, 6).

    Each case applies its follower load first (along the optimised path of the patient's
    intact spine) and then its moment. ``segment_rotation_rad`` is the rotation the moment
    causes from the preloaded posture (cases without a moment: the preloaded posture from
    rest); graft strains, rod and cage loads are those of the loaded state."""

    segment_rotation_rad: Arr
    graft_strain: Arr
    graft_fluid_velocity_um_s: Arr
    rod_moment_nmm: Arr
    rod_stress_mpa: Arr
    cage_pressure_mpa: Arr
    segment_stiffness_nmm_per_rad: Arr  # (n, k): flexion
    fusion_fraction: Arr  # (k,)
    segments: tuple[str, ...]  # (n,)
