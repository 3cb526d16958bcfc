"""Schema-driven fuzzing of the API (schemathesis against the app's own OpenAPI spec): for every
operation a bounded number of generated requests, signed in as an admin, on a store holding the
sample patient with a run; no request may crash the server (5xx) or get an answer that breaks
the documented response schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
schemathesis = pytest.importorskip("schemathesis")

from fastapi.testclient import TestClient  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import response_schema_conformance  # noqa: E402

from spinefuse.service.app import create_app  # noqa: E402
from spinefuse.service.store import open_store  # noqa: E402
from tests.service.conftest import make_users, upload_sample  # noqa: E402

AUTH: dict[str, str] = {}


@pytest.fixture(scope="session")
def fuzz_schema(
    tmp_path_factory: pytest.TempPathFactory, sample_case_path: Path, sample_run_dir: Path
) -> Iterator[Any]:
    from spinefuse.service.workstation import import_run

    tmp = tmp_path_factory.mktemp("fuzz")
    store = open_store(f"sqlite:///{tmp / 'store.db'}", tmp / "files")
    users = make_users(store)
    app = create_app(store, start_jobs=False)
    with TestClient(app) as client:
        pk = upload_sample(client, users.surgeon, sample_case_path)
    import_run(store, pk, sample_run_dir, 1)
    AUTH.update(users.admin)
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    store.close()


def test_api_fuzz(fuzz_schema: Any) -> None:
    operations = 0
    for result in fuzz_schema.get_all_operations():
        op = result.ok()
        operations += 1

        @given(case=op.as_strategy())
        @settings(
            max_examples=6,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def fuzz(case: Any) -> None:
            case.call_and_validate(
                headers=AUTH, checks=[not_a_server_error, response_schema_conformance]
            )

        fuzz()
    assert operations >= 30
