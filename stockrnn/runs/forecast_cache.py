"""The raw forecasts a run made on earlier nights, kept so that tonight's online calibration only
forecasts the windows that are new.

<forecasts>/.calibration/<run_id>.npz holds, per origin (ticker, date), a fingerprint of the
window's scaled features and the raw quantiles forecast from it. A cached forecast is used only
when the window's fingerprint is unchanged (a restated or refetched history recomputes it), so it
is the forecast of that very window (equal to a fresh one up to float32 rounding, which depends on
the batch a window is forecast in: 2e-9 in log return on the benchmark's panel). The file is hidden (readers of the forecasts folder skip it),
written atomically, read without pickles, and any file that is not exactly what this module
writes is ignored and rebuilt: it is a cache, never a source of truth.

A run's first night has no earlier night: <run>/raw_forecasts.npz, in the same form, holds the
forecasts training made on the newest test origins, the ones that night's calibration reads
(without it, the first predict forecast some 250 windows per ticker again: 9 of its 15 s at 500
tickers). The manifest records its sha256, and a file that is not those bytes is not read. The
cache of earlier nights wins where both hold an origin.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from stockrnn.dataset.windows import Panel
from stockrnn.io.atomic import write_atomic
from stockrnn.runs.schema import file_digest

log = logging.getLogger("stockrnn")
FOLDER = ".calibration"
RUN_FILE = "raw_forecasts.npz"  # in a run folder: the test forecasts the first night reads
MAX_BYTES = 512 * 2**20  # far above what W + H origins of a few thousand tickers need


def cache_file(forecasts_root: Path, run_id: str) -> Path:
    return Path(forecasts_root) / FOLDER / f"{run_id}.npz"


@dataclass(frozen=True)
class Origins:
    """Forecast origins by name: (N,) tickers and (N,) session days, what a forecast is cached under."""

    tickers: np.ndarray
    days: np.ndarray  # datetime64[D]

    @classmethod
    def of(cls, panel: Panel, ends: np.ndarray) -> Origins:
        return cls(
            np.asarray(panel.tickers)[panel.ticker_ids[ends]], panel.dates[ends].astype("datetime64[D]")
        )

    @cached_property
    def index(self) -> pd.MultiIndex:  # built once: load checks it is unique, every lookup reads it
        return pd.MultiIndex.from_arrays([self.tickers, self.days])


@dataclass(frozen=True)
class Saved:
    """One file's raw forecasts: per origin, its window's fingerprint (N, 3) and quantiles (N, H, Q)."""

    origins: Origins
    fingerprints: np.ndarray
    values: np.ndarray

    def rows_for(self, origins: Origins, fingerprints: np.ndarray) -> np.ndarray:
        """(M,) the row holding each origin's forecast of that very window (same fingerprint), or -1."""
        rows = self.origins.index.get_indexer(origins.index)
        found = rows >= 0
        found[found] = (self.fingerprints[rows[found]] == fingerprints[found]).all(axis=1)
        return np.where(found, rows, -1)


def window_fingerprints(panel: Panel, ends: np.ndarray, lookback: int) -> np.ndarray:
    """(N, 3) sum, sum of squares and position-weighted sum of each window's scaled features: each
    window reduced on its own, so the same window gives the same bits whatever panel holds it."""
    features = panel.features.astype("float64")
    per_row = np.stack([features.sum(axis=1), (features**2).sum(axis=1)], axis=1)  # (R, 2)
    padded = np.concatenate([np.zeros((lookback - 1, 2)), per_row])  # windows near row 0
    windows = sliding_window_view(padded, lookback, axis=0)  # (R, 2, L): window ending at each row
    chosen = windows[np.asarray(ends)]  # (N, 2, L)
    weights = np.arange(1, lookback + 1, dtype="float64")
    return np.concatenate([chosen.sum(axis=2), (chosen[:, 0] * weights).sum(axis=1, keepdims=True)], axis=1)


def load(path: Path, levels: tuple[float, ...], horizon: int, sha256: str | None = None) -> Saved | None:
    """The file's forecasts; None when there is no usable file, or with `sha256` (a run's file, as
    its manifest records it) when the bytes are not those."""
    try:
        if not path.is_file() or path.is_symlink() or path.stat().st_size > MAX_BYTES:
            return None
        data = path.read_bytes()
        if sha256 is not None and file_digest(data) != sha256:
            log.warning("%s changed since the run was saved (checksum mismatch); ignored", path)
            return None
        with np.load(io.BytesIO(data), allow_pickle=False) as saved:
            origins = Origins(saved["tickers"].astype(str), saved["days"].astype("datetime64[D]"))
            fingerprints, values, saved_levels = saved["fingerprints"], saved["values"], saved["levels"]
        if values.shape[1:] != (horizon, len(levels)) or tuple(saved_levels.tolist()) != tuple(levels):
            return None
        if (
            not (len(origins.tickers) == len(origins.days) == len(fingerprints) == len(values))
            or fingerprints.shape[1:] != (3,)
            or not np.isfinite(values).all()
            or not origins.index.is_unique  # a key held twice: no one row is its forecast
        ):
            return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.debug("forecast cache %s ignored (%s)", path, exc)
        return None
    return Saved(origins, fingerprints, values)


def write(path: Path, origins: Origins, fingerprints, values, levels) -> None:
    """The file `load` reads: per origin, its key, window fingerprint and raw quantiles (H, Q)."""
    with open(path, "wb") as fh:
        np.savez(
            fh,
            tickers=np.asarray(origins.tickers, dtype=str),
            days=np.asarray(origins.days, dtype="datetime64[D]"),
            fingerprints=np.asarray(fingerprints, dtype="float64"),
            values=np.asarray(values),
            levels=np.asarray(levels, dtype="float64"),
        )


def save(path: Path, root: Path, origins: Origins, fingerprints, values, levels) -> None:
    """Keep exactly these origins (the ones tonight's calibration used) for the next night."""
    try:
        write_atomic(path, lambda tmp: write(tmp, origins, fingerprints, values, levels), root=root)
    except Exception as exc:  # noqa: BLE001 - a cache that cannot be written costs speed, not forecasts
        log.warning("could not keep the forecast cache %s (%s); the next night recomputes it", path, exc)


def first_night(panel: Panel, ends: np.ndarray, values: np.ndarray, lookback: int, levels, sessions: int):
    """What a run saves as RUN_FILE from its raw forecasts `values` (N, H, Q) at the test origins
    `ends`: those among each ticker's newest `sessions` before its last, the history a predict on
    the newest stored session reads. Returns a writer of that file."""
    kept = np.asarray(ends) >= panel.ticker_ends(ends) - sessions
    chosen = np.asarray(ends)[kept]
    origins, fingerprints = Origins.of(panel, chosen), window_fingerprints(panel, chosen, lookback)
    return lambda path: write(path, origins, fingerprints, np.asarray(values)[kept], levels)
