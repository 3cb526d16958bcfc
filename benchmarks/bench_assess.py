"""Speed of the assessment stage: the batched Cobb angle over many AP films, and a whole
assessment (measurements, findings, indication) of a virtual patient's geometry and films.

Targets: 10,000 AP films' Cobb angles in under 0.5 s; one assessment under 50 ms. Prints one
JSON line and writes benchmarks/results/assess.json.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from spinefuse.assess.stage import assess_landmarks_sets

from spinefuse.anatomy.phantom import render_xray_landmarks
from spinefuse.anatomy.template import VirtualPatientSpec, posed, virtual_spine
from spinefuse.assess.cobb import max_cobb_deg
from spinefuse.case import ClinicalHistory, Patient


def main(films: int = 10_000, repeats: int = 50) -> dict[str, float]:
    rng = np.random.default_rng(0)
    # 17 vertebrae stacked 35 px apart with random tilts: (films, 17, 4, 2)
    tilt = np.radians(rng.normal(0.0, 8.0, (films, 17)))
    local = np.array([[-20.0, 12.0], [20.0, 12.0], [-20.0, -12.0], [20.0, -12.0]])
    c, s = np.cos(tilt)[..., None], np.sin(tilt)[..., None]
    corners = np.stack(
        [c * local[:, 0] - s * local[:, 1], s * local[:, 0] + c * local[:, 1]], axis=-1
    )
    corners[..., 1] -= 35.0 * np.arange(17)[None, :, None]
    t0 = time.perf_counter()
    max_cobb_deg(corners)
    cobb_s = time.perf_counter() - t0

    spec = VirtualPatientSpec(slip_percent={"L4-L5": 18.0}, stenosis_csa_mm2={"L4-L5": 68.0})
    g = virtual_spine(spec)
    sets = [
        render_xray_landmarks(g, "lateral"),
        render_xray_landmarks(g, "ap"),
        render_xray_landmarks(posed(spec, {"L4-L5": 6.0}, {"L4-L5": 2.0}), "lateral", "flexion"),
        render_xray_landmarks(
            posed(spec, {"L4-L5": -6.0}, {"L4-L5": -2.0}), "lateral", "extension"
        ),
    ]
    history = ClinicalHistory(
        leg_pain=True,
        neurogenic_claudication=True,
        symptom_duration_months=12,
        conservative_care=["physiotherapy"],
        conservative_care_months=9,
    )
    patient = Patient(age_years=62, sex="female", height_cm=163, weight_kg=74)
    assess_landmarks_sets(sets, g, history, patient)  # warm the criteria cache
    t0 = time.perf_counter()
    for _ in range(repeats):
        assess_landmarks_sets(sets, g, history, patient)
    per = (time.perf_counter() - t0) / repeats
    return {
        "cobb_films": float(films),
        "cobb_s": round(cobb_s, 4),
        "cobb_target_s": 0.5,
        "assessment_ms": round(per * 1e3, 2),
        "assessment_target_ms": 50.0,
    }


if __name__ == "__main__":
    figures = main()
    line = json.dumps({"benchmark": "assess", **figures})
    print(line)
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    (results / "assess.json").write_text(line + "\n")
