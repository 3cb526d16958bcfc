"""Decompression per segment, each tied to the findings it treats.

Central stenosis gets a laminectomy (a midline-sparing bilateral hemilaminectomy where the
segment is not fused, so the decompression does not destabilise it); foraminal stenosis a
foraminotomy on the symptomatic side, or the facetectomy a TLIF makes anyway on that side; an
isthmic slip the removal of the loose lamina (Gill laminectomy). Interbody techniques add the
discectomy that prepares the endplates, and TLIF/PLIF the facetectomy that opens the way to the
disc. ALIF and LLIF decompress indirectly by restoring disc height, unless stenosis is severe.
"""

from __future__ import annotations

from typing import Literal

from spinefuse.assess.assessment import Assessment, Finding
from spinefuse.case import Case
from spinefuse.plan.surgical_plan import Decompression, DecompressionKind, Technique
from spinefuse.plan.technique import segment_findings, severe

SideOrBoth = Literal["left", "right", "bilateral"]


def _describe(f: Finding, segment: str) -> str:
    return f"{f.diagnosis} {segment}" + (f" ({f.grade})" if f.grade else "")


def _side(f: Finding, case: Case) -> SideOrBoth:
    """The finding's side when it has one side, else that of the patient's radiculopathy,
    else both."""
    if f.side in ("left", "right"):
        return f.side
    rad = case.history.radiculopathy
    return rad.side if rad is not None else "bilateral"


def plan_decompressions(
    case: Case,
    assessment: Assessment,
    fused: list[str],
    technique: Technique,
    decompress_only: list[str] | None = None,
) -> list[Decompression]:
    """The decompressions of the fused segments and of those decompressed without fusion."""
    out: list[Decompression] = []
    extra = [s for s in (decompress_only or []) if s not in fused]
    for segment in [*fused, *extra]:
        is_fused = segment in fused
        found = segment_findings(assessment, segment)
        items: dict[tuple[DecompressionKind, SideOrBoth], list[str]] = {}

        def add(
            kind: DecompressionKind,
            side: SideOrBoth,
            why: str,
            items: dict[tuple[DecompressionKind, SideOrBoth], list[str]] = items,
        ) -> None:
            items.setdefault((kind, side), []).append(why)

        indirect = is_fused and technique in ("ALIF", "LLIF")
        tlif_side: SideOrBoth = "left"
        for f in found:
            if f.diagnosis == "foraminal_stenosis":
                s = _side(f, case)
                tlif_side = "left" if s == "bilateral" else s
        for f in found:
            why = _describe(f, segment)
            if f.diagnosis == "central_stenosis":
                if indirect and not severe(f):
                    continue  # indirect decompression by restoring disc height
                kind: DecompressionKind = "laminectomy" if is_fused else "hemilaminectomy"
                add(kind, "bilateral", why)
            elif f.diagnosis == "foraminal_stenosis":
                side = _side(f, case)
                if indirect and not severe(f):
                    continue
                if is_fused and technique == "TLIF" and side in (tlif_side, "bilateral"):
                    add("facetectomy_unilateral", tlif_side, why)
                    if side == "bilateral":
                        other: SideOrBoth = "right" if tlif_side == "left" else "left"
                        add("foraminotomy", other, why)
                elif is_fused and technique == "PLIF":
                    add("facetectomy_bilateral", "bilateral", why)
                else:
                    add("foraminotomy", side, why)
            elif f.diagnosis == "isthmic_spondylolisthesis" and is_fused and not indirect:
                add("laminectomy", "bilateral", why + ": loose posterior arch (Gill)")
            if f.osteophyte and not indirect:
                add("osteophyte_removal", _side(f, case), why)
        if is_fused:
            access = f"interbody access ({technique})"
            if technique == "TLIF":
                add("facetectomy_unilateral", tlif_side, access)
            elif technique == "PLIF":
                add("facetectomy_bilateral", "bilateral", access)
            if technique != "PLF":
                add("discectomy", "bilateral", f"endplate preparation ({technique})")
        # a laminectomy includes the hemilaminectomy; a bilateral facetectomy the unilateral one
        if ("laminectomy", "bilateral") in items:
            items.pop(("hemilaminectomy", "bilateral"), None)
        if ("facetectomy_bilateral", "bilateral") in items:
            for s in ("left", "right"):
                items["facetectomy_bilateral", "bilateral"] += items.pop(
                    ("facetectomy_unilateral", s), []
                )
        for (kind, side), treats in items.items():
            out.append(
                Decompression(
                    segment=segment, kind=kind, side=side, treats=list(dict.fromkeys(treats))
                )
            )
    return out
