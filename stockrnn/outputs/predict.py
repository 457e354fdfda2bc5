"""From a trained run and the newest stored prices to forecast rows (written by forecast.py)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from stockrnn.data.store import PriceStore, normalize_ticker
from stockrnn.dataset.windows import Panel
from stockrnn.errors import DataError, MissingInputError
from stockrnn.forecasters.online_calibration import calibrate_online
from stockrnn.runs.folder import RunFolder
from stockrnn.runs.restore import restore, run_panel

log = logging.getLogger("stockrnn")
MAX_LOG_RETURN = 5.0  # exp(5) ~ 150x: beyond any stock's move over a forecast horizon


def _run_tickers(run: RunFolder, requested: list[str] | None) -> list[str]:
    known = run.manifest.tickers
    if not requested:
        return list(known)
    chosen = [normalize_ticker(t) for t in requested]
    unknown = [t for t in chosen if t not in known]
    if unknown:
        raise MissingInputError(
            f"run {run.run_id} was not trained on {', '.join(unknown)}; it knows {', '.join(known)}"
        )
    return chosen


def forecast_frame(
    run: RunFolder,
    store: PriceStore,
    requested: list[str] | None,
    now: pd.Timestamp,
    allow_stale: bool,
    stale_sessions: int = 3,
    asof: pd.Timestamp | None = None,
    method: str | None = None,
    cache_root: Path | None = None,
) -> pd.DataFrame:
    """Forecasts for the next H sessions from each ticker's newest window, one row per (ticker, horizon):
    the median and every quantile level, as closes and as cumulative log returns. Refuses stale or
    gappy data. Intervals are calibrated online from the run's own forecasts over the newest
    calibration.window + H stored sessions, scored against the closes stored since. With `asof`, the
    forecasts that night would have made: only sessions up to that date are read (no staleness check).
    `method` overrides the run's calibration.method. Raw forecasts are reused where their windows are
    unchanged (forecast_cache.py): training's at the newest test origins, and with `cache_root` (the
    forecasts folder) those of earlier nights."""
    from stockrnn.data.calendar import last_closed_session, sessions_between
    from stockrnn.forecasters.network import NetworkForecaster

    config, model = restore(run)
    manifest = run.manifest
    exchange = config.data.exchange
    lookback = run.manifest.lookback
    tickers = _run_tickers(run, requested)
    settings = (
        config.calibration if method is None else config.calibration.model_copy(update={"method": method})
    )
    online = manifest.conformal is not None and settings.method != "split"
    history_origins = settings.window + manifest.horizon if online else 0
    # +1: the first row's return needs its eve
    panel = run_panel(run, store, tickers, last_rows=lookback + 1 + history_origins, until=asof)
    closed = last_closed_session(exchange, now)
    if not allow_stale and asof is None:
        _refuse_stale(panel, tickers, exchange, closed, stale_sessions)
    ends = []
    floor = config.features.history_floor  # a short-history ticker's window is left-padded
    for index, ticker in enumerate(tickers):
        rows = np.flatnonzero(panel.ticker_ids == index)
        if len(rows) < floor:
            what = "lookback" if floor == lookback else "min_history"
            raise DataError(
                f"{ticker}: {len(rows) + 1} sessions stored, fewer than the run's {what} of {floor} + 1; "
                f"fetch more history"
            )
        end = rows[-1]
        window_dates = panel.dates[max(end - lookback + 1, rows[0]) : end + 1]
        expected = sessions_between(exchange, window_dates[0], window_dates[-1])
        stray = sorted(set(pd.DatetimeIndex(window_dates).date) - set(expected.date))
        if stray:  # e.g. a weekend row: not a gap, a date the exchange never traded
            raise DataError(
                f"{ticker}: {stray[0]} in the newest window is not a session of {exchange} "
                f"({len(stray)} such date(s)); refetch the ticker, or check --exchange / data.exchange"
            )
        if len(expected) != len(window_dates):
            missing = sorted(set(expected.date) - set(pd.DatetimeIndex(window_dates).date))
            raise DataError(
                f"{ticker}: the newest {len(window_dates)}-session window has {len(expected) - len(window_dates)} "
                f"missing session(s) (first {missing[0] if missing else '?'}); refetch the ticker"
            )
        ends.append(end)
    ends = np.asarray(ends, dtype=np.int64)
    history = _history_ends(panel, ends, history_origins, floor)
    network = NetworkForecaster(
        model, lookback, manifest.horizon, manifest.levels, config.features.min_history
    )
    every, keep_for_tomorrow = _raw_forecasts(network, panel, history, ends, run, cache_root)
    raw = every.take(np.arange(len(history), len(history) + len(ends)))
    support = np.zeros((len(ends), manifest.horizon), dtype=np.int64)
    if online:
        raw_history = every.take(np.arange(len(history)))
        forecast, support = calibrate_online(
            panel, history, ends, raw_history, raw, manifest.conformal, settings
        )
        _warn_thin_support(tickers, support, settings.min_resolved)
    elif manifest.conformal is not None:
        forecast = manifest.conformal.apply(panel, ends, raw)
    else:
        forecast = raw
    with np.errstate(over="ignore", invalid="ignore"):  # damaged weights: reported just below
        finite = np.isfinite(forecast.prices(panel.price[ends])).all(axis=(1, 2))  # (N,)
        # A checksum proves the weights are the saved ones, not that they are sane: a cumulative log
        # return beyond +-5 (a factor of 150 in H sessions) is no forecast of a traded price.
        plausible = finite & (np.abs(forecast.values) <= MAX_LOG_RETURN).all(axis=(1, 2))
    if not plausible.all():
        bad = [tickers[i] for i in np.flatnonzero(~plausible)]
        what = "non-finite" if not finite.all() else f"implausible (a log return beyond +-{MAX_LOG_RETURN:g})"
        raise DataError(
            f"run {run.run_id} gives {what} forecasts for {', '.join(bad)}; its weights or scalers are "
            "damaged: retrain (nothing was written)"
        )
    keep_for_tomorrow()  # only forecasts that passed the checks above are cached
    frame = forecast_rows(run, config.model.label, exchange, panel, ends, forecast)
    frame["calibration_support"] = support.ravel()  # resolved forecasts the offsets rest on; 0: split
    if network.attention is not None:
        # Attention runs: which of the window's sessions each horizon's forecast looked at, oldest
        # first (the last weight is the asof session); a padded short window has zeros in front.
        newest = network.attention[-len(ends) :]  # tonight's windows are the last forecast
        frame["attention"] = list(newest.reshape(-1, newest.shape[-1]).astype("float32"))
    return frame


def _raw_forecasts(network, panel: Panel, history: np.ndarray, ends: np.ndarray, run: RunFolder, cache_root):
    """Raw forecasts at `history` then `ends`, in one batched forward pass over tonight's windows and
    the history windows no earlier night forecast (nor training, on the first night); and the
    function that keeps them in the cache for the next night."""
    from stockrnn.forecasters.quantiles import Forecast
    from stockrnn.runs import forecast_cache

    every = np.concatenate([history, ends])
    if len(history) == 0:
        return network.predict(panel, every), lambda: None
    origins = forecast_cache.Origins.of(panel, every)
    fingerprints = forecast_cache.window_fingerprints(panel, every, network.lookback)
    levels, horizon = network.levels, network.horizon
    path = None if cache_root is None else forecast_cache.cache_file(cache_root, run.run_id)
    digest = run.manifest.raw_forecasts_sha256  # none: no file, or one the run never saved
    sources = [  # earlier nights first; training's test forecasts on the first night
        None if path is None else forecast_cache.load(path, levels, horizon),
        None
        if digest is None
        else forecast_cache.load(run.path / forecast_cache.RUN_FILE, levels, horizon, digest),
    ]
    # Tonight's windows (the last len(ends)) are always forecast afresh.
    wanted = forecast_cache.Origins(origins.tickers[: len(history)], origins.days[: len(history)])
    hit = np.zeros(len(every), dtype=bool)
    values = np.empty((len(every), network.horizon, len(network.levels)))
    for saved in filter(None, sources):
        rows = saved.rows_for(wanted, fingerprints[: len(history)])
        new = np.flatnonzero((rows >= 0) & ~hit[: len(history)])
        hit[new], values[new] = True, saved.values[rows[new]]
    fresh = network.predict(panel, every[~hit])  # tonight's windows come last, as attention expects
    values = values.astype(fresh.values.dtype)
    values[~hit] = fresh.values
    log.debug("forecast cache: %d of %d history windows reused", int(hit.sum()), len(history))
    if path is None:
        return Forecast(fresh.levels, values), lambda: None
    keep = lambda: forecast_cache.save(path, Path(cache_root), origins, fingerprints, values, network.levels)  # noqa: E731
    return Forecast(fresh.levels, values), keep


def _history_ends(panel: Panel, ends: np.ndarray, count: int, floor: int) -> np.ndarray:
    """Up to `count` origins before each ticker's newest (`ends`) with a full window, oldest first."""
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    starts = panel.ticker_starts(ends)  # (N,) each ticker's first row
    found = [
        np.arange(max(start + floor - 1, end - count), end) for start, end in zip(starts, ends, strict=True)
    ]
    return np.concatenate(found).astype(np.int64)


def _warn_thin_support(tickers: list[str], support: np.ndarray, needed: int) -> None:
    thin = [f"{t} ({int(s)})" for t, s in zip(tickers, support.min(axis=1), strict=True) if s < needed]
    if thin:
        log.warning(
            "too few resolved forecasts to calibrate online (fewer than calibration.min_resolved = %d) "
            "for %s: their intervals use the run's saved split offsets",
            needed,
            ", ".join(thin),
        )


def _refuse_stale(panel: Panel, tickers: list[str], exchange: str, closed, stale_sessions: int) -> None:
    """Name every ticker whose newest session is more than `stale_sessions` behind, not just the first."""
    from stockrnn.data.calendar import sessions_between

    stale = []
    for index, ticker in enumerate(tickers):
        rows = np.flatnonzero(panel.ticker_ids == index)
        if len(rows) == 0:
            continue
        asof = pd.Timestamp(panel.dates[rows[-1]])
        behind = len(sessions_between(exchange, asof, closed)) - 1 if asof < closed else 0
        if behind > stale_sessions:
            stale.append(f"{ticker} ({asof.date()}, {behind} sessions)")
    if stale:
        raise DataError(
            f"newest stored session behind the last closed session {closed.date()} for {len(stale)} "
            f"ticker(s): {', '.join(stale)}; run `stockrnn fetch` or pass --allow-stale"
        )


def forecast_rows(
    run: RunFolder, model_name: str, exchange: str, panel: Panel, ends: np.ndarray, forecast
) -> pd.DataFrame:
    """The forecast laid out one row per (ticker, horizon); the schema is the README's."""
    from stockrnn.data.calendar import sessions_after
    from stockrnn.forecasters.quantiles import level_name

    count, horizon = len(ends), forecast.values.shape[1]
    origins = pd.DatetimeIndex(panel.dates[ends])
    last_close = panel.price[ends]
    median = forecast.median  # (N, H)
    prices = forecast.prices(last_close)  # (N, H, Q)
    columns = {
        "ticker": np.repeat(np.asarray(panel.tickers)[panel.ticker_ids[ends]], horizon),
        "origin_date": np.repeat(origins, horizon),
        "target_date": np.concatenate([sessions_after(exchange, day, horizon) for day in origins]),
        "horizon": np.tile(np.arange(1, horizon + 1, dtype=np.int64), count),
        "last_close": np.repeat(last_close, horizon),
        "predicted_close": (last_close[:, None] * np.exp(median)).ravel(),
        "predicted_return": median.ravel(),
    }
    for k, level in enumerate(forecast.levels):
        columns[f"close_{level_name(level)}"] = prices[..., k].ravel()
    for k, level in enumerate(forecast.levels):
        columns[f"return_{level_name(level)}"] = forecast.values[..., k].ravel()
    frame = pd.DataFrame(columns)
    frame["target_date"] = pd.to_datetime(frame["target_date"]).dt.date  # a date, as in the store
    frame["model_name"] = model_name
    frame["run_id"] = run.run_id
    frame["created_at"] = pd.Timestamp.now(tz="UTC")
    return frame
