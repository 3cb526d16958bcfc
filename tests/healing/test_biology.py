"""Biology multipliers: each factor scales the osteogenic rate by its calibrated value; the
technique does not enter."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spinefuse.errors import CaseError
from spinefuse.healing.biology import (
    compromised_share,
    interbody_resorption,
    osteogenic_multiplier,
    region_graft_factor,
)
from spinefuse.healing.parameters import load_parameters

P = load_parameters()


def _row(**kw: object) -> pd.DataFrame:
    base: dict[str, object] = {
        "case_id": "biology-test",
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
    share = compromised_share(_row(smoking="current"), P)[0]
    assert share == pytest.approx(P.compromised_bed_share * P.smoking_compromised_ratio["current"])
    assert m(diabetes="insulin") == pytest.approx(P.diabetes_multiplier["insulin"])
    assert m(nsaids=True) == pytest.approx(P.nsaids_multiplier)
    assert m(age_years=70.0) == pytest.approx(P.age_multiplier_per_year**10)
    assert m(levels=3) == pytest.approx(P.levels_multiplier**2)
    both = m(smoking="current", graft="allograft")
    assert both == pytest.approx(P.smoking_multiplier["current"] * P.graft_multiplier["allograft"])


def test_effects_point_the_published_way() -> None:
    assert m(graft="rhbmp2") > m() > m(graft="allograft")
    # in the disc space rhBMP-2 does not speed the bed (Roh 2013: 22.7 % of interbody fusions
    # at 6 months) and first resorbs bone in a share of levels
    factor = region_graft_factor(_row(graft="rhbmp2"), P)[0]
    assert m(graft="rhbmp2") * factor[0] == pytest.approx(m()) and factor[1] == 1.0
    assert np.all(region_graft_factor(_row(graft="allograft"), P) == 1.0)
    resorb = interbody_resorption(_row(graft="rhbmp2"), P)[0]
    assert resorb[0] == pytest.approx(0.38) and resorb[1] == pytest.approx(3 * 365.25 / 12)
    assert np.all(interbody_resorption(_row(graft="iliac_crest_autograft"), P) == 0.0)
    shares = [compromised_share(_row(smoking=k), P)[0] for k in ("current", "former", "never")]
    assert shares[0] > shares[1] > shares[2]  # smoking starves the bed of vessels
    assert compromised_share(_row(graft="rhbmp2"), P)[0] < shares[2]  # rhBMP-2 rescues it
    assert m(diabetes="insulin") < m(diabetes="non_insulin") < m()
    assert m(age_years=75.0) < m(age_years=45.0)


def test_graft_bed_mixes_its_materials_by_share() -> None:
    """rhBMP-2 and iliac crest set the bed; an allograft, DBM or ceramic bed takes the local
    bone the decompression yields; a local bed shares with its extender."""
    local, allo, dbm = (P.graft_multiplier[g] for g in ("local_autograft", "allograft", "dbm"))
    assert m(graft="allograft") == pytest.approx(allo)  # alone (no local bone named)
    assert m(graft="allograft", local_bone_share=0.5) == pytest.approx(0.5 * local + 0.5 * allo)
    assert m(graft="local_autograft", local_bone_share=0.4, extender="dbm") == pytest.approx(
        0.4 * local + 0.6 * dbm
    )
    assert m(graft="rhbmp2", local_bone_share=0.2) == pytest.approx(P.graft_multiplier["rhbmp2"])
    with pytest.raises(CaseError, match="extender = 'glue'"):
        m(graft="local_autograft", local_bone_share=0.5, extender="glue")


def test_technique_does_not_enter_the_biology() -> None:
    assert m(technique="PLF") == m(technique="ALIF") == m()


def test_unknown_values_are_named() -> None:
    with pytest.raises(CaseError, match="smoking = 'sometimes'"):
        m(smoking="sometimes")
    with pytest.raises(CaseError, match="age_years"):
        m(age_years=5.0)
    with pytest.raises(CaseError, match="levels"):
        m(levels=0)
