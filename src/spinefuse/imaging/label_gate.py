"""A quality gate on any vertebra label map (built-in, external or hand-made) before anything is
measured on it.

Every level is measured in its own frame (the spine's local direction through the level
centroids, the anterior direction square to it, the lateral one square to both) and checked:

========================  ===========================================================  ==========
check                     what                                                          failing
========================  ===========================================================  ==========
``volume``, ``height``,   the whole vertebra's volume and its body's middle height,     fail far
``width``, ``depth``      width and depth against adult ranges                          outside,
                          (``data/vertebra_ranges.yaml``; a voxel size off x5 or x10   confirm
                          in the header lands far outside)                              outside
``spacing``               distance to the next level's centroid against the two         likewise
                          bodies' half heights and the disc between
``order``                 the levels follow each other head to pelvis along the spine  fail
``continuity``            no level missing between two named ones, no gap of a whole   fail
                          level between consecutive names, no overlap of two bodies
``components``            one connected piece per level (pieces under 2 % ignored)      confirm;
                                                                                        fail if a
                                                                                        piece lies
                                                                                        far away
``transitional``          an L6 (six lumbar vertebrae), or the sacrum's joint to the    confirm
                          ilia on the level named L5 (sacralised L5)
``field_of_view``         the scan cuts the level (its body reaches a face, or it       confirm,
                          shows a broad cut on the first or last slice): *partial*, no  partial
                          screw may be planned in it
``naming``                with the CT: the anchors in view (sacrum, lowest ribs, iliac  confirm;
                          crests; :mod:`spinefuse.imaging.level_anchors`) name the      fail when
                          levels as the map does                                        the whole
                                                                                        map is
                                                                                        shifted
========================  ===========================================================  ==========

A ``fail`` stops: the level (or the map) must not be measured or planned on. A
``needs_confirmation`` lets the run go on with the level flagged prominently, and the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field
from scipy import ndimage

from spinefuse.conventions import VERTEBRAE, vertebra_index
from spinefuse.datafiles import load_yaml
from spinefuse.errors import LabelMapError
from spinefuse.imaging.labels import Convention, label_boxes, vertebra_ids
from spinefuse.imaging.orientation import to_ras
from spinefuse.imaging.volume import Volume
from spinefuse.records import Record, Vec3

F64 = NDArray[np.float64]

CheckName = Literal[
    "volume",
    "height",
    "width",
    "depth",
    "spacing",
    "order",
    "continuity",
    "components",
    "transitional",
    "field_of_view",
    "naming",
]
Status = Literal["pass", "needs_confirmation", "fail"]
_RANK: dict[Status, int] = {"pass": 0, "needs_confirmation": 1, "fail": 2}

BODY_SHARE = 0.42
"""Front share of a vertebra's front-back extent taken as its body (lumbar vertebrae are
70-90 mm long front to back, their bodies 30-38 mm)."""
BODY_CUT_MM2 = 60.0
"""Least area of a body on a face of the scan for the scan to cut it (mm²; less is a spur or a
voxel of partial volume)."""
CUT_AREA_MM2 = 150.0
"""Least area of a level on the scan's first or last axial slice for the scan to cut it (mm²;
a cut through a body or an arch shows 300 mm² or more, the tip of a process less)."""
PIECE_SHARE = 0.02
"""Least share of a level's volume for a separate piece of it to count."""
FAR_PIECE_MM = 15.0
"""A piece farther than this from the level's main piece is not part of that vertebra (mm)."""
OVERLAP_MM = 6.0
"""Largest overlap along the spine of two consecutive bodies (mm; endplates are curved)."""
NAMING_FAIL_CONFIDENCE = 0.95
"""Naming confidence of the scan's anchors above which a whole map shifted against them fails."""
SHIFT_SHARE = 0.8
"""Share of the levels named with one and the same offset from the anatomy for the whole map
to be shifted."""
NAMING_MIN_ML = 10.0
"""Least volume of a level for its name to be checked against the anatomy (ml); a fragment at
the scan's edge is named by its neighbours."""
NAMING_WORKING_MM = 2.0
"""Voxel size (mm) of the built-in segmentation the naming check runs: the check reads the
anchors and which of its levels covers most of each named level, not the levels' outlines, so
it needs neither the segmentation's finer analysis grid (1.5 mm) nor its outline found again
on the scan's own grid (a third of the time of the default segmentation; the same verdicts on
every real CT and its shifted, swapped, truncated and cropped copies)."""


class GateCheck(Record):
    """One check on one level (or on the whole map): its status, the value measured, the
    range it was held to (``low``-``high``, in ``unit``) and the reason in words."""

    check: CheckName
    status: Status
    value: float | None = None
    low: float | None = None
    high: float | None = None
    unit: str = ""
    reason: str = ""


class LevelVerdict(Record):
    """The gate's verdict on one level: the worst of its checks, whether the scan cuts it
    (``partial``: measure it if you must, never plan a screw in it), its measurements and the
    checks themselves."""

    name: str
    status: Status
    partial: bool
    volume_ml: float = Field(ge=0.0)
    height_mm: float | None = None
    width_mm: float | None = None
    depth_mm: float | None = None
    spacing_mm: float | None = None
    """Distance to the next level's centroid toward the head (mm)."""
    centroid: Vec3
    checks: tuple[GateCheck, ...]

    @property
    def plannable(self) -> bool:
        """Whether a screw may be planned in this level: it passed or needs only
        confirmation, and the scan does not cut it."""
        return self.status != "fail" and not self.partial

    def failed(self) -> tuple[GateCheck, ...]:
        return tuple(c for c in self.checks if c.status == "fail")


class GateVerdict(Record):
    """The gate's verdict on a label map: the worst status over levels and map-wide checks,
    the levels head to pelvis, the map-wide checks, and one line per finding for the reports
    (``messages``)."""

    status: Status
    levels: tuple[LevelVerdict, ...]
    checks: tuple[GateCheck, ...] = ()
    messages: tuple[str, ...] = ()

    def level(self, name: str) -> LevelVerdict:
        """The verdict on vertebra ``name``."""
        for lv in self.levels:
            if lv.name == name:
                return lv
        raise LabelMapError(
            f"{name} is not in the gated label map; levels: "
            + ", ".join(lv.name for lv in self.levels)
        )

    def raise_on_fail(self, source: str = "label map") -> None:
        """Stop with a :class:`LabelMapError` naming each failing level and check."""
        if self.status != "fail":
            return
        lines = [m for m in self.messages if m.startswith("FAIL")]
        raise LabelMapError(f"{source} failed the quality gate:\n  " + "\n  ".join(lines))


@cache
def ranges() -> dict[str, Any]:
    """``data/vertebra_ranges.yaml``: adult vertebral dimensions by level."""
    data: dict[str, Any] = load_yaml("vertebra_ranges.yaml")
    return data


def _worst(statuses: list[Status]) -> Status:
    return max(statuses, key=lambda s: _RANK[s], default="pass")


def _size_check(check: CheckName, key: str, name: str, value: float | None, unit: str) -> GateCheck:
    table = ranges()
    block = table[key]
    if value is None:
        return GateCheck(check=check, status="pass", unit=unit, reason="not measured")
    if name not in block["mean"]:
        return GateCheck(
            check=check, status="pass", value=value, unit=unit, reason=f"no adult range for {name}"
        )
    mean, sd = float(block["mean"][name]), float(block["sd"][name])
    f, k = float(table["fail_factor"]), float(table["confirm_sd"])
    lo, hi = mean - k * sd, mean + k * sd
    # a fractured body keeps a third of its height or less: low heights are for the surgeon
    floor = mean / f if check != "height" else mean * float(table["fracture_floor"])
    if not floor <= value <= mean * f:
        status: Status = "fail"
        reason = (
            f"{check} {value:.1f} {unit} is far outside the adult {name} range "
            f"({mean:.0f} +/- {sd:.1f} {unit}); check the voxel size in the header and that "
            "this label is a vertebra"
        )
        lo, hi = floor, mean * f
    elif not lo <= value <= hi:
        status = "needs_confirmation"
        reason = (
            f"{check} {value:.1f} {unit} is outside the adult {name} range {lo:.0f}-{hi:.0f} {unit}"
        )
        if check == "height" and value < lo:
            reason += " (a fractured or wedged body?)"
    else:
        status, reason = "pass", ""
    return GateCheck(
        check=check, status=status, value=value, low=lo, high=hi, unit=unit, reason=reason
    )


def cut_by_scan(labels: NDArray[np.integer], bodies: NDArray[np.integer], spacing: F64) -> set[int]:
    """IDs of the levels the scan cuts, on an RAS-ordered grid: those whose body shows
    :data:`BODY_CUT_MM2` or more on any face of the image, or that show :data:`CUT_AREA_MM2` or
    more on its first or last axial slice. A transverse or spinous process cut at a side face
    leaves the body and pedicles whole."""
    out: set[int] = set()
    for ax in range(3):
        face_px = float(np.prod(np.delete(spacing, ax)))
        for end in (0, -1):
            counts = np.bincount(np.take(bodies, end, axis=ax).ravel().clip(0))
            out |= set(np.flatnonzero(counts * face_px >= BODY_CUT_MM2).tolist())
    pixel = float(spacing[0] * spacing[1])
    for end in (0, -1):
        counts = np.bincount(np.take(labels, end, axis=2).ravel().clip(0))
        out |= set(np.flatnonzero(counts * pixel >= CUT_AREA_MM2).tolist())
    return out - {0}


def _frames(centroids: F64) -> tuple[F64, F64, F64]:
    """Per level (head to pelvis order): unit cranial tangent, anterior and lateral (right)
    directions of the spine, from the neighbouring centroids (world +z and +y when alone)."""
    n = len(centroids)
    up = np.array([0.0, 0.0, 1.0])
    if n >= 2:
        grad = -np.gradient(centroids, axis=0)  # rows go head to pelvis, so minus is cranial
        tang = grad / np.maximum(np.linalg.norm(grad, axis=1, keepdims=True), 1e-9)
        tang = np.where((tang @ up)[:, None] < 0, -tang, tang)
    else:
        tang = up[None, :].repeat(n, axis=0)
    y = np.array([0.0, 1.0, 0.0])
    ant = y[None, :] - (tang @ y)[:, None] * tang
    ant /= np.maximum(np.linalg.norm(ant, axis=1, keepdims=True), 1e-9)
    lat = np.cross(ant, tang)
    return tang, ant, lat


def measure(points: F64, tang: F64, ant: F64, lat: F64) -> tuple[float, float, float, F64]:
    """Body height, width, depth (mm) and body centroid of one vertebra's voxel centres
    (world mm): the body is the front :data:`BODY_SHARE` of the vertebra's front-back extent;
    its height is measured through its middle (the central fifth of width and depth)."""
    centre = points.mean(axis=0)
    rel = points - centre
    a, t, l_ = rel @ ant, rel @ tang, rel @ lat
    a_lo, a_hi = np.percentile(a, [1.0, 99.0])
    body = a >= a_hi - BODY_SHARE * (a_hi - a_lo)
    ab, tb, lb = a[body], t[body], l_[body]
    depth = float(np.percentile(ab, 99.0) - np.percentile(ab, 1.0))
    width = float(np.percentile(lb, 99.0) - np.percentile(lb, 1.0))
    ac, lc = np.median(ab), np.median(lb)
    core = (np.abs(ab - ac) <= 0.1 * max(depth, 1.0)) & (np.abs(lb - lc) <= 0.1 * max(width, 1.0))
    tc = tb[core] if core.sum() >= 3 else tb
    height = float(np.percentile(tc, 99.0) - np.percentile(tc, 1.0))
    return height, width, depth, points[body].mean(axis=0)


@dataclass(frozen=True)
class NamingChecks:
    """What the naming check found: the checks on each level (``levels``, in the order of
    ``names``, head to pelvis) and on the whole map (``map``)."""

    names: tuple[str, ...]
    levels: tuple[tuple[GateCheck, ...], ...]
    map: tuple[GateCheck, ...]


def naming_checks(labels: Volume, convention: Convention, image: Volume) -> NamingChecks:
    """The naming check of :func:`gate_label_map` on its own: the anchors the built-in back-end
    finds in the CT ``image`` against the names of ``labels``. It is the gate's costly part (a
    whole segmentation of the CT), so a caller may run it beside other work and hand its result
    to :func:`gate_label_map` (``naming``)."""
    ids = vertebra_ids(to_ras(labels), convention)
    names = list(ids)
    level_checks: list[list[GateCheck]] = [[] for _ in names]
    global_checks: list[GateCheck] = []
    _naming(labels, image, ids, names, level_checks, global_checks)
    return NamingChecks(
        names=tuple(names),
        levels=tuple(tuple(c) for c in level_checks),
        map=tuple(global_checks),
    )


def gate_label_map(
    labels: Volume,
    convention: Convention = "totalseg",
    image: Volume | None = None,
    check_naming: bool = True,
    naming: NamingChecks | None = None,
) -> GateVerdict:
    """The gate's verdict on ``labels`` (any storage order; vertebra IDs of ``convention``).

    With the CT (``image``, same grid as the labels) the built-in back-end's anchors check the
    naming too (``check_naming``); without it the naming is taken as given and said so.
    ``naming``, the result of :func:`naming_checks` on the same labels and CT, stands in for
    running that check here (the verdict is the same)."""
    ras = to_ras(labels)
    ids = vertebra_ids(ras, convention)  # head to pelvis
    arr = np.asarray(ras.array)
    names = list(ids)
    spacing = ras.spacing
    voxel_ml = float(np.prod(spacing)) / 1000.0
    # each level's box of the map, found in one pass: a level is searched in its box alone
    boxes = _level_boxes(arr, ids)
    pts_all, vols, cents, ijks = [], [], [], []
    for name in names:  # a few levels, each vectorised
        box = boxes[name]
        ijk = np.argwhere(arr[box] == ids[name]) + np.array([s.start for s in box])
        ijks.append(ijk)
        pts_all.append(ras.voxel_to_world(ijk.astype(float)))
        vols.append(len(ijk) * voxel_ml)
        cents.append(pts_all[-1].mean(axis=0))
    centroids = np.asarray(cents)
    tang, ant, lat = _frames(centroids)
    dims = [measure(p, tang[k], ant[k], lat[k]) for k, p in enumerate(pts_all)]
    # body masks on the grid, for the field-of-view check
    bodies = np.zeros(arr.shape, dtype=np.int32)
    for k, name in enumerate(names):
        ijk = ijks[k]
        rel = pts_all[k] - pts_all[k].mean(axis=0)
        a = rel @ ant[k]
        a_lo, a_hi = np.percentile(a, [1.0, 99.0])
        sel = a >= a_hi - BODY_SHARE * (a_hi - a_lo)
        bodies[tuple(ijk[sel].T)] = ids[name]
    cut = cut_by_scan(arr, bodies, spacing)
    level_checks: list[list[GateCheck]] = [[] for _ in names]
    global_checks: list[GateCheck] = []
    for k, name in enumerate(names):
        h, w, d, _ = dims[k]
        partial = ids[name] in cut
        if partial:
            level_checks[k].append(
                GateCheck(
                    check="field_of_view",
                    status="needs_confirmation",
                    reason=f"{name} is cut by the edge of the scan: partial, no screw may be "
                    "planned in it",
                )
            )
            # a cut level's size is what the scan kept of it: only a scale error shows
            for check, key, value, unit in (
                ("volume", "vertebra_volume_ml", vols[k], "ml"),
                ("width", "body_width_mm", w, "mm"),
                ("depth", "body_depth_mm", d, "mm"),
            ):
                c = _size_check(check, key, name, value, unit)  # type: ignore[arg-type]
                if c.status == "fail" and value > float(ranges()[key]["mean"].get(name, 0.0)):
                    level_checks[k].append(c)
            continue
        for check, key, value, unit in (
            ("volume", "vertebra_volume_ml", vols[k], "ml"),
            ("height", "body_height_mm", h, "mm"),
            ("width", "body_width_mm", w, "mm"),
            ("depth", "body_depth_mm", d, "mm"),
        ):
            level_checks[k].append(_size_check(check, key, name, value, unit))  # type: ignore[arg-type]
    _components(arr, boxes, ids, names, spacing, voxel_ml, level_checks)
    spacing_mm = _order_and_continuity(
        names, centroids, tang, dims, cut, ids, level_checks, global_checks
    )
    _transitional(names, level_checks, global_checks)
    if naming is not None:
        if list(naming.names) != names:
            raise LabelMapError(
                f"the naming check was made on levels {', '.join(naming.names)}, this label "
                f"map has {', '.join(names)}: check the naming of this map itself"
            )
        for k, found in enumerate(naming.levels):
            level_checks[k].extend(found)
        global_checks.extend(naming.map)
    elif image is not None and check_naming:
        _naming(labels, image, ids, names, level_checks, global_checks)
    elif check_naming:
        global_checks.append(
            GateCheck(
                check="naming",
                status="pass",
                reason="naming taken as given: no CT to check it against the anatomy in view",
            )
        )
    verdicts = []
    for k, name in enumerate(names):
        h, w, d, body_c = dims[k]
        verdicts.append(
            LevelVerdict(
                name=name,
                status=_worst([c.status for c in level_checks[k]]),
                partial=ids[name] in cut,
                volume_ml=vols[k],
                height_mm=h,
                width_mm=w,
                depth_mm=d,
                spacing_mm=spacing_mm[k],
                centroid=(float(body_c[0]), float(body_c[1]), float(body_c[2])),
                checks=tuple(level_checks[k]),
            )
        )
    return _verdict(verdicts, global_checks)


def _verdict(verdicts: list[LevelVerdict], global_checks: list[GateCheck]) -> GateVerdict:
    """The map's verdict from its levels' and its own checks: the worst status, and a message
    per finding that is not a pass (levels head to pelvis, then the map's)."""
    messages = []
    for v in verdicts:
        for c in v.checks:
            if c.status != "pass":
                tag = "FAIL" if c.status == "fail" else "CONFIRM"
                messages.append(f"{tag} {v.name} {c.check}: {c.reason}")
    for c in global_checks:
        if c.status != "pass":
            tag = "FAIL" if c.status == "fail" else "CONFIRM"
            messages.append(f"{tag} map {c.check}: {c.reason}")
    status = _worst([v.status for v in verdicts] + [c.status for c in global_checks])
    return GateVerdict(
        status=status, levels=tuple(verdicts), checks=tuple(global_checks), messages=tuple(messages)
    )


def with_naming(verdict: GateVerdict, naming: NamingChecks) -> GateVerdict:
    """``verdict``, made without the naming check (``check_naming=False``), completed with the
    naming check's findings: the verdict :func:`gate_label_map` gives with ``naming``."""
    if tuple(lv.name for lv in verdict.levels) != naming.names:
        raise LabelMapError(
            f"the naming check was made on levels {', '.join(naming.names)}, the verdict has "
            f"{', '.join(lv.name for lv in verdict.levels)}: check the naming of this map itself"
        )
    levels = []
    for lv, found in zip(verdict.levels, naming.levels, strict=True):
        checks = (*lv.checks, *found)
        levels.append(
            lv.model_copy(update={"checks": checks, "status": _worst([c.status for c in checks])})
        )
    return _verdict(levels, [*verdict.checks, *naming.map])


def _level_boxes(arr: NDArray[np.integer], ids: dict[str, int]) -> dict[str, tuple[slice, ...]]:
    """Each level's bounding box in the map (an empty box for a level without voxels)."""
    found = label_boxes(arr, max(ids.values()))
    empty = tuple(slice(0, 0) for _ in range(arr.ndim))
    return {name: found[key - 1] or empty for name, key in ids.items()}


def _components(
    arr: NDArray[np.integer],
    boxes: dict[str, tuple[slice, ...]],
    ids: dict[str, int],
    names: list[str],
    spacing: F64,
    voxel_ml: float,
    checks: list[list[GateCheck]],
) -> None:
    """One connected piece per level (26-connected; pieces under :data:`PIECE_SHARE` of the
    level ignored)."""
    st = ndimage.generate_binary_structure(3, 3)
    for k, name in enumerate(names):
        lab, n = ndimage.label(arr[boxes[name]] == ids[name], structure=st)
        sizes = np.bincount(lab.ravel())[1:] * voxel_ml
        total = float(sizes.sum())
        big = np.flatnonzero(sizes >= PIECE_SHARE * total)
        if len(big) <= 1:
            checks[k].append(GateCheck(check="components", status="pass", value=1.0))
            continue
        main = int(np.argmax(sizes)) + 1
        dist = ndimage.distance_transform_edt(lab != main, sampling=spacing)
        far = [float(dist[lab == j + 1].min()) for j in big if j + 1 != main]
        status: Status = "fail" if max(far) > FAR_PIECE_MM else "needs_confirmation"
        checks[k].append(
            GateCheck(
                check="components",
                status=status,
                value=float(len(big)),
                high=1.0,
                reason=f"{name} is in {len(big)} pieces (the farthest {max(far):.0f} mm from the "
                "main one); a vertebra is one bone",
            )
        )


def _order_and_continuity(
    names: list[str],
    centroids: F64,
    tang: F64,
    dims: list[tuple[float, float, float, F64]],
    cut: set[int],
    ids: dict[str, int],
    checks: list[list[GateCheck]],
    global_checks: list[GateCheck],
) -> list[float | None]:
    """Order along the spine, missing levels, gaps and overlaps; the spacing of each level to
    the next one toward the head."""
    table = ranges()
    spacing_out: list[float | None] = [None] * len(names)
    if len(names) < 2:
        return spacing_out
    axis = centroids[0] - centroids[-1]
    axis /= max(float(np.linalg.norm(axis)), 1e-9)
    if axis[2] < 0:
        axis = -axis
    height = centroids @ axis  # names run head to pelvis: heights must fall
    for k in range(len(names) - 1):
        upper, lower = names[k], names[k + 1]
        if height[k + 1] >= height[k]:
            for j in (k, k + 1):
                checks[j].append(
                    GateCheck(
                        check="order",
                        status="fail",
                        reason=f"{lower} lies above {upper} along the spine: the labels are "
                        "swapped or misnamed",
                    )
                )
        missing = vertebra_index(lower) - vertebra_index(upper) - 1
        skipped = [
            v for v in VERTEBRAE[vertebra_index(upper) + 1 : vertebra_index(lower)] if v != "L6"
        ]
        if missing > 0 and skipped:
            global_checks.append(
                GateCheck(
                    check="continuity",
                    status="fail",
                    value=float(len(skipped)),
                    reason=f"{', '.join(skipped)} missing between {upper} and {lower}",
                )
            )
        dist = float(np.linalg.norm(centroids[k] - centroids[k + 1]))
        spacing_out[k + 1] = dist
        h_up, h_lo = dims[k][0], dims[k + 1][0]
        disc = table["disc_height_mm"]["mean"].get(lower)
        if disc is None or ids[upper] in cut or ids[lower] in cut:
            continue
        expected = 0.5 * (
            float(table["body_height_mm"]["mean"].get(upper, h_up))
            + float(table["body_height_mm"]["mean"].get(lower, h_lo))
        ) + float(disc)
        if len(skipped) == 0 and dist > 1.6 * expected:
            global_checks.append(
                GateCheck(
                    check="continuity",
                    status="fail",
                    value=dist,
                    high=1.6 * expected,
                    unit="mm",
                    reason=f"{upper} and {lower} are {dist:.0f} mm apart, a whole level more than "
                    f"adjacent vertebrae ({expected:.0f} mm): a level is unlabelled or misnamed",
                )
            )
        elif dist < 0.5 * expected:
            global_checks.append(
                GateCheck(
                    check="continuity",
                    status="fail",
                    value=dist,
                    low=0.5 * expected,
                    unit="mm",
                    reason=f"{upper} and {lower} are only {dist:.0f} mm apart (adjacent vertebrae "
                    f"{expected:.0f} mm): two labels overlap on one vertebra",
                )
            )
        else:
            # down to the bodies touching (a disc collapsed by degeneration, common in the
            # patients planned here), up to a disc of one and a half times the mean
            lo, hi = 0.5 * (h_up + h_lo), 1.35 * expected
            status: Status = "pass" if lo <= dist <= hi else "needs_confirmation"
            checks[k + 1].append(
                GateCheck(
                    check="spacing",
                    status=status,
                    value=dist,
                    low=lo,
                    high=hi,
                    unit="mm",
                    reason=""
                    if status == "pass"
                    else f"{lower} to {upper} is {dist:.0f} mm; adjacent vertebrae are "
                    f"{lo:.0f}-{hi:.0f} mm apart",
                )
            )
        # the bodies must not overlap along the spine by more than the endplates' curvature
        gap = (height[k] - 0.5 * h_up) - (height[k + 1] + 0.5 * h_lo)
        if gap < -OVERLAP_MM:
            checks[k + 1].append(
                GateCheck(
                    check="continuity",
                    status="needs_confirmation",
                    value=float(gap),
                    low=-OVERLAP_MM,
                    unit="mm",
                    reason=f"the bodies of {lower} and {upper} overlap by {-gap:.0f} mm along "
                    "the spine",
                )
            )
    return spacing_out


def _transitional(
    names: list[str], checks: list[list[GateCheck]], global_checks: list[GateCheck]
) -> None:
    """Six lumbar vertebrae (an L6) need the surgeon's count."""
    if "L6" in names:
        k = names.index("L6")
        checks[k].append(
            GateCheck(
                check="transitional",
                status="needs_confirmation",
                reason="six lumbar vertebrae (L6): transitional anatomy; confirm the count from "
                "the first cervical or the lowest rib-bearing vertebra before planning",
            )
        )


def _naming(
    labels: Volume,
    image: Volume,
    ids: dict[str, int],
    names: list[str],
    checks: list[list[GateCheck]],
    global_checks: list[GateCheck],
) -> None:
    """The anchors in the CT (through the built-in back-end) against the map's names."""
    from spinefuse.imaging.builtin_ct import BuiltinCTBackend
    from spinefuse.imaging.labels import on_grid

    try:
        # names and anchors are settled on the working grid; the majority vote below needs no
        # outline to the voxel
        seg = BuiltinCTBackend(fine_outline=False, working_mm=2.5).segment(image)
    except Exception as err:  # noqa: BLE001 - any failure leaves the naming unchecked, said so
        global_checks.append(
            GateCheck(
                check="naming",
                status="needs_confirmation",
                reason=f"the naming could not be checked against the scan ({err})",
            )
        )
        return
    rep = seg.report
    if rep.needs_anchor:
        global_checks.append(
            GateCheck(
                check="naming",
                status="pass",
                reason="the scan holds no anchor that names its levels; naming taken as given",
            )
        )
        return
    ours = on_grid(seg.labels, labels, resample=True).array
    theirs = np.asarray(labels.array)
    by_id = {f.label_id: f.name for f in rep.levels}
    offsets = []
    voxel_ml = float(np.prod(labels.spacing)) / 1000.0
    for k, name in enumerate(names):
        mask = theirs == ids[name]
        if mask.sum() * voxel_ml < NAMING_MIN_ML:
            continue
        vals, counts = np.unique(ours[mask], return_counts=True)
        keep = vals > 0
        if not keep.any():
            continue
        seen = by_id.get(int(vals[keep][np.argmax(counts[keep])]))
        if seen is None or seen == name:
            offsets.append(0)
            continue
        off = vertebra_index(seen) - vertebra_index(name)
        offsets.append(off)
        anchors = ", ".join(f"{a.kind} at {a.level}" for a in rep.anchors)
        checks[k].append(
            GateCheck(
                check="naming",
                status="needs_confirmation",
                value=float(off),
                reason=f"the anatomy in view ({anchors}) names this vertebra {seen}, the label "
                f"map calls it {name}",
            )
        )
    if offsets:
        values, counts = np.unique(np.asarray(offsets), return_counts=True)
        common = int(values[np.argmax(counts)])
        if common != 0 and counts.max() >= SHIFT_SHARE * len(offsets):
            status: Status = (
                "fail" if rep.naming_confidence >= NAMING_FAIL_CONFIDENCE else "needs_confirmation"
            )
            global_checks.append(
                GateCheck(
                    check="naming",
                    status=status,
                    value=float(common),
                    reason=f"the levels are named {abs(common)} level(s) "
                    f"{'too high' if common > 0 else 'too low'} against the anatomy in view "
                    f"(naming confidence {rep.naming_confidence:.2f}): the label map is shifted",
                )
            )
    sacrum = [a for a in rep.anchors if a.kind == "sacrum"]
    if sacrum and "L5" in names and sacrum[0].level == "L5":
        global_checks.append(
            GateCheck(
                check="transitional",
                status="needs_confirmation",
                reason="the vertebra named L5 is joined to both ilia: sacralised L5?",
            )
        )
