"""Is a difference in loss real? Diebold-Mariano with the Harvey-Leybourne-Newbold correction, and
the Model Confidence Set, on loss series laid out by origin date.

Losses of a panel are pooled over tickers by averaging each forecaster's loss per origin date, so
the test sees one loss differential per date, as the DM test assumes (one series in time).
"""

from __future__ import annotations

import numpy as np


def per_date(losses: np.ndarray, dates: np.ndarray) -> np.ndarray:
    """(N,) losses at origin `dates` -> (D,) their mean per distinct date, in date order."""
    unique, position = np.unique(dates, return_inverse=True)
    sums = np.bincount(position, weights=losses, minlength=len(unique))
    return sums / np.bincount(position, minlength=len(unique))


def diebold_mariano(loss_a: np.ndarray, loss_b: np.ndarray, horizon: int) -> tuple[float, float]:
    """(statistic, two-sided p-value) for H0: equal expected loss, on two loss series in time order.

    Diebold-Mariano (1995) with the Harvey-Leybourne-Newbold (1997) small-sample correction (t with
    n-1 degrees of freedom) and a Newey-West variance with h-1 lags: an h-step forecast error
    overlaps the next h-1 ones, so the loss differential is MA(h-1) even when neither forecaster
    is better. A negative statistic means `a` has the smaller loss. NaN where the test has nothing
    to say (too few dates, or identical losses).

    The same numbers as statsmodels' diebold_mariano_test(lags=h-1, harvey_adj=True) to 1e-12 (a
    test), written out because a backtest asks for hundreds of them: statsmodels took 3 ms each
    through an OLS fit, and 1.5 s to import.
    """
    from scipy.special import stdtr  # Student's t CDF, without scipy.stats' import

    differential = np.asarray(loss_a, dtype=float) - np.asarray(loss_b, dtype=float)  # (n,)
    n = len(differential)
    if n < max(3, 2 * horizon) or not np.any(differential != differential[0]):
        return float("nan"), float("nan")
    centred = differential - differential.mean()
    # Autocovariances at lags 0..h-1, Bartlett-weighted (1 - k/h) into the long-run variance.
    autocovariances = np.array([centred[k:] @ centred[: n - k] for k in range(horizon)]) / n
    weights = np.concatenate([[1.0], 2 * (1 - np.arange(1, horizon) / horizon)])
    variance = weights @ autocovariances
    if not variance > 0:  # a differential whose Bartlett variance vanishes: no test
        return float("nan"), float("nan")
    correction = np.sqrt((n + 1 - 2 * horizon + horizon * (horizon - 1) / n) / n)
    statistic = correction * differential.mean() / np.sqrt(variance / n)
    return float(statistic), float(2 * stdtr(n - 1, -abs(statistic)))


def model_confidence_set(
    losses: dict[str, np.ndarray], size: float = 0.05, seed: int = 0, reps: int = 1000
) -> dict[str, float]:
    """MCS p-value of each forecaster (arch.bootstrap.MCS, range statistic, stationary bootstrap).

    A forecaster is in the (1 - size) confidence set of best forecasters when its p-value exceeds
    `size`. losses: name -> (D,) loss series over the same dates.
    """
    import pandas as pd
    from arch.bootstrap import MCS

    frame = pd.DataFrame(losses)
    block = max(int(round(len(frame) ** (1 / 3))), 1)
    mcs = MCS(frame, size=size, reps=reps, block_size=block, method="R", seed=seed)
    mcs.compute()
    return {name: float(mcs.pvalues.loc[name, "Pvalue"]) for name in frame.columns}
