"""The outcome models' literature parameters, read from ``data/outcome_parameters.yaml``.

Every number the outcome models use lives in that file with its value, interval, unit, source and
certainty; this module turns it into small frozen dataclasses and checks its shape on reading.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from spinefuse.datafiles import load_yaml
from spinefuse.errors import ParameterError

PARAMETER_FILE = "outcome_parameters.yaml"
Z95 = 1.959963984540054
"""Standard-normal quantile of a two-sided 95 % interval."""


@dataclass(frozen=True)
class Effect:
    """One effect size: a ratio (odds ratio, rate ratio) or an additive shift per covariate unit.

    ``interval`` is the published (or stated) 95 % interval; ``additive`` effects (ODI points) are
    used as they are, ratios on the log scale."""

    name: str
    covariate: str
    value: float
    interval: tuple[float, float]
    unit: str
    source: str
    certainty: str
    additive: bool = False

    @property
    def coefficient(self) -> float:
        """The model coefficient: log of a ratio, or the additive shift itself."""
        return self.value if self.additive else math.log(self.value)

    @property
    def coefficient_sd(self) -> float:
        """Standard error of the coefficient implied by the 95 % interval."""
        lo, hi = self.interval
        if self.additive:
            return (hi - lo) / (2 * Z95)
        return (math.log(hi) - math.log(lo)) / (2 * Z95)


@dataclass(frozen=True)
class Quantity:
    """A cited number with its interval (a rate, a mean, a reference value)."""

    value: float
    interval: tuple[float, float]
    unit: str
    source: str
    certainty: str


def _where(path: str, key: str) -> str:
    return f"{PARAMETER_FILE}: {path}.{key}" if path else f"{PARAMETER_FILE}: {key}"


def quantity(entry: Any, path: str) -> Quantity:
    """A :class:`Quantity` from a mapping with value, interval, unit, source, certainty."""
    try:
        value = float(entry["value"])
        lo, hi = (float(x) for x in entry.get("interval", (value, value)))
        q = Quantity(value, (lo, hi), str(entry["unit"]), str(entry["source"]), entry["certainty"])
    except (KeyError, TypeError, ValueError) as err:
        raise ParameterError(
            f"{_where(path, '')}: needs value, interval [low, high], unit, source, "
            f"certainty ({err})"
        ) from None
    if not lo <= value <= hi:
        raise ParameterError(
            f"{path}: value {value} lies outside its interval [{lo}, {hi}]; fix the data file"
        )
    if q.certainty not in ("verified", "unverified"):
        raise ParameterError(f"{path}.certainty = {q.certainty!r}: use verified or unverified")
    return q


def effects(section: Any, path: str, additive: bool = False) -> tuple[Effect, ...]:
    """The effects of one model, in file order."""
    out = []
    for name, entry in (section or {}).items():
        q = quantity(entry, f"{path}.{name}")
        if not additive and min(q.interval) <= 0:
            raise ParameterError(f"{path}.{name}: a ratio must be positive, got {q.interval}")
        out.append(
            Effect(
                name=name,
                covariate=str(entry["covariate"]),
                value=q.value,
                interval=q.interval,
                unit=q.unit,
                source=q.source,
                certainty=q.certainty,
                additive=additive,
            )
        )
    return tuple(out)


@lru_cache(maxsize=1)
def outcome_parameters() -> dict[str, Any]:
    """The parsed parameter file (cached; treat as read-only)."""
    data = load_yaml(PARAMETER_FILE)
    if not isinstance(data, dict) or data.get("schema") != "spinefuse/outcome-parameters@1":
        raise ParameterError(f"{PARAMETER_FILE}: missing 'schema: spinefuse/outcome-parameters@1'")
    return data
