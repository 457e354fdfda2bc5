"""One walk-forward fit and what the folds that use it need from it, as plain arrays.

A fit (fold k with `refit`, plus the folds after it that reuse it) is independent of every other
fit unless warm-started, so `--jobs N` runs them in N processes (fanout.py). The worker returns
forecasts and offsets, never a model: what crosses the process boundary is arrays, and the
parent calibrates online and scores fold by fold exactly as with one job.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from stockrnn.config.schema import Config
from stockrnn.dataset.windows import FitData, Panel, build_panel
from stockrnn.errors import DataError
from stockrnn.forecasters.calibration import ConformalOffsets
from stockrnn.forecasters.quantiles import Forecast


@dataclass
class FoldFit:
    """A fit and its forecasts for every fold that uses it."""

    panel: Panel
    train_ends: np.ndarray
    val_ends: np.ndarray
    offsets: dict[str, ConformalOffsets]  # per forecaster; empty without calibration
    raw_history: dict[str, Forecast]  # on val_ends, for the forecasters with offsets
    ends: dict[int, np.ndarray] = field(default_factory=dict)  # fold index -> its origins
    raw: dict[int, dict[str, Forecast]] = field(default_factory=dict)  # fold index -> forecasts
    fit_seconds: dict[str, float] = field(default_factory=dict)
    best_epoch: int = 0
    history: list[dict] = field(default_factory=list)
    weights: dict | None = None  # the network's, for the next warm-started fit
    seconds: float = 0.0
    device: str = ""  # where the network was fitted


def fit_group(
    config: Config,
    frames: dict[str, pd.DataFrame],
    names: list[str],
    folds: list,
    device,
    start_weights: dict | None = None,
    on_epoch=None,
    keep_weights: bool = True,
) -> FoldFit:
    """Fit on fold `folds[0]`'s training and validation sessions (from `start_weights` if given),
    then forecast the origins of each fold in `folds` with the network and every baseline.
    `device` may be a name ("auto" included: a worker resolves it); keep_weights=False leaves the
    network's weights out (a fanned-out fit's parent needs none, nor torch to unpickle them)."""
    import torch

    from stockrnn.evaluation.scoring import calibrate
    from stockrnn.forecasters.network import NetworkForecaster
    from stockrnn.forecasters.registry import fit_baselines
    from stockrnn.forecasters.training import resolve_device

    started = time.perf_counter()
    device = resolve_device(str(device))
    fold = folds[0]
    lookback, horizon, levels = config.features.lookback, config.features.horizon, config.model.levels
    floor = config.features.history_floor
    train_start = pd.Timestamp(fold.train_start) if fold.train_start else None
    panel = build_panel(
        frames,
        names,
        names[0],
        config.features.scaler,
        pd.Timestamp(fold.train_end),
        min_train_rows=floor + 2,
        train_start=train_start,
    )
    train_ends = panel.window_ends(lookback, horizon, train_start, pd.Timestamp(fold.train_end), floor)
    val_ends = panel.window_ends(
        lookback, horizon, pd.Timestamp(fold.train_end), pd.Timestamp(fold.cutoff), floor
    )
    if len(train_ends) == 0 or len(val_ends) == 0:
        raise DataError(
            f"fold {fold.index}: no {'training' if len(train_ends) == 0 else 'validation'} windows "
            f"of {lookback} sessions with {horizon} targets; shorten features.lookback or fold later"
        )
    data = FitData(panel, train_ends, val_ends, lookback, horizon, levels)
    torch.manual_seed(fold.seed)
    network = NetworkForecaster.from_config(config, len(names), horizon, levels)
    if start_weights is not None:
        network.model.load_state_dict(start_weights)
    fit_started = time.perf_counter()
    network.fit(data, config.training.model_copy(update={"seed": fold.seed}), device, on_epoch)
    fit_seconds = {network.name: time.perf_counter() - fit_started}
    forecasters = {network.name: network, **fit_baselines(data, fit_seconds)}
    calibrated_runs = config.model.conformal and not config.model.is_point
    offsets = calibrate(data, forecasters) if calibrated_runs else {}
    found = FoldFit(
        panel,
        train_ends,
        val_ends,
        offsets,
        {name: forecasters[name].predict(panel, val_ends) for name in offsets},
        fit_seconds=fit_seconds,
        best_epoch=network.result.best_epoch,
        history=[asdict(epoch) for epoch in network.result.history],
        weights=(
            {key: value.detach().cpu().clone() for key, value in network.model.state_dict().items()}
            if keep_weights
            else None
        ),
        device=str(device),
    )
    origins = panel.window_ends(lookback, horizon, None, None, floor)
    origin_dates = panel.dates[origins]
    for using in folds:
        in_fold = (origin_dates >= np.datetime64(using.cutoff)) & (
            origin_dates <= np.datetime64(using.last_origin)
        )
        found.ends[using.index] = origins[in_fold]
        found.raw[using.index] = {name: f.predict(panel, origins[in_fold]) for name, f in forecasters.items()}
    found.seconds = time.perf_counter() - started
    return found


def fit_group_in_worker(
    config: Config, frames: dict[str, pd.DataFrame], names: list[str], folds: list, device
):
    """fit_group for a fanned-out fit: the device resolved in the worker, no weights carried back
    (nothing chains from it, and the parent then needs no torch to unpickle the result)."""
    return fit_group(config, frames, names, folds, device, keep_weights=False)
