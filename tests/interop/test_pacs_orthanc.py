"""Against a real PACS (Orthanc with DICOMweb, started on loopback for this module): the real
20-slice CT pulled back by C-GET, C-MOVE and WADO-RS; the sample patient's series pulled, run
through the pipeline, and its SEG, SR and PDF pushed back and read out of Orthanc's REST API."""

from __future__ import annotations

import time
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import highdicom as hd
import numpy as np
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from spinefuse.assess.assessment import Assessment
from spinefuse.case import ImagingStudy, load_case
from spinefuse.conventions import TOTALSEG_V2_VERTEBRAE
from spinefuse.errors import SpinefuseError
from spinefuse.imaging.dicom import read_dicom_series
from spinefuse.imaging.nifti import read_nifti
from spinefuse.interop import codes
from spinefuse.interop.dicom_export import export_dicom
from spinefuse.interop.encapsulated_pdf import pdf_bytes
from spinefuse.interop.pacs import KEY_FILE, PullResult, connect, pull, push
from spinefuse.interop.source_series import read_source_series
from spinefuse.interop.sr import read_measurements
from spinefuse.pipeline import run as run_pipeline
from spinefuse.sample import write_sample_case
from tests.interop.dicom_geometry import expected_segments
from tests.interop.orthanc import PACS_AET, SPINEFUSE_AET, Orthanc, orthanc_binary, running_orthanc

REAL_PATIENT = "REAL-CT-20"
SAMPLE_PATIENT = "SPINEFUSE-SAMPLE"
NETWORK_LIMIT_S = 15.0
"""Each pull or push of these series must finish within this (loopback, 20 or 219 slices)."""


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    exe, plugin, why = orthanc_binary()
    if exe is None or plugin is None:
        pytest.skip(f"PACS round-trip tests need Orthanc: {why}")
    with running_orthanc(tmp_path_factory.mktemp("orthanc")) as server:
        yield server


def _upload_folder(
    orthanc: Orthanc, files: list[Path], patient: str | None = None
) -> list[Dataset]:
    """Upload every file; the real example series had its UIDs (and SOP Class UID) blanked by its
    publisher, and a PACS stores only instances with UIDs, so missing ones are filled in (stable
    per file)."""
    stored = []
    for i, path in enumerate(sorted(files)):
        ds = dcmread(path)
        if not ds.get("StudyInstanceUID"):
            ds.StudyInstanceUID = generate_uid(entropy_srcs=["real-20", "study"])
        if not ds.get("SeriesInstanceUID"):
            ds.SeriesInstanceUID = generate_uid(entropy_srcs=["real-20", "series"])
        if not ds.get("SOPClassUID"):
            ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
        if not ds.get("SOPInstanceUID"):
            ds.SOPInstanceUID = generate_uid(entropy_srcs=["real-20", str(i)])
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        if patient is not None:
            ds.PatientID, ds.PatientName = patient, "Example^Real"
        buf = BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        assert orthanc.upload(buf.getvalue())["Status"] in ("Success", "AlreadyStored")
        stored.append(ds)
    return stored


@pytest.fixture(scope="module")
def real_series(orthanc: Orthanc, shared_data: Path) -> tuple[Path, list[Dataset]]:
    folder = shared_data / "ct" / "totalsegmentator_example" / "dicom"
    return folder, _upload_folder(orthanc, list(folder.iterdir()), REAL_PATIENT)


def _check_pulled(result: PullResult, source: Path, originals: list[Dataset]) -> Path:
    [series] = result.series
    assert series.role == "ct_axial" and series.instances == len(originals)
    files = sorted(series.folder.glob("*.dcm"))
    assert len(files) == len(originals)
    first = dcmread(files[0])
    assert first.PatientID == "ANONYMOUS" and first.PatientIdentityRemoved == "YES"
    assert first.StudyInstanceUID != originals[0].StudyInstanceUID
    assert str(first.SeriesInstanceUID) == series.series_uid
    pulled, direct = read_dicom_series(series.folder), read_dicom_series(source)
    assert np.array_equal(pulled.array, direct.array)
    assert np.allclose(pulled.affine, direct.affine, atol=1e-6)
    assert result.key_file.name == KEY_FILE and result.key_file.stat().st_mode & 0o077 == 0
    return series.folder


@pytest.mark.parametrize("method", ["get", "move"])
def test_real_series_pulled_by_dimse(
    orthanc: Orthanc, real_series: tuple[Path, list[Dataset]], tmp_path: Path, method: str
) -> None:
    source, originals = real_series
    pacs = connect(
        host="127.0.0.1",
        port=orthanc.dicom_port,
        called_aet=PACS_AET,
        calling_aet=SPINEFUSE_AET,
        retrieve_with=method,
        move_port=orthanc.scp_port if method == "move" else None,
        timeout_s=10,
    )
    start = time.monotonic()
    result = pull(pacs, tmp_path / "pulled", patient_id=REAL_PATIENT)
    assert time.monotonic() - start < NETWORK_LIMIT_S
    _check_pulled(result, source, originals)


def test_real_series_pulled_by_dicomweb_feeds_the_pipeline_and_gets_its_seg(
    orthanc: Orthanc, real_series: tuple[Path, list[Dataset]], tmp_path: Path, shared_data: Path
) -> None:
    source, originals = real_series
    pacs = connect(url=orthanc.dicomweb, timeout_s=10)
    result = pull(pacs, tmp_path / "pulled", patient_id=REAL_PATIENT)
    folder = _check_pulled(result, source, originals)
    labels = shared_data / "ct" / "totalsegmentator_example" / "example_seg_dicom.nii.gz"
    case_file = tmp_path / "case.yaml"
    case_file.write_text(
        "schema: spinefuse/case@1\nid: real-ct-20\n"
        "patient: {age_years: 55, sex: male, height_cm: 178, weight_kg: 80}\n"
        "history: {back_pain_nrs: 5}\n"
        f"imaging:\n  - {{modality: CT, dicom_dir: {folder}, label_map: {labels}}}\n"
    )
    out = tmp_path / "run"
    try:  # it holds T11 and T12 only: no lumbar motion segment to assess
        run_pipeline(load_case(case_file), out_dir=out, progress=False)
    except SpinefuseError:
        pass
    geometry = (out / "anatomy.json").read_text()
    assert '"T11"' in geometry and '"T12"' in geometry
    # its vertebrae back to the PACS as a SEG on the pulled series, sent by C-STORE
    [seg_path] = export_dicom(out, tmp_path / "dicom", which=("seg",))
    dimse = connect(host="127.0.0.1", port=orthanc.dicom_port, called_aet=PACS_AET, timeout_s=10)
    assert push(dimse, [seg_path], result.key_file) == 1
    seg = _instances_of(orthanc, str(originals[0].StudyInstanceUID), "SEG")[0]
    assert [s.SegmentLabel for s in seg.SegmentSequence] == ["T11", "T12"]
    assert seg.PatientID == REAL_PATIENT  # re-identified into the original study
    assert str(seg.ReferencedSeriesSequence[0].SeriesInstanceUID) == str(
        originals[0].SeriesInstanceUID
    )
    _check_seg_frames(seg, read_nifti(labels, modality="SEG"), originals)


def _instances_of(orthanc: Orthanc, study_uid: str, modality: str) -> list[Dataset]:
    """The instances of one modality in a study, downloaded through Orthanc's REST API."""
    [study] = _lookup(orthanc, study_uid)
    out = []
    for series_id in orthanc.get(f"/studies/{study}")["Series"]:
        series = orthanc.get(f"/series/{series_id}")
        if series["MainDicomTags"].get("Modality") == modality:
            for instance in series["Instances"]:
                out.append(dcmread(BytesIO(orthanc.get(f"/instances/{instance}/file"))))
    assert out, f"no {modality} in study {study_uid}"
    return out


def _lookup(orthanc: Orthanc, study_uid: str) -> list[str]:
    import json
    import urllib.request

    req = urllib.request.Request(
        orthanc.rest + "/tools/lookup", data=study_uid.encode(), method="POST"
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return [m["ID"] for m in json.loads(r.read()) if m["Type"] == "Study"]


def _check_seg_frames(seg: Dataset, labels: object, instances: list[Dataset]) -> None:
    seg = hd.seg.Segmentation.from_dataset(seg)
    ordered = sorted(
        instances,
        key=lambda ds: float(
            np.cross(
                np.asarray(ds.ImageOrientationPatient[:3], float),
                np.asarray(ds.ImageOrientationPatient[3:], float),
            )
            @ np.asarray(ds.ImagePositionPatient, float)
        ),
    )
    uids = [str(ds.SOPInstanceUID) for ds in ordered]
    got = seg.get_pixels_by_source_instance(
        uids, combine_segments=True, assert_missing_frames_are_empty=True
    )
    ids = {v: k for k, v in TOTALSEG_V2_VERTEBRAE.items()}
    number_of_id = {ids[str(s.SegmentLabel)]: int(s.SegmentNumber) for s in seg.SegmentSequence}
    want = expected_segments(labels, ordered, number_of_id)  # type: ignore[arg-type]
    assert np.array_equal(got, want) and (want > 0).any()


def test_round_trip_sample_patient_seg_sr_pdf(orthanc: Orthanc, tmp_path: Path) -> None:
    """Series in, pipeline, SEG + SR + PDF back into the patient's study, each read back."""
    case_dir = write_sample_case(tmp_path / "sample").parent
    originals = _upload_folder(orthanc, list((case_dir / "ct_dicom").iterdir()))
    pacs = connect(url=orthanc.dicomweb, timeout_s=10)
    start = time.monotonic()
    result = pull(pacs, tmp_path / "pulled", patient_id=SAMPLE_PATIENT)
    assert time.monotonic() - start < NETWORK_LIMIT_S
    [series] = result.series
    assert series.instances == len(originals) == 219 and series.slice_thickness_mm == 1.0
    # the sample case, its CT now the pulled (pseudonymous) DICOM series
    case = load_case(case_dir / "case.yaml")
    ct = case.study("CT")
    assert ct is not None and ct.label_map is not None
    pulled_ct = ImagingStudy(modality="CT", dicom_dir=series.folder, label_map=ct.label_map)
    case = case.model_copy(update={"imaging": [pulled_ct, *case.imaging[1:]]})
    out = tmp_path / "run"
    records = run_pipeline(case, out_dir=out, progress=False)
    assert records.plan is not None and (out / "report.pdf").is_file()
    paths = {p.name: p for p in export_dicom(out, tmp_path / "dicom")}
    dimse = connect(host="127.0.0.1", port=orthanc.dicom_port, called_aet=PACS_AET, timeout_s=10)
    start = time.monotonic()
    assert push(dimse, [paths["seg.dcm"]], result.key_file) == 1  # C-STORE
    assert push(pacs, [paths["sr.dcm"], paths["report.dcm"]], result.key_file) == 2  # STOW-RS
    assert time.monotonic() - start < NETWORK_LIMIT_S

    study = str(originals[0].StudyInstanceUID)
    [seg] = _instances_of(orthanc, study, "SEG")
    [sr] = _instances_of(orthanc, study, "SR")
    [doc] = _instances_of(orthanc, study, "DOC")
    for ds in (seg, sr, doc):
        assert ds.PatientID == SAMPLE_PATIENT and str(ds.StudyInstanceUID) == study
    # SEG: a segment per level of the label map, on the original series
    labels = read_nifti(ct.label_map, modality="SEG")
    assert [s.SegmentLabel for s in seg.SegmentSequence] == ["L1", "L2", "L3", "L4", "L5", "S1"]
    assert [s.SegmentedPropertyTypeCodeSequence[0].CodeValue for s in seg.SegmentSequence] == [
        codes.vertebra(n).code for n in ("L1", "L2", "L3", "L4", "L5", "S1")
    ]
    assert str(seg.ReferencedSeriesSequence[0].SeriesInstanceUID) == str(
        originals[0].SeriesInstanceUID
    )
    _check_seg_frames(seg, labels, originals)
    # SR: every measurement, its value equal to the record's
    assessment = Assessment.load(out / "assessment.json")
    want = sorted(
        (
            codes.measurement(m.name).code,
            codes.level(m.level).code if m.level else "",
            m.value,
            codes.unit(m.unit).code,
        )
        for m in assessment.measurements
    )
    assert sorted(read_measurements(sr)) == want
    slip = assessment.measurement("slip_percent", "L4-L5").value
    assert abs(slip - 18.0) < 1.0  # the sample's ground truth, through PACS and back
    # PDF: the report's bytes
    assert pdf_bytes(doc) == (out / "report.pdf").read_bytes()
    assert read_source_series(series.folder)[0].PatientID == "ANONYMOUS"


def test_cli_find_lists_series_and_an_unreachable_pacs_is_a_short_error(
    orthanc: Orthanc, real_series: tuple[Path, list[Dataset]]
) -> None:
    from typer.testing import CliRunner

    from spinefuse.cli import app
    from tests.interop.orthanc import free_port

    runner = CliRunner()
    dimse = ["--host", "127.0.0.1", "--port", str(orthanc.dicom_port), "--aet", PACS_AET]
    found = runner.invoke(app, ["pacs", "find", *dimse, "--patient", REAL_PATIENT])
    assert found.exit_code == 0, found.output
    assert "CT axial 3 mm, 20 instances" in found.output
    web = runner.invoke(app, ["pacs", "find", "--url", orthanc.dicomweb, "--patient", REAL_PATIENT])
    assert web.exit_code == 0 and "CT axial 3 mm, 20 instances" in web.output
    closed = ["--host", "127.0.0.1", "--port", str(free_port()), "--timeout", "2"]
    refused = runner.invoke(app, ["pacs", "find", *closed, "--patient", REAL_PATIENT])
    assert refused.exit_code == 2 and "association refused or no answer" in refused.output
    assert "Traceback" not in refused.output
