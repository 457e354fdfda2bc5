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
    """Ridge regression of the next scaled target on the flattened window: a linear autoregression.

    Solved from the normal equations accumulated over chunks of windows, so memory stays at
    (chunk, L*F) instead of materialising every window: (N, L*F) for 500 tickers is gigabytes.
    Same solution as scikit-learn's Ridge(alpha) with an intercept (centred data, unpenalised bias).
    """

    name = "linear_ar"
    alpha: float = 1.0
    chunk: int = 16384
    weights: np.ndarray | None = None
    intercept: float = 0.0

    def _chunks(self, panel: Panel, ends: np.ndarray, lookback: int):
        windows = panel.sliding_windows(lookback)  # a view; only each chunk is copied
        for start in range(0, len(ends), self.chunk):
            part = ends[start : start + self.chunk]
            yield part, windows[part - lookback + 1].reshape(len(part), -1).astype("float64")  # (n, L*F)

    def fit(self, panel: Panel, train_ends: np.ndarray, lookback: int) -> LinearAR:
        width = lookback * len(panel.feature_names)
        gram, cross, total = np.zeros((width, width)), np.zeros(width), np.zeros(width)
        y_all = panel.target[train_ends + 1].astype("float64")
        for part, x in self._chunks(panel, train_ends, lookback):
            y = panel.target[part + 1].astype("float64")
            gram += x.T @ x
            cross += x.T @ y
            total += x.sum(axis=0)
        n = len(train_ends)
        mean_x, mean_y = total / n, y_all.mean()
        centred_gram = gram - n * np.outer(mean_x, mean_x)
        centred_cross = cross - n * mean_x * mean_y
        self.weights = np.linalg.solve(centred_gram + self.alpha * np.eye(width), centred_cross)
        self.intercept = float(mean_y - mean_x @ self.weights)
        return self

    def predict_scaled(self, panel: Panel, ends: np.ndarray, lookback: int) -> np.ndarray:
        parts = [x @ self.weights + self.intercept for _, x in self._chunks(panel, ends, lookback)]
        return np.concatenate(parts) if parts else np.empty(0)

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
