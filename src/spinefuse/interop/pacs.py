"""Query, retrieve and store against a PACS, by DIMSE or DICOMweb, through one protocol.

:class:`Pacs` is the seam: :class:`~spinefuse.interop.dimse.DimsePacs` (C-FIND, C-GET or C-MOVE,
C-STORE with pynetdicom) and :class:`~spinefuse.interop.dicomweb.DicomWebPacs` (QIDO-RS, WADO-RS,
STOW-RS with dicomweb-client) both implement it. :func:`pull` finds a patient's or study's series,
chooses those the case needs (:mod:`spinefuse.interop.series_choice`), retrieves each into its own
folder de-identified on arrival (:mod:`spinefuse.imaging.deidentify`), and writes ``pull.json``
(what was pulled, pseudonymous) and the re-identification key beside the folders.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Literal, Protocol

from pydantic import Field, ValidationError
from pydicom import dcmread
from pydicom.dataset import Dataset

from spinefuse.errors import SpinefuseError
from spinefuse.imaging.deidentify import deidentify
from spinefuse.interop.reidentify import ReidentificationKey, read_key
from spinefuse.interop.series_choice import ChosenSeries, SeriesInfo, choose_series
from spinefuse.records import Record, describe_validation_error, write_atomic

KEY_FILE = "reidentify.json"
PULL_FILE = "pull.json"


class PacsError(SpinefuseError, RuntimeError):
    """The PACS refused, failed or could not be reached (names the node, the step and status)."""


class Pacs(Protocol):
    """What spinefuse asks of a PACS."""

    def describe(self) -> str:
        """The node, for messages (``ORTHANC@127.0.0.1:4242``, a URL)."""
        ...

    def find_series(
        self,
        patient_id: str | None = None,
        study_uid: str | None = None,
        series_uid: str | None = None,
        modality: str | None = None,
    ) -> list[SeriesInfo]:
        """The series matching the keys, with one instance's geometry each."""
        ...

    def retrieve(self, series: SeriesInfo, sink: SeriesImport) -> int:
        """Retrieve every instance of ``series`` into ``sink``; returns the number received."""
        ...

    def store(self, datasets: list[Dataset]) -> int:
        """Store the datasets; returns the number the PACS accepted."""
        ...


class SeriesImport:
    """Where retrieved instances go: de-identified, then written one file per instance into
    ``folder``; the original UIDs and patient attributes are kept in :attr:`key`."""

    def __init__(self, folder: Path, deidentify_key: str = "spinefuse") -> None:
        self.folder = folder
        self.deidentify_key = deidentify_key
        self.key = ReidentificationKey()
        self.count = 0
        self._lock = threading.Lock()

    def add(self, ds: Dataset) -> Path:
        """De-identify one retrieved instance and write it; returns its path."""
        from io import BytesIO

        with self._lock:
            self.key = self.key.remember(ds, self.deidentify_key)
        deidentify(ds, self.deidentify_key)
        buf = BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        path = self.folder / f"{ds.SOPInstanceUID}.dcm"
        write_atomic(path, buf.getvalue())
        with self._lock:
            self.count += 1
        return path


class PulledSeries(Record):
    """One series pulled for a case: its pseudonymous folder and what it is."""

    role: str
    folder: Path
    modality: str
    plane: str | None
    slice_thickness_mm: float | None
    description: str
    instances: int
    series_uid: str = Field(description="the pseudonymous Series Instance UID in the folder")
    reason: str


class PullResult(Record):
    """What ``pacs pull`` wrote."""

    source: str
    series: list[PulledSeries]
    key_file: Path


def find(
    pacs: Pacs,
    patient_id: str | None = None,
    study_uid: str | None = None,
    series_uid: str | None = None,
    modality: str | None = None,
) -> list[SeriesInfo]:
    """The series of a patient, study or series; at least one key must be given."""
    if not (patient_id or study_uid or series_uid):
        raise PacsError("give a patient ID, a study UID or a series UID to search the PACS for")
    return pacs.find_series(patient_id, study_uid, series_uid, modality)


def pull(
    pacs: Pacs,
    out_dir: str | Path,
    patient_id: str | None = None,
    study_uid: str | None = None,
    series_uid: str | None = None,
    modality: str = "CT",
) -> PullResult:
    """Find, choose and retrieve the series a case needs into ``out_dir/<role>/``.

    With ``series_uid`` that series alone is pulled (role ``series``). Each folder holds one
    de-identified series that a case file's ``dicom_dir`` can name."""
    if modality not in ("CT", "MR"):
        raise PacsError(f"modality {modality!r}: spinefuse pulls CT or MR series")
    kind: Literal["CT", "MR"] = "MR" if modality == "MR" else "CT"
    out = Path(out_dir)
    found = find(pacs, patient_id, study_uid, series_uid, None if series_uid else modality)
    chosen: list[ChosenSeries]
    if series_uid:
        match = [s for s in found if s.series_uid == series_uid]
        if not match:
            raise PacsError(f"{pacs.describe()}: no series {series_uid}")
        chosen = [ChosenSeries(role="series", series=match[0], reason="chosen by its UID")]
    else:
        chosen = choose_series(found, kind)
    key = ReidentificationKey()
    pulled = []
    for choice in chosen:
        folder = out / choice.role
        if folder.exists() and any(folder.iterdir()):
            raise PacsError(f"{folder}: exists and is not empty; pull into a new folder")
        sink = SeriesImport(folder)
        received = pacs.retrieve(choice.series, sink)
        if received == 0 or sink.count == 0:
            raise PacsError(
                f"{pacs.describe()}: retrieving series {choice.series.series_uid} returned no "
                "instance; check that the PACS may send to this AE title"
            )
        key = key.merged(sink.key)
        first = dcmread(next(folder.glob("*.dcm")), stop_before_pixels=True)
        pulled.append(
            PulledSeries(
                role=choice.role,
                folder=folder,
                modality=choice.series.modality,
                plane=choice.series.plane,
                slice_thickness_mm=choice.series.slice_thickness_mm,
                description=choice.series.description,
                instances=sink.count,
                series_uid=str(first.SeriesInstanceUID),
                reason=choice.reason,
            )
        )
    result = PullResult(source=pacs.describe(), series=pulled, key_file=out / KEY_FILE)
    key.write(out / KEY_FILE)
    result.save(out / PULL_FILE)
    return result


def push(pacs: Pacs, files: Iterable[str | Path], key_file: str | Path | None = None) -> int:
    """Send DICOM files (SEG, SR, PDF) to the PACS; with ``key_file`` (written by :func:`pull`)
    they are re-identified first so they join the patient's original study."""
    key = read_key(key_file) if key_file is not None else None
    datasets = []
    for f in files:
        path = Path(f)
        if not path.is_file():
            raise PacsError(f"{path}: no such DICOM file to send")
        ds = dcmread(path)
        if key is not None:
            key.apply(ds)
        datasets.append(ds)
    if not datasets:
        raise PacsError("no DICOM file to send")
    stored = pacs.store(datasets)
    if stored != len(datasets):
        raise PacsError(f"{pacs.describe()}: accepted {stored} of {len(datasets)} objects")
    return stored


def connect(
    url: str | None = None,
    host: str | None = None,
    port: int = 104,
    called_aet: str = "ANY-SCP",
    calling_aet: str = "SPINEFUSE",
    retrieve_with: str = "get",
    move_port: int | None = None,
    timeout_s: float = 30.0,
) -> Pacs:
    """A DICOMweb PACS for ``url``, else a DIMSE one for ``host``/``port``/AE titles."""
    if url:
        from spinefuse.interop.dicomweb import DicomWebNode, DicomWebPacs

        try:
            return DicomWebPacs(DicomWebNode(url=url, timeout_s=timeout_s))
        except ValidationError as err:
            raise PacsError(describe_validation_error(err, "--url", "DICOMweb node")) from None
    if retrieve_with not in ("get", "move"):
        raise PacsError(f"retrieve with {retrieve_with!r}: use 'get' (C-GET) or 'move' (C-MOVE)")
    how: Literal["get", "move"] = "move" if retrieve_with == "move" else "get"
    if not host:
        raise PacsError(
            "give the PACS: --url for DICOMweb, or --host (and --port, --aet) for DIMSE"
        )
    from spinefuse.interop.dimse import DimseNode, DimsePacs

    try:
        node = DimseNode(
            host=host,
            port=port,
            called_aet=called_aet,
            calling_aet=calling_aet,
            timeout_s=timeout_s,
        )
    except ValidationError as err:
        raise PacsError(describe_validation_error(err, "PACS options", "DICOM node")) from None
    return DimsePacs(node, how, move_port)
