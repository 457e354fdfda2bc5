"""Every forecaster on the same origins: calibrated on validation, scored on test (or on sessions
stored since training), and laid out as the run's test predictions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from stockrnn.dataset.targets import cumulative_log_returns
from stockrnn.dataset.windows import FitData, Panel, target_rows
from stockrnn.evaluation.metrics import naive_scale_per_ticker, score_forecasts
from stockrnn.forecasters.calibration import ConformalOffsets, fit_conformal, return_scale_per_ticker
from stockrnn.forecasters.quantiles import Forecast, level_name


@dataclass
class Scored:
    metrics: dict
    forecasts: dict[str, Forecast]  # calibrated, on the scored origins
    offsets: dict[str, ConformalOffsets]  # per forecaster; empty without calibration


def calibrate(data: FitData, forecasters: dict) -> dict[str, ConformalOffsets]:
    """Conformal offsets of every forecaster from its forecasts on the validation origins."""
    actual = cumulative_log_returns(data.panel, data.val_ends, data.horizon)
    scale = return_scale_per_ticker(data)
    return {
        name: fit_conformal(data.panel, data.val_ends, f.predict(data.panel, data.val_ends), actual, scale)
        for name, f in forecasters.items()
    }


def apply_offsets(
    panel: Panel, ends: np.ndarray, raw: dict[str, Forecast], offsets: dict[str, ConformalOffsets]
) -> dict[str, Forecast]:
    """Each forecaster's forecasts with its conformal offsets applied (as they are without offsets)."""
    return {
        name: offsets[name].apply(panel, ends, forecast) if name in offsets else forecast
        for name, forecast in raw.items()
    }


def score_on(
    data: FitData, forecasters: dict, ends: np.ndarray, offsets: dict[str, ConformalOffsets]
) -> Scored:
    """Forecast `ends` with every forecaster, apply its offsets (if any), score against naive."""
    raw = {name: f.predict(data.panel, ends) for name, f in forecasters.items()}
    calibrated = apply_offsets(data.panel, ends, raw, offsets)
    naive_scale = naive_scale_per_ticker(data.panel, data.train_ends)
    return Scored(score_forecasts(data.panel, ends, calibrated, raw, naive_scale), calibrated, offsets)


def predictions_frame(panel: Panel, ends: np.ndarray, forecasts: dict[str, Forecast]) -> pd.DataFrame:
    """One row per (origin, horizon): actual close and each forecaster's median and quantiles, in prices."""
    horizon = next(iter(forecasts.values())).values.shape[1]
    targets = target_rows(ends, horizon)  # (N, H)
    frame = pd.DataFrame(
        {
            "origin_date": np.repeat(panel.dates[ends], horizon),
            "date": panel.dates[targets].ravel(),
            "ticker": np.repeat(np.asarray(panel.tickers)[panel.ticker_ids[ends]], horizon),
            "horizon": np.tile(np.arange(1, horizon + 1), len(ends)),
            "last_close": np.repeat(panel.price[ends], horizon),
            "actual": panel.price[targets].ravel(),
        }
    )
    for name, forecast in forecasts.items():
        prices = forecast.prices(panel.price[ends])  # (N, H, Q)
        frame[name] = prices[..., forecast.levels.index(0.5)].ravel()
        for k, level in enumerate(forecast.levels):
            frame[f"{name}_{level_name(level)}"] = prices[..., k].ravel()
    return frame
