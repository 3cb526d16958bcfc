"""Segmentation back-ends: a CT (or MR) in, a vertebra label map on its grid out.

Every back-end has one method, ``segment(image) -> Volume`` returning a label map with
TotalSegmentator v2 IDs (26 S1, 27 L5 … 31 L1, 32 T12 …) on the image's grid, so the landmark
code downstream never needs to know which back-end ran:

- :class:`LabelFileBackend`: a label file given with the study (any convention, mapped to
  TotalSegmentator IDs), checked against the image grid;
- :class:`TotalSegmentatorBackend`: TotalSegmentator's ``total`` task when the optional package
  and its weights are installed.
"""

from __future__ import annotations

import importlib.util
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from spinefuse.conventions import TOTALSEG_V2_VERTEBRAE
from spinefuse.errors import MissingDependencyError
from spinefuse.imaging.labels import Convention, read_label_map, vertebra_ids
from spinefuse.imaging.volume import Volume

TOTALSEG_ID = {name: key for key, name in TOTALSEG_V2_VERTEBRAE.items()}


@runtime_checkable
class SegmentationBackend(Protocol):
    """Anything that labels the vertebrae of an image on its own grid (TotalSegmentator IDs)."""

    def segment(self, image: Volume) -> Volume:
        """Label map (modality ``SEG``, TotalSegmentator v2 IDs) on ``image``'s grid."""
        ...


def to_totalseg_ids(labels: Volume, convention: Convention) -> Volume:
    """The same label map with its vertebra IDs rewritten to TotalSegmentator v2; other IDs
    (organs, ribs) become background."""
    ids = vertebra_ids(labels, convention)
    lut = np.zeros(int(labels.array.max()) + 1, dtype=np.int32)
    for name, key in ids.items():
        lut[key] = TOTALSEG_ID[name]
    return replace(labels, array=lut[np.clip(labels.array, 0, None)])


@dataclass(frozen=True)
class LabelFileBackend:
    """A label map that came with the study; on another grid it is resampled only when asked."""

    path: Path
    convention: Convention = "totalseg"
    resample: bool = False

    def segment(self, image: Volume) -> Volume:
        labels = read_label_map(self.path, reference=image, resample=self.resample)
        return to_totalseg_ids(labels, self.convention)


@dataclass(frozen=True)
class TotalSegmentatorBackend:
    """TotalSegmentator's ``total`` task (optional extra ``spinefuse[totalsegmentator]``)."""

    fast: bool = True
    device: str = "cpu"

    @classmethod
    def from_options(cls, options: dict[str, object]) -> TotalSegmentatorBackend:
        """The back-end with a case file's ``segmentation.options`` (``fast``, ``device``)."""
        return cls(**_checked_options(cls, options))  # type: ignore[arg-type]

    @staticmethod
    def available() -> bool:
        return importlib.util.find_spec("totalsegmentator") is not None

    def segment(self, image: Volume) -> Volume:
        if not self.available():
            raise MissingDependencyError(
                "TotalSegmentator is not installed: pip install 'spinefuse[totalsegmentator]' "
                "(and let it download its weights once), give a label map with the study, or "
                "use the built-in back-end (segmentation: threshold)"
            )
        from totalsegmentator.python_api import (  # type: ignore[import-not-found]  # pragma: no cover
            totalsegmentator,
        )

        from spinefuse.imaging.nifti import read_nifti, write_nifti  # pragma: no cover

        with tempfile.TemporaryDirectory() as tmp:  # pragma: no cover
            src = write_nifti(image, Path(tmp) / "image.nii.gz")
            out = Path(tmp) / "labels.nii.gz"
            totalsegmentator(
                str(src), str(out), ml=True, fast=self.fast, device=self.device, task="total"
            )
            labels = read_nifti(out, modality="SEG")
        return read_label_map_on(labels, image)  # pragma: no cover


def read_label_map_on(labels: Volume, image: Volume) -> Volume:
    """``labels`` restricted to vertebrae, on ``image``'s grid (nearest neighbour if needed)."""
    from spinefuse.imaging.labels import on_grid

    return to_totalseg_ids(on_grid(labels, image, resample=True), "totalseg")


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
    """spinefuse's own CT back-end (no trained weights) with a case file's options."""
    from spinefuse.imaging.spine_threshold import ThresholdBackend

    return ThresholdBackend(**_checked_options(ThresholdBackend, options or {}))  # type: ignore[arg-type]


def default_backend() -> SegmentationBackend:
    """TotalSegmentator when installed, else the built-in threshold back-end."""
    if TotalSegmentatorBackend.available():
        return TotalSegmentatorBackend()
    from spinefuse.imaging.spine_threshold import ThresholdBackend

    return ThresholdBackend()
