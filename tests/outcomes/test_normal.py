"""The standard normal functions give scipy.stats.norm's values bit for bit."""

from __future__ import annotations

import numpy as np
from scipy.stats import norm as scipy_norm

from spinefuse.outcomes import normal


def test_same_bits_as_scipy_stats() -> None:
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(scale=4.0, size=(500,)), [0.0, -0.0, 40.0, -40.0]])
    x = np.concatenate([x, [np.inf, -np.inf, np.nan]])
    for ours, theirs in [
        (normal.pdf, scipy_norm.pdf),
        (normal.cdf, scipy_norm.cdf),
        (normal.sf, scipy_norm.sf),
    ]:
        np.testing.assert_array_equal(ours(x), theirs(x))
        grid = x[:12].reshape(3, 4)
        np.testing.assert_array_equal(ours(grid), theirs(grid))
        assert ours(0.3) == theirs(0.3)
        assert np.ndim(ours(0.3)) == 0


def test_known_values() -> None:
    assert normal.cdf(0.0) == 0.5
    assert abs(normal.cdf(1.959963984540054) - 0.975) < 1e-12
    assert abs(normal.pdf(0.0) - 1 / np.sqrt(2 * np.pi)) < 1e-15
    assert normal.sf(1.0) == normal.cdf(-1.0)
