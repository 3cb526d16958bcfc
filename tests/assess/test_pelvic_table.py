"""The UCI vertebral-column table: PI = PT + SS on every row and the Schwab modifiers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spinefuse.assess.pelvic_table import pelvic_table, read_pelvic_table
from spinefuse.errors import ParameterError


@pytest.fixture(scope="module")
def uci(shared_data: Path) -> pd.DataFrame:
    return read_pelvic_table(shared_data / "tables/uci_vertebral_column/column_3C_weka.csv")


def test_every_row_is_checked_and_consistent(uci: pd.DataFrame) -> None:
    out = pelvic_table(uci)
    assert len(out) == len(uci) == 310
    assert out["consistent"].all()
    assert out["identity_residual_deg"].abs().max() < 1e-6


def test_schwab_modifiers_for_every_row(uci: pd.DataFrame) -> None:
    out = pelvic_table(uci)
    assert set(out["pt_modifier"]) <= {"0", "+", "++"}
    # first row: PI 63.03, PT 22.55, LL 39.61 -> PT 20-30 '+', PI-LL 23.4 > 20 '++'
    assert (out.loc[0, "pt_modifier"], out.loc[0, "pi_ll_modifier"]) == ("+", "++")
    assert out.loc[0, "pi_ll_deg"] == pytest.approx(63.0278175 - 39.60911701)
    pt = uci["pelvic_tilt"].to_numpy()
    assert (out["pt_modifier"] == "++").sum() == int((pt > 30).sum())
    assert (out["pt_modifier"] == "0").sum() == int((pt < 20).sum())
    mismatch = uci["pelvic_incidence"] - uci["lumbar_lordosis_angle"]
    assert (out["pi_ll_modifier"] == "0").sum() == int((mismatch < 10).sum())
    # spondylolisthesis patients carry more PT '++' than normals
    share = out.groupby(uci["status"])["pt_modifier"].apply(lambda s: (s == "++").mean())
    assert share["Spondylolisthesis"] > share["Normal"]


def test_a_row_breaking_the_identity_is_reported_not_fixed(uci: pd.DataFrame) -> None:
    bad = uci.copy()
    bad.loc[[7, 42], "sacral_slope"] += np.array([0.5, -3.0])
    bad.loc[99, "pelvic_tilt"] = np.nan
    out = pelvic_table(bad)
    assert list(out.index[~out["consistent"]]) == [7, 42, 99]
    assert out.loc[42, "identity_residual_deg"] == pytest.approx(3.0)
    assert bad.loc[42, "sacral_slope"] == pytest.approx(uci.loc[42, "sacral_slope"] - 3.0)
    # within the stated tolerance (0.05 deg) a row stays consistent
    near = uci.copy()
    near.loc[3, "sacral_slope"] += 0.04
    assert pelvic_table(near)["consistent"].all()


def test_missing_column_is_named() -> None:
    with pytest.raises(ParameterError, match="'pelvic_tilt'"):
        pelvic_table(pd.DataFrame({"pelvic_incidence": [50.0], "sacral_slope": [40.0]}))
