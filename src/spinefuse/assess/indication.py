"""Indication per motion segment: fuse, decompress, no surgery, or refer — with reasons.

Rules (block ``indication`` of ``data/assessment_criteria.yaml`` and the blocks it cites):

* Red flags (cauda equina signs, a progressive or severe motor deficit) are listed first; cauda
  equina sends every compressed segment to urgent referral; a deficit waives the wait for
  conservative care.
* Fusion needs a mechanical reason at that segment, stated in the reasons: spondylolisthesis
  with dynamic instability, Meyerding grade II or more, an isthmic slip, or instability alone.
  Stenosis at a fused segment is decompressed with it.
* Foraminal stenosis counts only with symptoms of the root that exits there (root U at U-L),
  and not when central stenosis where that root traverses (the segment above) explains them.
* Stenosis with neurogenic symptoms and no mechanical reason: decompression alone (a stable
  grade I degenerative slip included, noting that dynamic films are needed when none were
  taken).
* A disc herniation or lateral recess stenosis on MR counts as a compression to decompress only
  when the examination supports it (the root it affects is symptomatic on its side:
  :mod:`spinefuse.assess.concordance`); one the examination does not support is noted and not
  operated on imaging alone, and the concordance flags say so, as they say a deficit that no
  image explains. The examination's red flags join the history's.
* Disc degeneration alone: no fusion (refer for evaluation when single-level discogenic pain
  has failed the longer conservative course); deformity (Cobb ≥ 30°, or a Schwab '++'
  modifier): refer to deformity surgery.
* Conservative care shorter than the minimum, mild symptoms, or current smoking hold a fusion
  back (no surgery yet, or refer), each with its reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from spinefuse.assess.assessment import Action, Concordance, Finding, SegmentRecommendation
from spinefuse.assess.criteria import block, source
from spinefuse.case import ClinicalHistory, Examination, Patient
from spinefuse.conventions import LUMBAR_SEGMENTS, parse_segment
from spinefuse.errors import ParameterError

MOTOR_SEVERE_MRC = 3
"""MRC grade at or below which a motor deficit counts as severe (red flag)."""


@dataclass(frozen=True)
class Indication:
    """The recommendation per segment, the red flags and a one-paragraph rationale."""

    recommendations: list[SegmentRecommendation]
    red_flags: list[str]
    rationale: str

    @property
    def fuse_segments(self) -> list[str]:
        return [r.segment for r in self.recommendations if r.action == "fuse"]


CAUDA_EQUINA_FLAGS = ("saddle_anaesthesia", "urinary_retention", "faecal_incontinence")
SERIOUS_PATHOLOGY_FLAGS = (
    "fever",
    "weight_loss",
    "cancer_history",
    "trauma",
    "night_pain",
    "immunosuppression",
)


def cauda_equina(history: ClinicalHistory | None, exam: Examination | None) -> bool:
    """Cauda equina signs in the history or on examination."""
    signs = exam is not None and any(f in CAUDA_EQUINA_FLAGS for f in exam.red_flags)
    return bool(signs or (history is not None and history.cauda_equina_signs))


def red_flags(history: ClinicalHistory | None, exam: Examination | None = None) -> list[str]:
    """Signs that call for urgent assessment rather than elective planning."""
    flags = []
    if exam is not None:
        seen = [f.replace("_", " ") for f in exam.red_flags if f in CAUDA_EQUINA_FLAGS]
        if seen:
            flags.append(
                f"cauda equina signs on examination ({', '.join(seen)}): urgent surgical assessment"
            )
        if "progressive_weakness" in exam.red_flags:
            flags.append("progressive weakness on examination")
        serious = [f.replace("_", " ") for f in exam.red_flags if f in SERIOUS_PATHOLOGY_FLAGS]
        if serious:
            flags.append(
                f"red flags of serious pathology ({', '.join(serious)}): exclude infection, "
                "tumour and fracture before elective surgery"
            )
        severe = [
            f"{root} MRC {mrc} ({side})"
            for side, grades in exam.motor.items()
            for root, mrc in grades.items()
            if mrc <= MOTOR_SEVERE_MRC
        ]
        if severe:
            flags.append(f"severe motor deficit on examination: {', '.join(severe)}")
    if history is None:
        return flags
    if history.cauda_equina_signs:
        flags.append("cauda equina signs: urgent surgical assessment")
    d = history.neurological_deficit
    if d is not None and d.kind == "motor":
        if d.progressive:
            flags.append(f"progressive motor deficit ({d.root or 'root unknown'})")
        elif d.mrc_grade is not None and d.mrc_grade <= MOTOR_SEVERE_MRC:
            flags.append(f"severe motor deficit MRC {d.mrc_grade} ({d.root or 'root unknown'})")
    return flags


def _segment_of(level: str | None) -> list[str]:
    """The motion segments a finding's level touches (a vertebra: both of its segments)."""
    if level is None:
        return []
    if "-" in level:
        upper, lower = parse_segment(level)
        order = ["L1", "L2", "L3", "L4", "L5", "S1"]
        if upper in order and lower in order:
            i, j = order.index(upper), order.index(lower)
            return [f"{order[k]}-{order[k + 1]}" for k in range(i, j)]
        return [level]
    return [s for s in LUMBAR_SEGMENTS if level in s.split("-")]


def indicate(
    findings: Sequence[Finding],
    history: ClinicalHistory | None,
    patient: Patient | None,
    segments: Sequence[str],
    instability_assessed: bool,
    concordance: Concordance | None = None,
    exam: Examination | None = None,
) -> Indication:
    """A recommendation for every segment in ``segments`` (head to pelvis)."""
    crit = block("indication")
    src = source("indication")
    flags = red_flags(history, exam)
    at: dict[str, list[Finding]] = {s: [] for s in segments}
    for f in findings:
        if f.diagnosis in (
            "scoliosis",
            "sagittal_deformity",
            "osteoporosis",
            "osteopenia",
            "vertebral_fracture",  # weighed by the planner for the vertebrae it instruments
        ):
            continue
        for s in _segment_of(f.level):
            if s in at:
                at[s].append(f)
    deformity = [
        f
        for f in findings
        if (f.diagnosis == "scoliosis" and f.curve_type not in (None, "N"))  # a curve ≥ 30°
        or (f.diagnosis == "sagittal_deformity" and "++" in f.modifiers.values())
    ]
    neural = history is not None and (
        history.leg_pain
        or history.radiculopathy is not None
        or history.neurogenic_claudication
        or history.neurological_deficit is not None
        or bool(concordance is not None and concordance.roots)
    )
    cauda = cauda_equina(history, exam)
    # roots compressed centrally: at U-L the traversing root is L
    explained = {
        parse_segment(s)[1]
        for s, fs in at.items()
        if any(f.diagnosis == "central_stenosis" for f in fs)
    }
    ctx = _Context(
        deformity=deformity,
        history=history,
        patient=patient,
        neural=neural,
        flags=flags,
        instability_assessed=instability_assessed,
        crit=crit,
        src=src,
        explained=explained,
        concordance=concordance,
        cauda=cauda,
    )
    recs = [_segment(seg, at[seg], ctx) for seg in segments]
    for r in recs:
        if r.action == "fuse" and not (r.reasons and r.criteria_source):
            raise ParameterError(f"{r.segment}: fusion without a documented reason")
    # the mismatch joins the rationale when there was an examination to match
    shown = concordance if exam is not None else None
    return Indication(recs, flags, _rationale(recs, flags, history, shown))


@dataclass(frozen=True)
class _Context:
    """What every segment's decision shares: the patient, the red flags, the criteria."""

    deformity: list[Finding]
    history: ClinicalHistory | None
    patient: Patient | None
    neural: bool
    flags: list[str]
    instability_assessed: bool
    crit: dict[str, float]
    src: str
    explained: set[str]
    """Roots compressed centrally where they traverse (root L at U-L)."""
    concordance: Concordance | None
    cauda: bool


def _segment(seg: str, here: list[Finding], ctx: _Context) -> SegmentRecommendation:
    """The recommendation at one segment from its findings: what compresses a root there, the
    mechanical reason to fuse, then the clinical gates."""
    dx = {f.diagnosis: f for f in here}
    slip = dx.get("degenerative_spondylolisthesis") or dx.get("isthmic_spondylolisthesis")
    if slip is not None and slip.slip_direction == "posterior":
        slip = None
    unstable = dx.get("instability")
    compressed, notes = _compressions(seg, here, ctx)
    mechanical = _mechanical_reasons(slip, unstable)
    stenosis_text = [
        f"{f.diagnosis.replace('_', ' ')} ({f.grade}) at {f.level}" for f in compressed
    ]

    def rec(
        action: Action, reasons: list[str], source_: str = ctx.src, decompress: bool = False
    ) -> SegmentRecommendation:
        return SegmentRecommendation(
            segment=seg,
            action=action,
            reasons=reasons,
            criteria_source=source_,
            decompress=decompress,
        )

    history = ctx.history
    in_curve = [f for f in ctx.deformity if seg in _segment_of(f.level) or f.level == "L1-S1"]
    if history is None:
        if mechanical or compressed:
            return rec(
                "refer",
                [
                    *mechanical,
                    *stenosis_text,
                    "no clinical history: the indication needs symptoms and the "
                    "conservative care tried",
                ],
            )
        return rec("none", notes or ["no structural finding at this segment"])
    if (history.cauda_equina_signs or ctx.cauda) and compressed:
        return rec(
            "refer",
            [
                "cauda equina signs with canal compromise: urgent decompression assessment",
                *stenosis_text,
            ],
        )
    if in_curve and (mechanical or compressed):
        return rec(
            "refer",
            [
                f"{f.diagnosis.replace('_', ' ')} {f.grade} ({f.level}): plan with "
                "deformity correction, beyond single-segment fusion"
                for f in in_curve
            ]
            + mechanical
            + stenosis_text,
            source("schwab"),
        )
    if not mechanical and not compressed:
        action, reasons = _nothing_to_treat(dx.get("degenerative_disc_disease"), history, ctx)
        return rec(action, reasons or notes or ["no structural finding at this segment"])
    holds = _clinical_holds(history, ctx, bool(mechanical), bool(compressed))
    if holds:
        return rec("none", [*mechanical, *stenosis_text, *holds])
    if mechanical:
        reasons = [*mechanical]
        if compressed:
            reasons.append("decompression of " + "; ".join(stenosis_text))
        if ctx.patient is not None and ctx.patient.smoking == "current":
            return rec(
                "refer",
                [
                    *reasons,
                    "current smoker: fusion criteria require nicotine-free "
                    "status; refer for cessation, then re-assess",
                ],
            )
        if ctx.flags:
            reasons.append("red flag: " + "; ".join(ctx.flags))
        return rec("fuse", reasons + notes, decompress=bool(compressed))
    reasons = [*stenosis_text, "neurogenic symptoms: decompression"]
    if slip is not None:
        reasons.append(
            f"stable {slip.diagnosis.replace('_', ' ')} Meyerding {slip.grade}: decompression "
            "alone (stable DS: 60 % of surgeons decompress alone)"
            + (
                ""
                if ctx.instability_assessed
                else "; no flexion/extension films: obtain them before ruling fusion out"
            )
        )
    return rec("decompress", reasons + notes, decompress=True)


def _compressions(seg: str, here: list[Finding], ctx: _Context) -> tuple[list[Finding], list[str]]:
    """The compressions to decompress at ``seg`` (central stenosis; a herniation or lateral
    recess stenosis the examination supports; foraminal stenosis with its exiting root's
    symptoms not explained centrally), and notes on those left alone."""
    compressed = [f for f in here if f.diagnosis == "central_stenosis"]
    notes: list[str] = []
    supported = ctx.concordance.supported_at(seg) if ctx.concordance is not None else []
    for f in here:
        if f.diagnosis not in ("disc_herniation", "lateral_recess_stenosis"):
            continue
        match = [c for c in supported if c.kind == f.diagnosis and c.side in (f.side, "bilateral")]
        if match:
            compressed.append(
                f.model_copy(
                    update={"evidence": [*f.evidence, "concordant: " + "; ".join(match[0].support)]}
                )
            )
        else:
            notes.append(
                f"{f.diagnosis.replace('_', ' ')} ({f.grade}) at {seg} is not supported by the "
                "examination: not decompressed on imaging alone"
            )
    foraminal = next((f for f in here if f.diagnosis == "foraminal_stenosis"), None)
    history = ctx.history
    if foraminal is not None and history is not None:
        # the foramen of U-L lets out root U: decompress it only for that root's symptoms
        exiting = parse_segment(seg)[0]
        roots = {history.radiculopathy.root if history.radiculopathy else None}
        roots.add(history.neurological_deficit.root if history.neurological_deficit else None)
        if ctx.concordance is not None:
            roots.update(r.root for r in ctx.concordance.roots)
        if exiting in roots and exiting in ctx.explained:
            notes.append(
                f"foraminal stenosis at {seg} reported, not decompressed on its own: the "
                f"{exiting} symptoms are explained by central stenosis where {exiting} traverses"
            )
        elif exiting in roots:
            compressed.append(
                foraminal.model_copy(
                    update={"evidence": [*foraminal.evidence, f"concordant {exiting} symptoms"]}
                )
            )
    return compressed, notes


def _mechanical_reasons(slip: Finding | None, unstable: Finding | None) -> list[str]:
    """The mechanical reasons to fuse: a slip with instability, Meyerding ≥ II, an isthmic
    slip, or instability alone."""
    mechanical: list[str] = []
    if slip is not None and unstable is not None:
        mechanical.append(
            f"{slip.diagnosis.replace('_', ' ')} Meyerding {slip.grade} with {unstable.grade} "
            f"instability ({'; '.join(unstable.evidence)})"
        )
    if slip is not None and (slip.meyerding or 1) >= 2:
        mechanical.append(f"spondylolisthesis Meyerding {slip.grade} (≥ II)")
    if slip is not None and slip.diagnosis == "isthmic_spondylolisthesis" and not mechanical:
        mechanical.append(f"isthmic spondylolisthesis Meyerding {slip.grade}")
    if unstable is not None and slip is None:
        mechanical.append(f"{unstable.grade} instability ({'; '.join(unstable.evidence)})")
    return mechanical


def _nothing_to_treat(
    ddd: Finding | None, history: ClinicalHistory, ctx: _Context
) -> tuple[Action, list[str]]:
    """No mechanical reason and no compression: degenerative disc disease is referred for
    discogenic evaluation after the longer conservative course, else no surgery (no reasons:
    the caller states there is no structural finding)."""
    if ddd is None:
        return "none", []
    months = history.conservative_care_months
    modalities = len(history.conservative_care)
    if (
        history.back_pain
        and months >= ctx.crit["discogenic_min_months"]
        and modalities >= ctx.crit["discogenic_min_modalities"]
    ):
        return "refer", [
            f"degenerative disc disease ({ddd.grade}) with back pain "
            f"after {months:g} months and {modalities} modalities: "
            "evaluate for discogenic pain; fusion not indicated by "
            "imaging alone"
        ]
    return "none", [
        f"degenerative disc disease ({ddd.grade}) without instability: fusion not indicated"
    ]


def _clinical_holds(
    history: ClinicalHistory, ctx: _Context, mechanical: bool, compressed: bool
) -> list[str]:
    """What holds a treatable segment back: conservative care too short or symptoms mild
    (both waived by a red flag), or no symptoms to attribute to it."""
    holds: list[str] = []
    waived = bool(ctx.flags)
    months = history.conservative_care_months
    crit = ctx.crit
    if not waived and months < crit["conservative_care_min_months"]:
        holds.append(
            f"conservative care {months:g} months < {crit['conservative_care_min_months']:g}"
            " months: continue non-operative care first"
        )
    worst = max(history.back_pain_nrs, history.leg_pain_nrs)
    if not waived and 0 < worst < crit["pain_nrs_min"]:
        holds.append(f"pain NRS {worst:g} < {crit['pain_nrs_min']:g}: symptoms mild")
    if mechanical and not history.back_pain and not ctx.neural:
        holds.append("no back or leg symptoms to attribute to the segment")
    if compressed and not mechanical and not ctx.neural:
        holds.append(
            "stenosis without leg pain, claudication or deficit: decompression not indicated"
        )
    return holds


def _rationale(
    recs: list[SegmentRecommendation],
    flags: list[str],
    history: ClinicalHistory | None,
    concordance: Concordance | None = None,
) -> str:
    parts = []
    if flags:
        parts.append("Red flags: " + "; ".join(flags) + ".")
    if concordance is not None and concordance.flags:
        parts.append("Imaging and examination do not match: " + "; ".join(concordance.flags) + ".")
    for action, words in (
        ("fuse", "Fusion indicated at"),
        ("decompress", "Decompression alone at"),
        ("refer", "Referral for"),
    ):
        segs = [r.segment for r in recs if r.action == action]
        if segs:
            first = next(r for r in recs if r.action == action)
            parts.append(f"{words} {', '.join(segs)}: {first.reasons[0]}.")
    if not any(r.action in ("fuse", "decompress", "refer") for r in recs):
        parts.append("No surgery indicated by the imaging findings and history.")
    if history is None:
        parts.append(
            "No clinical history was given; the imaging findings alone do not make an indication."
        )
    return " ".join(parts)
