"""Pedicle screws: entry point, trajectory, diameter and length from the pedicle; grading of
planned screws against a label map and a CT by sampling along their shafts.

Sizing (rules cited in ``data/planning_rules.yaml``): the trajectory is the pedicle axis from its
entry point; the diameter is the largest stocked one not above 80 % of the isthmus (the rest is
the cortical margin); the length is the stocked one nearest 80 % of the entry-to-anterior-cortex
chord, never deeper than 87.6 % of it. A pedicle too narrow for the smallest screw is never
planned silently: the screw carries ``breach`` when it is wider than the isthmus, a warning and
alternatives. Points and directions are in the world frame (RAS, mm).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from spinefuse.anatomy.geometry import Pedicle, Vertebra
from spinefuse.conventions import SIDES, TOTALSEG_V2_SACRUM, Side
from spinefuse.errors import GeometryError, LabelMapError
from spinefuse.imaging.labels import Convention, convention_ids
from spinefuse.imaging.volume import Volume
from spinefuse.plan.catalogue import Catalogue
from spinefuse.plan.rules import PlanningRules
from spinefuse.plan.surgical_plan import PedicleScrew, ScrewIssue
from spinefuse.records import Vec3

Purchase = Literal["adequate", "reduced", "poor"]

NARROW_PEDICLE_ALTERNATIVES = (
    "extrapedicular (in-out-in) trajectory along the lateral pedicle wall",
    "cortical bone trajectory screw",
    "leave this pedicle empty and extend the fixation one level, or fix the other side only",
    "navigated or robot-guided insertion to hold the narrow corridor",
)
LOW_DENSITY_ALTERNATIVES = (
    "cement (PMMA) augmentation through fenestrated screws",
    "the largest diameter the isthmus allows and a longer screw toward 87 % of the chord",
    "extend the fixation one level above and below",
    "DXA and anabolic osteoporosis treatment (e.g. teriparatide) before elective surgery",
)


def _v(a: NDArray[np.float64]) -> Vec3:
    return (float(a[0]), float(a[1]), float(a[2]))


def purchase_band(hu: float | None, rules: PlanningRules) -> Purchase | None:
    """Bone purchase class from a vertebral body's mean trabecular HU (Pickhardt 2013 bands)."""
    if hu is None:
        return None
    bands = rules.trabecular_hu_bands
    if hu <= bands.poor:
        return "poor"
    return "reduced" if hu <= bands.reduced else "adequate"


def screw_angles_deg(direction: Vec3, vertebra: Vertebra, side: Side) -> tuple[float, float]:
    """Medial (convergence toward the midline, transverse plane) and cranial (+ toward the head)
    angles of a screw direction in the vertebra's local frame, in degrees."""
    axes = vertebra.frame()[:3, :3]
    x, y, z = axes.T @ np.asarray(direction, dtype=float)
    lateral = 1.0 if side == "right" else -1.0
    medial = float(np.degrees(np.arctan2(-lateral * x, y)))
    cranial = float(np.degrees(np.arctan2(z, np.hypot(x, y))))
    return medial, cranial


def body_chord_mm(vertebra: Vertebra, entry: Vec3, axis: Vec3) -> float:
    """Distance (mm) from ``entry`` along ``axis`` to where it leaves the vertebral body, the body
    taken as an elliptic cylinder of its width and depth about the centroid."""
    f = vertebra.frame()
    p = f[:3, :3].T @ (np.asarray(entry) - f[:3, 3])
    a = f[:3, :3].T @ np.asarray(axis)
    ra, rb = vertebra.body_width_mm / 2.0, vertebra.body_depth_mm / 2.0
    qa = (a[0] / ra) ** 2 + (a[1] / rb) ** 2
    qb = 2.0 * (p[0] * a[0] / ra**2 + p[1] * a[1] / rb**2)
    qc = (p[0] / ra) ** 2 + (p[1] / rb) ** 2 - 1.0
    disc = qb * qb - 4.0 * qa * qc
    if qa <= 0 or disc <= 0:
        raise GeometryError(f"{vertebra.name}: the pedicle axis misses the vertebral body")
    return float((-qb + np.sqrt(disc)) / (2.0 * qa))


def _pedicle(vertebra: Vertebra, side: Side) -> Pedicle:
    """The corridor fitted on the label map, else the measured pedicle."""
    try:
        return vertebra.corridors.get(side) or vertebra.pedicles[side]
    except KeyError:
        raise GeometryError(
            f"{vertebra.name}: no {side} pedicle in the geometry (present: "
            f"{', '.join(vertebra.pedicles) or 'none'}); a screw needs its isthmus and axis"
        ) from None


def plan_screw(
    vertebra: Vertebra, side: Side, catalogue: Catalogue, rules: PlanningRules
) -> PedicleScrew:
    """One pedicle screw sized to the pedicle; warnings and alternatives when it fits poorly."""
    ped = _pedicle(vertebra, side)
    name = f"{vertebra.name} {side}"
    if ped.entry_point is None:
        raise GeometryError(
            f"{name} pedicle has no entry_point: the planner needs where the axis leaves the "
            "posterior cortex (the anatomy stage sets it)"
        )
    entry, axis = ped.entry_point, ped.axis
    chord = ped.chord_mm if ped.chord_mm is not None else body_chord_mm(vertebra, entry, axis)
    warnings: list[str] = []
    issues: list[ScrewIssue] = []
    alternatives: list[str] = []
    breach_mm = 0.0

    # Diameter: the largest stocked one within the cited fraction of the isthmus.
    isthmus = min(ped.width_mm, ped.height_mm)
    frac = rules.screw_diameter_fraction_of_isthmus.value
    limit = frac * isthmus
    diameters = catalogue.screws.diameters_mm
    fitting = [d for d in diameters if d <= limit + 1e-9]
    if fitting:
        diameter = fitting[-1]
    else:
        diameter = diameters[0]
        wall = (isthmus - diameter) / 2.0
        text = (
            f"{name}: pedicle isthmus {ped.width_mm:.1f} × {ped.height_mm:.1f} mm is too narrow "
            f"for the smallest stocked screw ({diameter:g} mm > {frac:.0%} of {isthmus:.1f} mm)"
        )
        if wall < 0:
            breach_mm = -wall
            text += f"; it would breach the pedicle wall by {breach_mm:.1f} mm"
        else:
            text += f"; the cortical margin left is only {wall:.1f} mm a side"
        warnings.append(text)
        issues.append("narrow_pedicle")
        alternatives.extend(NARROW_PEDICLE_ALTERNATIVES)

    # Length: the stocked length nearest the target depth, never past the deepest one.
    target = rules.screw_length_fraction_of_chord.value * chord
    cap = rules.screw_length_max_fraction_of_chord.value * chord
    lengths = [n for n in catalogue.screws.lengths_mm if n <= cap + 1e-9]
    if lengths:
        length = min(lengths, key=lambda n: (abs(n - target), -n))
    else:
        length = catalogue.screws.lengths_mm[0]
        warnings.append(
            f"{name}: entry-to-anterior-cortex chord {chord:.1f} mm is short for the shortest "
            f"stocked screw ({length:g} mm; deepest safe tip {cap:.1f} mm)"
        )
        issues.append("short_chord")
        if length > chord:
            breach_mm = max(breach_mm, length - chord)
            warnings.append(
                f"{name}: the tip would pass the anterior cortex by {length - chord:.1f} mm"
            )
            issues.append("tip_beyond_cortex")
        alternatives.append("a shorter screw than the catalogue stocks")

    if side in vertebra.corridors and side not in vertebra.pedicles:
        warnings.append(
            f"{name}: sized on the screw corridor fitted on the label map; the pedicle isthmus "
            "itself was not measured"
        )
        issues.append("corridor_only")
    medial, cranial = screw_angles_deg(axis, vertebra, side)
    return PedicleScrew(
        vertebra=vertebra.name,
        side=side,
        entry_point=entry,
        direction=axis,
        diameter_mm=diameter,
        length_mm=length,
        medial_angle_deg=medial,
        cranial_angle_deg=cranial,
        breach=breach_mm > 0.0,
        breach_mm=breach_mm if breach_mm > 0 else None,
        warnings=warnings,
        issues=issues,
        alternatives=alternatives,
    )


def _segment_gap(
    p0: NDArray[np.float64],
    p1: NDArray[np.float64],
    q0: NDArray[np.float64],
    q1: NDArray[np.float64],
) -> float:
    """Shortest distance between segments p0-p1 and q0-q1 (sampled finely; mm)."""
    t = np.linspace(0.0, 1.0, 41)
    a = p0 + t[:, None] * (p1 - p0)
    b = q0 + t[:, None] * (q1 - q0)
    return float(np.min(np.linalg.norm(a[:, None, :] - b[None, :, :], axis=-1)))


def plannable_sides(vertebra: Vertebra) -> list[Side]:
    """The sides with a screw corridor, or a measured pedicle with an entry point (screws can
    be sized); none in a vertebra the image cuts (what lies outside it is unknown)."""
    if vertebra.partial:
        return []
    return [
        s
        for s in SIDES
        if s in vertebra.corridors
        or (s in vertebra.pedicles and vertebra.pedicles[s].entry_point is not None)
    ]


def plan_vertebra_screws(
    vertebra: Vertebra, catalogue: Catalogue, rules: PlanningRules
) -> list[PedicleScrew]:
    """The screws of one vertebra (the sides with a measured pedicle), shortened in catalogue
    steps when converging tips would touch, with the density warning from the body's HU."""
    screws = [plan_screw(vertebra, s, catalogue, rules) for s in plannable_sides(vertebra)]
    lengths = catalogue.screws.lengths_mm

    def gap(a: PedicleScrew, b: PedicleScrew) -> float:
        return (
            _segment_gap(
                np.asarray(a.entry_point),
                np.asarray(a.tip),
                np.asarray(b.entry_point),
                np.asarray(b.tip),
            )
            - (a.diameter_mm + b.diameter_mm) / 2.0
        )

    if len(screws) == 2:
        left, right = screws
        shortened = False
        while gap(left, right) < 1.0:
            shorter = [n for n in lengths if n < max(left.length_mm, right.length_mm)]
            if not shorter:
                break
            n = shorter[-1]
            left = left.model_copy(update={"length_mm": min(left.length_mm, n)})
            right = right.model_copy(update={"length_mm": min(right.length_mm, n)})
            shortened = True
        if shortened:
            note = f"{vertebra.name}: screws shortened to keep converging tips apart"
            left = left.model_copy(
                update={"warnings": [*left.warnings, note], "issues": [*left.issues, "shortened"]}
            )
            right = right.model_copy(
                update={
                    "warnings": [*right.warnings, note],
                    "issues": [*right.issues, "shortened"],
                }
            )
        screws = [left, right]

    band = purchase_band(vertebra.trabecular_hu, rules)
    out = []
    for s in screws:
        update: dict[str, object] = {"purchase": band}
        if band in ("poor", "reduced"):
            hu = vertebra.trabecular_hu
            bands = rules.trabecular_hu_bands
            edge = bands.poor if band == "poor" else bands.reduced
            update["warnings"] = [
                *s.warnings,
                f"{s.vertebra} {s.side}: {band} screw purchase, trabecular {hu:.0f} HU "
                f"≤ {edge:g} HU (Pickhardt et al. 2013)",
            ]
            update["issues"] = [*s.issues, "low_density"]
            update["alternatives"] = [*s.alternatives, *LOW_DENSITY_ALTERNATIVES]
        out.append(s.model_copy(update=update))
    return out


# --- grading against images -------------------------------------------------------------------
def label_ids(convention: Convention) -> dict[str, set[int]]:
    """Vertebra name -> the label IDs that count as its bone, for a label convention (in
    TotalSegmentator's, the sacrum's label counts as S1's bone)."""
    out: dict[str, set[int]] = {}
    for k, name in convention_ids(convention).items():
        out.setdefault(name, set()).add(int(k))
    if isinstance(convention, str) and convention in ("totalseg", "totalseg_v2"):
        out.setdefault("S1", set()).add(TOTALSEG_V2_SACRUM)
    return out


def _basis(d: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Two unit vectors perpendicular to each row of ``d`` (n, 3) and to each other."""
    helper = np.where(np.abs(d[:, 2:3]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
    u = np.cross(d, helper)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    return u, np.cross(d, u)


def _lookup(vol: Volume, pts: NDArray[np.float64]) -> tuple[NDArray[np.generic], NDArray[np.bool_]]:
    """Nearest-voxel values at world points (..., 3) and whether each point lies in the grid."""
    ijk = np.rint(vol.world_to_voxel(pts)).astype(np.int64)
    shape = np.asarray(vol.shape)
    inside = np.all((ijk >= 0) & (ijk < shape), axis=-1)
    ijk = np.clip(ijk, 0, shape - 1)
    return vol.array[ijk[..., 0], ijk[..., 1], ijk[..., 2]], inside


def grade_screws(
    screws: Sequence[PedicleScrew],
    labels: Volume,
    ids: Mapping[str, Collection[int]],
    rules: PlanningRules,
    ct: Volume | None = None,
    *,
    lead_in_mm: float = 3.0,
    step_mm: float = 1.0,
    around: int = 12,
    rings: int = 5,
) -> list[PedicleScrew]:
    """Check planned screws against a label map (and a CT) by sampling their shafts.

    For every screw, points are sampled on ``rings`` coaxial circles (radius 0 to the screw
    radius, ``around`` points each) every ``step_mm`` from ``lead_in_mm`` past the entry point to
    the tip; all screws are sampled in one vectorised pass. Per ray from the axis, the excursion
    is the screw radius less the outermost radius still inside the screw's own vertebra label; the
    screw's ``breach_mm`` is the largest excursion found at two neighbouring stations (a breach
    runs along the shaft), ``bone_fraction`` the share of outer-circle
    points in bone. A breach deeper than the cited tolerance sets ``breach``. With ``ct``,
    ``mean_hu`` and ``cortical_fraction`` come from the outer-circle samples."""
    if not screws:
        return []
    n = len(screws)
    entry = np.array([s.entry_point for s in screws], dtype=float)
    d = np.array([s.direction for s in screws], dtype=float)
    length = np.array([s.length_mm for s in screws], dtype=float)
    radius = np.array([s.diameter_mm / 2.0 for s in screws], dtype=float)
    n_st = int(np.ceil((length.max() - lead_in_mm) / step_mm)) + 1
    t = lead_in_mm + step_mm * np.arange(n_st)  # (S,)
    valid = t[None, :] <= length[:, None] + 1e-9  # (n, S)
    t_n = np.minimum(t[None, :], length[:, None])
    phi = np.linspace(0.0, 2.0 * np.pi, around, endpoint=False)
    frac = np.linspace(0.0, 1.0, rings)  # radius fractions, axis first
    u, w = _basis(d)
    ray = np.cos(phi)[None, :, None] * u[:, None, :] + np.sin(phi)[None, :, None] * w[:, None, :]
    rho = radius[:, None] * frac[None, :]  # (n, R)
    pts = (
        entry[:, None, None, None, :]
        + t_n[:, :, None, None, None] * d[:, None, None, None, :]
        + rho[:, None, None, :, None] * ray[:, None, :, None, :]
    )  # (n, S, A, R, 3)
    lab, in_grid = _lookup(labels, pts)
    own = np.zeros(lab.shape, dtype=bool)
    for i, s in enumerate(screws):
        want = ids.get(s.vertebra)
        if not want:
            raise LabelMapError(
                f"no label ID for {s.vertebra} in the label map convention; cannot grade its screws"
            )
        own[i] = np.isin(lab[i], list(want)) & in_grid[i]
    # per ray, how far the thread reaches past the outermost point still in bone (a ray with no
    # bone at all: the full radius); holes inside the bone (a gap in the segmentation) do not count
    depth = np.where(own, frac[None, None, None, :], -1.0).max(axis=-1)  # (n, S, A)
    excursion = np.where(depth < 0, 1.0, 1.0 - depth) * radius[:, None, None]
    excursion = np.where(valid[:, :, None], excursion, 0.0)
    # a breach runs along the shaft: keep excursions present at two neighbouring stations, so a
    # one-voxel slit across the shaft in the label map is not taken for a breach
    pad = np.pad(excursion, ((0, 0), (1, 1), (0, 0)))
    persistent = np.maximum(
        np.minimum(pad[:, :-2], pad[:, 1:-1]), np.minimum(pad[:, 1:-1], pad[:, 2:])
    )
    breach_mm = persistent.max(axis=(1, 2))
    outer = own[..., -1] & valid[:, :, None]
    bone_fraction = outer.sum(axis=(1, 2)) / (valid.sum(axis=1) * around)
    mean_hu = cortical = None
    if ct is not None:
        raw, hu_in = _lookup(ct, pts[..., -1, :])
        m = hu_in & valid[:, :, None]
        hu = np.asarray(raw, dtype=float)
        cnt = np.maximum(m.sum(axis=(1, 2)), 1)
        mean_hu = np.where(m, hu, 0.0).sum(axis=(1, 2)) / cnt
        cortical = (m & (hu >= rules.shaft_hu_bands.cortical)).sum(axis=(1, 2)) / cnt
    tol = rules.screw_breach_tolerance_mm.value
    out = []
    for i, s in enumerate(screws):
        depth_i = float(breach_mm[i])
        warnings = list(s.warnings)
        issues = [x for x in s.issues if x not in ("breach", "weak_thread")]  # graded anew
        if depth_i > tol:
            warnings.append(
                f"{s.vertebra} {s.side}: the shaft leaves the vertebra's label by {depth_i:.1f} mm "
                f"(over the {tol:g} mm tolerance, Gertzbein-Robbins C or worse)"
            )
            issues.append("breach")
        update: dict[str, object] = {
            "breach_mm": round(depth_i, 2),
            "breach": bool(s.breach or depth_i > tol),
            "bone_fraction": float(bone_fraction[i]),
            "warnings": warnings,
            "issues": issues,
        }
        if mean_hu is not None and cortical is not None:
            update["mean_hu"] = float(mean_hu[i])
            update["cortical_fraction"] = float(cortical[i])
            low = rules.shaft_hu_bands.cancellous
            if mean_hu[i] < low:
                warnings.append(
                    f"{s.vertebra} {s.side}: the thread meets {mean_hu[i]:.0f} HU on average, "
                    f"below the {low:g} HU of cancellous bone: weak purchase"
                )
                issues.append("weak_thread")
                update["alternatives"] = list(
                    dict.fromkeys([*s.alternatives, *LOW_DENSITY_ALTERNATIVES])
                )
        out.append(s.model_copy(update=update))
    assert len(out) == n
    return out


def fit_screws_to_bone(
    screws: Sequence[PedicleScrew],
    labels: Volume,
    ids: Mapping[str, Collection[int]],
    rules: PlanningRules,
    catalogue: Catalogue,
    ct: Volume | None = None,
) -> list[PedicleScrew]:
    """Grade the screws on the label map; a screw that would breach is replaced by the widest,
    then longest, stocked screw on the same trajectory that stays in bone (all candidates graded
    in one pass). When none does, the breach stays flagged with alternatives."""
    graded = grade_screws(screws, labels, ids, rules, ct)
    out = list(graded)
    bad = [i for i, s in enumerate(graded) if s.breach_mm is not None and s.breach]
    if not bad:
        return out
    candidates: list[PedicleScrew] = []
    owner: list[int] = []
    for i in bad:
        s = screws[i]
        for d in catalogue.screws.diameters_mm:
            for n in catalogue.screws.lengths_mm:
                if (
                    d <= s.diameter_mm
                    and n <= s.length_mm
                    and (d, n) != (s.diameter_mm, s.length_mm)
                ):
                    candidates.append(
                        s.model_copy(update={"diameter_mm": d, "length_mm": n, "breach": False})
                    )
                    owner.append(i)
    trial = grade_screws(candidates, labels, ids, rules, ct) if candidates else []
    for i in bad:
        ok = [c for c, o in zip(trial, owner, strict=True) if o == i and not c.breach]
        s = screws[i]
        if not ok:
            out[i] = graded[i].model_copy(
                update={"alternatives": [*graded[i].alternatives, *NARROW_PEDICLE_ALTERNATIVES]}
            )
            continue
        best = max(ok, key=lambda c: (c.diameter_mm, c.length_mm))
        note = (
            f"{s.vertebra} {s.side}: {s.diameter_mm:g} × {s.length_mm:g} mm would leave the bone "
            f"by {graded[i].breach_mm:.1f} mm on the label map; "
            f"{best.diameter_mm:g} × {best.length_mm:g} mm stays in it"
        )
        out[i] = best.model_copy(
            update={"warnings": [*best.warnings, note], "issues": [*best.issues, "resized"]}
        )
    return out
