"""Speed of the planning stage: plan_surgery on virtual spines (cohorts plan 20,000 patient-arms).

Target: under 20 ms per plan. Prints one JSON line and writes benchmarks/results/plan.json.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from spinefuse.anatomy.template import VirtualPatientSpec, virtual_spine
from spinefuse.assess.assessment import Assessment, Finding
from spinefuse.case import Case, ClinicalHistory, Patient
from spinefuse.plan import plan_surgery


def main(n: int = 200) -> dict[str, float]:
    case = Case(
        id="bench",
        patient=Patient(age_years=64, sex="female", height_cm=165, weight_kg=72),
        history=ClinicalHistory(leg_pain=True, neurogenic_claudication=True),
    )
    findings = [
        Finding(diagnosis="degenerative_spondylolisthesis", level="L4-L5", grade="I"),
        Finding(diagnosis="central_stenosis", level="L4-L5", grade="moderate"),
    ]
    one = Assessment(findings=findings, fuse_segments=["L4-L5"], decompress_segments=["L4-L5"])
    two = one.model_copy(update={"fuse_segments": ["L4-L5", "L5-S1"]})
    spines = [virtual_spine(VirtualPatientSpec(seed=i)) for i in range(10)]
    plan_surgery(case, spines[0], one)  # warm caches (catalogue, rules)
    out: dict[str, float] = {}
    for name, assessment in (("one_level", one), ("two_level", two)):
        t0 = time.perf_counter()
        for i in range(n):
            plan_surgery(case, spines[i % len(spines)], assessment)
        out[f"{name}_ms_per_plan"] = round((time.perf_counter() - t0) / n * 1e3, 3)
    out["target_ms_per_plan"] = 20.0
    return out


if __name__ == "__main__":
    figures = main()
    line = json.dumps({"benchmark": "plan", **figures})
    print(line)
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    (results / "plan.json").write_text(line + "\n")
