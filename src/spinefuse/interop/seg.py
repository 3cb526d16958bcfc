"""The vertebra label map as a DICOM Segmentation (highdicom), on the source series' geometry.

One segment per vertebra, labelled with its name and coded with its SNOMED CT concept (DICOM
PS3.16 CID 7151), referencing every instance of the source series. The label map lives in RAS on
its volume's grid; it is put on the source series' pixel grid (nearest neighbour, which is the
identity when the label map was made on that series) through :func:`series_grid`, the one place
LPS enters.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

import spinefuse
from spinefuse.conventions import sort_craniocaudal
from spinefuse.errors import LabelMapError
from spinefuse.imaging.images import Images
from spinefuse.imaging.labels import Convention, on_grid, vertebra_ids
from spinefuse.imaging.volume import Volume
from spinefuse.interop import codes
from spinefuse.interop.concepts import concept
from spinefuse.interop.extra import require
from spinefuse.interop.source_series import frames_of, series_grid

hd = require("highdicom")

SERIES_NUMBER = 901
MANUFACTURER = "spinefuse"


def vertebra_frames(
    labels: Volume, source: list[Dataset], convention: Convention
) -> tuple[np.ndarray[Any, np.dtype[np.uint8]], list[str]]:
    """The label map as segment numbers on the source frames ``(slice, row, column)`` (1 for
    the first vertebra head to pelvis, 0 for background) and the vertebra names in that order.

    IDs that are not vertebrae (organs, ribs) become background."""
    grid = series_grid(source)
    on_source = on_grid(labels, grid, resample=True)
    ids = vertebra_ids(on_source, convention)
    order = sort_craniocaudal(list(ids))
    lut = np.zeros(int(max(ids.values())) + 1, dtype=np.uint8)
    for number, name in enumerate(order, start=1):
        lut[ids[name]] = number
    frames = np.asarray(frames_of(on_source), dtype=np.int64)
    inside = (frames >= 0) & (frames < lut.size)
    segments = np.where(inside, lut[np.clip(frames, 0, lut.size - 1)], 0).astype(np.uint8)
    if not segments.any():
        raise LabelMapError(
            f"{labels.source or 'label map'}: no vertebra of the label map lies inside the "
            f"source series {source[0].SeriesInstanceUID}; give the series it was made on"
        )
    return segments, order


def vertebra_segmentation(
    labels: Volume,
    source: list[Dataset],
    convention: Convention = "totalseg_v2",
    algorithm: str = "label map",
) -> Any:
    """A :class:`highdicom.seg.Segmentation` of the vertebrae of ``labels`` on ``source``."""
    segments, order = vertebra_frames(labels, source, convention)
    family = hd.sr.CodedConcept("113112", "DCM", "Artificial Intelligence")
    algorithm_id = hd.AlgorithmIdentificationSequence(
        name=algorithm[:64], family=family, version=spinefuse.__version__
    )
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=number,
            segment_label=name,
            segmented_property_category=concept(codes.segment_category()),
            segmented_property_type=concept(codes.vertebra(name)),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm_id,
            tracking_id=name,
            tracking_uid=hd.UID(),
        )
        for number, name in enumerate(order, start=1)
    ]
    present = [n for n in range(1, len(order) + 1) if (segments == n).any()]
    if len(present) != len(order):
        missing = [order[n - 1] for n in range(1, len(order) + 1) if n not in present]
        raise LabelMapError(f"vertebrae {missing} have no voxel on the source series' grid")
    return hd.seg.Segmentation(
        source_images=source,
        pixel_array=segments,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(),
        series_number=SERIES_NUMBER,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name="spinefuse",
        software_versions=spinefuse.__version__,
        device_serial_number="spinefuse",
        content_label="VERTEBRAE",
        content_description="Vertebrae labelled by level",
        series_description="spinefuse vertebrae",
    )


def run_segmentation(images: Images, source: list[Dataset]) -> Any:
    """The SEG of a run's labelled CT/MR (the labels the imaging stage read or segmented) on
    its DICOM series ``source``."""
    if images.labels is None or images.convention is None:
        raise LabelMapError("the run has no vertebra label map; a DICOM SEG needs one")
    return vertebra_segmentation(
        images.labels, source, images.convention, algorithm=images.label_detail or "label map"
    )


def segment_labels(seg: Any) -> Mapping[int, str]:
    """Segment number -> label of a SEG read back (``highdicom.seg.segread``)."""
    return {int(s.SegmentNumber): str(s.SegmentLabel) for s in seg.SegmentSequence}
