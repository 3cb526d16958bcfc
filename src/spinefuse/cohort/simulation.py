"""One cohort batch: the batch's virtual patients, with the arm's forced choices applied.

Every batch draws the whole population from the spec's seed and keeps its own rows, so a patient
is the same person whatever the batch size, the executor or the order batches finish in; that is
what makes a resumed or distributed run identical to an uninterrupted local one.
"""

from __future__ import annotations

from functools import lru_cache

import pandas as pd

from spinefuse.cohort.population import sample_population
from spinefuse.cohort.runner import Batch
from spinefuse.cohort.spec import Arm, CohortSpec


@lru_cache(maxsize=4)
def _spec(spec_json: str) -> CohortSpec:
    return CohortSpec.model_validate_json(spec_json)


@lru_cache(maxsize=4)
def _population(spec_json: str) -> pd.DataFrame:
    spec = _spec(spec_json)
    return sample_population(spec.population, spec.size, spec.seed)


def arm_of(spec: CohortSpec, name: str) -> Arm:
    """The arm called ``name``."""
    return next(a for a in spec.arms if a.name == name)


def batch_patients(batch: Batch) -> pd.DataFrame:
    """The patients of ``batch`` (one row each) as they enter its arm."""
    spec = _spec(batch.spec_json)
    arm = arm_of(spec, batch.arm)
    rows = _population(batch.spec_json).iloc[batch.start : batch.stop].copy()
    if arm.smoking is not None:
        rows["smoking"] = arm.smoking
    rows.insert(0, "arm", arm.name)
    return rows.reset_index(drop=True)
