"""`stockrnn train --challenge production`: a new run earns production only by beating it.

Both runs forecast the same recent origins (the challenger's test split, on the tickers both know),
each calibrated its own way online from its own resolved forecasts before and during those origins.
Their pinball losses are compared per horizon with Diebold-Mariano (one loss per origin date,
pooled over tickers). The challenger is promoted only when its mean pinball over all horizons is
lower and it is significantly worse at no horizon; either way the verdict says why.
"""

from __future__ import annotations

import numpy as np

from stockrnn.dataset.targets import cumulative_log_returns
from stockrnn.dataset.windows import Panel
from stockrnn.evaluation.significance import diebold_mariano, per_date
from stockrnn.forecasters.network import NetworkForecaster
from stockrnn.forecasters.online_calibration import calibrate_online
from stockrnn.forecasters.quantiles import Forecast, pinball
from stockrnn.runs.folder import RunFolder
from stockrnn.runs.restore import restore, run_panel

LEVEL = 0.05  # a difference with a DM p-value below this is significant


def _refusal(production: RunFolder, why: str) -> dict:
    return {"production": production.run_id, "comparable": False, "promoted": False, "why": why}


def _production_forecast(production: RunFolder, prices, tickers: list[str], keys: list[tuple[str, object]]):
    """The production run's calibrated forecasts at the (ticker, date) origins `keys` it can make,
    as (found mask over keys, Forecast of the found ones)."""
    config, model = restore(production)
    manifest = production.manifest
    panel = run_panel(production, prices, tickers)
    floor = config.features.history_floor
    rows = np.full(len(keys), -1)
    for i, (ticker, day) in enumerate(keys):
        block = np.flatnonzero(panel.ticker_ids == tickers.index(ticker))
        at = np.searchsorted(panel.dates[block], np.datetime64(day))
        if at < len(block) and panel.dates[block[at]] == np.datetime64(day) and at >= floor - 1:
            rows[i] = block[at]
    found = rows >= 0
    ends = rows[found]
    network = NetworkForecaster(
        model, manifest.lookback, manifest.horizon, manifest.levels, config.features.min_history
    )
    raw = network.predict(panel, ends)
    if manifest.conformal is None:
        return found, raw
    settings = config.calibration
    if settings.method == "split":
        return found, manifest.conformal.apply(panel, ends, raw)
    history = _history_before(panel, ends, settings.window + manifest.horizon, floor)
    calibrated, _ = calibrate_online(
        panel, history, ends, network.predict(panel, history), raw, manifest.conformal, settings
    )
    return found, calibrated


def _history_before(panel: Panel, ends: np.ndarray, count: int, floor: int) -> np.ndarray:
    """Per ticker, up to `count` origins before its first of `ends` (with a full window)."""
    found = []
    for ticker in np.unique(panel.ticker_ids[ends]):
        first = ends[panel.ticker_ids[ends] == ticker].min()
        start = panel.ticker_starts(np.array([first]))[0]
        found.append(np.arange(max(start + floor - 1, first - count), first))
    return np.concatenate(found).astype(np.int64) if found else np.zeros(0, dtype=np.int64)


def challenge(production: RunFolder, prices, panel: Panel, ends: np.ndarray, challenger: Forecast) -> dict:
    """The verdict of the challenger's forecasts `challenger` at origins `ends` of `panel` against the
    production run's on the same origins."""
    manifest = production.manifest
    horizon = challenger.values.shape[1]
    if manifest.horizon != horizon or tuple(manifest.levels) != tuple(challenger.levels):
        return _refusal(
            production,
            f"production forecasts H={manifest.horizon} at levels {list(manifest.levels)}, the challenger "
            f"H={horizon} at {list(challenger.levels)}: their pinball losses do not compare",
        )
    tickers = [t for t in panel.tickers if t in manifest.tickers]
    ours = np.flatnonzero(np.isin(np.asarray(panel.tickers)[panel.ticker_ids[ends]], tickers))
    if len(ours) == 0:
        return _refusal(production, f"no ticker in common (production knows {', '.join(manifest.tickers)})")
    keys = [(panel.tickers[panel.ticker_ids[e]], panel.dates[e]) for e in ends[ours]]
    found, theirs = _production_forecast(production, prices, tickers, keys)
    ours = ours[found]
    mine = challenger.take(ours)
    actual = cumulative_log_returns(panel, ends[ours], horizon)  # (N, H)
    dates = panel.dates[ends[ours]]
    horizons, means = {}, {"challenger": [], "production": []}
    for h in range(horizon):
        loss_new = per_date(pinball(mine.values[:, h], actual[:, h], mine.levels).mean(-1), dates)
        loss_old = per_date(pinball(theirs.values[:, h], actual[:, h], theirs.levels).mean(-1), dates)
        statistic, p = diebold_mariano(loss_new, loss_old, h + 1)
        horizons[f"h{h + 1}"] = {
            "challenger": float(loss_new.mean()),
            "production": float(loss_old.mean()),
            "p": None if np.isnan(p) else p,
            "worse": bool(p < LEVEL and statistic > 0) if not np.isnan(p) else False,
        }
        means["challenger"].append(loss_new.mean())
        means["production"].append(loss_old.mean())
    new, old = float(np.mean(means["challenger"])), float(np.mean(means["production"]))
    worse_at = [h for h, row in horizons.items() if row["worse"]]
    if worse_at:
        why = f"significantly worse at {', '.join(worse_at)} (DM p < {LEVEL})"
    elif new >= old:
        why = f"mean pinball {new:.6f} is not below production's {old:.6f}"
    else:
        why = f"mean pinball {new:.6f} below production's {old:.6f} ({new / old:.4f}x), worse at no horizon"
    return {
        "production": production.run_id,
        "comparable": True,
        "origins": int(len(ours)),
        "dates": int(len(np.unique(dates))),
        "tickers": tickers,
        "from": str(np.datetime_as_string(dates.min(), unit="D")),
        "to": str(np.datetime_as_string(dates.max(), unit="D")),
        "mean_pinball": {"challenger": new, "production": old},
        "horizons": horizons,
        "promoted": not worse_at and new < old,
        "why": why,
    }
