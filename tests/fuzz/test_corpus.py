"""The corpus of malformed inputs, read in a child process limited to 2 GiB of address space and
20 s per input: every one ends as the corpus says (read correctly, or the named SpinefuseError
with its message), none in a traceback, a hang or a memory blow-up."""

from __future__ import annotations

import re
from typing import Any

import pytest

from .corpus import build_corpus
from .sandbox import run_cases

MEMORY_MB = 2048
SECONDS = 20.0
READERS = ("case", "cohort", "landmarks", "nifti", "label_map", "dicom", "output")


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[dict[str, Any], Any]]:
    cases = build_corpus(tmp_path_factory.mktemp("corpus"))
    jobs = [
        {"id": c["id"], "reader": c["reader"], "path": c["path"], "kwargs": c.get("kwargs", {})}
        for c in cases
    ]
    results = run_cases(jobs, memory_mb=MEMORY_MB, seconds=SECONDS)
    return [(c, results[c["id"]]) for c in cases]


def _mismatch(case: dict[str, Any], got: dict[str, Any]) -> str | None:
    want, kind, pattern = case["expect"]
    if got["outcome"] != want:
        return f"{case['id']}: wanted {want} {kind or ''}, got {got['outcome']}: {got}"
    if want == "error":
        if got["type"] != kind:
            return f"{case['id']}: wanted {kind}, got {got['type']}: {got['message']}"
        if not re.search(pattern, got["message"]):
            return f"{case['id']}: message lacks /{pattern}/: {got['message']}"
        if len(got["message"]) > 1500:
            return f"{case['id']}: message of {len(got['message'])} characters"
    return None


@pytest.mark.parametrize("reader", READERS)
def test_every_malformed_input_ends_cleanly(
    outcomes: list[tuple[dict[str, Any], Any]], reader: str
) -> None:
    mine = [(c, r) for c, r in outcomes if c["reader"] == reader]
    assert mine, f"no corpus entries for {reader}"
    problems = [m for c, r in mine if (m := _mismatch(c, r)) is not None]
    assert not problems, "\n".join(problems)
    assert max(r["seconds"] for _, r in mine) < SECONDS / 2


def test_the_corpus_covers_the_reported_inputs(outcomes: list[tuple[dict[str, Any], Any]]) -> None:
    ids = {c["id"] for c, _ in outcomes}
    for must in (
        "nifti/crc.nii.gz",
        "nifti/header_bomb.nii.gz",
        "nifti/labels_as_ct.nii.gz",
        "nifti/no_orientation.nii.gz",
        "dicom/slope_zero",
        "dicom/mixed",
        "landmarks/decimal_comma.csv",
        "landmarks/bom.csv",
        "landmarks/utf16.csv",
        "case/duplicate_id.yaml",
        "case/alias_bomb.yaml",
        "case/notes_50mb.yaml",
        "cohort/size_true.yaml",
        "output/under_file",
    ):
        assert must in ids
    assert len(ids) >= 120


def test_no_identifier_in_any_message(outcomes: list[tuple[dict[str, Any], Any]]) -> None:
    text = " ".join(str(r.get("message", "")) for _, r in outcomes)
    for name in ("Doe^Jane", "MRN-123456", "19610203", "General Hospital", "CT test"):
        assert name not in text
