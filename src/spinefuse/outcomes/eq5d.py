"""Scoring the EQ-5D-3L questionnaire into a utility index with a published value set.

Five dimensions (mobility, self-care, usual activities, pain/discomfort, anxiety/depression),
each answered at level 1 (no problems), 2 (some) or 3 (extreme). The UK time trade-off value
set (Dolan 1997, N3 model) gives ``1 - constant - sum of the dimension decrements - N3``, the
constant applying when any dimension is above 1 and N3 when any is at 3; 11111 scores 1 and
33333 scores -0.594. The coefficients live in ``outcome_parameters.yaml`` (pro.eq5d.value_set).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from pydantic import Field

from spinefuse.errors import ParameterError
from spinefuse.outcomes.parameters import outcome_parameters
from spinefuse.records import Record

DIMENSIONS: Final[tuple[str, ...]] = (
    "mobility",
    "self_care",
    "usual_activities",
    "pain_discomfort",
    "anxiety_depression",
)


class Eq5dScore(Record):
    """A scored EQ-5D-3L profile."""

    profile: str = Field(description="the five levels, e.g. '21232'")
    index: float = Field(ge=-1.0, le=1.0, description="utility, 1 = full health")
    value_set: str


def _value_set() -> dict[str, Any]:
    spec: dict[str, Any] = outcome_parameters()["pro"]["eq5d"]["value_set"]
    return spec


def score_eq5d(levels: Sequence[int] | Mapping[str, int] | str) -> Eq5dScore:
    """The EQ-5D-3L index of a health state: five levels in :data:`DIMENSIONS` order (a list,
    a mapping by dimension, or a string such as ``"21232"``)."""
    if isinstance(levels, str):
        items: list[Any] = list(levels.strip())
    elif isinstance(levels, Mapping):
        unknown = sorted(set(levels) - set(DIMENSIONS))
        missing = [d for d in DIMENSIONS if d not in levels]
        if unknown or missing:
            raise ParameterError(
                f"EQ-5D answers: unknown {unknown} / missing {missing}; the dimensions are "
                f"{', '.join(DIMENSIONS)}"
            )
        items = [levels[d] for d in DIMENSIONS]
    else:
        items = list(levels)
    if len(items) != len(DIMENSIONS):
        raise ParameterError(
            f"EQ-5D answers: {len(items)} levels given; the 3L questionnaire has five "
            f"({', '.join(DIMENSIONS)})"
        )
    values: list[int] = []
    for dim, v in zip(DIMENSIONS, items, strict=True):
        try:
            level = int(v)
        except (TypeError, ValueError):
            level = 0
        if level not in (1, 2, 3):
            raise ParameterError(f"EQ-5D {dim} = {v!r}: a 3L level is 1, 2 or 3")
        values.append(level)
    vs = _value_set()
    index = 1.0
    if any(v > 1 for v in values):
        index -= float(vs["constant"])
    for dim, level in zip(DIMENSIONS, values, strict=True):
        index -= float(vs[dim][level - 1])
    if any(v == 3 for v in values):
        index -= float(vs["n3"])
    return Eq5dScore(
        profile="".join(str(v) for v in values),
        index=round(index, 3),
        value_set=str(vs["name"]),
    )
