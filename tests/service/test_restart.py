"""A killed server (SIGKILL in the middle of a pipeline job) loses no committed case, plan
version or record; the restarted server marks the job interrupted, resumes it on request, and
the resumed run's records are exactly those ``spinefuse run`` writes for the sample patient."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service.conftest import PASSWORD, upload_sample
from tests.service.server import add_user_cli, served

pytest.importorskip("fastapi")

STAGES = ("anatomy", "assessment", "plan", "mechanics", "healing", "forecast")


def _wait(c: httpx.Client, job: int, until: Any, limit_s: float = 600) -> dict[str, Any]:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        state: dict[str, Any] = c.get(f"/api/jobs/{job}").json()
        if until(state):
            return state
        time.sleep(0.3)
    raise AssertionError(f"job {job} never reached the state wanted: {state}")


def _client(base: str) -> httpx.Client:
    c = httpx.Client(base_url=base, timeout=120)
    r = c.post("/api/auth/login", json={"username": "chief", "password": PASSWORD})
    assert r.status_code == 200
    token = c.post(
        "/api/auth/tokens", json={"name": "test"}, headers={"X-CSRF-Token": r.json()["csrf_token"]}
    ).json()["token"]
    c.cookies.clear()
    c.headers["Authorization"] = f"Bearer {token}"
    return c


@pytest.mark.slow
def test_kill_mid_job_then_resume(
    tmp_path: Path, sample_case_path: Path, sample_run_dir: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    files, log = tmp_path / "files", tmp_path / "server.log"
    assert "created" in add_user_cli(url, "chief", PASSWORD, "admin")
    with served(url, files, log) as proc:
        c = _client(proc.base_url)  # type: ignore[attr-defined]
        pk = upload_sample(c, {}, sample_case_path)
        first = c.post(f"/api/cases/{pk}/runs", json={"until": "plan"}).json()
        done = _wait(c, first["job"], lambda s: s["status"] in ("done", "failed"))
        assert done["status"] == "done", done
        v1 = c.get(f"/api/cases/{pk}/plans/1").json()
        edited = json.loads(json.dumps(v1["plan"]))
        edited["screws"][0]["length_mm"] = 40.0
        v2 = c.post(f"/api/cases/{pk}/plans", json={"plan": edited, "parent_version": 1})
        assert v2.status_code == 201 and v2.json()["version"] == 2
        before = {
            "case": c.get(f"/api/cases/{pk}").json(),
            "plans": c.get(f"/api/cases/{pk}/plans").json(),
            "records": c.get(f"/api/runs/{first['id']}/records").json(),
        }
        assert set(before["records"]) == {"anatomy", "assessment", "plan"}
        second = c.post(f"/api/cases/{pk}/runs", json={}).json()
        _wait(c, second["job"], lambda s: s["status"] == "running" and s["progress"] > 0)
        proc.kill()
        proc.wait(10)
    with served(url, files, log) as proc:
        c = _client(proc.base_url)  # type: ignore[attr-defined]
        job = c.get(f"/api/jobs/{second['job']}").json()
        assert job["status"] == "interrupted" and "resume" in job["message"]
        assert c.get(f"/api/cases/{pk}").json() == {**before["case"], "runs": 2}
        assert c.get(f"/api/cases/{pk}/plans").json() == before["plans"]
        assert c.get(f"/api/runs/{first['id']}/records").json() == before["records"]
        assert c.post(f"/api/jobs/{second['job']}/resume").status_code == 200
        state = _wait(c, second["job"], lambda s: s["status"] in ("done", "failed"))
        assert state["status"] == "done" and state["attempts"] == 2, state
        records = c.get(f"/api/runs/{second['id']}/records").json()
        run = c.get(f"/api/runs/{second['id']}").json()
    # one answer per patient and seed: the service's records are spinefuse run's
    assert run["finished"] and run["stages"] == list(STAGES)
    for stage in STAGES:
        assert records[stage] == json.loads((sample_run_dir / f"{stage}.json").read_text()), stage
    assert "sample-62F" not in log.read_text()
