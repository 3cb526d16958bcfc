"""The reports' pictures drawn ahead (in forked processes, while the later stages run) are the
pictures the reports show, byte for byte, and a run that forks writes the reports of one that
does everything in turn."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import spinefuse.forked as forked
from spinefuse.case import load_case
from spinefuse.pipeline import CaseResult, run
from spinefuse.report.ahead import pictures_ahead
from spinefuse.report.patient import patient_context
from spinefuse.report.picture_store import PictureStore, picture_key, remembered, remembering
from spinefuse.report.surgeon import surgeon_context

MADE = re.compile(r"on \d{4}-\d\d-\d\d \d\d:\d\d UTC")


def test_a_remembered_picture_is_drawn_once_per_store() -> None:
    drawn: list[int] = []

    @remembered
    def picture(n: int, scale: float = 1.0) -> str:
        drawn.append(n)
        return f"picture {n * scale}"

    store: PictureStore = {}
    with remembering(store):
        assert picture(2) == picture(2) == "picture 2.0"
        assert picture(2, scale=3.0) == "picture 6.0"  # other arguments: another picture
    assert drawn == [2, 2] and len(store) == 2
    assert picture(2) == "picture 2.0" and drawn == [2, 2, 2]  # no store held: drawn again
    with remembering(store):
        assert picture(2) == "picture 2.0" and drawn == [2, 2, 2]  # taken from the store


def test_a_large_array_is_keyed_by_its_content() -> None:
    """A CT-sized argument is digested, not pickled: equal voxels give one key, one changed
    voxel another, whichever array object holds them."""
    ct = np.arange(2_000_000, dtype=np.int16).reshape(100, 100, 200)
    key = picture_key(print, (ct,), {})
    assert picture_key(print, (ct,), {}) == key == picture_key(print, (ct.copy(),), {})
    changed = ct.copy()
    changed[50, 50, 100] += 1
    assert picture_key(print, (changed,), {}) != key
    assert picture_key(print, (ct.reshape(200, 100, 100),), {}) != key  # same bytes, shape
    assert picture_key(print, (ct.astype(np.int32),), {}) != key


def test_the_pictures_drawn_ahead_are_the_reports_own(full_run: CaseResult) -> None:
    """After the plan and after the healing, every picture of the two reports but the
    forecast's three charts (complication risks, PRO course, recovery time line) is drawn ahead,
    by the same calls with the same result."""
    ahead: PictureStore = {}
    ahead.update(pictures_ahead(full_run, "plan"))
    ahead.update(pictures_ahead(full_run, "healing"))
    shown: PictureStore = {}
    with remembering(shown):
        surgeon_context(full_run)
        patient_context(full_run)
    assert set(ahead) <= set(shown)
    assert all(ahead[k] == shown[k] for k in ahead)
    # CT sagittal + coronal (one entry), four films, root map, 3-D and sagittal views, the
    # patient's picture, range of motion and healing charts
    assert len(ahead) == 1 + 4 + 1 + 2 + 1 + 2
    assert len(set(shown) - set(ahead)) == 3


@pytest.mark.skipif(not forked.can_fork(), reason="the platform does not fork")
def test_a_run_that_forks_writes_the_records_and_reports_of_one_that_does_not(
    sample_run_dir: Path,
    sample_case_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The sample run (the naming check, the MR reading, the pictures and the patient's report
    in forked processes) against the same run made in one process: the same records and the
    same HTML reports, pictures included (only the minute they were made may differ)."""
    monkeypatch.setattr(forked, "can_fork", lambda: False)
    folder = tmp_path / "in_turn"
    run(load_case(sample_case_path), out_dir=folder, progress=False, inputs=[sample_case_path])
    records = sorted(p.name for p in folder.glob("*.json") if p.name != "manifest.json")
    assert len(records) == 7  # the case and six stages' records
    for name in records:
        assert (folder / name).read_bytes() == (sample_run_dir / name).read_bytes(), name
    for name in ("report.html", "patient.html"):
        mine = MADE.sub("", (folder / name).read_text())
        theirs = MADE.sub("", (sample_run_dir / name).read_text())
        assert mine == theirs, name
