"""A run folder as a FHIR R4 transaction Bundle (fhir.resources models, validated).

Patient (pseudonymous: the case ID, sex; no name, no birth date), a Condition per finding
(SNOMED CT, the level as body site), an Observation per measurement (its code, UCUM unit, the
level as body site, the normal range), the planned fusion and each decompression as Procedures
(status "preparation": approach, levels, devices), a Device per implant (sizes, material), a
RiskAssessment per forecast complication (probability, 95 % interval, horizon), the recovery
pathway as a CarePlan, and the surgeon's report PDF in a DiagnosticReport. Every resource
references the Patient; references inside the Bundle are ``urn:uuid:`` full URLs derived from the
case ID, so the same run gives the same Bundle.

The models are FHIR R4B (4.3.0) as fhir.resources ships them: R4B changed only the medication
definition, evidence and subscription resources, and "implementers that do not use the specific
portions where changes have been made can continue to use either R4 or R4B without any functional
difference" (HL7, FHIR R4B explanation, hl7.org/fhir/R4B/r4b-explanation.html); none of the
resources here is among them, so the Bundle is valid R4.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from pathlib import Path
from typing import Any

from spinefuse.errors import SpinefuseError
from spinefuse.interop import codes
from spinefuse.interop.extra import require
from spinefuse.pipeline import CaseResult
from spinefuse.plan.catalogue import load_catalogue
from spinefuse.records import write_atomic
from spinefuse.run_folder import load_run

r4b = require("fhir.resources.R4B")
requests = require("requests")

NAMESPACE = uuid.UUID("5b1e0d52-2f7e-4d3c-9a55-7a3c1e0f9d11")
"""Namespace of the resources' UUIDs (uuid5 of the case ID and the resource's key)."""
CASE_SYSTEM = "urn:spinefuse:case"
EXTENSION = "urn:spinefuse:fhir:StructureDefinition:"
TERMINOLOGY = "http://terminology.hl7.org/CodeSystem/"
HORIZON = re.compile(r"(\d+(?:\.\d+)?)\s*(day|week|month|year)s?", re.IGNORECASE)
UCUM_TIME = {"day": "d", "week": "wk", "month": "mo", "year": "a"}


class FhirError(SpinefuseError, ValueError):
    """A Bundle cannot be built from the run, or the FHIR server refused it."""


def _coding(system_code: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": TERMINOLOGY + system_code, "code": code, "display": display}]}


def _concept(code: codes.Code, text: str | None = None) -> dict[str, Any]:
    return {"coding": [code.fhir()], "text": text or code.meaning}


def _quantity(value: float, unit: str) -> dict[str, Any]:
    u = codes.unit(unit)
    return {"value": value, "unit": u.meaning, "system": u.system, "code": u.code}


class _BundleBuilder:
    def __init__(self, case_id: str) -> None:
        self.case_id = case_id
        self.entries: list[tuple[str, dict[str, Any]]] = []

    def ref(self, key: str) -> str:
        return f"urn:uuid:{uuid.uuid5(NAMESPACE, f'{self.case_id}/{key}')}"

    def add(self, key: str, resource: dict[str, Any]) -> str:
        url = self.ref(key)
        self.entries.append((url, resource))
        return url


def _patient(run: CaseResult) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "meta": {
            "security": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
                    "code": "PSEUDED",
                    "display": "pseudonymized",
                }
            ]
        },
        "identifier": [{"system": CASE_SYSTEM, "value": run.case.id}],
        "gender": run.case.patient.sex,
    }


def _body_site(level: str | None) -> dict[str, Any]:
    code = codes.level(level) if level else codes.level("L1-S1")
    return _concept(code, level or "lumbosacral spine")


def _report_pdf(run: CaseResult) -> Path | None:
    from spinefuse.interop.dicom_export import report_pdf

    return report_pdf(run)


def bundle_dict(run: CaseResult, pdf: Path | None = None) -> dict[str, Any]:
    """The Bundle of a run as a JSON-ready mapping (validated by :func:`build_bundle`)."""
    b = _BundleBuilder(run.case.id)
    patient = {"reference": b.add("patient", _patient(run))}
    observations: dict[str | None, list[str]] = {}
    conditions: dict[str | None, list[str]] = {}
    assessment = run.assessment
    if assessment is not None:
        for i, m in enumerate(assessment.measurements):
            obs: dict[str, Any] = {
                "resourceType": "Observation",
                "status": "preliminary",
                "category": [_coding("observation-category", "imaging", "Imaging")],
                "code": _concept(codes.measurement(m.name), m.name),
                "subject": patient,
                "valueQuantity": _quantity(m.value, m.unit),
                "bodySite": _body_site(m.level),
            }
            if m.method:
                obs["method"] = {"text": m.method}
            if m.normal_range is not None:
                low, high = m.normal_range
                obs["referenceRange"] = [
                    {"low": _quantity(low, m.unit), "high": _quantity(high, m.unit)}
                ]
            if m.source:
                obs["note"] = [{"text": f"method and normal range: {m.source}"}]
            observations.setdefault(m.level, []).append(b.add(f"observation/{i}", obs))
        for i, f in enumerate(assessment.findings):
            code = codes.finding(f.diagnosis)
            text = f.diagnosis.replace("_", " ") + (f" ({f.grade})" if f.grade else "")
            cond: dict[str, Any] = {
                "resourceType": "Condition",
                "clinicalStatus": _coding("condition-clinical", "active", "Active"),
                "verificationStatus": _coding("condition-ver-status", "provisional", "Provisional"),
                "category": [
                    _coding("condition-category", "encounter-diagnosis", "Encounter Diagnosis")
                ],
                "code": _concept(code, text),
                "bodySite": [_body_site(f.level)],
                "subject": patient,
            }
            if f.grade:
                cond["stage"] = [{"summary": {"text": f.grade}}]
            evidence = observations.get(f.level, [])
            if evidence:
                cond["evidence"] = [{"detail": [{"reference": r} for r in evidence]}]
            if f.evidence:
                cond["note"] = [{"text": "; ".join(f.evidence)}]
            conditions.setdefault(f.level, []).append(b.add(f"condition/{i}", cond))
    procedure_ref = None
    if run.plan is not None:
        procedure_ref = _plan_resources(run, b, patient, conditions)
    if run.forecast is not None:
        _forecast_resources(run, b, patient, procedure_ref, conditions)
    report_pdf = pdf or _report_pdf(run)
    if report_pdf is not None or assessment is not None:
        _report(run, b, patient, report_pdf, observations, conditions)
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": url,
                "resource": res,
                "request": (
                    {
                        "method": "POST",
                        "url": "Patient",
                        "ifNoneExist": f"identifier={CASE_SYSTEM}|{run.case.id}",
                    }
                    if res["resourceType"] == "Patient"
                    else {"method": "POST", "url": res["resourceType"]}
                ),
            }
            for url, res in b.entries
        ],
    }


def _device(
    b: _BundleBuilder,
    key: str,
    kind: str,
    name: str,
    patient: dict[str, str],
    sizes: dict[str, tuple[float, str]],
    material: str,
) -> str:
    props: list[dict[str, Any]] = [
        {"type": _concept(codes.device(f"property:{p}")), "valueQuantity": [_quantity(v, u)]}
        for p, (v, u) in sizes.items()
    ]
    props.append(
        {"type": _concept(codes.device("property:material")), "valueCode": [{"text": material}]}
    )
    return b.add(
        key,
        {
            "resourceType": "Device",
            "type": _concept(codes.device(kind)),
            "deviceName": [{"name": name, "type": "user-friendly-name"}],
            "property": props,
            "patient": patient,
        },
    )


def _plan_resources(
    run: CaseResult,
    b: _BundleBuilder,
    patient: dict[str, str],
    conditions: dict[str | None, list[str]],
) -> str:
    plan = run.plan
    assert plan is not None
    catalogue = load_catalogue()
    screw_material = catalogue.material(catalogue.screws.material).description
    devices = []
    for s in plan.screws:
        devices.append(
            _device(
                b,
                f"device/screw/{s.vertebra}/{s.side}",
                "pedicle_screw",
                f"pedicle screw {s.vertebra} {s.side} {s.diameter_mm:g} x {s.length_mm:g} mm",
                patient,
                {"diameter": (s.diameter_mm, "mm"), "length": (s.length_mm, "mm")},
                screw_material,
            )
        )
    for r in plan.rods:
        devices.append(
            _device(
                b,
                f"device/rod/{r.side}",
                "rod",
                f"rod {r.side} {r.diameter_mm:g} mm x {r.length_mm:.0f} mm",
                patient,
                {"diameter": (r.diameter_mm, "mm"), "length": (r.length_mm, "mm")},
                r.material.replace("_", " "),
            )
        )
    for c in plan.cages:
        devices.append(
            _device(
                b,
                f"device/cage/{c.segment}",
                "cage",
                f"{c.technique} cage {c.segment} "
                f"{c.width_mm:g} x {c.depth_mm:g} x {c.height_mm:g} mm",
                patient,
                {
                    "width": (c.width_mm, "mm"),
                    "depth": (c.depth_mm, "mm"),
                    "height": (c.height_mm, "mm"),
                    "lordosis": (c.lordosis_deg, "deg"),
                },
                c.material.upper() if c.material == "peek" else c.material,
            )
        )
    reasons = [r for seg in plan.fuse_segments for r in conditions.get(seg, [])]
    fusion: dict[str, Any] = {
        "resourceType": "Procedure",
        "status": "preparation",
        "code": {
            "coding": [codes.procedure("fusion").fhir(), codes.procedure(plan.technique).fhir()],
            "text": f"{plan.technique} {plan.approach} fusion of {', '.join(plan.fuse_segments)}",
        },
        "subject": patient,
        "bodySite": [_body_site(seg) for seg in plan.fuse_segments],
        "extension": [
            {
                "url": EXTENSION + "surgical-approach",
                "valueCodeableConcept": _concept(codes.procedure(plan.approach)),
            }
        ],
        "focalDevice": [{"manipulated": {"reference": d}} for d in devices],
    }
    if plan.graft is not None:
        fusion["usedCode"] = [
            {
                "text": f"bone graft: {plan.graft.material.replace('_', ' ')} "
                f"{plan.graft.volume_cm3:g} cm3"
            }
        ]
    if reasons:
        fusion["reasonReference"] = [{"reference": r} for r in reasons]
    if plan.reasons:
        fusion["note"] = [{"text": r} for r in plan.reasons]
    fusion_ref = b.add("procedure/fusion", fusion)
    for i, d in enumerate(plan.decompressions):
        b.add(
            f"procedure/decompression/{i}",
            {
                "resourceType": "Procedure",
                "status": "preparation",
                "partOf": [{"reference": fusion_ref}],
                "code": _concept(codes.procedure(d.kind), f"{d.kind.replace('_', ' ')} {d.side}"),
                "subject": patient,
                "bodySite": [_body_site(d.segment)],
            },
        )
    return fusion_ref


def _forecast_resources(
    run: CaseResult,
    b: _BundleBuilder,
    patient: dict[str, str],
    procedure: str | None,
    conditions: dict[str | None, list[str]],
) -> None:
    forecast = run.forecast
    assert forecast is not None
    for r in forecast.risks:
        prediction: dict[str, Any] = {
            "outcome": _concept(codes.complication(r.outcome), r.label),
            "probabilityDecimal": r.probability,
            "rationale": (
                f"95 % interval {r.low:.4f} to {r.high:.4f}; horizon {r.horizon}; average patient "
                f"{r.average_probability:.4f} ({r.source})"
            ),
            "extension": [
                {
                    "url": EXTENSION + "probability-interval-95",
                    "valueRange": {"low": _quantity(r.low, ""), "high": _quantity(r.high, "")},
                }
            ],
        }
        horizon = HORIZON.search(r.horizon)
        if horizon:
            unit = UCUM_TIME[horizon.group(2).lower()]
            prediction["whenRange"] = {
                "high": {
                    "value": float(horizon.group(1)),
                    "unit": unit,
                    "system": "http://unitsofmeasure.org",
                    "code": unit,
                }
            }
        risk: dict[str, Any] = {
            "resourceType": "RiskAssessment",
            "status": "preliminary",
            "subject": patient,
            "prediction": [prediction],
        }
        if procedure is not None:
            risk["basis"] = [{"reference": procedure}]
        b.add(f"risk/{r.outcome}", risk)
    pathway = forecast.pathway
    if pathway is None:
        return
    activities: list[dict[str, Any]] = []

    def activity(description: str, when: str) -> None:
        activities.append(
            {
                "detail": {
                    "status": "not-started",
                    "description": description,
                    "scheduledString": when,
                }
            }
        )

    for item in pathway.eras:
        activity(item.name, f"{item.phase} (enhanced recovery)".strip())
    for item in pathway.pain_management:
        activity(f"pain management: {item.name}", "peri-operative")
    activity(pathway.mobilisation, f"day {pathway.mobilisation_day} after surgery")
    for phase in pathway.physiotherapy:
        activity(
            f"physiotherapy, {phase.name}: {phase.content}",
            f"weeks {phase.start_week:g} to {phase.end_week:g} after surgery",
        )
    for rest in pathway.restrictions:
        activity(f"restriction: {rest.activity}", f"until week {rest.until_week:g}")
    rtw = pathway.return_to_work
    activity("return to light work", f"week {rtw.light_work_week:g}")
    activity("return to manual work", f"week {rtw.manual_work_week:g}")
    for visit in pathway.follow_up:
        activity(
            f"follow-up: {visit.what}; imaging {visit.imaging}; {visit.checks}",
            f"week {visit.week:g}",
        )
    care: dict[str, Any] = {
        "resourceType": "CarePlan",
        "status": "draft",
        "intent": "plan",
        "title": "Recovery pathway after lumbar fusion",
        "subject": patient,
        "activity": activities,
        "note": [{"text": pathway.source}],
    }
    if pathway.tailoring:
        care["description"] = "; ".join(pathway.tailoring)
    addressed = [r for refs in conditions.values() for r in refs]
    if addressed:
        care["addresses"] = [{"reference": r} for r in addressed]
    b.add("careplan/recovery", care)


def _report(
    run: CaseResult,
    b: _BundleBuilder,
    patient: dict[str, str],
    pdf: Path | None,
    observations: dict[str | None, list[str]],
    conditions: dict[str | None, list[str]],
) -> None:
    report: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "status": "preliminary",
        "category": [_coding("v2-0074", "RAD", "Radiology")],
        "code": {"text": "spinefuse lumbar fusion planning report"},
        "subject": patient,
        "result": [{"reference": r} for refs in observations.values() for r in refs],
    }
    if run.assessment is not None and run.assessment.rationale:
        report["conclusion"] = run.assessment.rationale
    if run.assessment is not None and run.assessment.findings:
        seen: dict[str, dict[str, Any]] = {}
        for f in run.assessment.findings:
            seen.setdefault(f.diagnosis, _concept(codes.finding(f.diagnosis)))
        report["conclusionCode"] = list(seen.values())
    if pdf is not None:
        data = pdf.read_bytes()
        report["presentedForm"] = [
            {
                "contentType": "application/pdf",
                "data": base64.b64encode(data).decode("ascii"),
                "size": len(data),
                "hash": base64.b64encode(hashlib.sha1(data).digest()).decode("ascii"),
                "title": pdf.name,
            }
        ]
    b.add("diagnosticreport", report)


def build_bundle(run: CaseResult, pdf: Path | None = None) -> Any:
    """The run's Bundle as a validated ``fhir.resources`` R4B model."""
    data = bundle_dict(run, pdf)
    try:
        for entry in data["entry"]:
            kind = entry["resource"]["resourceType"]
            r4b.get_fhir_model_class(kind).model_validate(entry["resource"])
        return r4b.get_fhir_model_class("Bundle").model_validate(data)
    except ValueError as err:
        raise FhirError(f"case {run.case.id}: the FHIR Bundle does not validate: {err}") from None


def export_fhir(
    run_dir: str | Path,
    out: str | Path | None = None,
    post_url: str | None = None,
    timeout_s: float = 30.0,
) -> Path:
    """``spinefuse export fhir RUN_DIR``: write the Bundle (default ``RUN_DIR/fhir_bundle.json``)
    and, with ``post_url``, POST it to that FHIR server's base URL as a transaction."""
    run = load_run(Path(run_dir))
    bundle = build_bundle(run)
    text = bundle.model_dump_json(indent=2, exclude_none=True)
    path = write_atomic(Path(out) if out else Path(run_dir) / "fhir_bundle.json", text)
    if post_url:
        post_bundle(text, post_url, timeout_s)
    return path


def post_bundle(text: str, url: str, timeout_s: float = 30.0) -> dict[str, Any]:
    """POST a transaction Bundle to a FHIR server's base URL; returns its response Bundle."""
    try:
        response = requests.post(
            url.rstrip("/"),
            data=text.encode(),
            timeout=timeout_s,
            headers={"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"},
        )
    except requests.exceptions.RequestException as err:
        raise FhirError(f"{url}: cannot reach the FHIR server ({err})") from None
    if response.status_code not in (200, 201):
        raise FhirError(
            f"{url}: the FHIR server refused the Bundle (HTTP {response.status_code}): "
            f"{response.text[:300]}"
        )
    try:
        answer: dict[str, Any] = json.loads(response.text or "{}")
    except json.JSONDecodeError:
        answer = {}
    return answer
