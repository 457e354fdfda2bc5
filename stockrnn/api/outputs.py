"""The forecasts archive, its scores (track) and the HTML reports."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from stockrnn import paths
from stockrnn.api.prices import Prices, price_source, runs_folder
from stockrnn.outputs.track import Tracked, score_archive
from stockrnn.runs.folder import LATEST, load_run


def read_forecasts(path: str | Path | None = None) -> pd.DataFrame:
    """Every forecast `stockrnn predict` wrote under `path` (else $STOCKRNN_FORECASTS, else the default)."""
    from stockrnn.outputs.forecast_archive import read_forecasts as read_archive

    return read_archive(paths.forecasts_dir(None if path is None else Path(path)))


def write_forecasts(forecasts: pd.DataFrame, out: str | Path | None = None, lock_timeout: float = 30.0):
    """Add `Run.predict`'s rows to the forecasts archive, one file per origin date and run; the paths written."""
    from stockrnn.outputs.forecast_archive import write_forecasts as write_archive

    frame = forecasts.assign(origin_date=pd.to_datetime(forecasts["origin_date"]))
    return write_archive(frame, paths.forecasts_dir(None if out is None else Path(out)), lock_timeout)


def track(
    out: str | Path | None = None,
    prices: Prices | str | Path | None = None,
    *,
    since=None,
    runs: list[str] | None = None,
    tickers: list[str] | None = None,
) -> Tracked:
    """Score every forecast in the archive `out` whose outcome `prices` now hold: a `Tracked` with
    `.scores` (one row per forecast) and `.summary` (per run, ticker and horizon: coverage with
    Kupiec's and Christoffersen's tests, pinball, CRPS and MAE against naive with DM p-values)."""
    archive = read_forecasts(out)
    return score_archive(
        archive, price_source(prices), None if since is None else pd.Timestamp(since), runs, tickers
    )


@dataclass(frozen=True)
class Report:
    kind: str  # run, backtest or comparison
    name: str
    path: Path
    charts: int


def report(
    name: str = LATEST,
    runs: str | Path | None = None,
    *,
    kind: str | None = None,
    out: str | Path | None = None,
    png_dir: str | Path | None = None,
    forecasts: str | Path | None = None,
    prices: Prices | str | Path | None = None,
) -> Report:
    """Write the self-contained HTML report of a run, a backtest, a comparison, or (`kind="track"`)
    the forecasts archive `forecasts` scored against `prices` (`kind`; by default whichever `name`
    is, a run for `latest`)."""
    from stockrnn.io.atomic import refuse_symlinks
    from stockrnn.outputs.compare_report import write_compare_report
    from stockrnn.outputs.report import from_backtest, from_run, write_report
    from stockrnn.studies.backtest import backtests_dir, load_backtest
    from stockrnn.studies.compare import compares_dir, load_compare

    root = runs_folder(runs)
    png = None if png_dir is None else Path(png_dir)
    if out is None:  # the default <runs>/reports/: a planted link there must not carry the page elsewhere
        refuse_symlinks(root, root / "reports" / "report.html")
    if kind is None:
        named = name != LATEST
        kind = "comparison" if named and (compares_dir(root) / name).is_dir() else "run"
        kind = "backtest" if named and (backtests_dir(root) / name).is_dir() else kind
    if kind == "track":
        from stockrnn.outputs.track import write_track_report

        target = Path(out) if out is not None else root / "reports" / "track.html"
        tracked = track(forecasts, prices)
        return Report(kind, "archive", target, len(write_track_report(tracked, target, png)))
    if kind == "comparison":
        comparison = load_compare(root, name)
        target = Path(out) if out is not None else root / "reports" / f"{comparison.compare_id}.html"
        return Report(kind, comparison.compare_id, target, len(write_compare_report(comparison, target, png)))
    source = (
        from_backtest(load_backtest(root, name)) if kind == "backtest" else from_run(load_run(root, name))
    )
    target = Path(out) if out is not None else root / "reports" / f"{source.name}.html"
    return Report(source.kind, source.name, target, len(write_report(source, target, png)))
