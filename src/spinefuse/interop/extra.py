"""The optional libraries of hospital integration (the ``interop`` extra).

Each interop module imports its libraries through :func:`require`, so a missing one stops with a
:class:`~spinefuse.errors.MissingDependencyError` that says what to install, not a bare ImportError.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from spinefuse.errors import MissingDependencyError

PACKAGES = {
    "pynetdicom": "pynetdicom",
    "highdicom": "highdicom",
    "dicomweb_client": "dicomweb-client",
    "fhir.resources": "fhir.resources",
    "requests": "requests",
}
"""Importable module -> the package on PyPI that provides it."""


def require(module: str) -> ModuleType:
    """Import ``module`` or say which package and extra provide it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        top = module if module in PACKAGES else module.split(".")[0]
        package = PACKAGES.get(top, PACKAGES.get(module.rsplit(".", 1)[0], top))
        raise MissingDependencyError(
            f"{package} is not installed; hospital integration (pacs, export) needs the 'interop' "
            "extra: pip install 'spinefuse[interop]'"
        ) from None
