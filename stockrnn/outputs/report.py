"""A report a person looks at: one self-contained HTML file (charts embedded as PNG) for a run or a
backtest, and optionally the same charts as PNG files.

Everything comes from what the run or backtest saved (its forecasts with outcomes, metrics and
training history), so a report needs neither the store nor torch, and says nothing the scores do not.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from stockrnn.forecasters.quantiles import central_intervals, level_name
from stockrnn.io.safe_read import read_parquet
from stockrnn.outputs import charts
from stockrnn.outputs.html import folds_table, headline_table, text, write_page

TICKER_LIMIT = 6  # above this, the 3 worst and 3 best tickers by pinball loss ratio to naive
HISTORY_SESSIONS = 120


@dataclass
class Chart:
    name: str  # the PNG's file stem
    title: str
    caption: str
    png: bytes


@dataclass
class Source:
    """What a report reads, the same for a run and for a backtest."""

    kind: str  # "run" or "backtest"
    name: str
    forecasts: pd.DataFrame  # origin_date, target_date, ticker, horizon, last_close, actual, model...
    metrics: dict  # the score table {scope: {forecaster: {h: scores}}}
    levels: tuple[float, ...]
    histories: dict[str, list[dict]]  # fit label -> per-epoch losses
    folds: list[dict]  # backtest folds; empty for a run
    fold_metrics: dict
    attention: list[list[float]] | None = None  # (H, L) mean weights over test origins: attention runs


def _with_timestamps(frame: pd.DataFrame) -> pd.DataFrame:
    """Session dates as timestamps for the charts, whichever way a version stored them."""
    return frame.assign(**{c: pd.to_datetime(frame[c]) for c in ("origin_date", "target_date") if c in frame})


def from_run(run) -> Source:
    frame = read_parquet(run.path / "test_predictions.parquet").rename(columns={"date": "target_date"})
    if "horizon" not in frame:  # runs from before horizons: one session ahead
        frame["horizon"] = 1
        frame["origin_date"] = frame["target_date"]
    frame = _with_timestamps(frame)
    history = run.manifest.training.get("history", [])
    return Source(
        "run",
        run.run_id,
        frame,
        run.metrics,
        run.manifest.levels,
        {"model": history} if history else {},
        [],
        {},
        run.manifest.training.get("attention_by_lag"),
    )


def from_backtest(backtest) -> Source:
    metrics = backtest.metrics
    folds = backtest.manifest["folds"]
    return Source(
        "backtest",
        backtest.backtest_id,
        _with_timestamps(backtest.forecasts()),
        metrics["pooled"],
        tuple(backtest.manifest["levels"]),
        {f"fold {f['index']}": f["history"] for f in folds if f.get("history")},
        folds,
        metrics["folds"],
    )


def _scope(metrics: dict) -> str:
    from stockrnn.evaluation.metrics import headline_scope

    return headline_scope(metrics)


def chosen_tickers(source: Source) -> list[str]:
    """Every ticker up to the limit; beyond it the worst and the best by the model's pinball ratio at h1."""
    tickers = list(dict.fromkeys(source.forecasts["ticker"]))
    if len(tickers) <= TICKER_LIMIT:
        return tickers

    def ratio(ticker: str) -> float:
        value = source.metrics.get(ticker, {}).get("model", {}).get("h1", {}).get("pinball_vs_naive")
        return float("nan") if value is None else value

    ranked = sorted((t for t in tickers if ratio(t) == ratio(t)), key=ratio)
    half = TICKER_LIMIT // 2
    return ranked[-half:][::-1] + ranked[:half]  # worst first, then best


def _fan(source: Source, ticker: str) -> Chart:
    frame = source.forecasts[source.forecasts["ticker"] == ticker]
    newest = frame["origin_date"].max()
    history = frame[(frame["horizon"] == 1) & (frame["origin_date"] <= newest)].sort_values("origin_date")
    history = history.tail(HISTORY_SESSIONS)
    forecast = frame[frame["origin_date"] == newest].sort_values("horizon")
    intervals = [c for c in central_intervals(source.levels) if c[2] in (50, 80, 90)]
    bands = [
        (
            f"{coverage}%",
            forecast[f"model_{level_name(source.levels[low])}"].to_numpy(),
            forecast[f"model_{level_name(source.levels[high])}"].to_numpy(),
        )
        for low, high, coverage in sorted(intervals, key=lambda c: -c[2])
    ]
    png = charts.fan_chart(
        f"{ticker}: forecast from {newest.date()} with what happened",
        history["origin_date"].to_numpy(),
        history["last_close"].to_numpy(),
        forecast["target_date"].to_numpy(),
        forecast["model"].to_numpy(),
        bands,
        float(forecast["last_close"].iloc[0]),
        forecast["actual"].to_numpy(),
    )
    caption = (
        f"The last {len(history)} closes of {ticker}, then the newest scored forecast: median (line) and "
        f"{', '.join(b[0] for b in bands) or 'no'} central intervals (shaded) over "
        f"{len(forecast)} session(s), naive (dashed) and the actual closes (red)."
    )
    return Chart(f"fan-{ticker.replace('^', '')}", f"{ticker}", caption, png)


def _calibration(source: Source) -> Chart:
    frame = source.forecasts
    horizons = sorted(frame["horizon"].unique())
    if len(horizons) > 6:
        horizons = sorted({horizons[0], horizons[len(horizons) // 2], horizons[-1]})
    observed = {}
    for h in horizons:
        rows = frame[frame["horizon"] == h]
        observed[f"h{h}"] = np.array(
            [float(np.mean(rows["actual"] <= rows[f"model_{level_name(q)}"])) for q in source.levels]
        )
    png = charts.calibration_chart(
        "calibration of the model's quantiles", np.asarray(source.levels), observed
    )
    caption = (
        "For each quantile level, the share of outcomes that fell below the model's forecast of it, "
        f"per horizon, on {len(frame[frame['horizon'] == horizons[0]])} origins it never trained on. "
        "On the diagonal the quantiles are calibrated; a flatter line means intervals too wide."
    )
    return Chart("calibration", "calibration", caption, png)


def _ratios(source: Source) -> Chart:
    by_forecaster = source.metrics[_scope(source.metrics)]
    horizons = list(next(iter(by_forecaster.values())))
    metric = "pinball_vs_naive" if len(source.levels) > 1 else "mae_vs_naive"
    ratios = {
        name: [scores[h].get(metric, np.nan) for h in horizons]
        for name, scores in by_forecaster.items()
        if name != "naive"
    }
    label = "pinball loss / naive's" if len(source.levels) > 1 else "MAE / naive's"
    png = charts.ratio_chart(
        f"{_scope(source.metrics)}: loss relative to naive", [int(h[1:]) for h in horizons], ratios, label
    )
    caption = f"Each forecaster's {label} by horizon; below the dashed line beats naive. See the table for p-values."
    return Chart("loss-ratio", "loss ratio to naive", caption, png)


def _cumulative(source: Source) -> Chart:
    """The model's pinball loss minus naive's, per origin date pooled over tickers, summed over time."""
    from stockrnn.evaluation.significance import per_date
    from stockrnn.forecasters.quantiles import pinball

    frame = source.forecasts
    horizons = sorted(frame["horizon"].unique())
    series, dates = {}, None
    for h in dict.fromkeys([horizons[0], horizons[-1]]):
        rows = frame[frame["horizon"] == h]
        actual = np.log(rows["actual"].to_numpy() / rows["last_close"].to_numpy())
        losses = {}
        for name in ("model", "naive"):
            quantiles = np.column_stack(
                [
                    np.log(rows[f"{name}_{level_name(q)}"].to_numpy() / rows["last_close"].to_numpy())
                    for q in source.levels
                ]
            )
            losses[name] = per_date(
                pinball(quantiles, actual, source.levels).mean(-1), rows["origin_date"].to_numpy()
            )
        series[f"h{h}"] = np.cumsum(losses["model"] - losses["naive"])
        dates = np.unique(rows["origin_date"].to_numpy())
    boundaries = [np.datetime64(f["cutoff"]) for f in source.folds[1:]]
    png = charts.cumulative_chart("where the edge over naive came from", dates, series, boundaries)
    caption = (
        "Running sum of the model's pinball loss minus naive's, pooled over tickers per origin date, at the "
        "first and last horizon; a falling line is the model gaining, a rising one losing. Dotted: fold starts."
    )
    return Chart("cumulative-differential", "cumulative loss differential", caption, png)


def _training(source: Source) -> Chart:
    png = charts.training_chart("training and validation loss", source.histories)
    caption = "Loss by epoch of every fit (solid: validation, dashed: training); the best validation epoch's weights are kept."
    return Chart("training", "training history", caption, png)


def build_charts(source: Source) -> list[Chart]:
    found = [_fan(source, ticker) for ticker in chosen_tickers(source)]
    found += [_calibration(source), _ratios(source)]
    if source.kind == "backtest":
        found.append(_cumulative(source))
    if source.histories:
        found.append(_training(source))
    if source.attention:
        found.append(_attention(source))
    return found


def _attention(source: Source) -> Chart:
    png = charts.attention_chart("which past sessions the decoder looked at", source.attention)
    caption = (
        "Attention weight on each session of the input window, averaged over the test origins, per horizon. "
        "A flat line spreads attention evenly; a peak marks sessions the forecasts leaned on."
    )
    return Chart("attention", "attention by session", caption, png)


def write_report(source: Source, out: Path, png_dir: Path | None = None) -> list[Chart]:
    """Write the HTML report (and the PNGs); each file is written whole or not at all."""
    from stockrnn.evaluation.verdicts import edge_verdict

    found = build_charts(source)
    sections = [headline_table(source.metrics), text(edge_verdict(source.metrics))]
    if source.folds:
        sections.append(folds_table(source.folds, source.fold_metrics))
    intro = "Every figure is on forecast origins the model never trained on."
    write_page(out, f"stockrnn {source.kind} {source.name}", intro, sections, found, png_dir)
    return found
