"""Every forecaster on the same origins: calibrated on validation, scored on test (or on sessions
stored since training), and laid out as the run's test predictions."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from stockrnn.config.schema import CalibrationConfig
from stockrnn.dataset.targets import cumulative_log_returns
from stockrnn.dataset.windows import FitData, Panel, target_rows
from stockrnn.evaluation.metrics import calibration_table, naive_scale_per_ticker, score_forecasts
from stockrnn.forecasters.calibration import ConformalOffsets, fit_conformal, return_scale_per_ticker
from stockrnn.forecasters.online_calibration import METHODS, calibrate_online
from stockrnn.forecasters.quantiles import Forecast, level_name


@dataclass
class Scored:
    metrics: dict
    forecasts: dict[str, Forecast]  # calibrated, on the scored origins
    offsets: dict[str, ConformalOffsets]  # per forecaster; empty without calibration
    calibration: dict = field(default_factory=dict)  # the network raw, split and online (calibration_table)
    raw: dict[str, Forecast] = field(default_factory=dict)  # uncalibrated, on the scored origins


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


def calibrate_each(
    panel: Panel,
    history_ends: np.ndarray,
    ends: np.ndarray,
    raw_history: dict[str, Forecast],
    raw: dict[str, Forecast],
    offsets: dict[str, ConformalOffsets],
    settings: CalibrationConfig,
) -> dict[str, Forecast]:
    """Every forecaster calibrated the same way at `ends`: online from its own resolved forecasts at
    `history_ends` and `ends` (see online_calibration.py), or with its split offsets."""
    if settings.method == "split":
        return apply_offsets(panel, ends, raw, offsets)
    return {
        name: calibrate_online(
            panel, history_ends, ends, raw_history[name], forecast, offsets[name], settings
        )[0]
        if name in offsets
        else forecast
        for name, forecast in raw.items()
    }


def calibration_variants(
    panel: Panel,
    history_ends: np.ndarray,
    ends: np.ndarray,
    raw_history: Forecast,
    raw: Forecast,
    offsets: ConformalOffsets,
    settings: CalibrationConfig,
) -> dict[str, Forecast]:
    """One forecaster's forecasts at `ends` raw, with the split offsets, and with each online method."""
    variants = {"raw": raw, "split": offsets.apply(panel, ends, raw)}
    for method in METHODS[1:]:
        chosen = settings.model_copy(update={"method": method})
        variants[method] = calibrate_online(panel, history_ends, ends, raw_history, raw, offsets, chosen)[0]
    return variants


def score_on(
    data: FitData,
    forecasters: dict,
    ends: np.ndarray,
    offsets: dict[str, ConformalOffsets],
    settings: CalibrationConfig | None = None,
    history_ends: np.ndarray | None = None,
) -> Scored:
    """Forecast `ends` with every forecaster, calibrate each the same way (online from the origins
    `history_ends` on, by default the validation ones, or with its split offsets), score against
    naive. With offsets, `calibration` compares the network's raw, split and online intervals."""
    settings = settings or CalibrationConfig()
    panel = data.panel
    history = data.val_ends if history_ends is None else history_ends
    raw = {name: f.predict(panel, ends) for name, f in forecasters.items()}
    raw_history = {name: f.predict(panel, history) for name, f in forecasters.items() if name in offsets}
    calibrated = calibrate_each(panel, history, ends, raw_history, raw, offsets, settings) if offsets else raw
    naive_scale = naive_scale_per_ticker(panel, data.train_ends)
    metrics = score_forecasts(panel, ends, calibrated, raw, naive_scale)
    table = {}
    if "model" in offsets:
        variants = calibration_variants(
            panel, history, ends, raw_history["model"], raw["model"], offsets["model"], settings
        )
        table = calibration_table(panel, ends, variants)
    return Scored(metrics, calibrated, offsets, table, raw)


def predictions_frame(panel: Panel, ends: np.ndarray, forecasts: dict[str, Forecast]) -> pd.DataFrame:
    """One row per (origin, horizon): actual close and each forecaster's median and quantiles, in prices."""
    horizon = next(iter(forecasts.values())).values.shape[1]
    targets = target_rows(ends, horizon)  # (N, H)
    frame = pd.DataFrame(
        {
            # Session dates as dates (Parquet date32), as in the store and the forecasts archive.
            "origin_date": pd.DatetimeIndex(np.repeat(panel.dates[ends], horizon)).date,
            "target_date": pd.DatetimeIndex(panel.dates[targets].ravel()).date,
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
