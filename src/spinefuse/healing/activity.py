"""The daily load spectrum after surgery: how many cycles of each load case a patient goes
through each day, given the post-operative restrictions and the return to walking."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from spinefuse.healing.parameters import LOAD_CASES, HealingParameters
from spinefuse.healing.tissue import _last_axis_sum

FloatArray = NDArray[np.float64]


def cycle_schedule(days: float, params: HealingParameters, dt_days: float = 1.0) -> FloatArray:
    """Load cycles per day of each load case for each time step, ``(steps, C)``.

    Bending, flexion and twisting are cut to ``restricted_fraction`` of their unrestricted
    count until the restriction ends; walking ramps linearly from ``walking_initial_fraction``
    to full over ``walking_ramp_days``."""
    t = np.arange(0.0, days, dt_days)
    cycles = np.tile(params.cycles_per_day, (t.size, 1))
    restricted = np.array([c in params.restricted_cases for c in LOAD_CASES])
    during = t < params.restriction_days
    cycles[np.ix_(during, restricted)] *= params.restricted_fraction
    if params.walking_ramp_days > 0:
        ramp = np.clip(t / params.walking_ramp_days, 0.0, 1.0)
        share = params.walking_initial_fraction + (1.0 - params.walking_initial_fraction) * ramp
        cycles[:, LOAD_CASES.index("walking")] *= share
    return cycles


def daily_stimulus(stimulus: FloatArray, cycles: FloatArray, exponent: float) -> FloatArray:
    """Cycle-weighted power mean of per-load-case stimuli (Carter's daily stimulus form).

    ``stimulus`` is ``(..., C)``, ``cycles`` ``(C,)``; returns ``(...)``. A large exponent lets
    the few high-strain motions dominate the many gentle ones."""
    w = cycles / cycles.sum()
    if exponent == 4.0:  # the default: two squarings are exact and much faster than power()
        s2 = stimulus * stimulus
        out: FloatArray = np.sqrt(np.sqrt(_last_axis_sum(s2 * s2, w)))
        return out
    out = _last_axis_sum(np.power(stimulus, exponent), w) ** (1.0 / exponent)
    return out
