"""What stored price rows say on their own: the price to compute returns from, whether a ticker has
OHLCV, and sessions whose move looks like an unadjusted split."""

from __future__ import annotations

import numpy as np
import pandas as pd


def price_basis(prices: pd.DataFrame) -> np.ndarray:
    """The adjusted close where there is one, else the close."""
    close = prices["close"].to_numpy(dtype="float64")
    adjusted = prices["adj_close"].to_numpy(dtype="float64", na_value=np.nan)
    return np.where(np.isnan(adjusted), close, adjusted)


def has_ohlcv(prices: pd.DataFrame) -> bool:
    needed = prices[["open", "high", "low", "volume"]]
    return bool(len(prices)) and not needed.isna().any().any()


EXTREME_MOVE = 3.0  # a session's price ratio beyond 3x up or down is an unadjusted split, not a market


def extreme_moves(dates: pd.Series, price) -> list[tuple[object, float]]:
    """(date, ratio) of each session whose price is more than 3x (or under 1/3) the session before's:
    what an unadjusted split looks like (10:1 gives 0.1). `price` is the price basis, so a split the
    adjusted close accounts for does not show."""
    price = np.asarray(price, dtype="float64")
    ratio = price[1:] / price[:-1]
    jumps = np.flatnonzero(np.abs(np.log(ratio)) > np.log(EXTREME_MOVE))
    return [(pd.Timestamp(dates.iloc[i + 1]).date(), float(ratio[i])) for i in jumps]
