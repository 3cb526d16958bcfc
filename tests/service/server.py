"""``spinefuse serve`` as a separate process on a free loopback port, for the tests that kill it
or drive it with a browser."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.service.postgres import free_port


@contextmanager
def served(
    store_url: str, files: Path, log: Path, *extra: str
) -> Iterator[subprocess.Popen[bytes]]:
    """A running server process (its URL in ``.base_url``); killed (SIGKILL) at the end if
    still running."""
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "spinefuse.cli",
        "serve",
        "--port",
        str(port),
        "--store",
        store_url,
        "--files",
        str(files),
        *extra,
    ]
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(base + "/api/auth/me", timeout=2).status_code == 401:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"the server did not start; see {log}:\n{log.read_text()[-2000:]}"
                )
            time.sleep(0.3)
        proc.base_url = base  # type: ignore[attr-defined]
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)


def add_user_cli(store_url: str, name: str, password: str, role: str, team: str = "default") -> str:
    """``spinefuse users add`` with the password on standard input; returns its output."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "spinefuse.cli",
            "users",
            "add",
            name,
            "--role",
            role,
            "--team",
            team,
            "--store",
            store_url,
            "--password-stdin",
        ],
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout
