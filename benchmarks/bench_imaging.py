"""Speed of imaging to anatomy: the TotalSegmentator example CT with its label map to a
SpineGeometry (reading both files included), and the built-in segmentation of an L1–S1 phantom
at 0.8 mm followed by its landmarks.

Targets: example CT to SpineGeometry under 3 s; built-in segmentation of the phantom under 30 s
(on 2 cores). Prints one JSON line and writes benchmarks/results/imaging.json. Without the
shared data folder the example-CT figure is left out (null).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from spinefuse.anatomy.from_labels import geometry_from_labels
from spinefuse.anatomy.phantom import render_ct
from spinefuse.anatomy.template import VirtualPatientSpec, virtual_spine
from spinefuse.imaging.builtin_ct import BuiltinCTBackend
from spinefuse.imaging.labels import read_label_map
from spinefuse.imaging.nifti import read_nifti
from spinefuse.records import write_atomic

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT.parent / "shared" / "data" / "ct" / "totalsegmentator_example"


def _example_ct_s(repeats: int) -> float | None:
    if not (EXAMPLE / "example_ct.nii.gz").is_file():
        return None
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        ct = read_nifti(EXAMPLE / "example_ct.nii.gz")
        labels = read_label_map(EXAMPLE / "totalseg.nii.gz", reference=ct)
        geometry_from_labels(ct, labels, "totalseg")
        best = min(best, time.perf_counter() - t0)
    return best


def main(repeats: int = 3, spacing_mm: float = 0.8) -> dict[str, float | None]:
    example_s = _example_ct_s(repeats)
    ct, _ = render_ct(virtual_spine(VirtualPatientSpec()), spacing_mm=spacing_mm)
    t0 = time.perf_counter()
    labels = BuiltinCTBackend(lowest_in_view="S1").segment(ct).labels
    segment_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    geometry = geometry_from_labels(ct, labels, "totalseg")
    landmarks_s = time.perf_counter() - t0
    return {
        "example_ct_to_geometry_s": None if example_s is None else round(example_s, 3),
        "example_ct_target_s": 3.0,
        "phantom_voxels": float(ct.array.size),
        "phantom_spacing_mm": spacing_mm,
        "phantom_levels": float(len(geometry.levels)),
        "builtin_segmentation_s": round(segment_s, 2),
        "builtin_segmentation_target_s": 30.0,
        "phantom_landmarks_s": round(landmarks_s, 2),
    }


if __name__ == "__main__":
    figures = main()
    line = json.dumps({"benchmark": "imaging", **figures})
    print(line)
    write_atomic(ROOT / "benchmarks" / "results" / "imaging.json", line + "\n")
