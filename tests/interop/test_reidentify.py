"""Pulled images are de-identified; the key puts the original study back into the results."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from spinefuse.imaging.deidentify import deidentify
from spinefuse.interop.reidentify import ReidentificationError, ReidentificationKey, read_key


def _instance() -> Dataset:
    ds = Dataset()
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = (
        "Doe^Jane",
        "H-123",
        "19600101",
        "F",
    )
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.SOPInstanceUID, ds.FrameOfReferenceUID = generate_uid(), generate_uid()
    return ds


def test_key_restores_uids_and_patient_in_a_result(tmp_path: Path) -> None:
    original = _instance()
    key = ReidentificationKey().remember(original)
    pseudo = deidentify(copy.deepcopy(original))
    assert pseudo.PatientID == "ANONYMOUS" and pseudo.StudyInstanceUID != original.StudyInstanceUID
    result = Dataset()  # a SEG of the pseudonymous series
    result.StudyInstanceUID = pseudo.StudyInstanceUID
    result.SOPInstanceUID = generate_uid()
    ref = Dataset()
    ref.SeriesInstanceUID = pseudo.SeriesInstanceUID
    inst = Dataset()
    inst.ReferencedSOPInstanceUID = pseudo.SOPInstanceUID
    ref.ReferencedInstanceSequence = [inst]
    result.ReferencedSeriesSequence = [ref]
    result.PatientID, result.PatientIdentityRemoved = "ANONYMOUS", "YES"
    key.write(tmp_path / "key.json")
    assert (tmp_path / "key.json").stat().st_mode & 0o077 == 0  # owner only
    read_key(tmp_path / "key.json").apply(result)
    assert result.StudyInstanceUID == original.StudyInstanceUID
    assert result.ReferencedSeriesSequence[0].SeriesInstanceUID == original.SeriesInstanceUID
    assert (
        result.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0].ReferencedSOPInstanceUID
        == original.SOPInstanceUID
    )
    assert result.PatientID == "H-123" and str(result.PatientName) == "Doe^Jane"
    assert "PatientIdentityRemoved" not in result


def test_key_refuses_objects_of_other_images() -> None:
    key = ReidentificationKey().remember(_instance())
    with pytest.raises(ReidentificationError, match="references no UID of this key"):
        key.apply(_instance())


def test_missing_extra_is_an_actionable_error() -> None:
    code = (
        "import sys; sys.modules['highdicom'] = None\n"  # as if the extra were not installed
        "from spinefuse.errors import MissingDependencyError\n"
        "try:\n    import spinefuse.interop.seg\n"
        "except MissingDependencyError as err:\n    print(err)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "highdicom is not installed" in out.stdout
    assert "pip install 'spinefuse[interop]'" in out.stdout
