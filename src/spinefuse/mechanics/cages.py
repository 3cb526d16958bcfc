"""Interbody cages as contact elements between the endplates.

A cage rests on the lower endplate and carries the upper one through a few contact points over
its footprint. Each point is a compression-only spring (the cage in series with the bone under
it, a rigid punch on an elastic half-space) with regularised Coulomb friction across the
endplate (the cage's surface and teeth). The cage is sized taller than the disc space it fills:
that distraction pre-compresses the contacts, so at rest the remaining annulus and the ligaments
are in tension and the cage in compression, as after surgery — which is what lets a cage
stabilise a segment in every plane. How much pre-load a distraction gives is the disc's: once
its nucleus is cleared, its annulus holds it apart with the tensile stiffness measured after a
discectomy (the disc's tension law, :func:`~spinefuse.mechanics.elements.disc_axial_law`). A
lateral cage is as long as the endplate is wide: it spans the ring apophysis. A cage is never
left loose: one planned shorter than the imaged disc space at its footprint is seated on both
endplates (the segment is closed onto it by compression across the pedicle screws, or settles
onto it under the body's weight), so it carries load from the first step with no distraction
pre-load. The pre-load may be kept only in part (``pretension``): the annulus and ligaments held
stretched relax over the weeks of healing. An integrated fixation (``cage-plate``) adds screws
from the cage into both vertebral bodies, a linear spring in parallel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from spinefuse.mechanics.parameters import parameters, value
from spinefuse.mechanics.screws import moved, screw_bone_compliance

Arr = NDArray[np.float64]

CAGE_POINTS = 5  # per cage, at most two cages per segment
_CORNERS = np.array([[0, 0], [1, 1], [1, -1], [-1, 1], [-1, -1]], dtype=float) * 0.4


@dataclass(frozen=True)
class CageElements:
    """Contact points of one segment's cage(s) in the disc frame (mm, N/mm)."""

    points: Arr  # (2·CAGE_POINTS, 3) on the upper endplate
    planes: Arr  # (2·CAGE_POINTS, 3) plane points on the lower endplate
    stiffness: Arr  # (2·CAGE_POINTS,) normal stiffness per point, 0 where absent
    friction: Arr  # (2·CAGE_POINTS,) friction coefficient
    tangential: Arr  # (2·CAGE_POINTS,) pre-sliding slip distance, mm
    area_mm2: float
    distraction_mm: float  # how much taller than the imaged disc space the cage is (>= 0)
    seating_gap_mm: float  # how much shorter than that space a planned cage is (>= 0)


def punch_stiffness(e_bone_mpa: float, area_mm2: float, nu: float) -> float:
    """Normal stiffness (N/mm) of a rigid flat punch of ``area`` on an elastic half-space."""
    return float(2.0 * e_bone_mpa / (1.0 - nu**2) * np.sqrt(area_mm2 / np.pi))


def cage_elements(
    technique: str,
    material: str,
    width_mm: float | None,
    depth_mm: float | None,
    count: int,
    centre_local: Arr | None,
    endplate_depth_mm: float,
    disc_height_front_back_mm: tuple[float, float],
    height_mm: float | None,
    bone_modulus_mpa: float,
    pretension: float = 1.0,
    endplate_width_mm: float | None = None,
) -> CageElements:
    """The contact elements of a cage (or a PLIF pair) of ``technique`` and ``material``.

    ``centre_local``: footprint centre in the disc frame (else the technique's typical AP
    position); ``disc_height_front_back_mm``: the disc's anterior and posterior heights, which
    give the space height under the cage; ``height_mm``: the cage height (else the space height
    plus the data file's default distraction); ``pretension``: the share of the distraction
    that pre-compresses the contacts (1 just after surgery; less once the stretched annulus and
    ligaments have relaxed; 0 seats the cage at zero force); ``endplate_width_mm``: the
    endplate's left-right width, the length of a lateral cage, which spans the ring apophysis
    from side to side (else the data file's typical length)."""
    cp = parameters()["cage"]
    fp = cp["footprints"][technique]
    typical = float(fp["width_mm"])
    if fp.get("spans_endplate", False) and endplate_width_mm is not None:
        typical = float(endplate_width_mm)
    width = float(width_mm or typical)
    depth = float(depth_mm or fp["depth_mm"])
    count = count if count > 1 else int(fp.get("count", 1))
    if centre_local is None:
        centre = np.array([0.0, float(fp["ap_offset"]) * endplate_depth_mm, 0.0])
    else:
        centre = np.asarray(centre_local, dtype=float)
    lateral = float(fp.get("lateral_offset_mm", 0.0)) if count == 2 else 0.0
    mat = cp["materials"][material]
    e_cage = float(mat["modulus_mpa"]["value"])
    mu = float(mat["friction"]["value"])
    e_bone = bone_modulus_mpa * value("cage", "endplate_modulus_ratio")
    nu = value("bone", "poisson")
    area = width * depth
    front, back = disc_height_front_back_mm
    # disc space height at the cage centre: linear between the posterior and anterior heights
    t = np.clip(0.5 + centre[1] / max(endplate_depth_mm, 1.0), 0.0, 1.0)
    space = float(back + t * (front - back))
    default_distraction = (
        value("cage", "footprints", technique, "distraction_mm", at_least=0.0)
        if "distraction_mm" in fp
        else value("cage", "default_distraction_mm", at_least=0.0)
    )
    h = float(height_mm) if height_mm else space + default_distraction
    # a cage shorter than the space is seated, not left floating: the segment closes onto it
    distraction = max(h - space, 0.0)
    gap = max(space - h, 0.0)
    k_one = 1.0 / (
        1.0 / (e_cage * area / max(h, 1.0)) + 2.0 / punch_stiffness(e_bone, area, nu)
    )  # the cage in series with both endplates
    ps, ks = [], []
    for j in range(2):
        if j < count:
            off = np.array([(-1) ** j * lateral if count == 2 else 0.0, 0.0])
            xy = centre[:2] + off + _CORNERS * np.array([width, depth])
            ps.append(np.column_stack([xy, np.full(CAGE_POINTS, 0.5 * space)]))
            ks.append(np.full(CAGE_POINTS, k_one / CAGE_POINTS))
        else:
            ps.append(np.zeros((CAGE_POINTS, 3)))
            ks.append(np.zeros(CAGE_POINTS))
    p = np.vstack(ps)
    k = np.concatenate(ks)
    c = p.copy()
    # the cage's lower face: distraction pushes the upper endplate's points inside it at rest
    c[:, 2] = 0.5 * space + float(np.clip(pretension, 0.0, 1.0)) * distraction
    k_t = np.full(k.shape, value("cage", "presliding_slip_mm"))
    return CageElements(
        points=p,
        planes=c,
        stiffness=k,
        friction=np.where(k > 0, mu, 0.0),
        tangential=k_t,
        area_mm2=area * count,
        distraction_mm=distraction,
        seating_gap_mm=gap,
    )


def integrated_fixation_stiffness(
    centre_local: Arr,
    space_mm: float,
    endplate_depth_mm: float,
    bone_modulus_upper: float,
    bone_modulus_lower: float,
) -> tuple[Arr, Arr]:
    """6×6 stiffness (N·mm/rad, N/mm) at the cage centre of an integrated ALIF fixation: two
    screws from the cage's anterior face into each vertebral body, angled toward the body, in
    series through the (rigid) cage. Returns the reference point and the stiffness."""
    fx = parameters()["cage"]["integrated_fixation"]
    d = float(fx["screw_diameter_mm"]["value"])
    length = float(fx["screw_length_mm"]["value"])
    angle = np.radians(float(fx["screw_angle_deg"]["value"]))
    spread = float(fx["screw_spread_mm"]["value"])
    e_screw = value("screw", "modulus_mpa")
    front = centre_local + np.array([0.0, 0.45 * endplate_depth_mm, 0.0])
    halves = []
    for sign, e_b in ((1.0, bone_modulus_upper), (-1.0, bone_modulus_lower)):
        k_sum = np.zeros((6, 6))
        for lat in (-0.5 * spread, 0.5 * spread):
            entry = front + np.array([lat, 0.0, sign * 0.5 * space_mm])
            axis = np.array([0.0, -np.cos(angle), sign * np.sin(angle)])
            c = screw_bone_compliance(
                axis[None],
                np.array([[0.0, 0.0, 1.0]]),
                np.array([d]),
                np.array([length]),
                np.array([e_b]),
                e_screw,
            )[0]
            k_sum += np.linalg.inv(moved(c, entry, centre_local))
        halves.append(np.linalg.inv(k_sum))
    k = np.linalg.inv(halves[0] + halves[1])
    return centre_local, 0.5 * (k + k.T)
