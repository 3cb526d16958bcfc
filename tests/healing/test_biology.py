"""Biology multipliers: each factor scales the osteogenic rate by its calibrated value; the
technique does not enter."""

from __future__ import annotations

import pandas as pd
import pytest

from spinefuse.errors import CaseError
from spinefuse.healing.biology import osteogenic_multiplier
from spinefuse.healing.parameters import load_parameters

P = load_parameters()


def _row(**kw: object) -> pd.DataFrame:
    base: dict[str, object] = {
        "age_years": 60.0,
        "smoking": "never",
        "diabetes": "none",
        "trabecular_hu": 150.0,
        "nsaids": False,
        "graft": "iliac_crest_autograft",
        "technique": "TLIF",
        "levels": 1,
    }
    base.update(kw)
    return pd.DataFrame([base])


def m(**kw: object) -> float:
    return float(osteogenic_multiplier(_row(**kw), P)[0])


def test_reference_patient_is_one() -> None:
    assert m() == pytest.approx(1.0)


def test_each_factor_multiplies_by_its_value() -> None:
    assert m(graft="rhbmp2") == pytest.approx(P.graft_multiplier["rhbmp2"])
    assert m(smoking="current") == pytest.approx(P.smoking_multiplier["current"])
    assert m(diabetes="insulin") == pytest.approx(P.diabetes_multiplier["insulin"])
    assert m(nsaids=True) == pytest.approx(P.nsaids_multiplier)
    assert m(age_years=70.0) == pytest.approx(P.age_multiplier_per_year**10)
    assert m(levels=3) == pytest.approx(P.levels_multiplier**2)
    both = m(smoking="current", graft="allograft")
    assert both == pytest.approx(P.smoking_multiplier["current"] * P.graft_multiplier["allograft"])


def test_effects_point_the_published_way() -> None:
    assert m(graft="rhbmp2") > m() > m(graft="allograft")
    assert m(smoking="current") < m(smoking="former") < m()
    assert m(diabetes="insulin") < m(diabetes="non_insulin") < m()
    assert m(age_years=75.0) < m(age_years=45.0)


def test_technique_does_not_enter_the_biology() -> None:
    assert m(technique="PLF") == m(technique="ALIF") == m()


def test_unknown_values_are_named() -> None:
    with pytest.raises(CaseError, match="smoking = 'sometimes'"):
        m(smoking="sometimes")
    with pytest.raises(CaseError, match="age_years"):
        m(age_years=5.0)
    with pytest.raises(CaseError, match="levels"):
        m(levels=0)
