"""The virtual patient: a parametric L1–S1 spine with pelvis and exact ground-truth landmarks.

Dimensions come from ``data/lumbar_dimensions.yaml`` (published means with sources), scaled by
height and sex. The spine is built as a chain from the sacrum upward: the S1 endplate is tilted by
the sacral slope (PI − PT), each disc and body is a wedge whose angles share out the lumbar
lordosis, and pathologies are dialled in per segment (slip, disc height loss, stenosis) or along
the curve (scoliosis). The same spec always gives the same spine; ``seed`` adds the variation of
individual anatomy at equal stature.

Construction frame of a surface (endplate): columns x (right), y (anterior, in the plane),
z (normal, cranial) in the world frame (RAS, mm). A sagittal wedge ``a`` (lordotic +) turns the
next surface about its x axis by ``+a``; a coronal wedge ``b`` (toward the right +) about its y
axis by ``+b``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field, ValidationInfo, field_validator, model_validator

from spinefuse.anatomy.geometry import (
    Canal,
    Endplate,
    Facet,
    FacetName,
    Pedicle,
    Pelvis,
    SpineGeometry,
    Vertebra,
    disc_between,
)
from spinefuse.case import Patient
from spinefuse.conventions import LUMBAR, LUMBAR_SEGMENTS, SIDES, Side, parse_segment
from spinefuse.datafiles import load_yaml
from spinefuse.errors import LevelError, ParameterError
from spinefuse.records import Record, Vec3

Vec = NDArray[np.float64]


def dimensions() -> dict[str, Any]:
    """The published lumbar dimensions (``data/lumbar_dimensions.yaml``) as a mapping."""
    data: dict[str, Any] = load_yaml("lumbar_dimensions.yaml")
    return data


def _check_segments(values: dict[str, float], field: str) -> dict[str, float]:
    out = {}
    for seg, v in values.items():
        try:
            upper, lower = parse_segment(seg)
        except LevelError as err:
            raise ValueError(f"{field}: {err}") from None
        name = f"{upper}-{lower}"
        if name not in LUMBAR_SEGMENTS:
            raise ValueError(f"{field}: {seg!r} is not one of {', '.join(LUMBAR_SEGMENTS)}")
        out[name] = float(v)
    return out


class VirtualPatientSpec(Record):
    """What a virtual patient's spine looks like. Lengths in mm, angles in degrees."""

    sex: Literal["female", "male"] = "female"
    height_cm: float = Field(default=165.0, ge=130, le=215)
    pelvic_incidence_deg: float = Field(default=52.0, ge=20, le=95)
    lumbar_lordosis_deg: float | None = Field(
        default=None, ge=-10, le=90, description="L1–S1 Cobb; default 0.54·PI + 27.6"
    )
    pelvic_tilt_deg: float | None = Field(
        default=None, ge=-15, le=50, description="default 0.37·PI − 7"
    )
    trabecular_hu: float = Field(default=178.0, ge=20, le=400, description="mean body HU")
    slip_percent: dict[str, float] = Field(
        default_factory=dict, description="segment -> anterior slip % (negative: retrolisthesis)"
    )
    disc_height_loss: dict[str, float] = Field(
        default_factory=dict, description="segment -> fraction of disc height lost (0–0.9)"
    )
    stenosis_csa_mm2: dict[str, float] = Field(
        default_factory=dict, description="segment -> dural sac area at the disc (mm²)"
    )
    scoliosis_cobb_deg: float = Field(default=0.0, ge=0, le=80)
    scoliosis_apex: str = Field(default="L3", description="apical vertebra of a lumbar curve")
    scoliosis_convex: Literal["left", "right"] = "left"
    segment_rotation_deg: dict[str, float] = Field(
        default_factory=dict, description="posture: extra flexion (+) / extension (−) per segment"
    )
    segment_translation_mm: dict[str, float] = Field(
        default_factory=dict, description="posture: extra anterior translation per segment"
    )
    seed: int | None = Field(default=None, description="individual variation; None = the mean")

    @field_validator(
        "slip_percent",
        "disc_height_loss",
        "stenosis_csa_mm2",
        "segment_rotation_deg",
        "segment_translation_mm",
    )
    @classmethod
    def _segments(cls, v: dict[str, float], info: ValidationInfo) -> dict[str, float]:
        return _check_segments(v, str(info.field_name))

    @model_validator(mode="after")
    def _ranges(self) -> VirtualPatientSpec:
        for seg, s in self.slip_percent.items():
            if not -30.0 <= s <= 100.0:
                raise ValueError(f"slip_percent {seg} = {s}: allowed −30…100 %")
        for seg, f in self.disc_height_loss.items():
            if not 0.0 <= f <= 0.9:
                raise ValueError(f"disc_height_loss {seg} = {f}: a fraction in 0…0.9")
        for seg, a in self.stenosis_csa_mm2.items():
            if not 10.0 <= a <= 300.0:
                raise ValueError(f"stenosis_csa_mm2 {seg} = {a}: allowed 10…300 mm²")
        if self.scoliosis_apex not in LUMBAR[:-1]:
            raise ValueError(f"scoliosis_apex {self.scoliosis_apex!r}: one of L1…L5")
        return self

    def _from_incidence(self, given: float | None, rule: str) -> float:
        """``given``, or the published linear rule ``rule`` of pelvic incidence (deg)."""
        if given is not None:
            return given
        r = dimensions()["sagittal"][rule]
        return float(r["slope"] * self.pelvic_incidence_deg + r["intercept_deg"])

    @property
    def lordosis(self) -> float:
        """L1–S1 lordosis (deg), given or from pelvic incidence."""
        return self._from_incidence(self.lumbar_lordosis_deg, "lordosis_from_incidence")

    @property
    def pelvic_tilt(self) -> float:
        """Pelvic tilt (deg), given or from pelvic incidence."""
        return self._from_incidence(self.pelvic_tilt_deg, "pelvic_tilt_from_incidence")


# --- small rigid-body helpers -------------------------------------------------------------------
def _rot(axis: int, angle_rad: float) -> Vec:
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    i, j = [k for k in range(3) if k != axis]
    m = np.eye(3)
    m[i, i], m[i, j], m[j, i], m[j, j] = c, -s, s, c
    if axis == 1:  # keep the right-hand rule about y
        m[i, j], m[j, i] = s, -s
    return m


def _wedge(sagittal_deg: float, coronal_deg: float) -> Vec:
    """Local rotation of a wedge: lordotic tilt about x, then tilt toward the right about y."""
    return _rot(0, np.radians(sagittal_deg)) @ _rot(1, np.radians(coronal_deg))


def _v(a: Vec) -> Vec3:
    return (float(a[0]), float(a[1]), float(a[2]))


@dataclass(frozen=True)
class _Surface:
    frame: Vec  # 3x3, columns x, y, z (normal)
    centre: Vec


@dataclass(frozen=True)
class _Body:
    """An elliptic cylinder about ``frame``'s z axis through ``centroid``, cut by two planes."""

    name: str
    frame: Vec
    inferior: _Surface
    superior: _Surface
    width: float
    depth: float

    def corner(self, surface: _Surface, local_xy: tuple[float, float]) -> Vec:
        """Where the cylinder generator at ``local_xy`` meets a surface's plane."""
        base = self.inferior.centre + self.frame[:, :2] @ np.asarray(local_xy)
        n = surface.frame[:, 2]
        t = float((surface.centre - base) @ n / (self.frame[:, 2] @ n))
        return np.asarray(base + t * self.frame[:, 2], dtype=float)


def _scaled_dims(spec: VirtualPatientSpec) -> dict[str, dict[str, float]]:
    d = dimensions()
    scale = spec.height_cm / d["reference_height_cm"]["value"] * d["sex_factor"][spec.sex]
    rng = np.random.default_rng(spec.seed) if spec.seed is not None else None
    cv = d["variability_cv"]["value"]
    person = 1.0 if rng is None else float(np.exp(rng.normal(0.0, cv)))
    lengths = (
        "body_width_mm body_depth_mm body_height_mm disc_height_mm pedicle_width_mm "
        "pedicle_height_mm pedicle_length_mm entry_depth_mm canal_ap_mm canal_width_mm "
        "spinous_length_mm transverse_span_mm"
    ).split()
    areas = {
        k: float(v) * scale**2 * person**2 for k, v in d["dural_sac_csa_mm2"]["values"].items()
    }
    out: dict[str, dict[str, float]] = {}
    for key in lengths:
        vals = d[key]["values"]
        jitter = np.ones(len(vals)) if rng is None else np.exp(rng.normal(0.0, cv / 2, len(vals)))
        out[key] = {
            k: float(v) * scale * person * j for (k, v), j in zip(vals.items(), jitter, strict=True)
        }
    for key in (
        "body_wedge_deg",
        "lordosis_share",
        "pedicle_medial_angle_deg",
        "pedicle_caudal_angle_deg",
        "facet_angle_deg",
    ):
        out[key] = {k: float(v) for k, v in d[key]["values"].items()}
    out["dural_sac_csa_mm2"] = areas
    return out


def _scoliosis_wedges(spec: VirtualPatientSpec) -> dict[str, float]:
    """Coronal disc wedges (deg, toward the right +) giving a lumbar curve of the spec's Cobb
    angle between end vertebrae two levels above and below the apex."""
    wedges = dict.fromkeys(LUMBAR_SEGMENTS, 0.0)
    if spec.scoliosis_cobb_deg == 0.0:
        return wedges
    levels = list(LUMBAR)
    apex = levels.index(spec.scoliosis_apex)
    upper_end, lower_end = max(apex - 2, 0), min(apex + 2, len(levels) - 2)
    inside = LUMBAR_SEGMENTS[upper_end:lower_end]
    below = LUMBAR_SEGMENTS[lower_end:]
    # Convex to the left: the discs open on the left, so each upper surface tilts right (+).
    sign = 1.0 if spec.scoliosis_convex == "left" else -1.0
    for seg in inside:
        wedges[seg] = sign * spec.scoliosis_cobb_deg / len(inside)
    for seg in below:  # the fractional curve that brings the lower end vertebra to the sacrum
        wedges[seg] = -sign * spec.scoliosis_cobb_deg / 2.0 / len(below)
    return wedges


def _sagittal_shares(
    spec: VirtualPatientSpec, dims: dict[str, dict[str, float]]
) -> dict[str, float]:
    """Sagittal disc wedges (deg) so that the L1–S1 lordosis equals the spec's."""
    share = dims["lordosis_share"]
    wedge = dims["body_wedge_deg"]
    body_total = sum(wedge[v] for v in LUMBAR[:-1])
    disc_total = spec.lordosis - body_total
    # flexion (+) closes the lordotic wedge
    return {
        seg: disc_total * share[seg] - spec.segment_rotation_deg.get(seg, 0.0)
        for seg in LUMBAR_SEGMENTS
    }


def _body(
    name: str, inferior: _Surface, height: float, wedge_sag: float, width: float, depth: float
) -> _Body:
    mid = inferior.frame @ _wedge(wedge_sag / 2.0, 0.0)
    top = inferior.frame @ _wedge(wedge_sag, 0.0)
    superior = _Surface(top, inferior.centre + height * mid[:, 2])
    return _Body(name, mid, inferior, superior, width, depth)


def scoliosis_end_vertebrae(apex: str) -> tuple[str, str]:
    """Upper and lower end vertebrae of the template's lumbar curve about ``apex``."""
    k = LUMBAR.index(apex)
    return LUMBAR[max(k - 2, 0)], LUMBAR[min(k + 2, len(LUMBAR) - 2)]


def coronal_cobb_deg(g: SpineGeometry, upper: str, lower: str) -> float:
    """Cobb angle (deg) on a frontal projection between the upper end vertebra's superior and
    the lower end vertebra's inferior endplate lines (through their left and right corners)."""

    def tilt(left: Vec3 | None, right: Vec3 | None) -> float:
        assert left is not None and right is not None
        d = np.subtract(right, left)
        return float(np.degrees(np.arctan2(d[2], d[0])))

    top = g.vertebra(upper).superior
    bottom = g.vertebra(lower).inferior
    if bottom is None:
        raise ParameterError(f"{lower} has no inferior endplate")
    return abs(tilt(top.left, top.right) - tilt(bottom.left, bottom.right))


def virtual_spine(spec: VirtualPatientSpec | None = None) -> SpineGeometry:
    """The L1–S1 spine and pelvis of a virtual patient, with exact ground-truth landmarks.

    A scoliotic curve is built so that its Cobb angle on a frontal (AP) projection, between the
    end vertebrae two levels above and below the apex, is the spec's (to 0.01°)."""
    spec = spec or VirtualPatientSpec()
    if spec.scoliosis_cobb_deg == 0.0:
        return _build(spec, 1.0)
    upper, lower = scoliosis_end_vertebrae(spec.scoliosis_apex)
    scale = 1.0
    for _ in range(8):  # the projected Cobb is nearly proportional to the wedges
        g = _build(spec, scale)
        measured = coronal_cobb_deg(g, upper, lower)
        if abs(measured - spec.scoliosis_cobb_deg) < 0.01:
            break
        scale *= spec.scoliosis_cobb_deg / measured
    return g


def patient_template(
    patient: Patient,
    pelvic_incidence_deg: float | None = None,
    lumbar_lordosis_deg: float | None = None,
    slip_percent: Mapping[str, float] | None = None,
) -> SpineGeometry:
    """The population spine of a patient's sex and height, shaped by the pelvic incidence,
    lordosis and slips measured on their films where given: what the mechanics run on when a
    case has no CT or MR. ``source_detail`` says so."""
    shape: dict[str, Any] = {}
    if pelvic_incidence_deg is not None:
        shape["pelvic_incidence_deg"] = pelvic_incidence_deg
    if lumbar_lordosis_deg is not None:
        shape["lumbar_lordosis_deg"] = lumbar_lordosis_deg
    spec = VirtualPatientSpec(
        sex=patient.sex,
        height_cm=min(max(patient.height_cm, 130.0), 215.0),
        slip_percent=dict(slip_percent or {}),
        **shape,
    )
    detail = "population template of the patient's sex and height"
    if shape or slip_percent:
        detail += ", shaped by the films' " + ", ".join(
            [*sorted(shape), *(["slips"] * bool(slip_percent))]
        )
    return virtual_spine(spec).model_copy(update={"source_detail": detail + " (no CT or MR)"})


def _build(spec: VirtualPatientSpec, coronal_scale: float) -> SpineGeometry:
    dims = _scaled_dims(spec)
    pt = spec.pelvic_tilt
    ss = spec.pelvic_incidence_deg - pt
    if not 0.0 < ss < 70.0:
        raise ParameterError(
            f"sacral slope PI − PT = {spec.pelvic_incidence_deg:.1f} − {pt:.1f} = {ss:.1f}°: "
            "must lie in 0…70°; check pelvic_incidence_deg and pelvic_tilt_deg"
        )
    sag = _sagittal_shares(spec, dims)
    cor = {k: coronal_scale * w for k, w in _scoliosis_wedges(spec).items()}

    # S1: its superior endplate at the origin, tilted forward by the sacral slope.
    s1_top = _Surface(_rot(0, -np.radians(ss)), np.zeros(3))
    s1_bottom_frame = s1_top.frame
    h_s1 = dims["body_height_mm"]["S1"]
    s1_bottom = _Surface(s1_bottom_frame, -h_s1 * s1_top.frame[:, 2])
    bodies: dict[str, _Body] = {
        "S1": _Body(
            "S1",
            s1_top.frame,
            s1_bottom,
            s1_top,
            dims["body_width_mm"]["S1"],
            dims["body_depth_mm"]["S1"],
        )
    }
    disc_heights: dict[str, float] = {}
    slips: dict[str, float] = {}
    for k in range(len(LUMBAR) - 2, -1, -1):  # L5 … L1, each on the one below
        name, lower = LUMBAR[k], bodies[LUMBAR[k + 1]]
        seg = f"{name}-{LUMBAR[k + 1]}"
        h = dims["disc_height_mm"][seg] * (1.0 - spec.disc_height_loss.get(seg, 0.0))
        base = lower.superior
        mid = base.frame @ _wedge(sag[seg] / 2.0, cor[seg] / 2.0)
        top = base.frame @ _wedge(sag[seg], cor[seg])
        inferior = _Surface(top, base.centre + h * mid[:, 2])
        body = _body(
            name,
            inferior,
            dims["body_height_mm"][name],
            dims["body_wedge_deg"][name],
            dims["body_width_mm"][name],
            dims["body_depth_mm"][name],
        )
        # Slip: move the upper vertebra along the lower endplate so that the offset of its
        # posterior-inferior corner from the lower posterior-superior corner is the spec's.
        ant = base.frame[:, 1]
        lower_post = lower.corner(base, (0.0, -lower.depth / 2))
        lower_depth = float(np.linalg.norm(lower.corner(base, (0.0, lower.depth / 2)) - lower_post))
        upper_post = body.corner(inferior, (0.0, -body.depth / 2))
        slip_mm = spec.slip_percent.get(seg, 0.0) / 100.0 * lower_depth
        slip_mm += spec.segment_translation_mm.get(seg, 0.0)
        shift = slip_mm - float((upper_post - lower_post) @ ant)
        inferior = _Surface(inferior.frame, inferior.centre + shift * ant)
        body = _body(
            name,
            inferior,
            dims["body_height_mm"][name],
            dims["body_wedge_deg"][name],
            dims["body_width_mm"][name],
            dims["body_depth_mm"][name],
        )
        bodies[name] = body
        disc_heights[seg] = h
        slips[seg] = 100.0 * slip_mm / lower_depth

    vertebrae = {name: _vertebra(bodies[name], dims, spec) for name in LUMBAR}
    vertebrae = _attach_facets(vertebrae, bodies, dims)
    discs = {}
    for seg in LUMBAR_SEGMENTS:
        up, low = parse_segment(seg)
        canal = _disc_canal(vertebrae[up], vertebrae[low], spec, seg, dims)
        discs[seg] = disc_between(vertebrae[up], vertebrae[low], canal)

    sag_d = dimensions()["sagittal"]
    s = np.asarray(vertebrae["S1"].superior.centre)
    d_hip = (
        sag_d["hip_to_sacrum_mm"] * spec.height_cm / dimensions()["reference_height_cm"]["value"]
    )
    hip = s + d_hip * np.array([0.0, np.sin(np.radians(pt)), -np.cos(np.radians(pt))])
    half = sag_d["hip_width_mm"] / 2.0
    pelvis = Pelvis(femoral_heads={"left": _v(hip - [half, 0, 0]), "right": _v(hip + [half, 0, 0])})

    params: dict[str, float | str] = {
        "sex": spec.sex,
        "height_cm": spec.height_cm,
        "pelvic_incidence_deg": spec.pelvic_incidence_deg,
        "pelvic_tilt_deg": pt,
        "sacral_slope_deg": ss,
        "lumbar_lordosis_deg": spec.lordosis - sum(spec.segment_rotation_deg.values()),
        "scoliosis_cobb_deg": spec.scoliosis_cobb_deg,
        "scoliosis_apex": spec.scoliosis_apex if spec.scoliosis_cobb_deg else "none",
        "trabecular_hu": spec.trabecular_hu,
        "seed": "none" if spec.seed is None else str(spec.seed),
    }
    for seg in LUMBAR_SEGMENTS:
        params[f"slip_percent_{seg}"] = round(slips[seg], 9)
        params[f"disc_height_mm_{seg}"] = disc_heights[seg]
    return SpineGeometry(
        vertebrae=vertebrae,
        discs=discs,
        pelvis=pelvis,
        source="virtual",
        source_detail="spinefuse parametric template (data/lumbar_dimensions.yaml)",
        parameters=params,
    )


def _endplate(body: _Body, surface: _Surface, outward: float, hu: float | None) -> Endplate:
    ant = body.corner(surface, (0.0, body.depth / 2))
    post = body.corner(surface, (0.0, -body.depth / 2))
    left = body.corner(surface, (-body.width / 2, 0.0))
    right = body.corner(surface, (body.width / 2, 0.0))
    return Endplate(
        centre=_v(surface.centre),
        normal=_v(outward * surface.frame[:, 2]),
        anterior=_v(ant),
        posterior=_v(post),
        left=_v(left),
        right=_v(right),
        width_mm=float(np.linalg.norm(right - left)),
        depth_mm=float(np.linalg.norm(ant - post)),
        hu=hu,
    )


def _centroid(body: _Body) -> Vec:
    """Volume centroid of the cut elliptic cylinder (exact for planar cuts)."""
    f = body.frame
    c0 = body.inferior.centre

    # Heights along the axis at local (x, y): plane z(x, y) for each surface.
    def plane_z(surface: _Surface) -> tuple[float, float, float]:
        n = surface.frame[:, 2]
        nz = float(f[:, 2] @ n)
        z0 = float((surface.centre - c0) @ n / nz)
        return z0, -float(f[:, 0] @ n / nz), -float(f[:, 1] @ n / nz)

    z0a, gxa, gya = plane_z(body.inferior)
    z0b, gxb, gyb = plane_z(body.superior)
    a2, b2 = (body.width / 2) ** 2 / 4, (body.depth / 2) ** 2 / 4  # ∫x²dA/A, ∫y²dA/A
    h0, gx, gy = z0b - z0a, gxb - gxa, gyb - gya
    xc, yc = gx * a2 / h0, gy * b2 / h0
    # z centroid: ∫ (za+zb)/2 · h dA / ∫ h dA
    zc = (0.5 * (z0a + z0b) * h0 + 0.5 * ((gxa + gxb) * gx * a2 + (gya + gyb) * gy * b2)) / h0
    return np.asarray(c0 + f @ np.array([xc, yc, zc]), dtype=float)


def _pedicle_axis(frame: Vec, side: Side, medial_deg: float, caudal_deg: float) -> Vec:
    m, c = np.radians(medial_deg), np.radians(caudal_deg)
    lateral = 1.0 if side == "right" else -1.0
    local = np.array([-lateral * np.sin(m) * np.cos(c), np.cos(m) * np.cos(c), -np.sin(c)])
    return np.asarray(frame @ local, dtype=float)


def _vertebra(body: _Body, dims: dict[str, dict[str, float]], spec: VirtualPatientSpec) -> Vertebra:
    name, f = body.name, body.frame
    c = _centroid(body)
    height = float(np.linalg.norm(body.superior.centre - body.inferior.centre))
    w, d = body.width, body.depth
    cw, cap = dims["canal_width_mm"][name], dims["canal_ap_mm"][name]
    pw, ph = dims["pedicle_width_mm"][name], dims["pedicle_height_mm"][name]
    plen, entry = dims["pedicle_length_mm"][name], dims["entry_depth_mm"][name]
    z_inf = float((body.inferior.centre - c) @ f[:, 2])
    z_ped = z_inf + (0.55 if name == "S1" else 0.67) * height  # pedicles join the upper body
    pedicles: dict[Side, Pedicle] = {}
    for side in SIDES:
        lat = 1.0 if side == "right" else -1.0
        axis = _pedicle_axis(
            f, side, dims["pedicle_medial_angle_deg"][name], dims["pedicle_caudal_angle_deg"][name]
        )
        wall = c + f @ np.array([lat * (cw / 2 + pw / 2), -d / 2, z_ped])
        isthmus = wall - plen * axis
        entry_pt = isthmus - entry * axis
        pedicles[side] = Pedicle(
            side=side,
            isthmus_centre=_v(isthmus),
            axis=_v(axis),
            width_mm=pw,
            height_mm=ph,
            entry_point=_v(entry_pt),
            chord_mm=_chord(entry_pt, axis, body, c),
        )
    canal_c = c + f @ np.array([0.0, -d / 2 - cap / 2, z_ped])
    lamina_y = -d / 2 - cap - 4.0
    spin = dims["spinous_length_mm"][name]
    tspan = dims["transverse_span_mm"][name]
    inferior = None if name == "S1" else _endplate(body, body.inferior, -1.0, None)
    return Vertebra(
        name=name,
        centroid=_v(c),
        superior=_endplate(body, body.superior, 1.0, None),
        inferior=inferior,
        anterior_height_mm=_height(body, (0.0, d / 2)),
        middle_height_mm=_height(body, (0.0, 0.0)),
        posterior_height_mm=_height(body, (0.0, -d / 2)),
        body_width_mm=w,
        body_depth_mm=d,
        pedicles=pedicles,
        canal=Canal(
            centre=_v(canal_c),
            ap_diameter_mm=cap,
            width_mm=cw,
            area_mm2=float(np.pi / 4 * cap * cw),
        ),
        spinous_tip=_v(c + f @ np.array([0.0, lamina_y - 4.0 - spin, z_ped - 0.3 * height])),
        lamina_centre=_v(c + f @ np.array([0.0, lamina_y, z_ped - 2.0])),
        transverse_tips={  # from the pedicle-lamina junction, beside the entry point
            s: _v(
                np.asarray(pedicles[s].entry_point)
                + f[:, 0]
                * (1 if s == "right" else -1)
                * (tspan / 2 - abs(float((np.asarray(pedicles[s].entry_point) - c) @ f[:, 0])))
            )
            for s in SIDES
        },
        trabecular_hu=spec.trabecular_hu,
    )


def _height(body: _Body, local_xy: tuple[float, float]) -> float:
    a = body.corner(body.inferior, local_xy)
    b = body.corner(body.superior, local_xy)
    return float(np.linalg.norm(b - a))


def _chord(entry: Vec, axis: Vec, body: _Body, centroid: Vec) -> float:
    """Distance from the entry point along the axis to the anterior cortex (ellipse exit)."""
    f = body.frame
    p = f.T @ (entry - centroid)
    a = f.T @ axis
    ra, rb = body.width / 2, body.depth / 2
    qa = (a[0] / ra) ** 2 + (a[1] / rb) ** 2
    qb = 2 * (p[0] * a[0] / ra**2 + p[1] * a[1] / rb**2)
    qc = (p[0] / ra) ** 2 + (p[1] / rb) ** 2 - 1.0
    disc = qb * qb - 4 * qa * qc
    if disc <= 0:
        raise ParameterError(f"{body.name}: the pedicle axis misses the vertebral body")
    return float((-qb + np.sqrt(disc)) / (2 * qa))


def _attach_facets(
    vertebrae: dict[str, Vertebra], bodies: dict[str, _Body], dims: dict[str, dict[str, float]]
) -> dict[str, Vertebra]:
    """Facet joints of each segment: the lower vertebra's superior facets face posteromedially,
    the upper vertebra's inferior facets face them across a 1 mm joint gap."""
    facets: dict[str, dict[FacetName, Facet]] = {name: {} for name in vertebrae}
    for seg in LUMBAR_SEGMENTS:
        upper, lower = parse_segment(seg)
        lv, uv = vertebrae[lower], vertebrae[upper]
        f = bodies[lower].frame
        alpha = np.radians(dims["facet_angle_deg"][seg])
        assert uv.inferior is not None
        joint_z = float((np.asarray(lv.superior.centre) - np.asarray(lv.centroid)) @ f[:, 2])
        disc_h = float(
            np.linalg.norm(np.asarray(uv.inferior.centre) - np.asarray(lv.superior.centre))
        )
        for side in SIDES:
            lat = 1.0 if side == "right" else -1.0
            ped = lv.pedicles[side]
            cw = dims["canal_width_mm"][lower]
            # the joint lies in the lateral recess, beside (not inside) the canal
            local = np.array(
                [lat * (cw / 2 + 5.0), -bodies[lower].depth / 2 - 12.0, joint_z + 0.5 * disc_h]
            )
            joint = np.asarray(lv.centroid) + f @ local
            n_sup = f @ np.array([-lat * np.cos(alpha), -np.sin(alpha), 0.0])
            area = float(ped.height_mm * 11.0)
            facets[lower][f"superior_{side}"] = Facet(  # type: ignore[index]
                centre=_v(joint - 0.5 * n_sup), normal=_v(n_sup), area_mm2=area
            )
            facets[upper][f"inferior_{side}"] = Facet(  # type: ignore[index]
                centre=_v(joint + 0.5 * n_sup), normal=_v(-n_sup), area_mm2=area
            )
    return {name: v.model_copy(update={"facets": facets[name]}) for name, v in vertebrae.items()}


def _disc_canal(
    upper: Vertebra,
    lower: Vertebra,
    spec: VirtualPatientSpec,
    seg: str,
    dims: dict[str, dict[str, float]],
) -> Canal:
    """The dural sac at the disc: its area from the spec when stenotic, else the normal area;
    its width 0.8 of the bony canal's, its AP diameter that of an ellipse of that area."""
    assert upper.canal is not None and lower.canal is not None
    width = 0.8 * 0.5 * (upper.canal.width_mm + lower.canal.width_mm)
    area = spec.stenosis_csa_mm2.get(seg, dims["dural_sac_csa_mm2"][seg])
    ap = 4.0 * area / (np.pi * width)
    c = 0.5 * (np.asarray(upper.canal.centre) + np.asarray(lower.canal.centre))
    return Canal(
        centre=_v(c), ap_diameter_mm=float(ap), width_mm=float(width), area_mm2=float(area)
    )


def posed(
    spec: VirtualPatientSpec,
    rotation_deg: dict[str, float] | None = None,
    translation_mm: dict[str, float] | None = None,
) -> SpineGeometry:
    """The same patient in another posture (flexion +, extension −, per segment; anterior
    translation in mm), the sacrum held still: what a flexion or extension film shows."""
    return virtual_spine(
        spec.model_copy(
            update={
                "segment_rotation_deg": _check_segments(rotation_deg or {}, "rotation_deg"),
                "segment_translation_mm": _check_segments(translation_mm or {}, "translation_mm"),
            }
        )
    )
