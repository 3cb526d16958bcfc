"""Malformed DICOM folders: each stops with an ImagingError naming the file, the tag and the fix,
and no message or log carries an identifier from a DICOM header."""

from __future__ import annotations

import logging
import os
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.uid import DeflatedExplicitVRLittleEndian

from spinefuse.errors import ImagingError
from spinefuse.imaging.dicom import read_dicom_series

from ..fuzz.sandbox import run_cases
from .dicom_series import write_series

IDENTIFIERS = ("Doe^Jane", "Doe", "MRN-123456", "19610203", "General Hospital", "House", "ACC42")


def _values(n: int = 5, rows: int = 6, cols: int = 7) -> np.ndarray:
    return (np.arange(n * rows * cols, dtype=np.int16).reshape(n, rows, cols) * 7) % 2000


def _edit(paths: list[Path], **tags: object) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about the bad values written here
        _set(paths, tags)


def _set(paths: list[Path], tags: dict[str, object]) -> None:
    for p in paths:
        ds = dcmread(p)
        for key, value in tags.items():
            if value is None:
                delattr(ds, key)
            else:
                setattr(ds, key, value)
        ds.save_as(p)


@pytest.mark.parametrize("slope", [0, "0.0"])
def test_rescale_slope_zero_stops(tmp_path: Path, slope: object) -> None:
    _edit(write_series(tmp_path, _values()), RescaleSlope=slope)
    with pytest.raises(ImagingError, match=r"Rescale Slope \(0028,1053\) = 0.*s001.dcm|s00"):
        read_dicom_series(tmp_path)


def test_missing_rescale_reads_as_stored_values(tmp_path: Path) -> None:
    paths = write_series(tmp_path, _values(), intercept=0.0)
    _edit(paths, RescaleSlope=None, RescaleIntercept=None)
    vol = read_dicom_series(tmp_path)
    assert float(vol.array.max()) == float(_values().max())


def test_mixed_series_message_carries_no_identifier(tmp_path: Path) -> None:
    a = write_series(tmp_path, _values(), name_prefix="a")
    b = write_series(tmp_path, _values(), name_prefix="b")
    uids = {str(dcmread(p).SeriesInstanceUID) for p in a + b}
    _edit(a, SeriesDescription="Jane Doe lumbar CT")
    with pytest.raises(ImagingError) as err:
        read_dicom_series(tmp_path)
    message = str(err.value)
    assert "holds 2 series" in message and "a001.dcm" in message and "b001.dcm" in message
    assert "Jane Doe" not in message and "CT test" not in message
    assert not any(uid in message for uid in uids)
    with pytest.raises(ImagingError) as err:
        read_dicom_series(tmp_path, series_uid="1.2.3.4.5.6.7.8.9")
    assert "1.2.3.4.5.6.7.8.9" not in str(err.value)
    assert "no series with the SeriesInstanceUID given" in str(err.value)


def test_no_identifier_reaches_warnings_or_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    paths = write_series(tmp_path, _values())
    _edit(paths, PatientBirthDate="1961-02-03 Doe", PatientName="Doe^Jane")
    caplog.set_level(logging.DEBUG)
    caplog.clear()  # what writing the test files logged
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        vol = read_dicom_series(tmp_path)
    text = " ".join(str(w.message) for w in seen) + caplog.text + " ".join(vol.meta.values())
    assert not any(name in text for name in (*IDENTIFIERS, "1961-02-03"))
    assert "SeriesDescription" not in vol.meta  # removed by the basic profile


def test_corrupt_and_truncated_files(tmp_path: Path) -> None:
    paths = write_series(tmp_path, _values())
    paths[2].write_bytes(paths[2].read_bytes()[:-30])  # pixel data cut short
    with pytest.raises(ImagingError, match=r"s003.dcm: .*(corrupt|cannot be decoded)"):
        read_dicom_series(tmp_path)


def _patch(paths: list[Path], old: bytes, new: bytes) -> None:
    """Replace bytes of the same length in every file (values pydicom would not write)."""
    assert len(old) == len(new)
    for p in paths:
        raw = p.read_bytes()
        assert raw.count(old) == 1
        p.write_bytes(raw.replace(old, new))


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (b"-100.0000", b"-1a0.0b00", r"Image Position \(Patient\) \(0020,0032\) is not 3 finite"),
        (b"0.7\\0.8", b"abc\\0.8", r"Pixel Spacing \(0028,0030\) is not 2 finite"),
        (b"-1024.0", b"x1024.0", r"Rescale Intercept \(0028,1052\) is not a finite number"),
    ],
)
def test_unreadable_header_values(tmp_path: Path, old: bytes, new: bytes, message: str) -> None:
    _patch(write_series(tmp_path, _values(), intercept=-1024.0), old, new)
    with pytest.raises(ImagingError, match=message):
        read_dicom_series(tmp_path)


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        ({"ImagePositionPatient": ["nan", "0", "0"]}, r"Image Position \(Patient\) \(0020,0032\)"),
        ({"PixelSpacing": ["0", "0"]}, r"Pixel Spacing \(0028,0030\) = \[0.0, 0.0\]"),
        ({"ImageOrientationPatient": [0, 0, 0, 0, 0, 0]}, r"Image Orientation \(Patient\)"),
        ({"ImageOrientationPatient": [1, 0, 0, 1, 0, 0]}, r"Image Orientation \(Patient\)"),
        ({"RescaleSlope": "inf"}, r"Rescale Slope \(0028,1053\)"),
        ({"Rows": None}, r"Rows \(0028,0010\)"),
        ({"SamplesPerPixel": 3, "PhotometricInterpretation": "RGB"}, "RGB"),
    ],
)
def test_bad_header_values(tmp_path: Path, tags: dict, message: str) -> None:
    _edit(write_series(tmp_path, _values()), **tags)
    with pytest.raises(ImagingError, match=message):
        read_dicom_series(tmp_path)


def test_implausible_pixel_spacing(tmp_path: Path) -> None:
    write_series(tmp_path, _values(), spacing=(80.0, 70.0, 2.0))
    with pytest.raises(ImagingError, match=r"voxel size 80 × 70 × 2 mm"):
        read_dicom_series(tmp_path)


def test_symlink_loops(tmp_path: Path) -> None:
    folder = tmp_path / "series"
    write_series(folder, _values())
    os.symlink(folder / "loop", folder / "loop")  # an entry that points at itself
    assert read_dicom_series(folder).shape == (7, 6, 5)
    os.symlink(tmp_path / "self", tmp_path / "self")
    with pytest.raises(ImagingError, match="self: a symbolic link loop"):
        read_dicom_series(tmp_path / "self")


def test_non_image_files_in_the_folder_are_skipped(tmp_path: Path) -> None:
    paths = write_series(tmp_path, _values())
    (tmp_path / "README.txt").write_text("exported by the PACS")
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / "thumb.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(300))
    report = dcmread(paths[0])
    del report.PixelData
    report.Modality = "SR"
    report.SOPClassUID = report.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"
    report.save_as(tmp_path / "report.dcm")
    screenshot = dcmread(paths[0])
    screenshot.Modality = "OT"
    del screenshot.ImagePositionPatient
    screenshot.SeriesInstanceUID = "1.2.3"
    screenshot.save_as(tmp_path / "dose_screen.dcm")
    os.mkfifo(tmp_path / "pipe")
    vol = read_dicom_series(tmp_path)
    assert vol.shape == (7, 6, 5)


def test_a_damaged_file_that_claims_to_be_dicom_stops(tmp_path: Path) -> None:
    """A file with the DICM prefix but no readable dataset may be a damaged slice: dropping it
    would shorten the volume without a word."""
    write_series(tmp_path, _values())
    (tmp_path / "junk.dcm").write_bytes(bytes(128) + b"DICM" + bytes(range(64)))
    with pytest.raises(ImagingError, match=r"junk.dcm: (corrupt|a DICOM file without pixel)"):
        read_dicom_series(tmp_path)


def test_a_damaged_meta_length_neither_drops_the_slice_nor_allocates(tmp_path: Path) -> None:
    paths = write_series(tmp_path, _values())
    raw = bytearray(paths[0].read_bytes())
    del raw[146:147]  # one byte gone inside the file meta: lengths read from the wrong place
    paths[0].write_bytes(bytes(raw))
    out = run_cases(
        [{"id": "d", "reader": "dicom", "path": str(tmp_path)}], memory_mb=1024, seconds=20
    )["d"]
    assert out["outcome"] == "error", out
    assert paths[0].name in out["message"]


def test_a_deflate_bomb_is_refused_without_inflating_it(tmp_path: Path) -> None:
    paths = write_series(tmp_path, _values())
    ds = dcmread(paths[0])
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    ds.save_as(paths[0])
    raw = paths[0].read_bytes()
    # the deflated dataset is the rest of the file after the file meta; replace it by a stream
    # that inflates to 320 MiB
    meta_end = 144 + struct.unpack("<I", raw[140:144])[0]  # after (0002,0000) group length
    comp = zlib.compressobj(1, zlib.DEFLATED, -15)
    chunk = bytes(64 * 1024 * 1024)
    body = b"".join(comp.compress(chunk) for _ in range(5)) + comp.flush()
    paths[0].write_bytes(raw[:meta_end] + body)
    out = run_cases(
        [{"id": "d", "reader": "dicom", "path": str(tmp_path)}], memory_mb=1536, seconds=30
    )["d"]
    assert out["outcome"] == "error", out
    assert "inflates to more than" in out["message"]
