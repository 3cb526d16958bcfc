"""The imaging stage: every image of a case read once, with its vertebra labels.

:func:`read_images` reads the pre-operative CT (else MR) of a case, its label map (from the
study's file or a segmentation back-end, chosen by the case's ``segmentation``), the
pre-operative MR study's series (sagittal and axial T1 and T2, with its label map resolved into
levels: :mod:`spinefuse.imaging.mr_series`) and every X-ray landmark file, and returns them as
one in-memory :class:`Images` record that the anatomy, assessment, plan and report stages share.
Nothing downstream opens an image file again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from spinefuse.case import Case, ImagingStudy, Segmentation
from spinefuse.errors import CaseError
from spinefuse.imaging.labels import Convention
from spinefuse.imaging.mr_series import MrSeries
from spinefuse.imaging.volume import Volume
from spinefuse.imaging.xray_landmarks import XrayLandmarks

if TYPE_CHECKING:
    from spinefuse.forked import Forked
    from spinefuse.imaging.label_gate import GateVerdict, NamingChecks
    from spinefuse.imaging.segmentation import SegmentationReport

LabelSource = Literal["file", "builtin", "totalsegmentator"]


@dataclass(frozen=True)
class Images:
    """The images of one case, in the world frame (RAS, mm), in memory only.

    ``volume`` is the pre-operative CT (else MR) that the anatomy is measured on, ``labels`` its
    vertebra label map on the same grid with IDs of ``convention``, and ``label_source`` where
    the labels came from. ``xrays`` are the X-ray landmark sets, each carrying its study's role.
    ``mr`` is the pre-operative MR study's series with its spine labels (also when a CT is
    the volume), None without an MR study.

    ``naming``, while it is not None, is the gate's naming check still running beside the
    next stages (:func:`read_images` with ``defer_naming``): ``gate`` then lacks its findings
    until :meth:`settled` adds them."""

    study: ImagingStudy | None = None
    volume: Volume | None = None
    labels: Volume | None = None
    convention: Convention | None = None
    label_source: LabelSource | None = None
    label_detail: str = ""
    xrays: tuple[XrayLandmarks, ...] = ()
    mr: MrSeries | None = None
    segmentation: SegmentationReport | None = None
    gate: GateVerdict | None = None
    naming: Forked[NamingChecks] | None = field(default=None, compare=False, repr=False)

    def settled(self) -> Images:
        """These images with the gate complete: the naming check's findings added once it has
        finished (waiting for it); the images themselves when nothing is pending."""
        if self.naming is None:
            return self
        from spinefuse.imaging.label_gate import with_naming

        assert self.gate is not None
        return dataclasses.replace(
            self, gate=with_naming(self.gate, self.naming.result()), naming=None
        )

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


LOWEST_IN_VIEW = "lowest_in_view"
"""The segmentation option naming the lowest vertebra in view of a single-class label map."""


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


def _lowest_in_view(case: Case) -> str | None:
    value = case.segmentation.options.get(LOWEST_IN_VIEW)
    if value is None:
        return None
    if not isinstance(value, str):
        raise CaseError(
            f"segmentation.options.{LOWEST_IN_VIEW} = {value!r}: name a vertebra, e.g. 'L3'"
        )
    return value


def _single_class(study: ImagingStudy) -> bool:
    """The study's label map gives every vertebra one ID (its levels are split and named)."""
    from spinefuse.imaging.label_conventions import convention_entry

    if study.label_map is None or study.label_convention == "custom":
        return False
    return "vertebrae_single_class" in convention_entry(study.label_convention)


def read_images(case: Case, defer_naming: bool = False) -> Images:
    """Read every image of ``case`` once: the volume study with its labels, the MR study's
    series and the X-rays.

    With ``defer_naming`` the gate's naming check of a label map file (a segmentation of the
    whole CT) runs in a forked process while the caller goes on; :meth:`Images.settled` adds
    its findings to the gate (the same verdict as without deferring)."""
    from spinefuse.imaging.labels import read_label_map
    from spinefuse.imaging.mr_series import read_mr_study
    from spinefuse.imaging.xray_landmarks import read_xray_landmarks

    xrays = tuple(
        dataclasses.replace(read_xray_landmarks(s.landmarks), role=s.role)
        for s in case.imaging
        if s.modality == "XR" and s.landmarks is not None
    )
    options = {k: v for k, v in case.segmentation.options.items() if k != LOWEST_IN_VIEW}
    lowest = _lowest_in_view(case)
    mr_study = case.study("MR")
    single_class = mr_study is not None and _single_class(mr_study)
    mr = read_mr_study(mr_study, lowest if single_class else None) if mr_study else None
    study = volume_study(case)
    if study is None:
        return Images(xrays=xrays, mr=mr)
    backend = _backend_name(study, case.segmentation)
    _check_options(backend, options)
    if lowest is not None and backend == "builtin":
        options[LOWEST_IN_VIEW] = lowest  # the built-in segmentation names its levels from it
    elif lowest is not None and not single_class:
        raise CaseError(
            f"segmentation.options.{LOWEST_IN_VIEW} = {lowest!r} names the lowest vertebra in "
            "view for the built-in segmentation or a single-class MR label map (TotalSegmentator "
            "total_mr), and this case has neither: remove the option"
        )
    report = None
    convention: Convention
    if study.modality == "MR" and mr is not None:
        labelled = mr.labelled_image
        if mr.spine is not None and labelled is not None:
            volume, labels = labelled.volume, mr.spine.labels
            convention, backend, detail = mr.spine.mapping, "file", mr.spine.detail
        else:
            primary = mr.first("sagittal", "T2") or mr.images[0]
            volume = primary.volume
            labels, report = _segment(volume, backend, options)
            convention, detail = "totalseg", f"{backend} segmentation of {primary.label()}"
    else:
        volume = read_volume(study)
        if backend == "file":
            assert study.label_map is not None
            labels = read_label_map(study.label_map, reference=volume)
            convention = study_convention(study)
            detail = f"{study.label_map.name} ({_convention_name(convention)})"
        else:
            labels, report = _segment(volume, backend, options)
            convention = "totalseg"
            detail = f"{backend} segmentation of {volume.source or 'the ' + study.modality}"
    from spinefuse.forked import Forked, can_fork
    from spinefuse.imaging.label_gate import gate_label_map, naming_checks

    # a label map file's names are checked against the CT's anatomy; a segmentation's naming
    # is in its own report
    check = backend == "file" and volume.modality == "CT" and case.segmentation.check_naming
    naming = None
    if check and defer_naming and can_fork():
        naming = Forked(naming_checks, labels, convention, volume)
        try:
            gate = gate_label_map(labels, convention, check_naming=False)
        except BaseException:
            naming.cancel()
            raise
    else:
        gate = gate_label_map(
            labels, convention, image=volume if check else None, check_naming=check
        )
    return Images(
        study=study,
        volume=volume,
        labels=labels,
        convention=convention,
        label_source=backend,
        label_detail=detail,
        xrays=xrays,
        mr=mr,
        segmentation=report,
        gate=gate,
        naming=naming,
    )


def _convention_name(convention: Convention) -> str:
    return convention if isinstance(convention, str) else "custom IDs"
