"""Cases and plans built from the contract records for the outcome tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest

from spinefuse.case import Case
from spinefuse.outcomes.synthetic import synthetic_registry
from spinefuse.plan.surgical_plan import SurgicalPlan


def _make_case(**patient: Any) -> Case:
    """A 67-year-old woman with claudication and spondylolisthesis-like symptoms."""
    p = {
        "age_years": 67,
        "sex": "female",
        "height_cm": 160,
        "weight_kg": 85,
        "smoking": "current",
        "diabetes": "insulin",
    }
    p.update(patient)
    return Case.model_validate(
        {
            "schema": "spinefuse/case@1",
            "id": "outcomes-test",
            "patient": p,
            "history": {
                "odi": 52,
                "back_pain_nrs": 7,
                "leg_pain": True,
                "leg_pain_nrs": 6,
                "neurogenic_claudication": True,
            },
        }
    )


def _make_plan(**over: Any) -> SurgicalPlan:
    data: dict[str, Any] = {
        "fuse_segments": ["L4-L5"],
        "approach": "open",
        "technique": "TLIF",
        "graft": {"material": "local_autograft", "volume_cm3": 8.0},
    }
    data.update(over)
    return SurgicalPlan.model_validate(data)


@pytest.fixture()
def make_case() -> Callable[..., Case]:
    return _make_case


@pytest.fixture()
def make_plan() -> Callable[..., SurgicalPlan]:
    return _make_plan


@pytest.fixture()
def case() -> Case:
    return _make_case()


@pytest.fixture()
def plan() -> SurgicalPlan:
    return _make_plan()


@pytest.fixture(scope="session")
def registry_10k() -> pd.DataFrame:
    """10,000 synthetic patients drawn to match the published population, with drawn outcomes."""
    return synthetic_registry(10_000, seed=2026)
