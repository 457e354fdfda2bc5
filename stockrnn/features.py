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


def price_basis(prices: pd.DataFrame) -> pd.Series:
    return prices["adj_close"].fillna(prices["close"])


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

    Column `price` (the basis) rides along for rebuilding forecasts in price units.
    """
    price = price_basis(prices).to_numpy(dtype="float64")
    columns: dict[str, np.ndarray] = {"date": prices["date"].to_numpy(), "price": price}
    columns[RETURN] = np.concatenate([[np.nan], np.diff(np.log(price))])
    if LEVEL in names:
        columns[LEVEL] = price
    if "range" in names:
        columns["range"] = np.log(prices["high"].to_numpy(float) / prices["low"].to_numpy(float))
    if "gap" in names:
        close = prices["close"].to_numpy(float)
        columns["gap"] = np.concatenate([[np.nan], np.log(prices["open"].to_numpy(float)[1:] / close[:-1])])
    if "volume_change" in names:
        volume = np.log1p(prices["volume"].to_numpy(dtype="float64", na_value=np.nan))
        columns["volume_change"] = np.concatenate([[np.nan], np.diff(volume)])
    frame = pd.DataFrame(columns)
    return frame.iloc[1:].reset_index(drop=True)[["date", "price", *names]]
