"""spinefuse: plan and simulate lumbar spinal fusion, from imaging to a healed fusion."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from spinefuse.errors import SpinefuseError

__version__ = "0.1.0"

__all__ = [
    "Case",
    "ClinicalHistory",
    "ImagingStudy",
    "Patient",
    "Preferences",
    "SpinefuseError",
    "__version__",
    "load_case",
]

if TYPE_CHECKING:
    from spinefuse.case import Case, ClinicalHistory, ImagingStudy, Patient, Preferences, load_case

_FROM_CASE = {"Case", "ClinicalHistory", "ImagingStudy", "Patient", "Preferences", "load_case"}


def __getattr__(name: str) -> Any:
    # the case records load pydantic: imported on first use, so `spinefuse --help` starts fast
    if name in _FROM_CASE:
        from spinefuse import case

        return getattr(case, name)
    raise AttributeError(f"module 'spinefuse' has no attribute {name!r}")
