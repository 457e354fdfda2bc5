"""Scores in price units for the model and every baseline, on the very same targets."""

from __future__ import annotations

import numpy as np

from stockrnn.windows import Panel

METRICS = ("mae", "rmse", "mape", "mase", "mae_vs_naive", "direction")


def naive_scale_per_ticker(panel: Panel, train_ends: np.ndarray) -> np.ndarray:
    """In-sample MAE of the naive forecast on the training split, per ticker: MASE's denominator."""
    errors = np.abs(panel.price[train_ends + 1] - panel.price[train_ends])
    ids = panel.ticker_ids[train_ends]
    counts = np.bincount(ids, minlength=len(panel.tickers))
    sums = np.bincount(ids, weights=errors, minlength=len(panel.tickers))
    return np.divide(sums, counts, out=np.full(len(counts), np.nan), where=counts > 0)


def _score(predicted, actual, last, scale) -> dict[str, float]:
    error = predicted - actual
    return {
        "mae": float(np.mean(np.abs(error))),
        "rmse": float(np.sqrt(np.mean(error**2))),
        "mape": float(np.mean(np.abs(error) / np.abs(actual)) * 100),
        "mase": float(np.mean(np.abs(error) / scale)),
        # A forecast of "no change" has no direction, so the naive baseline scores 0 here.
        "direction": float(np.mean(np.sign(predicted - last) == np.sign(actual - last))),
    }


def score_all(
    panel: Panel, ends: np.ndarray, predictions: dict[str, np.ndarray], naive_scale: np.ndarray
) -> dict[str, dict[str, dict[str, float]]]:
    """{scope: {forecaster: {metric: value}}} where scope is each ticker and "pooled"."""
    actual = panel.price[ends + 1]
    last = panel.price[ends]
    ids = panel.ticker_ids[ends]
    scale = naive_scale[ids]
    scopes = {"pooled": np.ones(len(ends), dtype=bool)}
    if len(panel.tickers) > 1:
        scopes.update({t: ids == i for i, t in enumerate(panel.tickers) if (ids == i).any()})
    else:
        scopes = {panel.tickers[0]: scopes["pooled"]}
    table: dict[str, dict[str, dict[str, float]]] = {}
    for scope, rows in scopes.items():
        table[scope] = {
            name: _score(predicted[rows], actual[rows], last[rows], scale[rows])
            for name, predicted in predictions.items()
        }
        naive_mae = table[scope]["naive"]["mae"]
        for scores in table[scope].values():
            scores["mae_vs_naive"] = scores["mae"] / naive_mae if naive_mae > 0 else float("nan")
    return table
