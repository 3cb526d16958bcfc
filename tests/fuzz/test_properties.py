"""Property-based fuzzing of the readers: whatever hypothesis writes into a case file, a cohort
spec, a landmark file, a NIfTI header or a DICOM header, reading it either gives a correct result
(checked against the invariants the readers promise) or stops with a SpinefuseError, within 5 s
and 400 MB of Python allocations per input. ``SPINEFUSE_FUZZ_EXAMPLES`` sets the number of
inputs per property (100 by default)."""

from __future__ import annotations

import gzip
import json
import math
import os
import signal
import struct
import tempfile
import tracemalloc
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spinefuse.case import Case, load_case
from spinefuse.cohort.spec import CohortSpec, load_cohort_spec
from spinefuse.datafiles import read_yaml_file
from spinefuse.errors import CaseError, SpinefuseError
from spinefuse.imaging.dicom import read_dicom_series
from spinefuse.imaging.nifti import read_nifti
from spinefuse.imaging.volume import Volume
from spinefuse.imaging.xray_landmarks import (
    AP_POINTS,
    LATERAL_POINTS,
    XrayLandmarks,
    read_xray_landmarks,
)
from spinefuse.records import check_output_folder

from .corpus import GOOD_CASE, GOOD_COHORT, LANDMARK_HEADER, LANDMARK_ROWS, ct_like, nifti_bytes

T = TypeVar("T")
SECONDS = 5.0
MEGABYTES = 400
FUZZ = settings(
    max_examples=int(os.environ.get("SPINEFUSE_FUZZ_EXAMPLES", "100")),
    deadline=None,  # the bound below is the hard one; hypothesis' deadline flakes on 2 cores
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    database=None,
)


class _Hang(BaseException):
    pass


def bounded(read: Callable[[], T]) -> T | SpinefuseError:
    """``read()``'s result or its SpinefuseError; a hang (over SECONDS) or an allocation peak
    over MEGABYTES fails the test, and so does any other exception (it propagates)."""

    def alarm(signum: int, frame: object) -> None:
        raise _Hang

    old = signal.signal(signal.SIGALRM, alarm)
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    tracemalloc.reset_peak()
    signal.setitimer(signal.ITIMER_REAL, SECONDS)
    try:
        return read()
    except SpinefuseError as err:
        return err
    except _Hang:
        pytest.fail(f"the reader ran over {SECONDS} s")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        peak = tracemalloc.get_traced_memory()[1]
        if started:
            tracemalloc.stop()
        assert peak < MEGABYTES * 1024 * 1024, f"peak allocation {peak / 2**20:.0f} MB"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


# --- values hypothesis may put anywhere -----------------------------------------------------------
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["", "L4-L5", "L5-S1", "CT", "XR", "female", "TLIF", "1e309", "nan", "-0"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


def _mutate(data: Any, edits: list[tuple[list[str], Any, bool]]) -> Any:
    data = json.loads(json.dumps(data))
    for path, value, delete in edits:
        node = data
        for key in path[:-1]:
            if not isinstance(node, dict):
                break
            node = node.setdefault(key, {})
        if isinstance(node, dict):
            if delete:
                node.pop(path[-1], None)
            else:
                node[path[-1]] = value
    return data


def _paths(data: Any, prefix: list[str] | None = None) -> Iterator[list[str]]:
    prefix = prefix or []
    if isinstance(data, dict):
        for k, v in data.items():
            yield [*prefix, k]
            yield from _paths(v, [*prefix, k])


CASE_PATHS = [*list(_paths(GOOD_CASE)), ["preferences", "rod_diameter_mm"], ["notes"], ["imaging"]]
COHORT_PATHS = [
    *list(_paths(GOOD_COHORT)),
    ["population", "bmi", "sd"],
    ["population", "age_years", "min"],
    ["population", "height_cm", "female"],
    ["population", "pelvic", "correlation"],
    ["batch_size"],
]


def edits(paths: list[list[str]]) -> st.SearchStrategy[list[tuple[list[str], Any, bool]]]:
    return st.lists(st.tuples(st.sampled_from(paths), values, st.booleans()), max_size=4)


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


byte_edits = st.lists(
    st.tuples(st.integers(min_value=0), st.binary(min_size=0, max_size=8), st.integers(0, 8)),
    max_size=5,
)


def _splice(raw: bytes, changes: list[tuple[int, bytes, int]]) -> bytes:
    out = bytearray(raw)
    for pos, new, cut in changes:
        at = pos % (len(out) + 1)
        out[at : at + cut] = new
    return bytes(out)


# --- case files -----------------------------------------------------------------------------------
@FUZZ
@given(changes=edits(CASE_PATHS))
def test_case_files_with_any_values(folder: Path, changes: list[Any]) -> None:
    path = folder / "case.yaml"
    path.write_text(_dump(_mutate(GOOD_CASE, changes)), encoding="utf-8")
    result = bounded(lambda: load_case(path, check_files=False))
    if isinstance(result, Case):
        assert Case.from_json(result.to_json()) == result
        for n in (result.patient.age_years, result.patient.height_cm, result.patient.weight_kg):
            assert math.isfinite(n)
        assert len(result.notes) <= 20_000
    else:
        assert isinstance(result, CaseError)
        assert str(path) in str(result) and len(str(result)) < 3000


@FUZZ
@given(changes=byte_edits)
def test_case_files_with_damaged_bytes(folder: Path, changes: list[Any]) -> None:
    path = folder / "case_bytes.yaml"
    path.write_bytes(_splice(_dump(GOOD_CASE).encode(), changes))
    result = bounded(lambda: load_case(path, check_files=False))
    assert isinstance(result, Case | CaseError)


@FUZZ
@given(text=st.one_of(st.text(max_size=400), st.binary(max_size=400)))
def test_any_text_as_yaml(folder: Path, text: str | bytes) -> None:
    path = folder / "any.yaml"
    path.write_bytes(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
    result = bounded(lambda: read_yaml_file(path, "case file", CaseError))
    assert not isinstance(result, SpinefuseError) or isinstance(result, CaseError)


# --- cohort specs ---------------------------------------------------------------------------------
@FUZZ
@given(changes=edits(COHORT_PATHS))
def test_cohort_specs_with_any_values(folder: Path, changes: list[Any]) -> None:
    path = folder / "spec.yaml"
    path.write_text(_dump(_mutate(GOOD_COHORT, changes)), encoding="utf-8")
    result = bounded(lambda: load_cohort_spec(path))
    if isinstance(result, CohortSpec):
        for name in ("age_years", "bmi", "trabecular_hu", "slip_percent", "baseline_odi"):
            d = getattr(result.population, name)
            assert d.sd >= 0 and d.min <= d.mean <= d.max
            assert all(math.isfinite(v) for v in (d.mean, d.sd, d.min, d.max))
        assert isinstance(result.size, int) and not isinstance(result.size, bool)
        assert result.population.height_cm.min <= result.population.height_cm.max
    else:
        assert isinstance(result, CaseError)


# --- landmark files -------------------------------------------------------------------------------
VERTS = ["T12", "L1", "L2", "L3", "L4", "L5", "S1", "C7", "femoral_head", "L9", "", "vertebra"]
POINTS = [*LATERAL_POINTS, *AP_POINTS, "centre", "centroid", "left", "x", "point"]
numbers = st.one_of(
    st.floats(min_value=-100, max_value=3000).map(lambda v: f"{v:.2f}"),
    st.sampled_from(["inf", "nan", "1e999", "-0", "812,5", "", "1_000", " 5 ", "0x10", "1e6"]),
)
rows = st.lists(
    st.tuples(st.sampled_from(VERTS), st.sampled_from(POINTS), numbers, numbers).map(
        lambda r: ",".join(r)
    ),
    max_size=14,
)
header_lines = st.lists(
    st.sampled_from(
        [
            "# view: ap",
            "# view: lateral",
            "# view:",
            "# pixel_spacing_mm: px",
            "# pixel_spacing_mm: 0",
            "# pixel_spacing_mm: 0.15 mm",
            "# image_size: 100,100",
            "# image_size: 0,0",
            "# image_size: 3000 , 3000",
            "# role: flexion",
            "# role: standing",
            "# spinefuse-xray-landmarks v2",
            "# comment: anything",
            "vertebra,point,x,y",
            "vertebra,point,x,y,z",
        ]
    ),
    max_size=4,
)


@FUZZ
@given(head=header_lines, body=rows, where=st.integers(0, 30), bom=st.booleans())
def test_landmark_files_of_any_shape(
    folder: Path, head: list[str], body: list[str], where: int, bom: bool
) -> None:
    lines = (LANDMARK_HEADER + LANDMARK_ROWS).splitlines()
    lines[where % len(lines) : where % len(lines)] = head + body
    path = folder / "lm.csv"
    path.write_text(("\ufeff" if bom else "") + "\n".join(lines) + "\n", encoding="utf-8")
    result = bounded(lambda: read_xray_landmarks(path))
    if isinstance(result, XrayLandmarks):
        w, h = result.image_size
        for x, y in result.points.values():
            assert 0 <= x <= w and 0 <= y <= h
        spacing = result.pixel_spacing_mm
        assert spacing is None or 0.01 <= spacing <= 2.0
    else:
        assert type(result).__name__ == "ImagingError" and str(path) in str(result)


@FUZZ
@given(changes=byte_edits)
def test_landmark_files_with_damaged_bytes(folder: Path, changes: list[Any]) -> None:
    path = folder / "lm_bytes.csv"
    path.write_bytes(_splice((LANDMARK_HEADER + LANDMARK_ROWS).encode(), changes))
    result = bounded(lambda: read_xray_landmarks(path))
    assert isinstance(result, XrayLandmarks) or type(result).__name__ == "ImagingError"


# --- NIfTI headers --------------------------------------------------------------------------------
_NIFTI = nifti_bytes(ct_like((20, 20, 12)), gz=False)
# (offset, struct format) of the NIfTI-1 header fields a damaged or hostile file may change
FIELDS = {
    "sizeof_hdr": (0, "<i"),
    "dim0": (40, "<h"),
    "dim1": (42, "<h"),
    "dim2": (44, "<h"),
    "dim3": (46, "<h"),
    "dim4": (48, "<h"),
    "datatype": (70, "<h"),
    "bitpix": (72, "<h"),
    "pixdim0": (76, "<f"),
    "pixdim1": (80, "<f"),
    "pixdim3": (88, "<f"),
    "vox_offset": (108, "<f"),
    "scl_slope": (112, "<f"),
    "scl_inter": (116, "<f"),
    "qform_code": (252, "<h"),
    "sform_code": (254, "<h"),
    "quatern_b": (256, "<f"),
    "qoffset_x": (268, "<f"),
    "srow_x0": (280, "<f"),
    "srow_y1": (300, "<f"),
    "srow_z3": (324, "<f"),
}
field_values = st.one_of(
    st.integers(-40000, 40000),
    st.sampled_from([0, 1, 2, 3, 7, 8, 16, 64, 128, 348, 352, 540, 2**31 - 1, -(2**31)]),
    st.floats(allow_nan=True, allow_infinity=True, width=32),
)


def _pack(fmt: str, value: Any) -> bytes:
    if fmt.endswith("f"):
        return struct.pack(
            fmt, float(value) if not isinstance(value, int) or abs(value) < 2**60 else 0.0
        )
    v = int(value) if isinstance(value, int) or math.isfinite(value) else 0
    bits = 8 * struct.calcsize(fmt)
    v = (v + 2 ** (bits - 1)) % 2**bits - 2 ** (bits - 1)
    return struct.pack(fmt, v)


@FUZZ
@given(
    changes=st.lists(st.tuples(st.sampled_from(sorted(FIELDS)), field_values), max_size=4),
    gz=st.booleans(),
    cut=st.one_of(st.none(), st.integers(0, len(_NIFTI))),
)
def test_nifti_headers_with_any_fields(
    folder: Path, changes: list[tuple[str, Any]], gz: bool, cut: int | None
) -> None:
    raw = bytearray(_NIFTI)
    for name, value in changes:
        offset, fmt = FIELDS[name]
        raw[offset : offset + struct.calcsize(fmt)] = _pack(fmt, value)
    data = bytes(raw[:cut] if cut is not None else raw)
    path = folder / ("h.nii.gz" if gz else "h.nii")
    path.write_bytes(gzip.compress(data, 1) if gz else data)
    result = bounded(lambda: read_nifti(path))
    if isinstance(result, Volume):
        assert np.all(np.isfinite(result.affine)) and np.all(np.isfinite(result.array))
        assert np.all((result.spacing >= 0.1) & (result.spacing <= 10.0))
    else:
        assert type(result).__name__ == "ImagingError"


@FUZZ
@given(changes=byte_edits)
def test_nifti_files_with_damaged_bytes(folder: Path, changes: list[Any]) -> None:
    path = folder / "b.nii.gz"
    path.write_bytes(_splice(gzip.compress(_NIFTI, 1), changes))
    result = bounded(lambda: read_nifti(path))
    assert isinstance(result, Volume) or type(result).__name__ == "ImagingError"


# --- DICOM headers --------------------------------------------------------------------------------
DICOM_TAGS = {
    "Rows": st.integers(-5, 70000),
    "Columns": st.integers(-5, 70000),
    "BitsAllocated": st.sampled_from([0, 1, 8, 12, 16, 32, 64]),
    "BitsStored": st.integers(0, 64),
    "PixelRepresentation": st.integers(0, 2),
    "SamplesPerPixel": st.integers(0, 4),
    "RescaleSlope": st.sampled_from(["0", "-1", "1e308", "1", "0.5", "", "1e-30"]),
    "RescaleIntercept": st.sampled_from(["-1024", "0", "1e30", "-1e30", ""]),
    "PixelSpacing": st.sampled_from([["0", "0"], ["0.7", "0.7"], ["1e-9", "1"], ["500", "500"]]),
    "ImageOrientationPatient": st.sampled_from(
        [[1, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0], [1, 0, 0, 1, 0, 0], [2, 0, 0, 0, 2, 0]]
    ),
    "Modality": st.sampled_from(["CT", "MR", "US", "", "OT"]),
    "NumberOfFrames": st.integers(0, 5),
    "PhotometricInterpretation": st.sampled_from(["MONOCHROME2", "RGB", "PALETTE COLOR", ""]),
    "SliceThickness": st.sampled_from(["0", "2", "-1"]),
    "GantryDetectorTilt": st.sampled_from(["0", "15", "-0.01"]),
}


@FUZZ
@given(
    tags=st.dictionaries(st.sampled_from(sorted(DICOM_TAGS)), st.just(None), max_size=3).flatmap(
        lambda keys: st.fixed_dictionaries({k: DICOM_TAGS[k] for k in keys})
    ),
    which=st.sampled_from(["all", "one"]),
    damage=byte_edits,
)
def test_dicom_headers_with_any_values(
    folder: Path, tags: dict[str, Any], which: str, damage: list[Any]
) -> None:
    from pydicom import dcmread

    from tests.imaging.dicom_series import write_series

    series = folder / "dicom"
    for old in series.glob("*"):
        old.unlink()
    values = (ct_like((3, 8, 8)) + 1024).astype(np.int16)
    paths = write_series(series, values)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for p in paths if which == "all" else paths[:1]:
            ds = dcmread(p)
            for key, value in tags.items():
                try:
                    setattr(ds, key, value)
                except (ValueError, TypeError, OverflowError):
                    pass  # a value pydicom will not even hold
            try:
                ds.save_as(p)
            except Exception:  # pydicom cannot write this value: not an input anyone has
                pass
    paths[0].write_bytes(_splice(paths[0].read_bytes(), damage))
    result = bounded(lambda: read_dicom_series(series))
    if isinstance(result, Volume):
        assert np.all(np.isfinite(result.array)) and np.all(np.isfinite(result.affine))
        assert np.all((result.spacing >= 0.1) & (result.spacing <= 10.0))
    else:
        assert type(result).__name__ == "ImagingError"


# --- output folders -------------------------------------------------------------------------------
@FUZZ
@given(
    parts=st.lists(st.sampled_from(["a", "b", "out", ".", "..", "x.yaml"]), min_size=1, max_size=4),
    file_at=st.integers(0, 4),
)
def test_output_folders_of_any_shape(folder: Path, parts: list[str], file_at: int) -> None:
    (folder / "outputs").mkdir(exist_ok=True)
    base = Path(tempfile.mkdtemp(dir=folder / "outputs"))
    if file_at < len(parts):
        blocker = base.joinpath(*parts[: file_at + 1])
        try:
            blocker.parent.mkdir(parents=True, exist_ok=True)
            blocker.write_text("a file in the way")
        except OSError:
            pass  # '.' or '..' or a folder already there: nothing blocks
    target = base.joinpath(*parts)
    result = bounded(lambda: check_output_folder(target))
    if isinstance(result, Path):
        assert result.is_dir()
    else:
        assert type(result).__name__ == "OutputFolderError"
