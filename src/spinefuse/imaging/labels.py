"""Vertebra label maps: ID conventions, grid checks, and VerSe centroid files.

A label map is a :class:`Volume` of modality ``"SEG"`` with integer IDs. Which ID is which
vertebra depends on the tool that made it: TotalSegmentator v2 ``total`` (26 S1, 27 L5 … 31 L1,
32 T12 …), VerSe (1 C1 … 20 L1 … 24 L5, 25 L6, 26 sacrum) or a mapping the user gives.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from spinefuse.conventions import (
    TOTALSEG_V2_SACRUM,
    TOTALSEG_V2_VERTEBRAE,
    VERSE_VERTEBRAE,
    VERTEBRAE,
    sort_craniocaudal,
)
from spinefuse.datafiles import quoted_text, read_user_text
from spinefuse.errors import LabelMapError
from spinefuse.imaging.nifti import read_nifti
from spinefuse.imaging.orientation import axis_codes
from spinefuse.imaging.volume import Volume
from spinefuse.records import Vec3, write_atomic

ConventionName = Literal[
    "totalseg",
    "totalseg_v2",
    "verse",
    "custom",
    "totalseg_mr",
    "totalseg_vertebrae_mr",
    "spineps",
    "totalspineseg",
]
Convention = ConventionName | Mapping[int, str]


def convention_ids(convention: Convention) -> dict[int, str]:
    """Label ID -> vertebra name for a named convention or a custom mapping."""
    if isinstance(convention, Mapping):
        mapping = {int(k): str(v).upper() for k, v in convention.items()}
        for key, name in mapping.items():
            if name not in VERTEBRAE:
                raise LabelMapError(
                    f"custom label mapping: ID {key} -> {name!r} is not a vertebra name "
                    "(C1…C7, T1…T12, L1…L6, S1)"
                )
        return mapping
    if convention in ("totalseg", "totalseg_v2"):
        return dict(TOTALSEG_V2_VERTEBRAE)
    if convention == "verse":
        return dict(VERSE_VERTEBRAE)
    from spinefuse.imaging.label_conventions import MR_CONVENTIONS, table_vertebrae

    if convention in MR_CONVENTIONS:
        return table_vertebrae(convention)
    raise LabelMapError(
        f"label convention {convention!r} is unknown: use 'totalseg', 'verse' or a mapping "
        "{id: vertebra}"
    )


def label_boxes(array: NDArray[np.generic], max_label: int) -> list[tuple[slice, ...] | None]:
    """The bounding box of each label ID 1 … ``max_label`` (None where it has no voxel), found in
    one pass over the map; an integer map is read as it is (no 64-bit copy of the volume)."""
    arr = np.asarray(array)
    if arr.dtype.kind not in "iu":
        arr = arr.astype(np.int64)
    boxes: list[tuple[slice, ...] | None] = ndimage.find_objects(arr, max_label=max_label)
    return boxes


def vertebra_ids(labels: Volume, convention: Convention) -> dict[str, int]:
    """The vertebrae present in ``labels``: name -> label ID, head to pelvis.

    With TotalSegmentator IDs the sacrum (25) stands in for S1 when the S1 label (26) is absent.
    IDs the convention does not name (organs, ribs) are ignored; a map with no vertebra at all
    is an error naming the IDs found."""
    ids = convention_ids(convention)
    present = set(np.unique(labels.array).tolist()) - {0}
    found = {name: key for key, name in ids.items() if key in present}
    if (
        not isinstance(convention, Mapping)
        and convention in ("totalseg", "totalseg_v2")
        and "S1" not in found
        and TOTALSEG_V2_SACRUM in present
    ):
        found["S1"] = TOTALSEG_V2_SACRUM
    if not found:
        shown = sorted(present)[:20]
        matching = [
            name
            for name in ("totalseg_v2", "verse")
            if name != convention and present & set(convention_ids(name))
        ]
        hint = (
            f"the IDs match the {' or '.join(repr(m) for m in matching)} convention: set "
            "label_convention to it"
            if matching
            else "pick the convention that made this map or give a custom mapping"
        )
        raise LabelMapError(
            f"{labels.source or 'label map'}: no vertebra IDs of the {_name(convention)} "
            f"convention (IDs present: {shown}); {hint}"
        )
    return {name: found[name] for name in sort_craniocaudal(list(found))}


def _name(convention: Convention) -> str:
    return "custom" if isinstance(convention, Mapping) else str(convention)


def read_label_map(
    path: str | Path, reference: Volume | None = None, resample: bool = False
) -> Volume:
    """Read a label-map NIfTI; with ``reference`` it must lie on the reference's grid.

    A map on another grid is a :class:`LabelMapError` unless ``resample`` is true, in which
    case it is resampled onto the reference grid by nearest neighbour (IDs are never blended)."""
    labels = read_nifti(path, modality="SEG")
    if reference is None:
        return labels
    return on_grid(labels, reference, resample)


def on_grid(labels: Volume, reference: Volume, resample: bool = False) -> Volume:
    """``labels`` on ``reference``'s grid: itself when it already is, else resampled
    (nearest neighbour) when ``resample``, else a :class:`LabelMapError`."""
    if labels.same_grid(reference):
        return labels
    if not resample:
        raise LabelMapError(
            f"{labels.source or 'label map'}: grid {labels.shape} with spacing "
            f"{np.round(labels.spacing, 3).tolist()} mm and origin "
            f"{np.round(labels.affine[:3, 3], 2).tolist()} differs from the image's "
            f"{reference.shape}, {np.round(reference.spacing, 3).tolist()} mm, "
            f"{np.round(reference.affine[:3, 3], 2).tolist()}; give the label map made from this "
            "image, or ask for resampling (resample=True)"
        )
    # voxel of the reference -> voxel of the label map, as one affine
    to_labels = np.linalg.inv(labels.affine) @ reference.affine
    array = ndimage.affine_transform(
        labels.array,
        to_labels[:3, :3],
        offset=to_labels[:3, 3],
        output_shape=reference.shape,
        order=0,
        mode="constant",
        cval=0,
    )
    return replace(labels, array=array.astype(np.int32), affine=reference.affine.copy())


# --- VerSe centroid files -----------------------------------------------------------------------
def read_verse_centroids(
    path: str | Path, grid: Volume, convention: Convention = "verse"
) -> dict[str, Vec3]:
    """Read a VerSe centroid JSON as vertebra name -> world point (RAS, mm).

    The file's first entry gives the axis codes of the voxel grid the X, Y, Z indices refer to
    (e.g. ``["P", "I", "R"]``); ``grid`` is the label map (in any storage order) of that grid.
    """
    path = Path(path)
    text = read_user_text(path, "VerSe centroid file", LabelMapError)
    try:
        data = json.loads(text)
        codes = tuple(str(c).upper() for c in data[0]["direction"])
        entries = [(int(e["label"]), float(e["X"]), float(e["Y"]), float(e["Z"])) for e in data[1:]]
        if not np.all(np.isfinite([xyz for _, *xyz in entries])):
            raise ValueError("a coordinate is not a finite number")
    except (ValueError, KeyError, IndexError, TypeError, RecursionError) as err:
        raise LabelMapError(
            f"{path}: not a VerSe centroid file ({quoted_text(str(err))}); expected "
            '[{"direction": ["P","I","R"]}, {"label": 20, "X": .., "Y": .., "Z": ..}, ...]'
        ) from None
    to_grid = _axis_map(codes, grid, path)
    ids = convention_ids(convention)
    out: dict[str, Vec3] = {}
    for label, *xyz in entries:
        if label not in ids:
            continue  # VerSe 28 (T13) and other non-modelled labels
        ijk = to_grid(np.asarray(xyz))
        w = grid.voxel_to_world(ijk)
        out[ids[label]] = (float(w[0]), float(w[1]), float(w[2]))
    return {n: out[n] for n in sort_craniocaudal(list(out))}


def _axis_map(
    codes: tuple[str, ...], grid: Volume, path: Path
) -> Callable[[NDArray[np.float64]], NDArray[np.float64]]:
    """Function from file voxel indices (ordered as ``codes``) to ``grid``'s voxel indices."""
    if len(codes) != 3 or set(codes) - set("LRAPSI"):
        raise LabelMapError(f"{path}: direction {list(codes)} is not three of L/R/A/P/S/I")
    opposite = {"L": "R", "R": "L", "A": "P", "P": "A", "S": "I", "I": "S"}
    grid_codes = axis_codes(grid.affine)
    perm, flip = [], []
    for c in codes:
        if c in grid_codes:
            perm.append(grid_codes.index(c))
            flip.append(False)
        elif opposite[c] in grid_codes:
            perm.append(grid_codes.index(opposite[c]))
            flip.append(True)
        else:
            raise LabelMapError(f"{path}: direction {list(codes)} repeats an axis")
    if sorted(perm) != [0, 1, 2]:
        raise LabelMapError(f"{path}: direction {list(codes)} repeats an axis")
    shape = np.asarray(grid.shape, dtype=float)

    def to_grid(file_ijk: NDArray[np.float64]) -> NDArray[np.float64]:
        ijk = np.zeros(3)
        for k in range(3):
            ijk[perm[k]] = shape[perm[k]] - 1 - file_ijk[k] if flip[k] else file_ijk[k]
        return ijk

    return to_grid


def write_verse_centroids(
    path: str | Path,
    centroids: Mapping[str, Vec3],
    grid: Volume,
    convention: Convention = "verse",
) -> Path:
    """Write world centroids (RAS, mm) as a VerSe centroid JSON in ``grid``'s voxel indices,
    with ``grid``'s axis codes as its direction entry; written atomically."""
    names = convention_ids(convention)
    id_of = {name: key for key, name in names.items()}
    entries: list[dict[str, object]] = [{"direction": list(axis_codes(grid.affine))}]
    for name in sort_craniocaudal(list(centroids)):
        if name not in id_of:
            raise LabelMapError(f"vertebra {name} has no ID in the {_name(convention)} convention")
        ijk = grid.world_to_voxel(np.asarray(centroids[name], dtype=float))
        entries.append(
            {
                "label": id_of[name],
                "X": round(float(ijk[0]), 3),
                "Y": round(float(ijk[1]), 3),
                "Z": round(float(ijk[2]), 3),
            }
        )
    return write_atomic(Path(path), json.dumps(entries, indent=1))


def label_centroids(labels: Volume, convention: Convention) -> dict[str, Vec3]:
    """Centre of mass (RAS, mm) of every vertebra label present, head to pelvis."""
    ids = vertebra_ids(labels, convention)
    keys = list(ids.values())
    com = ndimage.center_of_mass(np.ones(labels.shape, np.uint8), labels.array, keys)
    world = labels.voxel_to_world(np.asarray(com, dtype=float))
    return {n: (float(w[0]), float(w[1]), float(w[2])) for n, w in zip(ids, world, strict=True)}
