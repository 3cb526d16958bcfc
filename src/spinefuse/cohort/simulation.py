"""One cohort batch: the batch's virtual patients, with the arm's forced choices applied.

Every batch draws only its own rows of the population (the blocks they lie in, each from the
spec's seed and the block's index), so a patient is the same person whatever the batch size, the
executor or the order batches finish in; that is what makes a resumed or distributed run
identical to an uninterrupted local one.

Each virtual patient goes through the stages a real one does, with the same per-patient
functions: the healing stage's ``biology_row`` and ``heal_batch`` (members from the spec's seed
and the patient's case id, on the healing grid) and the outcome stage's ``patient_row`` and
``forecast_batch`` (with the healing stage's non-union), so a one-patient cohort gives the
numbers ``heal`` and ``forecast`` give that patient.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from spinefuse.anatomy.template import VirtualPatientSpec, virtual_spine
from spinefuse.assess.criteria import block
from spinefuse.case import Case, ClinicalHistory, Patient, PriorSurgery
from spinefuse.cohort.population import fused_segments, sample_population
from spinefuse.cohort.runner import Batch
from spinefuse.cohort.spec import Arm, CohortSpec
from spinefuse.errors import ParameterError


@lru_cache(maxsize=4)
def _spec(spec_json: str) -> CohortSpec:
    return CohortSpec.model_validate_json(spec_json)


def arm_of(spec: CohortSpec, name: str) -> Arm:
    """The arm called ``name``."""
    return next(a for a in spec.arms if a.name == name)


def batch_patients(batch: Batch) -> pd.DataFrame:
    """The patients of ``batch`` (one row each) as they enter its arm."""
    spec = _spec(batch.spec_json)
    arm = arm_of(spec, batch.arm)
    rows = sample_population(spec.population, batch.stop - batch.start, spec.seed, batch.start)
    if arm.smoking is not None:
        rows["smoking"] = arm.smoking
    rows.insert(0, "arm", arm.name)
    return rows.reset_index(drop=True)


# --- the virtual patient through every stage ----------------------------------------------------
INDEX_LEVEL = "L4-L5"
"""The index segment of the virtual population (degenerative spondylolisthesis and disc disease
are commonest at L4-L5); more levels add L5-S1, then L3-L4, then L2-L3."""


def virtual_spec(row: Any, seed: int) -> VirtualPatientSpec:
    """The spine of a population row: its stature, pelvis, bone density and pathology."""
    slipped = row.diagnosis in ("degenerative_spondylolisthesis", "isthmic_spondylolisthesis")
    stenotic = bool(row.stenosis)
    return VirtualPatientSpec(
        sex=row.sex,
        height_cm=float(np.clip(row.height_cm, 130.0, 215.0)),
        pelvic_incidence_deg=float(np.clip(row.pelvic_incidence_deg, 25.0, 85.0)),
        lumbar_lordosis_deg=float(np.clip(row.lumbar_lordosis_deg, 15.0, 75.0)),
        trabecular_hu=float(np.clip(row.trabecular_hu, 20.0, 400.0)),
        slip_percent={INDEX_LEVEL: float(row.slip_percent)} if slipped else {},
        disc_height_loss={INDEX_LEVEL: 0.3 if slipped else 0.5},
        stenosis_csa_mm2={INDEX_LEVEL: 85.0} if stenotic else {},
        scoliosis_cobb_deg=15.0 if row.diagnosis == "deformity" else 0.0,
        seed=seed * 1_000_003 + int(row.patient),
    )


def case_id(row: Any) -> str:
    """The case id of a population row (the same in every arm: the patient's random stream)."""
    return f"virtual-{int(row.patient)}"


def virtual_case(row: Any) -> Case:
    """The case record of a population row: a fusion candidate after failed conservative care,
    with the row's ASA class, prior surgery, symptoms and baseline scores."""
    stenotic = bool(row.stenosis)
    leg = float(np.clip(row.leg_pain_nrs, 0.0, 10.0))
    prior = (
        [PriorSurgery(procedure="laminectomy", segments=[INDEX_LEVEL])]
        if bool(row.revision)
        else []
    )
    return Case(
        id=case_id(row),
        patient=Patient(
            age_years=float(np.clip(row.age_years, 18.0, 110.0)),
            sex=row.sex,
            height_cm=float(row.height_cm),
            weight_kg=float(row.weight_kg),
            smoking=row.smoking,
            diabetes=row.diabetes,
            # the CT threshold of osteoporosis (Pickhardt 2013; data/assessment_criteria.yaml)
            osteoporosis=bool(row.trabecular_hu < block("bone_density")["osteoporosis_hu"]),
            asa_class=int(row.asa_class),
            depression=bool(row.depression),
            preop_opioid_use=bool(row.preop_opioid_use),
            workers_compensation=bool(row.workers_compensation),
            prior_lumbar_surgery=prior,
        ),
        history=ClinicalHistory(
            back_pain=True,
            back_pain_nrs=float(np.clip(row.back_pain_nrs, 0.0, 10.0)),
            leg_pain=leg > 0,
            leg_pain_nrs=leg,
            neurogenic_claudication=stenotic,
            symptom_duration_months=18.0,
            conservative_care=["physiotherapy", "nsaids"],
            conservative_care_months=9.0,
            odi=float(np.clip(row.baseline_odi, 0.0, 100.0)),
        ),
    )


def arm_segments(arm: Arm, row: Any) -> list[str]:
    """The segments the arm fuses for this patient: the arm's levels, else the patient's."""
    return fused_segments(int(arm.levels or row.levels))


def simulate_batch(batch: Batch) -> pd.DataFrame:
    """Every patient of ``batch`` through template → assessment → plan (the arm's choices
    forced) → mechanics → healing → forecast; one row per patient with inputs and outcomes."""
    from spinefuse.assess import assess_case
    from spinefuse.healing import FUSION_GRID, heal_batch, load_parameters
    from spinefuse.healing.biology import biology_row
    from spinefuse.mechanics import FUSION_LOAD_CASES, fused_segment_response
    from spinefuse.outcomes import forecast_batch
    from spinefuse.outcomes.forecast import patient_row
    from spinefuse.plan import plan_surgery

    spec = _spec(batch.spec_json)
    arm = arm_of(spec, batch.arm)
    rows = batch_patients(batch)
    params = load_parameters()
    geometries, plans, cases = [], [], []
    for row in rows.itertuples(index=False):
        geometry = virtual_spine(virtual_spec(row, spec.seed))
        case = virtual_case(row)
        plan = plan_surgery(
            case,
            geometry,
            assess_case(case, geometry),
            technique=arm.technique,
            approach=arm.approach,
            graft=arm.graft,
            rod_material=arm.rod_material,
            rod_diameter_mm=arm.rod_diameter_mm,
            levels=arm_segments(arm, row),
        )
        if plan is None:  # cannot happen with forced levels; a plan is the trial's treatment
            raise ParameterError(
                f"patient {row.patient}: the planner made no plan in arm {arm.name}"
            )
        geometries.append(geometry)
        plans.append(plan)
        cases.append(case)
    response = fused_segment_response(geometries, plans, FUSION_GRID)
    biology = pd.concat(
        [biology_row(c, g, p, params) for c, g, p in zip(cases, geometries, plans, strict=True)],
        ignore_index=True,
    )
    healed = heal_batch(biology, response, seed=spec.seed, params=params)
    table = pd.DataFrame(
        [
            patient_row(c, p, float(nu), str(d))[0]
            for c, p, nu, d in zip(
                cases, plans, healed["nonunion_probability"], rows["diagnosis"], strict=True
            )
        ]
    )
    forecast = forecast_batch(table)
    out = rows.copy()
    out["technique"] = [p.technique for p in plans]
    out["approach"] = [p.approach for p in plans]
    out["graft"] = biology["graft"].to_numpy()
    out["local_bone_share"] = biology["local_bone_share"].to_numpy()
    out["levels"] = [len(p.fuse_segments) for p in plans]
    out["interbody"] = [p.interbody for p in plans]
    out["rod_material"] = biology["rod_material"].to_numpy()
    out["nsaids"] = biology["nsaids"].to_numpy()
    flex = FUSION_LOAD_CASES.index("flexion")
    stand = FUSION_LOAD_CASES.index("standing")
    out["rod_stress_flexion_mpa"] = response.rod_stress_mpa[:, 0, flex]
    out["cage_pressure_standing_mpa"] = response.cage_pressure_mpa[:, 0, stand]
    out["graft_strain_flexion"] = response.graft_strain[:, 0, flex]
    out = pd.concat([out, healed.reset_index(drop=True)], axis=1)
    return pd.concat([out, forecast.drop(columns=["nonunion"]).reset_index(drop=True)], axis=1)
