"""The workstation's API: every endpoint refuses an unauthenticated request, each role gets
what it may and no more, no user reaches another team's case, the browser's cookie needs its
CSRF token, and the sample patient goes through upload, label confirmation, plan editing with
live mechanics, plan versions and their comparison."""

from __future__ import annotations

import io
import json
import logging
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.service.conftest import PASSWORD, sample_case_body, upload_sample

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402


def _fill(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path).replace("{stage}", "plan")


def test_every_endpoint_but_login_refuses_anonymous(app_client: Any) -> None:
    client, _users, _store = app_client
    spec = client.app.openapi()
    checked = 0
    for path, ops in spec["paths"].items():
        for method in ops:
            url = _fill(path).replace("/records/1", "/records/plan")
            if path == "/api/auth/login":
                continue
            r = client.request(method.upper(), url)
            assert r.status_code == 401, (method, path, r.status_code, r.text)
            checked += 1
    assert checked >= 30
    # a wrong or revoked token is no better
    assert client.get("/api/cases", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_login_cookie_needs_csrf_token_for_changes(app_client: Any, sample_case_path: Path) -> None:
    client, _users, _store = app_client
    assert (
        client.post("/api/auth/login", json={"username": "surgeon", "password": "x"}).status_code
        == 401
    )
    r = client.post("/api/auth/login", json={"username": "surgeon", "password": PASSWORD})
    assert r.status_code == 200
    csrf = r.json()["csrf_token"]
    cookie = r.headers.get_list("set-cookie")
    session = next(c for c in cookie if c.startswith("spinefuse_session="))
    assert "HttpOnly" in session and "SameSite=strict" in session.replace("Strict", "strict")
    assert client.get("/api/auth/me").json()["username"] == "surgeon"
    body = sample_case_body(sample_case_path)
    refused = client.post("/api/cases", json=body)
    assert refused.status_code == 403 and "CSRF" in refused.text
    assert (
        client.post("/api/cases", json=body, headers={"X-CSRF-Token": "forged"}).status_code == 403
    )
    made = client.post("/api/cases", json=body, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201
    # a token made in the browser works for scripts without cookies or CSRF
    tok = client.post("/api/auth/tokens", json={"name": "script"}, headers={"X-CSRF-Token": csrf})
    token = tok.json()["token"]
    assert client.post("/api/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 200
    assert client.get("/api/auth/me").status_code == 401
    bare = TestClient(client.app)
    assert (
        bare.get("/api/cases", headers={"Authorization": f"Bearer {token}"}).json()[0]["case_id"]
        == body["id"]
    )
    revoke = bare.delete(
        f"/api/auth/tokens/{tok.json()['id']}", headers={"Authorization": f"Bearer {token}"}
    )
    assert revoke.json()["revoked"] is True
    assert bare.get("/api/cases", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_roles(app_client: Any, sample_case_path: Path) -> None:
    client, users, _store = app_client
    body = sample_case_body(sample_case_path)
    assert client.post("/api/cases", json=body, headers=users.researcher).status_code == 403
    assert client.post("/api/cases", json=body, headers=users.surgeon).status_code == 201
    pk = client.get("/api/cases", headers=users.researcher).json()[0]["id"]
    # every role of the team reads the case; only admins manage users and read the audit log
    for name, h in users.all().items():
        assert client.get(f"/api/cases/{pk}", headers=h).status_code == 200, name
        want = 200 if name == "admin" else 403
        assert client.get("/api/users", headers=h).status_code == want, name
        assert client.get("/api/audit", headers=h).status_code == want, name
    new = {"username": "nurse.b", "password": "long enough pw", "role": "surgeon"}
    assert client.post("/api/users", json=new, headers=users.surgeon).status_code == 403
    assert client.post("/api/users", json=new, headers=users.admin).status_code == 201
    assert client.post("/api/users", json=new, headers=users.admin).status_code == 409
    names = [u["username"] for u in client.get("/api/users", headers=users.admin).json()]
    assert "nurse.b" in names and "other_team" not in names
    # researchers change no label map or plan
    up = client.post(
        f"/api/cases/{pk}/images",
        data={"kind": "nifti"},
        files={"file": ("ct.nii.gz", b"x")},
        headers=users.researcher,
    )
    assert up.status_code == 403
    assert (
        client.post(
            f"/api/cases/{pk}/labels", json={"edits": []}, headers=users.researcher
        ).status_code
        == 403
    )
    assert client.post(
        f"/api/cases/{pk}/plans", json={"plan": {}}, headers=users.researcher
    ).status_code in (403, 422)
    actions = [e["action"] for e in client.get("/api/audit", headers=users.admin).json()]
    assert "case_created" in actions and "user_created" in actions


def _other_team_refused(client: Any, users: Any, pk: int, run_id: int, job_id: int) -> None:
    h = users.other_team
    assert client.get("/api/cases", headers=h).json() == []
    assert client.get("/api/jobs", headers=h).json() == []
    for url in (
        f"/api/cases/{pk}",
        f"/api/cases/{pk}/levels",
        f"/api/cases/{pk}/volume.nii.gz",
        f"/api/cases/{pk}/labels.nii.gz",
        f"/api/cases/{pk}/spine",
        f"/api/cases/{pk}/plans",
        f"/api/cases/{pk}/plans/1",
        f"/api/cases/{pk}/plans/compare?a=1&b=2",
        f"/api/cases/{pk}/runs",
        f"/api/cases/{pk}/labels",
        f"/api/runs/{run_id}",
        f"/api/runs/{run_id}/records",
        f"/api/runs/{run_id}/records/plan",
        f"/api/runs/{run_id}/files/report.html",
        f"/api/jobs/{job_id}",
        f"/api/jobs/{job_id}/events",
    ):
        r = client.get(url, headers=h)
        assert r.status_code == 404, (url, r.status_code)
    for url, body in (
        (f"/api/cases/{pk}/labels", {"edits": []}),
        (f"/api/cases/{pk}/runs", {}),
        (f"/api/cases/{pk}/segment", None),
        (f"/api/cases/{pk}/plans/evaluate", {"plan": _plan(client, users, pk)}),
        (f"/api/cases/{pk}/plans/replan", {}),
        (f"/api/jobs/{job_id}/resume", None),
    ):
        r = client.post(url, json=body, headers=h)
        assert r.status_code == 404, (url, r.status_code)


def _plan(client: Any, users: Any, pk: int, version: int = 1) -> dict[str, Any]:
    r = client.get(f"/api/cases/{pk}/plans/{version}", headers=users.surgeon)
    assert r.status_code == 200, r.text
    plan: dict[str, Any] = r.json()["plan"]
    return plan


def test_sample_patient_through_the_workstation(
    app_client: Any, sample_case_path: Path, sample_run_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import nibabel as nib

    from spinefuse.service.workstation import import_run

    caplog.set_level(logging.DEBUG)
    client, users, store = app_client
    h = users.surgeon
    pk = upload_sample(client, h, sample_case_path)
    case = client.get(f"/api/cases/{pk}", headers=h).json()
    kinds = sorted(i["kind"] for i in case["images"])
    assert kinds == ["label_map"] * 2 + ["nifti"] * 8 + ["xray_landmarks"] * 4
    studies = case["record"]["imaging"]
    assert [s["modality"] for s in studies] == ["CT", "MR", "XR", "XR", "XR", "XR"]
    # the MR study is its seven series (sagittal T2 and T1, five axial T2) and its label map
    mr = studies[1]
    assert mr["label_convention"] == "totalspineseg" and "label_map" in mr
    assert [(x["plane"], x["weighting"]) for x in mr["series"]] == [
        ("sagittal", "T2"),
        ("sagittal", "T1"),
    ] + [("axial", "T2")] * 5

    # the image view: the volume and labels as NIfTI on the same grid, the 3-D surfaces
    ct = nib.load(sample_case_path.parent / "ct.nii.gz")
    got = client.get(f"/api/cases/{pk}/volume.nii.gz", headers=h)
    assert got.status_code == 200
    vol = nib.Nifti1Image.from_bytes(__import__("gzip").decompress(got.content))
    assert vol.shape == ct.shape
    assert np.allclose(np.asarray(vol.dataobj), np.asarray(ct.dataobj), atol=0.5)
    spine = client.get(f"/api/cases/{pk}/spine", headers=h).json()
    assert {lv["name"] for lv in spine["levels"]} >= {"L1", "L2", "L3", "L4", "L5", "S1"}
    assert all(len(lv["faces"]) % 3 == 0 and len(lv["vertices"]) % 3 == 0 for lv in spine["levels"])

    # label confirmation: the levels head to pelvis with flags, then a reject and a confirm
    levels = client.get(f"/api/cases/{pk}/levels", headers=h).json()
    names = [lv["name"] for lv in levels]
    assert [n for n in names if n in ("L1", "L2", "L3", "L4", "L5", "S1")] == [
        "L1",
        "L2",
        "L3",
        "L4",
        "L5",
        "S1",
    ]
    zs = [lv["centroid"][2] for lv in levels]
    assert zs == sorted(zs, reverse=True)
    for lv in levels:
        assert all(
            f["code"] in ("partial", "small", "unknown_id") or f["source"] == "gate"
            for f in lv["flags"]
        )
    bad = client.post(
        f"/api/cases/{pk}/labels", json={"edits": [{"label": 999, "action": "reject"}]}, headers=h
    )
    assert bad.status_code == 422 and "999" in bad.text
    bad = client.post(
        f"/api/cases/{pk}/labels",
        json={"edits": [{"label": levels[0]["label"], "action": "rename", "name": "Q9"}]},
        headers=h,
    )
    assert bad.status_code == 422
    top = levels[0]
    rejected = client.post(
        f"/api/cases/{pk}/labels",
        json={"edits": [{"label": top["label"], "action": "reject"}]},
        headers=h,
    )
    assert rejected.status_code == 201 and rejected.json()["version"] == 1
    after = client.get(f"/api/cases/{pk}/levels", headers=h).json()
    assert top["label"] not in [lv["label"] for lv in after] and len(after) == len(levels) - 1
    confirmed = client.post(f"/api/cases/{pk}/labels", json={"edits": []}, headers=h)
    assert confirmed.json()["version"] == 2
    assert [v["version"] for v in client.get(f"/api/cases/{pk}/labels", headers=h).json()] == [1, 2]

    # no run yet: the plan editor says so
    assert client.post(f"/api/cases/{pk}/plans/replan", json={}, headers=h).status_code == 409

    # the run 'spinefuse run' made of this patient, brought into the store
    with store.session() as s:
        uid = s.scalar(
            __import__("sqlalchemy").text("select id from users where username='surgeon'")
        )
    run_id = import_run(store, pk, sample_run_dir, uid)
    runs = client.get(f"/api/cases/{pk}/runs", headers=h).json()
    assert runs[0]["id"] == run_id and runs[0]["finished"] is True
    assert runs[0]["stages"] == [
        "anatomy",
        "assessment",
        "plan",
        "mechanics",
        "healing",
        "forecast",
    ]
    records = client.get(f"/api/runs/{run_id}/records", headers=h).json()
    for stage in runs[0]["stages"]:
        assert records[stage] == json.loads((sample_run_dir / f"{stage}.json").read_text())
    assert client.get(f"/api/runs/{run_id}/records/healing", headers=h).json() == records["healing"]
    report = client.get(f"/api/runs/{run_id}/files/report.html", headers=h)
    assert report.status_code == 200 and "<html" in report.text.lower()
    pdf = client.get(f"/api/runs/{run_id}/files/report.pdf", headers=h)
    assert pdf.content[:5] == b"%PDF-" and "attachment" in pdf.headers["content-disposition"]
    assert client.get(f"/api/runs/{run_id}/files/..%2Fcase.json", headers=h).status_code == 404

    # the plan editor: the planner's plan evaluates to the mechanics stage's own numbers
    plan = _plan(client, users, pk)
    v1 = client.get(f"/api/cases/{pk}/plans/1", headers=h).json()
    assert v1["source"] == "planner" and v1["mechanics"] == records["mechanics"]
    ev = client.post(f"/api/cases/{pk}/plans/evaluate", json={"plan": plan}, headers=h)
    assert ev.status_code == 200, ev.text
    base = ev.json()
    assert base["mechanics"]["segments"] == records["mechanics"]["segments"]
    assert base["summary"]["max_rod_stress_mpa"] == pytest.approx(
        records["mechanics"]["implants"]["max_rod_stress_mpa"]
    )
    roles = {r["segment"]: r["role"] for r in base["summary"]["segments"]}
    fused = plan["fuse_segments"]
    assert all(roles[f] == "fused" for f in fused)
    assert list(roles.values()).count("adjacent") in (1, 2)
    assert base["server_ms"] > 0

    # move one screw 4 mm caudally: its rod bends, the mechanics change, the screw is re-checked
    moved = json.loads(json.dumps(plan))
    sc = moved["screws"][0]
    sc["entry_point"][2] -= 4.0
    ev2 = client.post(f"/api/cases/{pk}/plans/evaluate", json={"plan": moved}, headers=h).json()
    assert ev2["plan"]["screws"][0]["entry_point"][2] == pytest.approx(sc["entry_point"][2])
    assert ev2["plan"]["rods"] != base["plan"]["rods"]
    assert ev2["summary"]["max_rod_stress_mpa"] != base["summary"]["max_rod_stress_mpa"]
    # aim a screw 40° laterally: the shaft leaves the vertebra and the breach shows at once
    wild = json.loads(json.dumps(plan))
    d = np.array(wild["screws"][0]["direction"])
    lateral = (
        np.array([1.0, 0, 0]) if wild["screws"][0]["side"] == "right" else np.array([-1.0, 0, 0])
    )
    wild["screws"][0]["direction"] = list(
        np.cos(np.radians(40)) * d + np.sin(np.radians(40)) * lateral
    )
    ev3 = client.post(f"/api/cases/{pk}/plans/evaluate", json={"plan": wild}, headers=h).json()
    assert (
        ev3["plan"]["screws"][0]["breach"] is True and ev3["plan"]["screws"][0]["breach_mm"] > 1.0
    )
    assert base["plan"]["screws"][0]["breach"] is False
    assert (
        ev3["plan"]["screws"][0]["medial_angle_deg"]
        < base["plan"]["screws"][0]["medial_angle_deg"] - 20
    )

    # plan again as PLF: no cage
    rp = client.post(f"/api/cases/{pk}/plans/replan", json={"technique": "PLF"}, headers=h).json()
    assert rp["plan"]["technique"] == "PLF" and rp["plan"]["cages"] == []

    # keep the moved plan as version 2; version 1 stays; compare them side by side
    saved = client.post(
        f"/api/cases/{pk}/plans",
        json={"plan": moved, "parent_version": 1, "note": "caudal L4"},
        headers=h,
    )
    assert saved.status_code == 201 and saved.json()["version"] == 2
    assert client.get(f"/api/cases/{pk}/plans/1", headers=h).json()["plan"] == plan
    cmp_ = client.get(f"/api/cases/{pk}/plans/compare?a=1&b=2", headers=h).json()
    whats = [d["what"] for d in cmp_["differences"]]
    first = f"screw {plan['screws'][0]['vertebra']} {plan['screws'][0]['side']} entry_point"
    assert first in whats and "rods" in whats
    assert cmp_["a"]["summary"] and cmp_["b"]["summary"]

    # a job: the SSE stream of a finished one ends at once with its state
    job = client.post(f"/api/cases/{pk}/segment", headers=h).json()["job"]
    for _ in range(200):
        state = client.get(f"/api/jobs/{job}", headers=h).json()
        if state["status"] in ("done", "failed"):
            break
        __import__("time").sleep(0.1)
    assert state["status"] == "done", state
    assert state["result"]["label_source"] == "file"
    events = client.get(f"/api/jobs/{job}/events", headers=h).text
    assert "event: progress" in events and "event: end" in events and '"status": "done"' in events
    assert client.post(f"/api/jobs/{job}/resume", headers=h).status_code == 409

    _other_team_refused(client, users, pk, run_id, job)

    # nothing that names the patient reached the log
    text = caplog.text
    assert body_id(sample_case_path) not in text


def body_id(sample_case_path: Path) -> str:
    return str(sample_case_body(sample_case_path)["id"])


def _zip(entries: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_uploads_checked_and_deidentified(app_client: Any, sample_case_path: Path) -> None:
    import nibabel as nib
    from pydicom import dcmread

    client, users, store = app_client
    h = users.surgeon
    r = client.post("/api/cases", json=sample_case_body(sample_case_path), headers=h)
    pk = r.json()["id"]

    def up(kind: str, name: str, data: bytes) -> Any:
        return client.post(
            f"/api/cases/{pk}/images", data={"kind": kind}, files={"file": (name, data)}, headers=h
        )

    traversal = up("dicom_zip", "s.zip", _zip({"../../etc/evil.dcm": b"x"}))
    assert traversal.status_code == 422 and "outside" in traversal.text
    absolute = up("dicom_zip", "s.zip", _zip({"/abs.dcm": b"x"}))
    assert absolute.status_code == 422
    bomb = up("dicom_zip", "s.zip", _zip({"a.dcm": b"\0" * (50 * 1024**2)}))
    assert bomb.status_code == 422 and "bomb" in bomb.text
    assert up("dicom_zip", "s.zip", b"not a zip").status_code == 422
    assert up("dicom_zip", "s.zip", _zip({"readme.txt": b"hello"})).status_code == 422
    assert up("nifti", "ct.nii.gz", b"garbage").status_code == 422
    assert up("xray_landmarks", "x.csv", b"# view: sideways\n").status_code == 422

    # a NIfTI whose description names the patient is kept without it
    ct = nib.load(sample_case_path.parent / "ct.nii.gz")
    named = nib.Nifti1Image(np.asarray(ct.dataobj), ct.affine)
    named.header["descrip"] = b"DOE^JANE 1961-02-03"
    kept = up("nifti", "jane_doe.nii.gz", __import__("gzip").compress(named.to_bytes()))
    assert kept.status_code == 201
    from spinefuse.service.files import FileStore

    path = FileStore(store.files_dir).path(kept.json()["sha256"], "nifti")
    back = nib.load(path)
    assert b"DOE" not in bytes(back.header["descrip"].tobytes())
    assert np.array_equal(np.asarray(back.dataobj), np.asarray(named.dataobj))
    assert "jane" not in str(path).lower()

    # a DICOM series zip: every file passes the basic profile on import
    series = sample_case_path.parent / "ct_dicom"
    files = sorted(p for p in series.iterdir() if p.is_file())[:3]
    entries = {}
    for p in files:
        ds = dcmread(p)
        ds.PatientName = "DOE^JANE"
        ds.PatientID = "MRN-12345"
        b = io.BytesIO()
        ds.save_as(b)
        entries[f"series/{p.name}"] = b.getvalue()
    r = up("dicom_zip", "series.zip", _zip(entries))
    assert r.status_code == 201, r.text
    folder = FileStore(store.files_dir).path(r.json()["sha256"], "dicom_zip")
    kept_files = sorted(folder.iterdir())
    assert len(kept_files) == 3
    for f in kept_files:
        ds = dcmread(f)
        assert (
            "DOE" not in str(ds.get("PatientName", "")) and ds.get("PatientID", "") != "MRN-12345"
        )
        assert ds.PatientIdentityRemoved == "YES"
        assert b"MRN-12345" not in f.read_bytes()


def test_mr_series_uploads_make_one_mr_study(app_client: Any, sample_case_path: Path) -> None:
    """An MR volume uploaded with its weighting is a series of the case's MR study, linked for
    a run under a name from its plane, weighting and segment; series details on anything else,
    or a convention on a volume, are refused with the reason."""
    from spinefuse.service.files import FileStore
    from spinefuse.service.store.models import CaseRow
    from spinefuse.service.workstation import case_for_run

    client, users, store = app_client
    h = users.surgeon
    pk = client.post("/api/cases", json=sample_case_body(sample_case_path), headers=h).json()["id"]
    folder = sample_case_path.parent
    ax = (folder / "mr_ax_t2_L4L5.nii.gz").read_bytes()

    def up(data: dict[str, Any], blob: bytes = ax) -> Any:
        return client.post(
            f"/api/cases/{pk}/images", data=data, files={"file": ("x.nii.gz", blob)}, headers=h
        )

    ct_series = up({"kind": "nifti", "modality": "CT", "weighting": "T2"})
    assert ct_series.status_code == 422 and "MR volume" in ct_series.text
    no_weighting = up({"kind": "nifti", "modality": "MR", "plane": "axial"})
    assert no_weighting.status_code == 422 and "weighting" in no_weighting.text
    volume_convention = up({"kind": "nifti", "modality": "MR", "label_convention": "verse"})
    assert volume_convention.status_code == 422 and "label map" in volume_convention.text
    assert up({"kind": "nifti", "modality": "MR", "weighting": "T9"}).status_code == 422

    for desc in ("axial T2 L4-L5", "axial T2 L4-L5", "axial T2 upper"):
        r = up(
            {
                "kind": "nifti",
                "modality": "MR",
                "weighting": "T2",
                "plane": "axial",
                "description": desc,
                "echo_time_ms": "90",
            }
        )
        assert r.status_code == 201, r.text
        assert r.json()["details"] == {
            "weighting": "T2",
            "plane": "axial",
            "description": desc,
            "echo_time_ms": 90.0,
        }
    labels = (folder / "mr_labels.nii.gz").read_bytes()
    r = up({"kind": "label_map", "modality": "MR", "label_convention": "totalspineseg"}, labels)
    assert r.status_code == 201 and r.json()["details"] == {"label_convention": "totalspineseg"}

    with store.session() as s:
        row = s.get(CaseRow, pk)
        assert row is not None
        case = case_for_run(s, row, FileStore(store.files_dir), store.files_dir / "probe")
    (mr,) = case.imaging
    assert mr.modality == "MR" and mr.label_convention == "totalspineseg"
    assert [x.nifti.name for x in mr.series if x.nifti] == [
        "mr_ax_t2_L4L5.nii.gz",
        "mr_ax_t2_L4L5_2.nii.gz",
        "mr_ax_t2.nii.gz",
    ]
    assert mr.series[0].echo_time_ms == 90.0 and mr.label_map is not None
    assert mr.label_map.name == "mr_labels.nii.gz"


def test_upload_size_limit(sqlite_store: Any, sample_case_path: Path) -> None:
    from spinefuse.service.app import create_app
    from spinefuse.service.files import UploadLimits
    from tests.service.conftest import make_users

    users = make_users(sqlite_store)
    with TestClient(create_app(sqlite_store, limits=UploadLimits(max_upload=1000))) as client:
        pk = client.post(
            "/api/cases", json=sample_case_body(sample_case_path), headers=users.surgeon
        ).json()["id"]
        data = (sample_case_path.parent / "ct_labels.nii.gz").read_bytes()
        r = client.post(
            f"/api/cases/{pk}/images",
            data={"kind": "label_map"},
            files={"file": ("l.nii.gz", data)},
            headers=users.surgeon,
        )
        assert r.status_code == 413 and "limit" in r.text


def test_cohort_job_runs_a_small_trial(app_client: Any) -> None:
    client, users, _store = app_client
    spec = {
        "schema": "spinefuse/cohort@1",
        "name": "tiny",
        "size": 4,
        "seed": 3,
        "batch_size": 4,
        "arms": [
            {"name": "tlif", "technique": "TLIF", "graft": "local_autograft"},
            {"name": "plf", "technique": "PLF", "graft": "allograft"},
        ],
    }
    assert (
        client.post(
            "/api/cohorts", json={"spec": {"schema": "nope"}}, headers=users.researcher
        ).status_code
        == 422
    )
    job = client.post("/api/cohorts", json={"spec": spec}, headers=users.researcher).json()["job"]
    for _ in range(1200):
        state = client.get(f"/api/jobs/{job}", headers=users.researcher).json()
        if state["status"] in ("done", "failed"):
            break
        __import__("time").sleep(0.1)
    assert state["status"] == "done", state
    assert state["result"]["patients"] == 4
    assert "tlif" in state["result"]["summary_csv"] and "plf" in state["result"]["summary_csv"]
