"""Rich tables for the command line: what each command shows a person. No numerics here."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table


def fetch_table(outcomes) -> Table:
    table = Table(title="fetch")
    for name in ("ticker", "status", "rows added", "first", "last", "note"):
        table.add_column(name, justify="right" if name == "rows added" else "left")
    for o in outcomes:
        style = "" if o.ok else "red"
        table.add_row(
            o.ticker,
            f"[{style}]{o.status}[/]" if style else o.status,
            str(o.rows_added),
            o.first.date().isoformat() if o.first is not None else "",
            o.last.date().isoformat() if o.last is not None else "",
            o.message,
        )
    return table


def store_table(root: Path, summaries) -> Table:
    table = Table(title=f"store {root}")
    for name in ("ticker", "rows", "first", "last", "source", "last fetched"):
        table.add_column(name, justify="right" if name == "rows" else "left")
    for s in summaries:
        table.add_row(
            s.ticker,
            str(s.rows),
            s.first.date().isoformat(),
            s.last.date().isoformat(),
            s.source,
            s.fetched_at.strftime("%Y-%m-%d %H:%M UTC"),
        )
    return table


def _cell(scores: dict, key: str, digits: int = 4) -> str:
    value = scores.get(key)
    return "-" if value is None else f"{value:.{digits}f}"


def metrics_table(metrics: dict, title: str) -> Table:
    """Per scope, every forecaster at horizon 1 and at the run's last horizon H."""
    from stockrnn.evaluation import metrics_by_horizon
    from stockrnn.forecasters import NAMES

    metrics = metrics_by_horizon(metrics)
    table = Table(title=title)
    # cov = share of outcomes inside the central 80/90% interval after calibration; raw90 = before.
    columns = ("scope", "forecaster", "h", "MAE", "MAE/naive", "dir", "pinball/naive", "CRPS/naive")
    columns += ("cov80", "cov90", "raw90", "width90")
    for name in columns:
        table.add_column(name, justify="left" if name in ("scope", "forecaster") else "right")
    for scope, by_forecaster in metrics.items():
        horizons = list(next(iter(by_forecaster.values())))
        shown = list(dict.fromkeys([horizons[0], horizons[-1]]))
        for horizon in shown:
            for name in (n for n in NAMES if n in by_forecaster):
                m = by_forecaster[name][horizon]
                table.add_row(
                    scope if name == NAMES[0] and horizon == shown[0] else "",
                    name,
                    horizon.removeprefix("h"),
                    _cell(m, "mae"),
                    _cell(m, "mae_vs_naive"),
                    _cell(m, "direction", 3),
                    _cell(m, "pinball_vs_naive"),
                    _cell(m, "crps_vs_naive"),
                    _cell(m, "coverage_80", 3),
                    _cell(m, "coverage_90", 3),
                    _cell(m, "raw_coverage_90", 3),
                    _cell(m, "width_90"),
                )
            table.add_section()
    return table


def forecasts_table(frame, run_id: str) -> Table:
    table = Table(title=f"forecasts, run {run_id}")
    # The widest central interval the run has, beside the median.
    lower = next((c for c in frame.columns if c.startswith("close_p")), None)
    upper = next((c for c in reversed(frame.columns) if c.startswith("close_p")), None)
    interval = f"{lower.removeprefix('close_')} .. {upper.removeprefix('close_')}" if lower != upper else None
    for name in ("ticker", "asof", "h", "target date", "last close", "median close", "median return"):
        table.add_column(name, justify="left" if name in ("ticker", "asof", "target date") else "right")
    if interval:
        table.add_column(f"close {interval}", justify="right")
    for row in frame.itertuples():
        cells = [
            row.ticker,
            str(row.asof.date()),
            str(row.horizon),
            str(row.target_date.date()),
            f"{row.last_close:.4f}",
            f"{row.predicted_close:.4f}",
            f"{row.predicted_return:+.5f}",
        ]
        if interval:
            cells.append(f"{getattr(row, lower):.2f} .. {getattr(row, upper):.2f}")
        table.add_row(*cells)
    return table


def runs_table(root: Path, found, latest: str) -> Table:
    table = Table(title=f"runs in {root}")
    for name in ("run", "created", "cell", "tickers", "H", "MAE/naive", "pinball/naive", "cov90", ""):
        table.add_column(name)
    for run in found:
        headline = run.manifest.headline
        table.add_row(
            run.run_id,
            run.manifest.created_at,
            run.config["model"]["cell"],
            ",".join(run.manifest.tickers),
            str(run.manifest.horizon),
            _cell(headline, "mae_vs_naive"),
            _cell(headline, "pinball_vs_naive"),
            _cell(headline, "coverage_90", 3),
            "latest" if run.run_id == latest else "",
        )
    return table
