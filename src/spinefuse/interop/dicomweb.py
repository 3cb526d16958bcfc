"""A PACS over DICOMweb (dicomweb-client): QIDO-RS searches, WADO-RS retrieves, STOW-RS stores."""

from __future__ import annotations

from typing import Any

from pydantic import Field
from pydicom.dataset import Dataset

from spinefuse.interop.dimse import series_info
from spinefuse.interop.extra import require
from spinefuse.interop.pacs import PacsError, SeriesImport
from spinefuse.interop.series_choice import SeriesInfo
from spinefuse.records import Record

dicomweb_client = require("dicomweb_client")
requests = require("requests")

SERIES_FIELDS = ("SeriesDescription", "SeriesNumber", "NumberOfSeriesRelatedInstances", "PatientID")
INSTANCE_FIELDS = ("SliceThickness", "ImageOrientationPatient", "EchoTime", "RepetitionTime")


class DicomWebNode(Record):
    """A DICOMweb service: its base URL (e.g. ``http://pacs:8042/dicom-web``)."""

    url: str = Field(pattern=r"^https?://")
    timeout_s: float = Field(default=30.0, gt=0)


class DicomWebPacs:
    """:class:`~spinefuse.interop.pacs.Pacs` over DICOMweb."""

    def __init__(self, node: DicomWebNode) -> None:
        self.node = node
        session = requests.Session()
        self.client = dicomweb_client.DICOMwebClient(url=node.url.rstrip("/"), session=session)

    def describe(self) -> str:
        return self.node.url

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except requests.exceptions.HTTPError as err:
            status = err.response.status_code if err.response is not None else "?"
            raise PacsError(f"{self.describe()}: {what} failed (HTTP {status})") from None
        except requests.exceptions.RequestException as err:
            raise PacsError(f"{self.describe()}: {what}: cannot reach the server ({err})") from None

    def find_series(
        self,
        patient_id: str | None = None,
        study_uid: str | None = None,
        series_uid: str | None = None,
        modality: str | None = None,
    ) -> list[SeriesInfo]:
        filters: dict[str, str] = {}
        if series_uid:
            filters["SeriesInstanceUID"] = series_uid
        if modality:
            filters["Modality"] = modality
        if study_uid:
            studies = [study_uid]
        else:
            study_filters = {"PatientID": patient_id} if patient_id else {}
            if series_uid and not patient_id:
                rows = self._call(
                    "QIDO-RS series search",
                    self.client.search_for_series,
                    search_filters={"SeriesInstanceUID": series_uid},
                )
                studies = [str(Dataset.from_json(r).StudyInstanceUID) for r in rows]
            else:
                rows = self._call(
                    "QIDO-RS study search",
                    self.client.search_for_studies,
                    search_filters=study_filters,
                )
                studies = [str(Dataset.from_json(r).StudyInstanceUID) for r in rows]
        found = []
        for study in dict.fromkeys(studies):
            rows = self._call(
                "QIDO-RS series search",
                self.client.search_for_series,
                study_instance_uid=study,
                search_filters=filters,
                fields=list(SERIES_FIELDS),
            )
            for row in rows:
                series = Dataset.from_json(row)
                instances = self._call(
                    "QIDO-RS instance search",
                    self.client.search_for_instances,
                    study_instance_uid=study,
                    series_instance_uid=str(series.SeriesInstanceUID),
                    fields=list(INSTANCE_FIELDS),
                    limit=1,
                )
                first = Dataset.from_json(instances[0]) if instances else None
                found.append(series_info(series, first, study))
        return found

    def retrieve(self, series: SeriesInfo, sink: SeriesImport) -> int:
        datasets = self._call(
            f"WADO-RS retrieval of series {series.series_uid}",
            self.client.iter_series,
            study_instance_uid=series.study_uid,
            series_instance_uid=series.series_uid,
            media_types=(("application/dicom", "*"),),  # as stored: no transcoding asked
        )
        try:
            for ds in datasets:
                sink.add(ds)
        except requests.exceptions.RequestException as err:
            raise PacsError(f"{self.describe()}: WADO-RS retrieval interrupted ({err})") from None
        return sink.count

    def store(self, datasets: list[Dataset]) -> int:
        response = self._call("STOW-RS", self.client.store_instances, datasets=datasets)
        failed = response.get("FailedSOPSequence") if response is not None else None
        if failed:
            raise PacsError(
                f"{self.describe()}: STOW-RS refused {len(failed)} of {len(datasets)} objects"
            )
        return len(datasets)
