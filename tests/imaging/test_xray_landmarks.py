from pathlib import Path

import pytest

from spinefuse.errors import ImagingError
from spinefuse.imaging.xray_landmarks import (
    XrayLandmarks,
    read_xray_landmarks,
    write_xray_landmarks,
)


def test_round_trip(tmp_path: Path) -> None:
    lm = XrayLandmarks(
        view="lateral",
        points={("L4", "superior_anterior"): (10.0, 20.5), ("femoral_head", "centre"): (5, 900)},
        image_size=(1000, 2000),
        pixel_spacing_mm=0.2,
        role="flexion",
    )
    back = read_xray_landmarks(write_xray_landmarks(lm, tmp_path / "f.csv"))
    assert back.points == lm.points
    assert back.pixel_spacing_mm == pytest.approx(0.2)
    assert back.role == "flexion" and back.view == "lateral" and back.image_size == (1000, 2000)


@pytest.mark.parametrize(
    ("header", "row", "message"),
    [
        ("# view: oblique", "L4,superior_anterior,1,2", "'view' = 'oblique'"),
        ("# view: ap", "L4,superior_anterior,1,2", "not a ap point for L4"),
        ("# view: lateral", "L9,superior_anterior,1,2", "unknown vertebra 'L9'"),
        ("# view: lateral", "L4,superior_anterior,one,2", "must be numbers"),
    ],
)
def test_bad_files_name_the_problem(tmp_path: Path, header: str, row: str, message: str) -> None:
    p = tmp_path / "bad.csv"
    p.write_text(
        f"{header}\n# pixel_spacing_mm: px\n# image_size: 100,100\nvertebra,point,x,y\n{row}\n"
    )
    with pytest.raises(ImagingError, match=message):
        read_xray_landmarks(p)
