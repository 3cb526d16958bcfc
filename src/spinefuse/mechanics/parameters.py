"""The mechanics data file (``data/mechanics_calibration.yaml``): material constants with their
sources and the calibrated disc laws with their provenance."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

from spinefuse.errors import ParameterError

DATA_FILE = "mechanics_calibration.yaml"


@cache
def parameters() -> dict[str, Any]:
    """The whole data file as a mapping (read once)."""
    text = resources.files("spinefuse.data").joinpath(DATA_FILE).read_text()
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def value(*path: str) -> float:
    """The ``value`` of a sourced constant, e.g. ``value("rod", "titanium", "modulus_mpa")``."""
    node: Any = parameters()
    for key in path:
        try:
            node = node[key]
        except (KeyError, TypeError):
            raise ParameterError(
                f"{DATA_FILE}: no entry {'.'.join(path)} (missing {key!r}); "
                "the mechanics data file is incomplete"
            ) from None
    if isinstance(node, dict):
        node = node["value"]
    return float(node)
