"""A corpus of malformed inputs for every reader, generated small (nothing copied from real data).

``build_corpus(folder)`` writes each input under ``folder`` and returns the cases: the reader
to call (a name known to :mod:`tests.fuzz.sandbox`), the path, keyword arguments and what must
happen: ``("ok", None, None)`` or ``("error", error class name, message pattern)``. The same
files seed the coverage-guided campaign of ``benchmarks/bench_fuzz.py``.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import yaml

Case = dict[str, Any]

GOOD_CASE: dict[str, Any] = {
    "schema": "spinefuse/case@1",
    "id": "fuzz-001",
    "patient": {"age_years": 62, "sex": "female", "height_cm": 163, "weight_kg": 74},
    "history": {
        "back_pain_nrs": 6,
        "leg_pain": True,
        "leg_pain_nrs": 7,
        "neurogenic_claudication": True,
        "symptom_duration_months": 14,
        "conservative_care": ["physiotherapy", "nsaids"],
        "conservative_care_months": 9,
        "odi": 46,
    },
}
GOOD_COHORT: dict[str, Any] = {
    "schema": "spinefuse/cohort@1",
    "name": "fuzz-trial",
    "size": 200,
    "seed": 3,
    "arms": [{"name": "TLIF", "technique": "TLIF"}, {"name": "PLF", "technique": "PLF"}],
}
LANDMARK_HEADER = (
    "# spinefuse-xray-landmarks v1\n# view: lateral\n# pixel_spacing_mm: 0.2\n"
    "# image_size: 2000,2500\n"
)
LANDMARK_ROWS = (
    "vertebra,point,x,y\n"
    "L4,superior_anterior,800,1000\nL4,superior_posterior,1000,990\n"
    "L4,inferior_anterior,805,1130\nL4,inferior_posterior,1003,1125\n"
    "L5,superior_anterior,810,1190\nL5,superior_posterior,1010,1180\n"
    "L5,inferior_anterior,820,1320\nL5,inferior_posterior,1010,1330\n"
    "S1,superior_anterior,830,1390\nS1,superior_posterior,1020,1420\n"
    "femoral_head,centre,700,1700\n"
)
AFFINE = np.diag([0.8, 0.8, 2.0, 1.0])


def ct_like(shape: tuple[int, int, int] = (40, 40, 24), seed: int = 0) -> np.ndarray:
    """A small CT in HU: air around a soft-tissue body with a bony core."""
    rng = np.random.default_rng(seed)
    i, j, _ = np.indices(shape)
    c = (np.asarray(shape) - 1) / 2
    r = np.hypot((i - c[0]) / (shape[0] / 2.5), (j - c[1]) / (shape[1] / 2.5))
    ct = np.where(r < 1.0, 40.0, -1000.0) + rng.normal(0, 15, shape)
    ct[r < 0.35] = 700.0 + rng.normal(0, 60, int((r < 0.35).sum()))
    return np.asarray(np.rint(ct), dtype=np.int16)


def nifti_bytes(data: np.ndarray, affine: np.ndarray | None = AFFINE, gz: bool = True) -> bytes:
    """A NIfTI-1 file with sform and qform (code 1) unless ``affine`` is None."""
    img = nib.Nifti1Image(data, affine)
    if affine is not None:
        img.set_qform(affine, code=1)
        img.set_sform(affine, code=1)
    raw = img.to_bytes()
    return gzip.compress(raw, 1) if gz else raw


def header_only(dims: tuple[int, ...], vox_offset: int = 352) -> bytes:
    """A NIfTI-1 header (float32) declaring ``dims`` and holding no voxels."""
    hdr = nib.Nifti1Header()
    hdr.set_data_dtype(np.float32)
    hdr["dim"] = [len(dims), *dims, *([1] * (7 - len(dims)))]
    hdr["pixdim"] = [1, 1, 1, 1, 1, 1, 1, 1]
    hdr.set_sform(np.eye(4), code=1)
    hdr["vox_offset"] = vox_offset
    return bytes(hdr.binaryblock) + b"\x00" * 4


def _text(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def _yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False)


def _patch_case(**changes: Any) -> dict[str, Any]:
    data = yaml.safe_load(_yaml(GOOD_CASE))
    for dotted, value in changes.items():
        node = data
        keys = dotted.split("__")
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = value
    return data


def _ok() -> tuple[str, None, None]:
    return ("ok", None, None)


def _err(kind: str, pattern: str) -> tuple[str, str, str]:
    return ("error", kind, pattern)


def _case_files(d: Path) -> list[Case]:
    good = _yaml(GOOD_CASE)
    bomb = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    bomb += [f"a{k}: &a{k} [{', '.join([f'*a{k - 1}'] * 9)}]" for k in range(1, 10)]
    big = d / "case" / "notes_50mb.yaml"
    big.parent.mkdir(parents=True, exist_ok=True)
    with big.open("wb") as fh:
        fh.write(good.encode() + b"notes: ")
        fh.truncate(50 * 1024 * 1024)
    loop = d / "case" / "loop.nii.gz"
    if not loop.is_symlink():
        os.symlink(loop, loop)
    entries: list[tuple[str, str | bytes, tuple[str, Any, Any]]] = [
        ("good.yaml", good, _ok()),
        ("bom.yaml", "\ufeff" + good, _ok()),
        ("good.json", __import__("json").dumps(GOOD_CASE), _ok()),
        (
            "duplicate_id.yaml",
            good.replace("id: fuzz-001\n", "id: patient-A\nid: patient-B\n"),
            _err("CaseError", "given twice"),
        ),
        ("latin1.yaml", (good + "notes: Caf\xe9\n").encode("latin-1"), _err("CaseError", "UTF-8")),
        ("utf16.yaml", good.encode("utf-16"), _err("CaseError", "UTF-16")),
        ("alias_bomb.yaml", "\n".join(bomb) + "\n", _err("CaseError", "alias")),
        ("recursive.yaml", "a: &x [1, *x]\n", _err("CaseError", "refers to itself")),
        (
            "deep.yaml",
            "a: " + "[" * 100_000 + "]" * 100_000 + "\n",
            _err("CaseError", "nesting depth|nested more"),
        ),
        (
            "notes_30k.yaml",
            _yaml(_patch_case(notes="x" * 30_000)),
            _err("CaseError", "at most 20000 characters"),
        ),
        (
            "schema_huge.yaml",
            _yaml({**GOOD_CASE, "schema": "s" * 100_000}),
            _err("CaseError", "schema"),
        ),
        ("bool_age.yaml", _yaml(_patch_case(patient__asa_class=True)), _err("CaseError", "true/")),
        (
            "inf.yaml",
            good + "preferences: {rod_diameter_mm: .inf}\n",
            _err("CaseError", "finite number"),
        ),
        (
            "nan_age.yaml",
            _yaml(_patch_case(patient__age_years=float("nan"))),
            _err("CaseError", ""),
        ),
        (
            "symlink_loop.yaml",
            _yaml(_patch_case(imaging=[{"modality": "CT", "nifti": "loop.nii.gz"}])),
            _err("CaseError", "symbolic link loop"),
        ),
        ("gzip.yaml", gzip.compress(good.encode()), _err("CaseError", "gzip-compressed")),
        ("list.yaml", "- a\n- b\n", _err("CaseError", "mapping")),
        ("empty.yaml", "", _err("CaseError", "mapping")),
        ("two_documents.yaml", good + "---\n" + good, _err("CaseError", "not valid YAML")),
        ("tabs.yaml", "id:\tx\n\tpatient: 1\n", _err("CaseError", "")),
        ("nul.yaml", good + "\x00\n", _err("CaseError", "")),
        (
            "bad_segment.yaml",
            _yaml(_patch_case(preferences={"fuse_segments": ["L5-L4"]})),
            _err("CaseError", "fuse_segments"),
        ),
        (
            "unknown_field.yaml",
            _yaml(_patch_case(patient__weight=70)),
            _err("CaseError", "Extra inputs"),
        ),
        ("binary_tag.yaml", good + "notes: !!binary aGVsbG8=\n", _ok()),
        ("python_tag.yaml", good + "x: !!python/object:os.system ls\n", _err("CaseError", "")),
    ]
    cases = [
        {
            "id": f"case/{name}",
            "reader": "case",
            "path": str(_text(d / "case", name, body)),
            "expect": expect,
        }
        for name, body, expect in entries
    ]
    cases.append(
        {
            "id": "case/notes_50mb.yaml",
            "reader": "case",
            "path": str(big),
            "expect": _err("CaseError", "MiB"),
        }
    )
    return cases


def _cohort_files(d: Path) -> list[Case]:
    def spec(**patch: Any) -> str:
        return _yaml({**GOOD_COHORT, **patch})

    entries = [
        ("good.yaml", spec(), _ok()),
        ("size_true.yaml", spec(size=True), _err("CaseError", "true/false")),
        (
            "min_above_max.yaml",
            spec(population={"bmi": {"min": 40, "max": 20}}),
            _err("CaseError", "above max"),
        ),
        (
            "negative_sd.yaml",
            spec(population={"height_cm": {"female": [162, -7]}}),
            _err("CaseError", "sd must be"),
        ),
        (
            "sd_minus.yaml",
            spec(population={"age_years": {"sd": -3}}),
            _err("CaseError", "age_years.sd"),
        ),
        ("inf.yaml", spec() + "batch_size: .inf\n", _err("CaseError", "batch_size")),
        (
            "inf_sd.yaml",
            spec(population={"bmi": {"sd": float("inf")}}),
            _err("CaseError", "bmi.sd"),
        ),
        (
            "too_many_batches.yaml",
            spec(size=10_000_000, batch_size=1),
            _err("CaseError", "batches"),
        ),
        ("dup_seed.yaml", spec() + "seed: 4\n", _err("CaseError", "given twice")),
        ("latin1.yaml", (spec() + "# caf\xe9\n").encode("latin-1"), _err("CaseError", "UTF-8")),
        ("pop_scalar.yaml", spec(population=3), _err("CaseError", "population")),
        ("arms_empty.yaml", spec(arms=[]), _err("CaseError", "arms")),
    ]
    return [
        {
            "id": f"cohort/{name}",
            "reader": "cohort",
            "path": str(_text(d / "cohort", name, body)),
            "expect": expect,
        }
        for name, body, expect in entries
    ]


def _landmark_files(d: Path) -> list[Case]:
    h, r = LANDMARK_HEADER, LANDMARK_ROWS
    entries: list[tuple[str, str | bytes, tuple[str, Any, Any]]] = [
        ("good.csv", h + r, _ok()),
        ("bom.csv", "\ufeff" + h + r, _ok()),
        ("crlf.csv", (h + r).replace("\n", "\r\n"), _ok()),
        (
            "decimal_comma.csv",
            h + r.replace("800,1000", "800,5,1000,0"),
            _err("ImagingError", "decimal comma"),
        ),
        (
            "quoted_comma.csv",
            h + r.replace("800,1000", '"800,5","1000,0"'),
            _err("ImagingError", "decimal point"),
        ),
        ("spacing_comma.csv", h.replace("0.2", "0,143") + r, _err("ImagingError", "decimal point")),
        ("spacing_inf.csv", h.replace("0.2", "inf") + r, _err("ImagingError", "pixel_spacing_mm")),
        ("spacing_zero.csv", h.replace("0.2", "0") + r, _err("ImagingError", "pixel_spacing_mm")),
        ("spacing_1e6.csv", h.replace("0.2", "1e6") + r, _err("ImagingError", "pixel_spacing_mm")),
        ("spacing_nan.csv", h.replace("0.2", "nan") + r, _err("ImagingError", "pixel_spacing_mm")),
        ("second_header.csv", h + r + h + r, _err("ImagingError", "after the rows")),
        (
            "second_columns.csv",
            h + r + "vertebra,point,x,y\n",
            _err("ImagingError", "second column"),
        ),
        (
            "outside.csv",
            h + r.replace("700,1700", "700,2600"),
            _err("ImagingError", "outside the image"),
        ),
        (
            "negative.csv",
            h + r.replace("800,1000", "-5,1000"),
            _err("ImagingError", "outside the image"),
        ),
        (
            "upside_down.csv",
            h + r.replace("805,1130", "805,900").replace("1003,1125", "1003,890"),
            _err("ImagingError", "inferior corners lie above"),
        ),
        (
            "extra_field.csv",
            h + r.replace("800,1000", "800,1000,7"),
            _err("ImagingError", "5 fields"),
        ),
        (
            "extra_column.csv",
            h + r.replace("vertebra,point,x,y", "vertebra,point,x,y,z"),
            _err("ImagingError", "columns"),
        ),
        ("version2.csv", h.replace("v1", "v2") + r, _err("ImagingError", "format version")),
        ("size_zero.csv", h.replace("2000,2500", "0,0") + r, _err("ImagingError", "image_size")),
        (
            "size_missing.csv",
            h.replace("# image_size: 2000,2500\n", "") + r,
            _err("ImagingError", "image_size"),
        ),
        (
            "typo_header.csv",
            h.replace("pixel_spacing_mm", "pixel_spacing") + r,
            _err("ImagingError", "unknown header"),
        ),
        ("role.csv", h + "# role: standing\n" + r, _err("ImagingError", "role")),
        ("view_twice.csv", h + "# view: ap\n" + r, _err("ImagingError", "given twice")),
        (
            "same_points.csv",
            h + r.replace("1010,1180", "810,1190"),
            _err("ImagingError", "same point"),
        ),
        (
            "all_same.csv",
            h
            + "vertebra,point,x,y\n"
            + "".join(
                f"L4,{p},5,5\n"
                for p in (
                    "superior_anterior",
                    "superior_posterior",
                    "inferior_anterior",
                    "inferior_posterior",
                )
            ),
            _err("ImagingError", "same point"),
        ),
        ("utf16.csv", (h + r).encode("utf-16"), _err("ImagingError", "UTF-16")),
        (
            "latin1.csv",
            (h + "# Aufnahme: M\xfcller\n" + r).encode("latin-1"),
            _err("ImagingError", "UTF-8"),
        ),
        ("nifti.nii.gz", nifti_bytes(ct_like((8, 8, 8))), _err("ImagingError", "gzip-compressed")),
        ("only_header.csv", h, _err("ImagingError", "no landmark rows")),
        ("huge_number.csv", h + r.replace("800,1000", "800,1e999"), _err("ImagingError", "finite")),
        ("empty.csv", "", _err("ImagingError", "")),
        ("no_view.csv", h.replace("# view: lateral\n", "") + r, _err("ImagingError", "view")),
        (
            "unknown_vertebra.csv",
            h + r.replace("L4,superior_anterior", "L9,superior_anterior"),
            _err("ImagingError", "unknown vertebra"),
        ),
    ]
    return [
        {
            "id": f"landmarks/{name}",
            "reader": "landmarks",
            "path": str(_text(d / "landmarks", name, body)),
            "expect": expect,
        }
        for name, body, expect in entries
    ]


def _labels(shape: tuple[int, int, int] = (40, 40, 24)) -> np.ndarray:
    labels = np.zeros(shape, np.int16)
    labels[15:25, 15:25, 2:7], labels[15:25, 15:25, 8:14] = 22, 23
    labels[15:25, 15:25, 15:21] = 24
    return labels


def _nifti_files(d: Path) -> list[Case]:
    ct = ct_like()
    good = nifti_bytes(ct)
    crc = bytearray(good)
    crc[-8] ^= 0xFF
    flipped = bytearray(good)
    flipped[len(flipped) // 2] ^= 0x10
    bomb_body = zlib.compressobj(9, zlib.DEFLATED, 31)
    zip_bomb = bomb_body.compress(header_only((16, 16, 16)) + bytes(16**3 * 4))
    zip_bomb += b"".join(bomb_body.compress(bytes(1 << 24)) for _ in range(16)) + bomb_body.flush()
    sheared = AFFINE.copy()
    sheared[1, 2] = 0.5
    rgb = np.zeros((8, 8, 8), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    nan = ct.astype(np.float32)
    nan[3, 4, 5] = np.nan
    inf = ct.astype(np.float32)
    inf[0, 0, 0] = np.inf
    raw_good = bytearray(nifti_bytes(ct, gz=False))
    pair = bytearray(raw_good)
    pair[344:348] = b"ni1\x00"
    neg_dim = bytearray(raw_good)
    neg_dim[42:44] = struct.pack("<h", -40)
    dim0 = bytearray(raw_good)
    dim0[40:42] = struct.pack("<h", 9)
    datatype = bytearray(raw_good)
    datatype[70:72] = struct.pack("<h", 1234)
    offset = bytearray(raw_good)
    offset[108:112] = struct.pack("<f", 1e12)
    entries: list[tuple[str, bytes, tuple[str, Any, Any], dict[str, Any]]] = [
        ("good.nii.gz", good, _ok(), {}),
        ("good.nii", bytes(raw_good), _ok(), {}),
        ("crc.nii.gz", bytes(crc), _err("ImagingError", "CRC"), {}),
        ("flipped_bit.nii.gz", bytes(flipped), _err("ImagingError", "damaged"), {}),
        ("truncated.nii.gz", good[:-400], _err("ImagingError", "damaged|incomplete"), {}),
        ("truncated.nii", bytes(raw_good[:-400]), _err("ImagingError", "incomplete"), {}),
        (
            "header_bomb.nii.gz",
            gzip.compress(header_only((2048, 2048, 1024)), 9),
            _err("ImagingError", "GiB of voxels"),
            {},
        ),
        ("zip_bomb.nii.gz", zip_bomb, _err("ImagingError", "more data than its header"), {}),
        ("labels_as_ct.nii.gz", nifti_bytes(_labels()), _err("ImagingError", "label map"), {}),
        (
            "x1000.nii.gz",
            nifti_bytes(ct.astype(np.float32) * 1000),
            _err("ImagingError", "not Hounsfield"),
            {},
        ),
        (
            "all_air.nii.gz",
            nifti_bytes(np.full_like(ct, -1000)),
            _err("ImagingError", "no tissue"),
            {},
        ),
        (
            "hu_over_1000.nii.gz",
            nifti_bytes(ct.astype(np.float32) / 1000),
            _err("ImagingError", "span only"),
            {},
        ),
        (
            "no_intercept.nii.gz",
            nifti_bytes((ct.astype(np.float32) + 1024).clip(0)),
            _err("ImagingError", "rescale intercept"),
            {},
        ),
        ("nan.nii.gz", nifti_bytes(nan), _err("ImagingError", "finite"), {}),
        ("inf.nii.gz", nifti_bytes(inf), _err("ImagingError", "finite"), {}),
        ("rgb.nii.gz", nifti_bytes(rgb), _err("ImagingError", "RGB"), {}),
        (
            "vector.nii.gz",
            nifti_bytes(np.zeros((8, 8, 8, 1, 3), np.float32)),
            _err("ImagingError", "vector"),
            {},
        ),
        (
            "no_orientation.nii.gz",
            nifti_bytes(ct, None),
            _err("ImagingError", "neither sform nor qform"),
            {},
        ),
        (
            "no_orientation_allowed.nii.gz",
            nifti_bytes(ct, None),
            _ok(),
            {"allow_unknown_orientation": True},
        ),
        (
            "tiny_voxels.nii.gz",
            nifti_bytes(ct, np.diag([0.008, 0.008, 0.02, 1])),
            _err("ImagingError", "voxel size"),
            {},
        ),
        (
            "huge_voxels.nii.gz",
            nifti_bytes(ct, np.diag([8.0, 8.0, 20.0, 1])),
            _err("ImagingError", "voxel size"),
            {},
        ),
        ("sheared.nii.gz", nifti_bytes(ct, sheared), _err("ImagingError", "not perpendicular"), {}),
        (
            "one_slice.nii.gz",
            nifti_bytes(ct_like((64, 64, 1))),
            _err("ImagingError", "single slice"),
            {},
        ),
        (
            "four_d.nii.gz",
            nifti_bytes(np.zeros((8, 8, 8, 3), np.int16)),
            _err("ImagingError", "shape"),
            {},
        ),
        ("random.nii.gz", np.random.default_rng(1).bytes(5000), _err("ImagingError", ""), {}),
        ("text.nii", b"hello world\n" * 50, _err("ImagingError", "NIfTI"), {}),
        ("empty.nii.gz", b"", _err("ImagingError", ""), {}),
        ("pair.nii", bytes(pair), _err("ImagingError", "hdr/.img pair"), {}),
        ("negative_dim.nii", bytes(neg_dim), _err("ImagingError", "damaged"), {}),
        ("dim0_9.nii", bytes(dim0), _err("ImagingError", "damaged"), {}),
        ("datatype.nii", bytes(datatype), _err("ImagingError", ""), {}),
        (
            "vox_offset.nii",
            bytes(offset),
            _err("ImagingError", "vox_offset|damaged|incomplete"),
            {},
        ),
    ]
    cases = [
        {
            "id": f"nifti/{name}",
            "reader": "nifti",
            "path": str(_text(d / "nifti", name, body)),
            "kwargs": kwargs,
            "expect": expect,
        }
        for name, body, expect, kwargs in entries
    ]
    seg = np.zeros((20, 20, 10), np.int32)
    seg[5:10, 5:10, 2:5] = -3
    frac = np.zeros((20, 20, 10), np.float32)
    frac[5:10, 5:10, 2:5] = 0.5
    seg_nan = np.zeros((20, 20, 10), np.float32)
    seg_nan[1, 1, 1] = np.nan
    labels = [
        ("labels.nii.gz", nifti_bytes(_labels()), _ok()),
        ("ct_as_labels.nii.gz", good, _err("ImagingError", "not a label map")),
        ("negative_ids.nii.gz", nifti_bytes(seg), _err("ImagingError", "negative label")),
        ("fractional.nii.gz", nifti_bytes(frac), _err("ImagingError", "non-integer")),
        ("nan_labels.nii.gz", nifti_bytes(seg_nan), _err("ImagingError", "finite")),
    ]
    cases += [
        {
            "id": f"label_map/{name}",
            "reader": "label_map",
            "path": str(_text(d / "label_map", name, body)),
            "expect": expect,
        }
        for name, body, expect in labels
    ]
    return cases


def _dicom_cases(d: Path) -> list[Case]:
    from pydicom import dcmread

    from tests.imaging.dicom_series import write_series

    values = (ct_like((6, 20, 20)) + 1024).astype(np.int16)

    def series(name: str, **kw: Any) -> tuple[Path, list[Path]]:
        folder = d / "dicom" / name
        return folder, write_series(folder, values, **kw)

    def edit(paths: list[Path], **tags: Any) -> None:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for p in paths:
                ds = dcmread(p)
                for k, v in tags.items():
                    if v is None:
                        delattr(ds, k)
                    else:
                        setattr(ds, k, v)
                ds.save_as(p)

    cases: list[Case] = []

    def add(name: str, folder: Path, expect: tuple[str, Any, Any]) -> None:
        cases.append(
            {"id": f"dicom/{name}", "reader": "dicom", "path": str(folder), "expect": expect}
        )

    folder, _ = series("good")
    add("good", folder, _ok())
    folder, paths = series("slope_zero")
    edit(paths, RescaleSlope=0)
    add("slope_zero", folder, _err("ImagingError", "Rescale Slope"))
    folder, paths = series("mixed", name_prefix="a")
    write_series(folder, values, name_prefix="b")
    add("mixed", folder, _err("ImagingError", "holds 2 series"))
    folder, paths = series("truncated")
    paths[2].write_bytes(paths[2].read_bytes()[:-30])
    add("truncated", folder, _err("ImagingError", "corrupt|cannot be decoded"))
    folder, paths = series("bad_position")
    for p in paths:
        p.write_bytes(p.read_bytes().replace(b"-100.0000", b"-1a0.0b00", 1))
    add("bad_position", folder, _err("ImagingError", "Image Position"))
    folder, paths = series("spacing_zero")
    edit(paths, PixelSpacing=["0", "0"])
    add("spacing_zero", folder, _err("ImagingError", "Pixel Spacing"))
    folder, paths = series("orientation_zero")
    edit(paths, ImageOrientationPatient=[0, 0, 0, 0, 0, 0])
    add("orientation_zero", folder, _err("ImagingError", "Image Orientation"))
    folder, paths = series("rgb")
    edit(paths, SamplesPerPixel=3, PhotometricInterpretation="RGB")
    add("rgb", folder, _err("ImagingError", "RGB"))
    folder, paths = series("no_rows")
    edit(paths, Rows=None)
    add("no_rows", folder, _err("ImagingError", "Rows"))
    folder, paths = series("huge_rows")
    edit(paths, Rows=60000, Columns=60000)
    add("huge_rows", folder, _err("ImagingError", ""))
    folder, paths = series("missing_slice")
    paths[3].unlink()
    add("missing_slice", folder, _err("ImagingError", "missing slice"))
    folder, paths = series("with_junk")
    (folder / "README.txt").write_text("exported")
    (folder / "empty").write_bytes(b"")
    if not (folder / "loop").is_symlink():
        os.symlink(folder / "loop", folder / "loop")
    add("with_junk", folder, _ok())
    folder, paths = series("damaged_prefix_file")
    (folder / "junk.dcm").write_bytes(bytes(128) + b"DICM" + np.random.default_rng(2).bytes(64))
    add("damaged_prefix_file", folder, _err("ImagingError", "junk.dcm"))
    folder, paths = series("damaged_meta_length")
    raw = bytearray(paths[0].read_bytes())
    del raw[146:147]
    paths[0].write_bytes(bytes(raw))
    add("damaged_meta_length", folder, _err("ImagingError", paths[0].name))
    loop = d / "dicom" / "self_loop"
    if not loop.is_symlink():
        os.symlink(loop, loop)
    add("self_loop", loop, _err("ImagingError", "symbolic link loop"))
    empty = d / "dicom" / "empty"
    empty.mkdir(parents=True, exist_ok=True)
    add("empty", empty, _err("ImagingError", "no DICOM image files"))
    add("a_file", paths[0], _err("ImagingError", "no such DICOM folder"))
    folder, paths = series("modality_us", modality="US")
    add("modality_us", folder, _err("ImagingError", "Modality"))
    return cases


def _output_cases(d: Path) -> list[Case]:
    out = d / "output"
    out.mkdir(parents=True, exist_ok=True)
    (out / "a_file").write_text("keep")
    return [
        {"id": "output/new", "reader": "output", "path": str(out / "new" / "run"), "expect": _ok()},
        {
            "id": "output/file",
            "reader": "output",
            "path": str(out / "a_file"),
            "expect": _err("OutputFolderError", "is a file"),
        },
        {
            "id": "output/under_file",
            "reader": "output",
            "path": str(out / "a_file" / "x"),
            "expect": _err("OutputFolderError", "lies under"),
        },
    ]


BUILDERS: tuple[Callable[[Path], list[Case]], ...] = (
    _case_files,
    _cohort_files,
    _landmark_files,
    _nifti_files,
    _dicom_cases,
    _output_cases,
)


def build_corpus(folder: Path) -> list[Case]:
    """Write every malformed input under ``folder``; the cases with their expected outcome."""
    cases: list[Case] = []
    for build in BUILDERS:
        cases += build(folder)
    return cases
