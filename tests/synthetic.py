"""Synthetic price histories on real exchange sessions, for tests that need a known answer."""

from __future__ import annotations

import numpy as np
import pandas as pd

from stockrnn.data.calendar import sessions_between


def prices_from_returns(
    returns: np.ndarray, first: str = "2005-01-03", start_price: float = 100.0
) -> pd.DataFrame:
    """A close-only history whose log returns are `returns`, one per XNYS session from `first`."""
    sessions = sessions_between("XNYS", pd.Timestamp(first), pd.Timestamp("2026-12-31"))[: len(returns) + 1]
    close = start_price * np.exp(np.concatenate([[0.0], np.cumsum(returns)]))
    return pd.DataFrame(
        {
            "date": pd.DatetimeIndex(sessions).astype("datetime64[ns]"),
            "open": np.nan,
            "high": np.nan,
            "low": np.nan,
            "close": close,
            "adj_close": np.nan,
            "volume": pd.array([pd.NA] * len(close), dtype="Int64"),
            "source": "synthetic",
            "fetched_at": pd.Timestamp("2026-01-01", tz="UTC"),
        }
    )


def ar1_returns(n: int, phi: float, sigma: float = 0.01, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, sigma, n)
    returns = np.empty(n)
    returns[0] = noise[0]
    for t in range(1, n):
        returns[t] = phi * returns[t - 1] + noise[t]
    return returns


def garch_returns(
    n: int, omega: float = 2e-6, alpha: float = 0.1, beta: float = 0.88, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """GARCH(1,1) returns with normal innovations, and the true sigma of each return."""
    rng = np.random.default_rng(seed)
    sigma2 = np.empty(n)
    returns = np.empty(n)
    sigma2[0] = omega / (1 - alpha - beta)
    for t in range(n):
        if t:
            sigma2[t] = omega + alpha * returns[t - 1] ** 2 + beta * sigma2[t - 1]
        returns[t] = np.sqrt(sigma2[t]) * rng.standard_normal()
    return returns, np.sqrt(sigma2)
