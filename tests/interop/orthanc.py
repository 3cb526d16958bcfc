"""A throw-away Orthanc PACS for the tests: loopback only, free ports, a temporary storage folder,
DICOMweb enabled and a DICOM modality entry for spinefuse's own Storage SCP (for C-MOVE).

Debian's ``orthanc`` and ``orthanc-dicomweb`` packages provide it (``make test`` installs them when
the machine allows); :func:`orthanc_binary` says why when they are absent, so the tests can skip
with that reason.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BINARIES = ("/usr/sbin/Orthanc", "/usr/bin/Orthanc")
DICOMWEB_PLUGINS = (
    "/usr/share/orthanc/plugins/libOrthancDicomWeb.so",
    "/usr/lib/orthanc/libOrthancDicomWeb.so",
)
PACS_AET = "ORTHANC"
SPINEFUSE_AET = "SPINEFUSE"
START_TIMEOUT_S = 20.0


def orthanc_binary() -> tuple[str | None, str | None, str]:
    """Orthanc's executable and DICOMweb plugin, or None and why not."""
    exe = shutil.which("Orthanc") or next((b for b in BINARIES if Path(b).exists()), None)
    plugin = next((p for p in DICOMWEB_PLUGINS if Path(p).exists()), None)
    if exe is None:
        return None, None, "Orthanc is not installed (make test installs Debian's 'orthanc')"
    if plugin is None:
        return exe, None, "Orthanc's DICOMweb plugin is missing (Debian's 'orthanc-dicomweb')"
    return exe, plugin, ""


def free_port() -> int:
    """A TCP port free on loopback now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Orthanc:
    """A running Orthanc: its ports, AE titles and REST helpers."""

    http_port: int
    dicom_port: int
    scp_port: int
    log: Path

    @property
    def rest(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb(self) -> str:
        return f"{self.rest}/dicom-web"

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.rest + path, timeout=10) as r:
            body = r.read()
        return json.loads(body) if body[:1] in (b"{", b"[") else body

    def upload(self, data: bytes) -> dict[str, Any]:
        req = urllib.request.Request(
            self.rest + "/instances",
            data=data,
            method="POST",
            headers={"Content-Type": "application/dicom"},
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            answer: dict[str, Any] = json.loads(r.read())
        return answer


@contextmanager
def running_orthanc(workdir: Path) -> Iterator[Orthanc]:
    """Start Orthanc in ``workdir`` on free loopback ports; wait until its REST API answers;
    always stop it."""
    exe, plugin, why = orthanc_binary()
    if exe is None or plugin is None:
        raise RuntimeError(why)
    storage = workdir / "storage"
    storage.mkdir(parents=True)
    http_port, dicom_port, scp_port = free_port(), free_port(), free_port()
    config = {
        "Name": "spinefuse-test",
        "StorageDirectory": str(storage),
        "IndexDirectory": str(storage),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "DicomAet": PACS_AET,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "HttpDescribeErrors": True,
        "Plugins": [plugin],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "Host": "127.0.0.1"},
        "DicomModalities": {SPINEFUSE_AET: [SPINEFUSE_AET, "127.0.0.1", scp_port]},
        "DicomScuTimeout": 10,
        "StableAge": 1,
    }
    cfg = workdir / "orthanc.json"
    cfg.write_text(json.dumps(config))
    log = workdir / "orthanc.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([exe, str(cfg)], stdout=out, stderr=subprocess.STDOUT, cwd=workdir)
    try:
        server = Orthanc(http_port, dicom_port, scp_port, log)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"Orthanc exited ({proc.returncode}): {log.read_text()[-2000:]}")
            try:
                if server.get("/system")["DicomPort"] == dicom_port and server.get("/plugins"):
                    break
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"Orthanc did not answer in {START_TIMEOUT_S:g} s")
            time.sleep(0.1)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
