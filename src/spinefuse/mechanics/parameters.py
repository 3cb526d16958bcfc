"""The mechanics data file (``data/mechanics_calibration.yaml``): material constants with their
sources and the calibrated disc laws with their provenance."""

from __future__ import annotations

from functools import cache
from typing import Any

from spinefuse.datafiles import load_yaml
from spinefuse.errors import ParameterError

DATA_FILE = "mechanics_calibration.yaml"
CALIBRATION_FILE = "mechanics_disc_calibration.yaml"
_override: dict[str, Any] | None = None


@cache
def _files() -> dict[str, Any]:
    data: dict[str, Any] = dict(load_yaml(DATA_FILE))
    cal: dict[str, Any] = load_yaml(CALIBRATION_FILE)
    data["calibrated_disc"] = cal["calibrated_disc"]
    data["calibrated_pressure_factor"] = cal["calibrated_pressure_factor"]
    data["calibrated_ligament_scale"] = cal.get("calibrated_ligament_scale", {"value": 1.0})
    data["calibrated_neutral_stiffness_ratio"] = cal.get(
        "calibrated_neutral_stiffness_ratio", data["disc"]["neutral_stiffness_ratio"]
    )
    data["calibration_record"] = cal
    return data


def parameters() -> dict[str, Any]:
    """The mechanics constants and the stored calibration as one mapping (files read once)."""
    data = _files()
    if _override is not None:
        return {
            **data,
            "calibrated_disc": _override["disc"],
            "calibrated_ligament_scale": {"value": _override["ligament_scale"]},
            "calibrated_neutral_stiffness_ratio": {
                "value": _override.get(
                    "neutral_ratio", data["calibrated_neutral_stiffness_ratio"]["value"]
                )
            },
        }
    return data


def override_disc_law(law: dict[str, Any] | None) -> None:
    """Use ``law`` (``{"disc": ..., "ligament_scale": ..., "neutral_ratio": ...}``) instead of
    the stored calibration
    (for the calibration routine only); ``None`` restores the stored one."""
    global _override
    _override = law


def value(
    *path: str,
    above: float | None = None,
    at_least: float | None = None,
    at_most: float | None = None,
) -> float:
    """The ``value`` of a sourced constant, e.g. ``value("rod", "titanium", "modulus_mpa")``;
    ``above``/``at_least``/``at_most`` bound it (a ParameterError naming the entry when not)."""
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
    v = float(node)
    broken = [
        f"{words} {bound:g}"
        for bound, ok, words in (
            (above, above is None or v > above, "above"),
            (at_least, at_least is None or v >= at_least, "at least"),
            (at_most, at_most is None or v <= at_most, "at most"),
        )
        if not ok
    ]
    if broken:
        raise ParameterError(
            f"{DATA_FILE}: {'.'.join(path)} = {v:g} must be {broken[0]}; "
            "correct the mechanics data file"
        )
    return v
