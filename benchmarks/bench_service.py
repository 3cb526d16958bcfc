"""Load test of the planning workstation on loopback: 20 concurrent users for 60 s.

A server (``spinefuse serve``) runs on a temporary SQLite store holding the sample patient with
a finished run. Each simulated user signs in with a bearer token and works as a surgeon in the
plan editor: opens the case list, the case, its plans and runs, then edits screws (a new entry
point each time, so the mechanics really re-run) with a short think time, reading the run's
records now and then. Reported: p50/p95 client latency per request kind and overall, the plan
editor's mechanics update (``server_ms`` of ``plans/evaluate``) p50/p95 under that load, and the
same update for one user alone (target: server time <= 300 ms p95). Prints one JSON line and
writes benchmarks/results/service.json. The load is bounded in count and time and goes to
127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

USERS = 20
DURATION_S = 60.0
THINK_S = (0.5, 1.5)
MAX_REQUESTS = 20_000


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return round(s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))], 1)


def prepare(tmp: Path) -> tuple[str, str]:
    """A store with users and the sample patient's case and run; returns (store URL, token)."""
    from tests.service.conftest import upload_sample

    from spinefuse.case import load_case
    from spinefuse.pipeline import run
    from spinefuse.sample import write_sample_case
    from spinefuse.service.auth import add_user, issue_token
    from spinefuse.service.store import open_store
    from spinefuse.service.workstation import import_run

    case_path = write_sample_case(tmp / "case")
    run(load_case(case_path), out_dir=tmp / "run", progress=False, inputs=[case_path])
    url = f"sqlite:///{tmp / 'store.db'}"
    store = open_store(url, tmp / "files")
    with store.session() as s:
        u = add_user(s, "surgeon", "bench password", "surgeon", "bench")
        _row, token = issue_token(s, u.id, "bench")
        uid = u.id
    from fastapi.testclient import TestClient

    from spinefuse.service.app import create_app

    with TestClient(create_app(store, start_jobs=False)) as c:
        pk = upload_sample(c, {"Authorization": f"Bearer {token}"}, case_path)
    import_run(store, pk, tmp / "run", uid)
    store.close()
    return url, token


async def user(
    base: str,
    token: str,
    seed: int,
    until: float,
    log: dict[str, list[float]],
    server_ms: list[float],
    budget: list[int],
) -> None:
    rnd = random.Random(seed)
    async with httpx.AsyncClient(
        base_url=base, timeout=120, headers={"Authorization": f"Bearer {token}"}
    ) as c:

        async def call(kind: str, method: str, url: str, **kw: object) -> httpx.Response:
            budget[0] += 1
            t0 = time.perf_counter()
            r = await c.request(method, url, **kw)  # type: ignore[arg-type]
            log.setdefault(kind, []).append((time.perf_counter() - t0) * 1000)
            r.raise_for_status()
            return r

        cases = (await call("list cases", "GET", "/api/cases")).json()
        pk = cases[0]["id"]
        await call("open case", "GET", f"/api/cases/{pk}")
        plan = (await call("plans", "GET", f"/api/cases/{pk}/plans")).json()[0]["plan"]
        runs = (await call("runs", "GET", f"/api/cases/{pk}/runs")).json()
        while time.monotonic() < until and budget[0] < MAX_REQUESTS:
            edited = json.loads(json.dumps(plan))
            sc = edited["screws"][rnd.randrange(len(edited["screws"]))]
            sc["entry_point"] = [v + rnd.uniform(-2.0, 2.0) for v in sc["entry_point"]]
            r = await call(
                "plan editor update",
                "POST",
                f"/api/cases/{pk}/plans/evaluate",
                json={"plan": edited},
            )
            server_ms.append(r.json()["server_ms"])
            if rnd.random() < 0.3:
                await call("run records", "GET", f"/api/runs/{runs[0]['id']}/records/mechanics")
            if rnd.random() < 0.2:
                await call("list cases", "GET", "/api/cases")
            await asyncio.sleep(rnd.uniform(*THINK_S))


async def alone(base: str, token: str, n: int = 20) -> list[float]:
    """One user's plan-editor updates, one after another, nobody else on the server."""
    out = []
    async with httpx.AsyncClient(
        base_url=base, timeout=120, headers={"Authorization": f"Bearer {token}"}
    ) as c:
        pk = (await c.get("/api/cases")).json()[0]["id"]
        plan = (await c.get(f"/api/cases/{pk}/plans")).json()[0]["plan"]
        rnd = random.Random(1)
        for _ in range(n):
            edited = json.loads(json.dumps(plan))
            edited["screws"][0]["entry_point"][2] += rnd.uniform(-3.0, 3.0)
            r = await c.post(f"/api/cases/{pk}/plans/evaluate", json={"plan": edited})
            out.append(r.json()["server_ms"])
    return out


def main() -> dict[str, object]:
    from tests.service.server import served

    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        url, token = prepare(tmp)
        with served(url, tmp / "files", tmp / "server.log") as proc:
            base = proc.base_url  # type: ignore[attr-defined]
            single = asyncio.run(alone(base, token))
            log: dict[str, list[float]] = {}
            server_ms: list[float] = []
            budget = [0]

            async def crowd() -> None:
                until = time.monotonic() + DURATION_S
                await asyncio.gather(
                    *(user(base, token, k, until, log, server_ms, budget) for k in range(USERS))
                )

            t0 = time.perf_counter()
            asyncio.run(crowd())
            wall = time.perf_counter() - t0
    every = [v for vs in log.values() for v in vs]
    figures: dict[str, object] = {
        "benchmark": "service",
        "users": USERS,
        "duration_s": round(wall, 1),
        "requests": len(every),
        "latency_ms_p50": pct(every, 50),
        "latency_ms_p95": pct(every, 95),
        "by_kind_ms": {
            k: {"n": len(v), "p50": pct(v, 50), "p95": pct(v, 95)} for k, v in log.items()
        },
        "mechanics_update_server_ms_p50": pct(server_ms, 50),
        "mechanics_update_server_ms_p95": pct(server_ms, 95),
        "mechanics_update_single_user_server_ms_p50": pct(single, 50),
        "mechanics_update_single_user_server_ms_p95": pct(single, 95),
        "single_user_mean_ms": round(statistics.fmean(single), 1),
        "target_server_ms_p95": 300,
    }
    line = json.dumps(figures)
    print(line)
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    (results / "service.json").write_text(line + "\n")
    return figures


if __name__ == "__main__":
    main()
