"""Label conventions of the MR tools: a small spine written in each tool's own IDs reads back to
the same levels, discs, canal and cord; a single-class map is split at its discs (or gaps) and
named from an anchor, or refused with the reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spinefuse.errors import LabelMapError
from spinefuse.imaging.label_conventions import (
    CANAL_ID,
    CORD_ID,
    convention_table,
    resolve_spine_labels,
)
from spinefuse.imaging.labels import convention_ids
from spinefuse.imaging.nifti import read_nifti
from spinefuse.imaging.volume import Volume

LEVELS = ("L3", "L4", "L5")  # head to pelvis, then the sacrum
BODY_MM, DISC_MM = 24, 9


def _mini_spine(
    vertebra: dict[str, int],
    disc: dict[str, int],
    sacrum: int | None,
    canal: int | None = None,
    cord: int | None = None,
) -> tuple[Volume, dict[str, int]]:
    """Boxes at 1 mm: L3, disc, L4, disc, L5, disc, sacrum from the top down, a canal behind
    them. Returns the map and the voxel count of each structure (by its level or segment)."""
    nz = 3 * (BODY_MM + DISC_MM) + 20
    arr = np.zeros((30, 40, nz), dtype=np.int16)
    counts: dict[str, int] = {}
    z = nz
    names = [*LEVELS, "S1"]
    for k, name in enumerate(names):
        top, z = z, z - (BODY_MM if name != "S1" else 20)
        value = sacrum if name == "S1" else vertebra[name]
        if value is not None:
            arr[5:25, 15:38, z:top] = value
            counts[name] = 20 * 23 * (top - z)
        if k < len(LEVELS):
            seg = f"{name}-{names[k + 1]}"
            top, z = z, z - DISC_MM
            if seg in disc:
                arr[6:24, 16:37, z:top] = disc[seg]
                counts[seg] = 18 * 21 * (top - z)
    if canal is not None:
        arr[10:20, 3:12, :] = canal
        counts["canal"] = 10 * 9 * nz
    if cord is not None:
        arr[13:16, 6:9, nz - 10 :] = cord  # the conus ends above the lumbar levels
        counts["cord"] = 3 * 3 * 10
        if canal is not None:
            counts["canal"] -= 90
    affine = np.diag([1.0, 1.0, 1.0, 1.0])
    return Volume(arr, affine, "SEG", source="mini spine"), counts


def _check(resolved_counts: dict[str, int], expected: dict[str, int]) -> None:
    assert resolved_counts == expected


def _resolved_counts(spine: object) -> dict[str, int]:
    from spinefuse.imaging.label_conventions import SpineLabels

    assert isinstance(spine, SpineLabels)
    arr = np.asarray(spine.labels.array)
    out = {
        name: int((arr == key).sum()) for name, key in {**spine.vertebrae, **spine.discs}.items()
    }
    if spine.canal is not None:
        out["canal"] = int((arr == spine.canal).sum())
    if spine.cord is not None:
        out["cord"] = int((arr == spine.cord).sum())
    return out


def test_totalspineseg_ids() -> None:
    labels, counts = _mini_spine(
        {"L3": 43, "L4": 44, "L5": 45},
        {"L3-L4": 94, "L4-L5": 95, "L5-S1": 100},
        sacrum=50,
        canal=2,
        cord=1,
    )
    spine = resolve_spine_labels(labels, "totalspineseg")
    assert list(spine.vertebrae) == ["L3", "L4", "L5", "S1"]
    assert list(spine.discs) == ["L3-L4", "L4-L5", "L5-S1"]
    assert (spine.canal, spine.cord) == (CANAL_ID, CORD_ID)
    _check(_resolved_counts(spine), counts)


def test_spineps_instance_and_subregion_ids() -> None:
    # instance mask: VerSe vertebra IDs (22 L3, 23 L4, 24 L5, 26 sacrum), 100 + X the disc below X
    labels, counts = _mini_spine(
        {"L3": 22, "L4": 23, "L5": 24}, {"L3-L4": 122, "L4-L5": 123, "L5-S1": 124}, sacrum=26
    )
    # the subregion mask of the same run carries the canal (61) and cord (60)
    sub = np.zeros(labels.shape, dtype=np.int16)
    sub[10:20, 3:12, :] = 61
    sub[13:16, 6:9, -10:] = 60
    subregions = Volume(sub, labels.affine, "SEG", source="subregions")
    spine = resolve_spine_labels(labels, "spineps", subregions=subregions)
    assert list(spine.vertebrae) == ["L3", "L4", "L5", "S1"]
    assert list(spine.discs) == ["L3-L4", "L4-L5", "L5-S1"]
    counts["canal"] = 10 * 9 * labels.shape[2] - 90
    counts["cord"] = 90
    _check(_resolved_counts(spine), counts)


def test_spineps_disc_below_l5_is_l5_l6_when_l6_is_present() -> None:
    labels, _ = _mini_spine({"L3": 23, "L4": 24, "L5": 25}, {"L5-S1": 125, "L4-L5": 124}, 26)
    spine = resolve_spine_labels(labels, "spineps")  # here 23 L4, 24 L5, 25 L6
    assert list(spine.vertebrae) == ["L4", "L5", "L6", "S1"]
    assert list(spine.discs) == ["L5-L6", "L6-S1"]


def test_totalsegmentator_vertebrae_mr_ids() -> None:
    labels, counts = _mini_spine({"L3": 4, "L4": 3, "L5": 2}, {}, sacrum=1)
    spine = resolve_spine_labels(labels, "totalseg_vertebrae_mr")
    assert list(spine.vertebrae) == ["L3", "L4", "L5", "S1"] and not spine.discs
    _check(_resolved_counts(spine), counts)
    assert convention_ids("totalseg_vertebrae_mr")[2] == "L5"


def test_total_mr_single_class_is_split_at_the_discs_and_named_from_the_sacrum() -> None:
    labels, counts = _mini_spine(
        dict.fromkeys(LEVELS, 19), dict.fromkeys(("L3-L4", "L4-L5", "L5-S1"), 20), 18, cord=21
    )
    spine = resolve_spine_labels(labels, "totalseg_mr")
    assert list(spine.vertebrae) == ["L3", "L4", "L5", "S1"]
    assert list(spine.discs) == ["L3-L4", "L4-L5", "L5-S1"]
    assert "named upward from the sacrum" in spine.detail
    _check(_resolved_counts(spine), counts)


def test_total_mr_without_discs_is_split_at_the_gaps() -> None:
    labels, counts = _mini_spine(dict.fromkeys(LEVELS, 19), {}, sacrum=None)
    spine = resolve_spine_labels(labels, "totalseg_mr", lowest_in_view="L5")
    assert list(spine.vertebrae) == ["L3", "L4", "L5"]
    assert "gap" in spine.detail
    _check(_resolved_counts(spine), counts)


def test_total_mr_without_an_anchor_is_refused_with_the_fix() -> None:
    labels, _ = _mini_spine(dict.fromkeys(LEVELS, 19), dict.fromkeys(("L3-L4", "L4-L5"), 20), None)
    with pytest.raises(LabelMapError, match="lowest_in_view"):
        resolve_spine_labels(labels, "totalseg_mr")
    with pytest.raises(LabelMapError, match="cannot be named"):
        resolve_spine_labels(labels, "totalseg_mr")
    sacral, _ = _mini_spine(dict.fromkeys(LEVELS, 19), {}, 18)
    with pytest.raises(LabelMapError, match="the sacrum .* is in view"):
        resolve_spine_labels(sacral, "totalseg_mr", lowest_in_view="L3")
    with pytest.raises(LabelMapError, match="single-class"):
        resolve_spine_labels(labels, "totalseg_v2", lowest_in_view="L3")
    with pytest.raises(LabelMapError, match="one ID 19"):
        convention_ids("totalseg_mr")


def test_every_convention_names_its_source_file_and_version() -> None:
    for name, entry in convention_table().items():
        assert "source" in entry and "certainty" in entry, name
        assert "v" in entry["source"] or "version" in entry["source"], name


def test_real_total_mr_map_reads_to_two_vertebrae_and_the_disc_between(
    shared_data: Path,
) -> None:
    folder = shared_data / "mr/totalsegmentator_example"
    labels = read_nifti(folder / "example_seg_mr.nii.gz", modality="SEG")
    with pytest.raises(LabelMapError, match="2 vertebrae found cannot be named"):
        resolve_spine_labels(labels, "totalseg_mr")
    spine = resolve_spine_labels(labels, "totalseg_mr", lowest_in_view="L2")
    assert list(spine.vertebrae) == ["L1", "L2"]
    assert "L1-L2" in spine.discs and spine.cord == CORD_ID and spine.canal is None
    arr = np.asarray(spine.labels.array)
    up, low = (np.argwhere(arr == spine.vertebrae[n])[:, 2] for n in ("L1", "L2"))
    disc = np.argwhere(arr == spine.discs["L1-L2"])[:, 2]
    # the L1 body lies above the disc, L2 below it (axis 2 runs to the head at 3 mm)
    assert np.median(up) > np.median(disc) > np.median(low)
    # every vertebra voxel of the file went to one of the two levels or a named fragment
    assert (arr == spine.vertebrae["L1"]).sum() + (arr == spine.vertebrae["L2"]).sum() <= int(
        (np.asarray(labels.array) == 19).sum()
    )
    assert (arr == spine.vertebrae["L1"]).sum() > 800 and (arr == spine.vertebrae["L2"]).sum() > 800
