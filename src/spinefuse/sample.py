"""The built-in sample patient used by ``spinefuse demo``.

A 62-year-old woman with grade I degenerative spondylolisthesis at L4-L5, central stenosis at the
same level and instability on flexion-extension films, after 9 months of failed conservative care.
Her spine is a virtual patient (:mod:`spinefuse.anatomy.template`) whose CT (NIfTI and DICOM), label
map and X-ray landmarks (standing lateral and AP, flexion, extension) are rendered by
:mod:`spinefuse.anatomy.phantom`, so every measurement has an exact ground truth.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from spinefuse.anatomy.phantom import render_ct, render_xray_landmarks
from spinefuse.anatomy.template import VirtualPatientSpec, posed, virtual_spine
from spinefuse.case import (
    Case,
    ClinicalHistory,
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
        imaging=[
            ImagingStudy(
                modality="CT",
                role="preop",
                nifti=Path("ct.nii.gz"),
                label_map=Path("ct_labels.nii.gz"),
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
            "5 mm of L4-L5 motion between flexion and extension."
        ),
    )


def write_sample_case(out_dir: str | Path) -> Path:
    """Write the sample case into ``out_dir``: case.yaml, ct.nii.gz, ct_labels.nii.gz,
    ct_dicom/ and xray_{lateral,ap,flexion,extension}.csv. Returns the case file's path.

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
