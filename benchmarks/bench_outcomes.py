"""Speed of the outcome stage: forecast_batch over 20,000 patient-arms (a cohort's size), one
full forecast with intervals and pathway, and a registry refit of 10,000 patients.

Targets: batch under 1 s for 20,000 rows; one forecast under 100 ms once the models are built;
building the models (first forecast of a process) under 3 s.
Prints one JSON line and writes benchmarks/results/outcomes.json.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from spinefuse.case import Case, ClinicalHistory, Patient
from spinefuse.outcomes import forecast, forecast_batch
from spinefuse.outcomes.population import sample_patients
from spinefuse.outcomes.registry import fit_registry
from spinefuse.outcomes.synthetic import synthetic_registry
from spinefuse.plan.surgical_plan import SurgicalPlan


def main() -> dict[str, float]:
    out: dict[str, float] = {}
    case = Case(
        id="bench",
        patient=Patient(age_years=64, sex="female", height_cm=165, weight_kg=82),
        history=ClinicalHistory(odi=48, leg_pain=True, leg_pain_nrs=6),
    )
    plan = SurgicalPlan(fuse_segments=["L4-L5"], approach="open", technique="TLIF")
    t0 = time.perf_counter()
    forecast(case, plan, 0.07)  # builds and calibrates the models and their parameter draws
    out["model_build_s"] = round(time.perf_counter() - t0, 3)

    patients = sample_patients(20_000, seed=1)
    t0 = time.perf_counter()
    forecast_batch(patients)
    out["batch_20000_s"] = round(time.perf_counter() - t0, 3)

    t0 = time.perf_counter()
    for _ in range(20):
        forecast(case, plan, 0.07)
    out["forecast_ms"] = round((time.perf_counter() - t0) / 20 * 1e3, 2)

    registry = synthetic_registry(10_000, seed=2)
    t0 = time.perf_counter()
    fit_registry(registry, mode="refit")
    out["refit_10000_s"] = round(time.perf_counter() - t0, 3)
    out["target_batch_20000_s"] = 1.0
    out["target_forecast_ms"] = 100.0
    out["target_model_build_s"] = 3.0
    return out


if __name__ == "__main__":
    figures = main()
    line = json.dumps({"benchmark": "outcomes", **figures})
    print(line)
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    (results / "outcomes.json").write_text(line + "\n")
