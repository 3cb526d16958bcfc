"""Reference values the reports draw on (``data/report_reference.yaml``), with their sources."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml


@dataclass(frozen=True)
class Reference:
    """A cited value: number, unit and the source it comes from."""

    value: float
    unit: str
    source: str
    certainty: str


@cache
def _table() -> dict[str, Any]:
    text = resources.files("spinefuse.data").joinpath("report_reference.yaml").read_text()
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def reference(name: str) -> Reference:
    """The named reference value, e.g. ``reference("odi_mcid")``."""
    e = _table()[name]
    return Reference(float(e["value"]), str(e["unit"]), str(e["source"]), str(e["certainty"]))
