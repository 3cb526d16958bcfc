"""The imaging stage: every image of a case read once, with its vertebra labels.

:func:`read_images` reads the pre-operative CT (else MR) of a case, its label map (from the
study's file or a segmentation back-end, chosen by the case's ``segmentation``) and every X-ray
landmark file, and returns them as one in-memory :class:`Images` record that the anatomy,
assessment, plan and report stages share. Nothing downstream opens an image file again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from spinefuse.case import Case, ImagingStudy, Segmentation
from spinefuse.errors import CaseError
from spinefuse.imaging.labels import Convention
from spinefuse.imaging.volume import Volume
from spinefuse.imaging.xray_landmarks import XrayLandmarks

if TYPE_CHECKING:
    from spinefuse.imaging.label_gate import GateVerdict
    from spinefuse.imaging.segmentation import SegmentationReport

LabelSource = Literal["file", "builtin", "totalsegmentator"]


@dataclass(frozen=True)
class Images:
    """The images of one case, in the world frame (RAS, mm), in memory only.

    ``volume`` is the pre-operative CT (else MR) that the anatomy is measured on, ``labels`` its
    vertebra label map on the same grid with IDs of ``convention``, and ``label_source`` where
    the labels came from. ``xrays`` are the X-ray landmark sets, each carrying its study's role."""

    study: ImagingStudy | None = None
    volume: Volume | None = None
    labels: Volume | None = None
    convention: Convention | None = None
    label_source: LabelSource | None = None
    label_detail: str = ""
    xrays: tuple[XrayLandmarks, ...] = ()
    segmentation: SegmentationReport | None = None
    gate: GateVerdict | None = None

    @property
    def unnamed(self) -> bool:
        """The segmentation could not name the levels from anchors in view (a flagged guess)."""
        return self.segmentation is not None and self.segmentation.needs_anchor

    @property
    def modality(self) -> str | None:
        """``CT`` or ``MR`` for the volume, None without one."""
        return None if self.volume is None else self.volume.modality


def volume_study(case: Case) -> ImagingStudy | None:
    """The study the anatomy is measured on: the pre-operative CT, else the pre-operative MR."""
    return case.study("CT") or case.study("MR")


def read_volume(study: ImagingStudy) -> Volume:
    """The CT or MR of a study: its DICOM series folder or its NIfTI (a study has one of them)."""
    from spinefuse.imaging.dicom import read_dicom_series
    from spinefuse.imaging.nifti import read_nifti

    if study.dicom_dir is not None:
        return read_dicom_series(study.dicom_dir)
    if study.nifti is None:  # the case validator requires one of the two
        raise CaseError(f"the {study.modality} study names neither a dicom_dir nor a nifti file")
    return read_nifti(
        study.nifti,
        modality="MR" if study.modality == "MR" else "CT",
        allow_unknown_orientation=study.orientation_confirmed,
    )


def study_convention(study: ImagingStudy) -> Convention:
    """The label convention a study's label map file is written in."""
    if study.label_convention == "custom":
        return dict(study.label_mapping or {})
    return study.label_convention


def _backend_name(study: ImagingStudy, choice: Segmentation) -> LabelSource:
    if choice.backend is None:
        return "file" if study.label_map is not None else "builtin"
    if choice.backend == "labels":
        if study.label_map is None:
            raise CaseError(
                "segmentation.backend = 'labels' but the "
                f"{study.modality} study has no label_map: give the study's label_map file, or "
                "choose segmentation.backend 'builtin' or 'totalsegmentator'"
            )
        return "file"
    return choice.backend


def _check_options(backend: LabelSource, options: Mapping[str, object]) -> None:
    if backend == "file" and options:
        raise CaseError(
            f"segmentation.options {sorted(options)}: a label map file takes no options; "
            "remove them or choose segmentation.backend 'builtin' or 'totalsegmentator'"
        )


def _segment(
    volume: Volume, backend: LabelSource, options: Mapping[str, object]
) -> tuple[Volume, SegmentationReport]:
    from spinefuse.imaging.segmentation import TotalSegmentatorBackend, builtin_backend

    if backend == "totalsegmentator":
        seg = TotalSegmentatorBackend.from_options(dict(options)).segment(volume)
    else:
        seg = builtin_backend(dict(options)).segment(volume)
    return seg.labels, seg.report


def read_images(case: Case) -> Images:
    """Read every image of ``case`` once: the volume study with its labels and the X-rays."""
    from spinefuse.imaging.labels import read_label_map
    from spinefuse.imaging.xray_landmarks import read_xray_landmarks

    xrays = tuple(
        dataclasses.replace(read_xray_landmarks(s.landmarks), role=s.role)
        for s in case.imaging
        if s.modality == "XR" and s.landmarks is not None
    )
    study = volume_study(case)
    if study is None:
        return Images(xrays=xrays)
    volume = read_volume(study)
    backend = _backend_name(study, case.segmentation)
    _check_options(backend, case.segmentation.options)
    report = None
    if backend == "file":
        assert study.label_map is not None
        labels = read_label_map(study.label_map, reference=volume)
        convention = study_convention(study)
        detail = f"{study.label_map.name} ({_convention_name(convention)})"
    else:
        labels, report = _segment(volume, backend, case.segmentation.options)
        convention = "totalseg"
        detail = f"{backend} segmentation of {volume.source or 'the ' + study.modality}"
    from spinefuse.imaging.label_gate import gate_label_map

    # a label map file's names are checked against the CT's anatomy; a segmentation's naming
    # is in its own report
    check = backend == "file" and volume.modality == "CT" and case.segmentation.check_naming
    gate = gate_label_map(labels, convention, image=volume if check else None, check_naming=check)
    return Images(
        study=study,
        volume=volume,
        labels=labels,
        convention=convention,
        label_source=backend,
        label_detail=detail,
        xrays=xrays,
        segmentation=report,
        gate=gate,
    )


def _convention_name(convention: Convention) -> str:
    return convention if isinstance(convention, str) else "custom IDs"
