"""The mechanics' fused-segment response as the healing stage reads it, and its interpolation
over fusion states.

:func:`spinefuse.mechanics.fused_segment_response` evaluates the instrumented spine on a grid of
``k`` fusion states for ``n`` patients; every field is an array of shape ``(n, k, C)`` over the
``C`` fusion load cases (:data:`~spinefuse.healing.parameters.LOAD_CASES`). The healing stage
needs the response at each ensemble member's current fusion state, so it interpolates linearly
between grid states, all members at once. The grid must start at 0 (graft without stiffness) and
end at 1 (a mature bone bridge); it should be dense near 0, where the response changes fastest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from spinefuse.errors import ParameterError
from spinefuse.healing.parameters import LOAD_CASES

FloatArray = NDArray[np.float64]

FUSION_GRID: FloatArray = np.array([0.0, 0.05, 0.12, 0.22, 0.35, 0.5, 0.7, 1.0])
"""The fusion states at which the healing stage asks the mechanics for its response, for one
patient and for cohorts alike. Chosen by convergence against a 39-state grid
(tests/healing/test_convergence.py): fusion, subsidence and rod-fracture probabilities within
0.01, median stiffness, motion and rod-stress courses within 10 % (8.5 % and 8.7 % at worst;
the motion falls 2.3-fold between 0.45 and 0.7, so the middle states sit closer together there
than on a 0.45/0.7 grid, which was 11 % off)."""

FIELDS = (
    "segment_rotation_rad",
    "graft_strain",
    "graft_fluid_velocity_um_s",
    "rod_moment_nmm",
    "rod_stress_mpa",
    "cage_pressure_mpa",
)
"""The per-load-case fields the healing stage reads, in the order of the stacked table."""


class FusionResponseLike(Protocol):
    """What the healing stage reads from ``spinefuse.mechanics.FusionResponse``."""

    @property
    def segment_rotation_rad(self) -> FloatArray: ...
    @property
    def graft_strain(self) -> FloatArray: ...
    @property
    def graft_fluid_velocity_um_s(self) -> FloatArray: ...
    @property
    def rod_moment_nmm(self) -> FloatArray: ...
    @property
    def rod_stress_mpa(self) -> FloatArray: ...
    @property
    def cage_pressure_mpa(self) -> FloatArray: ...
    @property
    def segment_stiffness_nmm_per_rad(self) -> FloatArray: ...
    @property
    def fusion_fraction(self) -> FloatArray: ...
    @property
    def segments(self) -> Sequence[str]: ...


@dataclass(frozen=True)
class ResponseTable:
    """A validated response stacked for interpolation.

    ``values`` is ``(n, k, F, C)`` over the fields :data:`FIELDS`; ``stiffness`` is ``(n, k)``
    (flexion stiffness, N·mm/rad); ``grid`` is ``(k,)``."""

    grid: FloatArray
    values: FloatArray
    stiffness: FloatArray
    segments: tuple[str, ...]

    @property
    def patients(self) -> int:
        return int(self.values.shape[0])

    def at(self, patient: NDArray[np.intp], fusion_fraction: FloatArray) -> FloatArray:
        """Every field at each member's fusion state: ``(N, F, C)`` for ``patient`` and
        ``fusion_fraction`` of shape ``(N,)`` (linear between grid states)."""
        return interpolate(self.grid, self.values, patient, fusion_fraction)

    def stiffness_at(self, patient: NDArray[np.intp], fusion_fraction: FloatArray) -> FloatArray:
        """Segment flexion stiffness (N·mm/rad) at each member's fusion state, ``(N,)``."""
        return interpolate(self.grid, self.stiffness, patient, fusion_fraction)


def interpolate(
    grid: FloatArray, values: FloatArray, patient: NDArray[np.intp], x: FloatArray
) -> FloatArray:
    """``values`` ``(n, k, ...)`` tabulated on ``grid`` ``(k,)``, read for each member at its
    patient and fusion state ``x`` ``(N,)``, linearly between grid states: ``(N, ...)``."""
    x = np.clip(x, 0.0, 1.0)
    j = np.clip(np.searchsorted(grid, x, side="right") - 1, 0, grid.size - 2)
    w = (x - grid[j]) / (grid[j + 1] - grid[j])
    w = w.reshape(w.shape + (1,) * (values.ndim - 2))
    lo = values[patient, j]
    out: FloatArray = lo + w * (values[patient, j + 1] - lo)
    return out


def response_table(response: FusionResponseLike) -> ResponseTable:
    """Check a fusion response's shapes and grid and stack it for interpolation.

    Raises :class:`~spinefuse.errors.ParameterError` naming the field and shape when the
    response does not follow the contract."""
    grid = np.asarray(response.fusion_fraction, dtype=float)
    if grid.ndim != 1 or grid.size < 2:
        raise ParameterError(
            f"fusion response: fusion_fraction has shape {grid.shape}; need a 1-D grid of at "
            "least two fusion states"
        )
    if grid[0] != 0.0 or grid[-1] != 1.0 or np.any(np.diff(grid) <= 0):
        raise ParameterError(
            f"fusion response: fusion_fraction = {grid.tolist()} must rise strictly from 0 to 1"
        )
    first = np.asarray(response.graft_strain)
    if first.ndim != 3 or first.shape[1:] != (grid.size, len(LOAD_CASES)):
        raise ParameterError(
            f"fusion response: graft_strain has shape {first.shape}; expected (n, {grid.size}, "
            f"{len(LOAD_CASES)}) for the load cases {LOAD_CASES}"
        )
    n = first.shape[0]
    stacked = []
    for name in FIELDS:
        a = np.asarray(getattr(response, name), dtype=float)
        if a.shape != first.shape:
            raise ParameterError(
                f"fusion response: {name} has shape {a.shape}; expected {first.shape}"
            )
        if not np.all(np.isfinite(a)):
            raise ParameterError(f"fusion response: {name} holds non-finite values")
        stacked.append(a)
    values = np.stack(stacked, axis=2)
    stiffness = np.asarray(response.segment_stiffness_nmm_per_rad, dtype=float)
    if stiffness.ndim == 3:  # per load case: the contract's stiffness is the flexion one
        stiffness = stiffness[..., LOAD_CASES.index("flexion")]
    if stiffness.shape != (n, grid.size):
        raise ParameterError(
            f"fusion response: segment_stiffness_nmm_per_rad has shape {stiffness.shape}; "
            f"expected ({n}, {grid.size})"
        )
    segments = tuple(response.segments)
    if len(segments) != n:
        raise ParameterError(
            f"fusion response: {len(segments)} segments named for {n} patients; name the fused "
            "segment of every patient"
        )
    return ResponseTable(grid=grid, values=values, stiffness=stiffness, segments=segments)
