"""Do an interval's misses come as often as promised, and independently? The backtesting tests of
Value-at-Risk models, applied to each tail-symmetric central interval:

- Kupiec (1995) proportion of failures: is the miss rate alpha = 1 - nominal coverage?
- Christoffersen (1998) independence: is a miss after a miss as likely as after a hit? (Clustered
  misses are how a volatility model fails: it widens too late.)
- Christoffersen conditional coverage: both at once (the sum of the two statistics).

Each is a likelihood-ratio test, chi-square with 1, 1 and 2 degrees of freedom.
"""

from __future__ import annotations

import numpy as np


def _chi2_sf(statistic: float, degrees: int) -> float:
    # scipy.special's chi-square survival function (what scipy.stats' chi2.sf calls), imported on
    # first use: scipy.stats costs 0.4 s more to import, paid by every backtest's scoring process.
    from scipy.special import chdtrc

    return float(chdtrc(degrees, statistic))


def _log_likelihood(misses: float, total: float, rate: float) -> float:
    """log of rate^misses (1 - rate)^(total - misses), with 0 log 0 = 0."""
    hits = total - misses
    found = 0.0
    if misses:
        found += misses * np.log(rate) if rate > 0 else -np.inf
    if hits:
        found += hits * np.log(1 - rate) if rate < 1 else -np.inf
    return found


def kupiec(missed: np.ndarray, alpha: float) -> float:
    """p-value of H0: the miss rate is alpha; NaN for no observations."""
    n, x = len(missed), float(np.sum(missed))
    if n == 0:
        return float("nan")
    statistic = -2 * (_log_likelihood(x, n, alpha) - _log_likelihood(x, n, x / n))
    return _chi2_sf(max(statistic, 0.0), 1)


def _independence_statistic(missed: np.ndarray) -> float:
    previous, current = np.asarray(missed[:-1], bool), np.asarray(missed[1:], bool)
    n00 = float(np.sum(~previous & ~current))
    n01 = float(np.sum(~previous & current))
    n10 = float(np.sum(previous & ~current))
    n11 = float(np.sum(previous & current))
    pooled = (n01 + n11) / max(n00 + n01 + n10 + n11, 1)
    after_hit = n01 / (n00 + n01) if n00 + n01 else 0.0
    after_miss = n11 / (n10 + n11) if n10 + n11 else 0.0
    restricted = _log_likelihood(n01 + n11, n00 + n01 + n10 + n11, pooled)
    free = _log_likelihood(n01, n00 + n01, after_hit) + _log_likelihood(n11, n10 + n11, after_miss)
    return max(-2 * (restricted - free), 0.0)


def christoffersen(missed: np.ndarray, alpha: float) -> tuple[float, float]:
    """(independence p-value, conditional coverage p-value) of a miss sequence in time order."""
    if len(missed) < 2:
        return float("nan"), float("nan")
    independence = _independence_statistic(missed)
    n, x = len(missed), float(np.sum(missed))
    proportion = -2 * (_log_likelihood(x, n, alpha) - _log_likelihood(x, n, x / n))
    return _chi2_sf(independence, 1), _chi2_sf(max(proportion, 0.0) + independence, 2)
