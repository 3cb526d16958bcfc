"""The assessment cut-offs (``data/assessment_criteria.yaml``), each with its source."""

from __future__ import annotations

from functools import cache
from typing import Any

from spinefuse.datafiles import load_yaml
from spinefuse.errors import ParameterError


@cache
def criteria() -> dict[str, Any]:
    """Every assessment criterion as a mapping: block -> values, unit, source, certainty."""
    data: dict[str, Any] = load_yaml("assessment_criteria.yaml")
    return data


def block(name: str) -> dict[str, Any]:
    """One block of criteria (e.g. ``"schwab"``), or a :class:`ParameterError` naming it."""
    try:
        value: dict[str, Any] = criteria()[name]
    except KeyError:
        raise ParameterError(
            f"assessment_criteria.yaml has no block {name!r}: present are {', '.join(criteria())}"
        ) from None
    return value


def source(name: str) -> str:
    """The citation of a block, with its certainty when unverified."""
    b = block(name)
    text = str(b.get("source", "")).strip()
    if b.get("certainty") == "unverified":
        text += " [unverified]"
    return text
