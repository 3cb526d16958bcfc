"""Speed and memory of the whole pipeline and of the commands people start most.

- ``spinefuse run`` on the sample patient, reports included: wall seconds of the command
  (start-up included, best of ``--repeats``), the CPU seconds of all its processes (the gate's
  naming check, the MR reading, the reports' pictures drawn ahead and the patient's report run
  in forked ones), its peak resident memory, and the seconds
  of each stage (from the run's own timing; a stage that overlaps a forked one counts its own
  wall time, the imaging stage the wait for the naming check). Target ≤ 5 s on 2 cores.
- ``spinefuse mechanics --reference --construct screws-rods:L4-L5``: wall seconds including
  start-up. Target ≤ 0.8 s.
- ``spinefuse --help``: wall seconds. Target < 0.4 s.

The sample case is written once beforehand (not timed). The machine's CPU count and its load
average at the start are recorded beside the figures, since a busy machine runs slower.
Prints one JSON line and writes benchmarks/results/pipeline.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent / "spinefuse"
TARGETS = {"run_s": 5.0, "mechanics_reference_s": 0.8, "help_s": 0.4}


def _cpu_children() -> float:
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


def _timed(args: list[str]) -> tuple[float, int, float]:
    """Wall seconds of a command, the peak resident memory of its largest process (MB) and
    the CPU seconds of all its processes (its forked helpers included)."""
    cpu0 = _cpu_children()
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{proc.stderr}")
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, peak_kb // 1024, _cpu_children() - cpu0


def _stage_seconds(case_file: Path) -> dict[str, float]:
    from spinefuse.case import load_case
    from spinefuse.pipeline import run

    with tempfile.TemporaryDirectory() as tmp:
        result = run(load_case(case_file), out_dir=Path(tmp) / "run", progress=False)
    return {name: round(s, 3) for name, s in result.seconds.items()}


def main(repeats: int) -> dict[str, object]:
    from spinefuse.sample import write_sample_case

    load = os.getloadavg()[0]
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory() as tmp:
        case_file = write_sample_case(Path(tmp) / "case")
        runs = []
        for i in range(repeats):
            out = Path(tmp) / f"run{i}"
            runs.append(_timed([str(BIN), "run", str(case_file), "--out", str(out), "--quiet"]))
        mech = min(
            _timed([str(BIN), "mechanics", "--reference", "--construct", "screws-rods:L4-L5"])[0]
            for _ in range(repeats)
        )
        helps = min(_timed([str(BIN), "--help"])[0] for _ in range(repeats))
        stages = _stage_seconds(case_file)
    figures = {
        "run_s": round(min(w for w, _, _ in runs), 2),
        "run_cpu_s": round(min(c for _, _, c in runs), 2),
        "run_peak_mb": max(m for _, m, _ in runs),
        "mechanics_reference_s": round(mech, 3),
        "help_s": round(helps, 3),
    }
    return {
        **figures,
        "stage_s": stages,
        "targets": TARGETS,
        "met": {k: figures[k] <= v for k, v in TARGETS.items()},  # type: ignore[operator]
        "cpus": os.cpu_count(),
        "load_average_at_start": round(load, 2),
        "load_average_at_end": round(os.getloadavg()[0], 2),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    result = main(parser.parse_args().repeats)
    line = json.dumps(result)
    print(line)
    out = Path(__file__).parent / "results" / "pipeline.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(line + "\n")
