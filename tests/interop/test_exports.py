"""DICOM SEG, SR, Encapsulated PDF and the FHIR Bundle of the sample patient's run, each read back
with the library a hospital system would use and compared with the run's own records."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import highdicom as hd
import numpy as np
import pytest
from pydicom import dcmread
from pydicom.sr.codedict import codes as dicom_codes

from spinefuse.assess.assessment import Assessment
from spinefuse.conventions import TOTALSEG_V2_VERTEBRAE
from spinefuse.imaging.nifti import read_nifti
from spinefuse.interop import codes
from spinefuse.interop.dicom_export import export_dicom
from spinefuse.interop.encapsulated_pdf import pdf_bytes
from spinefuse.interop.fhir import FhirError, build_bundle, export_fhir
from spinefuse.interop.source_series import read_source_series
from spinefuse.interop.sr import read_measurements
from spinefuse.run_folder import load_run
from tests.interop.dicom_geometry import expected_segments


@pytest.fixture(scope="module")
def exported(sample_run: Path) -> dict[str, Path]:
    paths = export_dicom(sample_run, sample_run / "dicom", sample_run.parent / "case" / "ct_dicom")
    return {p.name: p for p in paths}


def test_seg_has_one_coded_segment_per_vertebra_on_the_source_grid(
    sample_run: Path, exported: dict[str, Path]
) -> None:
    seg = hd.seg.segread(exported["seg.dcm"])
    labels = read_nifti(sample_run.parent / "case" / "ct_labels.nii.gz", modality="SEG")
    names = {TOTALSEG_V2_VERTEBRAE.get(int(i), "") for i in np.unique(labels.array)} - {""}
    by_number = {int(s.SegmentNumber): s for s in seg.SegmentSequence}
    assert [s.SegmentLabel for s in by_number.values()] == ["L1", "L2", "L3", "L4", "L5", "S1"]
    assert set(s.SegmentLabel for s in by_number.values()) == names
    for s in by_number.values():
        code = s.SegmentedPropertyTypeCodeSequence[0]
        assert (code.CodingSchemeDesignator, code.CodeValue) == (
            "SCT",
            codes.vertebra(s.SegmentLabel).code,
        )
    # every source instance is referenced, and the frames hold the label map at each pixel
    source = read_source_series(sample_run.parent / "case" / "ct_dicom")
    uids = [str(ds.SOPInstanceUID) for ds in source]
    referenced = {
        str(i.ReferencedSOPInstanceUID)
        for s in seg.ReferencedSeriesSequence
        for i in s.ReferencedInstanceSequence
    }
    assert referenced == set(uids)
    assert str(seg.ReferencedSeriesSequence[0].SeriesInstanceUID) == str(
        source[0].SeriesInstanceUID
    )
    got = seg.get_pixels_by_source_instance(
        uids, combine_segments=True, assert_missing_frames_are_empty=True
    )
    ids = {v: k for k, v in TOTALSEG_V2_VERTEBRAE.items()}
    number_of_id = {ids[s.SegmentLabel]: n for n, s in by_number.items()}
    want = expected_segments(labels, source, number_of_id)
    assert got.shape == want.shape == (len(source), int(source[0].Rows), int(source[0].Columns))
    assert np.array_equal(got, want)
    assert (want > 0).sum() > 100_000  # the vertebrae, not an empty map


def test_sr_measurements_equal_the_assessment_record(
    sample_run: Path, exported: dict[str, Path]
) -> None:
    assessment = Assessment.load(sample_run / "assessment.json")
    got = read_measurements(dcmread(exported["sr.dcm"]))
    want = [
        (
            codes.measurement(m.name).code,
            codes.level(m.level).code if m.level else "",
            m.value,
            codes.unit(m.unit).code,
        )
        for m in assessment.measurements
    ]
    assert len(got) == len(want) == len(assessment.measurements) > 50
    assert sorted(got) == sorted(want)  # values bit for bit (Floating Point Value beside DS)
    units = {u for *_, u in got}
    assert units <= {"deg", "mm", "mm2", "%", "[hnsf'U]", "1"} and "[hnsf'U]" in units
    sr = hd.sr.srread(exported["sr.dcm"])
    assert sr.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR
    text = str(sr)
    for finding in assessment.findings:
        assert codes.finding(finding.diagnosis).code in text


def test_encapsulated_pdf_holds_the_report_byte_for_byte(
    sample_run: Path, exported: dict[str, Path]
) -> None:
    ds = dcmread(exported["report.dcm"])
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.104.1"
    assert ds.MIMETypeOfEncapsulatedDocument == "application/pdf"
    assert pdf_bytes(ds) == (sample_run / "report.pdf").read_bytes()
    assert len(ds.EncapsulatedDocument) % 2 == 0
    source = read_source_series(sample_run.parent / "case" / "ct_dicom")[0]
    assert ds.StudyInstanceUID == source.StudyInstanceUID and ds.PatientID == source.PatientID


def test_vertebra_codes_are_the_dicom_cid_7151_codes() -> None:
    for name in ("T10", "T11", "T12", "L1", "L2", "L3", "L4", "L5"):
        assert codes.vertebra(name).code == getattr(dicom_codes.SCT, f"{name}Vertebra").value
    assert codes.level("L4-L5").code == dicom_codes.SCT.LevelOfL4L5IntervertebralDisc.value
    assert codes.unit("HU").code == dicom_codes.UCUM.HounsfieldUnit.value
    assert codes.measurement("cobb_angle").code == dicom_codes.SCT.CobbAngle.value


def _fhir(run: Path) -> dict[str, Any]:
    return json.loads(export_fhir(run).read_text())


def test_fhir_bundle_validates_and_carries_units_levels_and_the_patient(sample_run: Path) -> None:
    bundle = _fhir(sample_run)
    run = load_run(sample_run)
    assert run.assessment is not None and run.plan is not None and run.forecast is not None
    resources = [e["resource"] for e in bundle["entry"]]
    kinds = [r["resourceType"] for r in resources]
    assert kinds.count("Patient") == 1
    patient_url = next(
        e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    for r in resources:
        if r["resourceType"] != "Patient":
            ref = r.get("subject") or r.get("patient")
            assert ref == {"reference": patient_url}, r["resourceType"]
    observations = [r for r in resources if r["resourceType"] == "Observation"]
    assert len(observations) == len(run.assessment.measurements)
    for obs, m in zip(observations, run.assessment.measurements, strict=True):
        q = obs["valueQuantity"]
        assert q["system"] == "http://unitsofmeasure.org" and q["code"] == codes.unit(m.unit).code
        assert q["value"] == pytest.approx(m.value, rel=1e-12)
        assert obs["bodySite"]["text"] == (m.level or "lumbosacral spine")
        assert obs["bodySite"]["coding"][0]["system"] == "http://snomed.info/sct"
    conditions = [r for r in resources if r["resourceType"] == "Condition"]
    assert [c["code"]["coding"][0]["code"] for c in conditions] == [
        codes.finding(f.diagnosis).code for f in run.assessment.findings
    ]
    procedure = next(
        r for r in resources if r["resourceType"] == "Procedure" and "focalDevice" in r
    )
    assert procedure["status"] == "preparation"
    assert [b["text"] for b in procedure["bodySite"]] == run.plan.fuse_segments
    devices = [r for r in resources if r["resourceType"] == "Device"]
    assert (
        len(devices)
        == len(procedure["focalDevice"])
        == (len(run.plan.screws) + len(run.plan.rods) + len(run.plan.cages))
    )
    risks = [r for r in resources if r["resourceType"] == "RiskAssessment"]
    assert [r["prediction"][0]["probabilityDecimal"] for r in risks] == pytest.approx(
        [f.probability for f in run.forecast.risks]
    )
    assert kinds.count("CarePlan") == 1
    report = next(r for r in resources if r["resourceType"] == "DiagnosticReport")
    import base64

    assert (
        base64.b64decode(report["presentedForm"][0]["data"])
        == (sample_run / "report.pdf").read_bytes()
    )
    assert build_bundle(run).type == "transaction"


class _Fhir(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []
    status = 200

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(
            {"type": self.headers["Content-Type"], "bundle": json.loads(body)}
        )
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/fhir+json")
        self.end_headers()
        self.wfile.write(b'{"resourceType": "Bundle", "type": "transaction-response"}')

    def log_message(self, *args: object) -> None:
        pass


def test_fhir_bundle_is_posted_to_the_server_and_a_refusal_is_an_error(sample_run: Path) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Fhir)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/fhir"
        export_fhir(sample_run, sample_run / "posted.json", post_url=url, timeout_s=5)
        assert _Fhir.received[-1]["type"] == "application/fhir+json"
        assert _Fhir.received[-1]["bundle"] == json.loads((sample_run / "posted.json").read_text())
        _Fhir.status = 422
        with pytest.raises(FhirError, match="HTTP 422"):
            export_fhir(sample_run, sample_run / "refused.json", post_url=url, timeout_s=5)
    finally:
        server.shutdown()


def test_cli_exports_and_their_errors(sample_run: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from spinefuse.cli import app

    runner = CliRunner()
    out = tmp_path / "bundle.json"
    done = runner.invoke(app, ["export", "fhir", str(sample_run), "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert json.loads(out.read_text())["resourceType"] == "Bundle"
    nifti = runner.invoke(app, ["export", "dicom", str(sample_run), "--out", str(tmp_path)])
    assert nifti.exit_code == 2 and "--source-dicom" in nifti.output  # its CT is a NIfTI file
    pdf_only = runner.invoke(
        app,
        [
            "export",
            "dicom",
            str(sample_run),
            "--out",
            str(tmp_path),
            "--only",
            "pdf",
            "--source-dicom",
            str(sample_run.parent / "case" / "ct_dicom"),
        ],
    )
    assert pdf_only.exit_code == 0 and sorted(p.name for p in tmp_path.glob("*.dcm")) == [
        "report.dcm"
    ]
    missing = runner.invoke(app, ["export", "fhir", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "no such run folder" in missing.output


def test_every_finding_kind_and_complication_has_a_code() -> None:
    from typing import get_args

    from spinefuse.assess.assessment import Diagnosis
    from spinefuse.outcomes.complications import OUTCOMES

    for diagnosis in get_args(Diagnosis):
        code = codes.finding(diagnosis)
        assert code.scheme in ("SCT", "local") and code.code
    for outcome in (*OUTCOMES, "asd_10y"):
        assert codes.complication(outcome).meaning
    assert set(codes.names("findings")) == set(get_args(Diagnosis))
