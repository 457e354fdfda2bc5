"""`stockrnn track`: the forecasts archive keeps score. Every forecast `predict` wrote is scored once
its target session is stored, per run, ticker and horizon.

Each archived row carries what scoring needs (ticker, origin date, target date, horizon, its return
quantiles, run id), so forecasts of runs deleted since are scored too. The outcome is the stored
(adjusted) price's log return from the origin to the target date. Naive's quantiles for the same origin are
recomputed from the store as it stood then: the centred empirical quantiles of every h-session
return up to the origin (naive's spread). Coverage tests run on every h-th forecast of a series, since
h-step forecasts made on consecutive nights overlap and their misses cluster by construction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from stockrnn.data.prices import price_basis
from stockrnn.evaluation.interval_tests import christoffersen, kupiec
from stockrnn.evaluation.significance import diebold_mariano, per_date
from stockrnn.forecasters.quantiles import central_intervals, crps_weights

ROLLING_SESSIONS = 63  # a quarter of sessions: the rolling coverage a chart draws
KEYS = ["run_id", "ticker", "horizon"]


@dataclass
class Tracked:
    scores: pd.DataFrame  # one row per forecast, resolved or pending
    summary: pd.DataFrame  # one row per run, ticker and horizon


def _levels(columns) -> list[tuple[float, str]]:
    """(level, column) of every `return_pXX` quantile column, ascending."""
    found = []
    for column in columns:
        match = re.fullmatch(r"return_p(\d+)(?:_(\d+))?", column)
        if match:
            percent = float(f"{match.group(1)}.{match.group(2) or 0}")
            found.append((round(percent / 100, 9), column))
    return sorted(found)


def _pinball(quantiles: np.ndarray, actual: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """(n, Q) pinball loss of each level."""
    error = actual[:, None] - quantiles
    return np.maximum(levels * error, (levels - 1) * error)


def _naive_quantiles(history: np.ndarray, at: np.ndarray, horizon: int, levels: np.ndarray) -> np.ndarray:
    """(n, Q) naive's quantiles for origins at positions `at` of one ticker's price basis `history`:
    the h-session log returns known by then, centred on no change (median 0)."""
    returns = np.log(history[horizon:] / history[:-horizon])  # the return ending at position i + h
    found = np.full((len(at), len(levels)), np.nan)
    for i, position in enumerate(at):
        known = returns[: max(position - horizon + 1, 0)]
        if len(known) >= 20:  # fewer: no spread to speak of
            q = np.quantile(known, levels)
            found[i] = q - np.quantile(known, 0.5)
    return found


def _score_run(rows: pd.DataFrame, prices: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per-forecast scores for one run's archived rows (one level set)."""
    levels_columns = [(q, c) for q, c in _levels(rows.columns) if rows[c].notna().any()]
    levels = np.array([q for q, _ in levels_columns])
    quantiles = rows[[c for _, c in levels_columns]].to_numpy(dtype="float64")
    out = rows[["run_id", "model_name", "ticker", "origin_date", "target_date", "horizon"]].copy()
    actual = np.full(len(rows), np.nan)
    naive = np.full_like(quantiles, np.nan)
    for ticker, index in rows.groupby("ticker").indices.items():
        stored = prices.get(ticker)
        if stored is None or stored.empty:
            continue
        dates = stored["date"].to_numpy(dtype="datetime64[ns]")
        basis = price_basis(stored)
        origin = np.searchsorted(dates, rows["origin_date"].to_numpy(dtype="datetime64[ns]")[index])
        target = np.searchsorted(dates, rows["target_date"].to_numpy(dtype="datetime64[ns]")[index])
        known = (origin < len(dates)) & (target < len(dates))
        known[known] &= (
            dates[origin[known]] == rows["origin_date"].to_numpy(dtype="datetime64[ns]")[index][known]
        ) & (dates[target[known]] == rows["target_date"].to_numpy(dtype="datetime64[ns]")[index][known])
        actual[index[known]] = np.log(basis[target[known]] / basis[origin[known]])
        for h in np.unique(rows["horizon"].to_numpy()[index]):
            mine = index[rows["horizon"].to_numpy()[index] == h]
            at = np.searchsorted(dates, rows["origin_date"].to_numpy(dtype="datetime64[ns]")[mine])
            naive[mine] = _naive_quantiles(basis, np.minimum(at, len(basis) - 1), int(h), levels)
    resolved = np.isfinite(actual)
    out["resolved"] = resolved
    out["actual_return"] = actual
    weights = crps_weights(tuple(levels))
    safe = np.where(resolved, actual, 0.0)
    model_loss, naive_loss = _pinball(quantiles, safe, levels), _pinball(naive, safe, levels)
    median = quantiles[:, list(levels).index(0.5)] if 0.5 in levels else np.full(len(rows), np.nan)
    scores = {
        "pinball": model_loss.mean(axis=1),
        "naive_pinball": naive_loss.mean(axis=1),
        "crps": 2 * model_loss @ weights,
        "naive_crps": 2 * naive_loss @ weights,
        "abs_error": np.abs(safe - median),
        "naive_abs_error": np.abs(safe),  # no change: a median return of 0
    }
    for name, values in scores.items():
        out[name] = np.where(resolved, values, np.nan)
    for low, high, coverage in central_intervals(tuple(levels)):
        inside = (safe >= quantiles[:, low]) & (safe <= quantiles[:, high])
        out[f"inside_{coverage}"] = pd.array(np.where(resolved, inside, pd.NA), dtype="boolean")
    return out


def _rolling_coverage(scores: pd.DataFrame) -> pd.DataFrame:
    """Per run, ticker and horizon, in origin-date order: coverage of each interval over the last
    ROLLING_SESSIONS resolved forecasts."""
    scores = scores.sort_values([*KEYS, "origin_date"], kind="stable", ignore_index=True)
    for column in [c for c in scores.columns if c.startswith("inside_")]:
        rolled = (
            scores[column]
            .astype("float64")
            .groupby([scores[k] for k in KEYS])
            .transform(lambda s: s.rolling(ROLLING_SESSIONS, min_periods=1).mean())
        )
        scores[f"rolling_coverage_{column.removeprefix('inside_')}"] = rolled
    return scores


def _summarise(group: pd.DataFrame, horizon: int) -> dict:
    done = group[group["resolved"]]
    row: dict = {"forecasts": int(len(done)), "pending": int(len(group) - len(done))}
    if done.empty:
        return row
    dates = done["origin_date"].to_numpy(dtype="datetime64[ns]")
    every_h = done.iloc[::horizon]  # non-overlapping outcomes for the coverage tests
    for column in [c for c in done.columns if c.startswith("inside_")]:
        coverage = int(column.removeprefix("inside_"))
        missed = ~done[column].to_numpy(dtype=bool)
        sparse = ~every_h[column].to_numpy(dtype=bool)
        alpha = 1 - coverage / 100
        row[f"coverage_{coverage}"] = float(1 - missed.mean())
        row[f"kupiec_p_{coverage}"] = kupiec(sparse, alpha)
        row[f"christoffersen_ind_p_{coverage}"], row[f"christoffersen_cc_p_{coverage}"] = christoffersen(
            sparse, alpha
        )
    for loss, against in (
        ("pinball", "naive_pinball"),
        ("crps", "naive_crps"),
        ("abs_error", "naive_abs_error"),
    ):
        mine, theirs = done[loss].to_numpy(), done[against].to_numpy()
        usable = np.isfinite(theirs)
        name = "mae" if loss == "abs_error" else loss
        row[name] = float(mine.mean())
        row[f"{name}_vs_naive"] = float(mine[usable].mean() / theirs[usable].mean()) if usable.any() else None
        if name != "crps" and usable.sum() > 2:
            p = diebold_mariano(
                per_date(mine[usable], dates[usable]), per_date(theirs[usable], dates[usable]), horizon
            )[1]
            row[f"dm_{name}_p"] = None if np.isnan(p) else p
    return row


def score_archive(
    forecasts: pd.DataFrame,
    prices,
    since: pd.Timestamp | None = None,
    runs: list[str] | None = None,
    tickers: list[str] | None = None,
) -> Tracked:
    """Every archived forecast scored against the stored outcomes; `prices` reads like a store."""
    chosen = forecasts
    if since is not None:
        chosen = chosen[pd.to_datetime(chosen["origin_date"]) >= pd.Timestamp(since)]
    if runs:
        chosen = chosen[chosen["run_id"].isin(runs)]
    if tickers:
        chosen = chosen[chosen["ticker"].isin(tickers)]
    chosen = chosen.assign(
        origin_date=pd.to_datetime(chosen["origin_date"]), target_date=pd.to_datetime(chosen["target_date"])
    )
    stored = {t: prices.read(t) for t in chosen["ticker"].unique() if prices.has(t)}
    parts = [
        _score_run(rows.reset_index(drop=True), stored) for _, rows in chosen.groupby("run_id", sort=True)
    ]
    scores = _rolling_coverage(pd.concat(parts, ignore_index=True)) if parts else pd.DataFrame(columns=KEYS)
    summary = [
        {"run_id": run, "ticker": ticker, "horizon": int(h), **_summarise(group, int(h))}
        for (run, ticker, h), group in scores.groupby(KEYS, sort=True)
    ]
    return Tracked(scores, pd.DataFrame(summary))


def failed_tests(summary: pd.DataFrame, level: float) -> list[dict]:
    """Every rejected coverage test (Kupiec or Christoffersen's conditional coverage) at `level`,
    worst (smallest p) first."""
    found = []
    for row in summary.to_dict("records"):
        for key, value in row.items():
            match = re.fullmatch(r"(kupiec|christoffersen_cc)_p_(\d+)", key)
            if match and value is not None and value == value and value < level:
                coverage = int(match.group(2))
                found.append(
                    {
                        "run_id": row["run_id"],
                        "ticker": row["ticker"],
                        "horizon": row["horizon"],
                        "interval": coverage,
                        "test": "Kupiec" if match.group(1) == "kupiec" else "Christoffersen",
                        "p": value,
                        "coverage": row[f"coverage_{coverage}"],
                        "forecasts": row["forecasts"],
                    }
                )
    return sorted(found, key=lambda f: f["p"])


def write_track_report(tracked: Tracked, out, png_dir=None) -> list:
    """The archive's HTML page: per run and horizon, the 90% interval's rolling coverage through time
    against the nominal band (misses marked), and the summary table."""
    from stockrnn.outputs import charts
    from stockrnn.outputs.html import table, write_page
    from stockrnn.outputs.report import Chart

    found = []
    done = tracked.scores[tracked.scores["resolved"]] if len(tracked.scores) else tracked.scores
    if "inside_90" in done:
        # A calibrated 90% interval's coverage over 63 outcomes: 0.9 +- 1.96 x sqrt(0.9 x 0.1 / 63).
        spread = 1.96 * np.sqrt(0.9 * 0.1 / ROLLING_SESSIONS)
        for (run_id, h), rows in done.groupby(["run_id", "horizon"], sort=True):
            series = [
                (
                    ticker,
                    part["origin_date"].to_numpy(dtype="datetime64[ns]"),
                    part["rolling_coverage_90"].to_numpy(dtype="float64"),
                    ~part["inside_90"].to_numpy(dtype=bool),
                )
                for ticker, part in rows.groupby("ticker", sort=True)
            ][:6]  # more lines than six no one can tell apart
            title = f"run {run_id}, h{h}: 90% interval, coverage over the last {ROLLING_SESSIONS} outcomes"
            png = charts.coverage_chart(title, series, 0.9, (0.9 - spread, min(0.9 + spread, 1.0)))
            caption = "Ticks under the lines mark each miss, on the date the forecast was made."
            found.append(Chart(f"coverage-{run_id}-h{h}", title, caption, png))
    columns = ["run_id", "ticker", "horizon", "forecasts", "pending", "coverage_90", "kupiec_p_90"]
    columns += ["christoffersen_cc_p_90", "pinball_vs_naive", "dm_pinball_p", "mae_vs_naive", "dm_mae_p"]
    shown = tracked.summary[[c for c in columns if c in tracked.summary]]
    rows = [[_cell(value) for value in row] for row in shown.itertuples(index=False)]
    summary = table("per run, ticker and horizon", list(shown.columns), rows)
    intro = (
        "Every archived forecast whose outcome is stored, scored per run, ticker and horizon; p-values of "
        "Kupiec's and Christoffersen's coverage tests and of Diebold-Mariano against naive."
    )
    write_page(out, "stockrnn track: the forecasts archive", intro, [summary], found, png_dir)
    return found


def _cell(value) -> str:
    if isinstance(value, float):
        return "-" if value != value else f"{value:.4f}"
    return str(value)
