"""The healing parameter file: provenance of every constant and errors that name the entry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from spinefuse.errors import ParameterError
from spinefuse.healing.parameters import load_parameters, parameters_from_mapping, raw_parameters


def _leaves(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every mapping that carries a `source` (one documented constant or table)."""
    out: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        if "source" in node:
            out.append((path, node))
        else:
            for k, v in node.items():
                out += _leaves(v, f"{path}.{k}" if path else str(k))
    return out


def test_every_constant_states_source_and_certainty() -> None:
    data = raw_parameters()
    leaves = _leaves({k: v for k, v in data.items() if k != "schema"})
    assert len(leaves) >= 50
    assert sum(bool(e.get("calibrated")) for _, e in leaves) >= 15
    for path, entry in leaves:
        assert entry["certainty"] in ("verified", "unverified"), path
        if entry.get("calibrated"):
            assert entry["certainty"] == "unverified", path  # fitted, not read in a source
        assert len(str(entry["source"])) > 8, path


def test_packaged_file_loads_with_three_million_cycles_a_year() -> None:
    p = load_parameters()
    assert p.cycles_per_day.sum() * 365 == pytest.approx(3.0e6, rel=0.02)
    assert p.thresholds == (3.0, 1.0, 0.53, 0.01)
    assert p.shear_strain_ref == 0.0375


def test_missing_entry_is_named() -> None:
    data = raw_parameters()
    del data["fatigue"]["rod"]["titanium"]
    with pytest.raises(ParameterError, match="fatigue.rod.titanium.fatigue_coefficient_mpa"):
        parameters_from_mapping(data, "test.yaml")


def test_thresholds_out_of_order_are_refused(tmp_path: Path) -> None:
    data = raw_parameters()
    data["mechanoregulation"]["lacroix_prendergast"]["thresholds"]["cartilage"] = 5.0
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ParameterError, match="must decrease"):
        load_parameters(path)


def test_wrong_schema_and_missing_file() -> None:
    with pytest.raises(ParameterError, match="schema"):
        parameters_from_mapping({"schema": "other"})
    with pytest.raises(ParameterError, match="no such"):
        load_parameters("/nonexistent/healing.yaml")
