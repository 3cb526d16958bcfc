"""Run spinefuse's readers on untrusted files in a child process under a memory and time limit.

``run_cases(cases)`` starts ``python -m tests.fuzz.sandbox``, which sets an address-space limit,
reads each case (reader name, path, keyword arguments), and reports for each how it ended:
``ok`` (read), ``error`` (a SpinefuseError: its class and message), ``crash`` (any other
exception, with its traceback), ``memory`` (MemoryError) or ``timeout``. A child that dies or
hangs marks every case it had not finished as ``killed``.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


class _Timeout(BaseException):
    """Raised by the alarm inside a case; a BaseException so that readers cannot swallow it."""


def _reader(name: str) -> Any:
    if name == "nifti":
        from spinefuse.imaging.nifti import read_nifti

        return read_nifti
    if name == "label_map":
        from spinefuse.imaging.labels import read_label_map

        return read_label_map
    if name == "dicom":
        from spinefuse.imaging.dicom import read_dicom_series

        return read_dicom_series
    if name == "landmarks":
        from spinefuse.imaging.xray_landmarks import read_xray_landmarks

        return read_xray_landmarks
    if name == "case":
        from spinefuse.case import load_case

        return load_case
    if name == "cohort":
        from spinefuse.cohort.spec import load_cohort_spec

        return load_cohort_spec
    if name == "output":
        from spinefuse.records import check_output_folder

        return check_output_folder
    raise ValueError(f"unknown reader {name}")


def _describe(result: Any) -> str:
    shape = getattr(result, "shape", None)
    return f"{type(result).__name__}{'' if shape is None else ' ' + str(shape)}"


def run_one(case: dict[str, Any], seconds: float) -> dict[str, Any]:
    """Read one case in this process; the outcome as a JSON-able mapping."""
    from spinefuse.errors import SpinefuseError

    def alarm(signum: int, frame: Any) -> None:
        raise _Timeout

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    t0 = time.perf_counter()
    out: dict[str, Any] = {"id": case["id"]}
    try:
        result = _reader(case["reader"])(case["path"], **case.get("kwargs", {}))
        out.update(outcome="ok", result=_describe(result))
    except SpinefuseError as err:
        out.update(outcome="error", type=type(err).__name__, message=str(err))
    except MemoryError:
        out.update(outcome="memory", message=traceback.format_exc(limit=-6))
    except _Timeout:
        out.update(outcome="timeout", message=traceback.format_exc(limit=-6))
    except Exception as err:
        out.update(outcome="crash", type=type(err).__name__, message=traceback.format_exc(limit=-8))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    out["seconds"] = round(time.perf_counter() - t0, 3)
    return out


def run_cases(
    cases: list[dict[str, Any]], memory_mb: int = 2048, seconds: float = 20.0
) -> dict[str, dict[str, Any]]:
    """Each case's outcome by id, read in a child limited to ``memory_mb`` of address space and
    ``seconds`` per case."""
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    payload = json.dumps({"memory_mb": memory_mb, "seconds": seconds, "cases": cases})
    proc = subprocess.run(
        [sys.executable, "-m", "tests.fuzz.sandbox"],
        input=payload,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60 + seconds * len(cases) * 1.5,
    )
    results = {}
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            r = json.loads(line)
            results[r["id"]] = r
    for case in cases:
        results.setdefault(
            case["id"],
            {"id": case["id"], "outcome": "killed", "message": proc.stderr[-2000:]},
        )
    return results


def main() -> None:
    job = json.loads(sys.stdin.read())
    limit = job["memory_mb"] * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    for case in job["cases"]:
        print(json.dumps(run_one(case, job["seconds"])), flush=True)


if __name__ == "__main__":
    main()
