"""Cumulative log returns to each horizon, and the normalised form the network and ridge learn.

The network's targets are normalised per ticker and horizon so that every horizon is about unit
scale (the pinball loss then weighs horizons alike): for a log-return target,
z = (C_h - h * center) / (scale * sqrt(h)) with the training split's scaler of the one-session
return, which at h = 1 is exactly that scaler's transform (so H = 1 runs decode as before). For
a price-level target, z is the scaled price at r + h. Both maps are increasing, so quantiles
stay quantiles.
"""

from __future__ import annotations

import numpy as np

from stockrnn.dataset.windows import Panel, target_rows


def cumulative_log_returns(panel: Panel, ends: np.ndarray, horizon: int) -> np.ndarray:
    """(N, H) log(price[r+h] / price[r]); the caller keeps r+h inside the origin's ticker."""
    return np.log(panel.price[target_rows(ends, horizon)] / panel.price[ends][:, None])


def resolved_log_returns(panel: Panel, ends: np.ndarray, horizon: int) -> np.ndarray:
    """(N, H) like cumulative_log_returns, NaN where the session r+h is not stored (yet) for the
    origin's ticker: the outcomes known so far."""
    rows = target_rows(ends, horizon)  # (N, H)
    inside = rows < len(panel.dates)
    clipped = np.where(inside, rows, 0)
    inside &= panel.ticker_ids[clipped] == panel.ticker_ids[np.asarray(ends)][:, None]
    found = np.log(panel.price[clipped] / panel.price[ends][:, None])
    return np.where(inside, found, np.nan)


def _target_scaling(panel: Panel, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 1) center and scale of the target column, from each origin's ticker's scaler."""
    column = panel.target_column
    center = np.array([panel.scalers[t].center[column] for t in panel.tickers])
    scale = np.array([panel.scalers[t].scale[column] for t in panel.tickers])
    ids = panel.ticker_ids[ends]
    return center[ids][:, None], scale[ids][:, None]


def _is_return_target(panel: Panel) -> bool:
    return panel.feature_names[panel.target_column] == "log_return"


def normalize(panel: Panel, ends: np.ndarray, cumulative: np.ndarray) -> np.ndarray:
    """(N, H) cumulative log returns -> the network's normalised targets."""
    center, scale = _target_scaling(panel, ends)
    steps = np.arange(1, cumulative.shape[1] + 1)
    if _is_return_target(panel):
        return (cumulative - steps * center) / (scale * np.sqrt(steps))
    return (panel.price[ends][:, None] * np.exp(cumulative) - center) / scale


def denormalize(panel: Panel, ends: np.ndarray, z: np.ndarray) -> np.ndarray:
    """(N, H, Q) normalised outputs -> quantiles of the cumulative log return."""
    center, scale = _target_scaling(panel, ends)
    center, scale = center[..., None], scale[..., None]  # (N, 1, 1)
    steps = np.arange(1, z.shape[1] + 1)[:, None]  # (H, 1)
    if _is_return_target(panel):
        return z * scale * np.sqrt(steps) + steps * center
    # A price level at or below zero has no log return; the smallest positive price stands in.
    level = np.maximum(z * scale + center, np.finfo("float64").tiny)
    return np.log(level / panel.price[ends][:, None, None])


def training_targets(panel: Panel, horizon: int) -> np.ndarray:
    """(R, H) float32 normalised targets with every row as origin; NaN where r+h leaves the ticker."""
    rows = np.arange(len(panel.dates))
    reach = target_rows(rows, horizon)  # (R, H)
    inside = reach < len(rows)
    reach = np.where(inside, reach, rows[:, None])  # placeholder rows, masked below
    inside &= panel.ticker_ids[reach] == panel.ticker_ids[rows][:, None]
    cumulative = np.log(panel.price[reach] / panel.price[rows][:, None])
    z = normalize(panel, rows, cumulative)
    return np.where(inside, z, np.nan).astype(np.float32)
