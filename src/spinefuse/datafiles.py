"""YAML files: the packaged data under ``spinefuse/data`` (literature constants with their
sources, the implant catalogue, calibrations), read through :func:`load_yaml`, and the files users
give (case files, cohort specs, site catalogues), read through :func:`read_yaml_file`."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from spinefuse.errors import SpinefuseError


@cache
def load_yaml(name: str) -> Any:
    """The parsed YAML data file ``name`` (e.g. ``"lumbar_dimensions.yaml"``), read once."""
    text = resources.files("spinefuse.data").joinpath(name).read_text(encoding="utf-8")
    # the C loader (libyaml) when PyYAML has it: ~10x faster on the larger data files
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def read_yaml_file(path: str | Path, what: str, error: type[SpinefuseError]) -> Any:
    """The parsed content of a user's YAML file; ``error`` names the file when it is missing
    (``"<path>: no such <what>"``) or not YAML."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: no such {what}")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise error(f"{path}: not valid YAML: {err}") from None
