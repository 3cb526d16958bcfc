"""A complete run folder for the report tests: the demo patient through every stage.

The case, its CT and its X-ray landmarks are the sample case (``spinefuse.sample``); the anatomy
is the sample's exact ground-truth geometry. Assessment, plan, mechanics and forecast come from
the stages' own functions when this checkout has them, else from records built to the stage
contracts (the fallback plan places pedicle screws along the pedicle axes, rods through their
heads and a TLIF cage in the L4-L5 disc). The healing course is the real healing stage (64
members), on the mechanics stage's fusion response when present, else on a closed-form one.
"""

from __future__ import annotations

import importlib
import json
import tempfile
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import nibabel as nib
import numpy as np
import pypdfium2 as pdfium

from spinefuse.anatomy.geometry import SpineGeometry
from spinefuse.assess.assessment import Assessment, Finding, Measurement, SegmentRecommendation
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


def _mechanics() -> dict[str, Any]:
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


def build_assessment(g: SpineGeometry) -> Assessment:
    """The assessment of the sample patient from her ground truth (slip 18 %, sac 68 mm²)."""
    disc = g.discs["L4-L5"]
    return Assessment(
        measurements=[
            Measurement(
                name="slip_percent",
                value=18.0,
                unit="%",
                level="L4-L5",
                normal_range=(0.0, 5.0),
                method="Meyerding",
                source="Meyerding 1932",
            ),
            Measurement(
                name="disc_height",
                value=round(disc.middle_height_mm, 1),
                unit="mm",
                level="L4-L5",
                normal_range=(9.0, 14.0),
                method="endplate distance",
            ),
            Measurement(
                name="dural_sac_area",
                value=68.0,
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
                evidence=["slip 18 % (> 5 %)"],
                source="Meyerding 1932",
            ),
            Finding(
                diagnosis="central_stenosis",
                level="L4-L5",
                grade="severe",
                evidence=["dural sac 68 mm² (< 75 mm²)"],
                source="Schizas 2010",
            ),
        ],
        recommendations=[
            SegmentRecommendation(
                segment="L4-L5",
                action="fuse",
                reasons=["slip with stenosis after conservative care"],
                criteria_source="NASS 2014 degenerative spondylolisthesis guideline",
            )
        ],
        fuse_segments=["L4-L5"],
        decompress_segments=["L4-L5"],
        rationale="Symptomatic grade I degenerative spondylolisthesis with stenosis at L4-L5.",
    )


def _response(segment: str) -> Any:
    """A closed-form fusion response of one instrumented segment on the healing grid: the
    instrumentation (4e5 N·mm/rad with a cage) in parallel with a bone bridge (6 GPa,
    300 mm², 10 mm high), loaded by the six fusion load cases."""
    from spinefuse.healing.response import FUSION_GRID

    moment = np.array([0.0, 2500.0, 7500.0, 7500.0, 7500.0, 7500.0])
    compression = np.array([500.0, 900.0, 700.0, 600.0, 600.0, 600.0])
    k_instr, k_bone = 4.0e5, 6000.0 * 300.0 * 100.0 / 10.0
    k = (k_instr + FUSION_GRID * k_bone)[None, :]
    rot = moment[None, None, :] / k[:, :, None]
    rot[..., 0] = 0.002 * k_instr / k
    share = (k_instr / k)[:, :, None]
    rod_moment = 0.2 * (moment + 10.0 * compression)[None, None, :] * share
    cage_p = 0.8 * compression / 300.0 * (1 - FUSION_GRID[None, :, None] * k_bone / k[:, :, None])
    return SimpleNamespace(
        segment_rotation_rad=rot,
        graft_strain=1.4 * rot,
        graft_fluid_velocity_um_s=42.0 * rot,
        rod_moment_nmm=rod_moment,
        rod_stress_mpa=rod_moment / (np.pi * 5.5**3 / 32.0),
        cage_pressure_mpa=np.broadcast_to(cage_p, rot.shape).copy(),
        segment_stiffness_nmm_per_rad=k,
        fusion_fraction=FUSION_GRID,
        segments=[segment],
    )


def _stage(module: str, name: str) -> Any:
    """A stage function when this checkout has it, else None."""
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


@lru_cache(maxsize=1)
def sample_case_dir() -> Path:
    """The sample case, written once per test session."""
    from spinefuse.sample import write_sample_case

    root = Path(tempfile.mkdtemp(prefix="spinefuse-sample-"))
    return write_sample_case(root / "sample").parent


@lru_cache(maxsize=1)
def stage_records() -> dict[str, Any]:
    """Every stage record of the demo patient, by stage name."""
    from spinefuse.case import load_case
    from spinefuse.healing.course import heal

    folder = sample_case_dir()
    case = load_case(folder / "case.yaml")
    # the sample's exact anatomy, so these tests do not hang on landmark extraction
    g = SpineGeometry.load(folder / "ground_truth_geometry.json")
    assess = _stage("spinefuse.assess", "assess_case")
    assessment = assess(case, g) if assess else build_assessment(g)
    plan_fn = _stage("spinefuse.plan", "plan_surgery")
    plan = plan_fn(case, g, assessment) if plan_fn else build_plan(g)
    simulate = _stage("spinefuse.mechanics", "simulate")
    mechanics = simulate(g, plan) if simulate else _mechanics()
    # the healing stage's own mechanics when present, else a closed-form response
    fused = _stage("spinefuse.mechanics", "fused_segment_response")
    response = None if fused else _response(plan.fuse_segments[-1])
    healing = heal(case, g, plan, response=response, members=64, seed=7)
    forecast_fn = _stage("spinefuse.outcomes", "forecast")
    forecast = forecast_fn(case, plan, healing.nonunion_probability) if forecast_fn else _forecast()
    return {
        "case": case,
        "anatomy": g,
        "assessment": assessment,
        "plan": plan,
        "mechanics": mechanics,
        "healing": healing,
        "forecast": forecast,
    }


def build_run_dir(root: Path, stages: tuple[str, ...] = STAGES) -> Path:
    """Write a run folder holding the given stage records of the demo patient into ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for name, rec in stage_records().items():
        if name not in stages:
            continue
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
