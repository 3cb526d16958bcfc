"""The key that links pseudonymous images back to the PACS study they came from.

Images are de-identified when they are pulled (:mod:`spinefuse.imaging.deidentify`): their UIDs
are replaced and the patient's name and ID removed, so nothing spinefuse computes carries them.
Results are of use to the hospital only in the patient's own study, so the pull keeps, beside the
pseudonymous folders and never inside a case or run folder, a key file mapping each pseudonymous
UID to the original and holding the original patient attributes. ``pacs push --reidentify KEY``
puts them back into the SEG, SR and PDF just before they are sent. The key identifies the
patient: it is written readable by its owner only and belongs where the PACS data may be kept.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

from pydantic import Field
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from spinefuse.errors import SpinefuseError
from spinefuse.imaging.deidentify import replacement_uid
from spinefuse.records import Record, write_atomic

PATIENT_KEYWORDS = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex")
LINKED_UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID")


class ReidentificationError(SpinefuseError, ValueError):
    """A key file is missing, unreadable, or does not belong to the objects sent."""


class ReidentificationKey(Record):
    """Pseudonymous UID -> original UID, and the original patient attributes."""

    uids: dict[str, str] = Field(default_factory=dict)
    patient: dict[str, str] = Field(default_factory=dict)

    def remember(self, original: Dataset, key: str = "spinefuse") -> ReidentificationKey:
        """This key plus the UIDs and patient attributes of one original instance."""
        uids = dict(self.uids)
        for keyword in LINKED_UIDS:
            value = original.get(keyword)
            if value:
                uids[replacement_uid(str(value), key)] = str(value)
        patient = dict(self.patient)
        for keyword in PATIENT_KEYWORDS:
            if keyword not in patient and original.get(keyword) not in (None, ""):
                patient[keyword] = str(original.get(keyword))
        return ReidentificationKey(uids=uids, patient=patient)

    def merged(self, other: ReidentificationKey) -> ReidentificationKey:
        return ReidentificationKey(
            uids={**self.uids, **other.uids}, patient={**other.patient, **self.patient}
        )

    def apply(self, ds: Dataset) -> Dataset:
        """Put the original UIDs (wherever a linked one appears, in sequences too) and patient
        attributes back into ``ds`` in place; raises when ``ds`` references none of them."""
        replaced = 0
        for elem in _walk(ds):
            if elem.VR == "UI" and isinstance(elem.value, str) and elem.value in self.uids:
                elem.value = self.uids[elem.value]
                replaced += 1
        if not replaced:
            raise ReidentificationError(
                f"{ds.get('SOPClassUID', 'object')}: references no UID of this key; it was not "
                "made from the images this key was written for"
            )
        for keyword, value in self.patient.items():
            setattr(ds, keyword, value)
        for keyword in ("PatientIdentityRemoved", "DeidentificationMethod"):
            if keyword in ds:
                delattr(ds, keyword)
        return ds

    def write(self, path: Path) -> Path:
        """Write the key readable by its owner only."""
        write_atomic(path, self.to_json())
        os.chmod(path, 0o600)
        return path


def _walk(ds: Dataset) -> Iterator[DataElement]:
    for elem in ds:
        if elem.VR == "SQ":
            for item in elem.value:
                yield from _walk(item)
        else:
            yield elem


def read_key(path: str | Path) -> ReidentificationKey:
    """Read a key file written by ``pacs pull``."""
    path = Path(path)
    if not path.is_file():
        raise ReidentificationError(f"{path}: no such key file; 'pacs pull' writes it")
    try:
        return ReidentificationKey.model_validate(json.loads(path.read_text()))
    except (ValueError, json.JSONDecodeError) as err:
        raise ReidentificationError(
            f"{path}: not a spinefuse re-identification key ({err})"
        ) from None
