"""Scores for the model and every baseline on the very same origins, horizons and levels.

Point metrics judge the median in price units (MAE, RMSE, MAPE, MASE, direction). Distribution
metrics are in log-return units: pinball loss per level and its mean, CRPS approximated from the
quantile grid, and for each central interval its coverage (before and after conformal calibration),
mean width and Winkler interval score. Every loss is also given as a ratio to naive's.
metrics[scope][forecaster]["h<h>"][metric], scope being each ticker and "pooled".
"""

from __future__ import annotations

import numpy as np

from stockrnn.quantiles import Forecast, central_intervals, crps_weights, level_name, pinball
from stockrnn.windows import Panel, target_rows

RATIO_TO_NAIVE = ("mae", "pinball", "crps")


def naive_scale_per_ticker(panel: Panel, train_ends: np.ndarray) -> np.ndarray:
    """In-sample MAE of the one-session naive forecast on the training split, per ticker: MASE's scale."""
    next_rows = target_rows(train_ends, 1)[:, 0]
    errors = np.abs(panel.price[next_rows] - panel.price[train_ends])
    ids = panel.ticker_ids[train_ends]
    counts = np.bincount(ids, minlength=len(panel.tickers))
    sums = np.bincount(ids, weights=errors, minlength=len(panel.tickers))
    return np.divide(sums, counts, out=np.full(len(counts), np.nan), where=counts > 0)


def _point(predicted, actual, last, scale) -> dict[str, float]:
    error = predicted - actual
    return {
        "mae": float(np.mean(np.abs(error))),
        "rmse": float(np.sqrt(np.mean(error**2))),
        "mape": float(np.mean(np.abs(error) / np.abs(actual)) * 100),
        "mase": float(np.mean(np.abs(error) / scale)),
        # A forecast of "no change" has no direction, so the naive baseline scores 0 here.
        "direction": float(np.mean(np.sign(predicted - last) == np.sign(actual - last))),
    }


def _distribution(values: np.ndarray, raw: np.ndarray, actual: np.ndarray, levels) -> dict[str, float]:
    """values, raw: (n, Q) calibrated and uncalibrated quantiles; actual: (n,) log returns."""
    losses = pinball(values, actual, levels).mean(axis=0)  # (Q,)
    scores = {f"pinball_{level_name(q)}": float(v) for q, v in zip(levels, losses, strict=True)}
    scores["pinball"] = float(losses.mean())
    scores["crps"] = float(2 * crps_weights(levels) @ losses)
    for low, high, coverage in central_intervals(levels):
        lo, hi = values[:, low], values[:, high]
        alpha = 1 - coverage / 100
        below, above = actual < lo, actual > hi
        scores[f"coverage_{coverage}"] = float(np.mean(~below & ~above))
        scores[f"raw_coverage_{coverage}"] = float(
            np.mean((actual >= raw[:, low]) & (actual <= raw[:, high]))
        )
        scores[f"width_{coverage}"] = float(np.mean(hi - lo))
        winkler = hi - lo + 2 / alpha * ((lo - actual) * below + (actual - hi) * above)
        scores[f"winkler_{coverage}"] = float(np.mean(winkler))
    return scores


def score_forecasts(
    panel: Panel,
    ends: np.ndarray,
    forecasts: dict[str, Forecast],
    raw: dict[str, Forecast],
    naive_scale: np.ndarray,
) -> dict[str, dict[str, dict[str, dict[str, float]]]]:
    """Every forecaster at every horizon, per ticker and pooled; `raw` is before calibration."""
    horizon = next(iter(forecasts.values())).values.shape[1]
    last = panel.price[ends]
    actual_price = panel.price[target_rows(ends, horizon)]  # (N, H)
    actual = np.log(actual_price / last[:, None])
    ids = panel.ticker_ids[ends]
    scale = naive_scale[ids]
    if len(panel.tickers) > 1:
        scopes = {"pooled": np.ones(len(ends), dtype=bool)}
        scopes.update({t: ids == i for i, t in enumerate(panel.tickers) if (ids == i).any()})
    else:
        scopes = {panel.tickers[0]: np.ones(len(ends), dtype=bool)}
    table: dict = {}
    for scope, rows in scopes.items():
        table[scope] = {name: {} for name in forecasts}
        for h in range(horizon):
            for name, forecast in forecasts.items():
                values, before = forecast.values[rows, h], raw[name].values[rows, h]
                median_price = last[rows] * np.exp(forecast.median[rows, h])
                scores = _point(median_price, actual_price[rows, h], last[rows], scale[rows])
                scores.update(_distribution(values, before, actual[rows, h], forecast.levels))
                table[scope][name][f"h{h + 1}"] = scores
            naive = table[scope]["naive"][f"h{h + 1}"]
            for name in forecasts:
                scores = table[scope][name][f"h{h + 1}"]
                ratios = [*RATIO_TO_NAIVE, *(k for k in naive if k.startswith("winkler_"))]
                for metric in ratios:
                    scores[f"{metric}_vs_naive"] = (
                        scores[metric] / naive[metric] if naive[metric] > 0 else np.nan
                    )
    return table


def metrics_by_horizon(metrics: dict) -> dict:
    """Runs from before horizons kept {scope: {forecaster: {metric}}}; give them an h1 level."""
    first = next(iter(next(iter(metrics.values())).values()))
    if "mae" in first:
        return {s: {f: {"h1": m} for f, m in by.items()} for s, by in metrics.items()}
    return metrics
