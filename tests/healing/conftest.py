"""A FusionResponse-shaped table from a small closed-form model of an instrumented segment, so
the healing stage can be tested on its own.

The segment is the instrumentation (stiffness ``k_instr``) in parallel with the fusion bushing
(``fusion_fraction**2 * k_bone``, a bone bridge of 6 GPa over the graft area, as in the
mechanics): rotation = moment /
stiffness per load case; the graft's octahedral shear strain is rotation times a lever/height
ratio; the rods carry the instrumentation's share of the moment; the cage carries a share of the
standing compression over its footprint.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest
from numpy.typing import NDArray

from spinefuse.anatomy.geometry import SpineGeometry
from spinefuse.healing.parameters import LOAD_CASES
from spinefuse.healing.response import FUSION_GRID
from spinefuse.plan.surgical_plan import Cage, Graft, PedicleScrew, Rod, SurgicalPlan

# Moment (N·mm) and compression (N) of each load case, in LOAD_CASES order.
MOMENT_NMM = np.array([0.0, 2500.0, 7500.0, 7500.0, 7500.0, 7500.0])
COMPRESSION_N = np.array([500.0, 900.0, 700.0, 600.0, 600.0, 600.0])
ROD_SECTION_MODULUS_MM3 = np.pi * 5.5**3 / 32.0  # one 5.5 mm rod


@dataclass(frozen=True)
class SyntheticResponse:
    segment_rotation_rad: NDArray[np.float64]
    graft_strain: NDArray[np.float64]
    graft_fluid_velocity_um_s: NDArray[np.float64]
    rod_moment_nmm: NDArray[np.float64]
    rod_stress_mpa: NDArray[np.float64]
    cage_pressure_mpa: NDArray[np.float64]
    segment_stiffness_nmm_per_rad: NDArray[np.float64]
    fusion_fraction: NDArray[np.float64]
    segments: list[str] = field(default_factory=list)


def synthetic_response(
    n: int = 1,
    *,
    cage: bool | list[bool] = True,
    k_instr: float | list[float] = 2.5e5,
    grid: NDArray[np.float64] = FUSION_GRID,
    lever_over_height: float = 1.4,
) -> SyntheticResponse:
    """A response for ``n`` patients on ``grid``; ``cage`` and ``k_instr`` per patient or all."""
    cages = np.broadcast_to(np.asarray(cage, dtype=bool), (n,))
    k_i = np.broadcast_to(np.asarray(k_instr, dtype=float), (n,))
    k_bone = 6000.0 * 300.0 * 100.0 / 10.0  # E * I / h, N·mm/rad
    k = k_i[:, None] + grid[None, :] ** 2 * k_bone  # (n, k); E = E_mature * phi^2
    # A cage stiffens the segment in flexion-extension and shields the graft.
    k = k * np.where(cages, 1.6, 1.0)[:, None]
    rot = MOMENT_NMM[None, None, :] / k[:, :, None]
    rot[..., 0] = 0.002 * (k_i[:, None] / k)  # standing: small sagittal rotation
    strain = rot * lever_over_height
    velocity = 30.0 * strain
    rod_share = (k_i[:, None] / k)[:, :, None] * np.where(cages, 0.8, 1.0)[:, None, None]
    rod_moment = 0.25 * (MOMENT_NMM[None, None, :] + 10.0 * COMPRESSION_N) * rod_share
    rod_stress = rod_moment / ROD_SECTION_MODULUS_MM3
    bone_share = grid[None, :, None] ** 2 * k_bone / k[:, :, None]
    cage_p = np.where(cages[:, None, None], 0.8 * COMPRESSION_N / 300.0 * (1 - bone_share), 0.0)
    cage_p = np.broadcast_to(cage_p, rot.shape).copy()
    assert rot.shape == (n, grid.size, len(LOAD_CASES))
    return SyntheticResponse(
        segment_rotation_rad=rot,
        graft_strain=strain,
        graft_fluid_velocity_um_s=velocity,
        rod_moment_nmm=rod_moment,
        rod_stress_mpa=rod_stress,
        cage_pressure_mpa=cage_p,
        segment_stiffness_nmm_per_rad=k,
        fusion_fraction=grid,
        segments=["L4-L5"] * n,
    )


@pytest.fixture
def make_response() -> Callable[..., SyntheticResponse]:
    """The closed-form response builder (``synthetic_response``)."""
    return synthetic_response


def instrumented_plan(
    geometry: SpineGeometry,
    *,
    graft: str = "rhbmp2",
    technique: str = "TLIF",
    material: str = "titanium",
    segment: str = "L4-L5",
    regions: list[str] | None = None,
) -> SurgicalPlan:
    """A one-level plan on ``geometry``: pedicle screws at the pedicle entry points, two 5.5 mm
    rods, a PEEK cage at the disc centre unless PLF, and the graft."""
    upper, lower = segment.split("-")
    screws = []
    for name in (upper, lower):
        v = geometry.vertebrae[name]
        for side in ("left", "right"):
            ped = v.pedicles[side]  # type: ignore[index]
            entry = ped.entry_point or ped.isthmus_centre
            screws.append(
                PedicleScrew(
                    vertebra=name,
                    side=side,
                    entry_point=entry,
                    direction=ped.axis,  # type: ignore[arg-type]
                    diameter_mm=6.5,
                    length_mm=45.0,
                    medial_angle_deg=10.0,
                    cranial_angle_deg=0.0,
                )
            )
    rods = [
        Rod(
            side=side,
            material=material,
            diameter_mm=5.5,
            length_mm=45.0,  # type: ignore[arg-type]
            points=[s.entry_point for s in screws if s.side == side],
        )
        for side in ("left", "right")
    ]
    cages = []
    if technique != "PLF":
        lo = geometry.vertebrae[lower].superior.centre
        up_ep = geometry.vertebrae[upper].inferior
        hi = up_ep.centre if up_ep is not None else lo
        centre = tuple((np.asarray(lo) + np.asarray(hi)) / 2.0)
        size = {
            "TLIF": (11.0, 28.0),
            "PLIF": (10.0, 24.0),
            "ALIF": (32.0, 24.0),
            "LLIF": (45.0, 20.0),
        }
        w, d = size[technique]
        cages.append(
            Cage(
                segment=segment,
                technique=technique,
                material="peek",
                width_mm=w,  # type: ignore[arg-type]
                depth_mm=d,
                height_mm=10.0,
                centre=centre,  # type: ignore[arg-type]
            )
        )
    return SurgicalPlan(
        fuse_segments=[segment],
        approach="open",
        technique=technique,  # type: ignore[arg-type]
        screws=screws,
        rods=rods,
        cages=cages,
        graft=Graft(material=graft, volume_cm3=6.0, regions=regions or []),  # type: ignore[arg-type]
    )


def select(response: object, rows: list[int]) -> SyntheticResponse:
    """Patients ``rows`` of a fusion response (real or closed-form), in that order."""
    take = {
        name: np.asarray(getattr(response, name))[rows]
        for name in (
            "segment_rotation_rad",
            "graft_strain",
            "graft_fluid_velocity_um_s",
            "rod_moment_nmm",
            "rod_stress_mpa",
            "cage_pressure_mpa",
            "segment_stiffness_nmm_per_rad",
        )
    }
    segments = [list(response.segments)[i] for i in rows]
    return SyntheticResponse(
        **take, fusion_fraction=np.asarray(response.fusion_fraction), segments=segments
    )
