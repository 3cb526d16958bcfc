"""Imaging matched to the examination: which root each compression affects, which roots the
examination and history point at, and whether each explains the other.

Root rules, myotomes, dermatomes, reflexes and tension signs: ``data/nerve_roots.yaml``. At
segment U-L a central or subarticular compression (and central or lateral-recess stenosis) affects
the traversing root L, a foraminal or extraforaminal one (and foraminal stenosis) the exiting root
U. A symptomatic root is explained when a compression affects it on its side; a compression is
supported when a symptomatic root it affects is on its side, a tension sign on that side stretches
that root (where no deficit on that side points at a root), or (central stenosis) the patient has
neurogenic claudication.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from spinefuse.assess.assessment import (
    Compression,
    CompressionKind,
    Concordance,
    Finding,
    FindingSide,
    Root,
    RootSide,
    SymptomaticRoot,
    Zone,
)
from spinefuse.case import ClinicalHistory, Examination
from spinefuse.conventions import parse_segment
from spinefuse.datafiles import load_yaml

ROOTS: tuple[Root, ...] = ("L1", "L2", "L3", "L4", "L5", "S1")
SIDES3: tuple[FindingSide, ...] = ("left", "right", "bilateral")
DEFAULT_ZONE: dict[str, Zone] = {
    "central_stenosis": "central",
    "lateral_recess_stenosis": "subarticular",
    "foraminal_stenosis": "foraminal",
}
COMPRESSIVE = (
    "disc_herniation",
    "central_stenosis",
    "lateral_recess_stenosis",
    "foraminal_stenosis",
)


def _rules() -> dict[str, Any]:
    data: dict[str, Any] = load_yaml("nerve_roots.yaml")
    return data


def source() -> str:
    """The citations of the root rules and examination map."""
    r = _rules()
    return "; ".join(
        str(r[k]["source"])
        for k in ("root_rules", "myotomes", "dermatomes", "reflexes", "tension_signs")
    )


def _root(name: str) -> Root | None:
    name = name.upper()
    return next((r for r in ROOTS if r == name), None)


def affected_roots(
    kind: CompressionKind, segment: str, zone: str | None, side: FindingSide
) -> list[RootSide]:
    """The roots a compression at ``segment`` affects (the root rules)."""
    rules = _rules()["root_rules"]
    upper, lower = parse_segment(segment)
    if kind == "disc_herniation":
        which = "exiting" if zone in rules["exiting_zones"] else "traversing"
    else:
        which = rules.get(kind, "traversing")
    root = _root(upper if which == "exiting" else lower)
    if root is None:
        return []
    return [RootSide(root=root, side=side)]


def compressions(
    findings: Sequence[Finding], graded_foramina: dict[str, int] | None = None
) -> list[Compression]:
    """Every compression among the findings, with the roots it affects. A CT foraminal finding
    at a level whose foramina the MR graded below a compression (``graded_foramina``: the
    highest Lee grade per level) is none: the MR sees the root's fat."""
    need = _rules()["compression"]["foraminal_lee_min_grade"]
    graded = graded_foramina or {}
    out: list[Compression] = []
    seen: set[tuple[str, str, str | None, str]] = set()
    for f in findings:
        if f.level is None or "-" not in f.level:
            continue
        if f.diagnosis not in COMPRESSIVE:
            continue
        if (
            f.diagnosis == "foraminal_stenosis"
            and f.zone is None
            and graded.get(f.level, need) < need
        ):
            continue
        kind: CompressionKind = f.diagnosis  # type: ignore[assignment]
        # a CT foraminal finding names its side as its grade; central stenosis is bilateral
        named = next((s for s in SIDES3 if f.grade == s), None)
        side: FindingSide = f.side or named or "bilateral"
        zone = f.zone or DEFAULT_ZONE.get(kind)
        key = (kind, f.level, zone, side)
        if key in seen:
            continue
        seen.add(key)
        out.append(
            Compression(
                kind=kind,
                level=f.level,
                zone=zone,
                side=side,
                grade=f.grade,
                roots=affected_roots(kind, f.level, zone, side),
            )
        )
    return out


def _add(
    roots: dict[tuple[str, str], list[str]], root: str | None, side: str | None, sign: str
) -> None:
    r = _root(root or "")
    if r is None:
        return
    roots.setdefault((r, side or "bilateral"), []).append(sign)


def symptomatic_roots(
    exam: Examination | None, history: ClinicalHistory | None
) -> list[SymptomaticRoot]:
    """The roots the examination (weakness, sensory loss, a reduced reflex) and the history
    (radiculopathy, a deficit) point at, each with its signs."""
    rules = _rules()
    signs: dict[tuple[str, str], list[str]] = {}
    if exam is not None:
        normal = rules["myotomes"]["normal_mrc"]
        for side, grades in exam.motor.items():
            for root, mrc in grades.items():
                if mrc < normal:
                    movement = rules["myotomes"]["values"][root]
                    _add(signs, root, side, f"{movement} MRC {mrc}/5 ({side})")
        for sside, dermatomes in exam.sensory_loss.items():
            for droot in dermatomes:
                area = rules["dermatomes"]["values"][droot]
                _add(signs, droot, sside, f"{droot} sensory loss, {area} ({sside})")
        for reflex, sides in exam.reflexes.items():
            for rside, rgrade in sides.items():
                if rgrade in ("absent", "reduced"):
                    text = f"{reflex} reflex {rgrade} ({rside})"
                    _add(signs, rules["reflexes"]["values"][reflex], rside, text)
    if history is not None:
        if history.radiculopathy is not None:
            r = history.radiculopathy
            _add(signs, r.root, r.side, f"{r.root} radicular leg pain ({r.side}, history)")
        d = history.neurological_deficit
        if d is not None and d.root is not None:
            dside = exam.side if exam is not None and exam.side else "bilateral"
            mrc_text = f" MRC {d.mrc_grade}" if d.mrc_grade is not None else ""
            _add(signs, d.root, dside, f"{d.kind} deficit {d.root}{mrc_text} (history)")
    rank: dict[str, int] = {r: k for k, r in enumerate(ROOTS)}
    ordered = sorted(signs.items(), key=lambda kv: (rank[kv[0][0]], kv[0][1]))
    return [
        SymptomaticRoot.model_validate({"root": r, "side": s, "signs": v}) for (r, s), v in ordered
    ]


def _sides_meet(a: str, b: str) -> bool:
    return a == b or "bilateral" in (a, b)


def concordance(
    findings: Sequence[Finding],
    exam: Examination | None,
    history: ClinicalHistory | None,
    graded_foramina: dict[str, int] | None = None,
) -> Concordance | None:
    """The match of imaging and examination; None when there is neither a compression nor a
    symptomatic root to match."""
    comps = compressions(findings, graded_foramina)
    roots = symptomatic_roots(exam, history)
    if not comps and not roots:
        return None
    tension = _rules()["tension_signs"]["values"]
    claudication = history is not None and history.neurogenic_claudication
    supported: list[Compression] = []
    for c in comps:
        support: list[str] = []
        for rs in c.roots:
            for sr in roots:
                if sr.root == rs.root and _sides_meet(sr.side, rs.side):
                    support += sr.signs
            # a tension sign supports a root it stretches only on a side where no deficit points
            # at a root of its own (it is positive in an L5 and an S1 radiculopathy alike)
            if exam is not None and not any(
                _sides_meet(sr.side, rs.side) and any("history" not in g for g in sr.signs)
                for sr in roots
            ):
                for sign, results in (
                    ("straight_leg_raise", exam.straight_leg_raise),
                    ("femoral_stretch", exam.femoral_stretch),
                ):
                    covered = tension[sign]
                    for side, result in results.items():
                        if (
                            result == "positive"
                            and rs.root in covered
                            and _sides_meet(side, rs.side)
                        ):
                            support.append(f"{sign.replace('_', ' ')} positive ({side})")
        if c.kind == "central_stenosis" and claudication:
            support.append("neurogenic claudication (history)")
        supported.append(
            c.model_copy(update={"support": sorted(set(support)), "supported": bool(support)})
        )
    explained: list[SymptomaticRoot] = []
    for sr in roots:
        by = []
        covered_sides: set[str] = set()
        for c in supported:
            for rs in c.roots:
                if rs.root == sr.root and _sides_meet(sr.side, rs.side):
                    where = " ".join(x for x in (c.zone, c.side) if x)
                    by.append(f"{c.kind.replace('_', ' ')} {c.level} ({where}; {c.grade})")
                    covered_sides.update(
                        ("left", "right") if rs.side == "bilateral" else (rs.side,)
                    )
        ok = bool(by) and (sr.side != "bilateral" or covered_sides >= {"left", "right"})
        explained.append(sr.model_copy(update={"explained": ok, "explained_by": by}))
    flags = []
    for sr in explained:
        if not sr.explained:
            flags.append(
                f"{sr.root} deficit ({sr.side}: {'; '.join(sr.signs)}) is not explained by a "
                "compression on the imaging: consider another level, a far-lateral or higher "
                "lesion, or a peripheral cause before operating for it"
            )
    for c in supported:
        if not c.supported:
            roots_text = ", ".join(f"{r.root} {r.side}" for r in c.roots)
            flags.append(
                f"{c.kind.replace('_', ' ')} at {c.level} ({c.grade}) compresses {roots_text}, "
                "but the examination does not point at that root: not an indication on imaging "
                "alone"
            )
    return Concordance(roots=explained, compressions=supported, flags=flags, source=source())
