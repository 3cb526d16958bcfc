"""spinefuse: plan and simulate lumbar spinal fusion, from imaging to a healed fusion."""

from spinefuse.case import Case, ClinicalHistory, ImagingStudy, Patient, Preferences, load_case
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
