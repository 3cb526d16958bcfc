"""The real CTs of ``shared/data/ct`` with their reference label maps, copies of them
(re-oriented, resampled, cropped) and the measures the built-in segmentation is held to: Dice
per level, names, body centroid error. Used by the tests and by
``benchmarks/bench_segmentation.py``.

The references are a model's output (TotalSegmentator) or the VerSe masks; they serve as the
reference for Dice as the data's SOURCES.md says. A reference stays on the grid it was made on:
a copy resampled to other voxels is scored there (the segmentation brought onto that grid,
each reference voxel taking the level most of it holds), not against the reference resampled
nearest-neighbour, whose staircase of the 3 mm voxels no segmentation at 1 mm can match."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from spinefuse.conventions import LUMBAR, TOTALSEG_V2_VERTEBRAE
from spinefuse.imaging.builtin_ct import BuiltinCTBackend
from spinefuse.imaging.dicom import read_dicom_series
from spinefuse.imaging.label_gate import cut_by_scan
from spinefuse.imaging.labels import on_grid, read_verse_centroids
from spinefuse.imaging.nifti import read_nifti
from spinefuse.imaging.orientation import reorient, to_ras
from spinefuse.imaging.pseudo_ct import pseudo_ct
from spinefuse.imaging.resample import resample_to_spacing
from spinefuse.imaging.segmentation import Segmentation, to_totalseg_ids
from spinefuse.imaging.volume import Volume

TS = "ct/totalsegmentator_example"
TPT = "ct/tptbox_l2_l4"
VERSE = "ct/verse_sample"
NAME_OF = TOTALSEG_V2_VERTEBRAE


@dataclass(frozen=True)
class Scan:
    """A CT, its reference label map (TotalSegmentator IDs, on the grid it was made on: the
    CT's, unless the CT was resampled), the reference body mask (same IDs and grid, bodies
    only; None when the data has none), and the lowest vertebra it shows (what a case would
    name)."""

    name: str
    ct: Volume
    labels: Volume
    bodies: Volume | None
    lowest: str


def _ids_only(labels: Volume) -> Volume:
    arr = np.where(np.isin(labels.array, list(NAME_OF)), labels.array, 0)
    return replace(labels, array=arr.astype(np.int32))


def totalseg_example(data: Path) -> Scan:
    ct = read_nifti(data / TS / "example_ct.nii.gz")
    labels = read_nifti(data / TS / "totalseg.nii.gz", modality="SEG")
    parts = read_nifti(data / TS / "totalseg_vertebrae_body.nii.gz", modality="SEG")
    bodies = replace(labels, array=np.where(parts.array == 1, labels.array, 0))
    return Scan("totalseg_example", ct, _ids_only(labels), _ids_only(bodies), "S1")


def tptbox(data: Path) -> Scan:
    ct = read_nifti(data / TPT / "sub-ct_label-22_ct.nii.gz")
    vert = read_nifti(data / TPT / "sub-ct_seg-vert_label-22_msk.nii.gz", modality="SEG")
    sub = read_nifti(data / TPT / "sub-ct_seg-subreg_label-22_msk.nii.gz", modality="SEG")
    labels = to_totalseg_ids(vert, "verse")
    bodies = replace(labels, array=np.where(np.isin(sub.array, (49, 50)), labels.array, 0))
    return Scan("tptbox_l2_l4", ct, labels, bodies, "L4")


def dicom_series(data: Path) -> Scan:
    ct = read_dicom_series(data / TS / "dicom")
    labels = on_grid(read_nifti(data / TS / "example_seg_dicom.nii.gz", "SEG"), ct, resample=True)
    return Scan("dicom_20_slices", ct, _ids_only(labels), None, "T12")


def verse_pseudo_ct(data: Path) -> Scan:
    mask = read_nifti(data / VERSE / "sub-verse004_seg-vert_msk.nii.gz", modality="SEG")
    labels = to_totalseg_ids(mask, "verse")
    return Scan("verse_pseudo_ct", pseudo_ct(labels), labels, None, "L5")


def verse_centroids(data: Path, scan: Scan) -> dict[str, tuple[float, float, float]]:
    """VerSe's own body centroids of the sample (world, mm)."""
    mask = read_nifti(data / VERSE / "sub-verse004_seg-vert_msk.nii.gz", modality="SEG")
    return read_verse_centroids(data / VERSE / "sub-verse004_seg-subreg_ctd.json", mask)


def reoriented(
    scan: Scan, permutation: tuple[int, int, int], flips: tuple[bool, bool, bool]
) -> Scan:
    def r(v: Volume | None) -> Volume | None:
        return None if v is None else reorient(v, permutation, flips)

    ct, labels = reorient(scan.ct, permutation, flips), reorient(scan.labels, permutation, flips)
    return replace(
        scan,
        name=f"{scan.name} reoriented {permutation} {flips}",
        ct=ct,
        labels=labels,
        bodies=r(scan.bodies),
    )


def resampled(scan: Scan, spacing_mm: float, crop_mm: float | None = None) -> Scan:
    """The CT on a grid of ``spacing_mm`` voxels (linear interpolation), its reference left
    on the grid it was made on; ``crop_mm`` first keeps only that half-width either side of
    the spine's midline."""
    base = scan
    if crop_mm is not None:
        base = cropped(scan, lateral_mm=crop_mm)
    ct = resample_to_spacing(base.ct, spacing_mm, order=1)
    return replace(base, name=f"{scan.name} at {spacing_mm:g} mm", ct=ct)


def cropped(
    scan: Scan,
    below_mm: float | None = None,
    above_mm: float | None = None,
    lateral_mm: float | None = None,
) -> Scan:
    """The scan (in RAS order) cut to world z between ``below_mm`` and ``above_mm`` and to
    ``lateral_mm`` either side of the labels' midline (a scan whose reference is on its grid)."""
    if not scan.labels.same_grid(scan.ct):
        raise ValueError(f"{scan.name}: crop before resampling (the reference is on another grid)")
    ct, labels = to_ras(scan.ct), to_ras(scan.labels)
    bodies = None if scan.bodies is None else to_ras(scan.bodies)
    z = ct.voxel_to_world(
        np.stack([np.zeros(ct.shape[2]), np.zeros(ct.shape[2]), np.arange(ct.shape[2])], 1)
    )[:, 2]
    keep_z = np.ones(ct.shape[2], dtype=bool)
    if below_mm is not None:
        keep_z &= z >= below_mm
    if above_mm is not None:
        keep_z &= z <= above_mm
    zs = np.flatnonzero(keep_z)
    xs = np.arange(ct.shape[0])
    if lateral_mm is not None:
        mid = float(np.argwhere(labels.array > 0)[:, 0].mean())
        xs = xs[np.abs(xs - mid) * ct.spacing[0] <= lateral_mm]
    box = (slice(int(xs[0]), int(xs[-1]) + 1), slice(None), slice(int(zs[0]), int(zs[-1]) + 1))

    def cut(v: Volume) -> Volume:
        aff = v.affine.copy()
        aff[:3, 3] = v.voxel_to_world(np.array([xs[0], 0, zs[0]], dtype=float))
        return replace(v, array=np.ascontiguousarray(v.array[box]), affine=aff)

    what = [
        f"z {below_mm}..{above_mm} mm" if below_mm or above_mm else "",
        f"±{lateral_mm} mm" if lateral_mm else "",
    ]
    return replace(
        scan,
        name=f"{scan.name} cropped {' '.join(w for w in what if w)}",
        ct=cut(ct),
        labels=cut(labels),
        bodies=None if bodies is None else cut(bodies),
    )


@dataclass(frozen=True)
class LevelScore:
    name: str
    dice: float
    reference_name: str
    centroid_error_mm: float | None
    fully_covered: bool
    confidence: float


@dataclass(frozen=True)
class Score:
    scan: str
    seconds: float
    needs_anchor: bool
    naming_confidence: float
    levels: tuple[LevelScore, ...]
    messages: tuple[str, ...]

    def level(self, name: str) -> LevelScore:
        return next(lv for lv in self.levels if lv.name == name)

    def covered_lumbar(self) -> tuple[LevelScore, ...]:
        return tuple(
            lv for lv in self.levels if lv.fully_covered and lv.reference_name in LUMBAR[:-1]
        )


def reference_centroids(
    scan: Scan, data: Path | None = None
) -> dict[str, tuple[float, float, float]]:
    """Body centroids of the reference (world, mm): from its body mask, else VerSe's file."""
    if scan.bodies is not None:
        out = {}
        arr = scan.bodies.array
        for key in np.unique(arr):
            if key in NAME_OF and (arr == key).sum() > 0:
                com = ndimage.center_of_mass(arr == key)
                w = scan.bodies.voxel_to_world(np.asarray(com, dtype=float))
                out[NAME_OF[int(key)]] = (float(w[0]), float(w[1]), float(w[2]))
        return out
    if scan.name.startswith("verse") and data is not None:
        return verse_centroids(data, scan)
    return {}


SUBSAMPLES = 3
"""Points per axis at which a reference voxel samples a segmentation on another grid."""


def on_reference_grid(labels: Volume, reference: Volume) -> NDArray[np.int32]:
    """``labels`` on ``reference``'s grid, each voxel taking the label (background included)
    found at most of :data:`SUBSAMPLES` ^ 3 points spread evenly over it: the share of the
    voxel each label holds, as a label map made on that grid records it (the label itself
    where the grids are one)."""
    if labels.same_grid(reference):
        return np.asarray(labels.array, dtype=np.int32)
    src = np.asarray(labels.array, dtype=np.int32)
    out = np.zeros(reference.shape, dtype=np.int32)
    found = np.argwhere(src > 0)
    if len(found) == 0:
        return out
    # only the box of the segmentation's labels on the reference grid is sampled
    corners = np.array([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)], dtype=float) * (
        found.max(axis=0) - found.min(axis=0)
    ) + found.min(axis=0)
    at = reference.world_to_voxel(labels.voxel_to_world(corners))
    lo = np.clip(np.floor(at.min(axis=0)).astype(int) - 1, 0, None)
    hi = np.minimum(np.ceil(at.max(axis=0)).astype(int) + 2, reference.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    to_labels = np.linalg.inv(labels.affine) @ reference.affine
    ijk = np.indices(tuple(int(b - a) for a, b in zip(lo, hi, strict=True)), dtype=np.float32)
    ijk = ijk.reshape(3, -1) + lo[:, None].astype(np.float32)
    offsets = (np.arange(SUBSAMPLES) + 0.5) / SUBSAMPLES - 0.5
    keys = np.unique(src)
    votes = np.zeros((len(keys), ijk.shape[1]), dtype=np.int16)
    for a in offsets:  # 27 sub-voxel points, each one pass over the grid
        for b in offsets:
            for c in offsets:
                p = ijk + np.array([[a], [b], [c]], dtype=np.float32)
                q = to_labels[:3, :3] @ p + to_labels[:3, 3:4]
                got = ndimage.map_coordinates(src, q, order=0, mode="constant", cval=0)
                votes += got[None, :] == keys[:, None]
    out[box] = keys[np.argmax(votes, axis=0)].reshape(out[box].shape)
    return out


def run(
    scan: Scan, backend: BuiltinCTBackend, data: Path | None = None
) -> tuple[Segmentation, Score]:
    """Segment the scan and score it against its reference, on the reference's grid."""
    t0 = time.perf_counter()
    seg = backend.segment(scan.ct)
    seconds = time.perf_counter() - t0
    ours, ref = on_reference_grid(seg.labels, scan.labels), scan.labels.array
    ras_ref = to_ras(scan.labels)
    ref_bodies = (
        to_ras(scan.bodies).array if scan.bodies is not None else np.zeros(ras_ref.shape, np.int32)
    )
    cut = cut_by_scan(ras_ref.array, ref_bodies, ras_ref.spacing)
    if scan.bodies is None:  # no body mask: a level the scan's first or last slice cuts
        cut |= cut_by_scan(ras_ref.array, np.zeros_like(ras_ref.array), ras_ref.spacing)
    cents = reference_centroids(scan, data)
    levels = []
    for found in seg.report.levels:
        mask = ours == found.label_id
        vals, counts = np.unique(ref[mask], return_counts=True)
        ok = np.isin(vals, list(NAME_OF))
        best = int(vals[ok][np.argmax(counts[ok])]) if ok.any() else 0
        ref_mask = ref == found.label_id
        denom = mask.sum() + ref_mask.sum()
        dice = float(2 * (mask & ref_mask).sum() / denom) if denom else 0.0
        err = None
        if found.body_centroid is not None and found.name in cents:
            err = float(np.linalg.norm(np.subtract(found.body_centroid, cents[found.name])))
        levels.append(
            LevelScore(
                name=found.name,
                dice=dice,
                reference_name=NAME_OF.get(best, "-"),
                centroid_error_mm=err,
                fully_covered=best in NAME_OF and best not in cut,
                confidence=found.confidence,
            )
        )
    score = Score(
        scan=scan.name,
        seconds=seconds,
        needs_anchor=seg.report.needs_anchor,
        naming_confidence=seg.report.naming_confidence,
        levels=tuple(levels),
        messages=tuple(f"{m.code}: {m.text}" for m in seg.report.messages),
    )
    return seg, score
