"""Peaks of a 1-D profile: local maxima at least ``height`` high, the highest first kept where
two lie closer than ``distance`` samples.

The same selection as ``scipy.signal.find_peaks(x, height=..., distance=...)`` (a flat top is a
peak at its middle sample, the first and last samples never are), without importing
``scipy.signal``, which brings ``scipy.stats`` with it and costs a run more than its peaks.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def find_peaks(
    x: ArrayLike, height: float, distance: float = 1.0
) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    """Sample indices of the peaks of profile ``x`` (ascending) and their values."""
    if distance < 1:
        raise ValueError(f"distance = {distance}: must be at least 1 sample")
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"a profile is 1-D; got shape {x.shape}")
    peaks = _local_maxima(x)
    peaks = peaks[x[peaks] >= height]
    peaks = peaks[_apart(peaks, x[peaks], distance)]
    return peaks, x[peaks]


def _local_maxima(x: NDArray[np.float64]) -> NDArray[np.intp]:
    """The middle sample of every run of equal values with a lower value on both sides."""
    if x.size < 3:
        return np.zeros(0, dtype=np.intp)
    start = np.flatnonzero(np.concatenate(([True], x[1:] != x[:-1])))
    end = np.concatenate((start[1:] - 1, [x.size - 1]))
    value = x[start]
    inner = np.arange(1, start.size - 1)
    top = (value[inner - 1] < value[inner]) & (value[inner + 1] < value[inner])
    k = inner[top]
    return np.asarray((start[k] + end[k]) // 2, dtype=np.intp)


def _apart(
    peaks: NDArray[np.intp], priority: NDArray[np.float64], distance: float
) -> NDArray[np.bool_]:
    """Which peaks stay when, from the highest down, each removes the kept-so-far lower peaks
    closer than ``distance`` samples (a loop over the peaks, a few per profile)."""
    step = np.ceil(distance)
    keep = np.ones(peaks.size, dtype=bool)
    for j in np.argsort(priority)[::-1]:
        if not keep[j]:
            continue
        k = j - 1
        while k >= 0 and peaks[j] - peaks[k] < step:
            keep[k] = False
            k -= 1
        k = j + 1
        while k < peaks.size and peaks[k] - peaks[j] < step:
            keep[k] = False
            k += 1
    return keep
