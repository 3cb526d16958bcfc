"""The surgeon's report PDF as a DICOM Encapsulated PDF (PS3.3 A.45.1), in the source study.

The PDF's bytes go into Encapsulated Document (0042,0011) unchanged (padded to even length as
DICOM requires, the true length in Encapsulated Document Length (0042,0015)), so the PDF read back
is byte for byte the one written.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

import spinefuse
from spinefuse.errors import SpinefuseError

ENCAPSULATED_PDF_STORAGE = "1.2.840.10008.5.1.4.1.1.104.1"
SERIES_NUMBER = 903
PATIENT_STUDY = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "PatientIdentityRemoved",
    "DeidentificationMethod",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "AccessionNumber",
    "ReferringPhysicianName",
    "StudyDescription",
)


class PdfError(SpinefuseError, ValueError):
    """The report is missing or is not a PDF."""


def encapsulated_pdf(
    pdf: Path, source: Dataset, title: str = "spinefuse surgeon's report"
) -> Dataset:
    """An Encapsulated PDF instance of ``pdf`` in the patient and study of ``source`` (an
    instance of the series the report is about)."""
    if not pdf.is_file():
        raise PdfError(f"{pdf}: no such report; write it with 'spinefuse report RUN_DIR'")
    data = pdf.read_bytes()
    if not data.startswith(b"%PDF"):
        raise PdfError(f"{pdf}: not a PDF file (it does not start with %PDF)")
    now = dt.datetime.now()
    sop_uid = generate_uid()
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ENCAPSULATED_PDF_STORAGE
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    for keyword in PATIENT_STUDY:
        if keyword in source:
            setattr(ds, keyword, source.data_element(keyword).value)
        elif keyword not in (
            "PatientIdentityRemoved",
            "DeidentificationMethod",
            "StudyDescription",
        ):
            setattr(ds, keyword, "")
    ds.SOPClassUID, ds.SOPInstanceUID = ENCAPSULATED_PDF_STORAGE, sop_uid
    ds.Modality = "DOC"
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber, ds.InstanceNumber = SERIES_NUMBER, 1
    ds.SeriesDescription = title[:64]
    ds.ConversionType = "WSD"
    ds.Manufacturer = "spinefuse"
    ds.SoftwareVersions = spinefuse.__version__
    ds.ContentDate = now.strftime("%Y%m%d")
    ds.ContentTime = now.strftime("%H%M%S")
    ds.AcquisitionDateTime = now.strftime("%Y%m%d%H%M%S")
    ds.BurnedInAnnotation = "YES"
    ds.DocumentTitle = title[:64]
    ds.ConceptNameCodeSequence = []
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocumentLength = len(data)
    ds.EncapsulatedDocument = data + (b"\0" if len(data) % 2 else b"")
    return ds


def pdf_bytes(ds: Dataset) -> bytes:
    """The PDF held by an Encapsulated PDF instance, without DICOM's padding."""
    data = bytes(ds.EncapsulatedDocument)
    length = ds.get("EncapsulatedDocumentLength")
    if length is not None:
        return data[: int(length)]
    return data.rstrip(b"\0") if data.endswith(b"\0") else data
