"""Stored prices -> features -> chronological split -> panel scaled on the training split."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from stockrnn.config.schema import Config
from stockrnn.data.prices import extreme_moves
from stockrnn.data.store import PriceStore, normalize_ticker
from stockrnn.dataset.features import chosen_names, compute_features, warmup_rows
from stockrnn.dataset.windows import FitData, Panel, SplitDates, build_panel, split_dates
from stockrnn.errors import DataError

log = logging.getLogger("stockrnn")


def load_feature_frames(
    store: PriceStore,
    tickers: list[str],
    names: list[str] | None,
    target: str,
    last_rows: int | None = None,
    inputs: list[str] | None = None,
    until: pd.Timestamp | None = None,
):
    """Feature frames per ticker: `names` as a run recorded them, else chosen from `inputs` (or the
    defaults). With `last_rows`, the newest last_rows - 1 feature rows (reading the warm-up too);
    with `until`, only sessions up to that date exist (what was known then)."""
    if last_rows is not None and names is not None:
        last_rows += warmup_rows(names)
    if until is None:
        prices = {t: store.read(t, last_rows) for t in tickers}
    else:
        known = {t: store.read(t) for t in tickers}
        known = {t: p[p["date"] <= pd.Timestamp(until)] for t, p in known.items()}
        prices = {t: p.iloc[-last_rows:] if last_rows else p for t, p in known.items()}
        prices = {t: p.reset_index(drop=True) for t, p in prices.items()}
    names = names or chosen_names(list(prices.values()), target, inputs)
    return {t: compute_features(p, names) for t, p in prices.items()}, names


def fingerprint(frames: dict[str, pd.DataFrame], until: pd.Timestamp) -> str:
    """sha256 over every (ticker, date, feature) value used, so a run names its exact data."""
    digest = hashlib.sha256()
    for ticker, frame in sorted(frames.items()):
        used = frame[frame["date"] <= until]
        digest.update(ticker.encode())
        digest.update(used["date"].to_numpy(dtype="datetime64[ns]").tobytes())
        digest.update(np.ascontiguousarray(used.drop(columns="date").to_numpy(dtype="float64")).tobytes())
    return digest.hexdigest()


def _warn_extreme_moves(frames: dict[str, pd.DataFrame]) -> None:
    """Training on an unadjusted split teaches the model a -90% day: say so, naming the date."""
    for ticker, frame in frames.items():
        for day, ratio in extreme_moves(frame["date"], frame["price"]):
            log.warning(
                "%s: the price moves x%.3g on %s (more than 3x in a session); an unadjusted split? "
                "Training learns it as a market move",
                ticker,
                ratio,
                day,
            )


def _require(ends: np.ndarray, split: str, lookback: int, horizon: int) -> None:
    if len(ends) == 0:
        raise DataError(
            f"the {split} split has no windows of {lookback} sessions with all {horizon} target session(s) "
            "inside it; fetch more history, shorten features.lookback or features.horizon, or move the split dates"
        )


@dataclass
class TrainingData:
    """Everything training and scoring read: the feature frames, the scaled panel and its split."""

    tickers: list[str]
    frames: dict[str, pd.DataFrame]
    feature_names: list[str]
    panel: Panel
    split: SplitDates
    train_ends: np.ndarray  # origin rows of each split's windows, into the panel
    val_ends: np.ndarray
    test_ends: np.ndarray
    lookback: int
    horizon: int
    levels: tuple[float, ...]

    @property
    def fit_data(self) -> FitData:
        return FitData(self.panel, self.train_ends, self.val_ends, self.lookback, self.horizon, self.levels)


def prepare_training_data(config: Config, store: PriceStore) -> TrainingData:
    """Stored prices -> features -> chronological split -> panel scaled on the training split."""
    lookback, horizon = config.features.lookback, config.features.horizon
    floor = config.features.history_floor  # the fewest real sessions a window may hold
    tickers = list(dict.fromkeys(normalize_ticker(t) for t in config.data.tickers))
    frames, names = load_feature_frames(
        store, tickers, None, config.features.target, inputs=config.features.inputs
    )
    _warn_extreme_moves(frames)
    target_dates = np.concatenate([f["date"].to_numpy()[floor:] for f in frames.values()])
    if len(target_dates) == 0:
        raise DataError(f"{', '.join(tickers)}: fewer than {floor + 2} sessions stored; fetch more history")
    split = split_dates(target_dates, config.split)
    panel = build_panel(
        frames, names, names[0], config.features.scaler, split.train_end, min_train_rows=floor + 2
    )
    ends = {
        "training": panel.window_ends(lookback, horizon, None, split.train_end, floor),
        "validation": panel.window_ends(lookback, horizon, split.train_end, split.val_end, floor),
        "test": panel.window_ends(lookback, horizon, split.val_end, split.test_end, floor),
    }
    for name, split_ends in ends.items():
        _require(split_ends, name, lookback, horizon)
    return TrainingData(
        tickers, frames, names, panel, split, *ends.values(), lookback, horizon, config.model.levels
    )
