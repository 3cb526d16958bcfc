"""Plan versions and the plan editor: evaluate an edited plan (screws checked on the images,
mechanics re-run), plan again with forced choices, keep a version, compare two."""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from spinefuse.mechanics.result import MechanicsResult
from spinefuse.plan.surgical_plan import SurgicalPlan
from spinefuse.service.api.access import MAX_ID, Id, audit, case_of, workstation
from spinefuse.service.auth import Principal, db_session, require
from spinefuse.service.store.models import PlanVersion
from spinefuse.service.workstation import (
    MechanicsSummary,
    PlanChoices,
    WorkstationError,
    add_plan_version,
    mechanics_summary,
)

router = APIRouter(tags=["plans"])


class Evaluation(BaseModel):
    """A plan as the editor shows it: the plan with every screw checked, its mechanics, the
    summary of fused and adjacent levels, and the server's time for it."""

    plan: SurgicalPlan
    mechanics: MechanicsResult
    summary: MechanicsSummary
    run: int = Field(description="the run whose geometry and images it was checked on")
    server_ms: float


class PlanEdit(BaseModel):
    plan: SurgicalPlan


class PlanVersionIn(BaseModel):
    plan: SurgicalPlan
    parent_version: int | None = Field(None, ge=1)
    note: str = Field("", max_length=2000)


class PlanVersionOut(BaseModel):
    version: int
    parent_version: int | None
    source: str
    note: str
    plan: SurgicalPlan
    mechanics: MechanicsResult | None
    summary: MechanicsSummary | None
    created_at: str


def _pv_out(s: Session, pv: PlanVersion) -> PlanVersionOut:
    plan = SurgicalPlan.model_validate_json(pv.plan)
    mech = MechanicsResult.model_validate_json(pv.mechanics) if pv.mechanics else None
    parent = s.get(PlanVersion, pv.parent_id) if pv.parent_id else None
    return PlanVersionOut(
        version=pv.version,
        parent_version=parent.version if parent else None,
        source=pv.source,
        note=pv.note,
        plan=plan,
        mechanics=mech,
        summary=mechanics_summary(plan, mech) if mech else None,
        created_at=pv.created_at.isoformat(),
    )


def _version(s: Session, case_pk: int, version: int) -> PlanVersion:
    pv = s.scalar(
        select(PlanVersion).where(PlanVersion.case_pk == case_pk, PlanVersion.version == version)
    )
    if pv is None:
        raise HTTPException(404, f"case {case_pk} has no plan version {version}")
    return pv


def _evaluate(ws: Any, s: Session, case_pk: Id, plan: SurgicalPlan, regrade: bool) -> Evaluation:
    t0 = time.perf_counter()
    try:
        ctx = ws.workbench.context(s, case_pk)
        graded = ws.workbench.regrade(ctx, plan) if regrade else plan
        mech = ws.workbench.simulate(ctx, graded)
    except WorkstationError as err:
        raise HTTPException(409, str(err)) from None
    return Evaluation(
        plan=graded,
        mechanics=mech,
        summary=mechanics_summary(graded, mech),
        run=ctx.run_id,
        server_ms=round((time.perf_counter() - t0) * 1000, 1),
    )


@router.post("/cases/{case_pk}/plans/evaluate", response_model=Evaluation)
def evaluate(
    case_pk: Id,
    body: PlanEdit,
    p: Principal = Depends(require("read")),
    s: Session = Depends(db_session, scope="function"),
    ws: Any = Depends(workstation),
) -> Evaluation:
    """Check an edited plan: each screw as placed (breach, bone purchase, angles), the rods
    through the screw heads, then the mechanics (hybrid protocol) — nothing is kept."""
    case_of(s, p, case_pk)
    return _evaluate(ws, s, case_pk, body.plan, regrade=True)


@router.post("/cases/{case_pk}/plans/replan", response_model=Evaluation)
def replan(
    case_pk: Id,
    body: PlanChoices,
    p: Principal = Depends(require("read")),
    s: Session = Depends(db_session, scope="function"),
    ws: Any = Depends(workstation),
) -> Evaluation:
    """Plan again with the surgeon's choices forced (levels, technique, approach, graft, rod),
    then the mechanics — nothing is kept."""
    case_of(s, p, case_pk)
    try:
        ctx = ws.workbench.context(s, case_pk)
        plan = ws.workbench.replan(ctx, body)
    except WorkstationError as err:
        raise HTTPException(409, str(err)) from None
    return _evaluate(ws, s, case_pk, plan, regrade=False)


@router.get("/cases/{case_pk}/plans", response_model=list[PlanVersionOut])
def list_plans(
    case_pk: Id,
    p: Principal = Depends(require("read")),
    s: Session = Depends(db_session, scope="function"),
) -> list[PlanVersionOut]:
    """Every plan version of the case, oldest first."""
    case_of(s, p, case_pk)
    rows = s.scalars(
        select(PlanVersion).where(PlanVersion.case_pk == case_pk).order_by(PlanVersion.version)
    )
    return [_pv_out(s, pv) for pv in rows]


@router.get("/cases/{case_pk}/plans/compare")
def compare(
    case_pk: Id,
    a: int = Query(ge=1, le=MAX_ID),
    b: int = Query(ge=1, le=MAX_ID),
    p: Principal = Depends(require("read")),
    s: Session = Depends(db_session, scope="function"),
) -> dict[str, Any]:
    """Two plan versions side by side: what differs (levels, technique, each screw's size and
    breach, rods, cages) and their mechanics summaries."""
    case_of(s, p, case_pk)
    va, vb = _pv_out(s, _version(s, case_pk, a)), _pv_out(s, _version(s, case_pk, b))
    return {
        "a": va.model_dump(mode="json", exclude={"mechanics"}),
        "b": vb.model_dump(mode="json", exclude={"mechanics"}),
        "differences": plan_differences(va.plan, vb.plan),
    }


def plan_differences(a: SurgicalPlan, b: SurgicalPlan) -> list[dict[str, Any]]:
    """The fields that differ between two plans, screw by screw (vertebra and side)."""
    out: list[dict[str, Any]] = []
    for f in ("fuse_segments", "technique", "approach"):
        if getattr(a, f) != getattr(b, f):
            out.append({"what": f, "a": getattr(a, f), "b": getattr(b, f)})
    sa = {(x.vertebra, x.side): x for x in a.screws}
    sb = {(x.vertebra, x.side): x for x in b.screws}
    for key in sorted(set(sa) | set(sb)):
        x, y = sa.get(key), sb.get(key)
        name = f"screw {key[0]} {key[1]}"
        if x is None or y is None:
            out.append({"what": name, "a": x is not None, "b": y is not None})
            continue
        for f in (
            "diameter_mm",
            "length_mm",
            "breach",
            "breach_mm",
            "medial_angle_deg",
            "cranial_angle_deg",
            "entry_point",
        ):
            if getattr(x, f) != getattr(y, f):
                out.append({"what": f"{name} {f}", "a": getattr(x, f), "b": getattr(y, f)})
    ga = a.graft.material if a.graft else None
    gb = b.graft.material if b.graft else None
    if ga != gb:
        out.append({"what": "graft", "a": ga, "b": gb})
    ra = [(r.side, r.material, r.diameter_mm, r.length_mm) for r in a.rods]
    rb = [(r.side, r.material, r.diameter_mm, r.length_mm) for r in b.rods]
    if ra != rb:
        out.append({"what": "rods", "a": ra, "b": rb})
    ca = [(c.segment, c.width_mm, c.depth_mm, c.height_mm, c.lordosis_deg) for c in a.cages]
    cb = [(c.segment, c.width_mm, c.depth_mm, c.height_mm, c.lordosis_deg) for c in b.cages]
    if ca != cb:
        out.append({"what": "cages", "a": ca, "b": cb})
    return out


@router.get("/cases/{case_pk}/plans/{version}", response_model=PlanVersionOut)
def get_plan(
    case_pk: Id,
    version: Id,
    p: Principal = Depends(require("read")),
    s: Session = Depends(db_session, scope="function"),
) -> PlanVersionOut:
    """One plan version."""
    case_of(s, p, case_pk)
    return _pv_out(s, _version(s, case_pk, version))


@router.post("/cases/{case_pk}/plans", response_model=PlanVersionOut, status_code=201)
def save_plan(
    case_pk: Id,
    body: PlanVersionIn,
    p: Principal = Depends(require("plan")),
    s: Session = Depends(db_session, scope="function"),
    ws: Any = Depends(workstation),
) -> PlanVersionOut:
    """Keep an edited plan as the case's next version (checked and simulated as in evaluate);
    earlier versions stay as they were."""
    case_of(s, p, case_pk)
    parent = _version(s, case_pk, body.parent_version) if body.parent_version else None
    ev = _evaluate(ws, s, case_pk, body.plan, regrade=True)
    pv = add_plan_version(
        s,
        case_pk,
        ev.plan,
        "surgeon",
        p.user_id,
        parent.id if parent else None,
        ev.mechanics,
        body.note,
    )
    audit(s, p, "plan_saved", f"case:{case_pk}", version=pv.version)
    return _pv_out(s, pv)


__all__ = ["router", "json"]
