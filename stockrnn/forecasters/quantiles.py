"""Forecast distributions as quantiles of the cumulative log return, and the arithmetic on them.

A forecast from origin row r for horizon h is a set of quantiles of log(price[r+h] / price[r]).
Prices come from one monotone conversion, last_price * exp(q), so price quantiles are exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Forecast:
    levels: tuple[float, ...]  # ascending, 0.5 among them
    values: np.ndarray  # (N, H, Q) quantiles of the cumulative log return, ascending along Q

    @property
    def median(self) -> np.ndarray:  # (N, H)
        return self.values[..., self.levels.index(0.5)]

    def prices(self, last_price: np.ndarray) -> np.ndarray:
        """(N, H, Q) price quantiles from each origin's last price (N,)."""
        return last_price[:, None, None] * np.exp(self.values)

    def take(self, rows: np.ndarray) -> Forecast:
        return Forecast(self.levels, self.values[rows])


def level_name(level: float) -> str:
    """A column-name suffix a SQL user can type: 0.05 -> p05, 0.5 -> p50, 0.975 -> p97_5."""
    percent = round(level * 100, 6)
    if percent == int(percent):
        return f"p{int(percent):02d}"
    return "p" + f"{percent:g}".replace(".", "_")


def central_intervals(levels: tuple[float, ...]) -> list[tuple[int, int, int]]:
    """(lower index, upper index, nominal coverage in %) of each level pair tau, 1 - tau."""
    found = []
    for low, tau in enumerate(levels):
        if tau < 0.5 and round(1 - tau, 9) in [round(q, 9) for q in levels]:
            high = [round(q, 9) for q in levels].index(round(1 - tau, 9))
            found.append((low, high, int(round((1 - 2 * tau) * 100))))
    return found


def pinball(values: np.ndarray, actual: np.ndarray, levels: tuple[float, ...]) -> np.ndarray:
    """(..., Q) quantile loss of each level for actual values (...)."""
    error = actual[..., None] - values
    tau = np.asarray(levels)
    return np.maximum(tau * error, (tau - 1) * error)


def crps_weights(levels: tuple[float, ...]) -> np.ndarray:
    """Trapezoid weights over (0, 1) so that CRPS ~= 2 * sum_k w_k * pinball_k (they sum to 1)."""
    edges = np.concatenate([[0.0], levels, [1.0]])
    return (edges[2:] - edges[:-2]) / 2


def centred_quantiles(samples: np.ndarray, levels: tuple[float, ...]) -> np.ndarray:
    """(Q,) empirical quantiles of `samples` shifted so the median is exactly 0 (order kept)."""
    found = np.quantile(samples, levels)
    return found - found[levels.index(0.5)]
