"""Chronological split, train-only scaling, and sliding windows over one contiguous panel.

Every ticker's feature rows are stacked into one (rows, features) array. A window is named by
the row it ends on (its origin): window r covers rows r-L+1 .. r of one ticker and forecasts
the sessions at rows r+1 .. r+H (`target_rows`, the one place that offset is written).
Windows are never materialised as (N, L, F) copies; batches are gathered from a view.
A window belongs to the split of its *farthest* target date, so an input window may reach back
into an earlier split but no target of a training window reaches validation or test.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from stockrnn.config.schema import SplitConfig
from stockrnn.errors import DataError


@dataclass(frozen=True)
class AffineScaler:
    """x_scaled = (x - center) / scale per column; standard, minmax and robust all take this form."""

    kind: str
    center: tuple[float, ...]
    scale: tuple[float, ...]

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (values - np.asarray(self.center)) / np.asarray(self.scale)

    def inverse(self, values: np.ndarray, column: int) -> np.ndarray:
        return values * self.scale[column] + self.center[column]

    def to_json(self) -> dict:
        return {"kind": self.kind, "center": list(self.center), "scale": list(self.scale)}

    @classmethod
    def from_json(cls, data: dict) -> AffineScaler:
        return cls(data["kind"], tuple(data["center"]), tuple(data["scale"]))


def fit_scaler_on_train(train_values: np.ndarray, kind: str) -> AffineScaler:
    """Fit scikit-learn's scaler on training rows only and keep its parameters as plain numbers."""
    from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

    if kind == "standard":
        fitted = StandardScaler().fit(train_values)
        center, scale = fitted.mean_, fitted.scale_
    elif kind == "minmax":
        fitted = MinMaxScaler().fit(train_values)
        center, scale = fitted.data_min_, fitted.data_range_
    elif kind == "robust":
        fitted = RobustScaler().fit(train_values)
        center, scale = fitted.center_, fitted.scale_
    else:
        raise ValueError(f"unknown scaler {kind}")
    scale = np.where(scale > 0, scale, 1.0)  # a constant column would otherwise divide by zero
    return AffineScaler(kind, tuple(map(float, center)), tuple(map(float, scale)))


@dataclass(frozen=True)
class SplitDates:
    """Targets dated <= train_end train, <= val_end validate, <= test_end test."""

    train_end: pd.Timestamp
    val_end: pd.Timestamp
    test_end: pd.Timestamp

    def to_json(self) -> dict:
        return {k: str(getattr(self, k).date()) for k in ("train_end", "val_end", "test_end")}

    @classmethod
    def from_json(cls, data: dict) -> SplitDates:
        return cls(*(pd.Timestamp(data[k]) for k in ("train_end", "val_end", "test_end")))


def split_dates(target_dates: np.ndarray, config: SplitConfig) -> SplitDates:
    """Boundaries from explicit dates, else from fractions of the distinct target dates."""
    dates = np.unique(target_dates)
    if config.train_end is not None:
        return SplitDates(
            pd.Timestamp(config.train_end), pd.Timestamp(config.val_end), pd.Timestamp(dates[-1])
        )
    n = len(dates)

    def at(fraction: float) -> pd.Timestamp:
        return pd.Timestamp(dates[max(int(round(n * fraction)) - 1, 0)])

    return SplitDates(
        at(config.train), at(config.train + config.val), at(config.train + config.val + config.test)
    )


def target_rows(ends: np.ndarray, horizon: int) -> np.ndarray:
    """(N, H): the rows of the sessions 1..H after each origin row."""
    return np.asarray(ends)[:, None] + np.arange(1, horizon + 1)


@dataclass
class Panel:
    """All tickers' scaled features stacked in one contiguous array; row-aligned metadata beside it."""

    tickers: list[str]
    feature_names: list[str]
    target_column: int
    features: np.ndarray  # (R, F) float32, scaled
    price: np.ndarray  # (R,) float64, the price basis, for rebuilding forecasts in price units
    dates: np.ndarray  # (R,) datetime64[ns]
    ticker_ids: np.ndarray  # (R,) int32, index into `tickers`
    scalers: dict[str, AffineScaler]

    @property
    def target(self) -> np.ndarray:  # (R,) the scaled target column
        return self.features[:, self.target_column]

    def window_ends(
        self,
        lookback: int,
        horizon: int,
        after: pd.Timestamp | None,
        until: pd.Timestamp | None,
        min_history: int | None = None,
    ) -> np.ndarray:
        """Origin rows r whose window and H targets lie in one ticker and whose farthest target is
        dated in (after, until]. With min_history below lookback, a window needs only that many
        sessions of its ticker (the rest is left padding)."""
        floor = min(min_history or lookback, lookback)
        r = np.arange(floor - 1, len(self.dates) - horizon)
        farthest = target_rows(r, horizon)[:, -1]
        # Each ticker's rows are contiguous, so equal ids at both ends mean one ticker throughout.
        same_ticker = self.ticker_ids[r - floor + 1] == self.ticker_ids[farthest]
        target_dates = self.dates[farthest]
        keep = same_ticker
        if after is not None:
            keep &= target_dates > np.datetime64(after)
        if until is not None:
            keep &= target_dates <= np.datetime64(until)
        return r[keep]

    @cached_property
    def _first_rows(self) -> np.ndarray:
        """(T,) the first row of each ticker's block, ascending (a ticker's rows are contiguous)."""
        ids = self.ticker_ids
        return np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])

    def ticker_starts(self, rows: np.ndarray | None = None) -> np.ndarray:
        """The first row of the ticker of each of `rows` (every row when None)."""
        rows = np.arange(len(self.ticker_ids)) if rows is None else np.asarray(rows)
        return self._first_rows[np.searchsorted(self._first_rows, rows, side="right") - 1]

    def ticker_ends(self, rows: np.ndarray) -> np.ndarray:
        """The last row of the ticker of each of `rows`."""
        after = np.r_[self._first_rows[1:], len(self.ticker_ids)]  # the row after each block
        return after[np.searchsorted(self._first_rows, np.asarray(rows), side="right") - 1] - 1

    def windows_at(self, ends: np.ndarray, lookback: int) -> np.ndarray:
        """(n, L, F) float64 copies of the windows ending on `ends`; rows before a window's ticker
        starts are zero (left padding, the training mean under the standard scaler)."""
        rows = np.asarray(ends)[:, None] - lookback + 1 + np.arange(lookback)  # (n, L)
        real = rows >= self.ticker_starts(ends)[:, None]
        return self.features[np.clip(rows, 0, None)].astype("float64") * real[..., None]

    def sliding_windows(self, lookback: int) -> np.ndarray:
        """A (R-L+1, L, F) read-only view: entry r-L+1 is the window ending on row r. No copy."""
        view = np.lib.stride_tricks.sliding_window_view(self.features, lookback, axis=0)  # (R-L+1, F, L)
        return view.transpose(0, 2, 1)


def build_panel(
    frames: dict[str, pd.DataFrame],
    feature_names: list[str],
    target_name: str,
    scaler_kind: str,
    train_end: pd.Timestamp | None,
    scalers: dict[str, AffineScaler] | None = None,
    min_train_rows: int = 2,
    train_start: pd.Timestamp | None = None,
) -> Panel:
    """Stack per-ticker feature frames, scaling each with its own scaler.

    Scalers are fitted on rows dated in (train_start, train_end] unless given (a trained run's, at
    predict time); train_start is None but for a backtest's rolling window.
    """
    fitted = dict(scalers or {})
    blocks, prices, dates, ids = [], [], [], []
    for index, (ticker, frame) in enumerate(frames.items()):
        values = np.column_stack([frame[name].to_numpy(dtype="float64") for name in feature_names])
        if ticker not in fitted:
            row_dates = frame["date"].to_numpy()
            in_training = row_dates <= np.datetime64(train_end)
            if train_start is not None:
                in_training &= row_dates > np.datetime64(train_start)
            train_rows = values[in_training]
            if len(train_rows) < min_train_rows:
                raise DataError(
                    f"{ticker}: {len(train_rows)} sessions up to the training split's end {train_end.date()}; "
                    f"need at least {min_train_rows} (min_history, else lookback, + 2); fetch more history, "
                    "or set a lower features.min_history (short windows are left-padded)"
                )
            fitted[ticker] = fit_scaler_on_train(train_rows, scaler_kind)
        scaled = fitted[ticker].transform(values)
        if not np.isfinite(scaled).all():
            row = int(np.flatnonzero(~np.isfinite(scaled).all(axis=1))[0])
            raise DataError(f"{ticker}: features are not finite on {frame['date'].iloc[row].date()}")
        blocks.append(scaled.astype(np.float32))
        prices.append(frame["price"].to_numpy(dtype="float64"))
        dates.append(frame["date"].to_numpy(dtype="datetime64[ns]"))
        ids.append(np.full(len(frame), index, dtype=np.int32))
    return Panel(
        tickers=list(frames),
        feature_names=list(feature_names),
        target_column=feature_names.index(target_name),
        features=np.ascontiguousarray(np.concatenate(blocks)),
        price=np.concatenate(prices),
        dates=np.concatenate(dates),
        ticker_ids=np.concatenate(ids),
        scalers=fitted,
    )


@dataclass(frozen=True)
class FitData:
    """What every forecaster fits on: the panel, its training and validation origins, L and H."""

    panel: Panel
    train_ends: np.ndarray
    val_ends: np.ndarray
    lookback: int
    horizon: int
    levels: tuple[float, ...]

    def training_returns(self, ticker_index: int) -> np.ndarray:
        """One-session log returns of a ticker from its first training window's first row up to its
        last training target (its first row, unless a backtest's rolling window starts later)."""
        ends = self.train_ends[self.panel.ticker_ids[self.train_ends] == ticker_index]
        if len(ends) == 0:
            return np.empty(0)
        last = target_rows(ends[-1:], self.horizon)[0, -1]
        # A short, left-padded window starts at its ticker's first row, not lookback rows back.
        first = max(ends[0] - self.lookback + 1, int(self.panel.ticker_starts(ends[:1])[0]))
        price = self.panel.price[first : last + 1]
        return np.diff(np.log(price))
