"""The profile peaks are scipy.signal.find_peaks' (height and distance) to the sample."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import find_peaks as scipy_find_peaks

from spinefuse.imaging.peaks import find_peaks


def test_flat_tops_edges_and_distance() -> None:
    x = [3.0, 1.0, 2.0, 2.0, 2.0, 0.0, 5.0, 4.0, 4.5, 0.0, 1.0, 1.0]
    peaks, heights = find_peaks(x, 0.0, 1)
    # the flat top 2-4 peaks at its middle; the first sample and the last flat run never do
    assert peaks.tolist() == [3, 6, 8]
    assert heights.tolist() == [2.0, 5.0, 4.5]
    # within 3 samples of the highest (6) the lower peaks go
    assert find_peaks(x, 0.0, 3)[0].tolist() == [3, 6]
    assert find_peaks(x, 2.5, 1)[0].tolist() == [6, 8]


@pytest.mark.parametrize("kind", ["integers", "rounded", "continuous"])
def test_same_peaks_as_scipy(kind: str) -> None:
    rng = np.random.default_rng(7)
    for _ in range(2000):
        n = int(rng.integers(0, 50))
        if kind == "integers":  # many ties and flat tops
            x = rng.integers(0, 5, n).astype(float)
        elif kind == "rounded":
            x = np.round(rng.normal(size=n), 1)
        else:
            x = rng.normal(size=n)
        height, distance = float(rng.normal()), float(rng.choice([1, 2, 3, 4.5, 8]))
        expected, props = scipy_find_peaks(x, height=height, distance=distance)
        peaks, heights = find_peaks(x, height, distance)
        np.testing.assert_array_equal(peaks, expected)
        np.testing.assert_array_equal(heights, props["peak_heights"])


def test_distance_below_one_sample_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        find_peaks([0.0, 1.0, 0.0], 0.0, 0.5)
