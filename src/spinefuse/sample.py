"""The built-in sample patient used by ``spinefuse demo``.

A 62-year-old woman with grade I degenerative spondylolisthesis at L4-L5, central stenosis at the
same level and instability on flexion-extension films, after 9 months of failed conservative care;
her MR shows a left subarticular disc protrusion at L4-L5 with facet effusions, and her left L5
deficit (great-toe extension 4/5, L5 hypaesthesia, positive straight-leg raise) matches it.
Her spine is a virtual patient (:mod:`spinefuse.anatomy.template`) whose CT (NIfTI and DICOM), label
map and X-ray landmarks (standing lateral and AP, flexion, extension) are rendered by
:mod:`spinefuse.anatomy.phantom` and her MR (sagittal T2 and T1, axial T2 through each disc, with
TotalSpineSeg labels) by :mod:`spinefuse.anatomy.mr_phantom`, so every measurement has an exact
ground truth.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Literal

from spinefuse.anatomy.mr_phantom import Herniation, MrPathology, render_mr
from spinefuse.anatomy.mr_signal import sequence_times
from spinefuse.anatomy.phantom import render_ct, render_xray_landmarks
from spinefuse.anatomy.template import VirtualPatientSpec, posed, virtual_spine
from spinefuse.case import (
    Case,
    ClinicalHistory,
    Examination,
    ImagingSeries,
    ImagingStudy,
    Patient,
    Preferences,
    Radiculopathy,
    save_case,
)
from spinefuse.imaging.dicom import write_dicom_series
from spinefuse.imaging.nifti import write_nifti
from spinefuse.imaging.xray_landmarks import write_xray_landmarks
from spinefuse.records import apply_umask

SAMPLE_ID = "sample-62F-L4L5-DS"
SAMPLE_SPEC = VirtualPatientSpec(
    sex="female",
    height_cm=163.0,
    pelvic_incidence_deg=58.0,
    trabecular_hu=132.0,
    slip_percent={"L4-L5": 18.0},
    disc_height_loss={"L4-L5": 0.35},
    stenosis_csa_mm2={"L4-L5": 68.0},
)
"""Her spine: grade I (18 %) slip and a narrowed disc at L4-L5 with a dural sac of 68 mm²."""

FLEXION = ({"L1-L2": 3.0, "L2-L3": 3.0, "L3-L4": 4.0, "L4-L5": 7.0, "L5-S1": 3.0}, {"L4-L5": 3.0})
EXTENSION = (
    {"L1-L2": -2.0, "L2-L3": -2.0, "L3-L4": -3.0, "L4-L5": -5.0, "L5-S1": -2.0},
    {"L4-L5": -2.0},
)
"""Segmental rotation (deg) and translation (mm) on the dynamic films: 12° and 5 mm at L4-L5."""

CT_SPACING_MM = (0.8, 0.8, 1.0)
MR_SAGITTAL_MM = 1.2
SAMPLE_MR = MrPathology(
    pfirrmann={"L1-L2": 2, "L2-L3": 2, "L3-L4": 2, "L4-L5": 4, "L5-S1": 3},
    herniation={
        "L4-L5": Herniation(kind="protrusion", zone="subarticular", side="left", extent_mm=5.0)
    },
    schizas={"L4-L5": "C"},
    foraminal_lee={"L4-L5": {"left": 1, "right": 1}},
    modic={"L4 inferior": 1},
    facet_effusion_mm={"L4-L5": {"left": 2.0, "right": 2.0}},
)
"""Her MR: a degenerated L4-L5 disc (Pfirrmann IV) with a left subarticular protrusion, the sac
without CSF (Schizas C), fluid in both L4-L5 facets and a Modic 1 change below L4."""
MR_AXIAL = ("L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1")


def sample_case() -> Case:
    """The sample patient's case record (imaging paths relative to the case folder)."""
    return Case(
        id=SAMPLE_ID,
        patient=Patient(
            age_years=62,
            sex="female",
            height_cm=163,
            weight_kg=74,
            smoking="never",
            diabetes="none",
            t_score=-1.7,
            asa_class=2,
        ),
        history=ClinicalHistory(
            back_pain=True,
            back_pain_nrs=6,
            leg_pain=True,
            leg_pain_nrs=7,
            radiculopathy=Radiculopathy(side="bilateral", root="L5"),
            neurogenic_claudication=True,
            claudication_distance_m=200,
            symptom_duration_months=18,
            conservative_care=[
                "physiotherapy",
                "nsaids",
                "epidural_injection",
                "activity_modification",
            ],
            conservative_care_months=9,
            odi=46,
        ),
        examination=Examination(
            side="left",
            motor={
                "left": {"L2": 5, "L3": 5, "L4": 5, "L5": 4, "S1": 5},
                "right": {"L2": 5, "L3": 5, "L4": 5, "L5": 5, "S1": 5},
            },
            sensory_loss={"left": ["L5"]},
            reflexes={
                "patellar": {"left": "normal", "right": "normal"},
                "achilles": {"left": "normal", "right": "normal"},
            },
            straight_leg_raise={"left": "positive", "right": "negative"},
            femoral_stretch={"left": "negative", "right": "negative"},
        ),
        imaging=[
            ImagingStudy(
                modality="CT",
                role="preop",
                nifti=Path("ct.nii.gz"),
                label_map=Path("ct_labels.nii.gz"),
            ),
            ImagingStudy(
                modality="MR",
                role="preop",
                series=_mr_series(),
                label_map=Path("mr_labels.nii.gz"),
                label_convention="totalspineseg",
            ),
            ImagingStudy(modality="XR", role="preop", landmarks=Path("xray_lateral.csv")),
            ImagingStudy(modality="XR", role="preop", landmarks=Path("xray_ap.csv")),
            ImagingStudy(modality="XR", role="flexion", landmarks=Path("xray_flexion.csv")),
            ImagingStudy(modality="XR", role="extension", landmarks=Path("xray_extension.csv")),
        ],
        preferences=Preferences(),
        notes=(
            "Built-in sample patient (virtual). The same CT is also written as a DICOM series in "
            "ct_dicom/. Ground truth: slip 18 % at L4-L5, dural sac 68 mm² at L4-L5, 12° and "
            "5 mm of L4-L5 motion between flexion and extension; on MR a 5 mm left subarticular "
            "protrusion at L4-L5 (Pfirrmann IV, Schizas C, 2 mm facet effusions, Modic 1 below L4)."
        ),
    )


def _mr_series() -> list[ImagingSeries]:
    te2, tr2 = sequence_times("T2")
    te1, tr1 = sequence_times("T1")

    def t2(name: str, plane: Literal["sagittal", "axial"], description: str = "") -> ImagingSeries:
        return ImagingSeries(
            nifti=Path(name),
            weighting="T2",
            plane=plane,
            description=description,
            echo_time_ms=te2,
            repetition_time_ms=tr2,
        )

    series = [
        t2("mr_sag_t2.nii.gz", "sagittal"),
        ImagingSeries(
            nifti=Path("mr_sag_t1.nii.gz"),
            weighting="T1",
            plane="sagittal",
            echo_time_ms=te1,
            repetition_time_ms=tr1,
        ),
    ]
    for seg in MR_AXIAL:
        name = f"mr_ax_t2_{seg.replace('-', '')}.nii.gz"
        series.append(t2(name, "axial", f"axial T2 {seg}"))
    return series


def write_sample_case(out_dir: str | Path) -> Path:
    """Write the sample case into ``out_dir``: case.yaml, ct.nii.gz, ct_labels.nii.gz,
    ct_dicom/, xray_{lateral,ap,flexion,extension}.csv, and her MR: mr_sag_t2.nii.gz,
    mr_sag_t1.nii.gz, mr_ax_t2_<segment>.nii.gz and mr_labels.nii.gz (TotalSpineSeg IDs).
    Returns the case file's path.

    Everything is written into a temporary folder first and moved into place at the end, so an
    interrupted run leaves nothing half-written; an existing sample in ``out_dir`` is replaced."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        geometry = virtual_spine(SAMPLE_SPEC)
        ct, labels = render_ct(geometry, CT_SPACING_MM, seed=62)
        write_nifti(ct, tmp / "ct.nii.gz")
        write_nifti(labels, tmp / "ct_labels.nii.gz")
        write_dicom_series(ct, tmp / "ct_dicom", uid_seed=SAMPLE_ID)
        mr = render_mr(geometry, SAMPLE_MR, sagittal_mm=MR_SAGITTAL_MM, seed=62)
        write_nifti(mr.sagittal_t2, tmp / "mr_sag_t2.nii.gz")
        write_nifti(mr.sagittal_t1, tmp / "mr_sag_t1.nii.gz")
        write_nifti(mr.labels, tmp / "mr_labels.nii.gz")
        for seg in MR_AXIAL:
            write_nifti(mr.axial_t2[seg], tmp / f"mr_ax_t2_{seg.replace('-', '')}.nii.gz")
        write_xray_landmarks(render_xray_landmarks(geometry, "lateral"), tmp / "xray_lateral.csv")
        write_xray_landmarks(render_xray_landmarks(geometry, "ap"), tmp / "xray_ap.csv")
        for role, (rot, trans) in (("flexion", FLEXION), ("extension", EXTENSION)):
            film = render_xray_landmarks(posed(SAMPLE_SPEC, rot, trans), "lateral", role=role)
            write_xray_landmarks(film, tmp / f"xray_{role}.csv")
        geometry.save(tmp / "ground_truth_geometry.json")
        save_case(sample_case(), tmp / "case.yaml")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        apply_umask(tmp)
        tmp.replace(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir / "case.yaml"
