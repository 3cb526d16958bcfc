"""heal_batch(): the cohort contract (columns, row order, errors)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spinefuse.errors import CaseError
from spinefuse.healing import RESULT_COLUMNS, heal_batch

from .conftest import synthetic_response


def _biology(n: int, **cols: list[object]) -> pd.DataFrame:
    base: dict[str, list[object]] = {
        "age_years": [60.0] * n,
        "smoking": ["never"] * n,
        "diabetes": ["none"] * n,
        "trabecular_hu": [150.0] * n,
        "nsaids": [False] * n,
        "graft": ["iliac_crest_autograft"] * n,
        "technique": ["TLIF"] * n,
        "levels": [1] * n,
    }
    base.update(cols)
    return pd.DataFrame(base, index=[f"p{i}" for i in range(n)])


def test_columns_index_and_ranges() -> None:
    bio = _biology(
        3,
        smoking=["never", "current", "never"],
        graft=["rhbmp2", "iliac_crest_autograft", "allograft"],
    )
    out = heal_batch(bio, synthetic_response(3), members=300, seed=1)
    assert list(out.columns) == list(RESULT_COLUMNS)
    assert list(out.index) == ["p0", "p1", "p2"]
    probs = out.drop(columns="median_time_to_fusion_months").to_numpy()
    assert np.all((probs >= 0) & (probs <= 1))
    assert out["nonunion_probability"].iloc[0] < out["nonunion_probability"].iloc[1]
    np.testing.assert_allclose(out["nonunion_probability"], 1 - out["fusion_probability_24m"])


def test_same_seed_same_frame() -> None:
    bio = _biology(2)
    a = heal_batch(bio, synthetic_response(2), members=100, seed=7)
    b = heal_batch(bio, synthetic_response(2), members=100, seed=7)
    pd.testing.assert_frame_equal(a, b)


def test_short_horizon_leaves_later_months_empty() -> None:
    out = heal_batch(_biology(1), synthetic_response(1), months=12, members=100)
    assert np.isnan(out["fusion_probability_24m"].iloc[0])
    assert out["fusion_probability_12m"].iloc[0] >= 0


def test_mismatched_rows_and_unknown_values_are_named() -> None:
    with pytest.raises(CaseError, match="2 rows but the fusion response holds 3"):
        heal_batch(_biology(2), synthetic_response(3))
    with pytest.raises(CaseError, match="graft = 'bone_cement'"):
        heal_batch(_biology(1, graft=["bone_cement"]), synthetic_response(1))
    with pytest.raises(CaseError, match="lacks the columns"):
        heal_batch(_biology(1).drop(columns="levels"), synthetic_response(1))
