"""The standard normal distribution's density, distribution and survival functions.

The same arithmetic as ``scipy.stats.norm`` with its default location and scale (``ndtr`` and
the density's closed form), without importing ``scipy.stats``, whose import alone takes longer
than a patient's whole forecast.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import ndtr

_SQRT_2PI = np.sqrt(2 * np.pi)


def pdf(x: Any) -> Any:
    """Density of the standard normal at ``x`` (array or scalar)."""
    x = np.asarray(x, dtype=float)
    return _value(np.exp(-(x**2) / 2.0) / _SQRT_2PI)


def cdf(x: Any) -> Any:
    """P(Z <= x) for a standard normal Z (array or scalar)."""
    return _value(ndtr(np.asarray(x, dtype=float)))


def sf(x: Any) -> Any:
    """P(Z > x) for a standard normal Z (array or scalar)."""
    return _value(ndtr(-np.asarray(x, dtype=float)))


def _value(out: Any) -> Any:
    out = np.asarray(out, dtype=float)
    return out[()] if out.ndim == 0 else out
