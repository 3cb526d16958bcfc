"""Accuracy and speed of the built-in CT segmentation on the real CTs of shared/data and on
copies of them (re-oriented, resampled to 1 and 2 mm, cropped), against their reference label
maps, and the quality gate's verdicts on modified label maps.

Targets (issue 16): Dice >= 0.85 for every fully covered lumbar vertebra, names right, body
centroids within 3 mm, under 20 s per scan on 2 cores. Each scan runs twice: as a user would
give it (names from the anchors in view) and with the lowest level named by the case.
Prints a table and one JSON line, and writes benchmarks/results/segmentation.json. Without
the shared data folder it writes only what it could measure.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT))

from tests.imaging.real_scans import (  # noqa: E402
    Scan,
    Score,
    cropped,
    dicom_series,
    reoriented,
    resampled,
    run,
    totalseg_example,
    tptbox,
    verse_pseudo_ct,
)

from spinefuse.imaging.builtin_ct import BuiltinCTBackend  # noqa: E402
from spinefuse.imaging.label_gate import gate_label_map  # noqa: E402
from spinefuse.records import write_atomic  # noqa: E402

TARGET_DICE, CENTROID_MM, TARGET_S = 0.85, 3.0, 20.0


def scans() -> list[Scan]:
    ex, tpt, verse = totalseg_example(DATA), tptbox(DATA), verse_pseudo_ct(DATA)
    return [
        ex,
        reoriented(ex, (2, 0, 1), (True, False, True)),
        resampled(ex, 2.0),
        resampled(ex, 1.0, crop_mm=90.0),
        cropped(ex, above_mm=310.0),
        cropped(ex, below_mm=170.0),
        tpt,
        reoriented(tpt, (1, 2, 0), (False, True, True)),
        resampled(tpt, 1.0),
        resampled(tpt, 2.0),
        dicom_series(DATA),
        verse,
        reoriented(verse, (2, 1, 0), (True, True, False)),
    ]


def _row(score: Score, named: bool) -> dict[str, Any]:
    covered = score.covered_lumbar()
    return {
        "scan": score.scan,
        "named_by_case": named,
        "seconds": round(score.seconds, 2),
        "needs_anchor": score.needs_anchor,
        "naming_confidence": round(score.naming_confidence, 3),
        "levels": [
            {
                "name": lv.name,
                "reference": lv.reference_name,
                "dice": round(lv.dice, 3),
                "centroid_error_mm": None
                if lv.centroid_error_mm is None
                else round(lv.centroid_error_mm, 1),
                "fully_covered": lv.fully_covered,
            }
            for lv in score.levels
        ],
        "names_right": all(
            lv.name == lv.reference_name for lv in score.levels if lv.reference_name != "-"
        ),
        "lumbar_dice_min": round(min((lv.dice for lv in covered), default=float("nan")), 3),
        "lumbar_at_target": all(lv.dice >= TARGET_DICE for lv in covered),
    }


def gate_verdicts() -> dict[str, str]:
    ex = totalseg_example(DATA)
    labels = ex.labels

    def relabel(mapping: dict[int, int]) -> Any:
        out = labels.array.copy()
        for old, new in mapping.items():
            out[labels.array == old] = new
        return replace(labels, array=out)

    half = labels.array.copy()
    l3 = half == 29
    half[l3 & (np.arange(half.shape[2])[None, None, :] > np.median(np.argwhere(l3)[:, 2]))] = 0
    cases: dict[str, Any] = {
        "as given": (labels, None),
        "L3/L4 swapped": (relabel({29: 28, 28: 29}), None),
        "shifted by one (with CT)": (relabel({k: k + 1 for k in range(26, 34)}), ex.ct),
        "L3 missing": (relabel({29: 0}), None),
        "L3 half erased": (replace(labels, array=half), None),
        "cut through L3": (cropped(ex, above_mm=310.0).labels, None),
    }
    for factor in (5.0, 10.0):
        aff = labels.affine.copy()
        aff[:3, :3] *= factor
        cases[f"voxel size x{factor:g}"] = (replace(labels, affine=aff), None)
    out = {}
    for name, (lab, ct) in cases.items():
        v = gate_label_map(lab, "totalseg", image=ct)
        worst = [m for m in v.messages if m.startswith("FAIL")] or [
            m for m in v.messages if not m.startswith("CONFIRM T1")
        ]
        out[name] = v.status + (f" ({worst[0][:110]})" if worst and v.status != "pass" else "")
    return out


def main() -> dict[str, Any]:
    rows = []
    for scan in scans():
        for named in (False, True):
            backend = BuiltinCTBackend(lowest_in_view=scan.lowest if named else None)
            t0 = time.perf_counter()
            _, score = run(scan, backend, DATA)
            del t0
            rows.append(_row(score, named))
    slowest = max(r["seconds"] for r in rows)
    return {
        "benchmark": "segmentation",
        "target_dice": TARGET_DICE,
        "target_centroid_mm": CENTROID_MM,
        "target_seconds": TARGET_S,
        "slowest_scan_s": slowest,
        "runs": rows,
        "gate": gate_verdicts(),
    }


def _print(figures: dict[str, Any]) -> None:
    for r in figures["runs"]:
        lv = " ".join(
            f"{x['name']}:{x['dice']:.2f}"
            + ("" if x["name"] == x["reference"] else f"(ref {x['reference']})")
            + ("" if x["centroid_error_mm"] is None else f"/{x['centroid_error_mm']:.1f}mm")
            for x in r["levels"]
        )
        print(
            f"{r['scan'][:48]:48s} named={int(r['named_by_case'])} {r['seconds']:5.1f}s "
            f"anchor_needed={int(r['needs_anchor'])} conf={r['naming_confidence']:.2f} {lv}"
        )
    for k, v in figures["gate"].items():
        print(f"gate {k}: {v}")


if __name__ == "__main__":
    if not DATA.is_dir():
        print(json.dumps({"benchmark": "segmentation", "skipped": f"no data at {DATA}"}))
        sys.exit(0)
    figures = main()
    _print(figures)
    line = json.dumps(figures)
    print(json.dumps({k: v for k, v in figures.items() if k != "runs"}))
    write_atomic(ROOT / "benchmarks" / "results" / "segmentation.json", line + "\n")
