"""The HTML reports open in headless Chromium with every picture decoded, no resource fetched
from outside the file and no script error. Skips when Chromium is not installed."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

PROBE = """<script>
window.addEventListener("load", () => {
  let bad = 0;
  for (const img of document.images) {
    if (!img.complete || img.naturalWidth === 0) {
      bad++; console.error("spinefuse-check missing image " + img.src.slice(0, 60));
    }
  }
  for (const e of performance.getEntriesByType("resource")) {
    if (!e.name.startsWith("data:")) {
      bad++; console.error("spinefuse-check external resource " + e.name);
    }
  }
  console.log("spinefuse-check done images=" + document.images.length + " bad=" + bad);
});
</script>"""


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    pytest.skip("headless Chromium is not installed (apt install chromium)")


def console_of(page: Path, tmp: Path) -> list[str]:
    """The console messages Chromium logs while loading ``page`` with the probe appended."""
    probed = tmp / f"probed-{page.name}"
    probed.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    cmd = [
        _chromium(),
        "--headless",
        "--disable-gpu",
        "--no-sandbox",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=5000",
        f"--user-data-dir={tmp / 'profile'}",
        "--dump-dom",
        probed.as_uri(),
    ]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=False)
    return re.findall(r"CONSOLE[^\]]*\] \"(.*?)\", source", run.stderr)


def test_probe_catches_a_missing_image_and_a_script_error(tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text(
        '<!doctype html><html><body><img src="absent.png">'
        "<script>not_defined()</script></body></html>"
    )
    messages = console_of(page, tmp_path)
    assert any("Uncaught ReferenceError" in m for m in messages)
    assert "spinefuse-check done images=1 bad=1" in messages


@pytest.mark.parametrize("name", ["report.html", "patient.html"])
def test_report_opens_with_no_missing_resource_or_error(
    rendered: dict[str, Path], tmp_path: Path, name: str
) -> None:
    page = rendered[name]
    n_images = page.read_text().count("<img ")
    messages = console_of(page, tmp_path)
    assert f"spinefuse-check done images={n_images} bad=0" in messages, messages
    assert not [m for m in messages if "Uncaught" in m or "missing" in m or "external" in m]
    assert n_images >= (8 if name == "report.html" else 4)
