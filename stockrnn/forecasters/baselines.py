"""Baselines with the network's interface: fit on the training split, then (N, H, Q) forecasts.

Each gives quantiles of the cumulative log return to every horizon, so it is scored on exactly the
windows, horizons and levels the network is scored on. Everything is fitted per ticker on the
training split only; what they see of later prices at forecast time is the history up to each
origin, as a forecaster in production would.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from stockrnn.dataset.targets import cumulative_log_returns, denormalize, normalize
from stockrnn.dataset.windows import FitData, Panel
from stockrnn.forecasters.quantiles import Forecast, centred_quantiles


def _per_ticker_horizon_quantiles(data: FitData) -> np.ndarray:
    """(tickers, H, Q) centred empirical quantiles of h-session training returns, per ticker."""
    panel, levels = data.panel, data.levels
    cumulative = cumulative_log_returns(panel, data.train_ends, data.horizon)  # (N, H)
    ids = panel.ticker_ids[data.train_ends]
    out = np.zeros((len(panel.tickers), data.horizon, len(levels)))
    for index in np.unique(ids):
        rows = cumulative[ids == index]
        out[index] = [centred_quantiles(rows[:, h], levels) for h in range(data.horizon)]
    return out


@dataclass
class Naive:
    """No change: the median is the last price; the spread is the ticker's unconditional spread of
    h-session returns over the training split (centred so its median is no change)."""

    name = "naive"
    spread: np.ndarray | None = None  # (tickers, H, Q)

    def fit(self, data: FitData) -> Naive:
        self.spread = _per_ticker_horizon_quantiles(data)
        self.levels = data.levels
        return self

    def predict(self, panel: Panel, ends: np.ndarray) -> Forecast:
        return Forecast(self.levels, self.spread[panel.ticker_ids[ends]])


@dataclass
class Drift(Naive):
    """Naive's spread around h times the ticker's mean one-session log return over training."""

    name = "drift"
    mean_return: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (tickers,)

    def fit(self, data: FitData) -> Drift:
        super().fit(data)
        self.mean_return = np.array(
            [
                np.mean(r) if len(r := data.training_returns(i)) else 0.0
                for i in range(len(data.panel.tickers))
            ]
        )
        return self

    def predict(self, panel: Panel, ends: np.ndarray) -> Forecast:
        ids = panel.ticker_ids[ends]
        steps = np.arange(1, self.spread.shape[1] + 1)
        centre = self.mean_return[ids][:, None] * steps  # (N, H)
        return Forecast(self.levels, centre[..., None] + self.spread[ids])


@dataclass
class EWMAVolatility:
    """RiskMetrics: sigma^2_t = lambda sigma^2_{t-1} + (1 - lambda) r_t^2; zero median; quantiles are
    sigma * sqrt(h) times the training split's quantiles of returns standardised by the ex-ante sigma."""

    name = "ewma"
    decay: float = 0.94
    start_variance: np.ndarray | None = None  # (tickers,) the training variance the recursion starts from
    standardized: np.ndarray | None = None  # (Q,) centred quantiles of r_t / sigma_{t-1}

    def _variance_after_each_row(self, panel: Panel, ticker_index: int, start: float) -> np.ndarray:
        """sigma^2 known at the close of each of the ticker's rows (its first row: the start value)."""
        from scipy.signal import lfilter

        rows = np.flatnonzero(panel.ticker_ids == ticker_index)
        squared = np.diff(np.log(panel.price[rows])) ** 2
        filtered, _ = lfilter([1 - self.decay], [1, -self.decay], squared, zi=[self.decay * start])
        return np.concatenate([[start], filtered])

    def fit(self, data: FitData) -> EWMAVolatility:
        self.levels, self.horizon = data.levels, data.horizon
        tickers = range(len(data.panel.tickers))
        self.start_variance = np.array([np.var(data.training_returns(i)) or 1e-8 for i in tickers])
        standardized = []
        for i in tickers:
            returns = data.training_returns(i)
            variance = self._variance_after_each_row(data.panel, i, self.start_variance[i])[: len(returns)]
            standardized.append(returns / np.sqrt(variance))  # r_t over the sigma known the day before
        self.standardized = centred_quantiles(np.concatenate(standardized), self.levels)
        return self

    def predict(self, panel: Panel, ends: np.ndarray) -> Forecast:
        variance = np.empty(len(panel.dates))
        for i in range(len(panel.tickers)):
            variance[panel.ticker_ids == i] = self._variance_after_each_row(panel, i, self.start_variance[i])
        steps = np.sqrt(np.arange(1, self.horizon + 1))
        sigma = np.sqrt(variance[ends])[:, None, None] * steps[None, :, None]  # (N, H, 1)
        return Forecast(self.levels, sigma * self.standardized)


@dataclass
class LinearAR:
    """Ridge regression of the normalised targets of all H horizons on the flattened window (one
    ridge per horizon, sharing one Gram matrix); intervals from its training residuals' quantiles.
    The penalty is chosen from `alphas` by squared error on the validation origins (one Gram matrix
    serves every candidate, so the choice costs a few solves).

    Solved from the normal equations accumulated over chunks of windows, so memory stays at
    (chunk, L*F) instead of materialising every window: (N, L*F) for 500 tickers is gigabytes.
    Same solution as scikit-learn's Ridge(alpha) with an intercept (centred data, unpenalised bias).
    """

    name = "linear_ar"
    alphas: tuple[float, ...] = (1.0, 10.0, 100.0, 1e3, 1e4, 1e5)
    alpha: float = 1.0  # the chosen one
    chunk: int = 16384
    weights: np.ndarray | None = None  # (L*F, H)
    intercept: np.ndarray | None = None  # (H,)
    residual_quantiles: np.ndarray | None = None  # (H, Q)

    def design(self, windows: np.ndarray, target_column: int) -> np.ndarray:
        """(n, L, F) windows -> (n, D) regressors: here the whole window, flattened."""
        return windows.reshape(len(windows), -1)

    def _chunks(self, panel: Panel, ends: np.ndarray):
        for start in range(0, len(ends), self.chunk):
            part = ends[start : start + self.chunk]
            chunk = panel.windows_at(part, self.lookback)  # (n, L, F), zero left padding where short
            yield part, self.design(chunk, panel.target_column)  # (n, D)

    def fit(self, data: FitData) -> LinearAR:
        panel, ends = data.panel, data.train_ends
        self.lookback, self.levels = data.lookback, data.levels
        width = self.design(
            np.zeros((1, data.lookback, len(panel.feature_names))), panel.target_column
        ).shape[1]
        y_all = normalize(panel, ends, cumulative_log_returns(panel, ends, data.horizon))  # (N, H)
        gram, cross, total = np.zeros((width, width)), np.zeros((width, data.horizon)), np.zeros(width)
        offset = 0
        for part, x in self._chunks(panel, ends):
            y = y_all[offset : offset + len(part)]
            offset += len(part)
            gram += x.T @ x
            cross += x.T @ y
            total += x.sum(axis=0)
        n = len(ends)
        mean_x, mean_y = total / n, y_all.mean(axis=0)
        centred_gram = gram - n * np.outer(mean_x, mean_x)
        centred_cross = cross - n * np.outer(mean_x, mean_y)
        val_y = normalize(panel, data.val_ends, cumulative_log_returns(panel, data.val_ends, data.horizon))
        best = np.inf
        for alpha in self.alphas if len(data.val_ends) else (self.alpha,):
            weights = np.linalg.solve(centred_gram + alpha * np.eye(width), centred_cross)
            self.weights, self.intercept = weights, mean_y - mean_x @ weights
            error = np.mean((self.predict_normalized(panel, data.val_ends) - val_y) ** 2) if len(val_y) else 0
            if error < best:
                best, chosen = error, (alpha, self.weights, self.intercept)
        self.alpha, self.weights, self.intercept = chosen
        residuals = y_all - self.predict_normalized(panel, ends)
        self.residual_quantiles = np.stack(
            [centred_quantiles(residuals[:, h], self.levels) for h in range(data.horizon)]
        )
        return self

    def predict_normalized(self, panel: Panel, ends: np.ndarray) -> np.ndarray:
        """(N, H) the ridge's normalised forecasts."""
        parts = [x @ self.weights + self.intercept for _, x in self._chunks(panel, ends)]
        return np.concatenate(parts) if parts else np.empty((0, len(self.intercept)))

    def predict(self, panel: Panel, ends: np.ndarray) -> Forecast:
        z = self.predict_normalized(panel, ends)[..., None] + self.residual_quantiles  # (N, H, Q)
        return Forecast(self.levels, denormalize(panel, ends, z))


@dataclass
class DLinear(LinearAR):
    """DLinear (Zeng et al., AAAI 2023): the target's window split into a moving-average trend and
    the remainder, each mapped to every horizon by its own linear layer, summed. Both maps are
    linear, so they are fitted in closed form as one ridge on [remainder, trend] (the least-squares
    optimum that the paper's SGD on MSE approaches), the penalty chosen on validation like the
    ridge's; intervals from training residuals. Univariate: only the target column, as the paper's
    channel-independent form."""

    name = "dlinear"
    kernel: int = 25  # the paper's moving-average length (shortened to the lookback when longer)

    def design(self, windows: np.ndarray, target_column: int) -> np.ndarray:
        x = windows[:, :, target_column]  # (n, L)
        trend = moving_average(x, min(self.kernel, x.shape[1]))  # (n, L)
        return np.concatenate([x - trend, trend], axis=1)  # (n, 2L)


def moving_average(x: np.ndarray, kernel: int) -> np.ndarray:
    """(n, L) -> (n, L) centred moving average with the ends repeated, as DLinear pads its series."""
    front, back = (kernel - 1) // 2, kernel // 2
    padded = np.concatenate(
        [np.repeat(x[:, :1], front, axis=1), x, np.repeat(x[:, -1:], back, axis=1)], axis=1
    )
    cumulative = np.cumsum(np.pad(padded, ((0, 0), (1, 0))), axis=1)
    return (cumulative[:, kernel:] - cumulative[:, :-kernel]) / kernel
