"""Malformed X-ray landmark files: each stops with an ImagingError naming the line and the fix,
or (a UTF-8 byte-order mark) reads correctly."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from spinefuse.errors import ImagingError
from spinefuse.imaging.xray_landmarks import read_xray_landmarks

HEADER = (
    "# spinefuse-xray-landmarks v1\n# view: lateral\n# pixel_spacing_mm: 0.2\n"
    "# image_size: 2000,2500\n"
)
ROWS = (
    "vertebra,point,x,y\n"
    "L4,superior_anterior,800,1000\nL4,superior_posterior,1000,990\n"
    "L4,inferior_anterior,805,1130\nL4,inferior_posterior,1003,1125\n"
    "L5,superior_anterior,810,1190\nL5,superior_posterior,1010,1180\n"
    "L5,inferior_anterior,820,1320\nL5,inferior_posterior,1010,1330\n"
    "S1,superior_anterior,830,1390\nS1,superior_posterior,1020,1420\n"
    "femoral_head,centre,700,1700\n"
)


def _write(tmp_path: Path, content: str | bytes, name: str = "lm.csv") -> Path:
    p = tmp_path / name
    p.write_bytes(content.encode() if isinstance(content, str) else content)
    return p


def test_the_good_file_reads(tmp_path: Path) -> None:
    lm = read_xray_landmarks(_write(tmp_path, HEADER + ROWS))
    assert lm.points[("L4", "inferior_posterior")] == (1003.0, 1125.0)
    assert lm.pixel_spacing_mm == 0.2 and lm.image_size == (2000, 2500)


def test_a_utf8_bom_is_accepted(tmp_path: Path) -> None:
    lm = read_xray_landmarks(_write(tmp_path, "\ufeff" + HEADER + ROWS))
    assert len(lm.points) == 11 and lm.view == "lateral"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        # decimal commas, in the rows and in the header
        (
            HEADER + ROWS.replace("800,1000", "800,5,1000,0"),
            r"line 6: 6 fields.*decimal comma",
        ),
        (
            HEADER + ROWS.replace("800,1000", '"800,5","1000,0"'),
            r"line 6: x = '800,5'.*decimal point, not a comma",
        ),
        (
            HEADER.replace("0.2", "0,143") + ROWS,
            r"pixel_spacing_mm' = '0,143'.*decimal point, not a comma",
        ),
        # implausible spacing
        (HEADER.replace("0.2", "inf") + ROWS, r"pixel_spacing_mm' = 'inf'"),
        (HEADER.replace("0.2", "0") + ROWS, r"pixel_spacing_mm' = 0 mm per pixel"),
        (HEADER.replace("0.2", "1e6") + ROWS, r"pixel_spacing_mm' = 1e\+06 mm.*0.01 to 2"),
        (HEADER.replace("0.2", "nan") + ROWS, r"pixel_spacing_mm' = 'nan'"),
        # a second header after the rows (two files joined)
        (HEADER + ROWS + HEADER + ROWS, r"line 17: a header line after the rows"),
        (HEADER + ROWS + "vertebra,point,x,y\n", r"line 17: a second column header"),
        # points outside the image
        (HEADER + ROWS.replace("700,1700", "700,2600"), r"line 16: .* outside the image"),
        (HEADER + ROWS.replace("800,1000", "-5,1000"), r"line 6: .* outside the image"),
        # inferior corners above the superior ones
        (
            HEADER + ROWS.replace("805,1130", "805,900").replace("1003,1125", "1003,890"),
            r"L4: the inferior corners lie above the superior ones",
        ),
        # extra fields and columns
        (HEADER + ROWS.replace("800,1000", "800,1000,7"), r"line 6: 5 fields"),
        (HEADER + ROWS.replace("vertebra,point,x,y", "vertebra,point,x,y,z"), "columns"),
        # header problems
        (HEADER.replace("v1", "v2") + ROWS, r"format version 'v2'.*reads v1"),
        (HEADER.replace("image_size: 2000,2500", "image_size: 0,0") + ROWS, "image_size"),
        (HEADER.replace("pixel_spacing_mm", "pixel_spacing") + ROWS, "unknown header"),
        (HEADER + "# view: ap\n" + ROWS, r"header 'view' is given twice"),
        (HEADER + "# role: standing\n" + ROWS, r"header 'role' = 'standing'"),
        # identical points of one vertebra (ZeroDivisionError in the slip before)
        (
            HEADER + ROWS.replace("1010,1180", "810,1190"),
            r"L5 superior_anterior and superior_posterior are the same point",
        ),
        (HEADER, "no landmark rows"),
        (HEADER + ROWS.replace("800,1000", "800,1e999"), r"line 6: .* finite"),
    ],
)
def test_malformed_files_are_refused(tmp_path: Path, content: str, message: str) -> None:
    with pytest.raises(ImagingError, match=message):
        read_xray_landmarks(_write(tmp_path, content))


def test_utf16_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ImagingError, match="saved as UTF-16; save the landmark file as UTF-8"):
        read_xray_landmarks(_write(tmp_path, (HEADER + ROWS).encode("utf-16")))


def test_non_utf8_bytes(tmp_path: Path) -> None:
    text = (HEADER + "# Aufnahme: M\xfcller\n" + ROWS).encode("latin-1")
    with pytest.raises(ImagingError, match=r"not UTF-8 text \(byte 0xfc"):
        read_xray_landmarks(_write(tmp_path, text))


def test_a_nifti_given_as_landmarks(tmp_path: Path) -> None:
    p = _write(tmp_path, gzip.compress(b"\x5c\x01" + bytes(400)), "ct.nii.gz")
    with pytest.raises(ImagingError, match=r"ct.nii.gz: a gzip-compressed file .*not a landmark"):
        read_xray_landmarks(p)
