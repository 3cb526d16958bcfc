"""Fixtures of the workstation tests: stores on SQLite and on a real PostgreSQL server, an
app with users of every role in two teams, and the sample patient uploaded as a case."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the workstation needs the 'service' extra")

from fastapi.testclient import TestClient  # noqa: E402

from spinefuse.service.app import create_app  # noqa: E402
from spinefuse.service.auth import add_user, issue_token  # noqa: E402
from spinefuse.service.store import Store, open_store  # noqa: E402
from tests.service.postgres import fresh_database, postgres_server  # noqa: E402

PASSWORD = "correct horse battery"
_db_names = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A PostgreSQL server on loopback for this session (skips, saying why, when none starts)."""
    try:
        with postgres_server() as url:
            yield url
    except RuntimeError as err:
        pytest.skip(f"PostgreSQL half of the store tests skipped: {err}")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty store URL on each back-end."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    server = request.getfixturevalue("pg_server")
    return fresh_database(server, f"t{next(_db_names)}_{id(request) % 100000}")


@pytest.fixture
def store(store_url: str, tmp_path: Path) -> Iterator[Store]:
    st = open_store(store_url, tmp_path / "files")
    yield st
    st.close()


@dataclass
class Users:
    """Bearer headers of one user per role in team A, and a surgeon of team B."""

    surgeon: dict[str, str]
    researcher: dict[str, str]
    admin: dict[str, str]
    other_team: dict[str, str]

    def all(self) -> dict[str, dict[str, str]]:
        return {"surgeon": self.surgeon, "researcher": self.researcher, "admin": self.admin}


def make_users(st: Store) -> Users:
    headers = {}
    with st.session() as s:
        for name, role, team in (
            ("surgeon", "surgeon", "spine-a"),
            ("researcher", "researcher", "spine-a"),
            ("admin", "admin", "spine-a"),
            ("other_team", "surgeon", "spine-b"),
        ):
            u = add_user(s, name, PASSWORD, role, team)
            _row, token = issue_token(s, u.id, "tests")
            headers[name] = {"Authorization": f"Bearer {token}"}
    return Users(**headers)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    st = open_store(f"sqlite:///{tmp_path / 'store.db'}", tmp_path / "files")
    yield st
    st.close()


@pytest.fixture
def app_client(sqlite_store: Store) -> Iterator[tuple[TestClient, Users, Store]]:
    """A running app (job workers on) on an SQLite store, with the users."""
    users = make_users(sqlite_store)
    with TestClient(create_app(sqlite_store)) as client:
        yield client, users, sqlite_store


SAMPLE_UPLOADS: tuple[tuple[str, str, str, str, dict[str, Any]], ...] = (
    ("ct.nii.gz", "nifti", "CT", "preop", {}),
    ("ct_labels.nii.gz", "label_map", "CT", "preop", {}),
    ("xray_lateral.csv", "xray_landmarks", "XR", "preop", {}),
    ("xray_ap.csv", "xray_landmarks", "XR", "preop", {}),
    ("xray_flexion.csv", "xray_landmarks", "XR", "flexion", {}),
    ("xray_extension.csv", "xray_landmarks", "XR", "extension", {}),
)


def sample_mr_uploads(sample_case_path: Path) -> list[tuple[str, str, str, str, dict[str, Any]]]:
    """The sample's MR study as a client uploads it: each series with its weighting, plane,
    description and sequence times, then the label map with its convention."""
    from spinefuse.case import load_case

    mr = load_case(sample_case_path).study("MR")
    assert mr is not None and mr.label_map is not None
    out = []
    for series in mr.series:
        assert series.nifti is not None
        form = series.model_dump(mode="json", exclude={"nifti", "dicom_dir"}, exclude_none=True)
        out.append((series.nifti.name, "nifti", "MR", "preop", form))
    convention = {"label_convention": mr.label_convention}
    out.append((mr.label_map.name, "label_map", "MR", "preop", convention))
    return out


def sample_case_body(sample_case_path: Path) -> dict[str, Any]:
    """The sample patient's case as the new-case form sends it (no imaging)."""
    from spinefuse.case import load_case

    case = load_case(sample_case_path)
    data = case.model_dump(mode="json", by_alias=True)
    return {
        k: data[k]
        for k in (
            "id",
            "patient",
            "history",
            "examination",
            "segmentation",
            "anatomy",
            "preferences",
            "notes",
        )
    }


def upload_sample(client: Any, headers: dict[str, str], sample_case_path: Path) -> int:
    """Create the sample patient's case through the API and upload its files; returns its id."""
    r = client.post("/api/cases", json=sample_case_body(sample_case_path), headers=headers)
    assert r.status_code == 201, r.text
    pk = int(r.json()["id"])
    folder = sample_case_path.parent
    for name, kind, modality, role, form in [*SAMPLE_UPLOADS, *sample_mr_uploads(sample_case_path)]:
        with open(folder / name, "rb") as fh:
            r = client.post(
                f"/api/cases/{pk}/images",
                data={"kind": kind, "modality": modality, "role": role, **form},
                files={"file": (name, fh.read())},
                headers=headers,
            )
        assert r.status_code == 201, r.text
    return pk
