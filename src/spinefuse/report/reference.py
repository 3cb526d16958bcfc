"""Reference values the reports draw on (``data/report_reference.yaml``), with their sources."""

from __future__ import annotations

from dataclasses import dataclass

from spinefuse.datafiles import load_yaml


@dataclass(frozen=True)
class Reference:
    """A cited value: number, unit and the source it comes from."""

    value: float
    unit: str
    source: str
    certainty: str


def reference(name: str) -> Reference:
    """The named reference value, e.g. ``reference("odi_mcid")``."""
    e = load_yaml("report_reference.yaml")[name]
    return Reference(float(e["value"]), str(e["unit"]), str(e["source"]), str(e["certainty"]))
