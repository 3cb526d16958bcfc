"""Speed of a virtual trial: patients through template, assessment, plan, mechanics, healing
and forecast, two arms, on the local process pool.

Target (issue 10): 10,000 patients × 2 arms in under 30 minutes on 2 cores. Run
``python benchmarks/bench_cohort.py --size 10000 --workers 2`` for the full benchmark; a smaller
``--size`` measures the per-patient cost and extrapolates (stated as such in the figures). The
CPU seconds of the worker processes are reported beside the wall time, so a run on a busy machine
still says what two dedicated cores would take (``cpu_wall_min_on_2_cores``). Prints one JSON
line and writes benchmarks/results/cohort.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

from spinefuse.cohort.spec import cohort_from_dict
from spinefuse.cohort.trial import run_trial


def main(size: int, workers: int, batch_size: int) -> dict[str, float]:
    spec = cohort_from_dict(
        {
            "schema": "spinefuse/cohort@1",
            "name": "bench",
            "size": size,
            "seed": 2026,
            "batch_size": batch_size,
            "arms": [
                {"name": "tlif-autograft", "technique": "TLIF", "graft": "local_autograft"},
                {"name": "plf-allograft", "technique": "PLF", "graft": "allograft"},
            ],
        }
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        results = run_trial(spec, Path(tmp), workers=workers, progress=False)
        wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the pool's workers, now joined
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    patient_arms = len(results)
    per = cpu / patient_arms
    return {
        "patients": float(size),
        "arms": 2.0,
        "workers": float(workers),
        "cpu_count": float(os.cpu_count() or 1),
        "wall_s": round(wall, 2),
        "worker_cpu_s": round(cpu, 1),
        "core_s_per_patient_arm": round(per, 4),
        "cpu_wall_min_on_2_cores": round(cpu / 2 / 60, 1),
        "extrapolated_10000x2_wall_min_on_2_cores": round(per * 20_000 / 2 / 60, 1),
        "target_wall_min": 30.0,
    }


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=25)
    args = ap.parse_args()
    figures = main(args.size, args.workers, args.batch_size)
    line = json.dumps(figures)
    print(line)
    out = Path(__file__).parent / "results" / "cohort.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(line + "\n")
