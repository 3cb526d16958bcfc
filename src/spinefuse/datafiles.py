"""The packaged data files under ``spinefuse/data``: literature constants with their sources,
the implant catalogue and calibrations. Every stage reads them through :func:`load_yaml`."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml


@cache
def load_yaml(name: str) -> Any:
    """The parsed YAML data file ``name`` (e.g. ``"lumbar_dimensions.yaml"``), read once."""
    text = resources.files("spinefuse.data").joinpath(name).read_text(encoding="utf-8")
    return yaml.safe_load(text)
