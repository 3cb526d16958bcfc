"""De-identification of DICOM on import, after the DICOM Basic Application Level Confidentiality
Profile (PS3.15 Annex E, Table E.1-1).

Direct identifiers are removed (X), emptied (Z) or replaced by a dummy (D); UIDs are replaced by
new ones derived from a keyed hash (U), so the same input UID always maps to the same output
UID and series, studies and frames of reference stay linked. Private tags are removed. Image
geometry (position, orientation, spacing, thickness), the pixel data and the rescale are kept:
spinefuse needs them and they identify nobody.
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from io import BytesIO
from pathlib import Path

from pydicom import dcmread
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID

from spinefuse.records import write_atomic

# Basic profile actions for the attributes a CT/MR series actually carries.
REMOVE: tuple[str, ...] = (
    "AcquisitionDateTime",
    "AdditionalPatientHistory",
    "AdmissionID",
    "AdmittingDiagnosesDescription",
    "Allergies",
    "BranchOfService",
    "CountryOfResidence",
    "CurrentPatientLocation",
    "DerivationDescription",
    "DeviceSerialNumber",
    "EthnicGroup",
    "ImageComments",
    "InstitutionAddress",
    "InstitutionalDepartmentName",
    "IssuerOfPatientID",
    "MedicalAlerts",
    "MedicalRecordLocator",
    "MilitaryRank",
    "NameOfPhysiciansReadingStudy",
    "Occupation",
    "OperatorsName",
    "OtherPatientIDs",
    "OtherPatientIDsSequence",
    "OtherPatientNames",
    "PatientAddress",
    "PatientAge",
    "PatientBirthName",
    "PatientBirthTime",
    "PatientComments",
    "PatientInsurancePlanCodeSequence",
    "PatientMotherBirthName",
    "PatientReligiousPreference",
    "PatientSize",
    "PatientState",
    "PatientTelephoneNumbers",
    "PatientWeight",
    "PerformedProcedureStepDescription",
    "PerformedProcedureStepID",
    "PerformedProcedureStepStartDate",
    "PerformedProcedureStepStartTime",
    "PerformingPhysicianName",
    "PhysiciansOfRecord",
    "PregnancyStatus",
    "ProtocolName",
    "ReferencedPatientSequence",
    "ReferencedPerformedProcedureStepSequence",
    "ReferencedStudySequence",
    "RequestAttributesSequence",
    "RequestedProcedureDescription",
    "RequestingPhysician",
    "RequestedProcedureCodeSequence",
    "SeriesDescription",
    "ServiceEpisodeID",
    "SmokingStatus",
    "StationName",
    "StudyComments",
    "StudyDescription",
    "AccessionNumber",
)
EMPTY: tuple[str, ...] = (
    "ContentDate",
    "ContentTime",
    "PatientBirthDate",
    "PatientSex",
    "ReferringPhysicianName",
    "StudyID",
    "StudyTime",
)
DUMMY: dict[str, str] = {
    "PatientName": "ANONYMOUS",
    "PatientID": "ANONYMOUS",
    "StudyDate": "19000101",
    "InstitutionName": "",
}
DATES_REMOVED: tuple[str, ...] = ("SeriesDate", "AcquisitionDate", "SeriesTime", "AcquisitionTime")
UIDS: tuple[str, ...] = (
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "FrameOfReferenceUID",
    "IrradiationEventUID",
    "ReferencedSOPInstanceUID",
    "MediaStorageSOPInstanceUID",
)
ROOT = "2.25."  # UUID-derived UIDs (PS3.5 B.2) need no registered root


@contextmanager
def quiet_header_values() -> Iterator[None]:
    """pydicom warns and logs invalid header values verbatim (a birth date, a name); within this
    context those messages are dropped, so that no identifier reaches a console or a log."""
    logger = logging.getLogger("pydicom")

    def drop(record: logging.LogRecord) -> bool:
        return False

    logger.addFilter(drop)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.removeFilter(drop)


def replacement_uid(uid: str, key: str = "spinefuse") -> str:
    """A new UID under ``2.25.`` from a keyed SHA-256 of ``uid``: stable, unlinkable without
    the key, at most 64 characters."""
    digest = hashlib.sha256(f"{key}:{uid}".encode()).digest()
    return ROOT + str(int.from_bytes(digest[:16], "big"))


def deidentify(ds: Dataset, key: str = "spinefuse") -> Dataset:
    """Apply the basic profile to ``ds`` in place (and return it). Geometry and pixels are kept."""
    ds.remove_private_tags()
    for name in REMOVE + DATES_REMOVED:
        if name in ds:
            delattr(ds, name)
    for name in EMPTY:
        if name in ds:
            ds.data_element(name).value = ""
    for name, value in DUMMY.items():
        if name in ds:
            ds.data_element(name).value = value
    _replace_uids(ds, key)
    fm = getattr(ds, "file_meta", None)
    if fm is not None and "MediaStorageSOPInstanceUID" in fm and fm.MediaStorageSOPInstanceUID:
        fm.MediaStorageSOPInstanceUID = UID(replacement_uid(fm.MediaStorageSOPInstanceUID, key))
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = "DICOM PS3.15 Basic Application Level Confidentiality Profile"
    return ds


def _replace_uids(ds: Dataset, key: str) -> None:
    for elem in list(_walk(ds)):
        if elem.keyword in UIDS and elem.value:
            elem.value = replacement_uid(str(elem.value), key)


def _walk(ds: Dataset) -> Iterator[DataElement]:
    for elem in ds:
        if elem.VR == "SQ":
            for item in elem.value:
                yield from _walk(item)
        yield elem


def deidentify_series(src_dir: str | Path, out_dir: str | Path, key: str = "spinefuse") -> Path:
    """Copy every DICOM file of ``src_dir`` into ``out_dir`` de-identified (``IM0001.dcm``, …
    in file order); returns ``out_dir``. Files are written atomically."""
    src, out = Path(src_dir), Path(out_dir)
    n = 0
    with quiet_header_values():
        for path in sorted(p for p in src.iterdir() if p.is_file()):
            try:
                ds = dcmread(path)
            except InvalidDicomError:
                continue
            deidentify(ds, key)
            n += 1
            buf = BytesIO()
            ds.save_as(buf, enforce_file_format=True)
            write_atomic(out / f"IM{n:04d}.dcm", buf.getvalue())
    return out
