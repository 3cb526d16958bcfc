"""Findings: diagnoses with grades and the measurements that support them.

Each rule reads the measurements of :mod:`spinefuse.assess.measurements` and the cut-offs of
``data/assessment_criteria.yaml``; every finding lists the measured values it rests on.
"""

from __future__ import annotations

from collections.abc import Sequence

from spinefuse.assess.assessment import (
    CurveType,
    Finding,
    InstabilityKind,
    Measurement,
    SchwabModifier,
)
from spinefuse.assess.criteria import block, source
from spinefuse.assess.sagittal import schwab_grade
from spinefuse.case import Patient


def _fmt(m: Measurement) -> str:
    unit = {"deg": "°", "": ""}.get(m.unit, f" {m.unit}")
    where = f" at {m.level}" if m.level else ""
    label = m.name.replace("_", " ")
    return (
        f"{label}{where} = {m.value:.3g}{unit}"
        if m.unit == ""
        else (f"{label}{where} = {m.value:.1f}{unit}")
    )


ROMAN = {"I": 1, "II": 2, "III": 3, "IV": 4, "V": 5}


def meyerding_grade(slip_percent: float) -> str:
    """Meyerding grade (I–V) of an anterior slip in %."""
    for grade, upper in block("meyerding")["grades"].items():
        if slip_percent <= upper:
            return str(grade)
    return "V"


def _by(ms: Sequence[Measurement], name: str) -> dict[str, Measurement]:
    out: dict[str, Measurement] = {}
    for m in ms:
        if m.name == name and m.level is not None and m.level not in out:
            out[m.level] = m
    return out


def spondylolisthesis(ms: Sequence[Measurement], patient: Patient | None) -> list[Finding]:
    """Anterolisthesis (and retrolisthesis) of at least the cut-off slip, Meyerding-graded and
    typed degenerative or isthmic (criteria ``spondylolisthesis_type``)."""
    crit, kind = block("meyerding"), block("spondylolisthesis_type")
    out = []
    for seg, m in _by(ms, "slip_percent").items():
        pct = round(m.value, 1)  # the reporting precision
        if abs(pct) < crit["slip_min_percent"]:
            continue
        evidence = [_fmt(m)]
        if pct < 0:
            out.append(
                Finding(
                    diagnosis="degenerative_spondylolisthesis",
                    level=seg,
                    grade=f"retrolisthesis {abs(pct):.1f} %",
                    evidence=evidence,
                    source=source("meyerding"),
                    slip_direction="posterior",
                )
            )
            continue
        grade = meyerding_grade(pct)
        evidence.append(f"Meyerding {grade} (upper bounds {crit['grades']} %)")
        age = None if patient is None else patient.age_years
        isthmic = pct > kind["degenerative_max_percent"] or (
            seg == "L5-S1" and age is not None and age < kind["isthmic_max_age_years"]
        )
        reason = f"slip {pct:.1f} % at {seg}" + ("" if age is None else f", age {age:.0f}")
        evidence.append(
            f"type presumed {'isthmic' if isthmic else 'degenerative'} ({reason}; no pars image)"
        )
        out.append(
            Finding(
                diagnosis="isthmic_spondylolisthesis"
                if isthmic
                else "degenerative_spondylolisthesis",
                level=seg,
                grade=grade,
                evidence=evidence,
                source=f"{source('meyerding')}; {source('spondylolisthesis_type')}",
                meyerding=ROMAN[grade],
                slip_direction="anterior",
            )
        )
    return out


def instability(ms: Sequence[Measurement]) -> list[Finding]:
    """Dynamic instability per segment: translation (mm when scaled, else %) or angulation
    change at or above the cut-offs."""
    crit = block("instability")
    mm, pct, ang = (
        _by(ms, n) for n in ("translation_mm", "translation_percent", "angulation_change")
    )
    out = []
    for seg in sorted(set(pct) | set(ang)):
        kinds: list[InstabilityKind] = []
        evidence = []
        t = mm.get(seg) or pct.get(seg)
        if t is not None:
            cut = crit["translation_mm"] if t.unit == "mm" else crit["translation_percent"]
            if abs(round(t.value, 1)) >= cut:
                kinds.append("translational")
            evidence.append(f"{_fmt(t)} (cut-off {cut} {t.unit})")
        a = ang.get(seg)
        if a is not None:
            if abs(round(a.value, 1)) >= crit["angulation_deg"]:
                kinds.append("angular")
            evidence.append(f"{_fmt(a)} (cut-off {crit['angulation_deg']}°)")
        if kinds:
            out.append(
                Finding(
                    diagnosis="instability",
                    level=seg,
                    grade=" and ".join(kinds),
                    evidence=evidence,
                    source=source("instability"),
                    instability=kinds,
                )
            )
    return out


def stenosis(ms: Sequence[Measurement]) -> list[Finding]:
    """Central stenosis from the dural sac area at the disc (relative < 100, absolute < 75 mm²)
    or the bony canal AP diameter; foraminal stenosis from the posterior disc height together
    with the foraminal height (Hasegawa)."""
    crit = block("central_stenosis")
    out = []
    for seg, m in _by(ms, "dural_sac_area").items():
        if m.value < crit["dural_sac_relative_mm2"]:
            grade = "absolute" if m.value < crit["dural_sac_absolute_mm2"] else "relative"
            out.append(
                Finding(
                    diagnosis="central_stenosis",
                    level=seg,
                    grade=grade,
                    evidence=[
                        f"{_fmt(m)} (relative < {crit['dural_sac_relative_mm2']:g}, "
                        f"absolute < {crit['dural_sac_absolute_mm2']:g} mm2)"
                    ],
                    source=source("central_stenosis"),
                    severity="severe" if grade == "absolute" else "moderate",
                )
            )
    for level, m in _by(ms, "canal_ap_diameter").items():
        if m.value < crit["canal_ap_relative_mm"]:
            grade = "absolute" if m.value < crit["canal_ap_absolute_mm"] else "relative"
            out.append(
                Finding(
                    diagnosis="central_stenosis",
                    level=level,
                    grade=grade,
                    evidence=[f"{_fmt(m)} (Verbiest: relative < 12, absolute < 10 mm)"],
                    source=source("central_stenosis"),
                    severity="severe" if grade == "absolute" else "moderate",
                )
            )
    fcrit = block("foraminal")
    posterior = _by(ms, "disc_height_posterior")
    for seg, f in _by(ms, "foraminal_height").items():
        p = posterior.get(seg)
        if p is None or p.unit != "mm":
            continue
        if p.value <= fcrit["posterior_disc_height_mm"] and f.value <= fcrit["foraminal_height_mm"]:
            sides = [
                side
                for side in ("left", "right")
                if float(f.detail.get(f"{side}_mm", "inf")) <= fcrit["foraminal_height_mm"]
            ]
            out.append(
                Finding(
                    diagnosis="foraminal_stenosis",
                    level=seg,
                    grade="bilateral" if len(sides) != 1 else sides[0],
                    side="bilateral" if len(sides) != 1 else sides[0],
                    evidence=[
                        f"{_fmt(p)} (≤ {fcrit['posterior_disc_height_mm']:g} mm)",
                        f"{_fmt(f)} (≤ {fcrit['foraminal_height_mm']:g} mm, smaller side)",
                    ],
                    source=source("foraminal"),
                )
            )
    return out


def disc_degeneration(ms: Sequence[Measurement]) -> list[Finding]:
    """Degenerative disc disease as disc-space narrowing: the disc height index below the
    narrowing ratio of the level's normal index."""
    crit = block("disc_height")
    out = []
    for seg, m in _by(ms, "disc_height_index").items():
        normal = crit["normal_index"].get(seg)
        if normal is None:
            continue
        ratio = m.value / normal
        if ratio < crit["narrowing_ratio"]:
            grade = "severe narrowing" if ratio < crit["severe_ratio"] else "narrowing"
            out.append(
                Finding(
                    diagnosis="degenerative_disc_disease",
                    level=seg,
                    grade=grade,
                    evidence=[
                        f"{_fmt(m)}: {100 * ratio:.0f} % of the normal {normal:.3f} "
                        f"(narrowing < {100 * crit['narrowing_ratio']:.0f} %)"
                    ],
                    source=source("disc_height"),
                    severity="severe" if ratio < crit["severe_ratio"] else "moderate",
                )
            )
    return out


def _curve_region(apex: str) -> str:
    return "thoracic" if apex.startswith("T") and apex != "T12" else "lumbar"


def deformity(ms: Sequence[Measurement]) -> list[Finding]:
    """Scoliosis (Cobb ≥ 10°) with its SRS-Schwab curve type, and sagittal deformity when any
    SRS-Schwab sagittal modifier is not 0."""
    cobb, schwab = block("cobb"), block("schwab")
    out = []
    curves = [m for m in ms if m.name == "cobb_angle"]
    big = {"thoracic": 0.0, "lumbar": 0.0}
    for m in curves:
        region = _curve_region(m.detail.get("apex", "L3"))
        big[region] = max(big[region], m.value)
    structural = cobb["structural_deg"]
    curve_type: CurveType
    if big["thoracic"] >= structural and big["lumbar"] >= structural:
        curve_type = "D"
    elif big["thoracic"] >= structural:
        curve_type = "T"
    elif big["lumbar"] >= structural:
        curve_type = "L"
    else:
        curve_type = "N"
    for m in curves:
        if round(m.value, 1) < cobb["scoliosis_min_deg"]:
            continue
        d = m.detail
        out.append(
            Finding(
                diagnosis="scoliosis",
                level=m.level,
                grade=f"{m.value:.1f}° {d.get('curve', 'main')} curve, "
                f"SRS-Schwab type {curve_type}",
                evidence=[
                    _fmt(m),
                    f"apex {d.get('apex', '?')}, convex to the {d.get('convex', '?')}, end "
                    f"vertebrae {d.get('upper_end', '?')} and {d.get('lower_end', '?')}",
                ],
                source=source("cobb"),
                curve_type=curve_type,
            )
        )
    mods: dict[str, SchwabModifier] = {}
    evidence = []
    for name, key, label in (
        ("pi_ll_mismatch", "pi_ll_deg", "PI-LL"),
        ("pelvic_tilt", "pt_deg", "PT"),
        ("sagittal_vertical_axis", "sva_mm", "SVA"),
    ):
        found = [m for m in ms if m.name == name]
        if found:
            mods[label] = schwab_grade(found[0].value, schwab[key])
            evidence.append(f"{_fmt(found[0])}: modifier {mods[label]}")
    if any(v != "0" for v in mods.values()):
        out.append(
            Finding(
                diagnosis="sagittal_deformity",
                level="L1-S1",
                grade=", ".join(f"{k} {v}" for k, v in mods.items()),
                evidence=evidence,
                source=source("schwab"),
                modifiers=mods,
            )
        )
    return out


def bone_density(ms: Sequence[Measurement], patient: Patient | None) -> list[Finding]:
    """Osteoporosis or osteopenia from trabecular HU (Pickhardt) or the DXA T-score (WHO)."""
    crit = block("bone_density")
    evidence, grade = [], None
    hu = next((m for m in ms if m.name == "trabecular_hu"), None)
    if hu is not None:
        if hu.value <= crit["osteoporosis_hu"]:
            grade = "osteoporosis"
        elif hu.value <= crit["osteopenia_hu"]:
            grade = "osteopenia"
        evidence.append(
            f"{_fmt(hu)} (osteoporosis ≤ {crit['osteoporosis_hu']:g}, "
            f"osteopenia ≤ {crit['osteopenia_hu']:g} HU)"
        )
    if patient is not None and patient.t_score is not None:
        t = patient.t_score
        by_t = (
            "osteoporosis"
            if t <= crit["t_score_osteoporosis"]
            else ("osteopenia" if t < crit["t_score_osteopenia"] else None)
        )
        evidence.append(f"DXA T-score {t:.1f} ({crit['t_score_source']})")
        if by_t == "osteoporosis" or grade is None:
            grade = by_t or grade
    if patient is not None and patient.osteoporosis and grade != "osteoporosis":
        grade = "osteoporosis"
        evidence.append("osteoporosis recorded in the case")
    if grade is None:
        return []
    return [
        Finding(
            diagnosis="osteoporosis" if grade == "osteoporosis" else "osteopenia",
            level=None if hu is None else hu.level,
            grade=grade,
            evidence=evidence,
            source=source("bone_density"),
        )
    ]


def vertebral_fracture(ms: Sequence[Measurement]) -> list[Finding]:
    """Vertebral fractures graded by the Genant semi-quantitative method (grade 1 mild from 20 %
    height reduction, 2 moderate from 25 %, 3 severe over 40 %), with their type."""
    crit = block("genant")
    out = []
    for level, m in _by(ms, "height_loss_percent").items():
        loss = round(m.value, 1)
        if loss < crit["grade_1_percent"]:
            continue
        grade, severity = (
            (3, "severe")
            if loss > crit["grade_3_percent"]
            else (2, "moderate")
            if loss >= crit["grade_2_percent"]
            else (1, "mild")
        )
        kind = m.detail.get("type", "wedge")
        out.append(
            Finding(
                diagnosis="vertebral_fracture",
                level=level,
                grade=f"Genant grade {grade} ({severity}) {kind}, {loss:.0f} % height loss",
                evidence=[_fmt(m) + f" ({kind}; grade 1 from {crit['grade_1_percent']:g} %)"],
                source=source("genant"),
                severity=severity,
            )
        )
    return out


def findings(ms: Sequence[Measurement], patient: Patient | None = None) -> list[Finding]:
    """Every finding the measurements support, head to pelvis within each diagnosis."""
    return [
        *spondylolisthesis(ms, patient),
        *instability(ms),
        *stenosis(ms),
        *disc_degeneration(ms),
        *deformity(ms),
        *bone_density(ms, patient),
        *vertebral_fracture(ms),
    ]
