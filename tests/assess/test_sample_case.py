"""The built-in sample patient: grade I degenerative spondylolisthesis with instability at L4-L5,
central stenosis there, 9 months of failed conservative care -> fuse L4-L5 with decompression."""

from __future__ import annotations

from pathlib import Path

import pytest

from spinefuse.anatomy.geometry import SpineGeometry
from spinefuse.assess import assess_case
from spinefuse.case import load_case
from spinefuse.imaging.images import read_images
from spinefuse.pipeline import run


@pytest.fixture(scope="module")
def sample(sample_case_path: Path) -> Path:
    return sample_case_path


def test_sample_with_its_geometry_is_fused_and_decompressed_at_l4_l5(sample: Path) -> None:
    case = load_case(sample)
    geometry = SpineGeometry.load(sample.parent / "ground_truth_geometry.json")
    a = assess_case(case, geometry, read_images(case).xrays)
    slip = [f for f in a.findings if f.diagnosis.endswith("spondylolisthesis")]
    assert [(f.diagnosis, f.level, f.grade) for f in slip] == [
        ("degenerative_spondylolisthesis", "L4-L5", "I")
    ]
    dx = {(f.diagnosis, f.level) for f in a.findings}
    assert {("instability", "L4-L5"), ("central_stenosis", "L4-L5")} <= dx
    assert a.measurement("slip_percent", "L4-L5").value == pytest.approx(18.0, abs=0.1)
    assert abs(a.measurement("translation_mm", "L4-L5").value) == pytest.approx(5.0, abs=0.05)
    assert a.measurement("angulation_change", "L4-L5").value == pytest.approx(12.0, abs=0.05)
    assert a.measurement("dural_sac_area", "L4-L5").value == pytest.approx(68.0)
    assert a.fuse_segments == ["L4-L5"]
    assert a.decompress_segments == ["L4-L5"]
    rec = next(r for r in a.recommendations if r.segment == "L4-L5")
    assert rec.action == "fuse" and "instability" in rec.reasons[0] and rec.criteria_source
    assert all(r.action == "none" for r in a.recommendations if r.segment != "L4-L5")


def test_sample_from_its_radiographs_alone(sample: Path) -> None:
    case = load_case(sample)
    films = case.model_copy(update={"imaging": [s for s in case.imaging if s.modality == "XR"]})
    a = run(films, "assessment", progress=False).assessment
    assert a is not None
    assert a.fuse_segments == ["L4-L5"]
    assert ("degenerative_spondylolisthesis", "L4-L5") in {
        (f.diagnosis, f.level) for f in a.findings
    }
    cobb = a.measurement("cobb_angle")
    assert cobb.value < 10.0  # the sample has no scoliosis


def test_pipeline_stage_uses_the_anatomy_record(sample: Path) -> None:
    case = load_case(sample)
    geometry = SpineGeometry.load(sample.parent / "ground_truth_geometry.json")
    a = run(case, "assessment", progress=False, given={"anatomy": geometry}).assessment
    assert a is not None and a.fuse_segments == ["L4-L5"]
    assert a.measurement("dural_sac_area", "L4-L5").detail["from"] == "geometry (virtual)"
    bare = run(case.model_copy(update={"imaging": []}), "assessment", progress=False)
    assert bare.assessment is None and bare.skipped["assessment"].code == "nothing_to_assess"


def test_sample_mr_shows_her_herniation_concordant_with_her_l5_deficit(sample: Path) -> None:
    a = run(load_case(sample), "assessment", progress=False).assessment
    assert a is not None
    hern = [f for f in a.findings if f.diagnosis == "disc_herniation"]
    assert [(f.level, f.zone, f.side) for f in hern] == [("L4-L5", "subarticular", "left")]
    assert a.measurement("pfirrmann_grade", "L4-L5").detail["grade"] == "IV"
    effusions = {f.side for f in a.findings if f.diagnosis == "facet_effusion"}
    assert effusions == {"left", "right"}
    c = a.concordance
    assert c is not None and c.concordant and not c.flags
    assert {(r.root, r.side) for r in c.roots} == {("L5", "left"), ("L5", "bilateral")}
    rec = next(r for r in a.recommendations if r.segment == "L4-L5")
    assert rec.action == "fuse" and "disc herniation" in " ".join(rec.reasons)
    assert a.fuse_segments == ["L4-L5"] and a.decompress_segments == ["L4-L5"]
    # the CT's dural sac and the MR's agree on an absolute stenosis at L4-L5
    assert a.measurement("dural_sac_area", "L4-L5").value < 75.0
    assert a.measurement("mr_dural_sac_area", "L4-L5").value < 75.0


def test_on_an_mr_alone_no_ct_density_canal_measurement_runs(sample: Path) -> None:
    case = load_case(sample)
    mr_only = case.model_copy(
        update={"imaging": [s for s in case.imaging if s.modality in ("MR", "XR")]}
    )
    result = run(mr_only, "assessment", progress=False)
    assert result.geometry is not None and result.geometry.source == "mr"
    assert all(d.canal is None for d in result.geometry.discs.values())  # no CT dural sac
    a = result.assessment
    assert a is not None
    names = {m.name for m in a.measurements}
    assert not names & {"dural_sac_area", "dural_sac_ap_diameter", "canal_ap_diameter"}
    assert "mr_dural_sac_area" in names
    stenosis = {(f.level, f.grade) for f in a.findings if f.diagnosis == "central_stenosis"}
    assert stenosis == {("L4-L5", "absolute, Schizas C")}  # and none at S1
    assert a.fuse_segments == ["L4-L5"]  # the films still show the instability
