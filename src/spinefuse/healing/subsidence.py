"""Early cage subsidence: the cage settles into the endplate when the endplate pressure exceeds a
bone-density-dependent yield pressure, and the settling happens over the first months.

Yield pressure: trabecular yield strength from apparent density (``coefficient * rho^exponent``,
MPa, rho from HU) times an endplate factor for the cortical shell. Settlement grows with the
logarithm of the overload, as a crushable foam densifies under the cage:
``delta_inf = compliance * ln(p / p_yield)+`` (capped), approached as
``delta(t) = delta_inf * (1 - exp(-t / tau))`` with tau of a few weeks, so it is complete by
about three months, as observed clinically.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from spinefuse.healing.parameters import HealingParameters

FloatArray = NDArray[np.float64]


def apparent_density(trabecular_hu: FloatArray, params: HealingParameters) -> FloatArray:
    """Trabecular apparent density (g/cm³) from HU, floored at a small positive value."""
    rho: FloatArray = params.hu_density_intercept + params.hu_density_slope * np.asarray(
        trabecular_hu, dtype=float
    )
    return np.maximum(rho, 0.01)


def endplate_yield_pressure(trabecular_hu: FloatArray, params: HealingParameters) -> FloatArray:
    """Pressure (MPa) at which a cage starts to sink into the endplate, from trabecular HU."""
    rho = apparent_density(trabecular_hu, params)
    p: FloatArray = (
        params.endplate_factor * params.yield_coefficient_mpa * rho**params.yield_exponent
    )
    return p


def final_settlement_mm(
    peak_pressure_mpa: FloatArray, yield_pressure_mpa: FloatArray, params: HealingParameters
) -> FloatArray:
    """Settlement (mm) the cage reaches once it has stopped sinking; zero below yield."""
    ratio = np.maximum(peak_pressure_mpa / yield_pressure_mpa, 1.0)  # no cage load: no settling
    overload = np.log(ratio)
    d: FloatArray = np.minimum(params.settlement_compliance_mm * overload, params.max_settlement_mm)
    return d


def settlement_at(
    final_mm: FloatArray, days: FloatArray | float, params: HealingParameters
) -> FloatArray:
    """Settlement (mm) reached after ``days``: exponential approach to ``final_mm``."""
    tau = params.settlement_time_constant_days
    d: FloatArray = final_mm * (1.0 - np.exp(-np.asarray(days, dtype=float) / tau))
    return d
