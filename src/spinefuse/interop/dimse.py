"""A PACS over DIMSE (pynetdicom): C-FIND, C-GET or C-MOVE, C-STORE, Study Root model.

C-GET brings the instances back on the same association, so spinefuse needs no listening port;
C-MOVE asks the PACS to send them to spinefuse's own Storage SCP, which :meth:`DimsePacs.retrieve`
runs on ``move_port`` for the duration of the move (the PACS must know spinefuse's AE title with
this host and port). Every failure names the node, the step and the DICOM status.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from pydantic import Field
from pydicom.dataset import Dataset

from spinefuse.interop.extra import require
from spinefuse.interop.pacs import PacsError, SeriesImport
from spinefuse.interop.series_choice import SeriesInfo
from spinefuse.records import Record

pynetdicom = require("pynetdicom")
sop = require("pynetdicom.sop_class")
uid = require("pydicom.uid")

IMAGE_STORAGE = (
    "CTImageStorage",
    "EnhancedCTImageStorage",
    "MRImageStorage",
    "EnhancedMRImageStorage",
)
RESULT_STORAGE = (
    "SegmentationStorage",
    "Comprehensive3DSRStorage",
    "EnhancedSRStorage",
    "EncapsulatedPDFStorage",
)
RECEIVE_SYNTAXES = (
    "ExplicitVRLittleEndian",
    "ImplicitVRLittleEndian",
    "DeflatedExplicitVRLittleEndian",
    "JPEG2000Lossless",
    "JPEG2000",
    "JPEGLosslessSV1",
    "JPEGLossless",
    "JPEGLSLossless",
    "RLELossless",
    "JPEGBaseline8Bit",
    "JPEGExtended12Bit",
)
"""Transfer syntaxes spinefuse accepts when retrieving: as stored, so the PACS need not
transcode; the DICOM reader says when no installed decoder reads one."""
PENDING = (0xFF00, 0xFF01)


class DimseNode(Record):
    """A DICOM node: host, port and AE titles."""

    host: str
    port: int = Field(ge=1, le=65535)
    called_aet: str = Field(default="ANY-SCP", max_length=16, description="the PACS's AE title")
    calling_aet: str = Field(default="SPINEFUSE", max_length=16, description="spinefuse's")
    timeout_s: float = Field(default=30.0, gt=0)


class DimsePacs:
    """:class:`~spinefuse.interop.pacs.Pacs` over DIMSE."""

    def __init__(
        self,
        node: DimseNode,
        retrieve_with: Literal["get", "move"] = "get",
        move_port: int | None = None,
    ) -> None:
        if retrieve_with == "move" and move_port is None:
            raise PacsError(
                "C-MOVE needs the port of spinefuse's Storage SCP (--move-port); the PACS must "
                f"know AE title {node.calling_aet} at this host and that port"
            )
        self.node = node
        self.retrieve_with = retrieve_with
        self.move_port = move_port

    def describe(self) -> str:
        return f"{self.node.called_aet}@{self.node.host}:{self.node.port}"

    def _ae(self) -> Any:
        ae = pynetdicom.AE(ae_title=self.node.calling_aet)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = self.node.timeout_s
        return ae

    def _associate(self, ae: Any, **kwargs: Any) -> Any:
        n = self.node
        assoc = ae.associate(n.host, n.port, ae_title=n.called_aet, **kwargs)
        if not assoc.is_established:
            raise PacsError(
                f"{self.describe()}: association refused or no answer (as {n.calling_aet}); check "
                "host, port and AE titles, and that the PACS knows this AE title"
            )
        return assoc

    # --- C-FIND -------------------------------------------------------------------------------
    def _find(self, assoc: Any, query: Dataset) -> Iterator[Dataset]:
        model = sop.StudyRootQueryRetrieveInformationModelFind
        for status, identifier in assoc.send_c_find(query, model):
            if not status:
                raise PacsError(f"{self.describe()}: C-FIND got no answer (timeout or abort)")
            code = int(status.Status)
            if code in PENDING and identifier is not None:
                yield identifier
            elif code != 0x0000:
                raise PacsError(f"{self.describe()}: C-FIND failed, status 0x{code:04X}")

    def find_series(
        self,
        patient_id: str | None = None,
        study_uid: str | None = None,
        series_uid: str | None = None,
        modality: str | None = None,
    ) -> list[SeriesInfo]:
        ae = self._ae()
        ae.add_requested_context(sop.StudyRootQueryRetrieveInformationModelFind)
        assoc = self._associate(ae)
        try:
            studies = [study_uid] if study_uid else []
            if not studies:
                q = Dataset()
                q.QueryRetrieveLevel = "STUDY"
                q.PatientID = patient_id or ""
                q.StudyInstanceUID = ""
                if series_uid:  # a series alone: find its study from the series level
                    q.QueryRetrieveLevel = "SERIES"
                    q.SeriesInstanceUID = series_uid
                studies = [str(r.StudyInstanceUID) for r in self._find(assoc, q)]
            found: list[SeriesInfo] = []
            for study in dict.fromkeys(studies):
                q = Dataset()
                q.QueryRetrieveLevel = "SERIES"
                q.StudyInstanceUID = study
                q.SeriesInstanceUID = series_uid or ""
                q.Modality = modality or ""
                q.PatientID = ""
                q.SeriesDescription = ""
                q.SeriesNumber = ""
                q.NumberOfSeriesRelatedInstances = ""
                rows = list(self._find(assoc, q))  # one C-FIND at a time per association
                found.extend(self._with_geometry(assoc, r, study) for r in rows)
            return found
        finally:
            assoc.release()

    def _with_geometry(self, assoc: Any, series: Dataset, study: str) -> SeriesInfo:
        q = Dataset()
        q.QueryRetrieveLevel = "IMAGE"
        q.StudyInstanceUID = study
        q.SeriesInstanceUID = str(series.SeriesInstanceUID)
        q.SOPInstanceUID = ""
        q.SliceThickness = ""
        q.ImageOrientationPatient = ""
        q.EchoTime = ""
        q.RepetitionTime = ""
        first: Dataset | None = None
        for r in self._find(assoc, q):
            if first is None or (
                not first.get("ImageOrientationPatient") and r.get("ImageOrientationPatient")
            ):
                first = r
        return series_info(series, first, study)

    # --- C-GET / C-MOVE -------------------------------------------------------------------------
    def retrieve(self, series: SeriesInfo, sink: SeriesImport) -> int:
        q = Dataset()
        q.QueryRetrieveLevel = "SERIES"
        q.StudyInstanceUID = series.study_uid
        q.SeriesInstanceUID = series.series_uid

        def on_store(event: Any) -> int:
            ds = event.dataset
            ds.file_meta = event.file_meta
            sink.add(ds)
            return 0x0000

        handlers = [(pynetdicom.evt.EVT_C_STORE, on_store)]
        syntaxes = [getattr(uid, t) for t in RECEIVE_SYNTAXES]
        ae = self._ae()
        if self.retrieve_with == "get":
            ae.add_requested_context(sop.StudyRootQueryRetrieveInformationModelGet)
            roles = []
            for name in IMAGE_STORAGE:
                # one context per transfer syntax, so the PACS can send each instance as stored
                for syntax in syntaxes:
                    ae.add_requested_context(getattr(sop, name), [syntax])
                roles.append(pynetdicom.build_role(getattr(sop, name), scp_role=True))
            assoc = self._associate(ae, ext_neg=roles, evt_handlers=handlers)
            server = None

            def responses() -> Iterator[tuple[Any, Any]]:
                model = sop.StudyRootQueryRetrieveInformationModelGet
                yield from assoc.send_c_get(q, model)

        else:
            for name in IMAGE_STORAGE:
                ae.add_supported_context(getattr(sop, name), syntaxes)
            ae.add_requested_context(sop.StudyRootQueryRetrieveInformationModelMove)
            assert self.move_port is not None
            try:
                server = ae.start_server(("", self.move_port), block=False, evt_handlers=handlers)
            except OSError as err:
                raise PacsError(
                    f"cannot listen on port {self.move_port} for the C-MOVE ({err}); choose a free "
                    "--move-port that the PACS has for this AE title"
                ) from None
            assoc = self._associate(ae)

            def responses() -> Iterator[tuple[Any, Any]]:
                model = sop.StudyRootQueryRetrieveInformationModelMove
                yield from assoc.send_c_move(q, self.node.calling_aet, model)

        try:
            failed = 0
            for status, _ in responses():
                if not status:
                    raise PacsError(
                        f"{self.describe()}: C-{self.retrieve_with.upper()} got no answer"
                    )
                code = int(status.Status)
                if code in PENDING:
                    continue
                failed = int(status.get("NumberOfFailedSuboperations", 0) or 0)
                if code not in (0x0000, 0xB000):
                    raise PacsError(
                        f"{self.describe()}: C-{self.retrieve_with.upper()} of series "
                        f"{series.series_uid} failed, status 0x{code:04X}"
                        + (
                            " (the PACS does not know the move destination "
                            f"{self.node.calling_aet})"
                            if code == 0xA801
                            else ""
                        )
                    )
            if failed:
                raise PacsError(
                    f"{self.describe()}: {failed} instance(s) of series {series.series_uid} were "
                    "not sent; retry, or retrieve with the other method"
                )
        finally:
            assoc.release()
            if server is not None:
                server.shutdown()
        return sink.count

    # --- C-STORE ------------------------------------------------------------------------------
    def store(self, datasets: list[Dataset]) -> int:
        ae = self._ae()
        classes = {str(ds.SOPClassUID) for ds in datasets}
        for cls in sorted(classes):
            ae.add_requested_context(cls, [uid.ExplicitVRLittleEndian, uid.ImplicitVRLittleEndian])
        assoc = self._associate(ae)
        try:
            stored = 0
            for ds in datasets:
                status = assoc.send_c_store(ds)
                if not status:
                    raise PacsError(f"{self.describe()}: C-STORE got no answer")
                code = int(status.Status)
                if code not in (0x0000, 0xB000, 0xB006, 0xB007):
                    raise PacsError(
                        f"{self.describe()}: C-STORE of {ds.SOPClassUID.name} refused, status "
                        f"0x{code:04X}"
                    )
                stored += 1
            return stored
        finally:
            assoc.release()


def _float(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def series_info(series: Dataset, instance: Dataset | None, study: str) -> SeriesInfo:
    """A :class:`SeriesInfo` from a series-level answer and one instance-level answer."""
    inst = instance if instance is not None else Dataset()
    iop = inst.get("ImageOrientationPatient")
    orientation = None
    if iop is not None and len(iop) == 6:
        orientation = tuple(float(v) for v in iop)
    number = series.get("SeriesNumber")
    count = series.get("NumberOfSeriesRelatedInstances")
    return SeriesInfo.model_validate(
        {
            "patient_id": str(series.get("PatientID", "") or ""),
            "study_uid": study,
            "series_uid": str(series.SeriesInstanceUID),
            "modality": str(series.get("Modality", "") or ""),
            "description": str(series.get("SeriesDescription", "") or ""),
            "series_number": int(number) if number not in (None, "") else None,
            "instances": int(count) if count not in (None, "") else None,
            "slice_thickness_mm": _float(inst.get("SliceThickness")),
            "orientation": orientation,
            "echo_time_ms": _float(inst.get("EchoTime")),
            "repetition_time_ms": _float(inst.get("RepetitionTime")),
        }
    )
