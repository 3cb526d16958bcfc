"""The cohort runner: batches of virtual patients behind a ``concurrent.futures.Executor`` seam.

Work is cut into batches (tasks of about 0.5–2 s). Each finished batch is written to its own
Parquet file as soon as it completes (atomically, with the spec's hash and the batch's range in
its metadata), so an interrupted run resumes without redoing or losing work: a batch whose file
is complete and of this spec is not run again. Locally the executor is a process pool whose
workers exit with their parent; with a Dask scheduler address (or a ``distributed.Client``) it is
Dask's executor.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from spinefuse.errors import MissingDependencyError, ParameterError, SchedulerError, quoted

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


BATCH_METADATA_KEY = b"spinefuse.batch"
"""Parquet key-value metadata of a batch file: which spec (SHA-256), arm and patients it holds."""
INTERRUPT_GRACE_S = 30.0
"""How long an interrupted run waits for the batches already running, to save them."""
PARENT_POLL_S = 0.5
"""How often a worker checks that the process that started it is still alive."""


def _identity(batch: Batch) -> bytes:
    digest = hashlib.sha256(batch.spec_json.encode()).hexdigest()
    return json.dumps(
        {"spec_sha256": digest, "arm": batch.arm, "start": batch.start, "stop": batch.stop},
        sort_keys=True,
    ).encode()


def _write_parquet(frame: pd.DataFrame, path: Path, batch: Batch | None = None) -> None:
    """Write ``frame`` atomically; with ``batch`` its identity goes into the file's metadata."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if batch is not None:
        table = table.replace_schema_metadata(
            {**(table.schema.metadata or {}), BATCH_METADATA_KEY: _identity(batch)}
        )
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def batch_file_is_current(path: Path, batch: Batch) -> bool:
    """Whether ``path`` is a complete batch file of exactly this batch of this spec; a missing,
    truncated or unreadable file, or one from another seed, spec or range, is not."""
    try:
        meta = pq.read_metadata(path)
    except (OSError, pa.ArrowException):
        return False
    stored = (meta.metadata or {}).get(BATCH_METADATA_KEY)
    return stored == _identity(batch) and meta.num_rows == batch.stop - batch.start


def _stop_with_parent(parent: int) -> None:
    """Worker initialiser: leave Ctrl-C to the parent (which saves finished batches and stops
    the pool), and exit as soon as the parent is gone (killed with SIGKILL or SIGTERM)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a forked worker inherits the parent's

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(1)
            time.sleep(PARENT_POLL_S)

    threading.Thread(target=watch, name="spinefuse-parent-watch", daemon=True).start()


SCHEDULER_ADDRESS = re.compile(r"(tcp|tls|ucx|ws|wss|inproc)://[A-Za-z0-9_.\-\[\]:]+:\d{1,5}/?")


@contextmanager
def open_executor(
    workers: int | None = None, scheduler: str | None = None, connect_timeout_s: float = 10.0
) -> Iterator[Executor]:
    """A local process pool, or Dask's executor when a scheduler address is given.

    ``scheduler`` may be ``"tcp://host:8786"`` or ``"local"`` (a ``LocalCluster`` of ``workers``
    single-threaded processes). For SLURM/PBS clusters start the scheduler with dask-jobqueue and
    pass its address (see the README). A malformed address, or one where no scheduler answers
    within ``connect_timeout_s``, is a :class:`SchedulerError`. Pool workers exit with the
    process that started them."""
    if scheduler is None:
        with ProcessPoolExecutor(
            max_workers=workers or os.cpu_count() or 1,
            initializer=_stop_with_parent,
            initargs=(os.getpid(),),
        ) as pool:
            yield pool
        return
    if scheduler != "local" and not SCHEDULER_ADDRESS.fullmatch(scheduler):
        raise SchedulerError(
            f"--scheduler {quoted(scheduler, 100)}: not a Dask scheduler address; give "
            "'tcp://host:port' (e.g. tcp://10.0.0.5:8786) or 'local'"
        )
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
        try:
            client = Client(scheduler, timeout=f"{connect_timeout_s}s")
        except (OSError, TimeoutError, ValueError, TypeError) as err:
            raise SchedulerError(
                f"--scheduler {scheduler}: no Dask scheduler answered within "
                f"{connect_timeout_s:g} s ({type(err).__name__}); start one (dask scheduler) or "
                "check the host and port"
            ) from None
    try:
        yield client.get_executor()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _max_pending(executor: Executor) -> int:
    workers = getattr(executor, "_max_workers", None) or os.cpu_count() or 1
    return max(4, 4 * int(workers))


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Within the main thread, SIGTERM interrupts like Ctrl-C, so finished batches are saved."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    old = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def run_batches(
    batches: list[Batch], fn: BatchFn, out_dir: Path, executor: Executor, progress: bool = True
) -> list[Path]:
    """Run every batch without a current Parquet file; return all batch files in batch order.

    A file is current when it holds exactly its batch of this spec (:func:`batch_file_is_current`);
    a truncated file or one from another seed or spec is computed again. Existing files are
    checked while the first batches already run, and at most a few batches per worker wait in
    the executor, so work starts at once at any cohort size. On Ctrl-C or SIGTERM the batches
    already finished or running are saved before the interruption goes on."""
    out_dir.mkdir(parents=True, exist_ok=True)
    total = sum(b.stop - b.start for b in batches)
    limit = _max_pending(executor)
    with (
        Progress(
            TextColumn("[bold]cohort"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>8} patients/s"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            disable=not progress,
        ) as bar,
        _sigterm_as_interrupt(),
    ):
        task = bar.add_task("cohort", total=total, completed=0, rate="-")
        t0, finished = time.perf_counter(), 0
        pending: dict[Future[pd.DataFrame], Batch] = {}

        def save(done: set[Future[pd.DataFrame]]) -> None:
            nonlocal finished
            for fut in done:
                batch = pending.pop(fut)
                _write_parquet(fut.result(), out_dir / batch.file_name, batch)
                finished += batch.stop - batch.start
                rate = finished / max(time.perf_counter() - t0, 1e-9)
                bar.update(task, advance=batch.stop - batch.start, rate=f"{rate:.1f}")

        try:
            for batch in batches:
                if batch_file_is_current(out_dir / batch.file_name, batch):
                    bar.update(task, advance=batch.stop - batch.start)
                    continue
                while len(pending) >= limit:
                    save(wait(pending, return_when=FIRST_COMPLETED).done)
                pending[executor.submit(fn, batch)] = batch
            while pending:
                save(wait(pending, return_when=FIRST_COMPLETED).done)
        except KeyboardInterrupt:
            _save_after_interrupt(pending, save)
            raise
    return [out_dir / b.file_name for b in batches]


def _save_after_interrupt(
    pending: dict[Future[pd.DataFrame], Batch], save: Callable[[set[Future[pd.DataFrame]]], None]
) -> None:
    """Cancel the batches not started; save those finished or finishing within the grace."""
    for fut in list(pending):
        if fut.cancel():
            pending.pop(fut)
    done, _ = wait(pending, timeout=INTERRUPT_GRACE_S)
    save({f for f in done if not f.cancelled() and f.exception() is None})
