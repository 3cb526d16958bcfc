"""Sagittal measurements on a lateral view: lordosis, pelvic parameters, SVA, slip, disc heights.

All angles in degrees (edge quantities for people), lengths in the view's unit (mm when the
scale is known, else pixels). Definitions and sources: ``data/assessment_criteria.yaml``
(blocks ``sagittal``, ``meyerding``, ``disc_height``, ``schwab``).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from spinefuse.assess.assessment import Measurement, SchwabModifier
from spinefuse.assess.criteria import block, source
from spinefuse.assess.views import F64, SagittalView

LUMBOSACRAL = ("L1", "L2", "L3", "L4", "L5", "S1")


def tilt_deg(plate: F64) -> float:
    """Inclination of an endplate line (posterior -> anterior) to the horizontal, deg;
    positive when the anterior corner is higher."""
    d = plate[1] - plate[0]
    return float(np.degrees(np.arctan2(d[1], d[0])))


def _cross(a: F64, b: F64) -> float:
    return float(a[0] * b[1] - a[1] * b[0])


def _line_distance(p: F64, plate: F64) -> float:
    d = plate[1] - plate[0]
    return abs(_cross(d, p - plate[0])) / float(np.linalg.norm(d))


def pelvic_parameters(s1: F64, hip: F64) -> tuple[float, float, float]:
    """(PI, PT, SS) in degrees from the S1 endplate line (posterior, anterior) and the hip-axis
    centre. PT is positive when the hip axis lies anterior to the endplate midpoint, SS when the
    endplate descends anteriorly. PI is measured on its own, so PI = PT + SS checks the input."""
    mid = 0.5 * (s1[0] + s1[1])
    e = (s1[1] - s1[0]) / np.linalg.norm(s1[1] - s1[0])
    down = np.array([e[1], -e[0]])  # the endplate perpendicular pointing into the sacrum
    h = hip - mid
    pi = float(np.degrees(np.arctan2(_cross(down, h), float(down @ h))))
    pt = float(np.degrees(np.arctan2(h[0], -h[1])))
    return pi, pt, -tilt_deg(s1)


def slip(view: SagittalView, upper: str, lower: str) -> tuple[float, float, float]:
    """(slip length, slip %, lower endplate depth) of ``upper`` on ``lower``: the offset of the
    upper posterior-inferior corner from the lower posterior-superior corner along the lower
    superior endplate (anterior +)."""
    top, base = view.endplates[(upper, "inferior")], view.endplates[(lower, "superior")]
    d = base[1] - base[0]
    depth = float(np.linalg.norm(d))
    length = float((top[0] - base[0]) @ (d / depth))
    return length, 100.0 * length / depth, depth


def disc_heights(view: SagittalView, upper: str, lower: str) -> tuple[float, float, float]:
    """(anterior, middle, posterior) disc heights: each the mean of the two corner-to-opposite-
    endplate-line distances, so a slip does not inflate it."""
    top, base = view.endplates[(upper, "inferior")], view.endplates[(lower, "superior")]

    def h(i: int | None) -> float:
        a = top.mean(axis=0) if i is None else top[i]
        b = base.mean(axis=0) if i is None else base[i]
        return 0.5 * (_line_distance(a, base) + _line_distance(b, top))

    return h(1), h(None), h(0)


def disc_angle_deg(view: SagittalView, upper: str, lower: str) -> float:
    """Angle between the upper inferior and lower superior endplates (lordotic +)."""
    return tilt_deg(view.endplates[(upper, "inferior")]) - tilt_deg(
        view.endplates[(lower, "superior")]
    )


def schwab_grade(value: float, cuts: list[float] | tuple[float, float]) -> SchwabModifier:
    """SRS-Schwab modifier ('0', '+', '++') of a value against its two cut-offs."""
    return "0" if value < cuts[0] else ("+" if value <= cuts[1] else "++")


def schwab_grades(values: NDArray[np.float64], cuts: list[float]) -> NDArray[np.str_]:
    """:func:`schwab_grade` over an array."""
    v = np.asarray(values, dtype=float)
    return np.where(v < cuts[0], "0", np.where(v <= cuts[1], "+", "++"))


def measure_sagittal(view: SagittalView) -> list[Measurement]:
    """Every sagittal measurement the view allows."""
    out: list[Measurement] = []
    u = view.unit
    src = source("sagittal")
    sag = block("sagittal")
    sup = {
        v: view.endplates[(v, "superior")]
        for v in view.vertebrae
        if (v, "superior") in view.endplates
    }
    ll: float | None = None
    if "L1" in sup and "S1" in sup:
        ll = tilt_deg(sup["L1"]) - tilt_deg(sup["S1"])
        out.append(
            Measurement(
                name="lumbar_lordosis",
                value=ll,
                unit="deg",
                level="L1-S1",
                method=sag["lordosis_method"],
                source=src,
            )
        )
    for upper, lower in zip(LUMBOSACRAL, LUMBOSACRAL[1:], strict=False):
        if upper in sup and lower in sup:
            out.append(
                Measurement(
                    name="segmental_lordosis",
                    value=tilt_deg(sup[upper]) - tilt_deg(sup[lower]),
                    unit="deg",
                    level=f"{upper}-{lower}",
                    method="superior endplate of the upper "
                    "to the superior endplate of the lower vertebra",
                    source=src,
                )
            )
    if "S1" in sup and view.hip is not None:
        pi, pt, ss = pelvic_parameters(sup["S1"], view.hip)
        cuts = block("schwab")
        for name, value in (("pelvic_incidence", pi), ("pelvic_tilt", pt), ("sacral_slope", ss)):
            out.append(
                Measurement(
                    name=name,
                    value=value,
                    unit="deg",
                    level="S1",
                    normal_range=(-90.0, cuts["pt_deg"][0]) if name == "pelvic_tilt" else None,
                    method=sag["pelvic_method"],
                    source=src if name != "pelvic_tilt" else source("schwab"),
                )
            )
        if ll is not None:
            out.append(
                Measurement(
                    name="pi_ll_mismatch",
                    value=pi - ll,
                    unit="deg",
                    level="L1-S1",
                    normal_range=(-90.0, cuts["pi_ll_deg"][0]),
                    method="PI - LL(L1-S1)",
                    source=source("schwab"),
                )
            )
    if view.c7 is not None and "S1" in sup and u == "mm":
        out.append(
            Measurement(
                name="sagittal_vertical_axis",
                value=float(view.c7[0] - sup["S1"][0][0]),
                unit="mm",
                level="C7-S1",
                normal_range=(-100.0, block("schwab")["sva_mm"][0]),
                method=sag["sva_method"],
                source=source("schwab"),
            )
        )
    dh = block("disc_height")
    for upper, lower in view.segments():
        seg = f"{upper}-{lower}"
        length, pct, _ = slip(view, upper, lower)
        out.append(
            Measurement(
                name="slip_percent",
                value=pct,
                unit="%",
                level=seg,
                normal_range=(
                    -block("meyerding")["slip_min_percent"],
                    block("meyerding")["slip_min_percent"],
                ),
                method=block("meyerding")["method"],
                source=source("meyerding"),
            )
        )
        out.append(
            Measurement(
                name="slip",
                value=length,
                unit=u,
                level=seg,
                method="slip length, anterior +",
                source=source("meyerding"),
            )
        )
        out.append(
            Measurement(
                name="disc_angle",
                value=disc_angle_deg(view, upper, lower),
                unit="deg",
                level=seg,
                method="upper inferior to lower superior endplate, lordotic +",
                source=src,
            )
        )
        ant, mid, post = disc_heights(view, upper, lower)
        for name, value in (("anterior", ant), ("middle", mid), ("posterior", post)):
            out.append(
                Measurement(
                    name=f"disc_height_{name}",
                    value=value,
                    unit=u,
                    level=seg,
                    method="corner to opposite endplate line, averaged both ways",
                    source=source("disc_height"),
                )
            )
        depth = float(np.linalg.norm(np.diff(view.endplates[(upper, "inferior")], axis=0)))
        normal = dh["normal_index"].get(seg)
        out.append(
            Measurement(
                name="disc_height_index",
                value=0.5 * (ant + post) / depth,
                unit="",
                level=seg,
                normal_range=None if normal is None else (dh["narrowing_ratio"] * normal, 1.0),
                method=dh["method"],
                source=source("disc_height"),
            )
        )
    return out
