"""Split-conformal calibration of central intervals (conformalized quantile regression, Romano et al.
2019), fitted per horizon on the validation split only.

For each interval (tau, 1 - tau) and horizon, the conformity score of a validation origin is how far
its outcome fell outside the interval (negative inside), in units of the ticker's training
volatility times sqrt(h) so that one offset fits every ticker of a panel. The interval is then
widened (or narrowed) by the ceil((n+1)(1-alpha))/n empirical quantile of those scores. Levels are
finally sorted per row (monotone rearrangement, Chernozhukov et al. 2010), which can only lower the
pinball loss, so adjusted intervals never cross their neighbours. The median is never moved.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stockrnn.dataset.windows import FitData, Panel
from stockrnn.forecasters.quantiles import Forecast, central_intervals


def return_scale_per_ticker(data: FitData) -> dict[str, float]:
    """Each ticker's standard deviation of one-session log returns over the training split."""
    return {
        ticker: float(np.std(data.training_returns(i)) or 1.0) for i, ticker in enumerate(data.panel.tickers)
    }


def volatility_units(
    panel: Panel, ends: np.ndarray, return_scale: dict[str, float], horizon: int
) -> np.ndarray:
    """(N, H) volatility units: the origin's ticker's return scale times sqrt(h)."""
    per_ticker = np.array([return_scale[t] for t in panel.tickers])
    return per_ticker[panel.ticker_ids[ends]][:, None] * np.sqrt(np.arange(1, horizon + 1))


def widen(forecast: Forecast, offsets: np.ndarray, scale: np.ndarray) -> Forecast:
    """Each central interval moved out by offsets ((H, K), or (N, H, K) per origin) x scale (N, H),
    in units of the forecast; levels re-sorted so intervals stay nested. The median never moves."""
    values = forecast.values.copy()  # (N, H, Q)
    for k, (low, high, _) in enumerate(central_intervals(forecast.levels)):
        shift = offsets[..., k] * scale  # (N, H)
        values[..., low] -= shift
        values[..., high] += shift
    return Forecast(forecast.levels, np.sort(values, axis=-1))


@dataclass(frozen=True)
class ConformalOffsets:
    levels: tuple[float, ...]
    offsets: np.ndarray  # (H, intervals) in volatility units; one per central interval
    return_scale: dict[str, float]

    def apply(self, panel: Panel, ends: np.ndarray, forecast: Forecast) -> Forecast:
        scale = volatility_units(panel, ends, self.return_scale, forecast.values.shape[1])  # (N, H)
        return widen(forecast, self.offsets, scale)

    def to_json(self) -> dict:
        return {
            "levels": list(self.levels),
            "offsets": self.offsets.tolist(),
            "return_scale": self.return_scale,
        }

    @classmethod
    def from_json(cls, data: dict) -> ConformalOffsets:
        return cls(tuple(data["levels"]), np.asarray(data["offsets"], dtype="float64"), data["return_scale"])


def fit_conformal(
    panel: Panel,
    ends: np.ndarray,
    forecast: Forecast,
    actual: np.ndarray,
    return_scale: dict[str, float],
) -> ConformalOffsets:
    """Offsets from validation origins `ends`, their forecasts and actual cumulative returns (N, H)."""
    intervals = central_intervals(forecast.levels)
    horizon = actual.shape[1]
    scale = volatility_units(panel, ends, return_scale, horizon)
    offsets = np.zeros((horizon, len(intervals)))
    n = len(ends)
    for k, (low, high, coverage) in enumerate(intervals):
        score = np.maximum(forecast.values[..., low] - actual, actual - forecast.values[..., high]) / scale
        level = min(np.ceil((n + 1) * coverage / 100) / n, 1.0)
        offsets[:, k] = np.quantile(score, level, axis=0, method="higher")
    return ConformalOffsets(forecast.levels, offsets, return_scale)
