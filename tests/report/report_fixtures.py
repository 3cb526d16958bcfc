"""A complete run folder for the report tests, built from the contract records.

The spine is the virtual patient (a 20 % L4-L5 slip); the CT is that spine voxelised (cortical
shell and trabecular core in HU, 1.5 mm voxels) and written as NIfTI; the plan places pedicle
screws along the geometry's pedicle axes, rods through the screw heads and a TLIF cage in the
L4-L5 disc. The mechanics, healing and forecast records follow the stage contracts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pypdfium2 as pdfium

from spinefuse.anatomy.geometry import SpineGeometry
from spinefuse.anatomy.template import VirtualPatientSpec, virtual_spine
from spinefuse.assess.assessment import Assessment, Finding, Measurement, SegmentRecommendation
from spinefuse.case import Case, ClinicalHistory, ImagingStudy, Patient, Radiculopathy
from spinefuse.plan.surgical_plan import Cage, Decompression, Graft, PedicleScrew, Rod, SurgicalPlan

SEGMENTS = ("L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1")
STAGES = ("case", "anatomy", "assessment", "plan", "mechanics", "healing", "forecast")


def voxelise(geometry: SpineGeometry, spacing: float = 1.5) -> nib.Nifti1Image:
    """A CT of the vertebral bodies: 700 HU cortex, 180 HU core, 20 HU soft tissue around."""
    c = np.array([v.centroid for v in geometry.vertebrae.values()])
    lo, hi = c.min(axis=0) - [45, 45, 35], c.max(axis=0) + [45, 60, 35]
    axes = [np.arange(lo[i], hi[i], spacing) for i in range(3)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
    ct = np.full(grid.shape[:3], 20.0, dtype=np.float32)
    for v in geometry.vertebrae.values():
        f = v.frame()
        local = (grid - f[:3, 3]) @ f[:3, :3]
        half_h = (
            13.0
            if v.inferior is None
            else 0.5 * np.linalg.norm(np.subtract(v.superior.centre, v.inferior.centre))
        )
        r = (local[..., 0] / (v.body_width_mm / 2)) ** 2 + (
            local[..., 1] / (v.body_depth_mm / 2)
        ) ** 2
        inside = (r <= 1.0) & (np.abs(local[..., 2]) <= half_h)
        core = (r <= 0.8) & (np.abs(local[..., 2]) <= half_h - 1.5)
        ct[inside] = 700.0
        ct[core] = 180.0
    affine = np.diag([spacing, spacing, spacing, 1.0])
    affine[:3, 3] = lo
    return nib.Nifti1Image(ct, affine)


def build_plan(g: SpineGeometry) -> SurgicalPlan:
    screws = []
    for name in ("L4", "L5"):
        for side, p in g.vertebrae[name].pedicles.items():
            assert p.entry_point is not None and p.chord_mm is not None
            axis = np.asarray(p.axis)
            screws.append(
                PedicleScrew(
                    vertebra=name,
                    side=side,
                    entry_point=p.entry_point,
                    direction=p.axis,
                    diameter_mm=6.5,
                    length_mm=round(0.8 * p.chord_mm / 5) * 5,
                    medial_angle_deg=float(np.degrees(np.arctan2(abs(axis[0]), axis[1]))),
                    cranial_angle_deg=float(np.degrees(np.arcsin(axis[2]))),
                    mean_hu=182.0,
                )
            )
    rods = []
    for side in ("left", "right"):
        pts = [s.entry_point for s in screws if s.side == side]
        length = float(np.linalg.norm(np.subtract(pts[0], pts[1]))) + 15.0
        rods.append(
            Rod(side=side, material="titanium", diameter_mm=5.5, length_mm=length, points=pts)
        )
    disc = g.discs["L4-L5"]
    cage = Cage(
        segment="L4-L5",
        technique="TLIF",
        material="peek",
        width_mm=11.0,
        depth_mm=28.0,
        height_mm=round(disc.middle_height_mm),
        lordosis_deg=6.0,
        centre=disc.centre,
    )
    return SurgicalPlan(
        fuse_segments=["L4-L5"],
        approach="open",
        technique="TLIF",
        reasons=[
            "grade I degenerative spondylolisthesis with stenosis and leg pain",
            "TLIF restores disc height and foraminal area",
        ],
        decompressions=[
            Decompression(segment="L4-L5", kind="laminectomy", treats=["central_stenosis"])
        ],
        screws=screws,
        rods=rods,
        cages=[cage],
        graft=Graft(
            material="local_autograft", volume_cm3=12.0, regions=["interbody", "posterolateral"]
        ),
    )


def _mechanics(g: SpineGeometry) -> dict[str, Any]:
    intact = {"L1-L2": 8.0, "L2-L3": 10.0, "L3-L4": 11.5, "L4-L5": 13.0, "L5-S1": 12.0}
    planned = {"L1-L2": 8.3, "L2-L3": 10.6, "L3-L4": 13.6, "L4-L5": 1.6, "L5-S1": 13.9}

    def seg(s: str, rom: float) -> dict[str, float | str]:
        return {
            "segment": s,
            "flexion_deg": 0.6 * rom,
            "extension_deg": 0.4 * rom,
            "lateral_bending_left_deg": 0.45 * rom,
            "lateral_bending_right_deg": 0.45 * rom,
            "axial_rotation_left_deg": 0.2 * rom,
            "axial_rotation_right_deg": 0.2 * rom,
            "disc_pressure_mpa": 0.5,
        }

    return {
        "protocol": "pure-moment",
        "moment_nm": 7.5,
        "preload_n": 0.0,
        "intact": {"segments": [seg(s, intact[s]) for s in SEGMENTS]},
        "instrumented": {"segments": [seg(s, planned[s]) for s in SEGMENTS]},
        "implants": [
            {"implant": "rod", "side": "left", "peak_stress_mpa": 210.0, "safety_factor": 3.8},
            {"implant": "screw", "vertebra": "L5", "side": "left", "safety_factor": 2.9},
            {"implant": "cage", "segment": "L4-L5", "subsidence_safety_factor": 1.3},
        ],
        "source": "reduced-order lumbar model calibrated to in-vitro ROM (spinefuse)",
    }


def _healing() -> dict[str, Any]:
    months = list(np.arange(0, 25, 1.0))
    bone = [float(1 - np.exp(-m / 6.0)) for m in months]
    p_fused = [float(1 / (1 + np.exp(-(m - 9.0) / 2.0))) * 0.92 for m in months]
    subs = [float(1.4 * (1 - np.exp(-m / 2.0))) for m in months]
    return {
        "segments": {
            "L4-L5": {
                "months": months,
                "bone_fraction": bone,
                "fusion_probability": p_fused,
                "subsidence_mm": subs,
            }
        },
        "fusion_probability_6m": 0.22,
        "fusion_probability_12m": 0.74,
        "fusion_probability_24m": 0.91,
        "nonunion_probability": 0.09,
        "median_time_to_fusion_months": 9.5,
        "subsidence_probability": 0.12,
        "rod_fracture_probability": 0.01,
    }


def _forecast() -> dict[str, Any]:
    return {
        "complications": {
            "infection": {"probability": 0.021, "interval": [0.012, 0.035], "average": 0.018},
            "dural_tear": {"probability": 0.061, "interval": [0.040, 0.085], "average": 0.055},
            "transfusion": {"probability": 0.085, "interval": [0.06, 0.12], "average": 0.07},
            "readmission_90d": {"probability": 0.058, "interval": [0.04, 0.08], "average": 0.05},
            "reoperation_2y": {"probability": 0.072, "interval": [0.05, 0.10], "average": 0.06},
            "asd_5y": {"probability": 0.15, "interval": [0.10, 0.21], "average": 0.13},
        },
        "length_of_stay_days": 3.4,
        "blood_loss_ml": 420.0,
        "baseline_odi": 46.0,
        "odi_12m": 27.0,
        "odi_mcid_probability": 0.68,
        "nonhome_discharge": 0.09,
        "pro": {"odi": {"months": [0, 1.5, 3, 6, 12, 24], "odi": [46, 36, 30, 28, 27, 27.5]}},
        "recovery": [
            {"day": 0, "what": "walking with help on the ward"},
            {"day": 3, "what": "home, walking short distances"},
            {"week": 2, "what": "stitches out, short walks every day"},
            {"week": 6, "what": "back to desk work, start physiotherapy"},
            {"week": 12, "what": "most daily activities, light lifting"},
            {"week": 26, "what": "full activity if the fusion is progressing"},
        ],
    }


def build_run_dir(root: Path, stages: tuple[str, ...] = STAGES) -> Path:
    """Write a run folder with the given stage records (and the case's CT) into ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    g = virtual_spine(
        VirtualPatientSpec(
            sex="female",
            height_cm=165,
            slip_percent={"L4-L5": 20.0},
            disc_height_loss={"L4-L5": 0.4},
            stenosis_csa_mm2={"L4-L5": 60.0},
        )
    )
    nib.save(voxelise(g), root / "ct.nii.gz")
    case = Case(
        id="demo-001",
        patient=Patient(age_years=64, sex="female", height_cm=165, weight_kg=74, smoking="former"),
        history=ClinicalHistory(
            back_pain=True,
            back_pain_nrs=6,
            leg_pain=True,
            leg_pain_nrs=7,
            radiculopathy=Radiculopathy(side="left", root="L5"),
            neurogenic_claudication=True,
            claudication_distance_m=200,
            symptom_duration_months=18,
            conservative_care=["physiotherapy", "nsaids", "epidural_injection"],
            conservative_care_months=9,
            odi=46,
        ),
        imaging=[ImagingStudy(modality="CT", nifti=root / "ct.nii.gz")],
    )
    assessment = Assessment(
        measurements=[
            Measurement(
                name="slip_percent",
                value=20.0,
                unit="%",
                level="L4-L5",
                normal_range=(0.0, 5.0),
                method="Meyerding",
                source="Meyerding 1932",
            ),
            Measurement(
                name="lumbar_lordosis",
                value=float(g.parameters.get("lumbar_lordosis_deg", 52.0))
                if isinstance(g.parameters.get("lumbar_lordosis_deg"), float)
                else 52.0,
                unit="deg",
                normal_range=(40.0, 60.0),
                method="Cobb L1-S1",
                source="Roussouly 2005",
            ),
            Measurement(
                name="disc_height",
                value=round(g.discs["L4-L5"].middle_height_mm, 1),
                unit="mm",
                level="L4-L5",
                normal_range=(9.0, 14.0),
            ),
            Measurement(
                name="dural_sac_area",
                value=60.0,
                unit="mm2",
                level="L4-L5",
                normal_range=(100.0, 200.0),
                source="Schizas 2010",
            ),
        ],
        findings=[
            Finding(
                diagnosis="degenerative_spondylolisthesis",
                level="L4-L5",
                grade="Meyerding I",
                evidence=["slip 20 % (> 5 %)"],
                source="Meyerding 1932",
            ),
            Finding(
                diagnosis="central_stenosis",
                level="L4-L5",
                grade="severe",
                evidence=["dural sac 60 mm² (< 75 mm²)"],
                source="Schizas 2010",
            ),
        ],
        recommendations=[
            SegmentRecommendation(
                segment="L4-L5",
                action="fuse",
                reasons=["slip with stenosis after 9 months of conservative care"],
                criteria_source="NASS 2014 degenerative spondylolisthesis guideline",
            )
        ],
        fuse_segments=["L4-L5"],
        decompress_segments=["L4-L5"],
        rationale="Symptomatic grade I degenerative spondylolisthesis with stenosis at L4-L5.",
    )
    records: dict[str, Any] = {
        "case": case,
        "anatomy": g,
        "assessment": assessment,
        "plan": build_plan(g),
        "mechanics": _mechanics(g),
        "healing": _healing(),
        "forecast": _forecast(),
    }
    for name in stages:
        rec = records[name]
        path = root / f"{name}.json"
        if isinstance(rec, dict):
            path.write_text(json.dumps(rec))
        else:
            rec.save(path)
    return root


def pdf_pages_text(path: Path) -> list[str]:
    """The text of each page of a PDF (pypdfium2)."""
    pdf = pdfium.PdfDocument(str(path))
    try:
        return [pdf[i].get_textpage().get_text_range() for i in range(len(pdf))]
    finally:
        pdf.close()
