"""Segmentation back-ends: an image in, a vertebra label map on its grid and what was seen out.

Every back-end has one method, ``segment(image) -> Segmentation``. The label map uses
TotalSegmentator v2 ``total`` IDs (26 S1, 27 L5 … 31 L1, 32 T12 …) on the image's grid, so the
landmark code downstream never needs to know which back-end ran; the :class:`SegmentationReport`
beside it says per level how sure the naming is, which anatomical anchors were found, and any
message a surgeon must read (anchors missing or in disagreement, metal in view, levels the scan
cuts):

- :class:`LabelFileBackend`: a label file given with the study (any convention, mapped to
  TotalSegmentator IDs), checked against the image grid;
- :class:`spinefuse.imaging.builtin_ct.BuiltinCTBackend`: the weight-free CT back-end;
- :class:`TotalSegmentatorBackend`: TotalSegmentator (``total`` task for CT, ``vertebrae_mr``
  for MR) when the optional package and its weights are installed.
"""

from __future__ import annotations

import importlib.util
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import numpy as np
from pydantic import Field

from spinefuse.conventions import TOTALSEG_V2_VERTEBRAE, VERTEBRAE
from spinefuse.errors import LabelMapError, MissingDependencyError
from spinefuse.imaging.labels import Convention, on_grid, read_label_map, vertebra_ids
from spinefuse.imaging.volume import Volume
from spinefuse.records import Probability, Record, Vec3

TOTALSEG_ID = {name: key for key, name in TOTALSEG_V2_VERTEBRAE.items()}

BackendName = Literal["labels", "builtin", "totalsegmentator"]
AnchorKind = Literal["sacrum", "lowest_rib", "iliac_crest", "named_lowest", "named_point"]
"""Anatomical anchors that name levels: the sacrum (S1, joined to both ilia), the lowest
rib-bearing vertebra (T12), the line of the iliac crests (L4 body or the L4-L5 disc in most
adults), or a level the user names (the lowest in view, or the one holding a given point)."""
MessageCode = Literal[
    "needs_named_anchor",
    "anchors_disagree",
    "transitional_anatomy",
    "metal_in_view",
    "partial_level",
    "no_spine_found",
    "levels_merged",
    "labels_given",
]
"""What a segmentation message is about; the text says it for a person."""


class LevelFinding(Record):
    """One vertebra as the back-end found it: its name and TotalSegmentator ID, how sure the
    name is (0-1), whether the scan cuts it (``partial``: no screw may be planned in it), its
    body centroid (RAS, mm) and volume (ml)."""

    name: str
    label_id: int
    confidence: Probability
    partial: bool
    body_centroid: Vec3 | None = None
    volume_ml: float = Field(ge=0.0)


class Anchor(Record):
    """An anatomical landmark that names a level: its kind, the level it names, where it was
    found (RAS, mm) and how often it names that level in adults (``reliability``, 0-1)."""

    kind: AnchorKind
    level: str
    position: Vec3 | None = None
    reliability: Probability
    detail: str = ""


class SegmentationMessage(Record):
    """A finding a reader must see: its code, the level it concerns (if one) and the text."""

    code: MessageCode
    level: str | None = None
    text: str


class SegmentationReport(Record):
    """What a back-end saw, beside its label map: levels caudal to cranial, the naming's
    overall confidence, the anchors used, and messages. ``needs_anchor`` is true when the names
    rest on no anchor that is really in view (or on anchors that disagree): the case must then
    name a level (``lowest_in_view``) before anything is planned on them."""

    backend: BackendName
    levels: tuple[LevelFinding, ...]
    naming_confidence: Probability
    needs_anchor: bool
    anchors: tuple[Anchor, ...] = ()
    messages: tuple[SegmentationMessage, ...] = ()

    def level(self, name: str) -> LevelFinding:
        """The finding for vertebra ``name``."""
        for found in self.levels:
            if found.name == name:
                return found
        raise LabelMapError(
            f"{name} was not segmented; levels found: {', '.join(f.name for f in self.levels)}"
        )


@dataclass(frozen=True)
class Segmentation:
    """A back-end's result: the vertebra label map (TotalSegmentator v2 IDs, modality SEG, on
    the image's grid), the same IDs restricted to the vertebral bodies (``bodies``, None when
    the back-end does not separate them) and the report."""

    labels: Volume
    report: SegmentationReport
    bodies: Volume | None = None


@runtime_checkable
class SegmentationBackend(Protocol):
    """Anything that labels the vertebrae of an image on its own grid (TotalSegmentator IDs)."""

    def segment(self, image: Volume) -> Segmentation:
        """Label map, bodies and report of ``image`` (see :class:`Segmentation`)."""
        ...


def to_totalseg_ids(labels: Volume, convention: Convention) -> Volume:
    """The same label map with its vertebra IDs rewritten to TotalSegmentator v2; other IDs
    (organs, ribs) become background. A level with no TotalSegmentator ID (L6) is an error."""
    ids = vertebra_ids(labels, convention)
    lut = np.zeros(int(labels.array.max()) + 1, dtype=np.int32)
    for name, key in ids.items():
        if name not in TOTALSEG_ID:
            raise LabelMapError(
                f"{labels.source or 'label map'}: {name} has no TotalSegmentator ID "
                "(transitional anatomy); give the label map in the convention that names it"
            )
        lut[key] = TOTALSEG_ID[name]
    return replace(labels, array=lut[np.clip(labels.array, 0, None)])


def report_from_labels(
    labels: Volume, backend: BackendName, confidence: float = 1.0
) -> SegmentationReport:
    """A report listing the levels of a TotalSegmentator-ID label map as given (names taken
    as they are: the quality gate, :mod:`spinefuse.imaging.label_gate`, checks them)."""
    arr = labels.array
    present = sorted(
        (key for key in np.unique(arr).tolist() if key in TOTALSEG_V2_VERTEBRAE),
        key=lambda k: -VERTEBRAE.index(TOTALSEG_V2_VERTEBRAE[k]),
    )
    voxel_ml = float(np.prod(labels.spacing)) / 1000.0
    counts = np.bincount(arr.ravel().clip(0), minlength=max(present, default=0) + 1)
    edge = _edge_ids(arr)
    levels = tuple(
        LevelFinding(
            name=TOTALSEG_V2_VERTEBRAE[key],
            label_id=int(key),
            confidence=confidence,
            partial=key in edge,
            volume_ml=float(counts[key]) * voxel_ml,
        )
        for key in present
    )
    return SegmentationReport(
        backend=backend,
        levels=levels,
        naming_confidence=confidence,
        needs_anchor=False,
        messages=(
            SegmentationMessage(
                code="labels_given", text=f"label map {labels.source or ''} used as given".strip()
            ),
        )
        if backend == "labels"
        else (),
    )


def _edge_ids(arr: np.ndarray) -> set[int]:
    faces = [arr[0], arr[-1], arr[:, 0], arr[:, -1], arr[:, :, 0], arr[:, :, -1]]
    return set(np.unique(np.concatenate([f.ravel() for f in faces])).tolist()) - {0}


@dataclass(frozen=True)
class LabelFileBackend:
    """A label map that came with the study; on another grid it is resampled only when asked."""

    path: Path
    convention: Convention = "totalseg"
    resample: bool = False

    def segment(self, image: Volume) -> Segmentation:
        labels = read_label_map(self.path, reference=image, resample=self.resample)
        mapped = to_totalseg_ids(labels, self.convention)
        return Segmentation(labels=mapped, report=report_from_labels(mapped, "labels"))


TotalSegTask = Literal["total", "total_mr", "vertebrae_mr"]
OFFLINE_WEIGHTS_HELP = (
    "TotalSegmentator downloads its weights on first use. Without internet on this machine: on "
    "a machine with internet run `totalseg_download_weights -t {task}`, then copy its weights "
    "folder (~/.totalsegmentator, or the folder TOTALSEG_HOME_DIR names) to this machine, or "
    "import a downloaded weights zip with `totalseg_import_weights -i weights.zip`"
)


@dataclass(frozen=True)
class TotalSegmentatorBackend:
    """TotalSegmentator (optional extra ``spinefuse[totalsegmentator]``): its ``total`` task on
    CT and its ``vertebrae_mr`` task (one label per vertebra) on MR. ``fast`` runs the 3 mm
    models."""

    fast: bool = False
    device: str = "cpu"
    ct_task: TotalSegTask = "total"
    mr_task: TotalSegTask = "vertebrae_mr"

    @classmethod
    def from_options(cls, options: dict[str, object]) -> TotalSegmentatorBackend:
        """The back-end with a case file's ``segmentation.options`` (``fast``, ``device``)."""
        return cls(**_checked_options(cls, options))  # type: ignore[arg-type]

    @staticmethod
    def available() -> bool:
        return importlib.util.find_spec("totalsegmentator") is not None

    def task(self, image: Volume) -> TotalSegTask:
        """The task run for this image's modality."""
        return self.mr_task if image.modality == "MR" else self.ct_task

    def command(self, image_path: Path, output_path: Path, task: TotalSegTask) -> list[str]:
        """The TotalSegmentator command line for one image (as the CLI would be called)."""
        cmd = ["TotalSegmentator", "-i", str(image_path), "-o", str(output_path), "--ml"]
        cmd += ["-ta", task, "-d", self.device]
        if self.fast:
            cmd.append("--fast")
        return cmd

    def segment(self, image: Volume) -> Segmentation:
        task = self.task(image)
        if not self.available():
            raise MissingDependencyError(
                "TotalSegmentator is not installed: pip install 'spinefuse[totalsegmentator]'. "
                + OFFLINE_WEIGHTS_HELP.format(task=task)
                + ". Or give a label map with the study, or use the built-in back-end "
                "(segmentation: builtin)"
            )
        from totalsegmentator.map_to_binary import (  # type: ignore[import-not-found]  # pragma: no cover
            class_map,
        )
        from totalsegmentator.python_api import (  # type: ignore[import-not-found]  # pragma: no cover
            totalsegmentator,
        )

        from spinefuse.imaging.nifti import read_nifti, write_nifti  # pragma: no cover

        with tempfile.TemporaryDirectory() as tmp:  # pragma: no cover
            src = write_nifti(image, Path(tmp) / "image.nii.gz")
            out = Path(tmp) / "labels.nii.gz"
            try:
                totalsegmentator(
                    str(src), str(out), ml=True, fast=self.fast, device=self.device, task=task
                )
            except Exception as err:
                raise MissingDependencyError(
                    f"TotalSegmentator failed ({err}). " + OFFLINE_WEIGHTS_HELP.format(task=task)
                ) from None
            labels = read_nifti(out, modality="SEG")
        mapped = to_totalseg_ids(
            on_grid(labels, image, resample=True), task_convention(class_map[task])
        )  # pragma: no cover
        report = report_from_labels(mapped, "totalsegmentator")  # pragma: no cover
        return Segmentation(labels=mapped, report=report)  # pragma: no cover


def task_convention(classes: Mapping[int, str]) -> dict[int, str]:
    """A TotalSegmentator task's class map (ID -> class name such as ``"vertebrae_L5"``,
    ``"sacrum"``) as a label convention (ID -> vertebra name); the sacrum stands for S1 when
    the task has no S1 class."""
    out: dict[int, str] = {}
    for key, cls in classes.items():
        if cls.startswith("vertebrae_") and cls.removeprefix("vertebrae_") in VERTEBRAE:
            out[int(key)] = cls.removeprefix("vertebrae_")
    if "S1" not in out.values():
        for key, cls in classes.items():
            if cls == "sacrum":
                out[int(key)] = "S1"
    if not out:
        raise LabelMapError("the TotalSegmentator task labels no vertebra")
    return out


def _checked_options(backend: type, options: dict[str, object]) -> dict[str, object]:
    """``options`` when every key is a field of ``backend``; else a CaseError naming the rest."""
    from dataclasses import fields

    from spinefuse.errors import CaseError

    known = {f.name for f in fields(backend)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise CaseError(
            f"segmentation.options {unknown}: not options of the {backend.__name__}; "
            f"it takes {sorted(known)}"
        )
    return options


def builtin_backend(options: dict[str, object] | None = None) -> SegmentationBackend:
    """spinefuse's own CT back-end (no trained weights) with a case file's options
    (``lowest_in_view``, ``working_mm``, ``metal_hu``, ``metal_margin_mm``)."""
    from spinefuse.imaging.builtin_ct import BuiltinCTBackend

    return BuiltinCTBackend(**_checked_options(BuiltinCTBackend, options or {}))  # type: ignore[arg-type]


def default_backend() -> SegmentationBackend:
    """TotalSegmentator when installed, else the built-in CT back-end."""
    if TotalSegmentatorBackend.available():
        return TotalSegmentatorBackend()
    from spinefuse.imaging.builtin_ct import BuiltinCTBackend

    return BuiltinCTBackend()
