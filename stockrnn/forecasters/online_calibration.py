"""Calibration that follows the market: each origin's interval offsets come from the forecaster's own
most recent *resolved* forecasts, not from a validation split frozen at training time.

A forecast for horizon h made at row s resolves at row s + h (its outcome is stored then). At origin
row t, the offsets of horizon h use only forecasts of the same ticker with s + h <= t: the feedback
is delayed by h sessions, as in Wang & Hyndman (2024), online conformal inference for multi-step
forecasts, so no outcome after t ever shapes t's interval. Conformity scores are split conformal's
(how far the outcome fell outside the raw interval, in units of the ticker's training volatility x
sqrt(h); see calibration.py), so one offset is comparable across tickers and horizons.

Methods (`calibration.method`):
- `split`: the offsets fitted once on the validation split (the model's saved offsets);
- `rolling`: the conformal quantile of the last `window` resolved scores of this ticker and horizon;
- `aci`: rolling, with the quantile level adapted after every resolved outcome (adaptive conformal
  inference, Gibbs & Candes 2021): alpha_t <- alpha_t + gamma * (alpha - miss), so a run of misses
  widens the interval beyond what the window alone would.
An origin with fewer than `min_resolved` resolved scores (a new ticker, a short history) keeps the
split offsets; `support` says how many scores each offset rests on (0 for those).
"""

from __future__ import annotations

import numpy as np

from stockrnn.config.schema import CalibrationConfig
from stockrnn.dataset.targets import resolved_log_returns
from stockrnn.dataset.windows import Panel
from stockrnn.forecasters.calibration import ConformalOffsets, volatility_units, widen
from stockrnn.forecasters.quantiles import Forecast, central_intervals

METHODS = ("split", "rolling", "aci")


def conformity_scores(forecast: Forecast, actual: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """(N, H, K) how far each outcome fell outside each raw central interval, in volatility units
    `scale` (N, H); NaN where `actual` (N, H) is NaN (not yet resolved)."""
    intervals = central_intervals(forecast.levels)
    scores = np.empty((*actual.shape, len(intervals)))
    for k, (low, high, _) in enumerate(intervals):
        below = forecast.values[..., low] - actual
        above = actual - forecast.values[..., high]
        scores[..., k] = np.maximum(below, above) / scale
    return scores


def _conformal_quantile(windows: np.ndarray, miscoverage: np.ndarray) -> np.ndarray:
    """(..., K) the ceil((n+1)(1-alpha))/n empirical quantile of each column of `windows` (..., n, K)."""
    n = windows.shape[-2]
    ordered = np.sort(windows, axis=-2)
    rank = np.ceil((n + 1) * (1 - miscoverage)).astype(int)  # (K,) 1-based; n+1 or more: the largest
    return ordered[..., np.clip(rank, 1, n) - 1, np.arange(windows.shape[-1])]


def online_offsets(
    rows: np.ndarray,
    ticker_ids: np.ndarray,
    scores: np.ndarray,
    wanted: np.ndarray,
    levels: tuple[float, ...],
    split_offsets: np.ndarray,
    settings: CalibrationConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """Offsets (N, H, K) in volatility units and their support (N, H) for the origins `wanted` (N,)
    marks, from the scores (N, H, K) of every origin given (history and wanted alike).

    `rows` (N,) are the origins' panel rows (consecutive sessions within a ticker), `ticker_ids` (N,)
    their tickers; a score is used at origin t only if its origin s has rows[s] + h <= rows[t].
    """
    count, horizon, intervals = scores.shape
    alpha = np.array([1 - coverage / 100 for _, _, coverage in central_intervals(levels)])
    offsets = np.full((count, horizon, intervals), np.nan)
    support = np.zeros((count, horizon), dtype=np.int64)
    offsets[wanted] = split_offsets  # until enough resolved scores exist
    if settings.method == "split":
        return offsets, support
    follow = _rolling if settings.method == "rolling" else _adaptive
    for ticker in np.unique(ticker_ids[wanted]):
        mine = np.flatnonzero(ticker_ids == ticker)
        mine = mine[np.argsort(rows[mine], kind="stable")]  # (n,) in time order
        for h in range(1, horizon + 1):
            follow(mine, rows, scores[:, h - 1], wanted, alpha, split_offsets[h - 1], h, settings,
                   offsets[:, h - 1], support[:, h - 1])  # fmt: skip
    return offsets, support


def _resolved(order, rows, scores, h) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One ticker's origins `order` in time at horizon h: their scores (n, K), which are usable
    (finite) (n,), and how many origins' outcomes each origin has seen (n,): those h sessions back."""
    ours, origin_rows = scores[order], rows[order]
    return ours, np.isfinite(ours).all(axis=1), np.searchsorted(origin_rows, origin_rows - h, side="right")


def _rolling(order, rows, scores, wanted, alpha, split, h, settings, offsets, support) -> None:
    """`rolling` for one ticker and horizon: fill `offsets` (N, K) and `support` (N,) of the wanted
    origins, all those with the same number of scores at once (the level never moves, so no origin
    waits on another's result; a backtest's parent spent a second a fold in the loop _adaptive is)."""
    ours, usable, resolved_by = _resolved(order, rows, scores, h)
    seen = np.concatenate([[0], np.cumsum(usable)])[resolved_by]  # (n,) usable scores resolved by each
    compact = ours[usable]  # (M, K) the usable scores in time order
    size = np.minimum(seen, settings.window)  # (n,) how many the window holds
    chosen = wanted[order] & (size >= settings.min_resolved)  # the rest keep the split offsets
    for count in np.unique(size[chosen]):  # all the same but near the start of a ticker's history
        at = np.flatnonzero(chosen & (size == count))
        windows = np.lib.stride_tricks.sliding_window_view(compact, count, axis=0)  # (M-count+1, K, count)
        last = windows[seen[at] - count].swapaxes(-1, -2)  # (S, count, K): each origin's newest scores
        offsets[order[at]] = _conformal_quantile(last, alpha)
        support[order[at]] = count


def _adaptive(order, rows, scores, wanted, alpha, split, h, settings, offsets, support) -> None:
    """`aci` for one ticker and horizon, origins `order` in time: fill `offsets` (N, K) and
    `support` (N,). Every origin's level depends on the misses of the offsets applied before it,
    so this walks them one by one."""
    ours, usable, resolved_by = _resolved(order, rows, scores, h)
    level = alpha.copy()  # ACI's running miscoverage target per interval
    applied = np.full_like(ours, np.nan)  # the offset each origin's interval used (ACI's feedback)
    counted = 0  # origins whose outcome ACI has already learned from
    for i, index in enumerate(order):
        available = resolved_by[i]
        for j in range(counted, available):
            if usable[j] and np.isfinite(applied[j]).all():
                missed = ours[j] > applied[j]
                level += settings.gamma * (alpha - missed)
        counted = max(counted, available)
        past = ours[:available][usable[:available]][-settings.window :]
        if len(past) < settings.min_resolved:
            applied[i] = split
            continue
        found = _conformal_quantile(past, np.clip(level, 0.0, 1.0))
        applied[i] = found
        if wanted[index]:
            offsets[index] = found
            support[index] = len(past)


def calibrate_online(
    panel: Panel,
    history_ends: np.ndarray,
    ends: np.ndarray,
    raw_history: Forecast,
    raw: Forecast,
    split: ConformalOffsets,
    settings: CalibrationConfig,
) -> tuple[Forecast, np.ndarray]:
    """`raw` (forecasts at `ends`) calibrated origin by origin from the resolved forecasts among
    `history_ends` (`raw_history`) and `ends` themselves; with the support (N, H) of each offset."""
    every = np.concatenate([history_ends, ends])
    horizon = raw.values.shape[1]
    scale = volatility_units(panel, every, split.return_scale, horizon)  # (N, H)
    actual = resolved_log_returns(panel, every, horizon)  # (N, H), NaN until resolved
    joined = Forecast(raw.levels, np.concatenate([raw_history.values, raw.values]))
    scores = conformity_scores(joined, actual, scale)
    wanted = np.arange(len(every)) >= len(history_ends)
    offsets, support = online_offsets(
        every, panel.ticker_ids[every], scores, wanted, raw.levels, split.offsets, settings
    )
    return widen(raw, offsets[wanted], scale[wanted]), support[wanted]
