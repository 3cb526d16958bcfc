"""Findings from the MR measurements: disc herniation and bulge, central stenosis (dural sac area,
Schizas grade), lateral recess and foraminal stenosis, Modic changes, facet effusion, and disc
degeneration by Pfirrmann grade. Where the CT or radiographs already found the same diagnosis at
the level, the MR evidence joins that finding instead of adding a second one.
"""

from __future__ import annotations

from collections.abc import Sequence

from spinefuse.assess.assessment import Finding, FindingSide, Measurement, Zone
from spinefuse.assess.mr_levels import criteria, source
from spinefuse.datafiles import load_yaml

ROMAN = ("I", "II", "III", "IV", "V")


def _side(value: str | None) -> FindingSide | None:
    return value if value in ("left", "right", "bilateral") else None  # type: ignore[return-value]


def _zone(value: str | None) -> Zone | None:
    if value in ("central", "subarticular", "foraminal", "extraforaminal"):
        return value  # type: ignore[return-value]
    return None


def _segment_of_endplate(m: Measurement) -> str | None:
    return m.detail.get("segment")


def mr_findings(ms: Sequence[Measurement]) -> list[Finding]:
    """Every finding the MR measurements (those with ``detail['from'] == 'MR'``) support."""
    mr = [m for m in ms if m.detail.get("from") == "MR"]
    out: list[Finding] = []
    roots = load_yaml("nerve_roots.yaml")["compression"]
    hern_src = source("herniation") + "; " + source("zones")
    for m in mr:
        if m.name != "herniation_extent":
            continue
        kind = m.detail.get("class", "")
        zone, side = m.detail.get("zone"), m.detail.get("side")
        area = next(
            (
                a.value
                for a in mr
                if a.name == "herniation_area" and a.level == m.level and a.detail == m.detail
            ),
            None,
        )
        evidence = [
            f"disc material {m.value:.1f} mm beyond the disc space at {m.level}"
            + (f", {area:.0f} mm² on the axial section" if area is not None else ""),
            f"base {m.detail.get('base_mm')} mm, widest {m.detail.get('dome_mm')} mm, "
            f"{m.detail.get('migration_mm')} mm above/below the disc space, "
            f"{m.detail.get('circumference_pct')} % of the circumference",
        ]
        if kind == "bulge":
            out.append(
                Finding(
                    diagnosis="disc_bulge",
                    level=m.level,
                    grade=f"bulge over {m.detail.get('circumference_pct')} % of the circumference",
                    evidence=evidence,
                    source=hern_src,
                )
            )
            continue
        if kind not in roots["herniation_kinds"]:
            continue
        where = " ".join(x for x in (side, zone) if x) or "zone not determined"
        out.append(
            Finding(
                diagnosis="disc_herniation",
                level=m.level,
                grade=f"{kind}, {where}",
                evidence=evidence,
                source=hern_src,
                zone=_zone(zone),
                side=_side(side) or ("bilateral" if zone == "central" else None),
            )
        )
    sac = criteria("dural_sac")
    for m in mr:
        if m.name != "mr_dural_sac_area":
            continue
        schizas = next((s for s in mr if s.name == "sac_csf_share" and s.level == m.level), None)
        grade_s = schizas.detail.get("schizas") if schizas is not None else None
        severe = grade_s in ("C", "D")
        if m.value >= sac["relative_mm2"] and not severe:
            continue
        grade = "absolute" if m.value < sac["absolute_mm2"] or severe else "relative"
        evidence = [
            f"MR dural sac area at {m.level} = {m.value:.0f} mm2 (relative < "
            f"{sac['relative_mm2']:g}, absolute < {sac['absolute_mm2']:g} mm2; "
            f"{m.detail.get('outline', '')})"
        ]
        if schizas is not None:
            evidence.append(
                f"Schizas grade {grade_s}: CSF {100 * schizas.value:.0f} % of the sac, "
                f"posterior epidural fat {schizas.detail.get('posterior_fat')}"
            )
        out.append(
            Finding(
                diagnosis="central_stenosis",
                level=m.level,
                grade=grade + (f", Schizas {grade_s}" if grade_s else ""),
                evidence=evidence,
                source=source("dural_sac") + ("; " + source("schizas") if schizas else ""),
                zone="central",
                side="bilateral",
            )
        )
    for m in mr:
        if m.name == "lateral_recess_depth":
            recess = int(m.detail.get("grade", "0"))
            if recess < roots["lateral_recess_min_grade"]:
                continue
            out.append(
                Finding(
                    diagnosis="lateral_recess_stenosis",
                    level=m.level,
                    grade=f"grade {recess}, {m.detail['side']} ({m.value:.1f} mm)",
                    evidence=[f"lateral recess depth {m.value:.1f} mm ({m.detail['side']})"],
                    source=source("lateral_recess"),
                    zone="subarticular",
                    side=_side(m.detail.get("side")),
                )
            )
        elif m.name == "foraminal_lee_grade":
            lee = int(m.value)
            if lee < roots["foraminal_lee_min_grade"]:
                continue
            out.append(
                Finding(
                    diagnosis="foraminal_stenosis",
                    level=m.level,
                    grade=f"Lee {lee}, {m.detail['side']}",
                    evidence=[f"{m.detail.get('finding', '')} ({m.detail['side']}, sagittal T1)"],
                    source=source("foraminal_lee"),
                    zone="foraminal",
                    side=_side(m.detail.get("side")),
                )
            )
        elif m.name == "modic_type" and m.value >= 1:
            out.append(
                Finding(
                    diagnosis="modic_change",
                    level=_segment_of_endplate(m),
                    grade=f"type {int(m.value)}, {m.level} {m.detail.get('endplate')} endplate",
                    evidence=[
                        f"marrow beside the endplate / body middle: T1 {m.detail.get('t1_ratio')},"
                        f" T2 {m.detail.get('t2_ratio')}"
                    ],
                    source=source("modic"),
                )
            )
        elif (
            m.name == "facet_effusion_width"
            and m.value >= criteria("facet_effusion")["min_width_mm"]
        ):
            out.append(
                Finding(
                    diagnosis="facet_effusion",
                    level=m.level,
                    grade=f"{m.value:.1f} mm, {m.detail.get('side')}",
                    evidence=[
                        f"fluid {m.value:.1f} mm wide in the {m.detail.get('side')} facet joint"
                    ],
                    source=source("facet_effusion"),
                    side=_side(m.detail.get("side")),
                )
            )
        elif m.name == "pfirrmann_grade" and m.value >= 4:
            out.append(
                Finding(
                    diagnosis="degenerative_disc_disease",
                    level=m.level,
                    grade=f"Pfirrmann {ROMAN[int(m.value) - 1]}",
                    evidence=[
                        f"Pfirrmann {ROMAN[int(m.value) - 1]} on sagittal T2 (disc-to-CSF signal "
                        f"boundaries {m.detail.get('boundaries')}; disc space collapsed: "
                        f"{m.detail.get('collapsed')})"
                    ],
                    source=source("pfirrmann"),
                )
            )
    return out


def merge_findings(found: Sequence[Finding], mr: Sequence[Finding]) -> list[Finding]:
    """The findings with the MR ones added: an MR finding of a diagnosis already found at its
    level (on CT or radiographs) adds its evidence to that finding; the others are appended."""
    out = list(found)
    for f in mr:
        same = next(
            (
                k
                for k, g in enumerate(out)
                if g.diagnosis == f.diagnosis
                and g.level == f.level
                and g.side in (None, f.side, "bilateral")
                and f.diagnosis in ("central_stenosis", "degenerative_disc_disease")
            ),
            None,
        )
        if same is None:
            out.append(f)
            continue
        g = out[same]
        out[same] = g.model_copy(
            update={
                "evidence": [*g.evidence, *f.evidence],
                "source": f"{g.source}; {f.source}",
                "zone": g.zone or f.zone,
                "side": g.side or f.side,
            }
        )
    return out


def mr_foramina(ms: Sequence[Measurement]) -> dict[str, int]:
    """The highest MR Lee grade of each level whose foramina the MR graded."""
    out: dict[str, int] = {}
    for m in ms:
        if m.name == "foraminal_lee_grade" and m.level is not None and m.detail.get("from") == "MR":
            out[m.level] = max(out.get(m.level, 0), int(m.value))
    return out


def annotate_foramina(found: Sequence[Finding], ms: Sequence[Measurement]) -> list[Finding]:
    """A CT foraminal finding (narrow heights) at a level whose foramina the MR graded with
    their perineural fat preserved keeps its place, with the MR's reading beside it: the MR
    sees the root and its fat, the CT only the bony heights."""
    graded = mr_foramina(ms)
    need = load_yaml("nerve_roots.yaml")["compression"]["foraminal_lee_min_grade"]
    out = []
    for f in found:
        if (
            f.diagnosis == "foraminal_stenosis"
            and f.zone is None
            and f.level in graded
            and graded[f.level] < need
        ):
            note = (
                f"MR: perineural fat kept around the roots (Lee grade at most {graded[f.level]}): "
                "not a root compression"
            )
            f = f.model_copy(update={"evidence": [*f.evidence, note]})
        out.append(f)
    return out
