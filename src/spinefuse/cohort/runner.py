"""The cohort runner: batches of virtual patients behind a ``concurrent.futures.Executor`` seam.

Work is cut into batches (tasks of about 0.5–2 s). Each finished batch is written to its own
Parquet file as soon as it completes (atomically), so an interrupted run resumes without redoing
or losing work: a batch whose file exists is not run again. Locally the executor is a process
pool; with a Dask scheduler address (or a ``distributed.Client``) it is Dask's executor.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from spinefuse.errors import MissingDependencyError, ParameterError

BatchFn = Callable[["Batch"], pd.DataFrame]


@dataclass(frozen=True)
class Batch:
    """One task: patients ``start`` (inclusive) to ``stop`` (exclusive) of one arm."""

    arm: str
    start: int
    stop: int
    spec_json: str

    @property
    def file_name(self) -> str:
        return f"{self.arm}-{self.start:07d}-{self.stop:07d}.parquet"


def plan_batches(spec_json: str, arms: list[str], size: int, batch_size: int) -> list[Batch]:
    """Cut ``size`` patients of every arm into batches of ``batch_size``."""
    if batch_size < 1:
        raise ParameterError(f"batch_size = {batch_size}: must be at least 1")
    return [
        Batch(arm, s, min(s + batch_size, size), spec_json)
        for arm in arms
        for s in range(0, size, batch_size)
    ]


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)


@contextmanager
def open_executor(workers: int | None = None, scheduler: str | None = None) -> Iterator[Executor]:
    """A local process pool, or Dask's executor when a scheduler address is given.

    ``scheduler`` may be ``"tcp://host:8786"`` or ``"local"`` (a ``LocalCluster`` of ``workers``
    single-threaded processes). For SLURM/PBS clusters start the scheduler with dask-jobqueue and
    pass its address (see the README)."""
    if scheduler is None:
        with ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
            yield pool
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(
            "a Dask scheduler was given but dask.distributed is not installed: "
            "pip install 'spinefuse[dask]'"
        ) from err
    if scheduler == "local":
        cluster = LocalCluster(
            n_workers=workers or os.cpu_count() or 1,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        )
        client = Client(cluster)
    else:
        cluster = None
        client = Client(scheduler)
    try:
        yield client.get_executor()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_batches(
    batches: list[Batch], fn: BatchFn, out_dir: Path, executor: Executor, progress: bool = True
) -> list[Path]:
    """Run every batch whose Parquet file is missing; return all batch files in batch order."""
    out_dir.mkdir(parents=True, exist_ok=True)
    todo = [b for b in batches if not (out_dir / b.file_name).exists()]
    done_patients = sum(b.stop - b.start for b in batches if b not in todo)
    total = sum(b.stop - b.start for b in batches)
    with Progress(
        TextColumn("[bold]cohort"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>8} patients/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        disable=not progress,
    ) as bar:
        task = bar.add_task("cohort", total=total, completed=done_patients, rate="-")
        t0, finished = time.perf_counter(), 0
        futures: dict[Future[pd.DataFrame], Batch] = {executor.submit(fn, b): b for b in todo}
        for fut in as_completed(futures):
            batch = futures[fut]
            _write_parquet(fut.result(), out_dir / batch.file_name)
            finished += batch.stop - batch.start
            rate = finished / max(time.perf_counter() - t0, 1e-9)
            bar.update(task, advance=batch.stop - batch.start, rate=f"{rate:.1f}")
    return [out_dir / b.file_name for b in batches]
