"""The case store on SQLite and on a real PostgreSQL server: migrations, accounts, plan
versions that are never overwritten, the audit log, content-addressed files and durable jobs."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from sqlalchemy import inspect, select

from spinefuse.service.auth import AccountError, add_user, authenticate
from spinefuse.service.files import FileStore
from spinefuse.service.jobs import INTERRUPTED_MESSAGE, JobContext, JobRunner
from spinefuse.service.store import Store, open_store
from spinefuse.service.store.migrate import current_revision
from spinefuse.service.store.models import (
    AuditEvent,
    CaseRow,
    JobRow,
    PlanVersion,
    RunRecord,
    RunRow,
)
from spinefuse.service.workstation import add_plan_version

TABLES = {
    "teams",
    "users",
    "sessions",
    "api_tokens",
    "cases",
    "files",
    "case_images",
    "label_versions",
    "jobs",
    "runs",
    "run_records",
    "plan_versions",
    "audit",
    "alembic_version",
}


def _case(st: Store) -> tuple[int, int]:
    with st.session() as s:
        u = add_user(s, "surgeon", "long enough pw", "surgeon", "spine-a")
        row = CaseRow(team_id=u.team_id, case_id="c-001", record="{}", created_by=u.id)
        s.add(row)
        s.flush()
        return row.id, u.id


def test_migrated_to_head_with_every_table(store: Store) -> None:
    assert current_revision(store.engine) == "0002"
    assert set(inspect(store.engine).get_table_names()) == TABLES
    # opening again is a no-op migration and keeps the data
    pk, _ = _case(store)
    again = open_store(store.url, store.files_dir)
    with again.session() as s:
        assert s.get(CaseRow, pk) is not None
    again.close()


def test_passwords_are_argon2_and_names_unique(store: Store) -> None:
    with store.session() as s:
        u = add_user(s, "ada", "long enough pw", "admin", "spine-a")
        assert u.password_hash.startswith("$argon2id$")
        assert "long enough pw" not in u.password_hash
    with store.session() as s:
        assert authenticate(s, "ada", "long enough pw") is not None
        assert authenticate(s, "ada", "wrong password") is None
        assert authenticate(s, "nobody", "long enough pw") is None
        with pytest.raises(AccountError, match="exists already"):
            add_user(s, "ada", "another long pw", "surgeon")
        with pytest.raises(AccountError, match="role"):
            add_user(s, "bob", "long enough pw", "nurse")
        with pytest.raises(AccountError, match="8 characters"):
            add_user(s, "bob", "short", "surgeon")


def test_plan_versions_are_numbered_and_never_overwritten(
    store: Store, sample_run_dir: Path
) -> None:
    from spinefuse.mechanics.result import MechanicsResult
    from spinefuse.plan.surgical_plan import SurgicalPlan

    plan = SurgicalPlan.model_validate_json((sample_run_dir / "plan.json").read_bytes())
    mech = MechanicsResult.model_validate_json((sample_run_dir / "mechanics.json").read_bytes())
    pk, uid = _case(store)
    with store.session() as s:
        v1 = add_plan_version(s, pk, plan, "planner", uid, None, mech)
        first_text, v1_id = v1.plan, v1.id
    edited = plan.model_copy(update={"technique": "PLF", "cages": []})
    with store.session() as s:
        v2 = add_plan_version(s, pk, edited, "surgeon", uid, v1_id, None, "no cage")
        assert (v2.version, v2.parent_id) == (2, v1_id)
    with store.session() as s:
        rows = s.scalars(
            select(PlanVersion).where(PlanVersion.case_pk == pk).order_by(PlanVersion.version)
        ).all()
        assert [r.version for r in rows] == [1, 2]
        assert rows[0].plan == first_text  # untouched by the edit
        assert SurgicalPlan.model_validate_json(rows[0].plan) == plan
        assert SurgicalPlan.model_validate_json(rows[1].plan).technique == "PLF"
        assert MechanicsResult.model_validate_json(rows[0].mechanics) == mech


def test_one_case_id_per_team(store: Store) -> None:
    from sqlalchemy.exc import IntegrityError

    pk, uid = _case(store)
    with pytest.raises(IntegrityError):
        with store.session() as s:
            team = s.get(CaseRow, pk).team_id  # type: ignore[union-attr]
            s.add(CaseRow(team_id=team, case_id="c-001", record="{}", created_by=uid))


def test_records_and_audit_round_trip(store: Store, sample_run_dir: Path) -> None:
    pk, uid = _case(store)
    text = (sample_run_dir / "mechanics.json").read_text()
    with store.session() as s:
        rr = RunRow(case_pk=pk, seed=0, folder="x")
        s.add(rr)
        s.flush()
        s.add(RunRecord(run_id=rr.id, stage="mechanics", record=text))
        s.add(AuditEvent(user_id=uid, action="run_started", target=f"case:{pk}"))
        run_id = rr.id
    with store.session() as s:
        rec = s.scalar(select(RunRecord).where(RunRecord.run_id == run_id))
        assert rec is not None and json.loads(rec.record) == json.loads(text)
        assert s.scalar(select(AuditEvent.action)) == "run_started"


def test_files_are_content_addressed(tmp_path: Path, sample_case_path: Path) -> None:
    from spinefuse.service.files import UploadLimits

    fs = FileStore(tmp_path)
    data = (sample_case_path.parent / "ct_labels.nii.gz").read_bytes()
    sha1, _ = fs.ingest(data, "label_map", UploadLimits())
    sha2, _ = fs.ingest(data, "label_map", UploadLimits())
    assert sha1 == sha2
    assert len(list((tmp_path / "objects").rglob("*.nii.gz"))) == 1


def test_jobs_claimed_once_interrupted_on_restart_and_resumed(store: Store) -> None:
    pk, uid = _case(store)
    started, release = threading.Event(), threading.Event()
    ran: list[int] = []

    def slow(ctx: JobContext) -> dict[str, int]:
        ran.append(ctx.job_id)
        ctx.progress(0.5, "mechanics")
        started.set()
        release.wait(10)
        return {"n": 1}

    with store.session() as s:
        team = s.get(CaseRow, pk).team_id  # type: ignore[union-attr]
    a = JobRunner(store, {"pipeline": slow}, workers=2)
    job = a.submit("pipeline", {}, team_id=team, user_id=uid, case_pk=pk)
    assert a._claim() == job
    assert a._claim() is None  # nobody claims a running job twice
    with store.session() as s:
        row = s.get(JobRow, job)
        assert row is not None and row.status == "running" and row.attempts == 1
    # a new server finds the job still "running": its runner died with it
    b = JobRunner(store, {"pipeline": slow})
    assert b.recover() == 1
    with store.session() as s:
        row = s.get(JobRow, job)
        assert row is not None and (row.status, row.message) == ("interrupted", INTERRUPTED_MESSAGE)
    b.resume(job)
    b.start()
    assert started.wait(20)
    with store.session() as s:
        row = s.get(JobRow, job)
        assert row is not None and (row.status, row.stage, row.progress) == (
            "running",
            "mechanics",
            0.5,
        )
    release.set()
    for _ in range(100):
        with store.session() as s:
            row = s.get(JobRow, job)
            assert row is not None
            if row.status == "done":
                break
        threading.Event().wait(0.1)
    b.stop()
    assert row.status == "done" and json.loads(row.result) == {"n": 1} and ran == [job]
