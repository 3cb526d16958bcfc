"""Rod fatigue: Miner's linear damage sum over the daily load spectrum with a Basquin S–N law.

Each load case loads the rod from rest to its peak stress and back (a 0 → sigma cycle, so the
amplitude and the mean are both sigma/2). The Goodman relation turns that into the equivalent
fully reversed amplitude ``sigma_a / (1 - sigma_m / sigma_u)``; Basquin gives the cycles to
failure ``N = 0.5 * (sigma_ar / sigma_f')^(1/b)``; Miner adds ``n / N`` over cases and days and
the rod breaks when the sum reaches 1.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from spinefuse.healing.parameters import RodMaterial
from spinefuse.healing.tissue import _last_axis_sum

FloatArray = NDArray[np.float64]


def equivalent_amplitude_mpa(peak_stress_mpa: FloatArray, material: RodMaterial) -> FloatArray:
    """Goodman-equivalent fully reversed amplitude (MPa) of a 0 → peak stress cycle; infinite
    when the peak reaches twice the ultimate strength (the mean alone would break the rod)."""
    half = 0.5 * np.abs(np.asarray(peak_stress_mpa, dtype=float))
    margin = 1.0 - half / material.ultimate_strength_mpa
    with np.errstate(divide="ignore"):
        out: FloatArray = np.where(margin > 0, half / np.maximum(margin, 1e-12), np.inf)
    return out


def cycles_to_failure(amplitude_mpa: FloatArray, material: RodMaterial) -> FloatArray:
    """Basquin life (cycles) at a fully reversed amplitude (MPa); infinite at zero stress."""
    a = np.asarray(amplitude_mpa, dtype=float)
    with np.errstate(divide="ignore", over="ignore"):
        ratio = np.where(a > 0, a / material.fatigue_coefficient_mpa, 0.0)
        n: FloatArray = np.where(
            ratio > 0,
            0.5 * np.power(np.maximum(ratio, 1e-300), 1.0 / material.basquin_exponent),
            np.inf,
        )
    return n


def damage_per_day(
    peak_stress_mpa: FloatArray,
    cycles_per_day: FloatArray,
    material: RodMaterial,
    life_factor: FloatArray | float = 1.0,
) -> FloatArray:
    """Miner damage accumulated in one day, ``(N,)``, from peak rod stresses ``(N, C)`` under
    ``cycles_per_day`` ``(C,)``; ``life_factor`` ``(N,)`` scales each member's S–N lives
    (scatter between rods)."""
    life = cycles_to_failure(equivalent_amplitude_mpa(peak_stress_mpa, material), material)
    life = life * np.asarray(life_factor, dtype=float)[..., None]
    d: FloatArray = _last_axis_sum(cycles_per_day / life)
    return d
