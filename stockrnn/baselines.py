"""Baselines with the network's interface: windows in, next-session prices out.

Each is scored on exactly the windows the network is scored on, so the comparison is fair.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stockrnn.windows import Panel


@dataclass
class Naive:
    """Tomorrow's price is today's: the forecast every model must beat."""

    name = "naive"

    def fit(self, panel: Panel, train_ends: np.ndarray, lookback: int) -> Naive:
        return self

    def predict_price(self, panel: Panel, ends: np.ndarray, lookback: int) -> np.ndarray:
        return panel.price[ends]


@dataclass
class Drift:
    """Today's price grown by the ticker's mean daily log return over the training split."""

    name = "drift"
    mean_return: np.ndarray | None = None  # (tickers,)

    def fit(self, panel: Panel, train_ends: np.ndarray, lookback: int) -> Drift:
        next_rows = train_ends + 1
        log_returns = np.log(panel.price[next_rows] / panel.price[train_ends])
        ids = panel.ticker_ids[train_ends]
        counts = np.bincount(ids, minlength=len(panel.tickers))
        sums = np.bincount(ids, weights=log_returns, minlength=len(panel.tickers))
        self.mean_return = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
        return self

    def predict_price(self, panel: Panel, ends: np.ndarray, lookback: int) -> np.ndarray:
        return panel.price[ends] * np.exp(self.mean_return[panel.ticker_ids[ends]])


@dataclass
class LinearAR:
    """Ridge regression of the next scaled target on the flattened window: a linear autoregression."""

    name = "linear_ar"
    alpha: float = 1.0
    ridge: object = None

    def fit(self, panel: Panel, train_ends: np.ndarray, lookback: int) -> LinearAR:
        from sklearn.linear_model import Ridge

        windows = panel.sliding_windows(lookback)[train_ends - lookback + 1]  # (N, L, F)
        self.ridge = Ridge(alpha=self.alpha).fit(
            windows.reshape(len(train_ends), -1), panel.target[train_ends + 1]
        )
        return self

    def predict_scaled(self, panel: Panel, ends: np.ndarray, lookback: int) -> np.ndarray:
        windows = panel.sliding_windows(lookback)[ends - lookback + 1]
        return self.ridge.predict(windows.reshape(len(ends), -1))

    def predict_price(self, panel: Panel, ends: np.ndarray, lookback: int) -> np.ndarray:
        return scaled_target_to_price(panel, ends, self.predict_scaled(panel, ends, lookback))


def scaled_target_to_price(panel: Panel, ends: np.ndarray, scaled: np.ndarray) -> np.ndarray:
    """Undo the target's scaling per ticker; a return target is compounded onto the last price."""
    value = np.empty(len(ends), dtype="float64")
    ids = panel.ticker_ids[ends]
    for index, ticker in enumerate(panel.tickers):
        rows = ids == index
        value[rows] = panel.scalers[ticker].inverse(
            np.asarray(scaled, dtype="float64")[rows], panel.target_column
        )
    if panel.feature_names[panel.target_column] == "log_return":
        return panel.price[ends] * np.exp(value)
    return value


BASELINES = (Naive, Drift, LinearAR)
