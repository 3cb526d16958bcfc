"""The browser UI the Python package ships is the one the sources in web/ build: the build
records a hash of its sources (web/stamp.mjs), which must equal the hash of the sources here, and
every asset the page loads is in the package."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
BUILT = ROOT / "src" / "spinefuse" / "service" / "web"
SOURCES = ("index.html", "package.json", "package-lock.json", "vite.config.js", "stamp.mjs", "src")


def sources_sha256() -> tuple[str, list[str]]:
    """The hash stamp.mjs computes: SHA-256 over 'path NUL sha256(file) LF' in sorted order."""
    files = []
    for s in SOURCES:
        p = WEB / s
        files += [f for f in p.rglob("*") if f.is_file()] if p.is_dir() else [p]
    names = sorted(str(f.relative_to(WEB)).replace("\\", "/") for f in files)
    outer = hashlib.sha256()
    for n in names:
        outer.update(f"{n}\0{hashlib.sha256((WEB / n).read_bytes()).hexdigest()}\n".encode())
    return outer.hexdigest(), names


def test_shipped_bundle_is_built_from_these_sources() -> None:
    stamp = json.loads((BUILT / "build-stamp.json").read_text())
    digest, names = sources_sha256()
    assert stamp["files"] == names
    assert stamp["sources_sha256"] == digest, (
        "web/ changed since the bundle was built: run make web"
    )


def test_page_loads_only_shipped_assets() -> None:
    page = (BUILT / "index.html").read_text()
    refs = re.findall(r'(?:src|href)="\./(assets/[^"]+)"', page)
    assert refs and all((BUILT / r).is_file() for r in refs)
    assert "http://" not in page and "https://" not in page
    for js in (BUILT / "assets").glob("*.js"):
        # nothing is fetched from another host at run time (the code may name URLs in comments)
        assert not re.search(r"""import\s*\(?\s*["']https?://""", js.read_text(errors="replace")), (
            js
        )
