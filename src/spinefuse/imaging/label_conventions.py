"""The label IDs of each segmentation tool, and a label map resolved into spine structures.

``data/label_conventions.yaml`` holds, per tool (TotalSegmentator ``total``, ``total_mr`` and
``vertebrae_mr``; VerSe; SPINEPS; TotalSpineSeg), which ID is which vertebra, disc, canal and
cord, with the tool's file and version it was read from. :func:`resolve_spine_labels` turns a map
in any of them (or a custom vertebra mapping) into a :class:`SpineLabels`: one array in a single
resolved numbering (vertebra ``1 + rank`` of its name, disc ``100 +`` its upper vertebra's ID,
canal 201, cord 202) with the level names of every ID; a single-class map (all vertebrae one ID)
is split into levels first (:mod:`spinefuse.imaging.level_split`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

import numpy as np

from spinefuse.conventions import VERTEBRAE, segment_name, sort_craniocaudal
from spinefuse.datafiles import load_yaml
from spinefuse.errors import LabelMapError
from spinefuse.imaging.volume import Volume

CANAL_ID = 201
CORD_ID = 202
DISC_OFFSET = 100
MR_CONVENTIONS = ("totalseg_mr", "totalseg_vertebrae_mr", "spineps", "totalspineseg")
"""The conventions of MR tools, beside the CT ones (``totalseg``/``totalseg_v2``, ``verse``)."""


@cache
def convention_table() -> dict[str, Any]:
    """Every tool's IDs as read from ``data/label_conventions.yaml``."""
    data: dict[str, Any] = load_yaml("label_conventions.yaml")
    return data


def convention_entry(name: str) -> dict[str, Any]:
    """One tool's entry; ``totalseg`` is ``totalseg_v2``."""
    key = "totalseg_v2" if name == "totalseg" else name
    table = convention_table()
    if key not in table:
        raise LabelMapError(
            f"label convention {name!r} is unknown: use one of {', '.join(sorted(table))}, "
            "'totalseg' or a mapping {id: vertebra}"
        )
    entry: dict[str, Any] = table[key]
    return entry


def table_vertebrae(name: str) -> dict[int, str]:
    """Vertebra ID -> level of a named convention (the sacrum not included); a single-class
    convention has none, and saying so is a :class:`LabelMapError`."""
    entry = convention_entry(name)
    if "vertebrae" not in entry:
        raise LabelMapError(
            f"label convention {name!r} ({entry['tool']}) gives every vertebra the one ID "
            f"{entry['vertebrae_single_class']}: its levels are found by splitting the map at "
            "the discs (the MR study's label map is read that way)"
        )
    return {int(k): str(v) for k, v in entry["vertebrae"].items()}


def resolved_id(name: str) -> int:
    """The resolved numbering's ID of a vertebra: 1 + its craniocaudal rank (S1 = 26)."""
    return 1 + VERTEBRAE.index(name)


@dataclass(frozen=True)
class SpineLabels:
    """A spine label map in the resolved numbering, with what each ID is.

    ``vertebrae`` level -> ID head to pelvis (S1 is the sacrum), ``discs`` segment -> ID,
    ``canal`` and ``cord`` the IDs present (None when the map has none), ``detail`` how the
    map was read (convention, split, anchor)."""

    labels: Volume
    vertebrae: dict[str, int]
    discs: dict[str, int] = field(default_factory=dict)
    canal: int | None = None
    cord: int | None = None
    detail: str = ""

    @property
    def mapping(self) -> dict[int, str]:
        """ID -> vertebra name: the custom convention the anatomy stage reads."""
        return {v: k for k, v in self.vertebrae.items()}


def _next_below(name: str, present: set[str]) -> str:
    """The vertebra below ``name``: the next name present, else the anatomical next (L6
    only when present)."""
    k = VERTEBRAE.index(name)
    for below in VERTEBRAE[k + 1 :]:
        if below in present:
            return below
    if name in ("L5", "L6"):
        return "S1"
    return VERTEBRAE[k + 1]


def _above(name: str) -> str:
    k = VERTEBRAE.index(name)
    if name == "S1":
        return "L5"
    return VERTEBRAE[k - 1]


def resolve_spine_labels(
    labels: Volume,
    convention: str | Mapping[int, str],
    *,
    subregions: Volume | None = None,
    lowest_in_view: str | None = None,
) -> SpineLabels:
    """Resolve a label map written in ``convention`` (a named tool convention or a custom
    mapping ID -> vertebra) into :class:`SpineLabels`.

    ``subregions`` is SPINEPS's subregion mask of the same run (its canal and cord), on the
    same grid. A single-class map is split into levels at the discs, named upward from the
    sacrum, or from ``lowest_in_view`` (the name of the lowest vertebra in the field of view),
    or refused with the reason."""
    from spinefuse.imaging.level_split import split_levels

    arr = np.asarray(labels.array)
    out = np.zeros(arr.shape, dtype=np.int16)
    name = "custom" if isinstance(convention, Mapping) else str(convention)
    present = set(np.unique(arr).tolist()) - {0}
    if isinstance(convention, Mapping):
        from spinefuse.imaging.labels import convention_ids

        entry: dict[str, Any] = {"vertebrae": convention_ids(convention)}
    else:
        entry = convention_entry(convention)
    detail = f"{labels.source or 'label map'} ({name} IDs)"
    if "vertebrae_single_class" in entry:
        split = split_levels(
            labels,
            vertebra_id=int(entry["vertebrae_single_class"]),
            disc_id=entry.get("discs_single_class"),
            sacrum_id=entry.get("sacrum"),
            lowest_in_view=lowest_in_view,
        )
        vertebrae, discs = split.vertebrae, split.discs
        out = split.array.astype(np.int16)
        detail += f"; {split.detail}"
    else:
        if lowest_in_view is not None:
            raise LabelMapError(
                f"segmentation.options.lowest_in_view = {lowest_in_view!r}: the {name} "
                "convention names every level itself; the option is for single-class maps "
                "(TotalSegmentator total_mr) only"
            )
        ids = {int(k): str(v).upper() for k, v in entry["vertebrae"].items()}
        found = {n: k for k, n in ids.items() if k in present}
        sacrum = entry.get("sacrum")
        if "S1" not in found and sacrum is not None and int(sacrum) in present:
            found["S1"] = int(sacrum)
        vertebrae = {}
        for n in sort_craniocaudal(list(found)):
            vertebrae[n] = resolved_id(n)
            out[arr == found[n]] = vertebrae[n]
        discs = {}
        for disc_id, seg in _disc_ids(entry, found, present).items():
            upper = seg.split("-")[0]
            discs[seg] = DISC_OFFSET + resolved_id(upper)
            out[arr == disc_id] = discs[seg]
    canal = cord = None
    for key, target in (("canal", CANAL_ID), ("cord", CORD_ID)):
        source_arr, key_id = arr, entry.get(key)
        if subregions is not None and "subregions" in entry:
            if not subregions.same_grid(labels):
                raise LabelMapError(
                    f"{subregions.source or 'subregion map'}: not on the grid of the label "
                    f"map {labels.source or ''}; give the subregion mask of the same run"
                )
            source_arr, key_id = np.asarray(subregions.array), entry["subregions"].get(key)
        if key_id is None:
            continue
        mask = (source_arr == int(key_id)) & (out == 0)
        if mask.any():
            out[mask] = target
            if key == "canal":
                canal = target
            else:
                cord = target
    if not vertebrae:
        shown = sorted(present)[:20]
        raise LabelMapError(
            f"{labels.source or 'label map'}: no vertebra IDs of the {name} convention (IDs "
            f"present: {shown}); pick the convention that made this map or give a custom mapping"
        )
    resolved = replace(labels, array=out, source=labels.source)
    return SpineLabels(resolved, vertebrae, discs, canal, cord, detail)


def _disc_ids(entry: dict[str, Any], found: dict[str, int], present: set[int]) -> dict[int, str]:
    """Disc ID -> segment name for the discs present, by the entry's table or rule."""
    names = set(found)
    out: dict[int, str] = {}
    for k, seg in (entry.get("discs") or {}).items():
        if int(k) in present:
            out[int(k)] = str(seg)
    offset = entry.get("disc_below_vertebra_offset")
    if offset is not None:
        by_id = {int(k): str(v) for k, v in entry["vertebrae"].items()}
        for vid, vname in by_id.items():
            key = int(offset) + vid
            if key in present:
                out[key] = segment_name(vname, _next_below(vname, names))
    lumbosacral = entry.get("disc_above_sacrum")
    if lumbosacral is not None and int(lumbosacral) in present:
        upper = "L6" if "L6" in names else "L5"
        out[int(lumbosacral)] = segment_name(upper, "S1")
    return out


def level_above(name: str) -> str:
    """The vertebra name above ``name`` (S1 -> L5)."""
    return _above(name)
