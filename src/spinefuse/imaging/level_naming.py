"""Naming the vertebrae found from anchors that are really in view, each with its confidence.

The levels found along the column are counted caudal to cranial (0 is the lowest in view). A
hypothesis names the lowest one; every anchor (the sacrum joined to the ilia, the lowest
rib-bearing vertebra, the iliac crest line, a level the user names) gives a probability to each
hypothesis from how often that anatomical landmark marks each level in adults
(``data/level_anchors.yaml``). The names are those of the most probable hypothesis; its
posterior probability is the naming's confidence. Without an anchor of its own (sacrum, ribs or
a named level), or when two anchors disagree, the result says it needs a named anchor: it is
then a guess, never to be planned on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np

from spinefuse.conventions import VERTEBRAE
from spinefuse.datafiles import load_yaml
from spinefuse.errors import LevelError
from spinefuse.imaging.segmentation import AnchorKind

NAMEABLE = tuple(v for v in VERTEBRAE if v != "L6")
"""Names the built-in back-end gives (TotalSegmentator has no L6; a sixth lumbar-type
vertebra is reported as transitional anatomy instead)."""


TIE_LOWEST = "L5"
"""The lowest level the guess takes among hypotheses nothing in view tells apart."""


@dataclass(frozen=True)
class AnchorHit:
    """An anchor found at level ``index`` (0 = lowest level in view): the kind, and the
    probability of each name for that level (from the data file, or 1.0 for a named level)."""

    kind: AnchorKind
    index: int
    names: dict[str, float]
    position: tuple[float, float, float] | None = None
    detail: str = ""

    @property
    def level(self) -> str:
        """The most likely name of the anchored level."""
        return max(self.names, key=lambda n: self.names[n])

    @property
    def reliability(self) -> float:
        return float(max(self.names.values()))


@dataclass(frozen=True)
class Naming:
    """Names of the levels, caudal to cranial, the posterior probability of that naming, and
    what the reader must be told (codes and texts, with the level concerned)."""

    names: tuple[str, ...]
    confidence: float
    needs_anchor: bool
    messages: tuple[tuple[str, str | None, str], ...] = field(default_factory=tuple)


@cache
def anchor_table() -> dict[str, Any]:
    """``data/level_anchors.yaml``: for each anchor kind the probabilities of the levels it
    marks."""
    data: dict[str, Any] = load_yaml("level_anchors.yaml")
    return data


def anchor_names(kind: str) -> dict[str, float]:
    """Probability of each level name for an anchor of ``kind`` (from the data file)."""
    entry = anchor_table()[kind]
    return {str(k): float(v) for k, v in entry["levels"].items()}


def named(kind: AnchorKind, index: int, name: str) -> AnchorHit:
    """A level the user names: certain."""
    if name not in NAMEABLE:
        raise LevelError(
            f"{name!r} cannot name a level: use one of C1…C7, T1…T12, L1…L5 or S1 (a "
            "sixth lumbar vertebra is named L5 with the transitional anatomy stated)"
        )
    return AnchorHit(kind=kind, index=index, names={name: 1.0})


SIZE_SD_LOG = 0.12
"""Spread of a body's width or depth about its level's adult mean, in log units, once the
patient's overall size is allowed for (about 12 %)."""
SCALE_SD_LOG = 0.12
"""Spread of a patient's overall body size about the adult mean, in log units."""


def size_log_likelihood(hyps: np.ndarray, sizes: list[tuple[float, float] | None]) -> np.ndarray:
    """Log-likelihood of each naming hypothesis (``hyps[h]`` = index in :data:`NAMEABLE` of
    the lowest level) from the levels' body widths and depths (mm; None for a level the scan
    cuts), against the adult means in ``data/vertebra_ranges.yaml`` with the patient's overall
    size profiled out. Each dimension counts at most two spreads, and a name outside the table
    costs that much per dimension."""
    table = load_yaml("vertebra_ranges.yaml")
    width, depth = table["body_width_mm"]["mean"], table["body_depth_mm"]["mean"]
    out = np.zeros(len(hyps))
    for h, b in enumerate(hyps):
        logs, misses = [], 0
        for i, wd in enumerate(sizes):
            if wd is None:
                continue
            name = NAMEABLE[b - i]
            if name not in width:
                misses += 1
                continue
            logs += [np.log(wd[0] / width[name]), np.log(wd[1] / depth[name])]
        if not logs:
            out[h] = -2.0 * misses * 2.0
            continue
        r = np.asarray(logs)
        # the overall scale that best explains the sizes, held to its own prior
        k = SIZE_SD_LOG**2 / SCALE_SD_LOG**2
        scale = r.sum() / (len(r) + k)
        # each dimension counts at most two spreads: one odd body (a fracture, the sacrum's
        # alae) must not outweigh an anchor
        z2 = np.minimum(((r - scale) / SIZE_SD_LOG) ** 2, 4.0)
        out[h] = -0.5 * z2.sum() - 0.5 * (scale / SCALE_SD_LOG) ** 2 - 2.0 * misses * 2.0
    return out


def name_levels(
    n: int,
    anchors: list[AnchorHit],
    floor: float = 0.02,
    sizes: list[tuple[float, float] | None] | None = None,
) -> Naming:
    """Name ``n`` levels from ``anchors`` (see the module docstring). ``floor`` is the least
    probability an anchor leaves to a level it does not name (anatomy varies beyond the
    tabulated cases); a named level leaves none. ``sizes`` (body width and depth per level,
    mm) weigh the hypotheses by how well the bodies' sizes fit the adult means of the names
    (:func:`size_log_likelihood`): weak evidence, never an anchor of its own."""
    if n <= 0:
        return Naming(names=(), confidence=0.0, needs_anchor=True)
    # hypothesis b: the lowest level is NAMEABLE[b]; level i is NAMEABLE[b - i]
    hyps = np.arange(n - 1, len(NAMEABLE))
    logp = size_log_likelihood(hyps, sizes) if sizes is not None else np.zeros(len(hyps))
    for hit in anchors:
        certain = hit.kind in ("named_lowest", "named_point")
        for h, b in enumerate(hyps):
            name = NAMEABLE[b - hit.index]
            p = hit.names.get(name, 0.0 if certain else floor)
            logp[h] += np.log(p) if p > 0 else -np.inf
    if not np.isfinite(logp).any():
        raise LevelError("the named levels contradict each other: name one level only")
    post = np.exp(logp - logp.max())
    post /= post.sum()
    # hypotheses that tie (nothing in view tells them apart): the guess puts the levels in the
    # lumbar spine, which is what spinefuse reads, rather than at the first name counted (C1)
    tied = np.flatnonzero(post >= post.max() * (1.0 - 1e-9))
    best = int(tied[np.argmin(np.abs(hyps[tied] - NAMEABLE.index(TIE_LOWEST)))])
    chosen = int(hyps[best])
    names = tuple(NAMEABLE[chosen - i] for i in range(n))
    confidence = float(post[best])
    messages: list[tuple[str, str | None, str]] = []
    own = [a for a in anchors if a.kind in ("sacrum", "lowest_rib", "named_lowest", "named_point")]
    if not own:  # sizes alone never make a naming sure
        confidence = min(confidence, 0.5)
    user = any(a.kind in ("named_lowest", "named_point") for a in anchors)
    disagree = _disagreements(anchors, hyps, chosen)
    if disagree:
        messages.append(("anchors_disagree", None, disagree))
    needs = not user and (not own or confidence < 0.8 or bool(disagree))
    if needs:
        seen = ", ".join(sorted({f"{a.kind} at {a.level}" for a in anchors})) or "none"
        basis = "the bodies' sizes" if sizes is not None and not own else "the anchors"
        messages.append(
            (
                "needs_named_anchor",
                None,
                f"the levels cannot be named from this scan alone (anchors in view: {seen}); "
                f"best guess from {basis}: {names[0]} lowest, confidence {confidence:.2f}; name "
                "one level, e.g. the lowest in view (lowest_in_view: L3), before planning",
            )
        )
    return Naming(names=names, confidence=confidence, needs_anchor=needs, messages=tuple(messages))


def _disagreements(anchors: list[AnchorHit], hyps: np.ndarray, chosen: int) -> str:
    """Text naming the anchors whose own most likely level differs from the chosen naming."""
    out = []
    for hit in anchors:
        own = NAMEABLE.index(hit.level) + hit.index
        if own != chosen and hit.reliability >= 0.5:
            implied = NAMEABLE[chosen - hit.index]
            out.append(f"{hit.kind} marks {hit.level} where the naming has {implied}")
    del hyps
    return "; ".join(out)
