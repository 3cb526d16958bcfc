"""Speed and memory of the mechanics stage.

Targets (issue 17, on the project's 2-core machine): ``spinefuse mechanics --reference
--construct screws-rods:L4-L5`` at most 0.8 s wall including start-up (a fresh process, best
of three); one spine, intact plus one instrumented construct, all six pure-moment directions
with the fine load steps of the neutral zone; 1,000 virtual spines × 6 directions in one
``rom_batch`` at most 6 s (250 spines per solve, one load step, no neutral zone — the elastic
equilibrium is path-independent); peak resident memory reported. Also times
``simulate`` (with standing and the optimised follower path) and ``fused_segment_response``
for the healing stage. Prints one JSON line and writes benchmarks/results/mechanics.json.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from spinefuse.anatomy.template import VirtualPatientSpec, virtual_spine
from spinefuse.mechanics.constructs import Construct, parse_constructs
from spinefuse.mechanics.fusion import fused_segment_response
from spinefuse.mechanics.reference import reference_geometry
from spinefuse.mechanics.simulation import direction_response, rom_batch, simulate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "mechanics"))
from conftest import make_plan  # noqa: E402


def cli_wall_s(repeats: int = 3) -> float:
    """Wall time of the CLI command in a fresh process (best of ``repeats``)."""
    exe = shutil.which("spinefuse") or str(Path(sys.executable).parent / "spinefuse")
    cmd = [exe, "mechanics", "--reference", "--construct", "screws-rods:L4-L5"]
    subprocess.run(cmd, check=True, capture_output=True)  # warm the file cache
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        best = min(best, time.perf_counter() - t0)
    return best


def main(spines: int = 1000, repeats: int = 5) -> dict[str, float]:
    cli = cli_wall_s()
    g = reference_geometry()
    construct = parse_constructs(["screws-rods:L4-L5"])
    direction_response([g, g], [Construct(), construct], 7.5)  # warm caches
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        direction_response([g, g], [Construct(), construct], 7.5)
        times.append(time.perf_counter() - t0)
    one = min(times)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        simulate(g, constructs=("screws-rods:L4-L5",))
        times.append(time.perf_counter() - t0)
    sim = min(times)

    rng = np.random.default_rng(0)
    cohort = [
        virtual_spine(
            VirtualPatientSpec(
                sex=str(rng.choice(["female", "male"])),  # type: ignore[arg-type]
                height_cm=float(np.clip(rng.normal(170.0, 8.0), 150.0, 195.0)),
                pelvic_incidence_deg=float(np.clip(rng.normal(52.0, 9.0), 30.0, 80.0)),
                seed=int(i),
            )
        )
        for i in range(spines)
    ]
    t0 = time.perf_counter()
    rom = rom_batch(cohort, None, 7.5)
    batch_s = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

    plans = [make_plan(x, ["L4-L5"]) for x in cohort[:100]]
    phi = np.linspace(0.0, 1.0, 5)
    t0 = time.perf_counter()
    fused_segment_response(cohort[:100], plans, phi)
    fusion_s = time.perf_counter() - t0
    return {
        "cli_mechanics_reference_screws_rods_wall_s": round(cli, 3),
        "simulate_reference_screws_rods_s": round(sim, 4),
        "one_spine_intact_plus_construct_6_directions_s": round(one, 4),
        "batch_spines": float(spines),
        "batch_6_directions_s": round(batch_s, 3),
        "peak_rss_mb": round(peak_mb, 1),
        "batch_mean_l4_l5_flexion_deg": round(float(np.degrees(rom[:, 0, 3]).mean()), 3),
        "fused_segment_response_100_patients_x_5_states_s": round(fusion_s, 3),
    }


if __name__ == "__main__":
    figures = main()
    line = json.dumps(figures)
    print(line)
    out = Path(__file__).resolve().parent / "results" / "mechanics.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(line + "\n")
