"""Scores for the model and every baseline on the very same origins, horizons and levels.

Point metrics judge the median in price units (MAE, RMSE, MAPE, MASE, direction). Distribution
metrics are in log-return units: pinball loss per level and its mean, CRPS approximated from the
quantile grid, and for each central interval its coverage (before and after conformal calibration),
mean width and Winkler interval score. Every loss is also given as a ratio to naive's, with the
Diebold-Mariano p-value of that difference (absolute error of the median and pinball loss, both in
log-return units so that tickers pool fairly); the model is also tested against the best baseline.
metrics[scope][forecaster]["h<h>"][metric], scope being each ticker and "pooled".
"""

from __future__ import annotations

import numpy as np

from stockrnn.dataset.windows import Panel, target_rows
from stockrnn.evaluation.significance import diebold_mariano, per_date
from stockrnn.forecasters.quantiles import Forecast, central_intervals, crps_weights, level_name, pinball

RATIO_TO_NAIVE = ("mae", "pinball", "crps")


def naive_scale_per_ticker(panel: Panel, train_ends: np.ndarray) -> np.ndarray:
    """MASE's scale per ticker: the in-sample mean absolute error of the one-session naive forecast
    on the training split, relative to the price (|p[t+1] - p[t]| / p[t]). Relative, so that a price
    that grew tenfold since training does not inflate MASE while MAE/naive stays near 1."""
    next_rows = target_rows(train_ends, 1)[:, 0]
    errors = np.abs(panel.price[next_rows] - panel.price[train_ends]) / panel.price[train_ends]
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
        "mase": float(np.mean(np.abs(error) / last / scale)),  # both relative to the price
        # A median of no change (naive; ewma and garch centre on 0) has no direction: null, "n/a".
        "direction": None
        if np.all(predicted == last)
        else float(np.mean(np.sign(predicted - last) == np.sign(actual - last))),
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
            dates = panel.dates[ends[rows]]
            _add_coverage_tests(table[scope], forecasts, actual[rows, h], rows, h, dates)
            losses = {
                name: losses_per_date(f, actual[rows, h], rows, h, dates) for name, f in forecasts.items()
            }
            _add_significance({name: table[scope][name][f"h{h + 1}"] for name in forecasts}, losses, h + 1)
    return table


def calibration_table(panel: Panel, ends: np.ndarray, variants: dict[str, Forecast]) -> dict:
    """One forecaster calibrated several ways (raw, split, rolling, ...) on the same origins:
    table[variant][scope]["h<h>"] = coverage, mean width and pinball of each central interval."""
    first = next(iter(variants.values()))
    horizon = first.values.shape[1]
    actual = np.log(panel.price[target_rows(ends, horizon)] / panel.price[ends][:, None])  # (N, H)
    ids = panel.ticker_ids[ends]
    scopes = {"pooled": np.ones(len(ends), dtype=bool)} if len(panel.tickers) > 1 else {}
    scopes.update({t: ids == i for i, t in enumerate(panel.tickers) if (ids == i).any()})
    table: dict = {}
    for variant, forecast in variants.items():
        table[variant] = {}
        for scope, rows in scopes.items():
            table[variant][scope] = {}
            for h in range(horizon):
                values, outcome = forecast.values[rows, h], actual[rows, h]
                scores = {"pinball": float(pinball(values, outcome, forecast.levels).mean())}
                for low, high, coverage in central_intervals(forecast.levels):
                    inside = (outcome >= values[:, low]) & (outcome <= values[:, high])
                    scores[f"coverage_{coverage}"] = float(inside.mean())
                    scores[f"width_{coverage}"] = float(np.mean(values[:, high] - values[:, low]))
                table[variant][scope][f"h{h + 1}"] = scores
    return table


def _add_coverage_tests(
    by_forecaster: dict, forecasts: dict, actual: np.ndarray, rows, h: int, dates
) -> None:
    """outcomes, and kupiec_p_<c> per central interval: Kupiec's test of the miss rate on the
    origins of every (h+1)-th origin date, whose h+1-session outcomes do not overlap."""
    from stockrnn.evaluation.interval_tests import kupiec

    _, day = np.unique(dates, return_inverse=True)
    apart = day % (h + 1) == 0
    for name, forecast in forecasts.items():
        scores = by_forecaster[name][f"h{h + 1}"]
        values = forecast.values[rows, h]
        scores["outcomes"] = int(len(actual))
        for low, high, coverage in central_intervals(forecast.levels):
            missed = (actual < values[:, low]) | (actual > values[:, high])
            scores[f"kupiec_p_{coverage}"] = kupiec(missed[apart], 1 - coverage / 100)


def losses_per_date(forecast: Forecast, actual: np.ndarray, rows, h: int, dates) -> dict[str, np.ndarray]:
    """(D,) absolute error of the median and mean pinball loss at horizon h, averaged per origin date."""
    values = forecast.values[rows, h]  # (n, Q)
    return {
        "mae": per_date(np.abs(actual - forecast.median[rows, h]), dates),
        "pinball": per_date(pinball(values, actual, forecast.levels).mean(axis=-1), dates),
    }


def _p_value(loss_a: np.ndarray, loss_b: np.ndarray, horizon: int) -> float | None:
    """DM p-value; None (JSON null) where there is no test, e.g. two forecasters with one median."""
    p = diebold_mariano(loss_a, loss_b, horizon)[1]
    return None if np.isnan(p) else p


def _add_significance(scores: dict[str, dict], losses: dict[str, dict], horizon: int) -> None:
    """dm_<loss>_p: DM p-value against naive; the model also gets dm_<loss>_p_vs_best against the
    baseline with the lowest pinball loss, named in best_baseline."""
    for name in scores:
        if name == "naive":
            continue
        for loss in ("mae", "pinball"):
            scores[name][f"dm_{loss}_p"] = _p_value(losses[name][loss], losses["naive"][loss], horizon)
    if "model" not in scores:
        return
    baselines = [name for name in scores if name != "model"]
    best = min(baselines, key=lambda name: scores[name]["pinball"])
    scores["model"]["best_baseline"] = best
    best_pinball = scores[best]["pinball"]
    scores["model"]["pinball_vs_best"] = (
        scores["model"]["pinball"] / best_pinball if best_pinball > 0 else np.nan
    )
    for loss in ("mae", "pinball"):
        scores["model"][f"dm_{loss}_p_vs_best"] = _p_value(losses["model"][loss], losses[best][loss], horizon)


def headline_scope(metrics: dict) -> str:
    """ "pooled" for a panel, else the one ticker. (metrics.json is written with sorted keys, so the
    first key read back is not necessarily the first written.)"""
    return "pooled" if "pooled" in metrics else next(iter(metrics))


def ordered_scopes(metrics: dict) -> list[str]:
    """The headline scope first, then the tickers in the order they came."""
    first = headline_scope(metrics)
    return [first, *(scope for scope in metrics if scope != first)]


def metrics_by_horizon(metrics: dict) -> dict:
    """Runs from before horizons kept {scope: {forecaster: {metric}}}; give them an h1 level."""
    first = next(iter(next(iter(metrics.values())).values()))
    if "mae" in first:
        return {s: {f: {"h1": m} for f, m in by.items()} for s, by in metrics.items()}
    return metrics


def headline_scores(metrics: dict, horizon: int) -> dict[str, float]:
    """The model's scores at horizon 1 (and H) in the first scope: what `stockrnn runs` lists."""
    scores = metrics[headline_scope(metrics)]["model"]
    keep = ("mae_vs_naive", "direction", "pinball_vs_naive", "crps_vs_naive", "coverage_90")
    headline = {k: v for k, v in scores["h1"].items() if k in keep}
    headline.update({f"{k}_h{horizon}": v for k, v in scores[f"h{horizon}"].items() if k in keep})
    return headline
