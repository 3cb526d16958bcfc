"""Bad cohort specs: every one stops with a CaseError naming the field and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from spinefuse.cohort.spec import cohort_from_dict, load_cohort_spec
from spinefuse.errors import CaseError

from .test_spec_population import SPEC

INF = float("inf")


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"size": True}, "size = True: true/false is not a number"),
        ({"seed": False}, "seed = False: true/false is not a number"),
        ({"batch_size": True}, "batch_size = True: true/false is not a number"),
        ({"population": {"bmi": {"sd": INF}}}, "population.bmi.sd = inf"),
        ({"population": {"bmi": {"mean": INF, "max": INF}}}, "population.bmi.mean = inf"),
        ({"population": {"bmi": {"min": 40, "max": 20}}}, "min 40.0 is above max 20.0"),
        ({"population": {"height_cm": {"min": 200, "max": 140}}}, "min 200.0 is above max 140.0"),
        (
            {"population": {"height_cm": {"female": [162, -7]}}},
            "population.height_cm.female = [162, -7]: the sd must be ≥ 0",
        ),
        (
            {"population": {"pelvic": {"lumbar_lordosis_deg": [55, -10]}}},
            "the sd must be ≥ 0",
        ),
        (
            {"population": {"height_cm": {"male": [INF, 7]}}},
            "population.height_cm.male.0 = inf",
        ),
        ({"population": {"female_fraction": True}}, "true/false is not a number"),
        ({"arms": [{"name": "A", "rod_diameter_mm": INF}]}, "arms.0.rod_diameter_mm = inf"),
        ({"population": {"bmi": 28}}, "population.bmi = 28"),
        ({"size": 10_000_000, "batch_size": 1}, "makes 20000000 batches (at most 1000000)"),
    ],
)
def test_bad_values_are_named(patch: dict, message: str) -> None:
    data = {**SPEC, **patch}
    with pytest.raises(CaseError) as err:
        cohort_from_dict(data, "spec.yaml")
    assert message in str(err.value)
    assert "spec.yaml" in str(err.value)


def test_spec_file_with_duplicate_keys_and_bad_encoding(tmp_path: Path) -> None:
    p = tmp_path / "spec.yaml"
    p.write_text(
        "schema: spinefuse/cohort@1\nname: a\nsize: 100\nseed: 1\nseed: 2\narms: [{name: A}]\n"
    )
    with pytest.raises(CaseError, match="key 'seed' is given twice"):
        load_cohort_spec(p)
    p.write_bytes("schema: spinefuse/cohort@1\nname: caf\xe9\n".encode("latin-1"))
    with pytest.raises(CaseError, match="not UTF-8"):
        load_cohort_spec(p)
