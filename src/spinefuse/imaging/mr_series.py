"""The MR study: its sagittal and axial T1 and T2 series, each read once and registered by geometry.

A study's series come from the case (``series``: each a DICOM folder or NIfTI, with its
weighting and plane where the file does not carry them) or from one DICOM folder holding a
sub-folder per series (or several series side by side), chosen by their tags: the weighting from
SeriesDescription, ScanningSequence and EchoTime/RepetitionTime (they must agree), the plane from
ImageOrientationPatient. Localisers, diffusion and other series are passed over, each with the
reason. All series share the patient's world frame (RAS, mm): DICOM geometry registers them
without image registration, so a study whose series name different FrameOfReferenceUIDs is
refused. The label map lies on the grid of one series (the one it was made from).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from spinefuse.case import ImagingSeries, ImagingStudy, MrWeighting
from spinefuse.datafiles import load_yaml
from spinefuse.errors import ImagingError, LabelMapError
from spinefuse.imaging.label_conventions import SpineLabels, resolve_spine_labels
from spinefuse.imaging.volume import Volume

PlaneName = Literal["sagittal", "axial", "coronal", "oblique", "isotropic"]
_T2 = re.compile(r"(?<![A-Z0-9])T2(?![*A-Z0-9])|T2W|T2_|T2-", re.IGNORECASE)
_T1 = re.compile(r"(?<![A-Z0-9])T1(?![A-Z0-9])|T1W|T1_|T1-", re.IGNORECASE)
_STIR = re.compile(r"STIR|TIRM", re.IGNORECASE)
_SKIP = re.compile(r"LOC|SCOUT|SURVEY|DWI|DIFF|ADC|MYELO|3PL", re.IGNORECASE)


def _criteria() -> dict[str, float]:
    block: dict[str, float] = load_yaml("mr_criteria.yaml")["series_weighting"]
    return block


@dataclass(frozen=True)
class MrImage:
    """One MR series as a volume in the world frame, with what it is and how that was decided.

    ``thickness_mm`` is the voxel extent along the slice normal (the largest voxel side of an
    anisotropic grid); ``how`` says where weighting and plane came from."""

    volume: Volume
    weighting: MrWeighting | None
    plane: PlaneName
    description: str = ""
    how: str = ""
    frame_uid: str | None = None
    echo_time_ms: float | None = None
    repetition_time_ms: float | None = None

    @property
    def thickness_mm(self) -> float:
        return float(self.volume.spacing.max())

    def extent_along(self, direction: NDArray[np.float64]) -> float:
        """Resolution (mm) along a world direction: the largest step any voxel axis makes along
        it (the slice thickness along the slice normal, the pixel size in plane)."""
        d = np.asarray(direction, dtype=float)
        d = d / np.linalg.norm(d)
        return float(np.abs(self.volume.affine[:3, :3].T @ d).max())

    def label(self) -> str:
        """For messages: 'sagittal T2 (mr_sag_t2.nii.gz)'."""
        name = Path(self.volume.source).name if self.volume.source else "series"
        return f"{self.plane} {self.weighting or 'unknown weighting'} ({name})"


@dataclass(frozen=True)
class MrSeries:
    """The series of one MR study (registered by their geometry), the study's spine labels on
    the grid of ``images[labelled]``, and what was passed over and why."""

    images: tuple[MrImage, ...]
    spine: SpineLabels | None = None
    labelled: int | None = None
    passed_over: tuple[str, ...] = field(default_factory=tuple)
    label_problem: str = ""

    def find(self, plane: str, weighting: str) -> list[MrImage]:
        """The series of a plane and weighting, thinnest first; an isotropic series counts for
        every plane."""
        hits = [
            im
            for im in self.images
            if im.weighting == weighting and im.plane in (plane, "isotropic")
        ]
        return sorted(hits, key=lambda im: im.thickness_mm)

    def first(self, plane: str, weighting: str) -> MrImage | None:
        hits = self.find(plane, weighting)
        return hits[0] if hits else None

    @property
    def labelled_image(self) -> MrImage | None:
        return None if self.labelled is None else self.images[self.labelled]


def volume_plane(volume: Volume, limit_deg: float = 30.0) -> PlaneName:
    """The acquisition plane of a volume from its grid: the slice axis is the thickest voxel
    side (an isotropic grid has none); its direction names the plane."""
    spacing = volume.spacing
    order = np.argsort(spacing)
    if spacing[order[2]] < 1.25 * spacing[order[1]]:
        return "isotropic"
    normal = volume.affine[:3, order[2]] / spacing[order[2]]
    return _plane_of_normal(normal, limit_deg)


def _plane_of_normal(normal: NDArray[np.float64], limit_deg: float = 30.0) -> PlaneName:
    cos = np.abs(normal) / np.linalg.norm(normal)
    axis = int(np.argmax(cos))
    if np.degrees(np.arccos(min(float(cos[axis]), 1.0))) > limit_deg:
        return "oblique"
    planes: tuple[PlaneName, PlaneName, PlaneName] = ("sagittal", "coronal", "axial")
    return planes[axis]


@dataclass(frozen=True)
class _Header:
    """What one instance's header says about its series."""

    folder: Path
    series_uid: str
    description: str
    sequence: str
    te_ms: float | None
    tr_ms: float | None
    ti_ms: float | None
    orientation: tuple[float, ...] | None
    frame_uid: str | None
    modality: str


def _peek(path: Path) -> _Header | None:
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    try:
        ds = dcmread(path, stop_before_pixels=True)
    except (InvalidDicomError, OSError):
        return None

    def num(key: str) -> float | None:
        v = ds.get(key)
        try:
            return None if v in (None, "") else float(v)
        except (TypeError, ValueError):
            return None

    seq = ds.get("ScanningSequence", "")
    iop = ds.get("ImageOrientationPatient")
    return _Header(
        folder=path.parent,
        series_uid=str(ds.get("SeriesInstanceUID", "") or ""),
        description=str(ds.get("SeriesDescription", "") or ""),
        sequence=str(seq) if isinstance(seq, str) else "\\".join(str(v) for v in seq),
        te_ms=num("EchoTime"),
        tr_ms=num("RepetitionTime"),
        ti_ms=num("InversionTime"),
        orientation=tuple(float(v) for v in iop) if iop else None,
        frame_uid=str(ds.get("FrameOfReferenceUID", "") or "") or None,
        modality=str(ds.get("Modality", "") or ""),
    )


def weighting_from_tags(h: _Header) -> tuple[MrWeighting | None, str]:
    """The weighting the tags show, and how: the description and the echo/repetition times
    must agree when both speak; None (with the reason) when nothing does."""
    crit = _criteria()
    by_name: MrWeighting | None = None
    if _STIR.search(h.description):
        by_name = "STIR"
    elif _T2.search(h.description):
        by_name = "T2"
    elif _T1.search(h.description):
        by_name = "T1"
    by_times: MrWeighting | None = None
    if "IR" in h.sequence.upper() and h.ti_ms is not None and h.ti_ms <= crit["stir_max_ti_ms"]:
        by_times = "STIR"
    elif h.te_ms is not None and h.tr_ms is not None:
        if h.tr_ms <= crit["t1_max_tr_ms"] and h.te_ms <= crit["t1_max_te_ms"]:
            by_times = "T1"
        elif h.tr_ms >= crit["t2_min_tr_ms"] and h.te_ms >= crit["t2_min_te_ms"]:
            by_times = "T2"
        elif h.tr_ms >= crit["t2_min_tr_ms"] and h.te_ms <= crit["pd_max_te_ms"]:
            by_times = "PD"
    times = f"TE {h.te_ms:g} ms, TR {h.tr_ms:g} ms" if h.te_ms and h.tr_ms else "no TE/TR"
    if by_name and by_times and by_name != by_times:
        raise ImagingError(
            f"{h.folder}: SeriesDescription '{h.description}' says {by_name} but {times} "
            f"({h.sequence or 'sequence ?'}) say {by_times}; name the weighting in the case "
            "file's series entry"
        )
    w = by_name or by_times
    how = f"SeriesDescription '{h.description}', {h.sequence or 'sequence ?'}, {times}"
    return w, how


def _series_headers(folder: Path) -> list[_Header]:
    """One header per series under ``folder``: its sub-folders, or the files side by side
    (several series in one folder are told apart by SeriesInstanceUID)."""
    if not folder.is_dir():
        raise ImagingError(f"{folder}: no such DICOM folder")
    subdirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    out: list[_Header] = []
    seen: set[str] = set()
    for f in files:  # flat: the first file of every series UID
        h = _peek(f)
        if h is not None and h.series_uid not in seen:
            seen.add(h.series_uid)
            out.append(h)
    for sub in subdirs:
        for f in sorted(p for p in sub.iterdir() if p.is_file()):
            h = _peek(f)
            if h is not None:
                out.append(h)
                break
    return out


def _from_case(entry: ImagingSeries) -> MrImage:
    from spinefuse.imaging.dicom import read_dicom_series
    from spinefuse.imaging.nifti import read_nifti

    if entry.dicom_dir is not None:
        headers = _series_headers(entry.dicom_dir)
        if not headers:
            raise ImagingError(f"{entry.dicom_dir}: no DICOM series in this folder")
        h = headers[0]
        volume = read_dicom_series(entry.dicom_dir)
        weighting, how = (
            (entry.weighting, "named in the case file")
            if entry.weighting
            else (weighting_from_tags(h))
        )
        plane = entry.plane or (
            _plane_of_normal(np.cross(h.orientation[:3], h.orientation[3:]))
            if h.orientation
            else volume_plane(volume)
        )
        return MrImage(
            volume,
            weighting,
            plane,
            entry.description or h.description,
            how,
            h.frame_uid,
            entry.echo_time_ms or h.te_ms,
            entry.repetition_time_ms or h.tr_ms,
        )
    assert entry.nifti is not None
    volume = read_nifti(entry.nifti, modality="MR")
    plane = entry.plane or volume_plane(volume)
    how = "weighting named in the case file" if entry.weighting else "weighting not given"
    return MrImage(
        volume,
        entry.weighting,
        plane,
        entry.description,
        how,
        None,
        entry.echo_time_ms,
        entry.repetition_time_ms,
    )


def _from_folder(folder: Path) -> tuple[list[MrImage], list[str]]:
    """The usable series of a DICOM study folder, and the others with why they were left."""
    from spinefuse.imaging.dicom import read_dicom_series

    images: list[MrImage] = []
    passed: list[str] = []
    headers = _series_headers(folder)
    if not headers:
        raise ImagingError(f"{folder}: no DICOM series in this folder")
    for h in headers:
        name = f"'{h.description}' ({h.folder.name})"
        if h.modality != "MR":
            passed.append(f"{name}: modality {h.modality or '?'}, not MR")
            continue
        if _SKIP.search(h.description):
            passed.append(f"{name}: a localiser, diffusion or myelographic series")
            continue
        weighting, how = weighting_from_tags(h)
        if weighting not in ("T1", "T2", "STIR"):
            passed.append(f"{name}: weighting not T1, T2 or STIR ({how})")
            continue
        plane = (
            _plane_of_normal(np.cross(h.orientation[:3], h.orientation[3:]))
            if h.orientation
            else "oblique"
        )
        if plane not in ("sagittal", "axial"):
            passed.append(f"{name}: {plane} plane")
            continue
        flat = h.folder == folder
        volume = read_dicom_series(h.folder, series_uid=h.series_uid if flat else None)
        images.append(
            MrImage(volume, weighting, plane, h.description, how, h.frame_uid, h.te_ms, h.tr_ms)
        )
    return images, passed


def read_mr_study(study: ImagingStudy, lowest_in_view: str | None = None) -> MrSeries:
    """Every usable series of an MR study, read once, and its label map resolved on the grid of
    the series it lies on (see the module docstring)."""
    from spinefuse.imaging.labels import read_label_map

    passed: list[str] = []
    if study.series:
        images = [_from_case(s) for s in study.series]
    elif study.dicom_dir is not None:
        images, passed = _from_folder(study.dicom_dir)
        if not images:
            raise ImagingError(
                f"{study.dicom_dir}: no sagittal or axial T1, T2 or STIR series; passed over: "
                + "; ".join(passed)
            )
    else:
        assert study.nifti is not None
        images = [_from_case(ImagingSeries(nifti=study.nifti, weighting=study.weighting))]
    frames = {im.frame_uid for im in images if im.frame_uid}
    if len(frames) > 1:
        raise ImagingError(
            f"the MR study's series lie in {len(frames)} frames of reference "
            f"({', '.join(sorted(frames))}): their DICOM geometry does not register them; give "
            "series of one examination (one FrameOfReferenceUID)"
        )
    if study.label_map is None:
        return MrSeries(tuple(images), passed_over=tuple(passed))
    labels = read_label_map(study.label_map)
    on = [k for k, im in enumerate(images) if im.volume.same_grid(labels)]
    if not on:
        grids = "; ".join(
            f"{im.label()} {im.volume.shape} at {np.round(im.volume.spacing, 2).tolist()} mm"
            for im in images
        )
        raise LabelMapError(
            f"{study.label_map}: its grid {labels.shape} at "
            f"{np.round(labels.spacing, 2).tolist()} mm is that of none of the study's series "
            f"({grids}); give the label map made from one of them"
        )
    subregions = read_label_map(study.subregion_map) if study.subregion_map else None
    convention = (
        dict(study.label_mapping or {})
        if study.label_convention == "custom"
        else study.label_convention
    )
    spine = resolve_spine_labels(
        labels, convention, subregions=subregions, lowest_in_view=lowest_in_view
    )
    return MrSeries(tuple(images), spine, on[0], tuple(passed))


def series_summary(mr: MrSeries) -> list[str]:
    """One line per series: plane, weighting, voxel size and how they were decided."""
    return [f"{im.label()}, {im.thickness_mm:.1f} mm voxels ({im.how})" for im in mr.images]
