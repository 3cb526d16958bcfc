"""A fuzzing campaign over the readers for a bounded time (a benchmark, not part of make test).

Each reader (case file, cohort spec, landmark file, user YAML, NIfTI image, label map, DICOM
slice) is fed mutated inputs seeded from the regression corpus (tests/fuzz/corpus.py). With
atheris installed (``pip install atheris``: coverage-guided libFuzzer, wheels for CPython up to
3.11) every reader is fuzzed in its own process, spinefuse instrumented for coverage; without it
a hypothesis-driven mutation campaign of the same seeds runs in this process instead.

Every input must end in a correct result or a SpinefuseError. Any other exception counts as a
traceback, an input running over --timeout seconds as a hang, a MemoryError as a memory failure;
each such input is saved with its traceback under benchmarks/results/fuzz-findings/<reader>/.
Target: 0 tracebacks, 0 hangs, 0 memory failures. Prints one JSON line and writes
benchmarks/results/fuzz.json.

    python benchmarks/bench_fuzz.py [--seconds 20] [--engine auto|atheris|hypothesis]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the seed corpus lives with the tests

RESULTS = ROOT / "benchmarks" / "results"
FINDINGS = RESULTS / "fuzz-findings"
TARGETS = ("case", "cohort", "landmarks", "yaml", "nifti", "label_map", "dicom")
MEMORY_MB = 3072


class _Hang(BaseException):
    """Raised by the per-input alarm; a BaseException so that no reader can swallow it."""


def _reader(target: str, work: Path) -> Callable[[Path], Any]:
    """The call under test for ``target``: takes the file holding the input."""
    from spinefuse.case import load_case
    from spinefuse.cohort.spec import load_cohort_spec
    from spinefuse.datafiles import read_yaml_file
    from spinefuse.errors import CaseError
    from spinefuse.imaging.dicom import read_dicom_series
    from spinefuse.imaging.labels import read_label_map
    from spinefuse.imaging.nifti import read_nifti
    from spinefuse.imaging.xray_landmarks import read_xray_landmarks

    if target == "dicom":
        series = work / "series"

        def dicom(path: Path) -> Any:
            shutil.copyfile(path, series / "s001.dcm")  # one slice of three replaced
            return read_dicom_series(series)

        return dicom
    return {
        "case": lambda p: load_case(p, check_files=False),
        "cohort": load_cohort_spec,
        "landmarks": read_xray_landmarks,
        "yaml": lambda p: read_yaml_file(p, "case file", CaseError),
        "nifti": read_nifti,
        "label_map": read_label_map,
    }[target]


def _seeds(target: str, work: Path) -> list[bytes]:
    """Seed inputs: the corpus files of the reader (valid and malformed)."""
    import numpy as np
    from tests.fuzz.corpus import build_corpus, ct_like
    from tests.imaging.dicom_series import write_series

    corpus = build_corpus(work / "corpus")
    if target == "dicom":
        series = work / "series"
        paths = write_series(series, (ct_like((3, 24, 24)) + 1024).astype(np.int16))
        return [p.read_bytes() for p in paths]
    reader = {"yaml": "case"}.get(target, target)
    seeds = []
    for case in corpus:
        path = Path(case["path"])
        if case["reader"] == reader and path.is_file() and path.stat().st_size < 2_000_000:
            seeds.append(path.read_bytes())
    return seeds


class Harness:
    """Runs one input, classifies how it ended and keeps the counts."""

    def __init__(self, target: str, work: Path, timeout_s: float, stats: Path | None) -> None:
        from spinefuse.errors import SpinefuseError

        self.target, self.work, self.timeout_s, self.stats = target, work, timeout_s, stats
        self.call = _reader(target, work)
        self.error_type: type[BaseException] = SpinefuseError
        self.counts = {"inputs": 0, "ok": 0, "clean_errors": 0, "tracebacks": 0, "hangs": 0}
        self.counts["memory"] = 0
        self.kinds: dict[str, int] = {}
        self.started = time.perf_counter()
        self._last_write = 0.0
        signal.signal(signal.SIGALRM, self._alarm)

    @staticmethod
    def _alarm(signum: int, frame: object) -> None:
        raise _Hang

    def __call__(self, data: bytes) -> None:
        path = self.work / "input"
        path.write_bytes(data)
        self.counts["inputs"] += 1
        signal.setitimer(signal.ITIMER_REAL, self.timeout_s)
        try:
            self.call(path)
            self.counts["ok"] += 1
        except _Hang:
            self._finding("hangs", data, "over the time limit\n" + traceback.format_exc(limit=-8))
        except MemoryError:
            self._finding("memory", data, traceback.format_exc(limit=-8))
        except Exception as err:
            if isinstance(err, self.error_type):
                self.counts["clean_errors"] += 1
            else:
                self._finding("tracebacks", data, traceback.format_exc())
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        now = time.perf_counter()
        if self.stats is not None and now - self._last_write > 1.0:
            self.write_stats()
            self._last_write = now

    def _finding(self, kind: str, data: bytes, text: str) -> None:
        self.counts[kind] += 1
        last = text.strip().splitlines()[-1][:120] if text.strip() else kind
        self.kinds[last] = self.kinds.get(last, 0) + 1
        folder = FINDINGS / self.target
        folder.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha256(data).hexdigest()[:16]
        (folder / f"{kind}-{name}.bin").write_bytes(data)
        (folder / f"{kind}-{name}.txt").write_text(text)

    def summary(self) -> dict[str, Any]:
        seconds = time.perf_counter() - self.started
        return {
            **self.counts,
            "seconds": round(seconds, 1),
            "inputs_per_s": round(self.counts["inputs"] / max(seconds, 1e-9), 1),
            "findings": self.kinds,
        }

    def write_stats(self) -> None:
        if self.stats is not None:
            tmp = self.stats.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.summary()))
            os.replace(tmp, self.stats)


# --- atheris: one process per reader -------------------------------------------------------------
def _atheris_worker(target: str, seconds: float, timeout_s: float, stats: Path) -> None:
    import atheris

    with atheris.instrument_imports(include=["spinefuse"]):
        import spinefuse.case  # noqa: F401
        import spinefuse.cohort.spec  # noqa: F401
        import spinefuse.datafiles  # noqa: F401
        import spinefuse.imaging.dicom  # noqa: F401
        import spinefuse.imaging.labels  # noqa: F401
        import spinefuse.imaging.nifti  # noqa: F401
        import spinefuse.imaging.xray_landmarks  # noqa: F401
    work = Path(tempfile.mkdtemp(prefix=f"spinefuse-fuzz-{target}-"))
    seeds_dir = work / "seeds"
    seeds_dir.mkdir()
    for k, seed in enumerate(_seeds(target, work)):
        (seeds_dir / f"seed{k:04d}").write_bytes(seed)
    harness = Harness(target, work, timeout_s, stats)
    args = [
        sys.argv[0],
        f"-max_total_time={int(seconds)}",
        f"-timeout={int(timeout_s * 3) + 1}",
        f"-rss_limit_mb={MEMORY_MB}",
        "-max_len=262144",
        str(seeds_dir),
    ]
    atheris.Setup(args, harness)
    try:
        atheris.Fuzz()
    finally:
        harness.write_stats()


def _run_atheris(target: str, seconds: float, timeout_s: float) -> dict[str, Any]:
    stats = Path(tempfile.mkdtemp(prefix="spinefuse-fuzz-stats-")) / f"{target}.json"
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        target,
        "--seconds",
        str(seconds),
        "--timeout",
        str(timeout_s),
        "--stats",
        str(stats),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 600, cwd=ROOT)
    out: dict[str, Any] = json.loads(stats.read_text()) if stats.exists() else {"inputs": 0}
    died = proc.returncode != 0 and "Done " not in proc.stderr
    if died:  # libFuzzer stopped early: an RSS limit, a timeout or a hard crash
        out["process_died"] = proc.stderr.strip().splitlines()[-3:]
        kind = "memory" if "rss" in proc.stderr.lower() else "hangs"
        out[kind] = out.get(kind, 0) + 1
    return out


# --- the fallback: hypothesis-driven mutations of the seeds ---------------------------------------
def _run_hypothesis(target: str, seconds: float, timeout_s: float) -> dict[str, Any]:
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st

    work = Path(tempfile.mkdtemp(prefix=f"spinefuse-fuzz-{target}-"))
    seeds = _seeds(target, work)
    harness = Harness(target, work, timeout_s, None)
    deadline = time.perf_counter() + seconds
    edit = st.tuples(
        st.integers(min_value=0),
        st.one_of(
            st.binary(max_size=8), st.sampled_from([b"\x00", b"\xff" * 4, b"nan", b",", b"#"])
        ),
        st.integers(0, 16),
    )

    @settings(
        max_examples=10**9,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(
        seed=st.sampled_from(seeds),
        edits=st.lists(edit, max_size=6),
        splice=st.sampled_from(seeds),
        cut=st.one_of(st.none(), st.integers(min_value=0)),
    )
    def campaign(
        seed: bytes, edits: list[tuple[int, bytes, int]], splice: bytes, cut: int | None
    ) -> None:
        if time.perf_counter() > deadline:
            raise _Budget
        data = bytearray(seed)
        for pos, new, n in edits:
            at = pos % (len(data) + 1)
            data[at : at + n] = new
        if cut is not None:  # truncate, or splice another seed's tail in
            at = cut % (len(data) + 1)
            data = data[:at] + (splice[at:] if cut % 2 else b"")
        harness(bytes(data))

    try:
        campaign()
    except _Budget:
        pass
    return harness.summary()


class _Budget(BaseException):
    """The campaign's time is up."""


def main(seconds: float, timeout_s: float, engine: str) -> dict[str, Any]:
    if engine == "auto":
        try:
            import atheris  # noqa: F401

            engine = "atheris"
        except ImportError:
            engine = "hypothesis"
    limit = MEMORY_MB * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    shutil.rmtree(FINDINGS, ignore_errors=True)
    run = _run_atheris if engine == "atheris" else _run_hypothesis
    targets = {t: run(t, seconds, timeout_s) for t in TARGETS}
    total = {
        k: sum(int(r.get(k, 0)) for r in targets.values())
        for k in ("inputs", "ok", "clean_errors", "tracebacks", "hangs", "memory")
    }
    return {
        "engine": engine,
        "seconds_per_reader": seconds,
        "input_timeout_s": timeout_s,
        "memory_limit_mb": MEMORY_MB,
        **{f"total_{k}": v for k, v in total.items()},
        "target_tracebacks": 0,
        "target_hangs": 0,
        "readers": targets,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="per reader")
    parser.add_argument("--timeout", type=float, default=10.0, help="per input, seconds")
    parser.add_argument("--engine", choices=("auto", "atheris", "hypothesis"), default="auto")
    parser.add_argument("--worker", choices=TARGETS, help=argparse.SUPPRESS)
    parser.add_argument("--stats", type=Path, help=argparse.SUPPRESS)
    ns = parser.parse_args()
    if ns.worker:
        _atheris_worker(ns.worker, ns.seconds, ns.timeout, ns.stats)
        sys.exit(0)
    from spinefuse.records import write_atomic

    figures = main(ns.seconds, ns.timeout, ns.engine)
    line = json.dumps({"benchmark": "fuzz", **figures})
    print(line)
    write_atomic(RESULTS / "fuzz.json", line + "\n")
