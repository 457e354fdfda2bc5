"""From stored prices to model features: pure functions, one row per session.

The price basis is the adjusted close where the source has one, else the close: returns then
include dividends and are free of split jumps. OHLCV-derived features are added only when every
ticker of a panel has them, so close-only tickers work with the close alone.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

RETURN = "log_return"
LEVEL = "close"
OHLCV_FEATURES = ("range", "gap", "volume_change")


def price_basis(prices: pd.DataFrame) -> np.ndarray:
    """The adjusted close where there is one, else the close."""
    close = prices["close"].to_numpy(dtype="float64")
    adjusted = prices["adj_close"].to_numpy(dtype="float64", na_value=np.nan)
    return np.where(np.isnan(adjusted), close, adjusted)


def has_ohlcv(prices: pd.DataFrame) -> bool:
    needed = prices[["open", "high", "low", "volume"]]
    return bool(len(prices)) and not needed.isna().any().any()


def feature_names(all_prices: list[pd.DataFrame], target: str) -> list[str]:
    """The feature columns, target column first; OHLCV ones only if every frame has OHLCV."""
    names = [LEVEL, RETURN] if target == LEVEL else [RETURN]
    if all(has_ohlcv(p) for p in all_prices):
        names += list(OHLCV_FEATURES)
    return names


def compute_features(prices: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Features per session, indexed like `prices` minus its first row (which has no return).

    Column `price` (the basis) rides along for rebuilding forecasts in price units. Built from
    NumPy columns in one DataFrame construction: predict calls this once per ticker.
    """
    price = price_basis(prices)
    columns: dict[str, np.ndarray] = {"date": prices["date"].to_numpy()[1:], "price": price[1:]}
    for name in names:
        if name == RETURN:
            columns[name] = np.diff(np.log(price))
        elif name == LEVEL:
            columns[name] = price[1:]
        elif name == "range":
            columns[name] = np.log(prices["high"].to_numpy(float) / prices["low"].to_numpy(float))[1:]
        elif name == "gap":
            close = prices["close"].to_numpy(dtype="float64")
            columns[name] = np.log(prices["open"].to_numpy(float)[1:] / close[:-1])
        elif name == "volume_change":
            columns[name] = np.diff(np.log1p(prices["volume"].to_numpy(dtype="float64", na_value=np.nan)))
        else:
            raise ValueError(f"unknown feature {name!r}")
    return pd.DataFrame(columns)
