"""Rods: through the screw heads of each side, cut to length with an overhang, contoured in the
sagittal plane, of a stocked material and diameter."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from spinefuse.conventions import SIDES, vertebra_index
from spinefuse.errors import GeometryError
from spinefuse.plan.catalogue import Catalogue
from spinefuse.plan.rules import PlanningRules
from spinefuse.plan.surgical_plan import PedicleScrew, Rod, RodMaterial


def head_centre(screw: PedicleScrew, catalogue: Catalogue) -> NDArray[np.float64]:
    """Centre of the screw's head, where the rod sits: half a head height behind the entry."""
    h = catalogue.screws.head_height_mm / 2.0
    return np.asarray(screw.entry_point) - h * np.asarray(screw.direction)


def _sagittal(v: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(v[..., 1:], dtype=float)  # (y anterior, z superior)


def _turn_deg(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
    """Signed sagittal turn from direction ``a`` to ``b`` (deg, in (y, z)); + is lordotic: going
    caudally along a lordotic spine the rod bows forward, its concavity facing backwards."""
    cross = a[0] * b[1] - a[1] * b[0]
    return -float(np.degrees(np.arctan2(cross, a @ b)))


def rod_bends_deg(points: NDArray[np.float64], axes: NDArray[np.float64]) -> list[float]:
    """Sagittal bend angles (deg, + lordotic) of a rod through head centres (k, 3), head to
    pelvis. With three heads or more: the turn at each interior head. With two: the single bend
    that seats the rod square in both heads, i.e. the sagittal angle between the screw axes."""
    p = _sagittal(points)
    if len(p) >= 3:
        seg = np.diff(p, axis=0)
        return [_turn_deg(seg[i], seg[i + 1]) for i in range(len(seg) - 1)]
    a = _sagittal(axes)
    # the rod seats perpendicular to each screw, so it turns as the screw axes do; in lordosis
    # the axes fan out anteriorly (the upper one tilted up)
    return [_turn_deg(a[0], a[1])]


@dataclass(frozen=True)
class RodChoice:
    material: RodMaterial
    diameter_mm: float
    reasons: list[str]
    overridden: list[str]


def choose_rod(
    catalogue: Catalogue,
    rules: PlanningRules,
    levels: int,
    deformity: bool,
    *,
    material: RodMaterial | None = None,
    diameter_mm: float | None = None,
    preferred_material: RodMaterial | None = None,
    preferred_diameter_mm: float | None = None,
) -> RodChoice:
    """Rod material and diameter: the surgeon's, the case's preference, or the rule."""
    reasons, overridden = [], []
    if material is not None or preferred_material is not None:
        mat: RodMaterial = material or preferred_material  # type: ignore[assignment]
        overridden.append("rod_material")
        reasons.append(
            f"rod {mat}: " + ("set by the surgeon" if material else "the case's preference")
        )
    elif levels >= rules.rod_cobalt_chrome_min_levels.value or deformity:
        mat = "cobalt_chrome"
        reasons.append(
            f"rod cobalt_chrome: {'deformity' if deformity else f'{levels} segments'}; the stiffer "
            "alloy resists rod fracture in long constructs"
        )
    else:
        mat = "titanium"
        reasons.append(f"rod titanium: short construct ({levels} segment(s))")
    if diameter_mm is not None or preferred_diameter_mm is not None:
        dia = float(diameter_mm or preferred_diameter_mm)  # type: ignore[arg-type]
        overridden.append("rod_diameter_mm")
        reasons.append(
            f"rod {dia:g} mm: " + ("set by the surgeon" if diameter_mm else "the case's preference")
        )
    else:
        dia = 6.0 if deformity else 5.5
        reasons.append(
            f"rod {dia:g} mm: " + ("deformity correction" if deformity else "standard lumbar rod")
        )
    catalogue.rod(mat, dia)  # refuses what the site does not stock
    return RodChoice(mat, dia, reasons, overridden)


def plan_rods(
    screws: Sequence[PedicleScrew], choice: RodChoice, catalogue: Catalogue, rules: PlanningRules
) -> list[Rod]:
    """One rod per side through that side's screw heads (head to pelvis)."""
    rods = []
    overhang = rules.rod_overhang_mm.value
    stock = catalogue.rod(choice.material, choice.diameter_mm)
    for side in SIDES:
        mine = sorted(
            (s for s in screws if s.side == side), key=lambda s: vertebra_index(s.vertebra)
        )
        if len(mine) < 2:
            continue
        pts = np.array([head_centre(s, catalogue) for s in mine])
        axes = np.array([s.direction for s in mine], dtype=float)
        span = float(np.linalg.norm(np.diff(pts, axis=0), axis=1).sum())
        length = float(np.ceil(span + 2.0 * overhang))
        if length > stock.max_length_mm:
            raise GeometryError(
                f"{side} rod of {length:.0f} mm exceeds the stocked {stock.max_length_mm:g} mm"
            )
        rods.append(
            Rod(
                side=side,
                material=choice.material,
                diameter_mm=choice.diameter_mm,
                length_mm=length,
                points=[(float(p[0]), float(p[1]), float(p[2])) for p in pts],
                bend_angles_deg=rod_bends_deg(pts, axes),
            )
        )
    return rods
