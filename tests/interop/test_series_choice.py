"""The series a case reads from a study: thinnest axial CT, sagittal and axial T2 MR."""

from __future__ import annotations

import pytest

from spinefuse.interop.series_choice import SeriesChoiceError, SeriesInfo, choose_series

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
SAGITTAL = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
CORONAL = (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)
TILTED_40 = (1.0, 0.0, 0.0, 0.0, 0.766, -0.643)


def series(
    uid: str,
    modality: str,
    orientation: tuple[float, ...] | None,
    thickness: float,
    description: str = "",
    instances: int = 100,
) -> SeriesInfo:
    return SeriesInfo.model_validate(
        {
            "study_uid": "1.2.3",
            "series_uid": uid,
            "modality": modality,
            "description": description,
            "instances": instances,
            "slice_thickness_mm": thickness,
            "orientation": orientation,
        }
    )


def test_planes_from_the_orientation() -> None:
    assert series("a", "CT", AXIAL, 1).plane == "axial"
    assert series("s", "MR", SAGITTAL, 1).plane == "sagittal"
    assert series("c", "CT", CORONAL, 1).plane == "coronal"
    assert series("o", "CT", TILTED_40, 1).plane == "oblique"  # 40° > the 30° limit
    assert series("n", "CT", None, 1).plane is None


def test_ct_thinnest_axial_over_scouts_reformats_and_thicker_kernels() -> None:
    study = [
        series("scout", "CT", CORONAL, 0.6, "topogram", instances=1),
        series("thick", "CT", AXIAL, 5.0, "abdomen 5 mm"),
        series("thin", "CT", AXIAL, 0.75, "bone 0.75 mm"),
        series("cor", "CT", CORONAL, 0.5, "coronal MPR"),
        series("dose", "SR", None, 0.0, "dose report", instances=1),
    ]
    [chosen] = choose_series(study, "CT")
    assert chosen.role == "ct_axial" and chosen.series.series_uid == "thin"
    assert "thinnest of 2 axial CT series (0.75 mm)" in chosen.reason


def test_mr_sagittal_and_axial_t2_not_t1_or_t2_star() -> None:
    study = [
        series("t1", "MR", SAGITTAL, 3.0, "SAG T1 TSE"),
        series("t2s", "MR", SAGITTAL, 3.0, "sag T2* GRE"),
        series("t2", "MR", SAGITTAL, 4.0, "SAG T2 TSE"),
        series("t2thin", "MR", SAGITTAL, 3.0, "t2_tse_sag"),
        series("ax", "MR", AXIAL, 4.0, "AX T2W"),
    ]
    chosen = choose_series(study, "MR")
    assert [(c.role, c.series.series_uid) for c in chosen] == [
        ("mr_sagittal_t2", "t2thin"),
        ("mr_axial_t2", "ax"),
    ]


def test_none_fits_lists_what_was_found() -> None:
    study = [series("scout", "CT", CORONAL, 0.6, "topogram", instances=1)]
    with pytest.raises(SeriesChoiceError, match="no axial CT series") as err:
        choose_series(study, "CT")
    assert "topogram" in str(err.value) and "--series" in str(err.value)
    with pytest.raises(SeriesChoiceError, match="sagittal T2 MR"):
        choose_series([series("t1", "MR", SAGITTAL, 3.0, "SAG T1")], "MR")
