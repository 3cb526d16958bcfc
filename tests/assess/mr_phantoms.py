"""The synthetic MR phantom set: three virtual patients whose pathology covers every grade the MR
measurements report (Pfirrmann I–V; bulge, protrusion, extrusion, sequestration in every zone;
Schizas A–D; Lee 0–3; lateral recess grades 0–3; Modic 0–3; facet effusion), with the truth each
grade is scored against. Drawn sizes sit inside their grade's band (a truth on a boundary between
two grades is no truth at 1.2 mm voxels)."""

from __future__ import annotations

from dataclasses import dataclass

from spinefuse.anatomy.geometry import SpineGeometry
from spinefuse.anatomy.mr_phantom import Herniation, MrPathology, phantom_series, render_mr
from spinefuse.anatomy.template import VirtualPatientSpec, virtual_spine
from spinefuse.assess.assessment import Measurement
from spinefuse.assess.mr_measurements import measure_mr
from spinefuse.conventions import LUMBAR_SEGMENTS, parse_segment

SAGITTAL_MM = 1.2

SET: tuple[tuple[VirtualPatientSpec, MrPathology], ...] = (
    (
        VirtualPatientSpec(
            sex="female",
            height_cm=163,
            disc_height_loss={"L5-S1": 0.65},
            stenosis_csa_mm2={"L3-L4": 90.0, "L4-L5": 60.0},
        ),
        MrPathology(
            pfirrmann={"L1-L2": 1, "L2-L3": 2, "L3-L4": 3, "L4-L5": 4, "L5-S1": 5},
            herniation={
                "L1-L2": Herniation(kind="protrusion", zone="central", extent_mm=5.0),
                "L2-L3": Herniation(
                    kind="extrusion", zone="subarticular", side="right", extent_mm=7.0
                ),
            },
            schizas={"L3-L4": "B", "L4-L5": "C"},
            foraminal_lee={"L1-L2": {"left": 1}, "L2-L3": {"right": 3}, "L3-L4": {"left": 2}},
            recess_depth_mm={"L4-L5": {"right": 1.0, "left": 3.5}},
            modic={"L4 inferior": 1, "L5 superior": 3, "L3 superior": 2},
            facet_effusion_mm={"L3-L4": {"right": 2.5}},
        ),
    ),
    (
        VirtualPatientSpec(
            sex="male",
            height_cm=178,
            disc_height_loss={"L1-L2": 0.7},
            stenosis_csa_mm2={"L2-L3": 45.0},
        ),
        MrPathology(
            pfirrmann={"L1-L2": 5, "L2-L3": 4, "L3-L4": 2, "L4-L5": 3, "L5-S1": 1},
            herniation={
                "L3-L4": Herniation(
                    kind="sequestration", zone="subarticular", side="left", extent_mm=8.0
                ),
                "L4-L5": Herniation(
                    kind="protrusion", zone="foraminal", side="right", extent_mm=6.0
                ),
                "L5-S1": Herniation(kind="bulge", extent_mm=3.0),
            },
            schizas={"L2-L3": "D"},
            foraminal_lee={"L1-L2": {"right": 3}, "L4-L5": {"left": 1}, "L5-S1": {"left": 2}},
            recess_depth_mm={"L2-L3": {"left": 2.5}},
            modic={"L2 superior": 3, "L1 inferior": 1, "L5 inferior": 2},
            facet_effusion_mm={"L4-L5": {"left": 2.0, "right": 3.0}},
        ),
    ),
    (
        VirtualPatientSpec(
            sex="female",
            height_cm=170,
            seed=3,
            disc_height_loss={"L3-L4": 0.3},
            stenosis_csa_mm2={"L4-L5": 85.0},
        ),
        MrPathology(
            pfirrmann={"L1-L2": 2, "L2-L3": 1, "L3-L4": 4, "L4-L5": 3, "L5-S1": 2},
            herniation={
                "L1-L2": Herniation(
                    kind="protrusion", zone="subarticular", side="left", extent_mm=5.0
                ),
                "L2-L3": Herniation(kind="extrusion", zone="central", extent_mm=7.0),
                "L4-L5": Herniation(
                    kind="protrusion", zone="extraforaminal", side="left", extent_mm=8.0
                ),
            },
            schizas={"L4-L5": "B"},
            foraminal_lee={"L3-L4": {"right": 1, "left": 3}, "L5-S1": {"right": 2}},
            recess_depth_mm={"L3-L4": {"right": 3.5, "left": 1.0}, "L5-S1": {"left": 2.5}},
            modic={"L4 superior": 1, "L3 inferior": 2, "L2 inferior": 3},
            facet_effusion_mm={"L1-L2": {"right": 2.0}},
        ),
    ),
)


@dataclass(frozen=True)
class Score:
    """One graded item: what it is, the truth and what was measured."""

    category: str
    where: str
    truth: str
    measured: str

    @property
    def exact(self) -> bool:
        return self.truth == self.measured


def _recess_grade(depth: float | None) -> str:
    if depth is None:
        return "0"
    return str(sum(depth < lim for lim in (5.0, 3.0, 2.0)))


def _by(ms: list[Measurement], name: str) -> dict[tuple[str, str], Measurement]:
    out = {}
    for m in ms:
        if m.name == name:
            key = (m.level or "", m.detail.get("side") or m.detail.get("endplate") or "")
            out.setdefault(key, m)
    return out


def score(g: SpineGeometry, path: MrPathology, ms: list[Measurement]) -> list[Score]:
    """Every graded item of one phantom: truth against measurement."""
    out: list[Score] = []
    pf = _by(ms, "pfirrmann_grade")
    hern: dict[str, list[Measurement]] = {}
    for m in ms:
        if m.name == "herniation_extent" and m.level is not None:
            hern.setdefault(m.level, []).append(m)
    sac = _by(ms, "sac_csf_share")
    lee = _by(ms, "foraminal_lee_grade")
    recess = _by(ms, "lateral_recess_depth")
    modic = _by(ms, "modic_type")
    effusion = _by(ms, "facet_effusion_width")
    roman = ("I", "II", "III", "IV", "V")
    for seg in LUMBAR_SEGMENTS:
        upper, lower = parse_segment(seg)
        m = pf.get((seg, ""))
        out.append(
            Score(
                "pfirrmann",
                seg,
                roman[path.pfirrmann.get(seg, 1) - 1],
                m.detail["grade"] if m else "-",
            )
        )
        h = path.herniation.get(seg)
        pieces = hern.get(seg, [])
        classes = ", ".join(sorted({m.detail["class"] for m in pieces})) or "none"
        out.append(Score("herniation class", seg, h.kind if h else "none", classes))
        if h is not None and h.kind != "bulge":
            where = f"{h.zone} {h.side or ''}".strip()
            got = next((m for m in pieces if m.detail["class"] == h.kind), None)
            found = (
                f"{got.detail.get('zone', '?')} {got.detail.get('side', '')}".strip()
                if got
                else "none"
            )
            out.append(Score("herniation zone", seg, where, found))
        if h is None:
            s = sac.get((seg, ""))
            out.append(
                Score("schizas", seg, path.schizas.get(seg, "A"), s.detail["schizas"] if s else "-")
            )
        for side in ("left", "right"):
            hit_foramen = (
                h is not None and h.side == side and h.zone in ("foraminal", "extraforaminal")
            )
            if not hit_foramen:
                m = lee.get((seg, side))
                truth = str(path.foraminal_lee.get(seg, {}).get(side, 0))
                out.append(
                    Score("foraminal lee", f"{seg} {side}", truth, str(int(m.value)) if m else "-")
                )
            in_recess = h is not None and (
                h.zone in ("subarticular", "central") or h.kind == "bulge"
            )
            if not in_recess:
                m = recess.get((seg, side))
                truth = _recess_grade(path.recess_depth_mm.get(seg, {}).get(side))
                out.append(
                    Score("lateral recess", f"{seg} {side}", truth, m.detail["grade"] if m else "-")
                )
            m = effusion.get((seg, side))
            truth = "yes" if path.facet_effusion_mm.get(seg, {}).get(side, 0.0) > 0 else "no"
            out.append(
                Score(
                    "facet effusion",
                    f"{seg} {side}",
                    truth,
                    ("yes" if m.value >= 1.5 else "no") if m else "-",
                )
            )
        for vertebra, which in ((upper, "inferior"), (lower, "superior")):
            m = modic.get((vertebra, which))
            truth = str(path.modic.get(f"{vertebra} {which}", 0))
            out.append(
                Score("modic", f"{vertebra} {which}", truth, str(int(m.value)) if m else "-")
            )
    return out


def run_set(sagittal_mm: float = SAGITTAL_MM) -> list[Score]:
    """Render, read and score every phantom of the set."""
    scores: list[Score] = []
    for k, (spec, path) in enumerate(SET):
        g = virtual_spine(spec)
        mr = phantom_series(render_mr(g, path, sagittal_mm=sagittal_mm, seed=k))
        scores += score(g, path, measure_mr(mr).measurements)
    return scores
