"""heal_batch(): the cohort contract (columns, row order, errors)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spinefuse.errors import CaseError
from spinefuse.healing import RESULT_COLUMNS, heal_batch

from .conftest import select, synthetic_response


def _biology(n: int, **cols: list[object]) -> pd.DataFrame:
    base: dict[str, list[object]] = {
        "case_id": [f"p{i}" for i in range(n)],
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


def test_three_day_steps_agree_with_daily_steps() -> None:
    bio = _biology(3, smoking=["never", "current", "never"], technique=["TLIF", "TLIF", "PLF"])
    resp = synthetic_response(3, cage=[True, True, False])
    daily = heal_batch(bio, resp, members=400, seed=2, dt_days=1.0)
    coarse = heal_batch(bio, resp, members=400, seed=2)  # the parameter file's 3-day step
    probs = [c for c in RESULT_COLUMNS if c != "median_time_to_fusion_months"]
    np.testing.assert_allclose(coarse[probs], daily[probs], atol=0.01)
    np.testing.assert_allclose(
        coarse["median_time_to_fusion_months"], daily["median_time_to_fusion_months"], atol=0.2
    )


def test_a_patient_gets_the_same_numbers_in_any_batch() -> None:
    """Each patient's members come from (run seed, case id): the same row in a batch of one,
    in a larger batch, or in another order gives identical probabilities."""
    bio = _biology(
        4,
        smoking=["never", "current", "never", "former"],
        graft=["rhbmp2", "local_autograft", "allograft", "dbm"],
        technique=["TLIF", "PLF", "TLIF", "PLF"],
    )
    resp = synthetic_response(4, cage=[True, False, True, False])
    together = heal_batch(bio, resp, seed=5)
    for i in range(4):
        alone = heal_batch(bio.iloc[[i]], select(resp, [i]), seed=5)
        pd.testing.assert_frame_equal(alone, together.iloc[[i]])
    order = [3, 1, 0, 2]
    shuffled = heal_batch(bio.iloc[order], select(resp, order), seed=5)
    pd.testing.assert_frame_equal(shuffled, together.iloc[order])
    other_seed = heal_batch(bio, resp, seed=6)
    assert not other_seed.equals(together)


def test_extenders_and_local_bone_share_mix_the_graft_bed() -> None:
    """An allograft bed takes the local bone the decompression yields: the more local bone,
    the more it fuses; a local-autograft bed extended with DBM fuses less than pure local bone
    (DBM extender 85 % vs local bone, Morris 2018 Eur Spine J 27:1856)."""
    bio = _biology(
        4,
        technique=["PLF"] * 4,
        graft=["allograft", "allograft", "local_autograft", "local_autograft"],
        local_bone_share=[0.0, 0.6, 1.0, 0.4],
        extender=["none", "none", "none", "dbm"],
        case_id=["one-patient"] * 4,
    )
    out = heal_batch(bio, synthetic_response(4, cage=False), seed=3)
    fused = out["fusion_probability_24m"].to_numpy()
    assert fused[0] < fused[1] < fused[2]
    assert fused[3] < fused[2]
    with pytest.raises(CaseError, match="local_bone_share"):
        heal_batch(_biology(1, local_bone_share=[1.4]), synthetic_response(1))


def test_bone_density_acts_only_through_the_cage() -> None:
    """Osteoporosis does not change fusion rates by itself (meta-analysis, e-jbm.org 719); in
    spinefuse low density lowers fusion only where a cage subsides into the endplate."""
    bio = _biology(
        4,
        trabecular_hu=[80.0, 150.0, 80.0, 150.0],
        technique=["PLF", "PLF", "TLIF", "TLIF"],
        case_id=["one-patient"] * 4,  # the same members in every row: a paired comparison
    )
    out = heal_batch(bio, synthetic_response(4, cage=[False, False, True, True]), members=300)
    plf_low, plf_normal, ib_low, ib_normal = out["fusion_probability_24m"]
    assert plf_low == plf_normal
    assert out["subsidence_probability"].iloc[2] > out["subsidence_probability"].iloc[3]
    assert ib_low < ib_normal
