"""Starting the workstation: ``spinefuse serve`` and ``spinefuse users add``, and the sample
patient a laptop installation starts on."""

from __future__ import annotations

import json
import logging
import secrets
import tempfile
from pathlib import Path

from sqlalchemy import func, select

from spinefuse.service.auth import add_user
from spinefuse.service.store.database import Store, open_store
from spinefuse.service.store.models import (
    CaseImage,
    CaseRow,
    JobRow,
    RunRow,
    StoredFile,
    User,
)

log = logging.getLogger("spinefuse.service")


def create_user(store_url: str | None, username: str, password: str, role: str, team: str) -> int:
    """Create a user in the store (the first admin, or anyone); returns the user's id."""
    store = open_store(store_url)
    try:
        with store.session() as s:
            return add_user(s, username, password, role, team).id
    finally:
        store.close()


def seed_sample(store: Store) -> tuple[str | None, str | None]:
    """Make the laptop workstation start on the sample patient: a surgeon account ``surgeon``
    (when the store has no user; its password is returned, to print once) and the sample case
    with its files and a pipeline run queued (when the team has no such case).
    Returns (username, password) when an account was made."""
    from spinefuse.case import load_case
    from spinefuse.sample import SAMPLE_ID, write_sample_case
    from spinefuse.service.files import FileStore, UploadLimits
    from spinefuse.service.workstation import run_folder, study_uploads

    made: tuple[str | None, str | None] = (None, None)
    with store.session() as s:
        if not s.scalar(select(func.count()).select_from(User)):
            password = secrets.token_urlsafe(9)
            add_user(s, "surgeon", password, "surgeon", "default")
            made = ("surgeon", password)
        user = s.scalars(select(User).order_by(User.id)).first()
        assert user is not None
        if s.scalar(
            select(CaseRow).where(CaseRow.team_id == user.team_id, CaseRow.case_id == SAMPLE_ID)
        ):
            return made
        files = FileStore(store.files_dir)
        with tempfile.TemporaryDirectory() as tmp:
            path = write_sample_case(Path(tmp) / "case")
            case = load_case(path)
            row = CaseRow(
                team_id=user.team_id,
                case_id=case.id,
                record=case.model_copy(update={"imaging": []}).to_json(),
                created_by=user.id,
            )
            s.add(row)
            s.flush()
            for study in case.imaging:
                for kind, file, details in study_uploads(study):
                    sha, size = files.ingest(file.read_bytes(), kind, UploadLimits())  # type: ignore[arg-type]
                    if s.get(StoredFile, sha) is None:
                        s.add(StoredFile(sha256=sha, kind=kind, size=size))
                        s.flush()
                    s.add(
                        CaseImage(
                            case_pk=row.id,
                            kind=kind,
                            modality=study.modality,
                            role=study.role,
                            sha256=sha,
                            details=json.dumps(details, sort_keys=True),
                            created_by=user.id,
                        )
                    )
        rr = RunRow(case_pk=row.id, seed=0, folder="")
        s.add(rr)
        s.flush()
        rr.folder = str(run_folder(store, rr.id))
        case_pk, run_id, team_id, user_id = row.id, rr.id, user.team_id, user.id
    with store.session() as s:
        job = JobRow(
            kind="pipeline",
            params=f'{{"run_id": {run_id}, "until": null}}',
            team_id=team_id,
            case_pk=case_pk,
            created_by=user_id,
        )
        s.add(job)
        s.flush()
        rr2 = s.get(RunRow, run_id)
        assert rr2 is not None
        rr2.job_id = job.id
    return made


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    store_url: str | None = None,
    files_dir: Path | None = None,
    sample: bool = False,
    resume_jobs: bool = False,
    workers: int = 1,
) -> None:
    """Open the store and run the workstation with uvicorn until stopped."""
    import uvicorn

    from spinefuse.service.app import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    store = open_store(store_url, files_dir)
    if sample:
        user, password = seed_sample(store)
        if user:
            print(f"sign in as '{user}' with password '{password}' (shown once)", flush=True)
    app = create_app(store, resume_jobs=resume_jobs, workers=workers)
    print(f"spinefuse workstation: http://{host}:{port}/ (store {store.safe_url})", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="info")
