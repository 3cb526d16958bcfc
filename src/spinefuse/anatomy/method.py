"""How spinefuse measures a vertebra on a label map: settings with their sources
(``data/vertebral_landmarks.yaml``)."""

from __future__ import annotations

from functools import cache
from typing import Any

from spinefuse.datafiles import load_yaml


@cache
def method() -> dict[str, Any]:
    """The measurement settings, each with value, unit, source and certainty."""
    data: dict[str, Any] = load_yaml("vertebral_landmarks.yaml")
    return data


def setting(name: str) -> Any:
    """The value of one setting."""
    return method()[name]["value"]
