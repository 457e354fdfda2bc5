"""From stored prices to model features: pure functions, one row per session.

The price basis is the adjusted close where the source has one, else the close: returns then
include dividends and are free of split jumps. By default OHLCV-derived features are added only
when every ticker of a panel has them, so close-only tickers work with the close alone;
`features.inputs` names the features instead. Every feature of a row uses that row and earlier
rows only; rows before the slowest feature has its full window (its warm-up) are dropped.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stockrnn.data.prices import has_ohlcv, price_basis

RETURN = "log_return"
LEVEL = "close"
OHLCV_FEATURES = ("range", "gap", "volume_change")
# Rows of the feature frame (one per return) before each feature's first full value.
WARMUP = {
    "realized_vol_5": 4,
    "realized_vol_21": 20,
    "price_to_ma_10": 8,
    "price_to_ma_50": 48,
    "rsi_14": 13,
}


def feature_names(all_prices: list[pd.DataFrame], target: str) -> list[str]:
    """The feature columns, target column first; OHLCV ones only if every frame has OHLCV."""
    names = [LEVEL, RETURN] if target == LEVEL else [RETURN]
    if all(has_ohlcv(p) for p in all_prices):
        names += list(OHLCV_FEATURES)
    return names


def chosen_names(all_prices: list[pd.DataFrame], target: str, inputs: list[str] | None) -> list[str]:
    """The feature columns, target first: `inputs` when given (checked against the data), else the defaults."""
    if inputs is None:
        return feature_names(all_prices, target)
    names = [LEVEL] if target == LEVEL else []
    names += [RETURN] + [name for name in inputs if name not in (RETURN, LEVEL)]
    needs_ohlcv = [name for name in names if name in OHLCV_FEATURES]
    if needs_ohlcv and not all(has_ohlcv(p) for p in all_prices):
        from stockrnn.errors import DataError

        raise DataError(
            f"features.inputs {needs_ohlcv} need open, high, low and volume, and a ticker has only closes; "
            "drop them from features.inputs"
        )
    return names


def warmup_rows(names: list[str]) -> int:
    """Leading feature rows dropped so that every named feature has its full window."""
    return max((WARMUP.get(name, 0) for name in names), default=0)


def _rolling_mean(values: np.ndarray, n: int) -> np.ndarray:
    """Mean of each element and the n-1 before it; NaN until n are there."""
    return pd.Series(values).rolling(n, min_periods=n).mean().to_numpy()


def _rsi(price: np.ndarray, n: int = 14) -> np.ndarray:
    """Wilder's RSI over the price changes up to each row, in [0, 1] (RSI / 100)."""
    change = pd.Series(np.diff(price))
    gain = change.clip(lower=0).ewm(alpha=1 / n, adjust=False, min_periods=n).mean()
    loss = (-change.clip(upper=0)).ewm(alpha=1 / n, adjust=False, min_periods=n).mean()
    total = (gain + loss).to_numpy()
    return np.divide(gain.to_numpy(), total, out=np.full(len(total), 0.5), where=total > 0)


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
        elif name.startswith("realized_vol_"):
            n = int(name.rsplit("_", 1)[1])
            columns[name] = np.sqrt(_rolling_mean(np.diff(np.log(price)) ** 2, n))
        elif name.startswith("price_to_ma_"):
            n = int(name.rsplit("_", 1)[1])
            columns[name] = np.log(price / _rolling_mean(price, n))[1:]
        elif name == "rsi_14":
            columns[name] = _rsi(price, 14)
        elif name == "day_of_week":
            columns[name] = pd.DatetimeIndex(prices["date"]).day_of_week.to_numpy(dtype="float64")[1:]
        else:
            raise ValueError(f"unknown feature {name!r}")
    frame = pd.DataFrame(columns)
    return frame.iloc[warmup_rows(names) :].reset_index(drop=True)
