"""Faults of a cohort run: stale or damaged batch files, huge cohorts, killed and interrupted
runs, bad scheduler addresses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Executor, Future
from pathlib import Path

import pandas as pd
import pytest

from spinefuse.cohort.runner import (
    Batch,
    batch_file_is_current,
    open_executor,
    plan_batches,
    run_batches,
)
from spinefuse.cohort.simulation import batch_patients
from spinefuse.cohort.spec import cohort_from_dict
from spinefuse.errors import SchedulerError

from .test_runner import SPEC, _read

ROOT = Path(__file__).resolve().parents[2]


def _batches(**patch: object) -> list[Batch]:
    spec = cohort_from_dict({**SPEC, **patch})
    return plan_batches(spec.to_json(), [a.name for a in spec.arms], spec.size, spec.batch_size)


def test_a_truncated_batch_file_is_computed_again(tmp_path: Path) -> None:
    batches = _batches()
    with open_executor(workers=2) as ex:
        whole = _read(run_batches(batches, batch_patients, tmp_path, ex, progress=False))
        victim = tmp_path / batches[3].file_name
        victim.write_bytes(victim.read_bytes()[:100])  # a write cut short by a full disk
        assert not batch_file_is_current(victim, batches[3])
        again = _read(run_batches(batches, batch_patients, tmp_path, ex, progress=False))
    pd.testing.assert_frame_equal(again, whole)
    assert batch_file_is_current(victim, batches[3])


def test_batches_of_another_seed_or_spec_are_not_reused(tmp_path: Path) -> None:
    with open_executor(workers=2) as ex:
        run_batches(_batches(seed=11), batch_patients, tmp_path / "out", ex, progress=False)
        other = _batches(seed=12)  # the same file names, other patients
        mixed = _read(run_batches(other, batch_patients, tmp_path / "out", ex, progress=False))
        fresh = _read(run_batches(other, batch_patients, tmp_path / "fresh", ex, progress=False))
    pd.testing.assert_frame_equal(mixed, fresh)
    spec_b = _batches(population={"smoking_current": 0.5})  # + 0.3 former: a valid mix
    assert not batch_file_is_current(tmp_path / "fresh" / spec_b[0].file_name, spec_b[0])


class _FirstSubmit(Exception):
    pass


class _Recorder(Executor):
    """Stops the run at the first submit, remembering when it came."""

    def __init__(self) -> None:
        self.at: float | None = None

    def submit(self, fn: object, /, *args: object, **kwargs: object) -> Future[pd.DataFrame]:
        self.at = time.perf_counter()
        raise _FirstSubmit


def _alarm(seconds: float) -> Iterator[None]:
    def stop(signum: int, frame: object) -> None:
        raise TimeoutError(f"no batch submitted within {seconds} s")

    old = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def test_the_first_batch_starts_at_once_for_ten_million_patients(tmp_path: Path) -> None:
    batches = _batches(size=10_000_000, batch_size=50)
    assert len(batches) == 400_000
    ex = _Recorder()
    for _ in _alarm(20.0):
        t0 = time.perf_counter()
        with pytest.raises(_FirstSubmit):
            run_batches(batches, batch_patients, tmp_path, ex, progress=False)
    assert ex.at is not None and ex.at - t0 < 2.0


CHILD = """
import sys
from pathlib import Path
from spinefuse.cohort.runner import Batch, open_executor, run_batches
from tests.cohort.slow_batches import sleepy_batch
batches = [Batch("a", s, s + 1, "{}") for s in range(int(sys.argv[2]))]
with open_executor(workers=2) as ex:
    run_batches(batches, sleepy_batch, Path(sys.argv[1]), ex, progress=False)
"""


def _start(tmp_path: Path, n: int, sleep_s: float) -> tuple[subprocess.Popen[bytes], Path]:
    marks = tmp_path / "marks"
    marks.mkdir()
    env = {**os.environ, "SPINEFUSE_TEST_MARKS": str(marks), "SPINEFUSE_TEST_SLEEP": str(sleep_s)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path / "out"), str(n)],
        cwd=ROOT,
        env=env,
        start_new_session=True,  # its own process group, as a terminal would give it
        stderr=subprocess.PIPE,
    )
    return child, marks


def _busy_workers(marks: Path, timeout_s: float = 60.0) -> dict[str, int]:
    """Wait until both workers are inside a batch; their started markers and pids."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout_s:
        started = {p.name: int(p.read_text() or 0) for p in marks.glob("started-*")}
        done = {p.name.replace("done-", "started-") for p in marks.glob("done-*")}
        running = {k: v for k, v in started.items() if k not in done and v}
        if len(set(running.values())) == 2:
            return running
        time.sleep(0.05)
    raise AssertionError("the workers never started")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")  # a zombie has exited


def _gone(pids: set[int], timeout_s: float = 10.0) -> bool:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout_s:
        if not any(_alive(p) for p in pids):
            return True
        time.sleep(0.1)
    return False


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to see the workers")
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_workers_exit_when_the_cohort_is_killed(tmp_path: Path, how: signal.Signals) -> None:
    child, marks = _start(tmp_path, n=40, sleep_s=2.0)
    try:
        running = _busy_workers(marks)
        workers = set(running.values())
        os.kill(child.pid, how)
        child.wait(timeout=60)
        assert _gone(workers), f"workers {workers} outlived their parent"
        if how == signal.SIGTERM:  # the batches that were running were finished and saved
            for name in running:
                start = int(name.rsplit("-", 1)[1])
                assert (tmp_path / "out" / Batch("a", start, start + 1, "{}").file_name).exists()
    finally:
        _kill_group(child)


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to see the workers")
def test_ctrl_c_saves_the_batches_finished_and_running(tmp_path: Path) -> None:
    child, marks = _start(tmp_path, n=40, sleep_s=1.5)
    try:
        running = _busy_workers(marks)
        time.sleep(0.3)
        os.killpg(child.pid, signal.SIGINT)  # Ctrl-C reaches the parent and both workers
        child.wait(timeout=60)
        assert b"KeyboardInterrupt" in (child.stderr.read() if child.stderr else b"")
        done = {int(p.name.rsplit("-", 1)[1]) for p in marks.glob("done-*")}
        assert {int(n.rsplit("-", 1)[1]) for n in running} <= done
        for start in done:
            assert (tmp_path / "out" / Batch("a", start, start + 1, "{}").file_name).exists()
        assert _gone(set(running.values()))
    finally:
        _kill_group(child)


def _kill_group(child: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    child.wait(timeout=30)


@pytest.mark.parametrize("address", ["tcp//10.0.0.5:8786", "10.0.0.5", "tcp://host", "ftp://a:1"])
def test_a_malformed_scheduler_address(address: str) -> None:
    with pytest.raises(SchedulerError, match="not a Dask scheduler address"):
        with open_executor(scheduler=address):
            pass


def test_an_unreachable_scheduler(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    t0 = time.perf_counter()
    with pytest.raises(SchedulerError, match=r"tcp://127.0.0.1:9: no Dask scheduler answered"):
        with open_executor(scheduler="tcp://127.0.0.1:9", connect_timeout_s=2.0):
            pass
    assert time.perf_counter() - t0 < 20.0


def test_a_trial_into_a_file_stops_before_any_work(tmp_path: Path) -> None:
    from spinefuse.cohort.trial import run_trial
    from spinefuse.errors import OutputFolderError

    (tmp_path / "spec.yaml").write_text("schema: spinefuse/cohort@1\n")
    with pytest.raises(OutputFolderError, match="spec.yaml: is a file"):
        run_trial(cohort_from_dict(SPEC), tmp_path / "spec.yaml", workers=1, progress=False)
    assert (tmp_path / "spec.yaml").read_text() == "schema: spinefuse/cohort@1\n"
