"""The workstation's web application: the JSON API under ``/api`` and the browser UI at ``/``.

:func:`create_app` wires the store, the job runner and the plan editor's workbench into a
FastAPI app. Every ``/api`` endpoint but ``/api/auth/login`` needs a signed-in user; the UI's
static files carry no patient data and are served to anyone.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from spinefuse.errors import SpinefuseError
from spinefuse.service.files import FileStore, UploadLimits
from spinefuse.service.jobs import JobRunner
from spinefuse.service.store.database import Store, open_store
from spinefuse.service.workstation import Workbench, cohort_job, pipeline_job, segmentation_job

WEB_DIR = Path(__file__).with_name("web")
log = logging.getLogger("spinefuse.service")


def unprocessable(message: object) -> object:
    """A 422's detail in the shape the OpenAPI spec documents for 422 (a list of errors with
    loc, msg and type), so a domain error reads like a validation error."""
    if isinstance(message, str):
        return [{"loc": ["body"], "msg": message, "type": "value_error"}]
    return message


@dataclass
class Workstation:
    """Everything the endpoints share: the store, its files, the jobs and the workbench."""

    store: Store
    jobs: JobRunner
    workbench: Workbench
    files: FileStore
    limits: UploadLimits = field(default_factory=UploadLimits)


def create_app(
    store: Store | str | None = None,
    *,
    workers: int = 1,
    resume_jobs: bool = False,
    limits: UploadLimits | None = None,
    start_jobs: bool = True,
) -> FastAPI:
    """The FastAPI app on a store (an open one, or a URL; the default SQLite file otherwise)."""
    st = store if isinstance(store, Store) else open_store(store)
    jobs = JobRunner(
        st,
        {"pipeline": pipeline_job, "segmentation": segmentation_job, "cohort": cohort_job},
        workers=workers,
    )
    ws = Workstation(st, jobs, Workbench(st), FileStore(st.files_dir), limits or UploadLimits())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if start_jobs:
            jobs.start(resume_interrupted=resume_jobs)
        log.info("spinefuse workstation on store %s", st.safe_url)
        yield
        jobs.stop()

    app = FastAPI(
        title="spinefuse workstation",
        version="1",
        description=(
            "Cases, images, pipeline runs, plan versions and jobs of the spinefuse planning "
            "workstation. Bodies are the pipeline's own records (Case, SpineGeometry, "
            "Assessment, SurgicalPlan, MechanicsResult, HealingCourse, Forecast, the run "
            "manifest). Sign in with POST /api/auth/login (browser: session cookie and the "
            "X-CSRF-Token header) or send Authorization: Bearer <token>."
        ),
        lifespan=lifespan,
    )
    app.state.workstation = ws

    @app.exception_handler(SpinefuseError)
    async def spinefuse_error(_request: Request, err: SpinefuseError) -> JSONResponse:
        return JSONResponse({"detail": unprocessable(str(err))}, status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, err: HTTPException) -> JSONResponse:
        detail = unprocessable(err.detail) if err.status_code == 422 else err.detail
        return JSONResponse(
            {"detail": detail}, status_code=err.status_code, headers=getattr(err, "headers", None)
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, err: RequestValidationError) -> JSONResponse:
        # the error list without the input values (they may be patient data)
        errors = [
            {"loc": e.get("loc"), "msg": e.get("msg"), "type": e.get("type")} for e in err.errors()
        ]
        return JSONResponse({"detail": errors}, status_code=422)

    from spinefuse.service.api import audit, auth, cases, cohorts, plans, runs, users
    from spinefuse.service.api import jobs as jobs_api

    for module in (auth, users, cases, runs, plans, jobs_api, cohorts, audit):
        app.include_router(module.router, prefix="/api")

    @app.get("/api/{rest:path}", include_in_schema=False)
    async def unknown(rest: str) -> None:
        raise HTTPException(404, "no such endpoint")

    if (WEB_DIR / "index.html").is_file():
        app.mount("/", StaticFiles(directory=WEB_DIR, html=True), name="web")
    return app
