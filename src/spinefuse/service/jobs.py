"""Background jobs: long work (a pipeline run, a segmentation, a cohort) runs on worker threads
while its state lives in the store, so a browser that reloads finds it again and a server that
restarts knows what was cut short.

A job is a row (queued → running → done | failed | interrupted). Workers claim queued rows one at
a time with a conditional update, so two workers never run one job. At start-up every row still
``running`` belongs to a server that died: it becomes ``interrupted``, and ``resume`` queues it
again (a pipeline job then runs again from its first stage into the same run folder; a cohort
continues from its last finished batch). Progress is written to the row as it happens and
streamed to the browser by :func:`job_events` as server-sent events.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import select, update

from spinefuse.errors import SpinefuseError
from spinefuse.service.store.database import Store
from spinefuse.service.store.models import JobRow

log = logging.getLogger("spinefuse.service.jobs")

JobKind = Literal["pipeline", "segmentation", "cohort"]
JobStatus = Literal["queued", "running", "done", "failed", "interrupted"]
TERMINAL = frozenset({"done", "failed", "interrupted"})
INTERRUPTED_MESSAGE = "the server stopped while this job ran; resume it to run it again"


class JobError(SpinefuseError, RuntimeError):
    """A job cannot be submitted or resumed as asked."""


@dataclass
class JobContext:
    """What a job handler gets: the job's id and parameters, and a way to report progress."""

    job_id: int
    params: dict[str, Any]
    store: Store
    team_id: int
    case_pk: int | None
    user_id: int

    def progress(self, fraction: float, stage: str = "", message: str = "") -> None:
        """Record how far the job got (0–1) and the stage it is in."""
        with self.store.session() as s:
            s.execute(
                update(JobRow)
                .where(JobRow.id == self.job_id)
                .values(progress=max(0.0, min(1.0, fraction)), stage=stage[:40], message=message)
            )


Handler = Callable[[JobContext], dict[str, Any]]


class JobRunner:
    """Worker threads that run the store's queued jobs with the handler of their kind."""

    def __init__(self, store: Store, handlers: dict[str, Handler], workers: int = 1) -> None:
        self.store, self.handlers, self.workers = store, handlers, workers
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def recover(self) -> int:
        """Mark every job left ``running`` by a stopped server as interrupted; returns how many."""
        with self.store.session() as s:
            res = s.execute(
                update(JobRow)
                .where(JobRow.status == "running")
                .values(status="interrupted", message=INTERRUPTED_MESSAGE)
            )
            n = int(getattr(res, "rowcount", 0) or 0)
        if n:
            log.warning("%d job(s) were interrupted by the last shutdown", n)
        return n

    def start(self, resume_interrupted: bool = False) -> None:
        """Recover, optionally queue the interrupted jobs again, and start the workers."""
        self.recover()
        if resume_interrupted:
            with self.store.session() as s:
                for job in s.scalars(select(JobRow).where(JobRow.status == "interrupted")):
                    job.status, job.message = "queued", "resumed at start-up"
        for n in range(self.workers):
            t = threading.Thread(target=self._loop, name=f"spinefuse-job-{n}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            t.join(timeout)

    def submit(
        self,
        kind: str,
        params: dict[str, Any],
        *,
        team_id: int,
        user_id: int,
        case_pk: int | None = None,
    ) -> int:
        """Queue a job (committed at once) and wake a worker; returns its id."""
        if kind not in self.handlers:
            raise JobError(f"job kind {kind!r}: use one of {', '.join(self.handlers)}")
        with self.store.session() as s:
            job = JobRow(
                kind=kind,
                params=json.dumps(params),
                team_id=team_id,
                case_pk=case_pk,
                created_by=user_id,
            )
            s.add(job)
            s.flush()
            job_id = job.id
        self._wake.set()
        return job_id

    def resume(self, job_id: int) -> None:
        """Queue an interrupted or failed job again."""
        with self.store.session() as s:
            res = s.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.status.in_(("interrupted", "failed")))
                .values(status="queued", progress=0.0, stage="", message="resumed")
            )
            if not getattr(res, "rowcount", 0):
                raise JobError(f"job {job_id} is not interrupted or failed; nothing to resume")
        self._wake.set()

    def _claim(self) -> int | None:
        with self.store.session() as s:
            queued = s.scalars(
                select(JobRow.id).where(JobRow.status == "queued").order_by(JobRow.id).limit(5)
            ).all()
            for job_id in queued:
                res = s.execute(
                    update(JobRow)
                    .where(JobRow.id == job_id, JobRow.status == "queued")
                    .values(
                        status="running",
                        started_at=datetime.now(UTC),
                        attempts=JobRow.attempts + 1,
                    )
                )
                if getattr(res, "rowcount", 0):
                    return int(job_id)
        return None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                job_id = self._claim()
            except Exception:  # the database is away for a moment: try again
                log.exception("could not claim a job")
                job_id = None
            if job_id is None:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            self.run_job(job_id)

    def run_job(self, job_id: int) -> None:
        """Run one claimed job to its end and record the outcome."""
        with self.store.session() as s:
            job = s.get(JobRow, job_id)
            assert job is not None
            ctx = JobContext(
                job_id,
                json.loads(job.params),
                self.store,
                job.team_id,
                job.case_pk,
                job.created_by,
            )
            handler = self.handlers[job.kind]
        status: JobStatus = "done"
        message, result = "", {}
        try:
            result = handler(ctx)
        except SpinefuseError as err:
            status, message = "failed", str(err)
        except Exception as err:  # a bug: keep the server running, log without patient data
            log.exception("job %d (%s) failed", job_id, type(err).__name__)
            status, message = "failed", f"internal error ({type(err).__name__}); see the log"
        with self.store.session() as s:
            s.execute(
                update(JobRow)
                .where(JobRow.id == job_id)
                .values(
                    status=status,
                    message=message,
                    result=json.dumps(result),
                    progress=1.0 if status == "done" else JobRow.progress,
                    finished_at=datetime.now(UTC),
                )
            )


def job_view(job: JobRow) -> dict[str, Any]:
    """A job as the API shows it."""
    return {
        "id": job.id,
        "kind": job.kind,
        "case": job.case_pk,
        "status": job.status,
        "progress": job.progress,
        "stage": job.stage,
        "message": job.message,
        "result": json.loads(job.result or "{}"),
        "attempts": job.attempts,
        "created_at": job.created_at.isoformat() if job.created_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


async def job_events(
    store: Store, job_id: int, poll_s: float = 0.4, limit_s: float = 3600.0
) -> AsyncIterator[str]:
    """Server-sent events for a job: one ``progress`` event per change of its row, ending with
    an ``end`` event when it reaches a final state (or after ``limit_s``)."""
    import anyio

    last = ""
    waited = 0.0
    while waited < limit_s:
        with store.session() as s:
            job = s.get(JobRow, job_id)
            view = job_view(job) if job is not None else None
        if view is None:
            yield "event: end\ndata: {}\n\n"
            return
        text = json.dumps(view)
        if text != last:
            yield f"event: progress\ndata: {text}\n\n"
            last = text
        if view["status"] in TERMINAL:
            yield f"event: end\ndata: {text}\n\n"
            return
        await anyio.sleep(poll_s)
        waited += poll_s
